//! Named tensors: how weights go in and out of every layer.
//!
//! A model's weights are a map from names to arrays, exactly like a PyTorch `state_dict`:
//! `encoder.layers.1.self_attn.in_proj_weight → (24, 8)`. Every layer here loads itself from a
//! [`Scope`] (a view of the map under a prefix such as `encoder.layers.1`) and saves itself
//! into a [`NamedTensors`] under the same names. The test fixtures recorded from PyTorch, and
//! later real pretrained weights, all enter through this one door.
//!
//! ```
//! use attention::weights::NamedTensors;
//! use attention::nn::Linear;
//!
//! let json = r#"{"tensors": {
//!     "proj.weight": {"shape": [1, 2], "data": [1.0, 2.0]},
//!     "proj.bias":   {"shape": [1],    "data": [0.5]}
//! }}"#;
//! let weights = NamedTensors::from_json_str(json)?;
//! let linear = Linear::load(&weights.scope("proj"), 2, 1, true)?;
//! assert_eq!(linear.weight.shape(), &[1, 2]);
//! assert!(weights.unused().is_empty());
//! # Ok::<(), attention::Error>(())
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ndarray::{Array, ArrayD, Dimension, IxDyn};
use serde::Deserialize;

use crate::error::{Error, Result, fmt_shape};

/// A collection of named `f32` tensors (a PyTorch `state_dict`).
///
/// It remembers which names were read, so a loader can report tensors that no layer used
/// (usually a naming mistake): see [`NamedTensors::unused`].
#[derive(Debug, Clone, Default)]
pub struct NamedTensors {
    tensors: BTreeMap<String, ArrayD<f32>>,
    read: RefCell<BTreeSet<String>>,
}

/// On-disk form of one tensor: its shape and its values in row-major order. Non-finite
/// values are the strings `"NaN"`, `"Infinity"` and `"-Infinity"` (JSON has no number for
/// them), so every f32 survives a save and load.
#[derive(Debug, Deserialize)]
struct JsonTensor {
    shape: Vec<usize>,
    data: Vec<JsonValue>,
}

/// One value of a JSON tensor: a number, or one of the three non-finite strings.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum JsonValue {
    Number(f64),
    Text(String),
}

impl JsonValue {
    /// The f32 this value stands for, or why it cannot be one.
    fn to_f32(&self) -> std::result::Result<f32, String> {
        match self {
            JsonValue::Number(x) => {
                let v = *x as f32;
                if v.is_infinite() {
                    Err(format!("{x} is outside f32's range (±3.4028235e38)"))
                } else {
                    Ok(v)
                }
            }
            JsonValue::Text(t) => match t.as_str() {
                "NaN" => Ok(f32::NAN),
                "Infinity" => Ok(f32::INFINITY),
                "-Infinity" => Ok(f32::NEG_INFINITY),
                other => Err(format!(
                    "\"{other}\" is not a number (the only strings allowed are \"NaN\", \
                     \"Infinity\" and \"-Infinity\")"
                )),
            },
        }
    }
}

/// The `tensors` object of a JSON file, in file order; a name that appears twice is an error
/// (a JSON object would silently keep the last one).
struct JsonTensorList(Vec<(String, JsonTensor)>);

impl<'de> Deserialize<'de> for JsonTensorList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = JsonTensorList;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of named tensors")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<JsonTensorList, A::Error> {
                let mut entries: Vec<(String, JsonTensor)> = Vec::new();
                while let Some((name, tensor)) = map.next_entry::<String, JsonTensor>()? {
                    if entries.iter().any(|(n, _)| *n == name) {
                        let msg = format!("tensor `{name}` appears twice");
                        return Err(serde::de::Error::custom(msg));
                    }
                    entries.push((name, tensor));
                }
                Ok(JsonTensorList(entries))
            }
        }
        d.deserialize_map(Entries)
    }
}

/// On-disk form of a file of tensors; other top-level keys (config, description) are ignored.
#[derive(Deserialize)]
struct JsonTensors {
    tensors: JsonTensorList,
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

    /// The tensors under `prefix` (e.g. `"encoder.layers.0"`); `""` is the root.
    pub fn scope(&self, prefix: &str) -> Scope<'_> {
        Scope {
            tensors: self,
            prefix: prefix.to_string(),
        }
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

