//! The book's checks, each a plain function over files or strings so the tests (in
//! `book.rs` and below) can show that every one of them fails on broken input. The built
//! book's links are checked in `links.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Every `{{#include path[:anchor]}}` / `{{#rustdoc_include …}}` in the markdown files of
/// `dir` resolves: the file exists and, for a named anchor, holds a non-empty
/// `ANCHOR: name` … `ANCHOR_END: name` region.
pub fn anchors(dir: &Path) -> Result<usize, String> {
    let mut errors = Vec::new();
    let mut count = 0;
    for md in files_with_ext(dir, "md")? {
        let text = read(&md)?;
        for (line_no, line) in text.lines().enumerate() {
            for target in include_targets(line) {
                count += 1;
                let at = format!("{}:{}", md.display(), line_no + 1);
                if let Err(e) = resolve_include(md.parent().unwrap_or(dir), &target) {
                    errors.push(format!("{at}: {{{{#include {target}}}}}: {e}"));
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(count)
    } else {
        Err(format!("unresolved includes:\n  {}", errors.join("\n  ")))
    }
}

/// The targets of the include directives on one line (`path` or `path:anchor…`).
fn include_targets(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find("{{#") {
        let after = &rest[start + 3..];
        let Some(end) = after.find("}}") else { break };
        let directive = after[..end].trim();
        for kind in ["include ", "rustdoc_include "] {
            if let Some(target) = directive.strip_prefix(kind) {
                out.push(target.trim().to_string());
            }
        }
        rest = &after[end + 2..];
    }
    out
}

/// Checks one include target relative to `base`.
fn resolve_include(base: &Path, target: &str) -> Result<(), String> {
    let (path, anchor) = match target.split_once(':') {
        Some((p, a)) => (p, Some(a)),
        None => (target, None),
    };
    let file = base.join(path);
    let text = std::fs::read_to_string(&file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let Some(anchor) = anchor else { return Ok(()) };
    // Line ranges (`:10`, `:3:8`, `:5:`) are mdBook's other form; only names are anchors.
    if anchor.chars().all(|c| c.is_ascii_digit() || c == ':') {
        return Ok(());
    }
    let (mut inside, mut found, mut closed, mut body) = (false, false, false, 0);
    for line in text.lines() {
        if anchor_name(line, "ANCHOR_END:") == Some(anchor) {
            closed = inside;
            inside = false;
        } else if anchor_name(line, "ANCHOR:") == Some(anchor) {
            found = true;
            inside = true;
        } else if inside && !line.trim().is_empty() && !line.contains("ANCHOR") {
            body += 1;
        }
    }
    match (found, closed, body) {
        (false, _, _) => Err(format!("no `ANCHOR: {anchor}` in {}", file.display())),
        (true, false, _) => Err(format!(
            "`ANCHOR: {anchor}` has no ANCHOR_END in {}",
            file.display()
        )),
        (true, true, 0) => Err(format!("anchor `{anchor}` is empty in {}", file.display())),
        _ => Ok(()),
    }
}

/// The anchor name after `marker` on `line`, if any (mdBook's `ANCHOR:\s*name`).
fn anchor_name<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    let at = line.find(marker)?;
    if marker == "ANCHOR:" && line[..at].ends_with('_') {
        return None; // this is ANCHOR_END:
    }
    let name = line[at + marker.len()..].trim_start();
    let end = name
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(name.len());
    Some(&name[..end])
}

/// What a chapter can only promise once the repository has it: its list of exercises (once
/// the manifest has exercises for the chapter) and its notebook (once `notebooks/NN-*.ipynb`
/// exists).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Promised {
    /// The manifest has exercises for this chapter.
    pub exercises: bool,
    /// The chapter's notebook exists.
    pub notebook: bool,
}

/// A chapter (`chapters/NN-*.md`) has every part the book promises: math, worked numbers
/// from the crate, the crate's code, a figure, "Run it" naming its notebook, "Exercises", a
/// quiz of 3–8 questions (some of them "predict, then run" a notebook cell) with folded
/// answers, and a summary.
///
/// A chapter whose exercises are not in the manifest yet still needs its "Exercises" section
/// (questions to think about) but not the generated list; a chapter whose notebook does not
/// exist yet must give a command to run instead (`cargo run …` under "Run it").
pub fn chapter_parts(name: &str, md: &str, promised: Promised) -> Result<(), String> {
    let mut missing = Vec::new();
    let mut need = |ok: bool, what: &str| {
        if !ok {
            missing.push(what.to_string());
        }
    };
    need(md.contains('$'), "math ($…$ or $$…$$)");
    need(
        md.contains("{{#include generated/figures/"),
        "a figure ({{#include generated/figures/…}})",
    );
    need(
        md.contains("{{#include ../src/") || md.contains("```rust\n"),
        "the crate's code ({{#include ../src/…}} or a ```rust block)",
    );
    let numbered = name.as_bytes().first().is_some_and(|b| b.is_ascii_digit());
    let chapter = name.get(..2).unwrap_or("");
    if numbered && chapter != "00" {
        need(
            md.contains("{{#include generated/ch"),
            "worked numbers from the crate ({{#include generated/chNN-…}})",
        );
        need(
            !promised.exercises
                || md.contains(&format!(
                    "{{{{#include generated/ch{chapter}-exercises.md}}}}"
                )),
            "its exercises ({{#include generated/chNN-exercises.md}}, written from the manifest)",
        );
    }
    for heading in ["## Run it", "## Exercises", "## Quiz", "## Summary"] {
        need(md.contains(&format!("\n{heading}\n")), heading);
    }
    if promised.notebook {
        need(
            md.contains(&format!("notebooks/{chapter}-")) && md.contains(".ipynb"),
            "a link to its notebook (notebooks/NN-….ipynb)",
        );
    } else {
        let run_it = md.split("\n## Run it\n").nth(1).unwrap_or("");
        let run_it = run_it.split("\n## ").next().unwrap_or("");
        need(
            run_it.contains("cargo run"),
            "a command to run under \"## Run it\" (`cargo run …`: it has no notebook yet)",
        );
    }
    let quiz = md.split("\n## Quiz\n").nth(1).unwrap_or("");
    let (questions, answers) = quiz.split_once("<details>").unwrap_or((quiz, ""));
    let count = questions
        .lines()
        .filter(|l| {
            l.split_once(". ")
                .is_some_and(|(n, _)| n.parse::<u32>().is_ok())
        })
        .count();
    need(
        (3..=8).contains(&count),
        "a quiz of 3 to 8 numbered questions",
    );
    need(
        answers.contains("<summary>") && answers.contains("</details>"),
        "quiz answers folded in <details><summary>…</summary>…</details>",
    );
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("{name} lacks: {}", missing.join("; ")))
    }
}

