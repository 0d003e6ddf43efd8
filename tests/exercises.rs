//! The learner's checks: one test per exercise of `src/exercises/`, named by its id.
//!
//! ```sh
//! cargo exercise ch03_scaled_scores   # one exercise
//! cargo exercise ch03                 # one chapter
//! cargo exercise                      # all
//! ```
//!
//! (`cargo exercise` = `cargo test --features exercises --test exercises --`.) You never edit
//! this file: edit the stubs in `src/exercises/`.

#[macro_use]
#[path = "exercises/mod.rs"]
mod checks;
mod common;

use std::path::Path;

/// Fails the test with a learner-friendly report: where to work, what went wrong, a hint.
fn report(id: &str, result: checks::Check) {
    let Err(problem) = result else { return };
    let exercises = exercise_manifest::read(Path::new(env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{e}"));
    let e = (exercises.iter().find(|e| e.id == id))
        .unwrap_or_else(|| panic!("{} has no exercise `{id}`", exercise_manifest::PATH));
    let hint = e.hints.first().map(String::as_str).unwrap_or("");
    checks::helpers::fail(format!(
        "\n\n✗ exercise {n} `{id}`: {title}\n  your code: {file}, fn {function}\n  re-read: chapter {chapter}, section \"{section}\"\n\n{problem}\n\nhint 1: {hint}\nmore hints: cargo xtask exercises --hint {n}\n",
        n = e.number,
        title = e.title,
        file = e.file,
        function = e.function,
        chapter = e.chapter,
        section = e.section,
    ));
}

/// One `#[test]` per exercise: its check run on the learner's function.
macro_rules! learner_tests {
    ($($id:ident: $chapter:ident::$function:ident [$($mistake:ident),*];)*) => {
        $(
            #[test]
            fn $id() {
                let learner = attention::exercises::$chapter::$function;
                report(stringify!($id), checks::$chapter::$function(learner));
            }
        )*
    };
}

with_every_exercise!(learner_tests);
