//! The notebooks build against the project's `Cargo.lock`, not against what crates.io
//! serves the day a kernel starts.
//!
//! evcxr compiles notebook code in a crate of its own (`target/evcxr/`, package `ctx`) with a
//! lock file of its own. Copying the project's `Cargo.lock` there does not survive: every
//! kernel first builds that crate with no dependency at all, which prunes the lock to nothing,
//! and the `:dep attention = …` of the first cell then resolves everything afresh, newest
//! versions first (on 2026-11-27: serde_with 3.25 instead of 3.17, time 0.3.55 instead of
//! 0.3.45, …).
//!
//! So the pin travels as a dependency instead: `notebooks/lock/` is a crate, generated from
//! `Cargo.lock`, that requires every registry package of the lock at exactly its locked
//! version, in a `[target.'cfg(any())'.dependencies]` table. `cfg(any())` is true on no
//! platform, so none of them is compiled, but cargo resolves dependencies for every platform,
//! so the versions bind. `notebooks/evcxr.toml` adds the crate to every kernel before the
//! first cell runs. [`check_evcxr_lock`] then proves, after each notebook, that evcxr's lock
//! holds nothing the project's lock does not.

use std::path::PathBuf;

use crate::util::root;

/// evcxr's own crate and the pin crate: the packages of evcxr's lock that the project's
/// lock cannot list.
const NOT_IN_PROJECT_LOCK: &[&str] = &["ctx", "notebook_lock"];

/// The pin crate's folder.
pub fn dir() -> PathBuf {
    root().join("notebooks").join("lock")
}

/// One `[[package]]` of a `Cargo.lock`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locked {
    /// Package name.
    pub name: String,
    /// Exact version, e.g. `3.17.0` or `1.0.4+wasi-0.2.12`.
    pub version: String,
    /// From a registry (crates.io), not a path in this repository.
    pub registry: bool,
}

/// Every `[[package]]` of a `Cargo.lock`, in file order.
pub fn parse(lock: &str) -> Vec<Locked> {
    let value = |line: &str, key: &str| {
        let rest = line.strip_prefix(key)?.trim_start().strip_prefix('=')?;
        Some(rest.trim().trim_matches('"').to_string())
    };
    let mut packages: Vec<Locked> = Vec::new();
    let mut in_package = false;
    for line in lock.lines().map(str::trim) {
        if line == "[[package]]" {
            in_package = true;
            packages.push(Locked {
                name: String::new(),
                version: String::new(),
                registry: false,
            });
        } else if line.starts_with('[') {
            in_package = false;
        } else if let (true, Some(p)) = (in_package, packages.last_mut()) {
            if let Some(v) = value(line, "name") {
                p.name = v;
            } else if let Some(v) = value(line, "version") {
                p.version = v;
            } else if let Some(v) = value(line, "source") {
                p.registry = v.starts_with("registry+") || v.starts_with("sparse+");
            }
        }
    }
    packages
}

/// `notebooks/lock/Cargo.toml` for the packages of `lock`.
pub fn manifest(lock: &[Locked]) -> String {
    let mut out = String::from(
        "# Generated from ../../Cargo.lock by `cargo xtask notebooks` (do not edit; see\n\
         # xtask/src/notebook_lock.rs): pins every dependency the notebooks' kernel may\n\
         # resolve to the version the crate is tested with. `cfg(any())` holds on no platform,\n\
         # so nothing below is compiled; cargo still resolves it, so the versions bind.\n\
         [package]\n\
         name = \"notebook_lock\"\n\
         version = \"0.0.0\"\n\
         edition = \"2024\"\n\
         publish = false\n\n\
         [lib]\n\
         path = \"lib.rs\"\n\n\
         [target.'cfg(any())'.dependencies]\n",
    );
    let registry: Vec<&Locked> = lock.iter().filter(|p| p.registry).collect();
    for p in &registry {
        // Build metadata (`+wasi-0.2.12`) is not part of a version requirement.
        let version = p.version.split('+').next().unwrap_or(&p.version);
        let several = registry.iter().filter(|q| q.name == p.name).count() > 1;
        if several {
            let key = format!("{}_{}", p.name, version.replace(['.', '-'], "_"));
            out.push_str(&format!(
                "{key} = {{ package = \"{}\", version = \"={version}\", default-features = false }}\n",
                p.name
            ));
        } else {
            out.push_str(&format!(
                "{} = {{ version = \"={version}\", default-features = false }}\n",
                p.name
            ));
        }
    }
    out
}

const LIB_RS: &str = "//! Nothing to compile: see Cargo.toml.\n";

