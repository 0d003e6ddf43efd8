//! Reference solutions — chapter 10, decoder-only: a GPT (swapped in by the `solutions`
//! feature).
//!
//! [`wrong`] holds realistic mistakes; the exercise checks must reject every one of them.

use ndarray::Array1;

/// `ch10_next_token_pairs`: the window, and the same window one token later.
pub fn next_token_pairs(
    ids: &[usize],
    start: usize,
    block_size: usize,
) -> (Vec<usize>, Vec<usize>) {
    let x = ids[start..start + block_size].to_vec();
    let y = ids[start + 1..start + block_size + 1].to_vec(); // shifted by one
    (x, y)
}

/// `ch10_temperature_softmax`: softmax(logits / T), stable.
pub fn temperature_softmax(logits: &Array1<f32>, temperature: f32) -> Array1<f32> {
    let scaled = logits / temperature;
    let max = scaled.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let e = scaled.mapv(|v| (v - max).exp());
    let sum = e.sum();
    e / sum
}

/// `ch10_top_p_filter`: the smallest most-likely prefix reaching p, renormalised.
pub fn top_p_filter(probs: &Array1<f32>, top_p: f32) -> Array1<f32> {
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b))); // most likely first
    let mut kept = Array1::zeros(probs.len());
    let mut sum = 0.0;
    for &i in &order {
        kept[i] = probs[i];
        sum += probs[i];
        if sum >= top_p {
            break; // the token that crosses p is kept
        }
    }
    kept / sum
}

/// `ch10_attend_with_cache`: append, then attend over everything cached.
pub fn attend_with_cache(
    q: &Array1<f32>,
    k: &Array1<f32>,
    v: &Array1<f32>,
    keys: &mut Vec<Array1<f32>>,
    values: &mut Vec<Array1<f32>>,
) -> Array1<f32> {
    keys.push(k.clone());
    values.push(v.clone());
    attend_over(q, keys, values)
}

/// Σᵢ softmax(q·kᵢ/√hs)ᵢ · vᵢ over the given rows (at least one).
fn attend_over(q: &Array1<f32>, keys: &[Array1<f32>], values: &[Array1<f32>]) -> Array1<f32> {
    let scale = (q.len() as f32).sqrt();
    let scores: Vec<f32> = keys.iter().map(|k| q.dot(k) / scale).collect();
    let max = scores.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
    let weights: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
    let sum: f32 = weights.iter().sum();
    let mut out = Array1::zeros(q.len());
    for (w, v) in weights.iter().zip(values) {
        out.scaled_add(w / sum, v);
    }
    out
}

/// Realistic wrong answers, each rejected by its exercise's check.
pub mod wrong {
    use super::*;

    /// `ch10_next_token_pairs`, mistake: y is the window itself (predicts the current token).
    pub fn targets_not_shifted(
        ids: &[usize],
        start: usize,
        block_size: usize,
    ) -> (Vec<usize>, Vec<usize>) {
        let x = ids[start..start + block_size].to_vec();
        (x.clone(), x)
    }

    /// `ch10_next_token_pairs`, mistake: y is the window one token *earlier*.
    pub fn shifted_backwards(
        ids: &[usize],
        start: usize,
        block_size: usize,
    ) -> (Vec<usize>, Vec<usize>) {
        let x = ids[start..start + block_size].to_vec();
        let from = start.saturating_sub(1);
        (x, ids[from..from + block_size].to_vec())
    }

    /// `ch10_temperature_softmax`, mistake: multiplies by T instead of dividing.
    pub fn multiplies_by_temperature(logits: &Array1<f32>, temperature: f32) -> Array1<f32> {
        super::temperature_softmax(&(logits * temperature * temperature), temperature)
    }

    /// `ch10_temperature_softmax`, mistake: no maximum subtracted (overflow, NaN).
    pub fn unstable(logits: &Array1<f32>, temperature: f32) -> Array1<f32> {
        let e = (logits / temperature).mapv(f32::exp);
        let sum = e.sum();
        e / sum
    }

    /// `ch10_top_p_filter`, mistake: stops before the token that crosses p.
    pub fn drops_the_crossing_token(probs: &Array1<f32>, top_p: f32) -> Array1<f32> {
        let mut order: Vec<usize> = (0..probs.len()).collect();
        order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
        let mut kept = Array1::zeros(probs.len());
        let mut sum = 0.0;
        for &i in &order {
            if sum + probs[i] > top_p && sum > 0.0 {
                break;
            }
            kept[i] = probs[i];
            sum += probs[i];
        }
        kept / sum
    }

    /// `ch10_top_p_filter`, mistake: keeps tokens in index order, not by probability.
    pub fn index_order(probs: &Array1<f32>, top_p: f32) -> Array1<f32> {
        let mut kept = Array1::zeros(probs.len());
        let mut sum = 0.0;
        for i in 0..probs.len() {
            kept[i] = probs[i];
            sum += probs[i];
            if sum >= top_p {
                break;
            }
        }
        kept / sum
    }

    /// `ch10_top_p_filter`, mistake: zeroes the rest but does not renormalise.
    pub fn not_renormalised(probs: &Array1<f32>, top_p: f32) -> Array1<f32> {
        let filtered = super::top_p_filter(probs, top_p);
        let sum: f32 = (0..probs.len())
            .filter(|&i| filtered[i] > 0.0)
            .map(|i| probs[i])
            .sum();
        filtered * sum
    }

    /// `ch10_attend_with_cache`, mistake: attends before appending (the token cannot see
    /// itself; the first step has nothing to attend to and gives zeros).
    pub fn attends_before_appending(
        q: &Array1<f32>,
        k: &Array1<f32>,
        v: &Array1<f32>,
        keys: &mut Vec<Array1<f32>>,
        values: &mut Vec<Array1<f32>>,
    ) -> Array1<f32> {
        let out = if keys.is_empty() {
            Array1::zeros(q.len())
        } else {
            super::attend_over(q, keys, values)
        };
        keys.push(k.clone());
        values.push(v.clone());
        out
    }

    /// `ch10_attend_with_cache`, mistake: forgets the 1/√hs scaling.
    pub fn unscaled(
        q: &Array1<f32>,
        k: &Array1<f32>,
        v: &Array1<f32>,
        keys: &mut Vec<Array1<f32>>,
        values: &mut Vec<Array1<f32>>,
    ) -> Array1<f32> {
        let root = (q.len() as f32).sqrt();
        super::attend_with_cache(&(q * root), k, v, keys, values)
    }

    /// `ch10_attend_with_cache`, mistake: overwrites the cache with the new token instead of
    /// appending (attends to itself only).
    pub fn replaces_the_cache(
        q: &Array1<f32>,
        k: &Array1<f32>,
        v: &Array1<f32>,
        keys: &mut Vec<Array1<f32>>,
        values: &mut Vec<Array1<f32>>,
    ) -> Array1<f32> {
        keys.clear();
        values.clear();
        super::attend_with_cache(q, k, v, keys, values)
    }
}
