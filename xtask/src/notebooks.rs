//! `cargo xtask notebooks [NAME] [--bless]`: execute notebooks headless and check them.
//!
//! A notebook passes when, run from a clean kernel:
//! - every top-level `let` names one variable with its type (see [`check_sources`]);
//! - no cell has a compile error or any other error output;
//! - no output contains a Rust panic ("panicked at"), which evcxr does not always report as
//!   an error;
//! - it draws at least one figure (plotly's JSON mimetype);
//! - every cell's text output equals the output stored in the committed notebook, so the
//!   stored outputs never lie. `--bless` rewrites the stored outputs on purpose instead;
//! - every stored figure carries a static PNG beside plotly's JSON (made by `--bless`, see
//!   [`crate::notebook_images`]), so GitHub and nbviewer show it too.
//!
//! evcxr compiles notebook code in a crate of its own (in [`evcxr_tmpdir`]) and would resolve
//! that crate's dependencies to whatever crates.io serves today; `notebooks/lock/` pins them to
//! `Cargo.lock` (see [`crate::notebook_lock`]), and after each notebook the check fails if
//! evcxr's build used a version the lock does not pin. `--cold` (and the notebooks stage of
//! `cargo xtask test`) first empties evcxr's build folder, so the check sees what a
//! newcomer's first run sees.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::setup::{kernel_registered, venv_bin};
use crate::util::{root, run};

use crate::notebook_images::{PLOTLY_MIME, add_images, check_images};

/// Marks where the stored notebooks drop the 4.6 MB plotly.js copy that [`attention::plot::show`]
/// loads into a live page once per kernel session.
const PLOTLY_JS_OMITTED: &str = "<!-- plotly.js is loaded here when the notebook runs -->";

/// `cargo xtask notebooks [NAME] [--bless]`.
pub fn main(args: &[String]) -> Result<(), String> {
    let bless = args.iter().any(|a| a == "--bless");
    let cold = args.iter().any(|a| a == "--cold");
    let filter = args.iter().find(|a| !a.starts_with("--"));
    let notebooks: Vec<PathBuf> = all_notebooks()?
        .into_iter()
        .filter(|p| filter.is_none_or(|f| stem(p).contains(f.as_str())))
        .collect();
    if notebooks.is_empty() {
        return Err(format!("no notebook matches {filter:?}"));
    }
    require_jupyter()?;
    prepare_evcxr_dir(cold)?;
    let all = std::time::Instant::now();
    for path in &notebooks {
        print!("  {} ... ", stem(path));
        let t = std::time::Instant::now();
        let stored = read_notebook(path)?;
        check_sources(&stored).map_err(|e| format!("{}: {e}", stem(path)))?;
        if !bless {
            check_images(&stored).map_err(|e| format!("{}: {e}", stem(path)))?;
        }
        let run_once = || -> Result<Value, String> {
            let executed = execute(path)?;
            check_executed(&executed).map_err(|e| format!("{}: {e}", stem(path)))?;
            crate::notebook_lock::check_evcxr_lock().map_err(|e| format!("{}: {e}", stem(path)))?;
            Ok(executed)
        };
        let mut executed = run_once()?;
        if bless {
            let mut blessed = strip_for_storage(executed);
            let images = add_images(&mut blessed).map_err(|e| format!("{}: {e}", stem(path)))?;
            write_notebook(path, &blessed)?;
            println!(
                "blessed, {images} figure image(s) ({:.0} s)",
                t.elapsed().as_secs_f64()
            );
        } else {
            if compare_text_outputs(&stored, &executed).is_err()
                && only_lines_lost(&stored, &executed)
            {
                print!("(the kernel lost printed lines, evcxr issue #353: running again) ... ");
                executed = run_once()?;
            }
            compare_text_outputs(&stored, &executed).map_err(|e| {
                format!(
                    "{}: {e}\n(if the change is intended, run `cargo xtask notebooks {} --bless`)",
                    stem(path),
                    stem(path)
                )
            })?;
            println!("ok ({:.0} s)", t.elapsed().as_secs_f64());
        }
    }
    println!(
        "  {} notebook(s) in {:.0} s ({}), dependencies as in Cargo.lock",
        notebooks.len(),
        all.elapsed().as_secs_f64(),
        if cold {
            "cold: empty evcxr build folder"
        } else {
            "warm"
        }
    );
    Ok(())
}

