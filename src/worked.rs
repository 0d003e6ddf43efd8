//! The worked examples shared by the book, the notebooks and the tests.
//!
//! Every chapter follows the same small inputs, defined once here so the book's numbers, the
//! notebook's cells and the tests agree by construction:
//!
//! - chapter 1: hand-placed 2-D embeddings of a few toy words ([`toy_embeddings`]);
//! - chapters 3–5: the StatQuest course's three tokens `let's go <eos>` with 2-D encodings
//!   ([`statquest_encodings`]) and a head whose weights make the arithmetic checkable by hand
//!   ([`statquest_head`]); the decoder side `<bos> vamos` for cross-attention
//!   ([`statquest_decoder_encodings`]);
//! - chapter 3's √d_k experiment: random queries and keys, with and without the scaling
//!   ([`scaling_experiment`]);
//! - chapter 6: the pizza sentence, embedded with positions ([`pizza_sentence`]);
//! - chapter 7: a small translation model over [`crate::embedding::TOY_TRANSLATIONS`]
//!   ([`toy_translation_model`]).

use ndarray::{Array2, array};

use crate::embedding::{Embedding, TOY_SENTENCES, TOY_TRANSLATIONS, Vocab};
use crate::error::Result;
use crate::nn::{Linear, init, seeded_rng, softmax};
use crate::params::Params;
use crate::positional::SinusoidalEncoding;
use crate::self_attention::SelfAttention;
use crate::transformer::{NormPosition, Seq2SeqConfig, Seq2SeqTransformer, TransformerConfig};

/// Tokens of the StatQuest example: the encoder input "let's go" and its end marker.
pub fn statquest_tokens() -> Vec<String> {
    ["let's", "go", "<eos>"].map(String::from).to_vec()
}

/// The StatQuest encodings of `let's go <eos>`: `(3, 2)`, hand-picked (the course's values,
/// which stand for word embedding + position there; chapter 2 uses them as position-free
/// input, chapter 3 as the head's input X).
pub fn statquest_encodings() -> Array2<f32> {
    array![[1.16, 0.23], [0.57, 1.36], [4.41, -2.16]]
}

/// A self-attention head `d_model = d_k = 2` with easy weights (`(out, in)` layout):
/// W_q maps (a, b) to (a + b, b), W_k to (b, −a) (a quarter turn), W_v to (a, a − b).
///
/// None of the three is symmetric, so `X·Wᵀ` (what `nn.Linear` computes) and `X·W` differ for
/// each: a forgotten transpose changes every worked number (with W_k it flips every score's
/// sign).
pub fn statquest_head() -> SelfAttention {
    let linear = |w: Array2<f32>| Linear::new(w, None).expect("2 × 2 weight");
    SelfAttention::new(
        linear(array![[1.0, 1.0], [0.0, 1.0]]),
        linear(array![[0.0, 1.0], [-1.0, 0.0]]),
        linear(array![[1.0, 0.0], [1.0, -1.0]]),
    )
    .expect("three 2 × 2 projections")
}

/// One head size of the √d_k experiment ([`scaling_experiment`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingRow {
    /// The head size.
    pub d_k: usize,
    /// Standard deviation of the raw scores q · k.
    pub std_raw: f64,
    /// Standard deviation of the scaled scores q · k / √d_k.
    pub std_scaled: f64,
    /// The largest of the 10 softmax weights without scaling, averaged over the draws.
    pub max_raw: f64,
    /// The same with the scaling.
    pub max_scaled: f64,
}