/// Every quiz answer that sends the reader to a notebook cell (`the cell "Quiz: NAME"`, line
/// breaks allowed inside) names a code cell the chapter's notebook has: one whose source has
/// the comment `// Quiz: NAME`. `notebook` is the notebook's JSON text. Returns how many.
pub fn quiz_cells(name: &str, md: &str, notebook: &str) -> Result<usize, String> {
    let words: Vec<&str> = md.split_whitespace().collect();
    let text = words.join(" ");
    let mut missing = Vec::new();
    let mut count = 0;
    for part in text.split("the cell \"Quiz: ").skip(1) {
        let cell = part.split('"').next().unwrap_or("");
        count += 1;
        if !notebook.contains(&format!("// Quiz: {cell}")) {
            missing.push(format!("\"Quiz: {cell}\""));
        }
    }
    if missing.is_empty() {
        Ok(count)
    } else {
        Err(format!(
            "{name}: its notebook has no cell `// Quiz: …` for {}",
            missing.join(", ")
        ))
    }
}

/// For a chapter's file name (`NN-….md`), what the repository has for it: exercises in the
/// manifest, a notebook `notebooks/NN-*.ipynb`, in the repository at `root`.
pub fn promised_parts(root: &Path) -> Result<impl Fn(&str) -> Promised + use<>, String> {
    let exercises = exercise_manifest::read(root).map_err(|e| e.to_string())?;
    let with_exercises: Vec<String> = exercises
        .iter()
        .map(|e| format!("{:02}-", e.chapter))
        .collect();
    let notebooks: Vec<String> = files_with_ext(&root.join("notebooks"), "ipynb")?
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    Ok(move |md: &str| {
        let prefix = md.get(..3).unwrap_or("");
        Promised {
            exercises: with_exercises.iter().any(|c| c == prefix),
            notebook: notebooks.iter().any(|n| n.starts_with(prefix)),
        }
    })
}

