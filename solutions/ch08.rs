//! Reference solutions — chapter 8, making attention fast (swapped in by the `solutions`
//! feature).
//!
//! [`wrong`] holds realistic mistakes; the exercise checks must reject every one of them.

use ndarray::Array1;

use crate::fast::OnlineSoftmax;

/// `ch08_online_softmax_step`: rescale the old state to the new maximum, then add the new key.
pub fn online_softmax_step(
    state: &OnlineSoftmax,
    score: f32,
    value: &Array1<f32>,
) -> OnlineSoftmax {
    if score == f32::NEG_INFINITY {
        return state.clone(); // a masked key has weight e^(−∞) = 0; and −∞ − (−∞) would be NaN
    }
    let max = state.max.max(score);
    let rescale = (state.max - max).exp(); // ≤ 1; e^(−∞) = 0 before the first key
    let weight = (score - max).exp(); // ≤ 1: never overflows
    OnlineSoftmax {
        max,
        sum: state.sum * rescale + weight,
        acc: &state.acc * rescale + value * weight,
    }
}

/// `ch08_merge_partial_softmax`: bring both blocks to the common maximum, add them, divide o by l.
pub fn merge_partial_softmax(a: &OnlineSoftmax, b: &OnlineSoftmax) -> (OnlineSoftmax, Array1<f32>) {
    let max = a.max.max(b.max);
    let merged = if max == f32::NEG_INFINITY {
        a.clone() // both blocks empty (fully masked): e^(−∞ − (−∞)) would be NaN
    } else {
        let (scale_a, scale_b) = ((a.max - max).exp(), (b.max - max).exp());
        OnlineSoftmax {
            max,
            sum: a.sum * scale_a + b.sum * scale_b,
            acc: &a.acc * scale_a + &b.acc * scale_b,
        }
    };
    let output = merged.finish(); // o / l, or zeros when no key had any weight (l = 0)
    (merged, output)
}

/// Realistic wrong answers, each rejected by its exercise's check.
pub mod wrong {
    use super::*;

    /// `ch08_online_softmax_step`, mistake: forgets to rescale the old sum and acc when the maximum rises
    /// (they stay relative to the old maximum).
    pub fn forgets_rescale(
        state: &OnlineSoftmax,
        score: f32,
        value: &Array1<f32>,
    ) -> OnlineSoftmax {
        if score == f32::NEG_INFINITY {
            return state.clone();
        }
        let max = state.max.max(score);
        let weight = (score - max).exp();
        OnlineSoftmax {
            max,
            sum: state.sum + weight,
            acc: &state.acc + &(value * weight),
        }
    }

    /// `ch08_online_softmax_step`, mistake: rescales by e^(m' − m) (≥ 1) instead of e^(m − m').
    pub fn inverted_rescale(
        state: &OnlineSoftmax,
        score: f32,
        value: &Array1<f32>,
    ) -> OnlineSoftmax {
        if score == f32::NEG_INFINITY {
            return state.clone();
        }
        let max = state.max.max(score);
        let rescale = (max - state.max).exp();
        let weight = (score - max).exp();
        OnlineSoftmax {
            max,
            sum: state.sum * rescale + weight,
            acc: &state.acc * rescale + value * weight,
        }
    }

    /// `ch08_online_softmax_step`, mistake: no special case for a masked key: before the first key
    /// m = m' = −∞ and e^(m − m') = e^(−∞ − (−∞)) = NaN.
    pub fn nan_for_masked_key(
        state: &OnlineSoftmax,
        score: f32,
        value: &Array1<f32>,
    ) -> OnlineSoftmax {
        let max = state.max.max(score);
        let rescale = (state.max - max).exp();
        let weight = (score - max).exp();
        OnlineSoftmax {
            max,
            sum: state.sum * rescale + weight,
            acc: &state.acc * rescale + value * weight,
        }
    }

    /// `ch08_merge_partial_softmax`, mistake: adds the two sums and accs as they are, although they are
    /// relative to different maxima.
    pub fn adds_sums_without_rescaling(
        a: &OnlineSoftmax,
        b: &OnlineSoftmax,
    ) -> (OnlineSoftmax, Array1<f32>) {
        let merged = OnlineSoftmax {
            max: a.max.max(b.max),
            sum: a.sum + b.sum,
            acc: &a.acc + &b.acc,
        };
        let output = merged.finish();
        (merged, output)
    }

    /// `ch08_merge_partial_softmax`, mistake: keeps only the block with the larger maximum (as if its keys
    /// dominated the softmax) and drops the other.
    pub fn keeps_larger_max_block(
        a: &OnlineSoftmax,
        b: &OnlineSoftmax,
    ) -> (OnlineSoftmax, Array1<f32>) {
        let merged = if b.max > a.max { b.clone() } else { a.clone() };
        let output = merged.finish();
        (merged, output)
    }

    /// `ch08_merge_partial_softmax`, mistake: divides each block's acc by its own sum before adding, then
    /// weighs the two block outputs by e^(mᵢ − m) alone, forgetting how much weight (l) each
    /// block carries. Right only when both sums are equal (e.g. one key per block).
    pub fn normalises_each_block_first(
        a: &OnlineSoftmax,
        b: &OnlineSoftmax,
    ) -> (OnlineSoftmax, Array1<f32>) {
        let max = a.max.max(b.max);
        let mut merged = OnlineSoftmax::new(a.acc.len());
        merged.max = max;
        for block in [a, b] {
            if block.sum > 0.0 {
                let scale = (block.max - max).exp();
                merged.sum += scale;
                merged.acc = &merged.acc + &(&block.acc / block.sum * scale);
            }
        }
        let output = merged.finish();
        (merged, output)
    }
}
