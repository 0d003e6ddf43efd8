// LayerNorm over the last dimension: out = (x − mean) / sqrt(var + eps) · weight + bias,
// one workgroup per row. The 64 invocations each sum every 64th entry, then the 64 partial
// sums are added up in workgroup memory, halving at each step (a tree reduction).

struct Params {
    rows: u32,
    d: u32,        // entries per row
    eps: f32,
    row_len: u32,  // workgroups per row of the dispatch grid
}

@group(0) @binding(0) var<storage, read> x: array<f32>;          // (rows, d)
@group(0) @binding(1) var<storage, read> weight: array<f32>;     // (d)
@group(0) @binding(2) var<storage, read> bias: array<f32>;       // (d)
@group(0) @binding(3) var<storage, read_write> out: array<f32>;  // (rows, d)
@group(0) @binding(4) var<uniform> params: Params;

const THREADS: u32 = 64u;

var<workgroup> partial: array<f32, THREADS>;

/// The sum of every invocation's `value`, returned to all of them.
fn workgroup_sum(value: f32, lane: u32) -> f32 {
    partial[lane] = value;
    workgroupBarrier();
    for (var stride = THREADS / 2u; stride > 0u; stride /= 2u) {
        if (lane < stride) { partial[lane] += partial[lane + stride]; }
        workgroupBarrier();
    }
    let sum = partial[0];
    workgroupBarrier(); // everyone has read it before `partial` is reused
    return sum;
}

@compute @workgroup_size(THREADS)
fn main(
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let row = group.y * params.row_len + group.x; // a 2-D grid when one row of workgroups is not enough
    if (row >= params.rows) { return; } // the whole workgroup: its barriers stay uniform
    let d = params.d;
    let base = row * d;
    var sum = 0.0;
    for (var i = lane; i < d; i += THREADS) { sum += x[base + i]; }
    let mean = workgroup_sum(sum, lane) / f32(d);
    var squares = 0.0; // two passes: the variance from the mean, not E[x²] − mean²
    for (var i = lane; i < d; i += THREADS) { squares += (x[base + i] - mean) * (x[base + i] - mean); }
    let inv_std = 1.0 / sqrt(workgroup_sum(squares, lane) / f32(d) + params.eps);
    for (var i = lane; i < d; i += THREADS) {
        out[base + i] = (x[base + i] - mean) * inv_std * weight[i] + bias[i];
    }
}
