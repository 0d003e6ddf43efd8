//! The parser's errors: each names the file, the exercise and the field.

use super::*;

/// A well-formed manifest of three exercises in two chapters.
const GOOD: &str = r#"
[[exercises]]
id = "ch01_lookup"
chapter = 1
section = "The table"
title = "Look up"
file = "src/exercises/ch01.rs"
function = "lookup"
hints = ["Rows.", "Axis(0)."]

[exercises.mistakes]
columns = "selects columns"
reversed = "reverses the ids"

[[exercises]]
id = "ch01_cosine"
chapter = 1
section = "Cosine"
title = "Cosine similarity"
file = "src/exercises/ch01.rs"
function = "cosine"
hints = ["a·b / (‖a‖·‖b‖)."]

[exercises.mistakes]
no_norms = "forgets the norms"

[[exercises]]
id = "ch02_entry"
chapter = 2
section = "Sinusoids"
title = "One entry"
file = "src/exercises/ch02.rs"
function = "entry"
hints = ["sin, cos."]

[exercises.mistakes]
swapped = "sin and cos swapped"
"#;

/// `GOOD` with `from` replaced by `to` (which must occur), parsed; its error message.
fn error_with(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "the test's manifest has no {from:?}");
    match parse(&GOOD.replacen(from, to, 1), "exercises.toml") {
        Ok(_) => panic!("accepted a manifest with {from:?} → {to:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_good_manifest_is_read_in_order_with_every_field() {
    let exercises = parse(GOOD, "exercises.toml").unwrap();
    assert_eq!(exercises.len(), 3);
    let first = &exercises[0];
    assert_eq!(
        first,
        &Exercise {
            number: 1,
            id: "ch01_lookup".into(),
            chapter: 1,
            section: "The table".into(),
            title: "Look up".into(),
            file: "src/exercises/ch01.rs".into(),
            function: "lookup".into(),
            hints: vec!["Rows.".into(), "Axis(0).".into()],
            mistakes: vec![
                Mistake {
                    name: "columns".into(),
                    what: "selects columns".into()
                },
                Mistake {
                    name: "reversed".into(),
                    what: "reverses the ids".into()
                },
            ],
        }
    );
    let numbers: Vec<usize> = exercises.iter().map(|e| e.number).collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert_eq!(exercises[2].module(), "ch02");
    assert_eq!(exercises[2].solution_file(), "solutions/ch02.rs");
    assert_eq!(exercises[2].check_file(), "tests/exercises/ch02.rs");
}

#[test]
fn find_takes_a_number_an_id_or_a_function() {
    let exercises = parse(GOOD, "exercises.toml").unwrap();
    for which in ["2", "#2", "ch01_cosine", "cosine"] {
        assert_eq!(
            find(&exercises, which).map(|e| e.number),
            Some(2),
            "{which}"
        );
    }
    for which in ["0", "4", "ch01", "cos"] {
        assert_eq!(find(&exercises, which), None, "{which}");
    }
}

#[test]
fn errors_name_the_file_the_exercise_and_the_field() {
    let cases = [
        (
            "title = \"Cosine similarity\"\n",
            "",
            "exercises.toml: exercise 2 `ch01_cosine`: field `title`: missing",
        ),
        (
            "title = \"Cosine similarity\"",
            "title = 3",
            "exercises.toml: exercise 2 `ch01_cosine`: field `title`: expected a string, \
             found an integer 3",
        ),
        (
            "section = \"Cosine\"",
            "section = \" \"",
            "exercises.toml: exercise 2 `ch01_cosine`: field `section`: empty",
        ),
        (
            "title = \"Cosine similarity\"",
            "title = \"Cosine similarity\"\nhint = [\"typo\"]",
            "exercises.toml: exercise 2 `ch01_cosine`: field `hint`: unknown field (the \
             fields are id, chapter, section, title, file, function, hints, mistakes)",
        ),
        (
            "chapter = 2",
            "chapter = \"2\"",
            "exercises.toml: exercise 3 `ch02_entry`: field `chapter`: expected an integer, \
             found a string \"2\"",
        ),
        (
            "chapter = 2",
            "chapter = 0",
            "exercises.toml: exercise 3 `ch02_entry`: field `chapter`: 0 is not in 1–99",
        ),
        (
            "hints = [\"sin, cos.\"]",
            "hints = []",
            "exercises.toml: exercise 3 `ch02_entry`: field `hints`: no hint: give at least one",
        ),
        (
            "hints = [\"sin, cos.\"]",
            "hints = [\"sin, cos.\", 4]",
            "exercises.toml: exercise 3 `ch02_entry`: field `hints`: hint 2: expected a \
             string, found an integer 4",
        ),
        (
            "hints = [\"sin, cos.\"]",
            "hints = \"sin, cos.\"",
            "exercises.toml: exercise 3 `ch02_entry`: field `hints`: expected an array of \
             strings, found a string \"sin, cos.\"",
        ),
        (
            "swapped = \"sin and cos swapped\"",
            "swapped = 1",
            "exercises.toml: exercise 3 `ch02_entry`: field `mistakes.swapped`: expected a \
             string, found an integer 1",
        ),
        (
            "swapped = \"sin and cos swapped\"",
            "Swapped = \"sin and cos swapped\"",
            "exercises.toml: exercise 3 `ch02_entry`: field `mistakes.Swapped`: `Swapped` \
             is not a snake_case Rust name (a–z, 0–9 and _, not starting with a digit)",
        ),
        (
            "\n[exercises.mistakes]\nswapped = \"sin and cos swapped\"\n",
            "",
            "exercises.toml: exercise 3 `ch02_entry`: field `mistakes`: missing",
        ),
        (
            "function = \"entry\"",
            "function = \"pe-entry\"",
            "exercises.toml: exercise 3 `ch02_entry`: field `function`: `pe-entry` is not \
             a snake_case Rust name (a–z, 0–9 and _, not starting with a digit)",
        ),
        (
            "id = \"ch01_cosine\"\n",
            "",
            "exercises.toml: exercise 2: field `id`: missing",
        ),
        (
            "id = \"ch02_entry\"",
            "id = \"ch03_entry\"",
            "exercises.toml: exercise 3 `ch03_entry`: field `id`: `ch03_entry` must start \
             with `ch02_`: it is in chapter 2",
        ),
        (
            "file = \"src/exercises/ch02.rs\"",
            "file = \"src/exercises/ch01.rs\"",
            "exercises.toml: exercise 3 `ch02_entry`: field `file`: `src/exercises/ch01.rs`: \
             the stubs of chapter 2 are in `src/exercises/ch02.rs`",
        ),
    ];
    for (from, to, message) in cases {
        assert_eq!(error_with(from, to), message, "{from:?} → {to:?}");
    }
}

#[test]
fn errors_between_exercises_name_both() {
    let cases = [
        (
            "id = \"ch01_cosine\"",
            "id = \"ch01_lookup\"",
            "exercises.toml: exercise 2 `ch01_lookup`: field `id`: also the id of exercise 1",
        ),
        (
            "function = \"cosine\"",
            "function = \"lookup\"",
            "exercises.toml: exercise 2 `ch01_cosine`: field `function`: `lookup` is also \
             the function of exercise 1 `ch01_lookup` (one file per chapter)",
        ),
        (
            "no_norms = ",
            "reversed = ",
            "exercises.toml: exercise 2 `ch01_cosine`: field `mistakes.reversed`: also a \
             mistake of exercise 1 `ch01_lookup` (a chapter's wrong solutions share module \
             `wrong` of solutions/ch01.rs)",
        ),
    ];
    for (from, to, message) in cases {
        assert_eq!(error_with(from, to), message, "{from:?} → {to:?}");
    }
    // Exercise 3 (chapter 2) moved before exercise 2 (chapter 1).
    let chapter_2 = &GOOD[GOOD.rfind("[[exercises]]").unwrap()..];
    let rest = &GOOD[..GOOD.rfind("[[exercises]]").unwrap()];
    let (first, second) = rest.split_at(rest.rfind("[[exercises]]").unwrap());
    let shuffled = format!("{first}{chapter_2}\n{second}");
    assert_eq!(
        parse(&shuffled, "exercises.toml").unwrap_err().to_string(),
        "exercises.toml: exercise 3 `ch01_cosine`: field `chapter`: chapter 1 comes after \
         chapter 2 (exercise 2 `ch02_entry`): keep the exercises grouped by chapter, in order"
    );
}

#[test]
fn errors_about_the_whole_file_name_the_file() {
    let bad_toml = parse("[[exercises]\nid = 1", "exercises.toml").unwrap_err();
    assert_eq!(bad_toml.file, "exercises.toml");
    assert_eq!((bad_toml.exercise, bad_toml.field), (None, None));
    assert!(
        bad_toml.problem.starts_with("not valid TOML: ") && bad_toml.problem.contains("line 1"),
        "{}",
        bad_toml.problem
    );
    let cases = [
        ("", "exercises.toml: no [[exercises]] table"),
        (
            "exercises = []",
            "exercises.toml: `exercises` must be [[exercises]] tables",
        ),
        (
            "exercises = [1]",
            "exercises.toml: exercise 1: expected an [[exercises]] table, found an integer 1",
        ),
        (
            "about = \"x\"\n[[exercises]]",
            "exercises.toml: unknown key `about`: the file holds [[exercises]] tables only",
        ),
    ];
    for (text, message) in cases {
        assert_eq!(
            parse(text, "exercises.toml").unwrap_err().to_string(),
            message,
            "{text:?}"
        );
    }
    let missing = read(Path::new("/nonexistent")).unwrap_err().to_string();
    assert!(
        missing.starts_with("/nonexistent/src/exercises/exercises.toml: cannot read it: "),
        "{missing}"
    );
}

#[test]
fn the_projects_manifest_is_well_formed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let exercises = read(root).unwrap_or_else(|e| panic!("{e}"));
    // The README's and `cargo xtask exercises --help`'s example: 8 is ch03_scaled_scores.
    let eight = find(&exercises, "8").map(|e| e.id.as_str());
    assert_eq!(eight, Some("ch03_scaled_scores"));
}
