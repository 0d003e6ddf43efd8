//! The two register tiles of [`super::fused_attention_head`] (and
//! [`super::exact_attention_head`]) with their SIMD registers written out for AVX-512 and
//! AVX2: the same operations in the same order as the portable loops in `flash.rs` (so the
//! same bits), with each loaded vector kept in a register for the tile's four rows.

use super::flash::{Block, Head, KEY_COLS, PANEL, R, key_panel};

/// [`super::flash`]'s `scores_tile` with the SIMD registers written out, for AVX-512 (4 × 64: four key
/// vectors of 16) and AVX2 (4 × 16: two of 8). The same operations in the same order (so the
/// same bits), but each step's key vectors are loaded once and kept in registers for the four
/// queries. Compiled from the portable loop, the loads were repeated for every query (16
/// loads and 4 broadcasts per 16 multiply-adds with AVX-512, more than the core's one 512-bit
/// load per cycle can feed), or the accumulators spilled to memory (AVX2).
macro_rules! scores_tile_simd {
    ($name:ident, $feature:literal, $vector:ty, $lanes:literal, $vectors:literal,
     $zero:ident, $load:ident, $set1:ident, $fmadd:ident, $store:ident) => {
        #[target_feature(enable = $feature)]
        pub(super) unsafe fn $name(head: &Head, (i, j): (usize, usize), out: &mut [f32]) {
            use std::arch::x86_64::*;
            const W: usize = $lanes * $vectors;
            let d_k = head.d_k;
            let q_rows: [&[f32]; R] = std::array::from_fn(|r| &head.q[(i + r) * d_k..][..d_k]);
            let mut tile: [[$vector; $vectors]; R] = [[$zero(); $vectors]; R];
            let (panel, offset) = key_panel(head, j); // (d_k, PANEL), key j at `offset`
            for (d, kt_row) in panel.chunks_exact(PANEL).enumerate() {
                let keys = &kt_row[offset..offset + W];
                let k: [$vector; $vectors] = std::array::from_fn(|c| {
                    // SAFETY: `keys` holds W floats; an unaligned load reads `$lanes` of them.
                    unsafe { $load(keys[$lanes * c..].as_ptr()) }
                });
                for (tile_row, q_row) in tile.iter_mut().zip(&q_rows) {
                    let q_rd = $set1(q_row[d]);
                    for (acc, &k) in tile_row.iter_mut().zip(&k) {
                        *acc = $fmadd(q_rd, k, *acc);
                    }
                }
            }
            for (r, tile_row) in tile.iter().enumerate() {
                let row = &mut out[r * KEY_COLS..r * KEY_COLS + W];
                for (c, &acc) in tile_row.iter().enumerate() {
                    // SAFETY: `row` holds W floats; an unaligned store writes `$lanes`.
                    unsafe { $store(row[$lanes * c..].as_mut_ptr(), acc) };
                }
            }
        }
    };
}

scores_tile_simd!(
    scores_tile_avx512,
    "avx512f,fma",
    __m512,
    16,
    4,
    _mm512_setzero_ps,
    _mm512_loadu_ps,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_storeu_ps
);
scores_tile_simd!(
    scores_tile_avx2,
    "avx2,fma",
    __m256,
    8,
    2,
    _mm256_setzero_ps,
    _mm256_loadu_ps,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    _mm256_storeu_ps
);

/// `values_tile` with the SIMD registers written out, as `scores_tile_simd` does for the
/// scores: each key's value vectors are loaded once for the four rows (compiled from the
/// portable loop, they were loaded again for every row). Same operations, same order.
macro_rules! values_tile_simd {
    ($name:ident, $feature:literal, $vector:ty, $lanes:literal, $vectors:literal,
     $load:ident, $set1:ident, $fmadd:ident, $store:ident) => {
        #[target_feature(enable = $feature)]
        pub(super) unsafe fn $name(
            head: &Head,
            b: &Block,
            (i, c): (usize, usize),
            scores: &[f32],
            acc: &mut [f32],
        ) {
            use std::arch::x86_64::*;
            const W: usize = $lanes * $vectors;
            let d_v = head.d_v;
            let mut tile: [[$vector; $vectors]; R] = std::array::from_fn(|r| {
                let row = &acc[(i + r) * d_v + c..(i + r) * d_v + c + W];
                // SAFETY: `row` holds W floats; an unaligned load reads `$lanes` of them.
                std::array::from_fn(|v| unsafe { $load(row[$lanes * v..].as_ptr()) })
            });
            for j in 0..b.cols {
                let value = &head.v[(b.k_start + j) * d_v + c..][..W];
                let v: [$vector; $vectors] = std::array::from_fn(|x| {
                    // SAFETY: `value` holds W floats.
                    unsafe { $load(value[$lanes * x..].as_ptr()) }
                });
                for (r, tile_row) in tile.iter_mut().enumerate() {
                    let p = $set1(scores[(i + r) * KEY_COLS + j]);
                    for (a, &v) in tile_row.iter_mut().zip(&v) {
                        *a = $fmadd(p, v, *a);
                    }
                }
            }
            for (r, tile_row) in tile.iter().enumerate() {
                let row = &mut acc[(i + r) * d_v + c..(i + r) * d_v + c + W];
                for (x, &a) in tile_row.iter().enumerate() {
                    // SAFETY: `row` holds W floats; an unaligned store writes `$lanes`.
                    unsafe { $store(row[$lanes * x..].as_mut_ptr(), a) };
                }
            }
        }
    };
}

values_tile_simd!(
    values_tile_avx512,
    "avx512f,fma",
    __m512,
    16,
    4,
    _mm512_loadu_ps,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_storeu_ps
);
values_tile_simd!(
    values_tile_avx2,
    "avx2,fma",
    __m256,
    8,
    2,
    _mm256_loadu_ps,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    _mm256_storeu_ps
);
