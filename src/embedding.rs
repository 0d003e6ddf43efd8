//! Chapter 1 — word embeddings: from words to token ids to vectors.
//!
//! A network computes with numbers, so text goes through two steps:
//! 1. a [`Vocab`] turns words into integer **token ids** (`"let's go" → [7, 8]`);
//! 2. an [`Embedding`] table turns each id into a learned vector of `d_model` numbers
//!    (row `id` of a `(vocab_size, d_model)` matrix).
//!
//! Words used in similar ways end up with similar vectors; [`cosine_similarity`] measures that.
//!
//! ```
//! use attention::embedding::{Embedding, Vocab, TOY_SENTENCES};
//! use attention::nn::seeded_rng;
//! use attention::params::Params;
//!
//! let vocab = Vocab::from_sentences(TOY_SENTENCES);
//! let ids = vocab.encode("let's go");                      // (seq) = (2)
//! let table = Embedding::from_params(&Params::seeded(0), vocab.len(), 4)?;
//! let vectors = table.forward(&ids)?;                      // (seq, d_model) = (2, 4)
//! assert_eq!(vectors.shape(), &[2, 4]);
//! # Ok::<(), attention::Error>(())
//! ```

use std::collections::HashMap;

use ndarray::{Array2, Array3, ArrayRef1, ArrayRef2, ArrayRef3, ArrayViewMutD, Axis};

use crate::error::{Error, Result};
use crate::gradients::Gradients;
use crate::params::{Init, Module, Params};
use crate::weights::{NamedTensors, join};

/// The toy sentences the book and notebooks use (StatQuest's pizza sentence among them).
pub const TOY_SENTENCES: &[&str] = &[
    "The pizza came out of the oven and it tasted good!",
    "Let's go",
    "To go",
    "The cat sat on the mat",
    "The dog sat on the log",
];

/// A tiny English → Spanish parallel corpus for the encoder–decoder chapters.
pub const TOY_TRANSLATIONS: &[(&str, &str)] = &[("Let's go", "Vamos"), ("To go", "Ir")];

/// Padding: fills short sequences up to the batch's length; never attended to.
pub const PAD: &str = "<pad>";
/// Unknown: stands in for any word not in the vocabulary.
pub const UNK: &str = "<unk>";
/// Beginning of sequence: the decoder's first input.
pub const BOS: &str = "<bos>";
/// End of sequence: the decoder emits it when it is done.
pub const EOS: &str = "<eos>";
/// Id of [`PAD`] in every [`Vocab`].
pub const PAD_ID: usize = 0;
/// Id of [`UNK`] in every [`Vocab`].
pub const UNK_ID: usize = 1;
/// Id of [`BOS`] in every [`Vocab`].
pub const BOS_ID: usize = 2;
/// Id of [`EOS`] in every [`Vocab`].
pub const EOS_ID: usize = 3;

/// A word-level vocabulary: token ↔ id. Ids 0–3 are always `<pad> <unk> <bos> <eos>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Vocab {
    tokens: Vec<String>,
    ids: HashMap<String, usize>,
}

impl Default for Vocab {
    fn default() -> Self {
        Self::new()
    }
}

impl Vocab {
    /// A vocabulary holding only the four special tokens.
    pub fn new() -> Self {
        let mut vocab = Vocab {
            tokens: Vec::new(),
            ids: HashMap::new(),
        };
        for special in [PAD, UNK, BOS, EOS] {
            vocab.add(special);
        }
        vocab
    }

    /// The specials, then every token of `sentences` in order of first appearance.
    pub fn from_sentences(sentences: &[&str]) -> Self {
        let mut vocab = Vocab::new();
        for sentence in sentences {
            for token in tokenize(sentence) {
                vocab.add(&token);
            }
        }
        vocab
    }

    /// Adds `token` if new; returns its id.
    pub fn add(&mut self, token: &str) -> usize {
        if let Some(&id) = self.ids.get(token) {
            return id;
        }
        self.tokens.push(token.to_string());
        self.ids.insert(token.to_string(), self.tokens.len() - 1);
        self.tokens.len() - 1
    }

    /// Number of tokens, specials included.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Never true: the specials are always there.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The id of `token`, if known.
    pub fn id(&self, token: &str) -> Option<usize> {
        self.ids.get(token).copied()
    }

    /// The token with id `id`, if any.
    pub fn token(&self, id: usize) -> Option<&str> {
        self.tokens.get(id).map(String::as_str)
    }

