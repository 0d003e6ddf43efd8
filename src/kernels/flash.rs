//! Fused attention for one head, tile by tile in registers: chapter 8's memory-efficient
//! kernel ([`crate::fast::flash_attention`]) with the matrix products written out as
//! register-blocked loops instead of calls to a general matrix product.
//!
//! The algorithm is the chapter's: queries in blocks of [`QUERY_ROWS`], keys in blocks of
//! [`KEY_COLS`], an online softmax per query row. What changes is who does the products.
//! A general `matmul` first copies ("packs") both operands into its own order, and for
//! attention's shapes that copy costs about as much as the arithmetic: in P·V each score is
//! used for only d_v = 64 multiply-adds. Here nothing is packed:
//! - S = Q·Kᵀ reads K transposed once per head, in panels of 64 keys (`kt`), so each step
//!   along d_k multiplies one query entry by contiguous keys: [`scores_tile`] keeps a
//!   4 × `W` tile of scores in registers;
//! - O += P·V reads V as it is: each score multiplies one contiguous row of V
//!   ([`values_tile`], a 4 × `W` tile of outputs in registers);
//! - the softmax works on the block of scores while it is still in the L1 cache.
//!
//! The loops are plain Rust over fixed-size arrays; compiled for AVX-512 or AVX2 (picked at
//! run time), the compiler turns each into SIMD fused multiply-adds. Every output entry is the
//! same sequence of operations whatever the vector width (each sum runs in index order; the
//! row sums of the softmax use 16 fixed partial sums), so the result has the same bits on
//! every x86-64 CPU with FMA, and within float rounding of the chapter's kernel.

use ndarray::{Array2, ArrayRef2};

use crate::error::{Error, Result};

use super::exact::{EXACT_ROWS, exact_rows, write_weights};
use super::exp::exp_fma;
#[cfg(target_arch = "x86_64")]
use super::flash_simd::{
    scores_tile_avx2, scores_tile_avx512, values_tile_avx2, values_tile_avx512,
};

/// Query rows per block (the chapter's `QUERY_BLOCK`).
pub const QUERY_ROWS: usize = 64;
/// Keys per block (the chapter's `KEY_BLOCK`).
pub const KEY_COLS: usize = 128;
/// Rows of a register tile.
pub(super) const R: usize = 4;
/// Partial sums in a softmax row sum: one per AVX-512 lane (two AVX2 registers).
const LANES: usize = 16;

/// softmax(Q·Kᵀ/√d_k)·V for one head: `queries (tgt_len, d_k)`, `keys (src_len, d_k)`,
/// `values (src_len, d_v)` → `(tgt_len, d_v)`; with `causal`, query i sees keys 0..=i.
/// Fails with [`Error::Shape`] naming `keys` or `values` when they do not fit `queries`.
///
/// A row whose keys are all masked gives zeros; a NaN score gives a NaN row (as the
/// chapter's kernels do).
pub fn fused_attention_head(
    queries: &ArrayRef2<f32>,
    keys: &ArrayRef2<f32>,
    values: &ArrayRef2<f32>,
    causal: bool,
) -> Result<Array2<f32>> {
    Ok(dispatch::<false>(
        &Head::checked(queries, keys, values, causal)?,
        None,
    ))
}

/// Errors naming `keys` or `values` unless `queries (tgt_len, d_k)`, `keys (src_len, d_k)`
/// and `values (src_len, d_v)` fit together: the shape check of one head's attention.
pub fn check_head(
    queries: &ArrayRef2<f32>,
    keys: &ArrayRef2<f32>,
    values: &ArrayRef2<f32>,
) -> Result<()> {
    let (d_k, src_len) = (queries.ncols(), keys.nrows());
    if keys.ncols() != d_k {
        let want = format!("(src_len, {d_k}): d_k = {d_k} from `queries`");
        return Err(Error::shape("keys", want, keys.shape()));
    }
    if values.nrows() != src_len {
        let want = format!("({src_len}, d_v): src_len = {src_len} from `keys`");
        return Err(Error::shape("values", want, values.shape()));
    }
    Ok(())
}

