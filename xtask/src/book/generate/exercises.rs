//! Each chapter's list of exercises, written from the one exercise manifest
//! (`src/exercises/exercises.toml`), so adding an exercise never means editing a chapter.

use crate::util::root;

/// `(file name, markdown)`: `chNN-exercises.md` and `chNN-exercise-numbers.md` for every
/// chapter that has exercises.
pub fn numbers() -> Result<Vec<(String, String)>, String> {
    let exercises = exercise_manifest::read(&root()).map_err(|e| e.to_string())?;
    let mut chapters: Vec<u32> = exercises.iter().map(|e| e.chapter).collect();
    chapters.dedup(); // the manifest groups the exercises by chapter
    Ok(chapters
        .into_iter()
        .flat_map(|chapter| {
            let mut body = format!(
                "In `src/exercises/ch{chapter:02}.rs`, one function each, whose doc comment \
                 gives the task and the shapes:\n\n\
                 | # | exercise | what | re-read |\n|---|---|---|---|\n"
            );
            for e in exercises.iter().filter(|e| e.chapter == chapter) {
                let (n, id, title, section) = (e.number, &e.id, &e.title, &e.section);
                body.push_str(&format!("| {n} | `{id}` | {title} | {section} |\n"));
            }
            body.push_str(&format!(
                "\nCheck them with `cargo exercise ch{chapter:02}`; `cargo xtask exercises` \
                 shows your progress and the next hint, `cargo xtask exercises --hint ID` all \
                 the hints of one.\n"
            ));
            let numbers: String = exercises
                .iter()
                .filter(|e| e.chapter == chapter)
                .map(|e| {
                    format!(
                        "<!-- ANCHOR: {id} -->\nexercise {n}\n<!-- ANCHOR_END: {id} -->\n",
                        id = e.id,
                        n = e.number
                    )
                })
                .collect();
            [
                (format!("ch{chapter:02}-exercises.md"), body),
                // "exercise N" by id, for sentences (`{{#include …:ch03_softmax_rows}}`).
                (format!("ch{chapter:02}-exercise-numbers.md"), numbers),
            ]
        })
        .collect())
}
