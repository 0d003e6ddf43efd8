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
mod tests;