/// The notebooks stage of `cargo xtask test`: every notebook, then the proofs that a broken
/// or panicking cell fails the check (ignored tests of this crate, run here because they need
/// the Jupyter kernel installed by setup).
pub fn check() -> Result<(), String> {
    main(&["--cold".to_string()])?;
    run(crate::util::cargo().args([
        "test",
        "--package",
        "xtask",
        "--",
        "--ignored",
        "notebooks::",
        // One kernel at a time: kernels share the evcxr build folder.
        "--test-threads=1",
    ]))
}

fn require_jupyter() -> Result<(), String> {
    if venv_bin("jupyter").exists() && kernel_registered() {
        Ok(())
    } else {
        Err("Jupyter or the Rust kernel is missing: run `cargo xtask setup`".into())
    }
}

/// `notebooks/*.ipynb`, sorted.
fn all_notebooks() -> Result<Vec<PathBuf>, String> {
    let dir = root().join("notebooks");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "ipynb"))
        .collect();
    found.sort();
    Ok(found)
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

fn read_notebook(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn write_notebook(path: &Path, notebook: &Value) -> Result<(), String> {
    let mut text = serde_json::to_string_pretty(notebook).map_err(|e| e.to_string())?;
    text.push('\n');
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Where evcxr builds notebook code: shared by all notebooks and kept between runs, so only
/// the first notebook compiles the crate from scratch.
pub fn evcxr_tmpdir() -> PathBuf {
    root().join("target").join("evcxr")
}

/// Readies evcxr's build folder before a kernel starts: emptied first when `cold` (what a
/// newcomer's first run sees), and the notebooks' pin crate brought in line with `Cargo.lock`
/// (see [`crate::notebook_lock`]).
pub fn prepare_evcxr_dir(cold: bool) -> Result<(), String> {
    let dir = evcxr_tmpdir();
    if cold && dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    crate::notebook_lock::write_if_stale()
}

/// Runs every cell of `path` in a fresh `rust` kernel (from the notebook's folder, so
/// `:dep attention = { path = ".." }` resolves) and returns the executed notebook.
pub fn execute(path: &Path) -> Result<Value, String> {
    // One output folder per notebook run, so concurrent runs never remove each other's output.
    let out_dir = std::env::temp_dir().join(format!(
        "xtask-notebooks-{}-{}",
        std::process::id(),
        stem(path)
    ));
    std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
    let name = format!("{}.ipynb", stem(path));
    run(Command::new(venv_bin("jupyter"))
        .args([
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            // Errors are recorded in the notebook and reported by `check_executed`, with the
            // compiler's message, instead of only in nbconvert's traceback.
            "--allow-errors",
            "--log-level=WARN",
            "--ExecutePreprocessor.kernel_name=rust",
            "--ExecutePreprocessor.timeout=900",
            "--ExecutePreprocessor.startup_timeout=300",
            "--ExecutePreprocessor.record_timing=False",
            "--output-dir",
        ])
        .arg(&out_dir)
        .args(["--output", &name])
        .arg(path)
        .env("EVCXR_TMPDIR", evcxr_tmpdir()))
    .map_err(|e| {
        format!(
            "{}: the notebook could not be run (did the kernel start?)\n{e}",
            stem(path)
        )
    })?;
    let executed = read_notebook(&out_dir.join(&name));
    let _ = std::fs::remove_dir_all(&out_dir);
    executed
}

/// Every top-level `let` of a code cell binds one plain name with an explicit type
/// (`let name: Type = …`).
///
/// evcxr keeps a top-level variable for later cells only when it knows its type. It reads it
/// from the annotation of a plain `let name: Type`; for anything else (no annotation, or a
/// pattern such as `let (a, b): (A, B)`, whose annotation it ignores) it asks rust-analyzer,
/// which needs the standard library's source (rustup's `rust-src`, not installable on every
/// machine). Without it the cell fails, and evcxr's fallback check then reports an unrelated
/// compile error. This rule keeps the notebooks independent of rust-src.
pub fn check_sources(notebook: &Value) -> Result<(), String> {
    for (i, cell) in code_cells(notebook).enumerate() {
        for line in text_of(&cell["source"]).lines() {
            let Some(rest) = line.strip_prefix("let ") else {
                continue; // indented lines are inside a block: not kept between cells
            };
            let rest = rest.strip_prefix("mut ").unwrap_or(rest).trim_start();
            let name_len = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if name_len == 0 || !rest[name_len..].trim_start().starts_with(':') {
                return Err(format!(
                    "code cell {i}: `{line}`: a top-level `let` must bind one name with its \
                     type (`let name: Type = …`), or the cell needs rust-analyzer and \
                     rust-src to run (one `let` per variable instead of a tuple pattern)"
                ));
            }
        }
    }
    Ok(())
}

/// Checks an executed notebook: no error output, no panic, at least one figure.
pub fn check_executed(notebook: &Value) -> Result<(), String> {
    let mut figures = 0;
    for (i, cell) in code_cells(notebook).enumerate() {
        for output in cell["outputs"].as_array().into_iter().flatten() {
            if output["output_type"] == "error" {
                let name = output["ename"].as_str().unwrap_or("error");
                return Err(format!("code cell {i}: {name}: {}", output["evalue"]));
            }
            let text = output_text(output);
            if text.contains("panicked at") {
                return Err(format!("code cell {i} panicked:\n{text}"));
            }
            if output["data"].get(PLOTLY_MIME).is_some() {
                figures += 1;
            }
        }
    }
    if figures == 0 {
        return Err("no figure: every notebook shows at least one plotly figure".into());
    }
    Ok(())
}

fn code_cells(notebook: &Value) -> impl Iterator<Item = &Value> {
    notebook["cells"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["cell_type"] == "code")
}

/// The text of one output: a stream's text, or the `text/plain` of a result.
fn output_text(output: &Value) -> String {
    match output["output_type"].as_str() {
        Some("stream") => text_of(&output["text"]),
        Some("execute_result" | "display_data") => text_of(&output["data"]["text/plain"]),
        Some("error") => text_of(&output["traceback"]),
        _ => String::new(),
    }
}

/// Fails on the first code cell whose text outputs differ between `stored` and `executed`.
pub fn compare_text_outputs(stored: &Value, executed: &Value) -> Result<(), String> {
    let texts = |nb: &Value| -> Vec<String> {
        code_cells(nb)
            .map(|c| {
                c["outputs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(output_text)
                    .collect()
            })
            .collect()
    };
    let (old, new) = (texts(stored), texts(executed));
    if old.len() != new.len() {
        return Err(format!(
            "{} code cells stored, {} executed",
            old.len(),
            new.len()
        ));
    }
    for (i, (a, b)) in old.iter().zip(&new).enumerate() {
        if a != b {
            return Err(format!(
                "code cell {i}: the stored output differs from a fresh run\n--- stored\n{a}\n--- fresh\n{b}"
            ));
        }
    }
    Ok(())
}

/// Whether `executed` (whose outputs differ from `stored`) differs only by printed lines that went missing or moved
/// to the next cell: all text output lines of the notebook, read in order, are a subsequence
/// of the stored ones.
///
/// evcxr_jupyter 0.22 forwards the user's stdout from a thread of its own and may tell Jupyter
/// that a cell is done before the last lines are sent (evcxr issue #353; its fix, PR #354, was
/// reverted in #402). On a busy machine such a line is lost, or lands in the next cell. The
/// notebook check runs the notebook again in that case, and the second run must match
/// exactly; any other difference fails at once.
fn only_lines_lost(stored: &Value, executed: &Value) -> bool {
    let lines = |nb: &Value| -> Vec<String> {
        code_cells(nb)
            .flat_map(|c| c["outputs"].as_array().into_iter().flatten())
            .flat_map(|o| {
                output_text(o)
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let (old, new) = (lines(stored), lines(executed));
    let mut old_lines = old.iter();
    new.len() <= old.len() && new.iter().all(|line| old_lines.any(|o| o == line))
}

/// Prepares an executed notebook for git: drops plotly.js (4.6 MB) from the outputs, drops
/// the HTML of figure outputs and merges consecutive stream outputs (evcxr sends one per line).
///
/// A figure's HTML only draws where plotly.js was loaded by the live session; stored (with
/// plotly.js omitted, and untrusted, so no script runs) it is an empty `<div>`, and static
/// viewers (GitHub, nbviewer, nbconvert) prefer `text/html` to the figure's `image/png`, so
/// they showed nothing. Kept: plotly's JSON (JupyterLab, VS Code) and the PNG (everything
/// else; added by [`add_images`]).
pub fn strip_for_storage(mut notebook: Value) -> Value {
    for cell in notebook["cells"].as_array_mut().into_iter().flatten() {
        let Some(outputs) = cell.get_mut("outputs").and_then(Value::as_array_mut) else {
            continue;
        };
        for output in outputs.iter_mut() {
            if output["data"].get(PLOTLY_MIME).is_some()
                && let Some(data) = output["data"].as_object_mut()
            {
                data.remove("text/html");
            }
            let Some(html) = output.get_mut("data").and_then(|d| d.get_mut("text/html")) else {
                continue;
            };
            if let Some(rest) = strip_plotly_js(&text_of(html)) {
                *html = Value::String(format!("{PLOTLY_JS_OMITTED}\n{rest}"));
            }
        }
        *outputs = coalesce_streams(std::mem::take(outputs));
    }
    notebook
}

/// Merges runs of stream outputs with the same name (stdout, stderr) into one output.
fn coalesce_streams(outputs: Vec<Value>) -> Vec<Value> {
    let mut merged: Vec<Value> = Vec::new();
    for output in outputs {
        if let Some(last) = merged.last_mut()
            && output["output_type"] == "stream"
            && last["output_type"] == "stream"
            && last["name"] == output["name"]
        {
            let text = text_of(&last["text"]) + &text_of(&output["text"]);
            last["text"] = Value::String(text);
            continue;
        }
        merged.push(output);
    }
    merged
}

/// A notebook string field, stored either as one string or as a list of lines.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    }
}

/// If `html` starts with the inline plotly.js script, the rest after it.
fn strip_plotly_js(html: &str) -> Option<&str> {
    let script = "<script type=\"text/javascript\">";
    if !html.starts_with(script) || html.len() < 100_000 {
        return None;
    }
    let end = html.find("</script>")? + "</script>".len();
    Some(html[end..].trim_start())
}

#[cfg(test)]
mod tests {
    //! Proofs that the notebook check fails when it should. They need Jupyter and the Rust
    //! kernel (`cargo xtask setup`), so they are ignored by plain `cargo test` and run by the
    //! notebooks stage of `cargo xtask test`.

    use super::*;

    /// Writes a one-cell notebook in a fresh temporary folder and returns its path.
    fn notebook_with_cell(name: &str, source: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-proof-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let nb = serde_json::json!({
            "cells": [{"cell_type": "code", "execution_count": null, "id": "c0",
                       "metadata": {}, "outputs": [], "source": source}],
            "metadata": {"kernelspec": {"display_name": "Rust", "language": "rust", "name": "rust"}},
            "nbformat": 4, "nbformat_minor": 5
        });
        let path = dir.join(format!("{name}.ipynb"));
        write_notebook(&path, &nb).unwrap();
        path
    }

    fn execute_and_check(path: &Path) -> Result<(), String> {
        check_executed(&execute(path)?)
    }

    #[test]
    #[ignore = "needs Jupyter and the Rust kernel: run by `cargo xtask test`"]
    fn notebooks_a_compile_error_fails_the_check() {
        let path = notebook_with_cell("broken", "let x: i32 = \"not a number\";");
        let err = execute_and_check(&path).unwrap_err();
        // The compiler's own message, so a kernel that died for another reason does not pass.
        assert!(err.contains("mismatched types"), "{err}");
    }

    #[test]
    #[ignore = "needs Jupyter and the Rust kernel: run by `cargo xtask test`"]
    fn notebooks_a_panicking_cell_fails_the_check() {
        let path = notebook_with_cell(
            "panics",
            "let v: Vec<i32> = vec![];\nprintln!(\"{}\", v[3]);",
        );
        let err = execute_and_check(&path).unwrap_err();
        assert!(err.contains("panicked at"), "{err}");
    }

    #[test]
    #[ignore = "needs Jupyter and the Rust kernel: run by `cargo xtask test`"]
    fn notebooks_a_cell_without_figure_fails_the_check() {
        let path = notebook_with_cell("nofigure", "println!(\"{}\", 1 + 1);");
        let err = execute_and_check(&path).unwrap_err();
        assert!(err.contains("no figure"), "{err}");
    }

    #[test]
    fn top_level_lets_need_one_name_and_a_type() {
        let nb = |source: &str| serde_json::json!({"cells": [{"cell_type": "code", "source": source, "outputs": []}]});
        for good in [
            "let x: Array2<f32> = f();",
            "let mut vocab: Vocab = Vocab::new();",
            "{\n    let (a, b) = pair(); // inside a block\n}",
            "println!(\"let me\");",
        ] {
            assert!(check_sources(&nb(good)).is_ok(), "{good}");
        }
        for bad in [
            "let x = f();",
            "let (words, points): (Vec<String>, Array2<f32>) = worked::toy_embeddings();",
            "let mut y = 3;",
        ] {
            let err = check_sources(&nb(bad)).unwrap_err();
            assert!(err.contains("code cell 0") && err.contains(bad), "{err}");
        }
        // The committed notebooks follow the rule.
        for path in all_notebooks().unwrap() {
            check_sources(&read_notebook(&path).unwrap()).unwrap();
        }
    }

    #[test]
    fn changed_text_output_is_reported() {
        let cell = |text: &str| {
            serde_json::json!({"cells": [{"cell_type": "code", "outputs": [
                {"output_type": "stream", "name": "stdout", "text": [text]}]}]})
        };
        assert!(compare_text_outputs(&cell("1\n"), &cell("1\n")).is_ok());
        let err = compare_text_outputs(&cell("1\n"), &cell("2\n")).unwrap_err();
        assert!(err.contains("code cell 0"), "{err}");
    }

    #[test]
    fn only_lost_lines_earn_a_second_run() {
        let nb = |cells: &[&str]| {
            let cells: Vec<Value> = cells
                .iter()
                .map(|text| {
                    serde_json::json!({"cell_type": "code", "outputs": [
                    {"output_type": "stream", "name": "stdout", "text": [text]}]})
                })
                .collect();
            serde_json::json!({ "cells": cells })
        };
        let stored = nb(&["a\nb\n", "c\n"]);
        assert!(only_lines_lost(&stored, &nb(&["a\n", "c\n"]))); // b lost
        assert!(only_lines_lost(&stored, &nb(&["a\n", "b\nc\n"]))); // b moved to the next cell
        assert!(!only_lines_lost(&stored, &nb(&["a\nB\n", "c\n"]))); // changed
        assert!(!only_lines_lost(&stored, &nb(&["a\n", "d\n"]))); // c changed to d
        assert!(!only_lines_lost(&stored, &nb(&["b\na\n", "c\n"]))); // reordered
    }

    #[test]
    fn panics_and_errors_in_outputs_are_found() {
        let nb = |output: Value| serde_json::json!({"cells": [{"cell_type": "code", "outputs": [output]}]});
        let panic = nb(
            serde_json::json!({"output_type": "stream", "name": "stderr",
            "text": "thread '<unnamed>' panicked at src/lib.rs:1:1:\nboom"}),
        );
        assert!(check_executed(&panic).unwrap_err().contains("panicked"));
        let error = nb(serde_json::json!({"output_type": "error", "ename": "Error",
            "evalue": "compile error", "traceback": []}));
        assert!(
            check_executed(&error)
                .unwrap_err()
                .contains("compile error")
        );
    }

    #[test]
    fn stored_notebooks_merge_streams_without_adding_fields() {
        let nb = serde_json::json!({"cells": [{"cell_type": "code", "outputs": [
            {"output_type": "stream", "name": "stdout", "text": ["a\n"]},
            {"output_type": "stream", "name": "stdout", "text": ["b\n"]},
            {"output_type": "stream", "name": "stderr", "text": "c"}]}]});
        let stored = strip_for_storage(nb.clone());
        let outputs = stored["cells"][0]["outputs"].as_array().unwrap();
        assert_eq!(outputs.len(), 2);
        assert_eq!(
            outputs[0],
            serde_json::json!({"output_type": "stream", "name": "stdout", "text": "a\nb\n"})
        );
        assert!(compare_text_outputs(&nb, &stored).is_ok());
    }

    #[test]
    fn stored_notebooks_drop_plotly_js_only() {
        let big = format!(
            "<script type=\"text/javascript\">{}</script>\n<div id=\"p\"></div>",
            "x".repeat(200_000)
        );
        let nb = serde_json::json!({"cells": [{"cell_type": "code", "outputs": [
            {"output_type": "display_data", "data": {"text/html": big}},
            {"output_type": "display_data", "data": {"text/html": "<div id=\"q\"></div>"}}]}]});
        let stored = strip_for_storage(nb);
        let outputs = &stored["cells"][0]["outputs"];
        assert_eq!(
            outputs[0]["data"]["text/html"],
            format!("{PLOTLY_JS_OMITTED}\n<div id=\"p\"></div>")
        );
        assert_eq!(outputs[1]["data"]["text/html"], "<div id=\"q\"></div>");
    }

    #[test]
    fn stored_figures_keep_their_json_but_not_their_html() {
        let figure = serde_json::json!({"data": [], "layout": {}});
        let nb = serde_json::json!({"cells": [{"cell_type": "code", "outputs": [
            {"output_type": "display_data", "metadata": {},
             "data": {"text/html": "<div id=\"plot-0\"></div>", PLOTLY_MIME: figure}}]}]});
        let stored = strip_for_storage(nb);
        let data = &stored["cells"][0]["outputs"][0]["data"];
        assert!(data.get("text/html").is_none(), "{data}");
        assert_eq!(data[PLOTLY_MIME], figure);
    }
}
