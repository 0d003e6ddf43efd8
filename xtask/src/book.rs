//! `cargo xtask book`: generate the book's numbers and figures, build and check the book.
//!
//! - `cargo xtask book` writes the worked numbers (`chapters/generated/*.md`, committed) and
//!   the figures (`chapters/generated/figures/*.html` and plotly.js, git-ignored), runs
//!   `mdbook build` (output in `target/book/`) and runs the fast checks (everything but the
//!   Chromium rendering, so `cargo xtask start` stays quick).
//! - `cargo xtask book --check` (the `book` stage of `cargo xtask test`) fails instead of
//!   writing when a committed numbers file differs from what the crate computes now, and
//!   runs every check, the Chromium rendering included.
//!
//! Checks: every include resolves to an existing file and non-empty anchor; `mdbook build`
//! prints no warning; no broken internal link or `#fragment` in the built book (hyperlink),
//! no broken CSS `url()` and nothing loaded from the network; in headless Chromium every
//! chapter page shows typeset KaTeX (no raw `$$`) and every plotly figure has drawn its SVG.

pub(crate) mod checks;
mod generate;
mod links;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{root, stage};

/// Where the chapters live (`[book] src` in `book.toml`).
const CHAPTERS: &str = "chapters";
/// Committed generated numbers, below [`CHAPTERS`].
const GENERATED: &str = "generated";
/// Git-ignored generated figures and plotly.js, below [`CHAPTERS`].
const FIGURES: &str = "generated/figures";
/// `build-dir` in `book.toml`.
const BUILD_DIR: &str = "target/book";

const USAGE: &str = "usage: cargo xtask book [--check | --screenshot PAGE OUT.png]";

/// `cargo xtask book [--check]`.
pub fn main(args: &[String]) -> Result<(), String> {
    match args {
        [] => {
            let out = build(Mode::Write)?;
            println!("\nbook: {}", out.join("index.html").display());
            Ok(())
        }
        [flag] if flag == "--check" => check(),
        [flag, page, png] if flag == "--screenshot" => screenshot(page, Path::new(png)),
        _ => Err(USAGE.into()),
    }
}

/// The book stage of `cargo xtask test`: like `cargo xtask book`, but stale committed numbers
/// are an error instead of being rewritten; then the proofs that the rendering checks fail on
/// broken pages (ignored tests of this crate, run here because they need Chromium).
pub fn check() -> Result<(), String> {
    build(Mode::Check)?;
    crate::util::run(crate::util::cargo().args([
        "test",
        "--package",
        "xtask",
        "--",
        "--ignored",
        "book::",
    ]))
}

/// Whether committed generated numbers are rewritten or compared.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Write,
    Check,
}

/// Generates, builds and checks the book; returns the output directory.
fn build(mode: Mode) -> Result<PathBuf, String> {
    let root = root();
    let chapters = root.join(CHAPTERS);
    stage("book: numbers", || numbers(&chapters.join(GENERATED), mode))?;
    stage("book: figures", || figures(&chapters.join(FIGURES)))?;
    stage("book: chapter parts", || chapters_complete(&chapters))?;
    stage("book: includes and anchors", || {
        checks::anchors(&chapters).map(|n| println!("    {n} includes resolve"))
    })?;
    let tools = Tools::find(mode == Mode::Check)?;
    let out = root.join(BUILD_DIR);
    stage("book: mdbook build", || mdbook_build(&tools, &root))?;
    stage("book: internal links", || {
        links::links(&tools.hyperlink, &out, &[FIGURES, "404.html"])
            .map(|n| println!("    {n} links resolve"))
    })?;
    match &tools.chromium {
        Some(chromium) => stage("book: pages in headless Chromium", || {
            rendered_pages(chromium, &chapters, &out)
        })?,
        None => println!("(rendering in headless Chromium: `cargo xtask book --check`)"),
    }
    Ok(out)
}

/// The external programs the book needs.
struct Tools {
    mdbook: String,
    /// The link checker.
    hyperlink: String,
    /// Only needed (and looked for) by `--check`.
    chromium: Option<String>,
}

impl Tools {
    /// Finds mdbook, mdbook-katex, hyperlink and Chromium (override with `$MDBOOK`,
    /// `$HYPERLINK`, `$CHROMIUM`).
    fn find(chromium: bool) -> Result<Self, String> {
        let mdbook = std::env::var("MDBOOK").unwrap_or_else(|_| "mdbook".into());
        require(&mdbook, "--version")?;
        require("mdbook-katex", "--version")?;
        Ok(Tools {
            mdbook,
            hyperlink: find_hyperlink()?,
            chromium: if chromium {
                Some(find_chromium()?)
            } else {
                None
            },
        })
    }
}