/// Chapter 3's √d_k experiment: for d_k = 1, 2, 4 … 512, `draws` times one random query
/// against 10 random keys (entries N(0, 1), generator seeded with 3): how spread out the
/// scores are and how peaked their softmax gets, without and with the division by √d_k.
pub fn scaling_experiment(draws: usize) -> Vec<ScalingRow> {
    let mut rng = seeded_rng(3);
    (0..10)
        .map(|p| {
            let d_k = 1usize << p;
            let (mut scores, mut max_raw, mut max_scaled) = (Vec::new(), 0.0, 0.0);
            for _ in 0..draws {
                let q: Array2<f32> = init::normal((1, d_k), 1.0, &mut rng); // (1, d_k)
                let k: Array2<f32> = init::normal((10, d_k), 1.0, &mut rng); // (10, d_k)
                let raw = q.dot(&k.t()); // (1, 10)
                let scaled = &raw / (d_k as f32).sqrt();
                scores.extend(raw.iter().map(|&v| f64::from(v)));
                let peak = |a: &Array2<f32>| f64::from(softmax(a).fold(0.0_f32, |m, &v| m.max(v)));
                max_raw += peak(&raw) / draws as f64;
                max_scaled += peak(&scaled) / draws as f64;
            }
            let n = scores.len() as f64;
            let mean = scores.iter().sum::<f64>() / n;
            let std_raw = (scores.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
            ScalingRow {
                d_k,
                std_raw,
                std_scaled: std_raw / (d_k as f64).sqrt(),
                max_raw,
                max_scaled,
            }
        })
        .collect()
}

/// Tokens of the decoder side of the toy translation: `<bos> vamos`.
pub fn statquest_decoder_tokens() -> Vec<String> {
    ["<bos>", "vamos"].map(String::from).to_vec()
}

/// Encodings of the decoder tokens `<bos> vamos`: `(2, 2)`.
pub fn statquest_decoder_encodings() -> Array2<f32> {
    array![[-0.50, 1.00], [2.10, 0.40]]
}

/// Hand-placed 2-D embeddings of a few toy words: `(words, (n, 2))`.
///
/// Food words point one way, animals another, places a third, so cosine similarity has
/// something to find.
pub fn toy_embeddings() -> (Vec<String>, Array2<f32>) {
    let words = ["pizza", "oven", "tasted", "cat", "dog", "mat", "log"];
    let vectors = array![
        [2.0, 0.3],
        [1.6, 0.8],
        [1.8, -0.2],
        [-0.4, 2.0],
        [-0.6, 1.8],
        [-1.5, -1.2],
        [-1.7, -0.9],
    ];
    (words.map(String::from).to_vec(), vectors)
}

/// The pizza sentence embedded (random table, seed `seed`, × √d_model) plus sinusoidal
/// positions: its tokens and `(seq, d_model)` inputs.
pub fn pizza_sentence(d_model: usize, seed: u64) -> Result<(Vec<String>, Array2<f32>)> {
    let vocab = Vocab::from_sentences(TOY_SENTENCES);
    let ids = vocab.encode(TOY_SENTENCES[0]);
    let table = Embedding::from_params(&Params::seeded(seed), vocab.len(), d_model)?;
    let tokens = table.forward(&ids)? * (d_model as f32).sqrt(); // (seq, d_model)
    let x = SinusoidalEncoding::new(ids.len(), d_model)?.forward(&tokens)?;
    Ok((vocab.tokens_of(&ids)?, x))
}

/// Source and target vocabularies of [`TOY_TRANSLATIONS`] (English → Spanish).
pub fn toy_translation_vocabs() -> (Vocab, Vocab) {
    let (english, spanish): (Vec<&str>, Vec<&str>) = TOY_TRANSLATIONS.iter().copied().unzip();
    (
        Vocab::from_sentences(&english),
        Vocab::from_sentences(&spanish),
    )
}

/// An untrained (random, seed `seed`) encoder–decoder model sized for the toy translations:
/// d_model 8, 2 heads, d_ff 32, 2 + 2 layers.
pub fn toy_translation_model(norm_position: NormPosition, seed: u64) -> Result<Seq2SeqTransformer> {
    let (src, tgt) = toy_translation_vocabs();
    let config = Seq2SeqConfig {
        transformer: TransformerConfig {
            d_model: 8,
            num_heads: 2,
            d_ff: 32,
            num_encoder_layers: 2,
            num_decoder_layers: 2,
            norm_position,
        },
        src_vocab_size: src.len(),
        tgt_vocab_size: tgt.len(),
        max_len: 32,
        pad_id: crate::embedding::PAD_ID,
    };
    Seq2SeqTransformer::from_params(&Params::seeded(seed), config)
}

/// Chapter 7's feed-forward example: d_model 2, d_ff 4, small weights chosen so that the
/// ReLU zeroes some hidden units and not others. `linear1 (4, 2)`, `linear2 (2, 4)`.
pub fn feed_forward_example() -> Result<crate::nn::FeedForward> {
    Ok(crate::nn::FeedForward {
        linear1: Linear::new(
            array![[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, -1.0]],
            Some(array![0.0, 0.0, -1.0, 0.0]),
        )?,
        linear2: Linear::new(
            array![[1.0, 0.0, 0.5, 0.0], [0.0, 1.0, 0.0, -0.5]],
            Some(array![0.5, 0.0]),
        )?,
        activation: crate::nn::Activation::Relu,
    })
}

/// The two tokens `(seq 2, d_model 2)` chapter 7 feeds [`feed_forward_example`].
pub fn feed_forward_inputs() -> Array2<f32> {
    array![[1.0, -2.0], [3.0, 1.0]]
}
