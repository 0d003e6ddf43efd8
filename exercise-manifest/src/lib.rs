//! The exercise manifest, `src/exercises/exercises.toml`: the one list of the exercises.
//!
//! One parser for its three readers:
//!
//! - `cargo xtask exercises`: the progress list, `--hint N` and the proofs of `--check`;
//! - the `attention` crate's build script (`build.rs`), which turns the list into the glue
//!   between each exercise's stub, check and wrong solutions (`with_every_exercise!`);
//! - the exercise tests: the learner's report (`tests/exercises.rs`) and the proofs
//!   (`tests/exercise_proofs.rs`).
//!
//! A malformed manifest is an [`Error`] naming the file, the exercise and the field, e.g.
//! ``src/exercises/exercises.toml: exercise 8 `ch03_scaled_scores`: field `title`: missing``.

use std::fmt;
use std::path::Path;

use toml::{Table, Value};

/// The manifest's path, relative to the repository root.
pub const PATH: &str = "src/exercises/exercises.toml";

/// The fields of an `[[exercises]]` table, all required.
const FIELDS: [&str; 8] = [
    "id", "chapter", "section", "title", "file", "function", "hints", "mistakes",
];

/// One exercise of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exercise {
    /// 1, 2, 3…: the exercise's position in the manifest.
    pub number: usize,
    /// `chNN_name`, the name of its test: `cargo exercise ch03_scaled_scores`.
    pub id: String,
    /// The book chapter, the NN of the id.
    pub chapter: u32,
    /// The section of the chapter to re-read.
    pub section: String,
    /// A few words, for the progress list.
    pub title: String,
    /// The learner's stub file, `src/exercises/chNN.rs`.
    pub file: String,
    /// The stub's function; its check (`tests/exercises/chNN.rs`) and its reference solution
    /// (`solutions/chNN.rs`) have the same name.
    pub function: String,
    /// Progressive hints, at least one.
    pub hints: Vec<String>,
    /// The wrong solutions its check is proven to reject.
    pub mistakes: Vec<Mistake>,
}

/// A realistic wrong solution: a function of module `wrong` in `solutions/chNN.rs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mistake {
    /// The function's name.
    pub name: String,
    /// What it gets wrong, in one line.
    pub what: String,
}

impl Exercise {
    /// The chapter's module, `chNN`, in `src/exercises/`, `solutions/` and `tests/exercises/`.
    pub fn module(&self) -> String {
        format!("ch{:02}", self.chapter)
    }

    /// The file of its reference solution and wrong solutions, `solutions/chNN.rs`.
    pub fn solution_file(&self) -> String {
        format!("solutions/{}.rs", self.module())
    }

    /// The file of its check, `tests/exercises/chNN.rs`.
    pub fn check_file(&self) -> String {
        format!("tests/exercises/{}.rs", self.module())
    }
}

/// A manifest that cannot be read, or a malformed one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The manifest file.
    pub file: String,
    /// The exercise, e.g. ``exercise 8 `ch03_scaled_scores` `` (`None`: the whole file).
    pub exercise: Option<String>,
    /// The field of that exercise (`None`: the exercise as a whole).
    pub field: Option<String>,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file)?;
        if let Some(exercise) = &self.exercise {
            write!(f, "{exercise}: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        write!(f, "{}", self.problem)
    }
}

impl std::error::Error for Error {}

/// An error about the whole file.
fn file_error(file: &str, problem: impl Into<String>) -> Error {
    Error {
        file: file.to_string(),
        exercise: None,
        field: None,
        problem: problem.into(),
    }
}

/// Reads and checks the manifest of the repository at `root` (`root/src/exercises/exercises.toml`).
pub fn read(root: &Path) -> Result<Vec<Exercise>, Error> {
    let path = root.join(PATH);
    let file = path.display().to_string();
    let text = std::fs::read_to_string(&path)
        .map_err(|e| file_error(&file, format!("cannot read it: {e}")))?;
    parse(&text, &file)
}