/// The link checker's command: `$HYPERLINK`, else `hyperlink`.
fn find_hyperlink() -> Result<String, String> {
    let hyperlink = std::env::var("HYPERLINK").unwrap_or_else(|_| "hyperlink".into());
    require(&hyperlink, "--version").map(|_| hyperlink)
}

/// Chromium's command: `$CHROMIUM`, else the first of `chromium`, `chromium-browser`,
/// `google-chrome` that runs.
pub(crate) fn find_chromium() -> Result<String, String> {
    if let Ok(c) = std::env::var("CHROMIUM") {
        return require(&c, "--version").map(|_| c);
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| require(c, "--version").is_ok())
        .map(str::to_string)
        .ok_or_else(|| "chromium not found on PATH: run `cargo xtask setup`".to_string())
}

/// Errors naming `tool` and `cargo xtask setup` unless `tool arg` runs successfully.
fn require(tool: &str, arg: &str) -> Result<(), String> {
    match Command::new(tool).arg(arg).output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "`{tool} {arg}` failed ({}): run `cargo xtask setup`",
            out.status
        )),
        Err(_) => Err(format!("{tool} not found on PATH: run `cargo xtask setup`")),
    }
}

/// Every chapter in `SUMMARY.md` but the appendix has all its parts.
fn chapters_complete(chapters: &Path) -> Result<(), String> {
    let mut errors = Vec::new();
    let mut count = 0;
    let promised = checks::promised_parts(&root())?;
    for (md, _) in chapter_pages(chapters)? {
        if md == "appendix.md" {
            continue;
        }
        count += 1;
        let text = std::fs::read_to_string(chapters.join(&md))
            .map_err(|e| format!("cannot read chapters/{md}: {e}"))?;
        if let Err(e) = checks::chapter_parts(&md, &text, promised(&md)) {
            errors.push(e);
        }
        if let Err(e) = quiz_cells(chapters, &md, &text) {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        println!("    {count} chapters have every part");
        Ok(())
    } else {
        Err(errors.join("\n  "))
    }
}

/// The notebook cells a chapter's quiz answers name exist in its notebook (when it has one).
fn quiz_cells(chapters: &Path, md: &str, text: &str) -> Result<usize, String> {
    let prefix = md.get(..3).unwrap_or("");
    let notebooks = chapters.parent().unwrap_or(chapters).join("notebooks");
    let notebook = checks::files_with_ext(&notebooks, "ipynb")?
        .into_iter()
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        });
    match notebook {
        Some(path) => checks::quiz_cells(md, text, &checks::read(&path)?),
        None => checks::quiz_cells(md, text, ""),
    }
}

