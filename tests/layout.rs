//! The crate's layering, checked: the shared layers and chapters 1-7 never reach up into
//! chapter 8 (`fast`), and the code the book shows in chapters 3 and 6 is plain (no threads,
//! no SIMD, no chapter-8 name). Speed lives in `kernels` (the floor) and `fast` (chapter 8).

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

#[test]
fn layers_and_chapters_1_to_7_do_not_import_chapter_8() {
    let src = root().join("src");
    let mut below_chapter_8: Vec<PathBuf> = ["nn", "kernels", "transformer", "weights"]
        .iter()
        .flat_map(|d| rust_files(&src.join(d)))
        .collect();
    for file in [
        "backend.rs",
        "embedding.rs",
        "positional.rs",
        "self_attention.rs",
        "masked.rs",
        "cross.rs",
        "multi_head.rs",
        "params.rs",
        "error.rs",
    ] {
        below_chapter_8.push(src.join(file));
    }
    assert!(below_chapter_8.len() > 15, "the file list is wrong");
    for path in below_chapter_8 {
        // Code only: a doc comment may point the reader to chapter 8.
        let text = read(&path);
        let code: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect();
        for needle in ["crate::fast", "fast::"] {
            assert!(
                !code.iter().any(|l| l.contains(needle)),
                "{} uses chapter 8's module (`{needle}`): move what it needs to src/kernels/",
                path.display()
            );
        }
    }
}

/// The source of every `{{#include ../src/FILE:ANCHOR}}` of a chapter.
fn included_listings(chapter: &str) -> Vec<(String, String)> {
    let text = read(&root().join("chapters").join(chapter));
    let mut listings = Vec::new();
    for part in text.split("{{#include ../").skip(1) {
        let spec = &part[..part.find("}}").expect("closed include")];
        let Some((file, anchor)) = spec.split_once(':') else {
            continue;
        };
        let source = read(&root().join(file));
        let start = source
            .find(&format!("ANCHOR: {anchor}\n"))
            .unwrap_or_else(|| panic!("{file} has no anchor {anchor}"));
        let end = source[start..]
            .find(&format!("ANCHOR_END: {anchor}"))
            .expect("anchor end");
        listings.push((spec.to_string(), source[start..start + end].to_string()));
    }
    listings
}

#[test]
fn chapters_3_and_6_show_plain_code() {
    for chapter in ["03-self-attention.md", "06-multi-head-attention.md"] {
        let listings = included_listings(chapter);
        assert!(!listings.is_empty(), "{chapter} includes no code");
        for (spec, code) in listings {
            for word in [
                "rayon",
                "par_iter",
                "simd",
                "avx",
                "fast::",
                "kernels",
                "chapter 8",
                "parallel",
            ] {
                assert!(
                    !code.to_lowercase().contains(word),
                    "{chapter} shows `{spec}`, which mentions `{word}`:\n{code}"
                );
            }
        }
    }
}

#[test]
fn included_listings_are_balanced() {
    let mut chapters: Vec<_> = std::fs::read_dir(root().join("chapters"))
        .expect("chapters/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    chapters.sort();
    for chapter in chapters {
        let name = chapter.file_name().unwrap().to_string_lossy().to_string();
        for (spec, code) in included_listings(&name) {
            // Braces and parentheses outside comments and string/char literals. Python
            // listings comment with `#` (and `//` is its integer division).
            let comment = if spec.contains(".py:") { "#" } else { "//" };
            let (mut braces, mut parens) = (0i32, 0i32);
            for line in code.lines() {
                let line = line.split(comment).next().unwrap_or("");
                let mut in_str = false;
                let mut chars = line.chars().peekable();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' if in_str => {
                            chars.next();
                        }
                        '"' => in_str = !in_str,
                        '\'' if !in_str => {
                            // A char literal ('{'), not a lifetime ('a).
                            let rest: String = chars.clone().take(2).collect();
                            if rest.ends_with('\'') {
                                chars.next();
                                chars.next();
                            }
                        }
                        '{' if !in_str => braces += 1,
                        '}' if !in_str => braces -= 1,
                        '(' if !in_str => parens += 1,
                        ')' if !in_str => parens -= 1,
                        _ => {}
                    }
                }
            }
            assert!(
                braces == 0 && parens == 0,
                "{name} shows `{spec}`, an unbalanced listing (an ANCHOR_END inside a block?):\n{code}"
            );
        }
    }
}

#[test]
fn no_source_file_is_over_600_lines() {
    let dirs = [
        "src",
        "tests",
        "solutions",
        "benches",
        "examples",
        "xtask",
        "exercise-manifest",
    ];
    let mut checked = 0;
    for dir in dirs {
        let dir = root().join(dir);
        if !dir.exists() {
            continue;
        }
        for path in rust_files(&dir) {
            if path.components().any(|c| c.as_os_str() == "target") {
                continue;
            }
            let lines = read(&path).lines().count();
            assert!(
                lines <= 600,
                "{} has {lines} lines: split it",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} files found");
}
