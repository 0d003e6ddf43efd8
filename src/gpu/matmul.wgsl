// C = A · B for row-major A (m, k), B (k, n) and C (m, n): a tiled matrix product.
//
// One workgroup of TILE × TILE invocations computes one TILE × TILE tile of C, one element
// per invocation. It walks along k a tile at a time: every invocation loads one element of A's
// tile and one of B's into workgroup memory (shared by the group), the group waits at a barrier,
// then each invocation takes its dot product out of the fast shared tiles. Each element of A and
// B is read from GPU memory m / TILE or n / TILE times instead of m or n times.

struct Dims {
    m: u32,
    k: u32,
    n: u32,
    _padding: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;       // (m, k)
@group(0) @binding(1) var<storage, read> b: array<f32>;       // (k, n)
@group(0) @binding(2) var<storage, read_write> c: array<f32>; // (m, n)
@group(0) @binding(3) var<uniform> dims: Dims;

// ANCHOR: tiled_matmul
const TILE: u32 = 16u;

var<workgroup> a_tile: array<array<f32, TILE>, TILE>; // (TILE, TILE) block of A
var<workgroup> b_tile: array<array<f32, TILE>, TILE>; // (TILE, TILE) block of B

@compute @workgroup_size(TILE, TILE)
fn main(
    @builtin(workgroup_id) tile: vec3<u32>,        // which tile of C: (column, row)
    @builtin(local_invocation_id) local: vec3<u32>, // which element of it: (column, row)
) {
    let row = tile.y * TILE + local.y; // row of C (and A) this invocation computes
    let col = tile.x * TILE + local.x; // column of C (and B)
    var sum = 0.0;
    for (var start = 0u; start < dims.k; start += TILE) {
        // Load one element of each input tile; zeros past the edges of A and B.
        let a_col = start + local.x;
        let b_row = start + local.y;
        var a_value = 0.0;
        if (row < dims.m && a_col < dims.k) { a_value = a[row * dims.k + a_col]; }
        var b_value = 0.0;
        if (b_row < dims.k && col < dims.n) { b_value = b[b_row * dims.n + col]; }
        a_tile[local.y][local.x] = a_value;
        b_tile[local.y][local.x] = b_value;
        workgroupBarrier(); // the whole tile is loaded

        for (var i = 0u; i < TILE; i++) {
            sum += a_tile[local.y][i] * b_tile[i][local.x];
        }
        workgroupBarrier(); // everyone is done with this tile before the next overwrites it
    }
    if (row < dims.m && col < dims.n) {
        c[row * dims.n + col] = sum;
    }
}
// ANCHOR_END: tiled_matmul