/// [`attend`] compiled for the best instruction set this CPU has; `EXACT` picks the softmax.
/// With `weights` (`(tgt_len, src_len)`, zeros, exact softmax only), the softmax weights are
/// written there too.
pub(super) fn dispatch<const EXACT: bool>(head: &Head, weights: Weights) -> Array2<f32> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX-512F and FMA, checked just above.
            return unsafe { attend_avx512::<EXACT>(head, weights) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            return unsafe { attend_avx2::<EXACT>(head, weights) };
        }
    }
    attend::<32, EXACT>(head, weights)
}

/// Where the exact softmax writes its weights `(tgt_len, src_len)`, row-major, if anywhere.
pub(super) type Weights<'a> = Option<&'a mut [f32]>;

/// One head's inputs, row-major, in the layouts the tiles read.
pub(super) struct Head {
    pub(super) q: Vec<f32>,  // (tgt_len, d_k), already scaled by 1/√d_k
    pub(super) kt: Vec<f32>, // Kᵀ in panels of PANEL keys: (src_len / PANEL rounded up, d_k, PANEL)
    pub(super) v: Vec<f32>,  // (src_len, d_v)
    pub(super) tgt_len: usize,
    pub(super) src_len: usize,
    pub(super) d_k: usize,
    pub(super) d_v: usize,
    pub(super) causal: bool,
    /// `allowed[i][j]`: query i may attend to key j, `(tgt_len, src_len)`; `None`: all may.
    pub(super) allowed: Option<Vec<bool>>,
}

impl Head {
    /// [`Head::new`] after the shape checks: an error naming `keys` or `values` when they do
    /// not fit `queries`.
    pub(super) fn checked(
        queries: &ArrayRef2<f32>,
        keys: &ArrayRef2<f32>,
        values: &ArrayRef2<f32>,
        causal: bool,
    ) -> Result<Head> {
        check_head(queries, keys, values)?;
        Ok(Head::new(queries, keys, values, causal))
    }

    fn new(
        queries: &ArrayRef2<f32>,
        keys: &ArrayRef2<f32>,
        values: &ArrayRef2<f32>,
        causal: bool,
    ) -> Head {
        let scale = 1.0 / (queries.ncols() as f32).sqrt();
        Head {
            q: row_major(queries, |x| x * scale), // (tgt_len, d_k), ·1/√d_k
            kt: key_panels(keys),                 // (panels, d_k, PANEL)
            v: row_major(values, |x| x),          // (src_len, d_v)
            tgt_len: queries.nrows(),
            src_len: keys.nrows(),
            d_k: queries.ncols(),
            d_v: values.ncols(),
            causal,
            allowed: None,
        }
    }
}

/// `f` of every entry of `a`, row-major: straight from the slice when `a` is one (a head cut
/// out of a `(batch, heads, seq, d)` array is), which ndarray's element iterator is not.
fn row_major(a: &ArrayRef2<f32>, f: impl Fn(f32) -> f32) -> Vec<f32> {
    match a.as_slice() {
        Some(entries) => entries.iter().map(|&x| f(x)).collect(),
        None => a.iter().map(|&x| f(x)).collect(),
    }
}

/// Keys per panel of Kᵀ: a multiple of every tile width.
pub(super) const PANEL: usize = 64;

/// Kᵀ `(d_k, src_len)` cut into panels of [`PANEL`] keys, each `(d_k, PANEL)` and contiguous
/// (the last padded with zeros): a tile's keys for one step along d_k sit 64 floats after the
/// previous step's. In plain Kᵀ they would sit a whole row of `src_len` floats apart, a
/// power-of-two stride that makes every step's load land in the same few cache sets.
fn key_panels(keys: &ArrayRef2<f32>) -> Vec<f32> {
    let (src_len, d_k) = keys.dim();
    let mut kt = vec![0.0; src_len.div_ceil(PANEL) * d_k * PANEL];
    for (key, row) in keys.rows().into_iter().enumerate() {
        let first = panel_at(d_k, key, 0); // entry d of this key sits d · PANEL further on
        for (d, &x) in row.iter().enumerate() {
            kt[first + d * PANEL] = x;
        }
    }
    kt
}

/// Where key `key`'s entry `d` sits in [`key_panels`].
#[inline(always)]
fn panel_at(d_k: usize, key: usize, d: usize) -> usize {
    (key / PANEL) * d_k * PANEL + d * PANEL + key % PANEL
}

/// The panel holding key `key`, `(d_k, PANEL)`, and the key's column in it.
#[inline(always)]
pub(super) fn key_panel(head: &Head, key: usize) -> (&[f32], usize) {
    let panel = &head.kt[panel_at(head.d_k, key - key % PANEL, 0)..][..head.d_k * PANEL];
    (panel, key % PANEL)
}

