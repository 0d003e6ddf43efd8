//! Tasks that show attention working, each reproducible from a seed.
//!
//! - **copy** and **reverse** random symbol sequences (the Annotated Transformer's first
//!   task): the output must read the input in order (copy: the cross-attention map becomes
//!   the diagonal) or backwards (reverse: the anti-diagonal);
//! - **translate** the course's toy English → Spanish corpus ([`super::corpus`]): the
//!   cross-attention map becomes a word alignment.

use rand_chacha::rand_core::RngCore;

use super::corpus::{ParallelCorpus, encode_pair, toy_translation_corpus};
use super::trainer::{Example, TrainConfig};
use crate::embedding::{BOS_ID, EOS_ID, PAD_ID, Vocab};
use crate::error::{Error, Result};
use crate::nn::seeded_rng;
use crate::transformer::{
    NormPosition, Seq2SeqConfig, Seq2SeqTransformer, TransformerConfig, greedy_decode,
};

/// The symbol tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymbolTask {
    /// Output = input.
    Copy,
    /// Output = input backwards.
    Reverse,
}

/// Number of distinct symbols; ids `4 .. 4 + NUM_SYMBOLS` (0–3 are the special tokens).
pub const NUM_SYMBOLS: usize = 10;
/// The shortest and longest symbol sequence.
pub const SYMBOL_LENGTHS: (usize, usize) = (3, 10);

impl SymbolTask {
    /// The task's name, for messages and file names.
    pub fn name(self) -> &'static str {
        match self {
            SymbolTask::Copy => "copy",
            SymbolTask::Reverse => "reverse",
        }
    }

    /// `n` examples of random symbol sequences (lengths in [`SYMBOL_LENGTHS`]), from `seed`:
    /// source `<bos> s₁ … sₖ <eos>`, target the same or reversed.
    pub fn examples(self, n: usize, seed: u64) -> Vec<Example> {
        let mut rng = seeded_rng(seed);
        let (min, max) = SYMBOL_LENGTHS;
        (0..n)
            .map(|_| {
                let len = min + (rng.next_u64() % (max - min + 1) as u64) as usize;
                let symbols: Vec<usize> = (0..len)
                    .map(|_| 4 + (rng.next_u64() % NUM_SYMBOLS as u64) as usize)
                    .collect();
                let mut out = symbols.clone();
                if self == SymbolTask::Reverse {
                    out.reverse();
                }
                (with_specials(&symbols), with_specials(&out))
            })
            .collect()
    }

    /// The model the symbol tasks train: d_model 32, 4 heads, d_ff 64, 2 + 2 layers, post-LN.
    pub fn model_config(self) -> Seq2SeqConfig {
        Seq2SeqConfig {
            transformer: TransformerConfig {
                d_model: 32,
                num_heads: 4,
                d_ff: 64,
                num_encoder_layers: 2,
                num_decoder_layers: 2,
                norm_position: NormPosition::Post,
            },
            src_vocab_size: 4 + NUM_SYMBOLS,
            tgt_vocab_size: 4 + NUM_SYMBOLS,
            max_len: SYMBOL_LENGTHS.1 + 2,
            pad_id: PAD_ID,
        }
    }

    /// The recipe: 4,000 steps of 64 sequences, warm-up to a peak rate (copy: 400 steps to
    /// 3e-3; reverse: 200 steps to 2e-3, which it prefers), no dropout (the data is endless),
    /// label smoothing 0.1, gradients clipped to norm 1.
    pub fn train_config(self, seed: u64) -> TrainConfig {
        let (peak_lr, warmup) = match self {
            SymbolTask::Copy => (3e-3, 400),
            SymbolTask::Reverse => (2e-3, 200),
        };
        TrainConfig {
            steps: 4000,
            batch_size: 64,
            peak_lr,
            warmup,
            weight_decay: 0.01,
            dropout: 0.0,
            label_smoothing: 0.1,
            clip_norm: Some(1.0),
            eval_every: 500,
            seed,
        }
    }
}