/// Parses and checks the manifest `text`; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Vec<Exercise>, Error> {
    let top: Table = text
        .parse()
        .map_err(|e| file_error(file, format!("not valid TOML: {e}")))?;
    if let Some(key) = top.keys().find(|key| *key != "exercises") {
        return Err(file_error(
            file,
            format!("unknown key `{key}`: the file holds [[exercises]] tables only"),
        ));
    }
    let list = match top.get("exercises") {
        Some(Value::Array(list)) if !list.is_empty() => list,
        Some(_) => return Err(file_error(file, "`exercises` must be [[exercises]] tables")),
        None => return Err(file_error(file, "no [[exercises]] table")),
    };
    let exercises = list
        .iter()
        .enumerate()
        .map(|(i, value)| exercise(file, i + 1, value))
        .collect::<Result<Vec<_>, _>>()?;
    check_across(file, &exercises)?;
    Ok(exercises)
}

/// The exercise `which` names: its number (`8` or `#8`), its id or its function.
pub fn find<'a>(exercises: &'a [Exercise], which: &str) -> Option<&'a Exercise> {
    let which = which.trim_start_matches('#');
    exercises
        .iter()
        .find(|e| e.number.to_string() == which || e.id == which || e.function == which)
}

/// One `[[exercises]]` table being read: reads its fields, and names itself in errors.
struct Entry<'a> {
    file: &'a str,
    number: usize,
    /// The id as written, if it is a string: it names the exercise in errors.
    id: Option<&'a str>,
    table: &'a Table,
}

impl Entry<'_> {
    fn error(&self, field: &str, problem: impl Into<String>) -> Error {
        Error {
            file: self.file.to_string(),
            exercise: Some(exercise_name(self.number, self.id)),
            field: Some(field.to_string()),
            problem: problem.into(),
        }
    }

    fn value(&self, field: &str) -> Result<&Value, Error> {
        self.table
            .get(field)
            .ok_or_else(|| self.error(field, "missing"))
    }

    /// A non-empty string.
    fn text(&self, field: &str) -> Result<String, Error> {
        text_of(self.value(field)?).map_err(|problem| self.error(field, problem))
    }

    /// A snake_case Rust identifier (it becomes a function's or a test's name).
    fn identifier(&self, field: &str) -> Result<String, Error> {
        let name = self.text(field)?;
        if is_identifier(&name) {
            Ok(name)
        } else {
            Err(self.error(field, not_an_identifier(&name)))
        }
    }

    fn chapter(&self) -> Result<u32, Error> {
        match self.value("chapter")? {
            Value::Integer(n) if (1..=99).contains(n) => Ok(*n as u32),
            Value::Integer(n) => Err(self.error("chapter", format!("{n} is not in 1–99"))),
            other => Err(self.error("chapter", expected("an integer", other))),
        }
    }

    fn hints(&self) -> Result<Vec<String>, Error> {
        let Value::Array(hints) = self.value("hints")? else {
            return Err(self.error(
                "hints",
                expected("an array of strings", &self.table["hints"]),
            ));
        };
        if hints.is_empty() {
            return Err(self.error("hints", "no hint: give at least one"));
        }
        let hint = |(i, value)| {
            text_of(value)
                .map_err(|problem| self.error("hints", format!("hint {}: {problem}", i + 1)))
        };
        hints.iter().enumerate().map(hint).collect()
    }

    /// `[exercises.mistakes]`: `name = "what"` for every wrong solution, in file order.
    fn mistakes(&self) -> Result<Vec<Mistake>, Error> {
        let Value::Table(mistakes) = self.value("mistakes")? else {
            let found = &self.table["mistakes"];
            return Err(self.error("mistakes", expected("a table of `name = \"what\"`", found)));
        };
        let mistake = |(name, what): (&String, &Value)| {
            let field = format!("mistakes.{name}");
            if !is_identifier(name) {
                return Err(self.error(&field, not_an_identifier(name)));
            }
            let what = text_of(what).map_err(|problem| self.error(&field, problem))?;
            Ok(Mistake {
                name: name.clone(),
                what,
            })
        };
        mistakes.iter().map(mistake).collect()
    }
}