/// 4 × 64 tiles: 16 AVX-512 registers of accumulators.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn attend_avx512<const EXACT: bool>(head: &Head, weights: Weights) -> Array2<f32> {
    attend::<64, EXACT>(head, weights)
}

/// 4 × 16 tiles: 8 of the 16 AVX2 registers hold accumulators, leaving room for the
/// loaded keys or values (4 × 32 spilled accumulators to memory: half the speed).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn attend_avx2<const EXACT: bool>(head: &Head, weights: Weights) -> Array2<f32> {
    attend::<16, EXACT>(head, weights)
}

/// The chapter's loop over query blocks and key blocks, with tiles `W` columns wide: the
/// online softmax, or with `EXACT` the plain one ([`super::exact::exact_rows`]).
#[inline(always)]
fn attend<const W: usize, const EXACT: bool>(head: &Head, mut weights: Weights) -> Array2<f32> {
    let (tgt_len, src_len, d_v) = (head.tgt_len, head.src_len, head.d_v);
    let mut output = Array2::zeros((tgt_len, d_v)); // (tgt_len, d_v)
    // One block of scores, (rows, KEY_COLS); the exact softmax keeps all of a row's blocks.
    let scores_len = if EXACT {
        src_len.div_ceil(KEY_COLS) * EXACT_ROWS * KEY_COLS
    } else {
        QUERY_ROWS * KEY_COLS
    };
    let mut scores = vec![0.0_f32; scores_len];
    let mut acc = vec![0.0_f32; QUERY_ROWS * d_v]; // running Σ exp(s − max)·v, (rows, d_v)
    let (mut max, mut sum) = ([0.0_f32; QUERY_ROWS], [0.0_f32; QUERY_ROWS]);
    // Whole rows of scores stay in the L2 cache only for fewer query rows at a time.
    let block_rows = if EXACT { EXACT_ROWS } else { QUERY_ROWS };
    for q_start in (0..tgt_len).step_by(block_rows) {
        let rows = block_rows.min(tgt_len - q_start);
        max[..rows].fill(f32::NEG_INFINITY);
        sum[..rows].fill(0.0);
        acc[..rows * d_v].fill(0.0);
        // With a causal mask, keys after the block's last query are never visible. The limit
        // is rounded up to whole panels of keys so that every tile is a full register tile
        // (the scalar edge tiles are several times slower); the extra keys are masked (−∞,
        // weight exactly 0) like every other key after its query.
        let key_limit = if head.causal {
            (q_start + rows).next_multiple_of(PANEL).min(src_len)
        } else {
            src_len
        };
        if EXACT {
            let rows = (q_start, rows);
            exact_rows::<W>(head, rows, key_limit, &mut scores, &mut sum, &mut acc);
            if let Some(weights) = weights.as_deref_mut() {
                write_weights(head, rows, key_limit, &scores, &sum, weights);
            }
        }
        for k_start in (0..key_limit).step_by(KEY_COLS).filter(|_| !EXACT) {
            let cols = KEY_COLS.min(key_limit - k_start);
            let block = Block {
                q_start,
                rows,
                k_start,
                cols,
            };
            block_scores::<W>(head, &block, &mut scores);
            for i in 0..rows {
                let row = &mut scores[i * KEY_COLS..i * KEY_COLS + cols];
                let acc_row = &mut acc[i * d_v..(i + 1) * d_v];
                online_softmax_row(row, &mut max[i], &mut sum[i], acc_row);
            }
            block_values::<W>(head, &block, &scores, &mut acc);
        }
        for i in 0..rows {
            // sum = 0: every key masked, the row stays zero; NaN propagates.
            if sum[i] > 0.0 || sum[i].is_nan() {
                let mut out_row = output.row_mut(q_start + i);
                let acc_row = &acc[i * d_v..(i + 1) * d_v];
                for (o, &a) in out_row.iter_mut().zip(acc_row) {
                    *o = a / sum[i];
                }
            }
        }
    }
    output
}

/// Which queries and keys a block covers.
pub(super) struct Block {
    pub(super) q_start: usize,
    pub(super) rows: usize,
    pub(super) k_start: usize,
    pub(super) cols: usize,
}