    /// All tokens, in id order.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// Token ids of `text`; unknown words become [`UNK_ID`]. `(seq)`.
    pub fn encode(&self, text: &str) -> Vec<usize> {
        tokenize(text)
            .iter()
            .map(|t| self.id(t).unwrap_or(UNK_ID))
            .collect()
    }

    /// `[<bos>] + encode(text) + [<eos>]`.
    pub fn encode_with_specials(&self, text: &str) -> Vec<usize> {
        let mut ids = vec![BOS_ID];
        ids.extend(self.encode(text));
        ids.push(EOS_ID);
        ids
    }

    /// The tokens of `ids` joined by spaces; errors on an id outside the vocabulary.
    pub fn decode(&self, ids: &[usize]) -> Result<String> {
        let tokens = ids
            .iter()
            .map(|&id| self.checked_token(id))
            .collect::<Result<Vec<_>>>()?;
        Ok(tokens.join(" "))
    }

    /// Like [`Vocab::decode`] but one string per id (handy for heatmap labels).
    pub fn tokens_of(&self, ids: &[usize]) -> Result<Vec<String>> {
        ids.iter()
            .map(|&id| self.checked_token(id).map(str::to_string))
            .collect()
    }

    fn checked_token(&self, id: usize) -> Result<&str> {
        self.token(id).ok_or_else(|| {
            let want = format!("a token id below the vocabulary size {}", self.len());
            Error::value("ids", want, id)
        })
    }
}

/// Splits text into lowercase word tokens; punctuation marks become tokens of their own,
/// apostrophes stay inside words (`"Let's go!" → ["let's", "go", "!"]`).
pub fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() || c == '\'' {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            tokens.push(std::mem::take(&mut word));
        }
        if !c.is_whitespace() {
            tokens.push(c.to_string());
        }
    }
    if !word.is_empty() {
        tokens.push(word);
    }
    tokens
}

/// Pads sequences of ids with [`PAD_ID`] to the longest one: `(batch, max_len)`.
///
/// Errors when `sequences` is empty or any sequence is empty.
pub fn pad_batch(sequences: &[Vec<usize>]) -> Result<Array2<usize>> {
    let max_len = sequences.iter().map(Vec::len).max().unwrap_or(0);
    if sequences.is_empty() || sequences.iter().any(Vec::is_empty) {
        let lens: Vec<usize> = sequences.iter().map(Vec::len).collect();
        return Err(Error::value(
            "sequences",
            "at least one sequence, none empty",
            format!("lengths {lens:?}"),
        ));
    }
    let mut batch = Array2::from_elem((sequences.len(), max_len), PAD_ID);
    for (mut row, seq) in batch.axis_iter_mut(Axis(0)).zip(sequences) {
        for (slot, &id) in row.iter_mut().zip(seq) {
            *slot = id;
        }
    }
    Ok(batch)
}

/// An embedding table, exactly PyTorch's `nn.Embedding`: `weight` is `(vocab_size, d_model)`
/// and token `id` is embedded as row `id`.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// `(vocab_size, d_model)`: one learned vector per token.
    pub weight: Array2<f32>,
}

impl Embedding {
    /// A table from explicit weights `(vocab_size, d_model)`.
    pub fn new(weight: Array2<f32>) -> Result<Self> {
        if weight.is_empty() {
            return Err(Error::shape(
                "weight",
                "(vocab_size, d_model), both > 0",
                weight.shape(),
            ));
        }
        Ok(Embedding { weight })
    }

    /// `weight (vocab_size, d_model)` read from `p`, or drawn with PyTorch's init, Normal(0, 1).
    pub fn from_params(p: &Params, vocab_size: usize, d_model: usize) -> Result<Self> {
        Embedding::new(p.get("weight", &[vocab_size, d_model], Init::Normal(1.0))?)
    }

    /// Number of rows (tokens).
    pub fn vocab_size(&self) -> usize {
        self.weight.nrows()
    }

    /// Length of each vector.
    pub fn d_model(&self) -> usize {
        self.weight.ncols()
    }

    /// Looks up each id: `(seq) → (seq, d_model)`.
    pub fn forward(&self, ids: &[usize]) -> Result<Array2<f32>> {
        if ids.is_empty() {
            return Err(Error::shape("ids", "(seq) with seq ≥ 1", &[0]));
        }
        self.check_ids(ids.iter())?;
        Ok(self.weight.select(Axis(0), ids)) // (seq, d_model)
    }

