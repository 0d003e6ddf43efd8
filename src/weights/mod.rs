//! Named tensors: how weights go in and out of every layer.
//!
//! A model's weights are a map from names to arrays, exactly like a PyTorch `state_dict`:
//! `encoder.layers.1.self_attn.in_proj_weight → (24, 8)`. Every layer reads its parameters
//! through a [`crate::params::Params`] (a view of the map under a prefix such as
//! `encoder.layers.1`, or a seeded generator) and lists them into a [`NamedTensors`] under the
//! same names ([`crate::params::Module`]). Two file formats: JSON (the PyTorch fixtures,
//! readable by eye) and safetensors (checkpoints, Hugging Face's format). The test fixtures
//! recorded from PyTorch, and later real pretrained weights, all enter through this one door.
//!
//! ```
//! use attention::weights::NamedTensors;
//! use attention::nn::Linear;
//! use attention::params::Params;
//!
//! let json = r#"{"tensors": {
//!     "proj.weight": {"shape": [1, 2], "data": [1.0, 2.0]},
//!     "proj.bias":   {"shape": [1],    "data": [0.5]}
//! }}"#;
//! let weights = NamedTensors::from_json_str(json)?;
//! let linear = Linear::from_params(&Params::load(&weights).sub("proj"), 2, 1, true)?;
//! assert_eq!(linear.weight.shape(), &[1, 2]);
//! assert!(weights.unused().is_empty());
//! # Ok::<(), attention::Error>(())
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use ndarray::{Array, ArrayD, Dimension};

use crate::error::{Error, Result, fmt_shape};

mod json;
mod safetensors;

/// A collection of named `f32` tensors (a PyTorch `state_dict`).
///
/// It remembers which names were read, so a loader can report tensors that no layer used
/// (usually a naming mistake): see [`NamedTensors::unused`].
#[derive(Debug, Clone, Default)]
pub struct NamedTensors {
    tensors: BTreeMap<String, ArrayD<f32>>,
    /// Settings no shape can tell, e.g. `encoder.layers.0.self_attn.num_heads = "2"`.
    settings: BTreeMap<String, String>,
    read: RefCell<BTreeSet<String>>,
}

impl NamedTensors {
    /// An empty collection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a tensor.
    pub fn insert<D: Dimension>(&mut self, name: impl Into<String>, tensor: Array<f32, D>) {
        self.tensors.insert(name.into(), tensor.into_dyn());
    }

    /// The tensor called `name`, if present (does not mark it as read).
    pub fn get(&self, name: &str) -> Option<&ArrayD<f32>> {
        self.tensors.get(name)
    }

    /// All names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// True when there are no tensors.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// A setting saved with the tensors (see [`crate::params::Params::setting`]).
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings.get(name).map(String::as_str)
    }

    /// Records a setting, e.g. `("encoder.layers.0.self_attn.num_heads", 2)`.
    pub fn set_setting(&mut self, name: impl Into<String>, value: impl std::fmt::Display) {
        self.settings.insert(name.into(), value.to_string());
    }

    /// Every setting, sorted by name.
    pub fn settings(&self) -> impl Iterator<Item = (&str, &str)> {
        self.settings.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Names that no layer has read yet: after loading a whole model this should be empty.
    pub fn unused(&self) -> Vec<String> {
        let read = self.read.borrow();
        self.tensors
            .keys()
            .filter(|name| !read.contains(*name))
            .cloned()
            .collect()
    }
}

impl NamedTensors {
    /// The tensor `name`, checked to have exactly `shape` (every axis non-empty), as an array
    /// of dimension `D`; marks it as read (see [`NamedTensors::unused`]).
    ///
    /// A missing tensor's error suggests the closest names. Layers read through
    /// [`crate::params::Params::load`], which calls this.
    pub fn tensor<D: Dimension>(&self, name: &str, shape: &[usize]) -> Result<Array<f32, D>> {
        let Some(t) = self.get(name) else {
            return Err(self.missing(name));
        };
        if t.shape() != shape || t.is_empty() {
            let want = format!("{}, every axis non-empty", fmt_shape(shape));
            return Err(Error::shape(name, want, t.shape()));
        }
        self.read.borrow_mut().insert(name.to_string());
        Ok(t.clone()
            .into_dimensionality::<D>()
            .expect("shape was checked above"))
    }

    fn missing(&self, name: &str) -> Error {
        // Suggest the names that share the longest prefix with the one asked for.
        let prefix_len = |other: &str| {
            name.chars()
                .zip(other.chars())
                .take_while(|(a, b)| a == b)
                .count()
        };
        let best = self.names().map(prefix_len).max().unwrap_or(0);
        let close: Vec<&str> = self
            .names()
            .filter(|n| best > 0 && prefix_len(n) == best)
            .take(3)
            .collect();
        let hint = if close.is_empty() {
            String::new()
        } else {
            format!("; closest: {}", close.join(", "))
        };
        Error::MissingTensor {
            name: name.to_string(),
            available: self.len(),
            hint,
        }
    }
}

/// The bytes of a weights file; the error names the file.
fn read_file(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Parse {
        what: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Writes a weights file; the error names the file.
fn write_file(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::Parse {
        what: path.display().to_string(),
        reason: format!("cannot write: {e}"),
    })
}

/// Joins a prefix and a name with a dot, PyTorch style (`""` + `a` is `a`).
pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}
