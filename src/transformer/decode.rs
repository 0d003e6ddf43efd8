//! Greedy decoding: generate the target one token at a time, always taking the most likely.

use ndarray::{Array2, Axis, s};

use super::Seq2SeqTransformer;
use crate::error::{Error, Result};

// ANCHOR: greedy_decode
/// Translates `src_ids` (one sequence) by greedy decoding.
///
/// Starts the target with `bos_id`, then repeatedly runs the decoder on the target so far,
/// takes the logits of the **last** position, appends their argmax, and stops after `eos_id`
/// or after `max_new_tokens` steps, or when the target reaches the model's `max_len` (the
/// longest sequence its positions cover): what was generated so far is returned. Returns the
/// target ids including the leading `bos_id`. Every argument is checked before anything
/// runs. The encoder runs once; the decoder re-reads the whole prefix each step (a KV cache
/// would avoid that).
pub fn greedy_decode(
    model: &Seq2SeqTransformer,
    src_ids: &[usize],
    bos_id: usize,
    eos_id: usize,
    max_new_tokens: usize,
) -> Result<Vec<usize>> {
    let config = &model.config;
    if src_ids.is_empty() || src_ids.len() > config.max_len {
        let want = format!("(src_len) with 1 ≤ src_len ≤ max_len = {}", config.max_len);
        return Err(Error::shape("src_ids", want, &[src_ids.len()]));
    }
    if let Some(&id) = src_ids.iter().find(|&&id| id >= config.src_vocab_size) {
        let want = format!("ids below src_vocab_size = {}", config.src_vocab_size);
        return Err(Error::value("src_ids", want, id));
    }
    for (name, id) in [("bos_id", bos_id), ("eos_id", eos_id)] {
        if id >= config.tgt_vocab_size {
            let want = format!("an id below tgt_vocab_size = {}", config.tgt_vocab_size);
            return Err(Error::value(name, want, id));
        }
    }
    let src = Array2::from_shape_vec((1, src_ids.len()), src_ids.to_vec()).expect("1 × len");
    let (memory, src_mask) = model.encode(&src)?; // (1, src_len, d_model), run once
    let mut tokens = vec![bos_id];
    for _ in 0..max_new_tokens.min(config.max_len - 1) {
        let tgt = Array2::from_shape_vec((1, tokens.len()), tokens.clone()).expect("1 × len");
        let decoded = model.decode(&tgt, &memory, &src_mask)?; // (1, tgt_len, d_model)
        let last = decoded.slice(s![.., -1.., ..]); // (1, 1, d_model)
        let logits = model.generator.forward(&last)?; // (1, 1, tgt_vocab_size)
        let next = argmax(logits.index_axis(Axis(0), 0).row(0).iter());
        tokens.push(next);
        if next == eos_id {
            break;
        }
    }
    Ok(tokens)
}
// ANCHOR_END: greedy_decode

/// Index of the largest value (the first one on ties).
fn argmax<'a>(values: impl Iterator<Item = &'a f32>) -> usize {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, &v) in values.enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0
}
