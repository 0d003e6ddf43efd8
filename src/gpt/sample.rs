//! Generating text: pick a next token from the last position's logits, append it, repeat.
//! Greedy decoding takes the most likely token; sampling draws one from the distribution,
//! reshaped by a temperature and cut to the top k tokens or to the top p of the probability.

use ndarray::{Array1, Array2, ArrayRef1, s};
use rand_chacha::rand_core::RngCore;

use crate::error::{Error, Result};
use crate::nn::SeededRng;

use super::model::Gpt;

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decoding {
    /// The most likely token (the first one on ties).
    Greedy,
    /// A draw from softmax(logits / temperature), kept to the `top_k` most likely tokens
    /// and then to the smallest set whose probability reaches `top_p`, renormalised.
    Sample {
        /// > 0; below 1 sharpens the distribution, above 1 flattens it.
        temperature: f32,
        /// Keep only the k most likely tokens (k ≥ 1), or all.
        top_k: Option<usize>,
        /// Keep the most likely tokens until their probability reaches p, in (0, 1], or all.
        top_p: Option<f32>,
    },
}

impl Decoding {
    /// Plain sampling at temperature 1, nothing cut.
    pub const SAMPLE: Decoding = Decoding::Sample {
        temperature: 1.0,
        top_k: None,
        top_p: None,
    };

    /// Errors on a temperature ≤ 0 (or not finite), top-k = 0 or top-p outside (0, 1].
    pub fn check(&self) -> Result<()> {
        if let Decoding::Sample {
            temperature,
            top_k,
            top_p,
        } = *self
        {
            if !(temperature > 0.0 && temperature.is_finite()) {
                let want = "a finite number > 0 (use Decoding::Greedy for the limit 0)";
                return Err(Error::value("temperature", want, temperature));
            }
            if top_k == Some(0) {
                return Err(Error::value("top_k", "at least 1 (or None: all tokens)", 0));
            }
            if let Some(p) = top_p
                && !(p > 0.0 && p <= 1.0)
            {
                return Err(Error::value("top_p", "a number in (0, 1] (or None)", p));
            }
        }
        Ok(())
    }
}

// ANCHOR: next_token_probabilities
/// The distribution the next token is drawn from, given the last position's `logits (V)`:
/// softmax(logits / temperature), then only the `top_k` largest kept, then only the most
/// likely tokens whose probabilities sum to at least `top_p` kept (the one that crosses p
/// included), renormalised to sum to 1. Greedy puts all the mass on the arg max.
pub fn next_token_probabilities(
    logits: &ArrayRef1<f32>,
    decoding: Decoding,
) -> Result<Array1<f32>> {
    decoding.check()?;
    if logits.is_empty() || logits.iter().any(|v| v.is_nan()) {
        return Err(Error::value(
            "logits",
            "at least one number, no NaN",
            "empty or NaN",
        ));
    }
    let Decoding::Sample {
        temperature,
        top_k,
        top_p,
    } = decoding
    else {
        let mut p = Array1::zeros(logits.len());
        p[argmax(logits)] = 1.0;
        return Ok(p);
    };
    let scaled = logits.mapv(|l| l / temperature); // (V)
    let max = scaled.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut p = scaled.mapv(|v| (v - max).exp()); // (V), unnormalised
    let mut order: Vec<usize> = (0..p.len()).collect(); // most likely first
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
    let mut keep = top_k.unwrap_or(p.len()).min(p.len());
    if let Some(top_p) = top_p {
        let total: f32 = order[..keep].iter().map(|&i| p[i]).sum();
        let mut sum = 0.0;
        keep = order[..keep]
            .iter()
            .position(|&i| {
                sum += p[i] / total;
                sum >= top_p
            })
            .map_or(keep, |last| last + 1);
    }
    for &i in &order[keep..] {
        p[i] = 0.0;
    }
    let total = p.sum();
    Ok(p / total)
}
// ANCHOR_END: next_token_probabilities

/// Index of the largest entry, the first one on ties.
fn argmax(x: &ArrayRef1<f32>) -> usize {
    (0..x.len()).fold(0, |best, i| if x[i] > x[best] { i } else { best })
}

