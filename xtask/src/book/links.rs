//! The built book's links.
//!
//! Internal links and `#fragment`s in the HTML pages are checked by
//! [hyperlink](https://crates.io/crates/hyperlink) (`cargo xtask setup` installs it): a
//! maintained, offline-only checker for static sites that resolves `href` and `src` of every
//! element, percent-decodes fragments and looks them up among the target page's ids. Two
//! things it does not do are checked here, in a few lines each:
//!
//! - every `url()` in the book's CSS (KaTeX's fonts) names a file of the book;
//! - no page loads a script, stylesheet, image or frame from the network: the book must work
//!   offline (plain `<a>` links to the web are fine).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::checks::{files_with_ext, read};

/// Every internal link in the built book `out` resolves, fragments included (hyperlink), every
/// CSS `url()` names a file, and no page loads anything from the network; the number of links
/// checked. Pages under `skip` (relative to `out`) are not scanned for network resources.
pub fn links(hyperlink: &str, out: &Path, skip: &[&str]) -> Result<usize, String> {
    let mut errors = Vec::new();
    let mut count = 0;
    match hyperlink_check(hyperlink, out) {
        Ok(n) => count += n,
        Err(e) => errors.push(e),
    }
    match css_urls_resolve(out) {
        Ok(n) => count += n,
        Err(e) => errors.push(e),
    }
    if let Err(e) = nothing_from_the_network(out, skip) {
        errors.push(e);
    }
    if errors.is_empty() {
        Ok(count)
    } else {
        Err(errors.join("\n"))
    }
}

/// Runs `hyperlink OUT --check-anchors`; the number of links it checked, or its report.
fn hyperlink_check(hyperlink: &str, out: &Path) -> Result<usize, String> {
    let run = Command::new(hyperlink)
        .arg(out)
        .arg("--check-anchors")
        .output()
        .map_err(|e| format!("cannot start {hyperlink}: {e} (run `cargo xtask setup`)"))?;
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    if !run.status.success() {
        return Err(format!(
            "broken internal links or anchors ({hyperlink}: {}):\n{}",
            run.status,
            report.trim()
        ));
    }
    Ok(links_checked(&report))
}

/// N from hyperlink's "Checking N links from …" line (0 if absent).
fn links_checked(report: &str) -> usize {
    report
        .lines()
        .find_map(|l| l.strip_prefix("Checking ")?.split(' ').next()?.parse().ok())
        .unwrap_or(0)
}

/// Every relative `url(…)` in the CSS files of `out` names a file; how many there are.
fn css_urls_resolve(out: &Path) -> Result<usize, String> {
    let mut errors = Vec::new();
    let mut count = 0;
    for css in files_with_ext(out, "css")? {
        let dir = css.parent().unwrap_or(out);
        for url in css_urls(&read(&css)?) {
            if is_external(&url) || url.starts_with("data:") {
                continue;
            }
            count += 1;
            let file = url.split(['?', '#']).next().unwrap_or("");
            if !dir.join(file).is_file() {
                errors.push(format!("{}: url({url}): no such file", rel(out, &css)));
            }
        }
    }
    if errors.is_empty() {
        Ok(count)
    } else {
        Err(format!("broken CSS urls:\n  {}", errors.join("\n  ")))
    }
}