/// Writes (or, in check mode, compares) `chapters/generated/*.md`.
fn numbers(dir: &Path, mode: Mode) -> Result<(), String> {
    let files = generate::numbers()?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let (mut stale, mut written) = (Vec::new(), 0);
    for (name, text) in &files {
        let path = dir.join(name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if let Err(diff) = compare_generated(name, &committed, text) {
            match mode {
                Mode::Check => stale.push(diff),
                Mode::Write => {
                    std::fs::write(&path, text)
                        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                    written += 1;
                }
            }
        }
    }
    // A numbers file the generator no longer writes is stale too.
    for path in checks::files_with_ext(dir, "md")? {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if path.parent() == Some(dir) && !files.iter().any(|(n, _)| *n == name) {
            match mode {
                Mode::Check => stale.push(format!("{name}: no longer generated")),
                Mode::Write => std::fs::remove_file(&path).map_err(|e| e.to_string())?,
            }
        }
    }
    if stale.is_empty() {
        println!(
            "    {} numbers files match the crate ({written} rewritten)",
            files.len()
        );
        Ok(())
    } else {
        Err(format!(
            "the book's numbers differ from what the crate computes now (run `cargo xtask book` \
             and commit chapters/{GENERATED}/):\n  {}",
            stale.join("\n  ")
        ))
    }
}

/// Ok if `committed` equals `computed`; else names the file and the first differing line.
fn compare_generated(name: &str, committed: &str, computed: &str) -> Result<(), String> {
    if committed == computed {
        return Ok(());
    }
    if committed.is_empty() {
        return Err(format!("{name}: missing"));
    }
    let (a, b): (Vec<&str>, Vec<&str>) = (committed.lines().collect(), computed.lines().collect());
    let line = (0..a.len().max(b.len()))
        .find(|&i| a.get(i) != b.get(i))
        .unwrap_or(0);
    Err(format!(
        "{name}:{}: committed {:?}, computed {:?}",
        line + 1,
        a.get(line).unwrap_or(&""),
        b.get(line).unwrap_or(&"")
    ))
}

/// Writes every figure as an HTML fragment plus plotly.js itself into `dir`.
fn figures(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let figures = generate::figures()?;
    for (stem, _, plot) in &figures {
        let html = figure_html(plot, stem);
        let path = dir.join(format!("{stem}.html"));
        write_if_changed(&path, &html)?;
    }
    write_if_changed(&dir.join("plotly.min.js"), &attention::plot::plotly_js())?;
    println!("    {} figures", figures.len());
    Ok(())
}

/// The fragment a chapter includes: the figure's `<div id="fig-STEM">` and its script.
fn figure_html(plot: &attention::plotly::Plot, stem: &str) -> String {
    let fragment = attention::plot::html_fragment(plot, &format!("fig-{stem}"));
    // One HTML block for the markdown parser: no blank lines inside.
    let lines: Vec<&str> = fragment.lines().filter(|l| !l.trim().is_empty()).collect();
    format!("{}\n", lines.join("\n"))
}

fn write_if_changed(path: &Path, text: &str) -> Result<(), String> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// `mdbook build`, failing on any warning it prints.
fn mdbook_build(tools: &Tools, root: &Path) -> Result<(), String> {
    let out = Command::new(&tools.mdbook)
        .arg("build")
        .arg(root)
        .output()
        .map_err(|e| {
            format!(
                "cannot start {}: {e} (run `cargo xtask setup`)",
                tools.mdbook
            )
        })?;
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err(format!("mdbook build failed ({}):\n{log}", out.status));
    }
    checks::build_log(&log)
}

/// The chapter pages named in `SUMMARY.md`, as `(markdown file, html file)` names.
fn chapter_pages(chapters: &Path) -> Result<Vec<(String, String)>, String> {
    let summary = std::fs::read_to_string(chapters.join("SUMMARY.md"))
        .map_err(|e| format!("cannot read SUMMARY.md: {e}"))?;
    let mut pages = Vec::new();
    let mut rest = summary.as_str();
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let end = after.find(')').unwrap_or(after.len());
        let md = after[..end].trim().to_string();
        if let Some(stem) = md.strip_suffix(".md") {
            pages.push((md.clone(), format!("{stem}.html")));
        }
        rest = &after[end..];
    }
    Ok(pages)
}

