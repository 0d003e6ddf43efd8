//! Where the time and the memory of attention go: the arithmetic behind chapter 8.
//!
//! For one head with `n` queries, `n` keys and head size `d`, softmax(Q·Kᵀ/√d)·V is two
//! matrix products of `n · n · d` multiply-adds each (2 floating-point operations apiece),
//! plus `n²` exponentials; the score matrix it passes between them holds `n²` numbers.
//!
//! ```
//! use attention::fast::{attention_flops, score_matrix_bytes};
//!
//! // 8 heads of 64 at seq 16384: 550 GFLOP, and 8.6 GB of scores if they are materialised.
//! assert_eq!(attention_flops(1, 8, 16384, 64, false), 549_755_813_888);
//! assert_eq!(score_matrix_bytes(1, 8, 16384), 8_589_934_592);
//! ```

// ANCHOR: cost
/// Floating-point operations of attention on `(batch, heads, seq, head_dim)` inputs:
/// Q·Kᵀ and weights·V are 2·n²·d each (a multiply and an add per term), so 4·n²·d per head.
/// A causal mask needs only the lower triangle: half of it.
pub fn attention_flops(
    batch: usize,
    heads: usize,
    seq: usize,
    head_dim: usize,
    causal: bool,
) -> u64 {
    let per_head = 4 * (seq as u64) * (seq as u64) * head_dim as u64;
    let all = (batch * heads) as u64 * per_head;
    if causal { all / 2 } else { all }
}

/// Bytes of the `f32` score matrices `(batch, heads, seq, seq)` that plain attention
/// materialises: 4 bytes × n² per head.
pub fn score_matrix_bytes(batch: usize, heads: usize, seq: usize) -> u64 {
    4 * (batch * heads) as u64 * (seq as u64) * (seq as u64)
}

/// Bytes of Q, K, V and the output, `(batch, heads, seq, head_dim)` each, in `f32`: what
/// attention needs at the least, 4 arrays × 4 bytes × n·d per head.
pub fn input_output_bytes(batch: usize, heads: usize, seq: usize, head_dim: usize) -> u64 {
    4 * 4 * (batch * heads) as u64 * (seq * head_dim) as u64
}
// ANCHOR_END: cost

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_formulas_by_hand() {
        // One head, n = 2, d = 3: Q·Kᵀ is 2·2·3 multiply-adds, weights·V the same.
        assert_eq!(attention_flops(1, 1, 2, 3, false), 48);
        assert_eq!(attention_flops(1, 1, 2, 3, true), 24);
        assert_eq!(
            attention_flops(2, 8, 512, 64, false),
            16 * 4 * 512 * 512 * 64
        );
        assert_eq!(score_matrix_bytes(1, 1, 16384), 1 << 30); // 1 GiB per head
        assert_eq!(input_output_bytes(1, 1, 10, 4), 4 * 4 * 40);
    }
}