/// Writes `notebooks/lock/` from the project's `Cargo.lock` when it is missing or stale (a
/// `cargo update` changed the lock); commit the change with the lock.
pub fn write_if_stale() -> Result<(), String> {
    let lock = read(root().join("Cargo.lock"))?;
    let wanted = manifest(&parse(&lock));
    let path = dir().join("Cargo.toml");
    if std::fs::read_to_string(&path).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(());
    }
    std::fs::create_dir_all(dir()).map_err(|e| format!("{}: {e}", dir().display()))?;
    std::fs::write(&path, wanted).map_err(|e| format!("{}: {e}", path.display()))?;
    std::fs::write(dir().join("lib.rs"), LIB_RS).map_err(|e| e.to_string())?;
    println!("  (wrote {} from Cargo.lock: commit it)", path.display());
    Ok(())
}

/// Fails if evcxr's build (its `target/evcxr/Cargo.lock`) used a package at a version the
/// project's `Cargo.lock` does not pin; returns how many packages it checked.
pub fn check_evcxr_lock() -> Result<usize, String> {
    let project = parse(&read(root().join("Cargo.lock"))?);
    let evcxr_lock = crate::notebooks::evcxr_tmpdir().join("Cargo.lock");
    let evcxr = parse(&read(evcxr_lock.clone())?);
    let unpinned = unpinned(&project, &evcxr);
    if unpinned.is_empty() {
        Ok(evcxr.len())
    } else {
        Err(format!(
            "the notebooks were built with versions that Cargo.lock does not pin: {}\n\
             (see {}; notebooks/evcxr.toml must add the pin crate notebooks/lock)",
            unpinned.join(", "),
            evcxr_lock.display()
        ))
    }
}

/// The packages of `evcxr` (but its own two crates) that `project` lacks at that version, as
/// "name version".
fn unpinned(project: &[Locked], evcxr: &[Locked]) -> Vec<String> {
    evcxr
        .iter()
        .filter(|p| !NOT_IN_PROJECT_LOCK.contains(&p.name.as_str()))
        .filter(|p| {
            !project
                .iter()
                .any(|q| q.name == p.name && q.version == p.version)
        })
        .map(|p| format!("{} {}", p.name, p.version))
        .collect()
}

fn read(path: PathBuf) -> Result<String, String> {
    std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locked(name: &str, version: &str, registry: bool) -> Locked {
        Locked {
            name: name.into(),
            version: version.into(),
            registry,
        }
    }

    const LOCK: &str = r#"version = 4

[[package]]
name = "attention"
version = "0.1.0"
dependencies = [
 "rand 0.8.5",
]

[[package]]
name = "rand"
version = "0.8.5"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "34af8d1a0e25924bc5b7c43c079c942339d8f0a8b57c39049bef581b46327404"

[[package]]
name = "rand"
version = "0.10.4"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "wasip2"
version = "1.0.4+wasi-0.2.12"
source = "registry+https://github.com/rust-lang/crates.io-index"
"#;

    #[test]
    fn the_lock_is_read_package_by_package() {
        assert_eq!(
            parse(LOCK),
            [
                locked("attention", "0.1.0", false),
                locked("rand", "0.8.5", true),
                locked("rand", "0.10.4", true),
                locked("wasip2", "1.0.4+wasi-0.2.12", true),
            ]
        );
        let ours = read(root().join("Cargo.lock")).unwrap();
        let packages = parse(&ours);
        assert_eq!(packages.len(), ours.matches("[[package]]").count());
        assert!(
            packages
                .iter()
                .all(|p| !p.name.is_empty() && !p.version.is_empty())
        );
        assert!(packages.contains(&locked("attention", "0.1.0", false)));
    }

    #[test]
    fn the_pin_crate_pins_registry_packages_exactly() {
        let toml = manifest(&parse(LOCK));
        assert!(toml.contains("[target.'cfg(any())'.dependencies]\n"));
        assert!(toml.contains(
            "rand_0_8_5 = { package = \"rand\", version = \"=0.8.5\", default-features = false }"
        ));
        assert!(toml.contains(
            "rand_0_10_4 = { package = \"rand\", version = \"=0.10.4\", default-features = false }"
        ));
        assert!(toml.contains("wasip2 = { version = \"=1.0.4\", default-features = false }"));
        assert!(!toml.contains("attention"), "path packages are not pinned");
    }

    #[test]
    fn the_committed_pin_crate_matches_the_lock() {
        let lock = read(root().join("Cargo.lock")).unwrap();
        let committed = read(dir().join("Cargo.toml")).unwrap();
        assert!(
            committed == manifest(&parse(&lock)),
            "notebooks/lock/Cargo.toml is stale: run `cargo xtask notebooks` and commit it"
        );
    }

    #[test]
    fn a_version_the_lock_does_not_pin_is_reported() {
        let project = [
            locked("time", "0.3.45", true),
            locked("serde", "1.0.229", true),
        ];
        let fine = [
            locked("ctx", "1.0.0", false),
            locked("notebook_lock", "0.0.0", false),
            locked("time", "0.3.45", true),
        ];
        assert!(unpinned(&project, &fine).is_empty());
        let drifted = [
            locked("time", "0.3.55", true),
            locked("darling", "0.24.0", true),
        ];
        assert_eq!(
            unpinned(&project, &drifted),
            ["time 0.3.55", "darling 0.24.0"]
        );
    }
}