/// One draw from the distribution `p` (sums to 1): the first index whose cumulative
/// probability exceeds a uniform number in [0, 1).
pub fn draw(p: &ArrayRef1<f32>, rng: &mut SeededRng) -> usize {
    let u = (rng.next_u32() >> 8) as f32 / (1 << 24) as f32; // [0, 1), 24 bits
    let mut cumulative = 0.0;
    for (i, &pi) in p.iter().enumerate() {
        cumulative += pi;
        if u < cumulative {
            return i;
        }
    }
    (0..p.len()).rev().find(|&i| p[i] > 0.0).unwrap_or(0) // rounding: the last possible one
}

// ANCHOR: generate
/// Continues `prompt` by up to `max_new_tokens` tokens, stopping early after `stop` if it is
/// generated; returns the new tokens only. Uses a KV cache: the prompt is run once, then
/// each step runs one position. Past `block_size` positions the context slides (as in
/// nanoGPT, the last block_size tokens are run again, without the cache).
pub fn generate(
    gpt: &Gpt,
    prompt: &[usize],
    max_new_tokens: usize,
    decoding: Decoding,
    stop: Option<usize>,
    rng: &mut SeededRng,
) -> Result<Vec<usize>> {
    check_request(gpt, prompt, decoding)?;
    let block_size = gpt.config.block_size;
    let mut tokens = prompt.to_vec();
    let mut caches = gpt.new_caches(1);
    let ids = Array2::from_shape_vec((1, prompt.len()), prompt.to_vec()).expect("1 row");
    let mut logits = gpt.forward_cached(&ids, &mut caches)?; // (1, len, V)
    let mut new = Vec::with_capacity(max_new_tokens);
    while new.len() < max_new_tokens {
        let last = logits.slice(s![0, -1, ..]); // (V)
        let next = draw(&next_token_probabilities(&last, decoding)?, rng);
        tokens.push(next);
        new.push(next);
        if Some(next) == stop || new.len() == max_new_tokens {
            break;
        }
        logits = if tokens.len() <= block_size {
            gpt.forward_cached(&ndarray::arr2(&[[next]]), &mut caches)? // (1, 1, V)
        } else {
            let window = &tokens[tokens.len() - block_size..];
            let ids = Array2::from_shape_vec((1, block_size), window.to_vec()).expect("1 row");
            gpt.forward(&ids)? // (1, block_size, V)
        };
    }
    Ok(new)
}
// ANCHOR_END: generate

/// Errors on bad sampling settings, an empty prompt or one longer than the context.
fn check_request(gpt: &Gpt, prompt: &[usize], decoding: Decoding) -> Result<()> {
    decoding.check()?;
    let block_size = gpt.config.block_size;
    if prompt.is_empty() || prompt.len() > block_size {
        let want = format!("1 to block_size = {block_size} tokens");
        return Err(Error::value("prompt (its length)", want, prompt.len()));
    }
    Ok(())
}

/// [`generate`] without the KV cache: the whole context (at most block_size tokens) runs at
/// every step. Slower, and the reference the cache is checked and timed against.
pub fn generate_uncached(
    gpt: &Gpt,
    prompt: &[usize],
    max_new_tokens: usize,
    decoding: Decoding,
    stop: Option<usize>,
    rng: &mut SeededRng,
) -> Result<Vec<usize>> {
    check_request(gpt, prompt, decoding)?;
    let block_size = gpt.config.block_size;
    let mut tokens = prompt.to_vec();
    let mut new = Vec::with_capacity(max_new_tokens);
    while new.len() < max_new_tokens {
        let window = &tokens[tokens.len().saturating_sub(block_size)..];
        let ids = Array2::from_shape_vec((1, window.len()), window.to_vec()).expect("1 row");
        let logits = gpt.forward(&ids)?; // (1, len, V)
        let next = draw(
            &next_token_probabilities(&logits.slice(s![0, -1, ..]), decoding)?,
            rng,
        );
        tokens.push(next);
        new.push(next);
        if Some(next) == stop {
            break;
        }
    }
    Ok(new)
}
