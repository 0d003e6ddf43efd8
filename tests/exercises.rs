//! The learner's checks: one test per exercise of `src/exercises/`.
//!
//! ```sh
//! cargo exercise ch03_scaled_scores   # one exercise
//! cargo exercise ch03                 # one chapter
//! cargo exercise                      # all
//! ```
//!
//! (`cargo exercise` = `cargo test --features exercises --test exercises --`.) You never edit
//! this file: edit the stubs in `src/exercises/`.

#[path = "exercises/checks.rs"]
mod checks;
#[macro_use]
#[path = "exercises/registry.rs"]
mod registry;
mod common;
#[path = "exercises/manifest.rs"]
mod manifest;

use attention::exercises::{ch01, ch02, ch03, ch04, ch05, ch06, ch07, ch08};

/// Fails the test with a learner-friendly report: where to work, what went wrong, a hint.
fn report(id: &str, result: checks::Check) {
    let Err(problem) = result else { return };
    let e = manifest::exercise(id);
    let hint = e.hints.first().map(String::as_str).unwrap_or("");
    checks::fail(format!(
        "\n\n✗ exercise {n} `{id}`: {title}\n  your code: {file}, fn {function}\n  re-read: chapter {chapter}, section \"{section}\"\n\n{problem}\n\nhint 1: {hint}\nmore hints: cargo xtask exercises --hint {n}\n",
        n = e.number,
        title = e.title,
        file = e.file,
        function = e.function,
        chapter = e.chapter,
        section = e.section,
    ));
}

macro_rules! exercises {
    ($($id:ident => $function:path),* $(,)?) => {
        $(
            #[test]
            fn $id() {
                report(stringify!($id), checks::$id($function));
            }
        )*
    };
}

with_every_exercise!(exercises);
