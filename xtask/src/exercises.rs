//! `cargo xtask exercises`: progress, hints and the proofs that the checkers work.
//!
//! - `cargo xtask exercises` runs the learner checks (`cargo exercise`), showing only cargo's
//!   progress while it compiles, and prints every exercise with done / not yet, the next one to
//!   do and its first hint;
//! - `cargo xtask exercises --hint N` prints every hint of exercise N (number or id);
//! - [`check`] (a stage of `cargo xtask test`, so CI enforces it) proves the checks work:
//!   they pass with the reference solutions, fail with the stubs as shipped and fail with
//!   every known wrong solution; and the book chapters and notebooks link to the exercises.

use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::path::Path;
use std::process::{ChildStderr, Command, Stdio};

use exercise_manifest::Exercise;

use crate::util::{cargo, root, run};

const USAGE: &str = "usage: cargo xtask exercises [--hint N]

  (no argument)  run the checks of src/exercises/, list every exercise as done / not yet,
                 show the next one to do and its first hint
  --hint N       every hint of exercise N (its number, e.g. 8, or its id, e.g. ch03_scaled_scores)
  --check        (maintainers) the proofs `cargo xtask test` runs: solutions pass, stubs
                 as shipped fail, every known wrong solution fails; chapters and notebooks
                 link to the exercises

check one exercise:  cargo exercise ch03_scaled_scores
check one chapter:   cargo exercise ch03
check all:           cargo exercise";

/// The manifest `src/exercises/exercises.toml`, read by the parser the tests and build.rs
/// share.
fn manifest() -> Result<Vec<Exercise>, String> {
    exercise_manifest::read(&root()).map_err(|e| e.to_string())
}

/// `cargo xtask exercises [--hint N]`.
pub fn main(args: &[String]) -> Result<(), String> {
    let exercises = manifest()?;
    match args {
        [] => progress(&exercises),
        [flag, which] if flag == "--hint" => hints(&exercises, which),
        [flag] if flag == "--hint" => Err(format!("--hint needs an exercise\n\n{USAGE}")),
        [flag] if flag == "--check" => check(),
        [flag] if flag == "--help" || flag == "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unexpected arguments {args:?}\n\n{USAGE}")),
    }
}

fn find<'a>(exercises: &'a [Exercise], which: &str) -> Result<&'a Exercise, String> {
    exercise_manifest::find(exercises, which).ok_or_else(|| {
        format!(
            "no exercise `{which}`: use a number 1–{} or an id such as {}",
            exercises.len(),
            exercises.first().map_or("", |e| e.id.as_str())
        )
    })
}

fn where_to(e: &Exercise) -> String {
    format!(
        "  your code:  {}, fn {}\n  re-read:    chapter {}, section \"{}\"\n  check it:   cargo exercise {}",
        e.file, e.function, e.chapter, e.section, e.id
    )
}

fn hints(exercises: &[Exercise], which: &str) -> Result<(), String> {
    let e = find(exercises, which)?;
    println!(
        "exercise {} `{}`: {}\n{}\n",
        e.number,
        e.id,
        e.title,
        where_to(e)
    );
    for (i, hint) in e.hints.iter().enumerate() {
        println!("hint {}: {hint}\n", i + 1);
    }
    println!("reference solution (after trying!): {}", e.solution_file());
    Ok(())
}

/// Runs the learner checks and reads each test's verdict from libtest's output.
fn progress(exercises: &[Exercise]) -> Result<(), String> {
    println!(
        "checking your exercises: compiling them and running their checks (`cargo exercise`)…\n\
         (the first run compiles the crate and its dependencies: about 3 minutes on 2 cores; \
         later runs recompile only what changed)"
    );
    let mut child = cargo()
        .args(["test", "--features", "exercises", "--test", "exercises"])
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run cargo test: {e}"))?;
    let stderr = child.stderr.take().expect("piped");
    let relay = std::thread::spawn(move || show_progress(stderr));
    let mut stdout = String::new();
    let read = (child.stdout.take().expect("piped")).read_to_string(&mut stdout);
    let waited = child.wait();
    let stderr = relay.join().unwrap_or_default();
    read.and(waited.map(|_| ()))
        .map_err(|e| format!("cannot run cargo test: {e}"))?;
    let verdicts: Vec<(String, bool)> = stdout
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("test ")?;
            let (name, verdict) = rest.split_once(" ... ")?;
            Some((name.to_string(), verdict.trim() == "ok"))
        })
        .collect();
    if verdicts.is_empty() {
        let errors: Vec<&str> = stderr
            .lines()
            .skip_while(|l| !l.starts_with("error"))
            .take(40)
            .collect();
        return Err(format!(
            "your exercises do not compile yet; fix this first (`cargo exercise` shows it all):\n\n{}",
            errors.join("\n")
        ));
    }
    let done = |id: &str| verdicts.iter().any(|(name, ok)| name == id && *ok);
    println!();
    let mut chapter = 0;
    for e in exercises {
        if e.chapter != chapter {
            chapter = e.chapter;
            println!("chapter {chapter} — src/exercises/ch{chapter:02}.rs");
        }
        let status = if done(&e.id) { "done   " } else { "not yet" };
        println!("  {status}  {:>2}  {:<30} {}", e.number, e.id, e.title);
    }
    let finished = exercises.iter().filter(|e| done(&e.id)).count();
    println!("\n{finished} of {} done.", exercises.len());
    match exercises.iter().find(|e| !done(&e.id)) {
        None => println!("All exercises pass. Well done!"),
        Some(next) => {
            println!(
                "\nnext: exercise {} `{}`: {}\n{}\n",
                next.number,
                next.id,
                next.title,
                where_to(next)
            );
            if let Some(hint) = next.hints.first() {
                println!("hint 1: {hint}");
            }
            println!("more hints: cargo xtask exercises --hint {}", next.number);
        }
    }
    Ok(())
}