    /// Parses `{"tensors": {"name": {"shape": [..], "data": [..]}, ..}}`.
    ///
    /// This is the format of the PyTorch fixtures in `tests/fixtures/`.
    pub fn from_json_str(json: &str) -> Result<Self> {
        let parsed: JsonTensors = serde_json::from_str(json).map_err(|e| Error::Parse {
            what: "named tensors (JSON)".into(),
            reason: e.to_string(),
        })?;
        let mut out = NamedTensors::new();
        for (name, t) in parsed.tensors.0 {
            let bad = |reason: String| Error::Parse {
                what: format!("tensor `{name}`"),
                reason,
            };
            let data = t
                .data
                .iter()
                .enumerate()
                .map(|(i, v)| v.to_f32().map_err(|e| bad(format!("value {i}: {e}"))))
                .collect::<Result<Vec<f32>>>()?;
            let array = ArrayD::from_shape_vec(IxDyn(&t.shape), data).map_err(|_| {
                bad(format!(
                    "its {} values do not fill shape {}",
                    t.data.len(),
                    fmt_shape(&t.shape)
                ))
            })?;
            out.tensors.insert(name, array);
        }
        Ok(out)
    }

    /// Reads a JSON file of named tensors (see [`NamedTensors::from_json_str`]).
    pub fn from_json_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Parse {
            what: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::from_json_str(&text)
    }

    /// Writes the tensors in the format [`NamedTensors::from_json_str`] reads.
    pub fn to_json_string(&self) -> String {
        let value = |v: f32| match v {
            v if v.is_nan() => serde_json::Value::from("NaN"),
            f32::INFINITY => serde_json::Value::from("Infinity"),
            f32::NEG_INFINITY => serde_json::Value::from("-Infinity"),
            // Through the shortest decimal that reads back as this f32 ("0.1", not
            // "0.10000000149011612").
            v => serde_json::from_str(&serde_json::to_string(&v).expect("finite"))
                .expect("a JSON number"),
        };
        let tensors: serde_json::Map<String, serde_json::Value> = self
            .tensors
            .iter()
            .map(|(name, t)| {
                let data: Vec<serde_json::Value> = t.iter().map(|&v| value(v)).collect();
                (
                    name.clone(),
                    serde_json::json!({"shape": t.shape(), "data": data}),
                )
            })
            .collect();
        serde_json::json!({ "tensors": tensors }).to_string()
    }
}

/// The tensors of a [`NamedTensors`] under one prefix, as one layer sees them.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    tensors: &'a NamedTensors,
    prefix: String,
}

impl<'a> Scope<'a> {
    /// The scope one level down: `scope("encoder").sub("layers.0")` is `encoder.layers.0`.
    pub fn sub(&self, name: &str) -> Scope<'a> {
        Scope {
            tensors: self.tensors,
            prefix: self.name(name),
        }
    }

    /// The full name of `leaf` in this scope, e.g. `encoder.layers.0.norm1.weight`.
    pub fn name(&self, leaf: &str) -> String {
        join(&self.prefix, leaf)
    }

    /// True when a tensor called `leaf` exists in this scope.
    pub fn contains(&self, leaf: &str) -> bool {
        self.tensors.get(&self.name(leaf)).is_some()
    }

    /// The tensor `leaf`, checked to have exactly `shape`, as an array of dimension `D`.
    ///
    /// Errors name the full tensor name and both shapes; marks the tensor as read.
    pub fn tensor<D: Dimension>(&self, leaf: &str, shape: &[usize]) -> Result<Array<f32, D>> {
        let name = self.name(leaf);
        let Some(t) = self.tensors.get(&name) else {
            return Err(self.missing(&name));
        };
        if t.shape() != shape || t.is_empty() {
            let want = format!("{}, every axis non-empty", fmt_shape(shape));
            return Err(Error::shape(&name, want, t.shape()));
        }
        self.tensors.read.borrow_mut().insert(name);
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
        let best = self.tensors.names().map(prefix_len).max().unwrap_or(0);
        let close: Vec<&str> = self
            .tensors
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
            available: self.tensors.len(),
            hint,
        }
    }
}

/// Joins a prefix and a name with a dot, PyTorch style (`""` + `a` is `a`).
pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}
