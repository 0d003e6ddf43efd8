// C = A · B (+ bias) for row-major A (m, k), B (k, n) and C (m, n): a register-blocked
// matrix product, the fast version of matmul.wgsl.
//
// matmul.wgsl computes one element of C per invocation: every multiply-add needs two reads
// from workgroup memory. Here a workgroup of 16 × 16 invocations computes a 64 × 64 tile of
// C, and each invocation a 4 × 4 block of it, held in registers. Per step along k it reads
// 4 values of A and 4 of B (one vec4 each) from workgroup memory and does 16 multiply-adds
// with them: 4 times fewer workgroup-memory reads per multiply-add, and each element of A and
// B is read from GPU memory n / 64 or m / 64 times instead of n / 16 or m / 16.
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

// Both tiles as vec4s: a_tile[kk * THREADS + r] holds A's rows 4r..4r+4 at step kk (A's tile
// is stored transposed), b_tile[kk * THREADS + c] holds B's columns 4c..4c+4 at step kk.
var<workgroup> a_tile: array<vec4<f32>, DEPTH * THREADS>; // (DEPTH, TILE) of A, transposed
var<workgroup> b_tile: array<vec4<f32>, DEPTH * THREADS>; // (DEPTH, TILE) of B

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
            let a_col = start + e % DEPTH;
            var x = 0.0;
            if (row0 + a_row < dims.m && a_col < dims.k) { x = a[(row0 + a_row) * dims.k + a_col]; }
            a_tile[(e % DEPTH) * THREADS + a_row / BLOCK][a_row % BLOCK] = x;

            let b_row = start + e / TILE;
            let b_col = e % TILE;
            var y = 0.0;
            if (b_row < dims.k && col0 + b_col < dims.n) { y = b[b_row * dims.n + col0 + b_col]; }
            b_tile[(e / TILE) * THREADS + b_col / BLOCK][b_col % BLOCK] = y;
        }
        workgroupBarrier(); // both tiles are loaded

        for (var kk = 0u; kk < DEPTH; kk++) {
            let a_col = a_tile[kk * THREADS + local.y]; // A[4·local.y .. +4][kk]
            let b_row = b_tile[kk * THREADS + local.x]; // B[kk][4·local.x .. +4]
            for (var i = 0u; i < BLOCK; i++) {
                acc[i] += a_col[i] * b_row; // one row of the block: 4 multiply-adds
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