    /// Batched lookup: `(batch, seq) → (batch, seq, d_model)`.
    pub fn forward_batch(&self, ids: &ArrayRef2<usize>) -> Result<Array3<f32>> {
        if ids.is_empty() {
            return Err(Error::shape("ids", "(batch, seq), both ≥ 1", ids.shape()));
        }
        self.check_ids(ids.iter())?;
        let (batch, seq) = ids.dim();
        let mut out = Array3::zeros((batch, seq, self.d_model()));
        for ((b, s), &id) in ids.indexed_iter() {
            out.slice_mut(ndarray::s![b, s, ..])
                .assign(&self.weight.row(id));
        }
        Ok(out)
    }

    // ANCHOR: embedding_backward
    /// Backward of [`Embedding::forward_batch`]: adds ∂L/∂weight to `grads` as
    /// `{prefix}.weight`, given the ids and `dy = ∂L/∂out (batch, seq, d_model)`.
    ///
    /// A lookup copies row `id`, so its gradient flows back to that row only: row `id` of
    /// ∂L/∂weight is the sum of `dy` over every position holding `id` (a token used twice
    /// gets both gradients), and the rows of tokens not in the batch stay zero. (PyTorch keeps
    /// these gradients dense by default, `sparse=False`; so does this.)
    pub fn backward(
        &self,
        ids: &ArrayRef2<usize>,
        dy: &ArrayRef3<f32>,
        grads: &mut Gradients,
        prefix: &str,
    ) -> Result<()> {
        self.check_ids(ids.iter())?;
        let (batch, seq) = ids.dim();
        if dy.dim() != (batch, seq, self.d_model()) {
            let want = format!(
                "({batch}, {seq}, {}) = (batch, seq, d_model)",
                self.d_model()
            );
            return Err(Error::shape("dy", want, dy.shape()));
        }
        let mut dweight = Array2::<f32>::zeros(self.weight.raw_dim()); // (vocab_size, d_model)
        for ((b, s), &id) in ids.indexed_iter() {
            let mut row = dweight.row_mut(id);
            row += &dy.slice(ndarray::s![b, s, ..]); // scatter-add into the token's row
        }
        grads.add(join(prefix, "weight"), dweight);
        Ok(())
    }
    // ANCHOR_END: embedding_backward

    fn check_ids<'a>(&self, mut ids: impl Iterator<Item = &'a usize>) -> Result<()> {
        match ids.find(|&&id| id >= self.vocab_size()) {
            Some(&id) => {
                let want = format!("token ids below vocab_size = {}", self.vocab_size());
                Err(Error::value("ids", want, id))
            }
            None => Ok(()),
        }
    }
}

impl Module for Embedding {
    /// `{prefix}.weight`.
    fn parameters_into(&self, prefix: &str, out: &mut NamedTensors) {
        out.insert(join(prefix, "weight"), self.weight.clone());
    }

    fn visit_parameters_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ArrayViewMutD<f32>)) {
        f(&join(prefix, "weight"), self.weight.view_mut().into_dyn());
    }
}

/// Cosine similarity a·b / (‖a‖‖b‖): the dot product scaled into [−1, 1].
///
/// 1 means "same direction", 0 "unrelated" (orthogonal), −1 "opposite". If either vector is
/// all zeros the direction is undefined and the result is 0.
///
/// ```
/// use attention::embedding::cosine_similarity;
/// use attention::ndarray::array;
///
/// let s = cosine_similarity(&array![1.0_f32, 0.0], &array![2.0, 0.0])?;
/// assert!((s - 1.0).abs() < 1e-6);
/// # Ok::<(), attention::Error>(())
/// ```
// ANCHOR: cosine_similarity
pub fn cosine_similarity(a: &ArrayRef1<f32>, b: &ArrayRef1<f32>) -> Result<f32> {
    if a.len() != b.len() || a.is_empty() {
        let want = format!("({}), the length of `a`, non-empty", a.len());
        return Err(Error::shape("b", want, b.shape()));
    }
    let dot = a.dot(b);
    let norms = a.dot(a).sqrt() * b.dot(b).sqrt();
    Ok(if norms == 0.0 { 0.0 } else { dot / norms })
}
// ANCHOR_END: cosine_similarity

/// Cosine similarity between every pair of rows: `(n, d) → (n, n)`.
pub fn cosine_similarity_matrix(vectors: &ArrayRef2<f32>) -> Result<Array2<f32>> {
    let n = vectors.nrows();
    let mut out = Array2::zeros((n, n));
    for i in 0..n {
        for j in 0..n {
            out[[i, j]] = cosine_similarity(&vectors.row(i), &vectors.row(j))?;
        }
    }
    Ok(out)
}