/// `<bos> ids… <eos>`.
fn with_specials(ids: &[usize]) -> Vec<usize> {
    let mut out = vec![BOS_ID];
    out.extend_from_slice(ids);
    out.push(EOS_ID);
    out
}

/// The toy translation task: the corpus, its vocabularies and the examples as ids.
pub struct Translation {
    /// The English → Spanish pairs, training and held out.
    pub corpus: ParallelCorpus,
    /// English vocabulary.
    pub src_vocab: Vocab,
    /// Spanish vocabulary.
    pub tgt_vocab: Vocab,
    /// The training pairs as ids.
    pub train: Vec<Example>,
    /// The held-out pairs as ids.
    pub held_out: Vec<Example>,
}

impl Translation {
    /// The course's corpus ([`toy_translation_corpus`]) encoded with its vocabularies.
    pub fn new() -> Self {
        let corpus = toy_translation_corpus();
        let (src_vocab, tgt_vocab) = corpus.vocabs();
        let encode = |pairs: &[(String, String)]| -> Vec<Example> {
            (pairs.iter())
                .map(|p| encode_pair(&src_vocab, &tgt_vocab, p))
                .collect()
        };
        let (train, held_out) = (encode(&corpus.train), encode(&corpus.held_out));
        Translation {
            corpus,
            src_vocab,
            tgt_vocab,
            train,
            held_out,
        }
    }

    /// The translator: d_model 64, 4 heads, d_ff 128, 2 + 2 layers, post-LN.
    pub fn model_config(&self) -> Seq2SeqConfig {
        Seq2SeqConfig {
            transformer: TransformerConfig {
                d_model: 64,
                num_heads: 4,
                d_ff: 128,
                num_encoder_layers: 2,
                num_decoder_layers: 2,
                norm_position: NormPosition::Post,
            },
            src_vocab_size: self.src_vocab.len(),
            tgt_vocab_size: self.tgt_vocab.len(),
            max_len: 16,
            pad_id: PAD_ID,
        }
    }

    /// The recipe: 1,500 steps of 32 pairs, warm-up 200 to 1e-3, dropout 0.1, label
    /// smoothing 0.1, gradients clipped to norm 1.
    pub fn train_config(&self, seed: u64) -> TrainConfig {
        TrainConfig {
            steps: 1500,
            batch_size: 32,
            peak_lr: 1e-3,
            warmup: 200,
            weight_decay: 0.01,
            dropout: 0.1,
            label_smoothing: 0.1,
            clip_norm: Some(1.0),
            eval_every: 250,
            seed,
        }
    }

    /// Translates an English sentence by greedy decoding; returns the Spanish tokens up to
    /// and including `<eos>` (as the book prints them).
    pub fn translate(&self, model: &Seq2SeqTransformer, english: &str) -> Result<String> {
        let src = self.src_vocab.encode_with_specials(english);
        let max_new = model.config.max_len - 1;
        let ids = greedy_decode(model, &src, BOS_ID, EOS_ID, max_new)?;
        Ok(self.tgt_vocab.tokens_of(&ids[1..])?.join(" "))
    }
}

impl Default for Translation {
    fn default() -> Self {
        Self::new()
    }
}

/// The share of `examples` whose greedy decoding reproduces the target exactly (every token
/// through `<eos>`): the tasks' accuracy.
pub fn exact_match_accuracy(model: &Seq2SeqTransformer, examples: &[Example]) -> Result<f32> {
    if examples.is_empty() {
        return Err(Error::value("examples", "at least one example", "none"));
    }
    let mut right = 0;
    for (src, tgt) in examples {
        let max_new = (tgt.len() + 2).min(model.config.max_len - 1);
        let decoded = greedy_decode(model, src, BOS_ID, EOS_ID, max_new)?;
        right += (&decoded == tgt) as usize;
    }
    Ok(right as f32 / examples.len() as f32)
}
