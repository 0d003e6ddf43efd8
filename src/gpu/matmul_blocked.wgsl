// C = A · B (+ bias) for row-major A (m, k), B (k, n) and C (m, n): a register-blocked
// matrix product, the fast version of matmul.wgsl.
//
// matmul.wgsl computes one element of C per invocation: every multiply-add needs two reads
// from workgroup memory. Here a workgroup of 16 × 16 invocations computes a 128 × 128 tile of
// C, and each invocation an 8 × 8 block of it, held in registers (64 accumulators). For each
// step along k it reads 8 values of A and 8 of B (four vec4 reads) from workgroup memory and
// does 64 multiply-adds with them: 16 times fewer workgroup-memory reads per multiply-add than
// matmul.wgsl, in 4 times wider reads. Each element of A and B is read from GPU memory n / 128
// or m / 128 times instead of n / 16 or m / 16.
//
// With `has_bias`, bias (n) is added to every row of C as it is written (a linear layer's
// x · Wᵀ + b in one pass); without it the `bias` binding is not read.

struct Dims {
    m: u32,
    k: u32,
    n: u32,
    has_bias: u32, // 1: add bias (n) to every row
}

@group(0) @binding(0) var<storage, read> a: array<f32>;       // (m, k)
@group(0) @binding(1) var<storage, read> b: array<f32>;       // (k, n)
@group(0) @binding(2) var<storage, read_write> c: array<f32>; // (m, n)
@group(0) @binding(3) var<uniform> dims: Dims;
@group(0) @binding(4) var<storage, read> bias: array<f32>;    // (n), read only with has_bias

// ANCHOR: blocked_matmul
const TILE: u32 = 128u;   // C tile edge per workgroup
const THREADS: u32 = 16u; // invocations along each edge: 256 in all, 8 × 8 outputs each
const HALF: u32 = 64u;    // TILE / 2: an invocation's rows (and columns) come in two halves
const DEPTH: u32 = 8u;    // steps along k per tile load
const ROW4: u32 = TILE / 4u; // vec4s in a tile row

// Each invocation owns rows 4·local.y + {0..4} and 64 + 4·local.y + {0..4} of C's tile, and
// the same columns by local.x: two vec4s of rows by two vec4s of columns. The halves 64 apart
// make neighbouring invocations read neighbouring vec4s of B (and the same vec4 of A).
//
// Both tiles are stored k-major, so that a step along k reads a row of each:
// a_tile[s][kk * 32 + r] holds A[r·4 .. r·4 + 4][kk] (A transposed: 4 rows of C in one vec4),
// b_tile[s][kk * 32 + q] holds B[kk][q·4 .. q·4 + 4] (4 columns of C).
// Two of each (s = 0, 1): the invocations compute with one while they fill the other with
// the next step along k, so one barrier per tile suffices. 2 × 2 × 8 × 128 floats = 16 KiB.
var<workgroup> a_tile: array<array<vec4<f32>, DEPTH * ROW4>, 2>; // (2, DEPTH, TILE) of Aᵀ
var<workgroup> b_tile: array<array<vec4<f32>, DEPTH * ROW4>, 2>; // (2, DEPTH, TILE) of B