/// The block's scores `(rows, cols)` into `scores` (rows of `KEY_COLS`), masked ones −∞.
#[inline(always)]
pub(super) fn block_scores<const W: usize>(head: &Head, b: &Block, scores: &mut [f32]) {
    for i in (0..b.rows).step_by(R) {
        let r = R.min(b.rows - i);
        for j in (0..b.cols).step_by(W) {
            let w = W.min(b.cols - j);
            let at = (b.q_start + i, b.k_start + j);
            let out = &mut scores[i * KEY_COLS + j..];
            if r == R && w == W {
                // SAFETY: `W` is 64 only in `attend_avx512`, which runs on AVX-512F and FMA,
                // and 16 only in `attend_avx2`, on AVX2 and FMA.
                #[cfg(target_arch = "x86_64")]
                match W {
                    64 => unsafe { scores_tile_avx512(head, at, out) },
                    16 => unsafe { scores_tile_avx2(head, at, out) },
                    _ => scores_tile::<R, W>(head, at, out),
                }
                #[cfg(not(target_arch = "x86_64"))]
                scores_tile::<R, W>(head, at, out);
            } else {
                scores_edge(head, at, (r, w), out);
            }
        }
    }
    if head.causal {
        for i in 0..b.rows {
            let first_hidden = (b.q_start + i + 1).saturating_sub(b.k_start); // key > query
            let row = &mut scores[i * KEY_COLS..i * KEY_COLS + b.cols];
            row.iter_mut()
                .skip(first_hidden)
                .for_each(|s| *s = f32::NEG_INFINITY);
        }
    }
    if let Some(allowed) = &head.allowed {
        for i in 0..b.rows {
            let at = (b.q_start + i) * head.src_len + b.k_start;
            let row = &mut scores[i * KEY_COLS..i * KEY_COLS + b.cols];
            for (s, &ok) in row.iter_mut().zip(&allowed[at..at + b.cols]) {
                if !ok {
                    *s = f32::NEG_INFINITY;
                }
            }
        }
    }
}

// ANCHOR: scores_tile
/// S[i..i+RR, j..j+W] = Q[i..i+RR, :] · Kᵀ[:, j..j+W], the tile in registers: for each step
/// along d_k, one query entry per row times `W` contiguous keys.
#[inline(always)]
fn scores_tile<const RR: usize, const W: usize>(
    head: &Head,
    (i, j): (usize, usize),
    out: &mut [f32],
) {
    let d_k = head.d_k;
    let q_rows: [&[f32]; RR] = std::array::from_fn(|r| &head.q[(i + r) * d_k..][..d_k]);
    let mut tile = [[0.0_f32; W]; RR];
    let (panel, offset) = key_panel(head, j); // (d_k, PANEL), key j at column `offset`
    for (d, kt_row) in panel.chunks_exact(PANEL).enumerate() {
        let keys: &[f32; W] = kt_row[offset..offset + W].try_into().unwrap();
        for (tile_row, q_row) in tile.iter_mut().zip(&q_rows) {
            let q_rd = q_row[d];
            for (s, &k) in tile_row.iter_mut().zip(keys) {
                *s = q_rd.mul_add(k, *s);
            }
        }
    }
    for (r, tile_row) in tile.iter().enumerate() {
        out[r * KEY_COLS..r * KEY_COLS + W].copy_from_slice(tile_row);
    }
}
// ANCHOR_END: scores_tile

/// The same for a tile at the block's edge (`rr` ≤ R rows, `w` ≤ W keys), entry by entry in
/// the same order.
fn scores_edge(head: &Head, (i, j): (usize, usize), (rr, w): (usize, usize), out: &mut [f32]) {
    let d_k = head.d_k;
    for r in 0..rr {
        for c in 0..w {
            let mut s = 0.0_f32;
            for d in 0..d_k {
                s = head.q[(i + r) * d_k + d].mul_add(head.kt[panel_at(d_k, j + c, d)], s);
            }
            out[r * KEY_COLS + c] = s;
        }
    }
}