/// Reads one `[[exercises]]` table, the `number`-th of the file.
fn exercise(file: &str, number: usize, value: &Value) -> Result<Exercise, Error> {
    let Value::Table(table) = value else {
        return Err(Error {
            exercise: Some(exercise_name(number, None)),
            ..file_error(file, expected("an [[exercises]] table", value))
        });
    };
    let entry = Entry {
        file,
        number,
        id: table.get("id").and_then(Value::as_str),
        table,
    };
    if let Some(field) = table.keys().find(|key| !FIELDS.contains(&key.as_str())) {
        let known = FIELDS.join(", ");
        return Err(entry.error(field, format!("unknown field (the fields are {known})")));
    }
    let exercise = Exercise {
        number,
        id: entry.identifier("id")?,
        chapter: entry.chapter()?,
        section: entry.text("section")?,
        title: entry.text("title")?,
        file: entry.text("file")?,
        function: entry.identifier("function")?,
        hints: entry.hints()?,
        mistakes: entry.mistakes()?,
    };
    let module = exercise.module();
    if !exercise.id.starts_with(&format!("{module}_")) {
        let problem = format!(
            "`{}` must start with `{module}_`: it is in chapter {}",
            exercise.id, exercise.chapter
        );
        return Err(entry.error("id", problem));
    }
    let stub = format!("src/exercises/{module}.rs");
    if exercise.file != stub {
        let problem = format!(
            "`{}`: the stubs of chapter {} are in `{stub}`",
            exercise.file, exercise.chapter
        );
        return Err(entry.error("file", problem));
    }
    Ok(exercise)
}

/// What must hold between exercises: grouped by chapter in order, ids unique, and within a
/// chapter (one stub file, one solution file) functions and wrong solutions unique.
fn check_across(file: &str, exercises: &[Exercise]) -> Result<(), Error> {
    for (i, e) in exercises.iter().enumerate() {
        let error = |field: &str, problem: String| Error {
            file: file.to_string(),
            exercise: Some(exercise_name(e.number, Some(&e.id))),
            field: Some(field.to_string()),
            problem,
        };
        let earlier = &exercises[..i];
        if let Some(later_chapter) = earlier.iter().find(|d| d.chapter > e.chapter) {
            let problem = format!(
                "chapter {} comes after chapter {} ({}): keep the exercises grouped by \
                 chapter, in order",
                e.chapter,
                later_chapter.chapter,
                exercise_name(later_chapter.number, Some(&later_chapter.id))
            );
            return Err(error("chapter", problem));
        }
        if let Some(d) = earlier.iter().find(|d| d.id == e.id) {
            return Err(error("id", format!("also the id of exercise {}", d.number)));
        }
        let same_chapter = || earlier.iter().filter(|d| d.chapter == e.chapter);
        if let Some(d) = same_chapter().find(|d| d.function == e.function) {
            let problem = format!(
                "`{}` is also the function of {} (one file per chapter)",
                e.function,
                exercise_name(d.number, Some(&d.id))
            );
            return Err(error("function", problem));
        }
        for m in &e.mistakes {
            if let Some(d) = same_chapter().find(|d| d.mistakes.iter().any(|n| n.name == m.name)) {
                let problem = format!(
                    "also a mistake of {} (a chapter's wrong solutions share module `wrong` \
                     of {})",
                    exercise_name(d.number, Some(&d.id)),
                    e.solution_file()
                );
                return Err(error(&format!("mistakes.{}", m.name), problem));
            }
        }
    }
    Ok(())
}

/// ``exercise 8 `ch03_scaled_scores` ``, or `exercise 8` while the id is unknown.
fn exercise_name(number: usize, id: Option<&str>) -> String {
    match id {
        Some(id) => format!("exercise {number} `{id}`"),
        None => format!("exercise {number}"),
    }
}

fn text_of(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
        Value::String(_) => Err("empty".to_string()),
        other => Err(expected("a string", other)),
    }
}

fn expected(what: &str, found: &Value) -> String {
    format!(
        "expected {what}, found {} {found}",
        article(found.type_str())
    )
}

fn article(kind: &str) -> String {
    let vowel = kind.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {kind}", if vowel { "an" } else { "a" })
}

/// A snake_case identifier: `a`–`z` or `_` first, then `a`–`z`, `0`–`9`, `_`.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    let first = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    first && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn not_an_identifier(name: &str) -> String {
    format!("`{name}` is not a snake_case Rust name (a–z, 0–9 and _, not starting with a digit)")
}

#[cfg(test)]
mod tests {
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
}
