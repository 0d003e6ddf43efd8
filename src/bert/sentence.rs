//! Sentence embeddings: text → WordPiece ids → BERT → mean pooling → unit length, the
//! pipeline of sentence-transformers' all-MiniLM-L6-v2. Two sentences that mean the same
//! get vectors pointing the same way: their dot product (cosine) is close to 1.

use ndarray::{Array2, Axis, s};
use rayon::prelude::*;

use super::files::ModelFiles;
use super::model::{Bert, l2_normalize, mean_pool};
use super::tokenizer::{Encoding, MAX_LEN, WordPiece};
use crate::error::{Error, Result};

/// Texts per forward pass. sentence-transformers' `encode(..., batch_size=64)` runs 64 texts
/// at a time on all cores; here batches of 8 texts of similar length run side by side, one per
/// rayon task, each padded only to its own longest text (less padding, and no core waits for
/// another between the layers).
pub const BATCH_SIZE: usize = 8;

/// The sentence vectors of some texts, and what the tokenizer did to them.
#[derive(Debug, Clone, PartialEq)]
pub struct SentenceEmbeddings {
    /// One unit-length vector per text `(n, d_model)`, in the order of the texts.
    pub vectors: Array2<f32>,
    /// How many tokens each text became, `[CLS]` and `[SEP]` included.
    pub lengths: Vec<usize>,
    /// Which texts were longer than [`MAX_LEN`] tokens and were cut there (as
    /// sentence-transformers does: only the first 256 tokens count).
    pub truncated: Vec<bool>,
}

/// all-MiniLM-L6-v2: the tokenizer and the encoder, loaded from `cargo xtask setup`'s files.
#[derive(Debug, Clone)]
pub struct SentenceEncoder {
    /// Text → subword ids.
    pub tokenizer: WordPiece,
    /// Ids → context-aware token vectors.
    pub bert: Bert,
}

impl SentenceEncoder {
    /// Loads the model from where `cargo xtask setup` put it ([`ModelFiles::find`]).
    pub fn load() -> Result<Self> {
        Self::from_files(&ModelFiles::find()?)
    }

    /// Loads the tokenizer and the weights in `files`.
    pub fn from_files(files: &ModelFiles) -> Result<Self> {
        Ok(SentenceEncoder {
            tokenizer: WordPiece::from_vocab_file(&files.vocab)?,
            bert: Bert::load(files)?,
        })
    }

    // ANCHOR: encode
    /// One unit-length vector per text `(n, d_model)`. Texts are sorted by length, as
    /// sentence-transformers does, and cut into batches of [`BATCH_SIZE`]; each batch is
    /// padded to its longest text and runs on its own rayon thread. The vectors come back in
    /// the order of `texts`.
    pub fn encode(&self, texts: &[&str]) -> Result<SentenceEmbeddings> {
        if texts.is_empty() {
            return Err(Error::value("texts", "at least one text", "an empty slice"));
        }
        let encodings = texts
            .iter()
            .map(|t| self.tokenizer.encode(t, MAX_LEN))
            .collect::<Result<Vec<_>>>()?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(encodings[i].ids.len())); // longest first
        let batches = order.par_chunks(BATCH_SIZE).map(|chunk| {
            let batch: Vec<&Encoding> = chunk.iter().map(|&i| &encodings[i]).collect();
            let batch = self.tokenizer.pad(&batch); // ids (b, seq)
            let out = self.bert.forward(&batch.ids, &batch.lengths)?;
            let pooled = mean_pool(out.last_hidden_state(), &batch.lengths)?; // (b, d)
            Ok((chunk, l2_normalize(&pooled)))
        });
        let mut vectors = Array2::zeros((texts.len(), self.bert.config.hidden_size));
        for (chunk, unit) in batches.collect::<Result<Vec<_>>>()? {
            for (row, &i) in unit.outer_iter().zip(chunk) {
                vectors.row_mut(i).assign(&row);
            }
        }
        Ok(SentenceEmbeddings {
            vectors,
            lengths: encodings.iter().map(|e| e.ids.len()).collect(),
            truncated: encodings.iter().map(|e| e.truncated).collect(),
        })
    }
    // ANCHOR_END: encode

    /// The context-aware vector of every token of one text (its last layer), with the
    /// tokens: `(tokens, (seq, d_model))`. The same word gets different vectors in different
    /// sentences.
    pub fn token_vectors(&self, text: &str) -> Result<(Vec<String>, Array2<f32>)> {
        let encoding = self.tokenizer.encode(text, MAX_LEN)?;
        let n = encoding.ids.len();
        let ids = Array2::from_shape_vec((1, n), encoding.ids).expect("one row of n ids");
        let out = self.bert.forward(&ids, &[n])?;
        let vectors = out.last_hidden_state().slice(s![0, .., ..]).to_owned(); // (seq, d)
        Ok((encoding.tokens, vectors))
    }

    /// The vector of the first token of `text` spelled `word` (after lowercasing), e.g. the
    /// "bank" of "the river bank"; an error names the word if the text has no such token.
    pub fn word_vector(&self, text: &str, word: &str) -> Result<ndarray::Array1<f32>> {
        let (tokens, vectors) = self.token_vectors(text)?;
        let wanted = word.to_lowercase();
        let position = tokens.iter().position(|t| *t == wanted).ok_or_else(|| {
            Error::value(
                "word",
                format!("a token of the text, one of {tokens:?}"),
                word,
            )
        })?;
        Ok(vectors.index_axis(Axis(0), position).to_owned())
    }
}