/// Shows cargo's progress (its `Compiling …`, `Finished …`, `Running …` lines) while it
/// works, on one line rewritten in place on a terminal, and returns all of its stderr for the
/// error report.
fn show_progress(stderr: ChildStderr) -> String {
    let terminal = std::io::stderr().is_terminal();
    let mut all = String::new();
    let mut compiled = 0;
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        let step = line.trim_start();
        if step.starts_with("Compiling") {
            compiled += 1;
        }
        if ["Compiling", "Finished", "Running"]
            .iter()
            .any(|s| step.starts_with(s))
        {
            if terminal {
                // Clear the line, then write the step; the count says it is moving.
                let count = if step.starts_with("Compiling") {
                    format!(" (crate {compiled})")
                } else {
                    String::new()
                };
                eprint!("\r\x1b[2K    {step}{count}");
            } else {
                eprintln!("    {step}");
            }
        }
        all.push_str(&line);
        all.push('\n');
    }
    if terminal {
        eprint!("\r\x1b[2K");
    }
    all
}

/// The exercises stage of `cargo xtask test`: the three proofs, lints of the opt-in targets,
/// and the links between chapters, notebooks and exercises.
pub fn check() -> Result<(), String> {
    let exercises = manifest()?;
    let dir = root();
    // The exercises, their opt-in test targets and the solutions are invisible to the plain
    // clippy stage: lint the stubs as shipped, then the solutions.
    run(cargo().current_dir(&dir).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--features",
        "exercises",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(cargo().current_dir(&dir).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--features",
        "exercises,solutions",
        "--",
        "-D",
        "warnings",
    ]))?;
    // Proof 1 (every check passes on the reference solutions) and proof 3 (every wrong
    // solution fails its check), plus the manifest's consistency.
    run(cargo().current_dir(&dir).args([
        "test",
        "--features",
        "exercises,solutions",
        "--test",
        "exercises",
        "--test",
        "exercise_proofs",
    ]))?;
    // Proof 2: every check fails on the stubs as shipped. A learner's clone holds answers in
    // src/exercises/, so the proof runs only on a clean checkout (as in CI).
    if stubs_modified(&dir) {
        println!(
            "    skipped the stubs proof: src/exercises/*.rs has local changes (your answers?); \
             it runs on a clean checkout, as in CI"
        );
    } else {
        run(cargo().current_dir(&dir).args([
            "test",
            "--features",
            "exercises",
            "--test",
            "exercise_proofs",
        ]))?;
    }
    check_links(&dir, &exercises)?;
    println!(
        "    {} exercises: solutions pass, stubs fail, {} known mistakes all caught",
        exercises.len(),
        exercises.iter().map(|e| e.mistakes.len()).sum::<usize>()
    );
    Ok(())
}

/// True when git reports changes to the stubs, `src/exercises/*.rs` (false without git: check
/// anyway). The manifest beside them is a maintainer's file, not an answer.
fn stubs_modified(dir: &Path) -> bool {
    Command::new("git")
        .current_dir(dir)
        .args(["status", "--porcelain", "--", "src/exercises/*.rs"])
        .output()
        .map(|out| out.status.success() && !out.stdout.is_empty())
        .unwrap_or(false)
}

/// Each book chapter includes the list of its exercises that the book generator writes from
/// the manifest (`chapters/generated/chNN-exercises.md`); each notebook points to its
/// chapter's exercise file.
fn check_links(dir: &Path, exercises: &[Exercise]) -> Result<(), String> {
    let mut missing = Vec::new();
    let mut chapters: Vec<u32> = exercises.iter().map(|e| e.chapter).collect();
    chapters.dedup(); // the manifest groups the exercises by chapter
    for chapter in chapters {
        let prefix = format!("{chapter:02}-");
        let list = format!("{{{{#include generated/ch{chapter:02}-exercises.md}}}}");
        let file = format!("src/exercises/ch{chapter:02}.rs");
        for (folder, ext, needle) in [("chapters", "md", list), ("notebooks", "ipynb", file)] {
            let Some(path) = file_starting_with(&dir.join(folder), &prefix, ext) else {
                continue; // not written yet
            };
            let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
            if !text.contains(&needle) {
                missing.push(format!("{} does not mention `{needle}`", path.display()));
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "exercise links missing:\n  {}",
            missing.join("\n  ")
        ))
    }
}

fn file_starting_with(folder: &Path, prefix: &str, ext: &str) -> Option<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(folder)
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with(prefix) && p.extension().and_then(|e| e.to_str()) == Some(ext)
        })
        .collect();
    found.sort();
    found.into_iter().next()
}