/// No HTML page of `out` (but those under `skip`) loads a resource from the network.
fn nothing_from_the_network(out: &Path, skip: &[&str]) -> Result<(), String> {
    let mut errors = BTreeSet::new();
    let pages: Vec<PathBuf> = files_with_ext(out, "html")?
        .into_iter()
        .filter(|p| !skip.iter().any(|s| p.starts_with(out.join(s))))
        .collect();
    for page in &pages {
        for resource in network_resources(&read(page)?) {
            errors.insert(format!(
                "{}: loads `{resource}` from the network (the book must work offline)",
                rel(out, page)
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        let list: Vec<String> = errors.into_iter().collect();
        Err(list.join("\n"))
    }
}

/// `src`/`href` of `<script>`, `<link>`, `<img>` and `<iframe>` tags that point off the
/// machine.
fn network_resources(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for tag in ["<script", "<link", "<img", "<iframe"] {
        for (at, _) in html.match_indices(tag) {
            let end = html[at..].find('>').map_or(html.len(), |e| at + e);
            let opening = &html[at..end];
            for value in attribute_values(opening, &["href", "src"]) {
                if is_external(&value) {
                    out.push(value);
                }
            }
        }
    }
    out
}

/// Values of the given attributes in one opening tag, double- or single-quoted.
fn attribute_values(tag: &str, names: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for name in names {
        for quote in ['"', '\''] {
            let needle = format!(" {name}={quote}");
            for (at, _) in tag.match_indices(&needle) {
                let value = &tag[at + needle.len()..];
                let end = value.find(quote).unwrap_or(value.len());
                out.push(value[..end].replace("&amp;", "&"));
            }
        }
    }
    out
}

/// A URL with a scheme (`https:`, `data:`, …) or protocol-relative (`//host/…`).
fn is_external(link: &str) -> bool {
    let scheme = link.split_once(':').map(|(s, _)| s);
    let is_scheme = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    };
    link.starts_with("//") || scheme.is_some_and(is_scheme)
}

/// The targets of every `url(…)` in a stylesheet, quotes removed.
fn css_urls(css: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = css;
    while let Some(at) = rest.find("url(") {
        let after = &rest[at + 4..];
        let end = after.find(')').unwrap_or(after.len());
        out.push(after[..end].trim_matches(['"', '\'', ' ']).to_string());
        rest = &after[end..];
    }
    out
}

fn rel(base: &Path, path: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    //! The CSS and network checks run everywhere; the link and fragment checks need
    //! hyperlink, so they are ignored by plain `cargo test` and run by the book stage of
    //! `cargo xtask test` (like the Chromium tests).

    use super::*;

    /// A fresh, empty directory under the system temp dir.
    fn temp_dir(name: &str) -> PathBuf {
        crate::util::test_dir(&format!("links-{name}"))
    }

    use crate::util::write_file as write;

    /// hyperlink, as `cargo xtask book` finds it.
    fn hyperlink() -> String {
        super::super::find_hyperlink()
            .expect("the link checks need hyperlink: run `cargo xtask setup`")
    }

    /// A small book whose every link resolves: a page, a fragment in another page (with an
    /// id that needs percent-encoding), a script, a stylesheet whose font exists, a link to
    /// the web.
    fn good_book(name: &str) -> PathBuf {
        let out = temp_dir(name);
        write(
            &out.join("index.html"),
            "<link rel=\"stylesheet\" href=\"k.css\"><script src=\"x.js\"></script>\
             <a href=\"ch1.html#intro\">1</a><a href=\"ch1.html#caf%C3%A9\">café</a>\
             <a href=\"https://example.com/\">web</a>",
        );
        write(
            &out.join("ch1.html"),
            "<h1 id=\"intro\">1</h1><h2 id=\"café\">2</h2><a href=\"index.html\">up</a>",
        );
        write(&out.join("x.js"), "");
        write(
            &out.join("k.css"),
            "@font-face{src:url(fonts/a.woff2) format(\"woff2\")}",
        );
        write(&out.join("fonts/a.woff2"), "");
        out
    }

    #[test]
    fn a_missing_css_file_fails_the_css_check() {
        let out = good_book("css");
        assert_eq!(css_urls_resolve(&out), Ok(1));
        write(
            &out.join("k.css"),
            "@font-face{src:url(\"fonts/b.woff2\") format(\"woff2\")} p{background:url(data:,x)}",
        );
        let err = css_urls_resolve(&out).unwrap_err();
        assert!(
            err.contains("k.css: url(fonts/b.woff2): no such file"),
            "{err}"
        );
        assert!(!err.contains("data:"), "{err}");
    }

    #[test]
    fn a_resource_from_the_network_fails_the_offline_check() {
        let out = good_book("network");
        assert_eq!(nothing_from_the_network(&out, &[]), Ok(()));
        // A stylesheet from a CDN: the book would render garbled offline.
        let cdn = "<link rel='stylesheet' href='https://cdn.jsdelivr.net/npm/katex@0.16.4/dist/katex.min.css'>";
        write(
            &out.join("ch2/page.html"),
            &format!("{cdn}<a href=\"https://example.com/\">a plain link is fine</a>"),
        );
        let err = nothing_from_the_network(&out, &[]).unwrap_err();
        assert!(
            err.contains("ch2/page.html") && err.contains("from the network"),
            "{err}"
        );
        assert!(!err.contains("example.com"), "{err}");
        assert_eq!(nothing_from_the_network(&out, &["ch2"]), Ok(()));
    }

    #[test]
    fn external_urls_and_hyperlinks_count_are_read() {
        assert!(is_external("https://example.com/a"));
        assert!(is_external("//cdn.example.com/a.js"));
        assert!(is_external("data:font/woff2;base64,AA"));
        assert!(!is_external("fonts/a.woff2"));
        assert!(!is_external("ch1.html#intro:colon"));
        let report = "Reading files\nChecking 578 links from 86 files (31 documents)\n";
        assert_eq!(links_checked(report), 578);
    }

    #[test]
    #[ignore = "needs hyperlink: run by `cargo xtask test` (book stage)"]
    fn a_broken_link_or_fragment_fails_the_link_check() {
        let out = good_book("links");
        // Five links in the pages (the stylesheet, the script, two fragments of ch1.html, one
        // percent-encoded, and the way back to index.html) and the font in the CSS.
        assert_eq!(links(&hyperlink(), &out, &[]), Ok(6));

        write(
            &out.join("index.html"),
            "<a href=\"ch2.html\">2</a><a href=\"ch1.html#nope\">1</a>\
             <a href=\"ch1.html#na%C3%AFve\">naïve</a><script src=\"y.js\"></script>",
        );
        let err = links(&hyperlink(), &out, &[]).unwrap_err();
        for broken in ["/ch2.html", "/ch1.html#nope", "/ch1.html#naïve", "/y.js"] {
            assert!(err.contains(broken), "{broken} not reported: {err}");
        }
        assert!(!err.contains("#intro"), "{err}");
    }

    #[test]
    #[ignore = "needs hyperlink: run by `cargo xtask test` (book stage)"]
    fn every_kind_of_error_is_reported_together() {
        let out = good_book("all");
        write(
            &out.join("index.html"),
            "<a href=\"ch1.html#gone\">1</a><img src=\"http://example.com/a.png\">",
        );
        std::fs::remove_file(out.join("fonts/a.woff2")).unwrap();
        let err = links(&hyperlink(), &out, &[]).unwrap_err();
        assert!(err.contains("#gone"), "{err}");
        assert!(err.contains("a.woff2"), "{err}");
        assert!(err.contains("from the network"), "{err}");
    }
}
