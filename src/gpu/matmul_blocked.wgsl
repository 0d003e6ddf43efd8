// C = A · B (+ bias) for row-major A (m, k), B (k, n) and C (m, n): a register-blocked
// matrix product, the fast version of matmul.wgsl.
//
// matmul.wgsl computes one element of C per invocation: every multiply-add needs two reads
// from workgroup memory. Here a workgroup of 16 × 16 invocations computes a 64 × 64 tile of
// C, and each invocation a 4 × 4 block of it, held in registers. For four steps along k it
// reads a 4 × 4 block of A and one of B (eight vec4 reads) from workgroup memory and does 64
// multiply-adds with them: 4 times fewer workgroup-memory reads per multiply-add, in 4 times
// wider reads. Each element of A and B is read from GPU memory n / 64 or m / 64 times
// instead of n / 16 or m / 16.
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
const TILE: u32 = 64u;    // C tile edge per workgroup
const BLOCK: u32 = 4u;    // C block edge per invocation (a vec4)
const THREADS: u32 = 16u; // TILE / BLOCK invocations along each edge
const DEPTH: u32 = 16u;   // steps along k per tile load

// Both tiles in rows of vec4s: a_tile[r * 4 + q] holds A[r][4q .. 4q + 4] (4 steps along k),
// b_tile[kk * 16 + c] holds B[kk][4c .. 4c + 4] (4 columns). Neighbouring invocations store
// to neighbouring words, so the stores hit different memory banks.
var<workgroup> a_tile: array<vec4<f32>, TILE * DEPTH / 4u>; // (TILE, DEPTH) of A
var<workgroup> b_tile: array<vec4<f32>, DEPTH * TILE / 4u>; // (DEPTH, TILE) of B

@compute @workgroup_size(THREADS, THREADS)
fn main(
    @builtin(workgroup_id) tile: vec3<u32>,         // which tile of C: (column, row)
    @builtin(local_invocation_id) local: vec3<u32>, // which 4 × 4 block of it: (column, row)
    @builtin(local_invocation_index) lane: u32,     // 0..256, for the cooperative loads
) {
    let row0 = tile.y * TILE; // first row of C's tile
    let col0 = tile.x * TILE; // first column of C's tile
    var acc: array<vec4<f32>, BLOCK>; // acc[i][j] = C[row0 + 4·local.y + i][col0 + 4·local.x + j]

    for (var start = 0u; start < dims.k; start += DEPTH) {
        // 256 invocations load the 64 × 16 tile of A and the 16 × 64 tile of B, 4 values each;
        // neighbouring invocations read neighbouring addresses. Zeros past the edges.
        for (var p = 0u; p < TILE * DEPTH; p += THREADS * THREADS) {
            let e = p + lane;
            let a_row = e / DEPTH;
            let a_col = e % DEPTH;
            var x = 0.0;
            if (row0 + a_row < dims.m && start + a_col < dims.k) {
                x = a[(row0 + a_row) * dims.k + start + a_col];
            }
            a_tile[e / 4u][e % 4u] = x; // = A[a_row][a_col]

            let b_row = e / TILE;
            let b_col = e % TILE;
            var y = 0.0;
            if (start + b_row < dims.k && col0 + b_col < dims.n) {
                y = b[(start + b_row) * dims.n + col0 + b_col];
            }
            b_tile[e / 4u][e % 4u] = y; // = B[b_row][b_col]
        }
        workgroupBarrier(); // both tiles are loaded

        // Four steps along k at a time: 4 vec4s of A (a 4 × 4 block, rows by k) and 4 of B
        // (4 × 4, k by columns) from workgroup memory, 64 multiply-adds in registers.
        for (var q = 0u; q < DEPTH / 4u; q++) {
            var b_rows: array<vec4<f32>, 4>; // B[4q + t][4·local.x .. +4]
            for (var t = 0u; t < 4u; t++) { b_rows[t] = b_tile[(q * 4u + t) * THREADS + local.x]; }
            for (var i = 0u; i < BLOCK; i++) {
                let a_row = a_tile[(local.y * BLOCK + i) * (DEPTH / 4u) + q]; // A[4·local.y + i][4q .. +4]
                acc[i] += a_row.x * b_rows[0]; // one step along k at a time, in order
                acc[i] += a_row.y * b_rows[1];
                acc[i] += a_row.z * b_rows[2];
                acc[i] += a_row.w * b_rows[3];
            }
        }
        workgroupBarrier(); // everyone is done with the tiles before the next overwrite them
    }
    for (var i = 0u; i < BLOCK; i++) {
        let row = row0 + local.y * BLOCK + i;
        for (var j = 0u; j < BLOCK; j++) {
            let col = col0 + local.x * BLOCK + j;
            if (row < dims.m && col < dims.n) {
                var x = acc[i][j];
                if (dims.has_bias == 1u) { x += bias[col]; }
                c[row * dims.n + col] = x;
            }
        }
    }
}
// ANCHOR_END: blocked_matmul
