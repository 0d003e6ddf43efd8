// The element-wise steps of a Transformer layer: a residual addition or an activation,
// one invocation per element.

struct Params {
    len: u32,      // elements
    op: u32,       // OP_ADD, OP_RELU or OP_GELU
    row_len: u32,  // elements per row of the dispatch grid (workgroups along x · 256)
    _padding: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;          // read by OP_ADD only
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

const OP_ADD: u32 = 0u;  // out = a + b
const OP_RELU: u32 = 1u; // out = max(0, a)
const OP_GELU: u32 = 2u; // out = a · Φ(a), the exact (erf) GELU

/// erf(x) to within 1.5e-7 (Abramowitz and Stegun 7.1.26; WGSL has no erf).
fn erf(x: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.3275911 * abs(x));
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
        + t * (-1.453152027 + t * 1.061405429))));
    return sign(x) * (1.0 - poly * exp(-x * x));
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.y * params.row_len + id.x; // a 2-D grid when one row of workgroups is not enough
    if (i >= params.len) { return; }
    let x = a[i];
    switch params.op {
        case OP_ADD: { out[i] = x + b[i]; }
        case OP_RELU: { out[i] = max(0.0, x); }
        default: { out[i] = 0.5 * x * (1.0 + erf(x * 0.70710678118654752)); }
    }
}