/// The one warning tolerated: mdbook-katex 0.10.0 was compiled against mdbook 0.5.3 and says
/// so when run by mdbook 0.5.4 (same preprocessor protocol; installing mdbook 0.5.3 silences
/// it). Any other warning fails the build.
const TOLERATED: &str =
    "was built against mdbook v0.5.3, but we are being called from mdbook v0.5.";

/// mdBook's log (stderr) has no warnings or errors (but [`TOLERATED`]).
pub fn build_log(log: &str) -> Result<(), String> {
    let bad: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("warning"))
        .filter(|l| !l.contains(TOLERATED))
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "mdbook build printed warnings:\n  {}",
            bad.join("\n  ")
        ))
    }
}

/// Removes every `<tag …>…</tag>` element (case-sensitive, not nested) from `html`.
pub fn strip_elements(html: &str, tag: &str) -> String {
    let (open, close) = (format!("<{tag}"), format!("</{tag}>"));
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find(&open) {
        // `<pre` must not match `<prefix`: the next char ends the tag name.
        let next = rest[start + open.len()..].chars().next();
        if !matches!(next, Some('>' | ' ' | '\n' | '\t' | '/')) {
            out.push_str(&rest[..start + open.len()]);
            rest = &rest[start + open.len()..];
            continue;
        }
        out.push_str(&rest[..start]);
        match rest[start..].find(&close) {
            Some(end) => rest = &rest[start + end + close.len()..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// What a rendered page (Chromium's `--dump-dom`) must show.
pub struct PageExpectation {
    /// The page has formulas: KaTeX markup must be present.
    pub math: bool,
    /// At least this many plotly figures must be present (and every one drawn).
    pub min_figures: usize,
}

/// The rendered DOM shows typeset math (no raw `$$` or `\(` left, no KaTeX errors) and
/// every plotly figure (`<div id="fig-…">`) has drawn its SVG.
pub fn rendered_dom(dom: &str, expect: &PageExpectation) -> Result<(), String> {
    let mut errors = Vec::new();
    // Text a reader sees: no code, scripts, styles or the TeX source KaTeX keeps for a11y.
    let mut text = dom.to_string();
    for tag in ["script", "style", "pre", "code", "annotation", "textarea"] {
        text = strip_elements(&text, tag);
    }
    if text.contains("$$") {
        let at = text.find("$$").unwrap_or(0);
        let snippet: String = text[at.saturating_sub(40)..].chars().take(100).collect();
        errors.push(format!(
            "raw `$$` formula left unrendered near: {snippet:?}"
        ));
    }
    if text.contains("katex-error") {
        errors.push("KaTeX reported a parse error (class katex-error)".into());
    }
    if expect.math && !text.contains("class=\"katex") {
        errors.push("no rendered KaTeX (class=\"katex\") on a page with math".into());
    }
    let figures = figure_divs(dom);
    if figures.len() < expect.min_figures {
        errors.push(format!(
            "{} figure(s), expected at least {}",
            figures.len(),
            expect.min_figures
        ));
    }
    for (id, tag, body) in &figures {
        if !tag.contains("js-plotly-plot") || !body.contains("main-svg") {
            errors.push(format!("figure `{id}` did not render (no plotly SVG)"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// `(id, opening tag, content up to the next figure)` of every `<div id="fig-…">`.
fn figure_divs(dom: &str) -> Vec<(String, String, String)> {
    let starts: Vec<usize> = dom
        .match_indices("<div id=\"fig-")
        .map(|(i, _)| i)
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(n, &start)| {
            let end = starts.get(n + 1).copied().unwrap_or(dom.len());
            let chunk = &dom[start..end];
            let tag_end = chunk.find('>').unwrap_or(chunk.len());
            let id_start = "<div id=\"".len();
            let id_end = chunk[id_start..]
                .find('"')
                .map_or(id_start, |i| id_start + i);
            (
                chunk[id_start..id_end].to_string(),
                chunk[..tag_end].to_string(),
                chunk[tag_end..].to_string(),
            )
        })
        .collect()
}

/// The `--dump-dom` of `page` after scripts ran, from headless Chromium.
pub fn render_in_chromium(chromium: &str, page: &Path) -> Result<String, String> {
    // A fresh profile per run: two Chromiums sharing one profile directory refuse to start.
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let profile = std::env::temp_dir().join(format!(
        "attention-book-chromium-{}-{run}",
        std::process::id()
    ));
    let url = format!(
        "file://{}",
        page.canonicalize()
            .map_err(|e| format!("{}: {e}", page.display()))?
            .display()
    );
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=15000",
            "--window-size=1280,1600",
            // Offline on purpose: any http(s) request goes to a closed port and fails, so a
            // page that needs the network cannot pass.
            "--proxy-server=http://127.0.0.1:9",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .map_err(|e| format!("cannot start {chromium}: {e} (run `cargo xtask setup`)"))?;
    let _ = std::fs::remove_dir_all(&profile);
    if !out.status.success() {
        return Err(format!(
            "{chromium} failed on {url} ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Every file under `dir` (recursively) whose name ends in `.ext`, sorted.
pub fn files_with_ext(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries =
            std::fs::read_dir(&d).map_err(|e| format!("cannot list {}: {e}", d.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == ext) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The text of `path`, or an error naming it.
pub fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiz_answer_names_a_cell_of_the_notebook() {
        let md = "6. Sharper. Notebook 03, the cell \"Quiz:\n   scale W_q\".\n";
        let notebook = r#"{"source": ["// Quiz: scale W_q\n", "let x = 1;"]}"#;
        assert_eq!(quiz_cells("03.md", md, notebook), Ok(1));
        let err = quiz_cells("03.md", md, r#"{"source": ["// Quiz: double W_v"]}"#).unwrap_err();
        assert!(err.contains("\"Quiz: scale W_q\""), "{err}");
        assert_eq!(quiz_cells("03.md", "no quiz cells", "{}"), Ok(0));
    }

    #[test]
    fn a_chapter_without_exercises_or_notebook_yet_needs_questions_and_a_command() {
        let good = std::fs::read_to_string(
            crate::util::root()
                .join(super::super::CHAPTERS)
                .join("03-self-attention.md"),
        )
        .unwrap();
        let none = Promised {
            exercises: false,
            notebook: false,
        };
        // No exercises in the manifest: the "Exercises" section without the generated list.
        let text = good
            .replace("{{#include generated/ch03-exercises.md}}", "1. Why?")
            .replace(
                "`notebooks/03-self-attention.ipynb`",
                "`cargo run --example self_attention`",
            );
        let with_notebook = Promised {
            notebook: true,
            ..none
        };
        let err = chapter_parts("03-self-attention.md", &text, with_notebook).unwrap_err();
        assert!(err.contains("notebook"), "{err}");
        assert_eq!(chapter_parts("03-self-attention.md", &text, none), Ok(()));
        // Once the manifest has its exercises, the list is required again.
        let with_exercises = Promised {
            exercises: true,
            ..none
        };
        let err = chapter_parts("03-self-attention.md", &text, with_exercises).unwrap_err();
        assert!(err.contains("its exercises"), "{err}");
        // No notebook: "Run it" must give a command; the heading alone is not enough.
        let text = text.replace("`cargo run --example self_attention`", "the crate");
        let err = chapter_parts("03-self-attention.md", &text, none).unwrap_err();
        assert!(err.contains("a command to run"), "{err}");
        // Every part but those two is still required.
        let text = text.replace("## Quiz", "## Questions");
        let err = chapter_parts("03-self-attention.md", &text, none).unwrap_err();
        assert!(err.contains("## Quiz"), "{err}");
    }
}