/// One query row of the online softmax over a block of its scores: the new running max,
/// the scores replaced by exp(s − max), the running sum and accumulator rescaled to it.
#[inline(always)]
fn online_softmax_row(row: &mut [f32], max: &mut f32, sum: &mut f32, acc: &mut [f32]) {
    let block_max = lane_max(row); // skips NaN
    let new_max = max.max(block_max);
    if new_max == f32::NEG_INFINITY {
        if row.iter().any(|x| x.is_nan()) {
            *sum = f32::NAN; // a NaN score, not a masked one: NaN output
        }
        row.fill(0.0); // every key so far is masked for this query
        return;
    }
    let rescale = exp_fma(*max - new_max); // exp(−∞) = 0 at first
    for s in row.iter_mut() {
        *s = exp_fma(*s - new_max); // masked keys: exp(−∞) = 0
    }
    *sum = *sum * rescale + lane_sum(row);
    for a in acc.iter_mut() {
        *a *= rescale;
    }
    *max = new_max;
}

/// The largest entry of `row`, NaNs skipped (−∞ when all are −∞ or NaN), from 16 partial
/// maxima: the same value as a plain fold, which the compiler would not vectorise.
#[inline(always)]
pub(super) fn lane_max(row: &[f32]) -> f32 {
    let mut partial = [f32::NEG_INFINITY; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (p, &x) in partial.iter_mut().zip(chunk) {
            *p = p.max(x);
        }
    }
    for (p, &x) in partial.iter_mut().zip(chunks.remainder()) {
        *p = p.max(x);
    }
    partial.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x))
}

/// Σ row in a fixed order: 16 partial sums (entry j into partial j mod 16), then those in
/// turn. A plain `iter().sum()` would be one long chain of dependent additions.
#[inline(always)]
pub(super) fn lane_sum(row: &[f32]) -> f32 {
    let mut partial = [0.0_f32; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (p, &x) in partial.iter_mut().zip(chunk) {
            *p += x;
        }
    }
    for (p, &x) in partial.iter_mut().zip(chunks.remainder()) {
        *p += x;
    }
    partial.iter().sum()
}

/// acc += P·V for the block: P `(rows, cols)` in `scores`, V's rows of the block's keys.
#[inline(always)]
pub(super) fn block_values<const W: usize>(
    head: &Head,
    b: &Block,
    scores: &[f32],
    acc: &mut [f32],
) {
    let d_v = head.d_v;
    for i in (0..b.rows).step_by(R) {
        let r = R.min(b.rows - i);
        for c in (0..d_v).step_by(W) {
            let w = W.min(d_v - c);
            if r == R && w == W {
                // SAFETY: as in `block_scores`: each width runs only on its instruction set.
                #[cfg(target_arch = "x86_64")]
                match W {
                    64 => unsafe { values_tile_avx512(head, b, (i, c), scores, acc) },
                    16 => unsafe { values_tile_avx2(head, b, (i, c), scores, acc) },
                    _ => values_tile::<R, W>(head, b, (i, c), scores, acc),
                }
                #[cfg(not(target_arch = "x86_64"))]
                values_tile::<R, W>(head, b, (i, c), scores, acc);
            } else {
                values_edge(head, b, (i, c), (r, w), scores, acc);
            }
        }
    }
}

/// acc[i..i+RR, c..c+W] += P[i..i+RR, :] · V[:, c..c+W], the tile in registers: for each
/// key, one score per row times `W` contiguous entries of that key's value.
#[inline(always)]
fn values_tile<const RR: usize, const W: usize>(
    head: &Head,
    b: &Block,
    (i, c): (usize, usize),
    scores: &[f32],
    acc: &mut [f32],
) {
    let d_v = head.d_v;
    let mut tile = [[0.0_f32; W]; RR];
    for (r, tile_row) in tile.iter_mut().enumerate() {
        tile_row.copy_from_slice(&acc[(i + r) * d_v + c..(i + r) * d_v + c + W]);
    }
    for j in 0..b.cols {
        let at = (b.k_start + j) * d_v + c;
        let value: &[f32; W] = head.v[at..at + W].try_into().unwrap();
        for (r, tile_row) in tile.iter_mut().enumerate() {
            let p = scores[(i + r) * KEY_COLS + j];
            for (a, &v) in tile_row.iter_mut().zip(value) {
                *a = p.mul_add(v, *a);
            }
        }
    }
    for (r, tile_row) in tile.iter().enumerate() {
        acc[(i + r) * d_v + c..(i + r) * d_v + c + W].copy_from_slice(tile_row);
    }
}

