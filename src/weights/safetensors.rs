//! The safetensors format (Hugging Face's checkpoint format): an 8-byte little-endian header
//! length, a JSON header naming each tensor's dtype, shape and byte range, then the raw
//! little-endian data. Read and written through the `safetensors` crate; this crate's
//! settings travel in the header's `__metadata__` string map.
//!
//! Only `F32` tensors are read; anything else is an error naming the tensor and its dtype.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use safetensors::tensor::{Dtype, SafeTensors, View};

use super::NamedTensors;
use crate::error::{Error, Result};

/// Settings are stored in `__metadata__` under this prefix, so other metadata (e.g.
/// `format = "pt"` from PyTorch) is left alone.
const SETTING: &str = "attention.";

impl NamedTensors {
    /// Reads a safetensors file (see [`NamedTensors::from_safetensors_bytes`]).
    pub fn from_safetensors_file(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_safetensors_file_except(path, &[])
    }

    /// Reads a safetensors file, leaving out the tensors named in `skip` whatever their dtype
    /// (e.g. BERT's `embeddings.position_ids`, a constant I64 buffer rather than a parameter).
    pub fn from_safetensors_file_except(path: impl AsRef<Path>, skip: &[&str]) -> Result<Self> {
        let path = path.as_ref();
        let bytes = super::read_file(path)?;
        Self::parse_safetensors(&bytes, skip).map_err(|e| match e {
            Error::Parse { what, reason } => Error::Parse {
                what: format!("{} ({what})", path.display()),
                reason,
            },
            other => other,
        })
    }

    /// Parses the bytes of a safetensors file: every tensor must be `F32`. A truncated or
    /// malformed file is an error; nothing is returned half-read.
    pub fn from_safetensors_bytes(bytes: &[u8]) -> Result<Self> {
        Self::parse_safetensors(bytes, &[])
    }

    fn parse_safetensors(bytes: &[u8], skip: &[&str]) -> Result<Self> {
        let bad = |reason: String| Error::Parse {
            what: "safetensors".into(),
            reason,
        };
        let file = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
        let (_, metadata) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
        let mut out = NamedTensors::new();
        for (name, view) in file.tensors() {
            if skip.contains(&name.as_str()) {
                continue;
            }
            if view.dtype() != Dtype::F32 {
                return Err(bad(format!(
                    "tensor `{name}` is {:?}; only F32 tensors are supported",
                    view.dtype()
                )));
            }
            let data: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            let array = ArrayD::from_shape_vec(IxDyn(view.shape()), data)
                .map_err(|e| bad(format!("tensor `{name}`: {e}")))?;
            out.tensors.insert(name, array);
        }
        for (key, value) in metadata.metadata().iter().flatten() {
            if let Some(name) = key.strip_prefix(SETTING) {
                out.settings.insert(name.to_string(), value.clone());
            }
        }
        Ok(out)
    }

    /// The tensors (and settings) as the bytes of a safetensors file, F32, little-endian.
    pub fn to_safetensors_bytes(&self) -> Result<Vec<u8>> {
        let views = self.tensors.iter().map(|(name, t)| {
            let bytes: Vec<u8> = t.iter().flat_map(|v| v.to_le_bytes()).collect();
            (
                name.clone(),
                F32View {
                    shape: t.shape().to_vec(),
                    bytes,
                },
            )
        });
        let metadata: HashMap<String, String> = self
            .settings
            .iter()
            .map(|(k, v)| (format!("{SETTING}{k}"), v.clone()))
            .chain([("format".to_string(), "pt".to_string())])
            .collect();
        safetensors::serialize(views, Some(metadata)).map_err(|e| Error::Parse {
            what: "safetensors".into(),
            reason: format!("cannot write: {e}"),
        })
    }

    /// Writes [`NamedTensors::to_safetensors_bytes`] to `path`.
    pub fn write_safetensors_file(&self, path: impl AsRef<Path>) -> Result<()> {
        super::write_file(path.as_ref(), &self.to_safetensors_bytes()?)
    }
}

/// One tensor as the `safetensors` crate writes it.
struct F32View {
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl View for F32View {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}