/// Renders every chapter page in headless Chromium and checks math and figures.
fn rendered_pages(chromium: &str, chapters: &Path, out: &Path) -> Result<(), String> {
    let mut errors = Vec::new();
    for (md, html) in chapter_pages(chapters)? {
        let source = std::fs::read_to_string(chapters.join(&md)).unwrap_or_default();
        let expect = checks::PageExpectation {
            math: source.contains('$'),
            // Every chapter has at least one figure; the appendix has none.
            min_figures: usize::from(md != "appendix.md"),
        };
        let dom = checks::render_in_chromium(chromium, &out.join(&html))?;
        match checks::rendered_dom(&dom, &expect) {
            Ok(()) => println!(
                "    {html}: ok ({} figures)",
                dom.matches("<div id=\"fig-").count()
            ),
            Err(e) => errors.push(format!("{html}: {e}")),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n  "))
    }
}

/// `cargo xtask book --screenshot PAGE OUT.png`: a screenshot of a built page (for the README).
fn screenshot(page: &str, png: &Path) -> Result<(), String> {
    let chromium = find_chromium()?;
    let page = root().join(BUILD_DIR).join(page);
    let profile = std::env::temp_dir().join("attention-book-screenshot");
    crate::util::run(
        Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--virtual-time-budget=15000",
                "--hide-scrollbars",
                "--window-size=1280,1500",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--screenshot={}", png.display()))
            .arg(format!("file://{}", page.display())),
    )
}

#[cfg(test)]
mod tests {
    //! Each check fails on deliberately broken input (and passes on good input).

    use super::*;

    /// A fresh, empty directory under the system temp dir.
    fn temp_dir(name: &str) -> PathBuf {
        crate::util::test_dir(&format!("book-{name}"))
    }

    use crate::util::write_file as write;

    #[test]
    fn a_missing_anchor_fails_the_include_check() {
        let dir = temp_dir("anchors");
        write(
            &dir.join("src/lib.rs"),
            "// ANCHOR: here\nfn f() {}\n// ANCHOR_END: here\n// ANCHOR: empty\n// ANCHOR_END: empty\n",
        );
        let chapter = dir.join("chapters/01.md");
        write(
            &chapter,
            "```rust,ignore\n{{#include ../src/lib.rs:here}}\n```\n",
        );
        assert_eq!(checks::anchors(&dir.join("chapters")), Ok(1));

        write(
            &chapter,
            "```rust,ignore\n{{#include ../src/lib.rs:gone}}\n```\n",
        );
        let err = checks::anchors(&dir.join("chapters")).unwrap_err();
        assert!(err.contains("no `ANCHOR: gone`"), "{err}");

        write(&chapter, "{{#include ../src/lib.rs:empty}}\n");
        let err = checks::anchors(&dir.join("chapters")).unwrap_err();
        assert!(err.contains("empty"), "{err}");

        write(&chapter, "{{#include ../src/missing.rs}}\n");
        let err = checks::anchors(&dir.join("chapters")).unwrap_err();
        assert!(err.contains("cannot read"), "{err}");
    }

    #[test]
    fn the_anchors_of_the_real_book_resolve() {
        let chapters = root().join(CHAPTERS);
        // Figures are generated; everything else must resolve in a clean clone.
        let result = checks::anchors(&chapters);
        if let Err(e) = &result {
            let unresolved: Vec<&str> = e
                .lines()
                .skip(1)
                .filter(|l| !l.contains("generated/figures/"))
                .collect();
            assert!(unresolved.is_empty(), "{}", unresolved.join("\n"));
        }
    }

    #[test]
    fn a_chapter_missing_a_part_fails_the_structure_check() {
        let good =
            std::fs::read_to_string(root().join(CHAPTERS).join("03-self-attention.md")).unwrap();
        let all = checks::Promised {
            exercises: true,
            notebook: true,
        };
        assert_eq!(
            checks::chapter_parts("03-self-attention.md", &good, all),
            Ok(())
        );
        let broken = [
            ("## Quiz", "## Questions", "## Quiz"),
            (
                "{{#include generated/figures/",
                "{{#include generated/pictures/",
                "a figure",
            ),
            ("<summary>Answers</summary>", "Answers:", "folded"),
            ("notebooks/03-", "notebooks/99-", "notebook"),
            (
                "{{#include generated/ch03-exercises.md}}",
                "ch03 exercises",
                "its exercises",
            ),
            (
                "{{#include generated/ch03",
                "{{#include numbers/ch03",
                "worked numbers",
            ),
        ];
        for (from, to, expected) in broken {
            let text = good.replace(from, to);
            let err = checks::chapter_parts("03-self-attention.md", &text, all).unwrap_err();
            assert!(err.contains(expected), "{from:?} → {to:?}: {err}");
        }
        // Two questions only (of seven).
        let text = good
            .replace("3. What do", "What do")
            .replace("4. If all of", "If all of")
            .replace("5. In the", "In the")
            .replace("6. Predict", "Predict")
            .replace("7. Predict", "Predict");
        let err = checks::chapter_parts("03-self-attention.md", &text, all).unwrap_err();
        assert!(err.contains("3 to 8"), "{err}");
    }

    #[test]
    fn mdbook_warnings_fail_the_build_check() {
        assert!(checks::build_log(" INFO Book building has started\n").is_ok());
        let log = " INFO Running the html backend\n WARN Unable to find include file\n";
        assert!(checks::build_log(log).is_err());
        let log = " WARN mdbook_katex: This mdbook-katex was built against mdbook v0.5.3, but we are being called from mdbook v0.5.4. If you have any issue, this might be a reason.";
        assert!(checks::build_log(log).is_ok());
        assert!(checks::build_log(&log.replace("mdbook v0.5.3", "mdbook v0.4.0")).is_err());
    }

    #[test]
    fn stale_numbers_fail_the_numbers_check() {
        assert!(compare_generated("x.md", "a\nb\n", "a\nb\n").is_ok());
        let err = compare_generated("x.md", "a\n0.3773\n", "a\n0.3774\n").unwrap_err();
        assert!(err.contains("x.md:2"), "{err}");
        assert!(compare_generated("x.md", "", "a\n").is_err());
    }

    #[test]
    fn the_committed_numbers_match_the_crate() {
        let dir = root().join(CHAPTERS).join(GENERATED);
        for (name, text) in generate::numbers().unwrap() {
            let committed = std::fs::read_to_string(dir.join(&name)).unwrap_or_default();
            if let Err(e) = compare_generated(&name, &committed, &text) {
                panic!("{e}: run `cargo xtask book` and commit chapters/generated/");
            }
        }
    }

    /// Headless Chromium is needed for these two (`cargo xtask setup` installs it).
    fn chromium() -> String {
        find_chromium().expect("the rendering checks need Chromium: run `cargo xtask setup`")
    }

    #[test]
    #[ignore = "needs headless Chromium: run by `cargo xtask test` (book stage)"]
    fn a_raw_formula_fails_the_rendering_check() {
        let dir = temp_dir("math");
        let expect = checks::PageExpectation {
            math: true,
            min_figures: 0,
        };
        // What mdbook-katex writes for $$x^2$$ (abridged), then the same formula left raw.
        let good = "<html><body><p><span class=\"katex-display\"><span class=\"katex\"><span class=\"katex-mathml\"><math><semantics><annotation encoding=\"application/x-tex\">x^2</annotation></semantics></math></span></span></span></p><pre><code>let cost = \"$$\";</code></pre></body></html>";
        write(&dir.join("good.html"), good);
        write(
            &dir.join("raw.html"),
            "<html><body><p>$$x^2$$</p></body></html>",
        );
        let dom = checks::render_in_chromium(&chromium(), &dir.join("good.html")).unwrap();
        assert_eq!(checks::rendered_dom(&dom, &expect), Ok(()));
        let dom = checks::render_in_chromium(&chromium(), &dir.join("raw.html")).unwrap();
        let err = checks::rendered_dom(&dom, &expect).unwrap_err();
        assert!(
            err.contains("raw `$$`") && err.contains("no rendered KaTeX"),
            "{err}"
        );
    }

    #[test]
    #[ignore = "needs headless Chromium: run by `cargo xtask test` (book stage)"]
    fn a_figure_that_does_not_render_fails_the_rendering_check() {
        let dir = temp_dir("figures");
        write(&dir.join("plotly.min.js"), &attention::plot::plotly_js());
        let (_, _, plot) = generate::figures().unwrap().remove(0);
        let figure = figure_html(&plot, "good");
        let page = |body: &str| {
            format!(
                "<html><head><script src=\"plotly.min.js\"></script></head><body>{body}</body></html>"
            )
        };
        let expect = checks::PageExpectation {
            math: false,
            min_figures: 1,
        };
        write(&dir.join("good.html"), &page(&figure));
        let dom = checks::render_in_chromium(&chromium(), &dir.join("good.html")).unwrap();
        assert_eq!(checks::rendered_dom(&dom, &expect), Ok(()));

        // The figure's data is broken: Plotly never draws it.
        let broken = figure
            .replace("fig-good", "fig-broken")
            .replace("Plotly.newPlot(", "Plotly.newPlot(undefined, ");
        write(&dir.join("broken.html"), &page(&broken));
        let dom = checks::render_in_chromium(&chromium(), &dir.join("broken.html")).unwrap();
        let err = checks::rendered_dom(&dom, &expect).unwrap_err();
        assert!(err.contains("figure `fig-broken` did not render"), "{err}");

        // plotly.js is missing (e.g. not vendored): nothing draws.
        let no_js = page(&figure).replace("plotly.min.js", "missing.js");
        write(&dir.join("no-js.html"), &no_js);
        let dom = checks::render_in_chromium(&chromium(), &dir.join("no-js.html")).unwrap();
        assert!(
            checks::rendered_dom(&dom, &expect)
                .unwrap_err()
                .contains("did not render")
        );

        // A chapter page without any figure fails too.
        write(&dir.join("none.html"), &page("<p>no figure</p>"));
        let dom = checks::render_in_chromium(&chromium(), &dir.join("none.html")).unwrap();
        assert!(
            checks::rendered_dom(&dom, &expect)
                .unwrap_err()
                .contains("expected at least 1")
        );
    }
}
