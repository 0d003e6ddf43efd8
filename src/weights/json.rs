//! The JSON format of named tensors: what the PyTorch fixture generator writes, readable by
//! eye for small layers. Every f32 survives a round trip, NaN and ±∞ included.

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};

use super::NamedTensors;
use crate::error::{Error, Result, fmt_shape};

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

/// On-disk form of a file of tensors: `tensors`, and `settings` (strings) if saved by this
/// crate; other top-level keys (a fixture's inputs, a description) are ignored.
#[derive(Deserialize)]
struct JsonTensors {
    tensors: JsonTensorList,
    #[serde(default)]
    settings: BTreeMap<String, String>,
}

impl NamedTensors {
    /// Parses `{"tensors": {"name": {"shape": [..], "data": [..]}, ..}}`.
    ///
    /// This is the format of the PyTorch fixtures in `tests/fixtures/`.
    pub fn from_json_str(json: &str) -> Result<Self> {
        let parsed: JsonTensors = serde_json::from_str(json).map_err(|e| Error::Parse {
            what: "named tensors (JSON)".into(),
            reason: e.to_string(),
        })?;
        let mut out = NamedTensors::new();
        out.settings = parsed.settings;
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
        let bytes = super::read_file(path.as_ref())?;
        let text = String::from_utf8(bytes).map_err(|e| Error::Parse {
            what: path.as_ref().display().to_string(),
            reason: e.to_string(),
        })?;
        Self::from_json_str(&text)
    }

    /// Writes the tensors (and settings) in the format [`NamedTensors::from_json_str`] reads.
    pub fn to_json_string(&self) -> String {
        let tensors: BTreeMap<&str, OutTensor> = self
            .tensors
            .iter()
            .map(|(name, t)| {
                let data = t.iter().map(|&v| OutValue::of(v)).collect();
                (
                    name.as_str(),
                    OutTensor {
                        shape: t.shape(),
                        data,
                    },
                )
            })
            .collect();
        let file = OutFile {
            tensors,
            settings: &self.settings,
        };
        serde_json::to_string(&file).expect("strings and f32 numbers always serialise")
    }

    /// Writes [`NamedTensors::to_json_string`] to `path`.
    pub fn write_json_file(&self, path: impl AsRef<Path>) -> Result<()> {
        super::write_file(path.as_ref(), self.to_json_string().as_bytes())
    }
}

/// What [`NamedTensors::to_json_string`] writes: the file, one tensor, one value.
#[derive(Serialize)]
struct OutFile<'a> {
    tensors: BTreeMap<&'a str, OutTensor<'a>>,
    settings: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct OutTensor<'a> {
    shape: &'a [usize],
    data: Vec<OutValue>,
}

/// A finite value as an f32 number (its shortest decimal, "0.1"), a non-finite one as the
/// string [`JsonValue`] reads back.
#[derive(Serialize)]
#[serde(untagged)]
enum OutValue {
    Number(f32),
    Text(&'static str),
}

impl OutValue {
    fn of(v: f32) -> Self {
        match v {
            v if v.is_nan() => OutValue::Text("NaN"),
            f32::INFINITY => OutValue::Text("Infinity"),
            f32::NEG_INFINITY => OutValue::Text("-Infinity"),
            v => OutValue::Number(v),
        }
    }
}