/// The same for a tile at the edge (`rr` ≤ R rows, `w` ≤ W columns), in the same order.
fn values_edge(
    head: &Head,
    b: &Block,
    (i, c): (usize, usize),
    (rr, w): (usize, usize),
    scores: &[f32],
    acc: &mut [f32],
) {
    let d_v = head.d_v;
    for r in 0..rr {
        for col in c..c + w {
            let mut a = acc[(i + r) * d_v + col];
            for j in 0..b.cols {
                a = scores[(i + r) * KEY_COLS + j].mul_add(head.v[(b.k_start + j) * d_v + col], a);
            }
            acc[(i + r) * d_v + col] = a;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{init::uniform, seeded_rng};

    /// Shapes crossing every tile and block edge: query blocks of 64 and tiles of 4 rows,
    /// key blocks of 128 and tiles of 32 or 64, head dimensions below, at and above a tile.
    const SHAPES: [(usize, usize, usize, usize); 5] = [
        (1, 1, 1, 1),
        (7, 5, 3, 2),
        (130, 200, 64, 64),
        (67, 300, 33, 80),
        (257, 129, 16, 128),
    ];

    fn inputs(shape: (usize, usize, usize, usize), seed: u64) -> [Array2<f32>; 3] {
        let (tgt, src, d_k, d_v) = shape;
        let mut rng = seeded_rng(seed);
        [
            uniform((tgt, d_k), 2.0, &mut rng),
            uniform((src, d_k), 2.0, &mut rng),
            uniform((src, d_v), 1.0, &mut rng),
        ]
    }

    /// The AVX-512, AVX2 and portable versions give the same bits, for both softmaxes: the
    /// stored notebook outputs and the book's numbers must not depend on the CPU.
    #[test]
    fn every_instruction_set_gives_the_same_bits() {
        same_bits::<false>();
        same_bits::<true>();
    }

    /// With `EXACT`, the weights too, and under a mask (every third key hidden) as well as
    /// causal or none.
    fn same_bits<const EXACT: bool>() {
        type Attend = unsafe fn(&Head, Weights) -> Array2<f32>;
        let bits = |a: &[f32]| a.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for (n, &shape) in SHAPES.iter().enumerate() {
            let [q, k, v] = inputs(shape, 10 + n as u64);
            for (causal, masked) in [(false, false), (true, false), (false, true)] {
                let mut head = Head::new(&q, &k, &v, causal);
                let (tgt, src) = (head.tgt_len, head.src_len);
                head.allowed = masked.then(|| (0..tgt * src).map(|i| i % 3 != 1).collect());
                // Output and weights of one instruction set's version.
                let run = |attend: Attend| {
                    let mut weights = vec![0.0_f32; tgt * src];
                    // SAFETY: only called below for the instruction sets this CPU has.
                    let out = unsafe { attend(&head, EXACT.then_some(&mut weights[..])) };
                    (bits(out.as_slice().unwrap()), bits(&weights))
                };
                let portable = run(attend::<32, EXACT>);
                #[cfg(target_arch = "x86_64")]
                {
                    let fma = is_x86_feature_detected!("fma");
                    if fma && is_x86_feature_detected!("avx2") {
                        let avx2 = run(attend_avx2::<EXACT>);
                        assert_eq!(avx2, portable, "{shape:?} AVX2 {EXACT} {causal} {masked}");
                    }
                    if fma && is_x86_feature_detected!("avx512f") {
                        let avx512 = run(attend_avx512::<EXACT>);
                        assert_eq!(
                            avx512, portable,
                            "{shape:?} AVX-512 {EXACT} {causal} {masked}"
                        );
                    }
                }
                let finite = |b: &Vec<u32>| b.iter().all(|&x| f32::from_bits(x).is_finite());
                assert!(finite(&portable.0) && finite(&portable.1), "{shape:?}");
            }
        }
    }

    #[test]
    fn a_nan_score_gives_a_nan_row_and_masked_keys_get_no_weight() {
        let [mut q, k, v] = inputs((70, 150, 8, 64), 3);
        q[[66, 2]] = f32::NAN;
        let out = fused_attention_head(&q, &k, &v, true).unwrap();
        assert!(out.row(66).iter().all(|x| x.is_nan()), "row 66 is NaN");
        assert!(out.row(65).iter().all(|x| x.is_finite()), "row 65 is not");
        // Causal row 0 sees key 0 only: its output is value 0.
        assert!((&out.row(0) - &v.row(0)).iter().all(|d| d.abs() <= 1e-6));
    }
}