@compute @workgroup_size(THREADS, THREADS)
fn main(
    @builtin(workgroup_id) tile: vec3<u32>,         // which tile of C: (column, row)
    @builtin(local_invocation_id) local: vec3<u32>, // which 8 × 8 block of it: (column, row)
    @builtin(local_invocation_index) lane: u32,     // 0..256, for the cooperative loads
) {
    let row0 = tile.y * TILE; // first row of C's tile
    let col0 = tile.x * TILE; // first column of C's tile

    // The cooperative loads: each invocation copies 4 values of A and 4 of B per tile.
    // A's 128 × 8 tile: invocation `lane` takes row lane / 2, k steps 4·(lane % 2) .. + 4
    // (pairs of invocations read one row's 8 neighbouring values).
    // B's 8 × 128 tile: row lane / 32, columns 4·(lane % 32) .. + 4 (a warp reads one row).
    let a_row = lane / 2u;
    let a_k = (lane % 2u) * 4u;
    let b_k = lane / 32u;
    let b_col = (lane % 32u) * 4u;
    var a_next: vec4<f32>; // A[row0 + a_row][start + a_k .. + 4], zeros past the edges
    var b_next: vec4<f32>; // B[start + b_k][col0 + b_col .. + 4], zeros past the edges

    var acc: array<vec4<f32>, 16>; // acc[2i + h]: row i of the block, columns of half h

    load(row0 + a_row, 0u + a_k, 0u + b_k, col0 + b_col, &a_next, &b_next);
    store(0u, a_row, a_k, b_k, b_col, a_next, b_next);
    workgroupBarrier(); // the first tiles are loaded

    var s = 0u; // the tiles to compute with
    for (var start = 0u; start < dims.k; start += DEPTH) {
        let next = start + DEPTH;
        let more = next < dims.k;
        // Fetch the next tiles from GPU memory into registers now; they arrive while we compute.
        if (more) { load(row0 + a_row, next + a_k, next + b_k, col0 + b_col, &a_next, &b_next); }

        for (var kk = 0u; kk < DEPTH; kk++) {
            // Rows 4·local.y .. + 4 and 64 + 4·local.y .. + 4 of A's column kk, and the same
            // columns of B's row kk: 4 vec4 reads for 64 multiply-adds.
            let a_lo = a_tile[s][kk * ROW4 + local.y];
            let a_hi = a_tile[s][kk * ROW4 + HALF / 4u + local.y];
            let b_lo = b_tile[s][kk * ROW4 + local.x];
            let b_hi = b_tile[s][kk * ROW4 + HALF / 4u + local.x];
            for (var i = 0u; i < 4u; i++) {
                acc[2u * i] += a_lo[i] * b_lo;
                acc[2u * i + 1u] += a_lo[i] * b_hi;
                acc[2u * i + 8u] += a_hi[i] * b_lo;
                acc[2u * i + 9u] += a_hi[i] * b_hi;
            }
        }

        if (more) { store(1u - s, a_row, a_k, b_k, b_col, a_next, b_next); }
        // The next tiles are in place, and nobody reads tiles `s` any more: the next step may
        // overwrite them.
        workgroupBarrier();
        s = 1u - s;
    }

    for (var i = 0u; i < 8u; i++) {
        let row = row0 + (i / 4u) * HALF + local.y * 4u + i % 4u;
        if (row >= dims.m) { continue; }
        for (var h = 0u; h < 2u; h++) {
            let block = acc[2u * i + h];
            for (var j = 0u; j < 4u; j++) {
                let col = col0 + h * HALF + local.x * 4u + j;
                if (col < dims.n) {
                    var x = block[j];
                    if (dims.has_bias == 1u) { x += bias[col]; }
                    c[row * dims.n + col] = x;
                }
            }
        }
    }
}

/// Reads A[row][k .. k + 4] and B[kk][col .. col + 4] from GPU memory, zeros past the edges.
fn load(row: u32, k: u32, kk: u32, col: u32, a_out: ptr<function, vec4<f32>>, b_out: ptr<function, vec4<f32>>) {
    var x = vec4<f32>(0.0);
    if (row < dims.m) {
        let base = row * dims.k;
        for (var t = 0u; t < 4u; t++) {
            if (k + t < dims.k) { x[t] = a[base + k + t]; }
        }
    }
    var y = vec4<f32>(0.0);
    if (kk < dims.k) {
        let base = kk * dims.n;
        for (var t = 0u; t < 4u; t++) {
            if (col + t < dims.n) { y[t] = b[base + col + t]; }
        }
    }
    *a_out = x;
    *b_out = y;
}

/// Stores an invocation's share of A (row a_row, k steps a_k .. + 4, transposed) and of B
/// (row b_k, columns b_col .. + 4) into tiles `s`.
fn store(s: u32, a_row: u32, a_k: u32, b_k: u32, b_col: u32, x: vec4<f32>, y: vec4<f32>) {
    for (var t = 0u; t < 4u; t++) {
        a_tile[s][(a_k + t) * ROW4 + a_row / 4u][a_row % 4u] = x[t];
    }
    b_tile[s][b_k * ROW4 + b_col / 4u] = y;
}
// ANCHOR_END: blocked_matmul
