//! Text for a character-level GPT: a tokenizer whose tokens are the characters of the text,
//! the 90/10 train/validation split and nanoGPT's random batches.

use std::collections::BTreeSet;
use std::path::PathBuf;

use ndarray::Array2;
use rand_chacha::rand_core::RngCore;

use crate::error::{Error, Result};
use crate::nn::SeededRng;

// ANCHOR: char_tokenizer
/// Characters as tokens: the vocabulary is every distinct character of a text, sorted, and
/// a character's id is its position in that list (nanoGPT's `shakespeare_char/prepare.py`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CharTokenizer {
    chars: Vec<char>,
}

impl CharTokenizer {
    /// The vocabulary of `text`: its distinct characters, sorted.
    pub fn from_text(text: &str) -> Result<Self> {
        let chars: Vec<char> = text.chars().collect::<BTreeSet<_>>().into_iter().collect();
        if chars.is_empty() {
            return Err(Error::value(
                "text",
                "at least one character",
                "an empty text",
            ));
        }
        Ok(CharTokenizer { chars })
    }

    /// Number of tokens, V.
    pub fn vocab_size(&self) -> usize {
        self.chars.len()
    }

    /// The vocabulary, in id order.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// Ids of the characters of `text`; a character outside the vocabulary is an error
    /// that names it.
    pub fn encode(&self, text: &str) -> Result<Vec<usize>> {
        text.chars()
            .map(|c| {
                self.chars.binary_search(&c).map_err(|_| {
                    let want = format!(
                        "characters of the vocabulary ({} of them)",
                        self.chars.len()
                    );
                    Error::value("text", want, format!("{c:?}"))
                })
            })
            .collect()
    }

    /// The text of `ids`; an id ≥ V is an error.
    pub fn decode(&self, ids: &[usize]) -> Result<String> {
        ids.iter()
            .map(|&id| {
                self.chars.get(id).copied().ok_or_else(|| {
                    Error::value(
                        "ids",
                        format!("ids below vocab_size = {}", self.chars.len()),
                        id,
                    )
                })
            })
            .collect()
    }
}
// ANCHOR_END: char_tokenizer

/// A text encoded once and split as nanoGPT does: the first 90 % trains, the last 10 %
/// validates.
#[derive(Debug, Clone)]
pub struct CharDataset {
    /// The tokenizer of the whole text.
    pub tokenizer: CharTokenizer,
    /// Ids of the first 90 %.
    pub train: Vec<usize>,
    /// Ids of the last 10 %.
    pub val: Vec<usize>,
}

impl CharDataset {
    /// Tokenizes `text` and splits it 90/10.
    pub fn new(text: &str) -> Result<Self> {
        let tokenizer = CharTokenizer::from_text(text)?;
        let ids = tokenizer.encode(text)?;
        let n = ids.len() * 9 / 10; // nanoGPT: n = int(len(data) * 0.9)
        Ok(CharDataset {
            tokenizer,
            train: ids[..n].to_vec(),
            val: ids[n..].to_vec(),
        })
    }

    /// The ids of `split`.
    pub fn split(&self, split: Split) -> &[usize] {
        match split {
            Split::Train => &self.train,
            Split::Val => &self.val,
        }
    }
}

/// Which part of a [`CharDataset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The first 90 %.
    Train,
    /// The last 10 %.
    Val,
}

// ANCHOR: get_batch
/// nanoGPT's `get_batch`: `batch` windows of `block_size` ids starting at random offsets,
/// and the same windows shifted by one, the next token at every position:
/// `(x, y)`, both `(batch, block_size)`, with `y[b, t] = data[i_b + t + 1]`.
pub fn get_batch(
    data: &[usize],
    batch: usize,
    block_size: usize,
    rng: &mut SeededRng,
) -> Result<(Array2<usize>, Array2<usize>)> {
    if data.len() <= block_size {
        let want = format!("more than block_size = {block_size} ids");
        return Err(Error::value("data (its length)", want, data.len()));
    }
    let starts: Vec<usize> = (0..batch)
        .map(|_| (rng.next_u64() % (data.len() - block_size) as u64) as usize)
        .collect();
    let x = Array2::from_shape_fn((batch, block_size), |(b, t)| data[starts[b] + t]);
    let y = Array2::from_shape_fn((batch, block_size), |(b, t)| data[starts[b] + t + 1]);
    Ok((x, y))
}
// ANCHOR_END: get_batch

/// Where `data/shakespeare/tragedies.txt` is (see its README for where it comes from).
pub fn shakespeare_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/shakespeare/tragedies.txt")
}

/// The text chapter 10 trains on: seven of Shakespeare's tragedies, about 1 MB.
pub fn shakespeare() -> Result<String> {
    let path = shakespeare_path();
    std::fs::read_to_string(&path).map_err(|e| Error::Parse {
        what: path.display().to_string(),
        reason: e.to_string(),
    })
}
