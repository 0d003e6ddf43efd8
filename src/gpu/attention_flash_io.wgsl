// The parameters, bindings and strided offsets of both FlashAttention-2 kernels,
// attention_flash.wgsl and attention_flash_wide.wgsl: gpu/mod.rs puts this file in front of
// each (WGSL has no include).

struct Params {
    tgt_len: u32,
    src_len: u32,
    d_k: u32,
    d_v: u32,
    heads: u32,
    causal: u32,   // 1: query i sees keys 0..=i
    scale: f32,    // 1 / sqrt(d_k)
    _padding: u32,
    // Element strides (batch item, head, row, unused); a dimension's stride is 1.
    q_strides: vec4<u32>,
    k_strides: vec4<u32>,
    v_strides: vec4<u32>,
    o_strides: vec4<u32>,
}

@group(0) @binding(0) var<storage, read> queries: array<f32>;      // (batch, heads, tgt_len, d_k)
@group(0) @binding(1) var<storage, read> keys: array<f32>;         // (batch, heads, src_len, d_k)
@group(0) @binding(2) var<storage, read> values: array<f32>;       // (batch, heads, src_len, d_v)
@group(0) @binding(3) var<storage, read_write> output: array<f32>; // (batch, heads, tgt_len, d_v)
@group(0) @binding(4) var<uniform> params: Params;

/// Offset of (batch·head `bh`, row) in a tensor with `strides`.
fn offset(strides: vec4<u32>, bh: u32, row: u32) -> u32 {
    return (bh / params.heads) * strides.x + (bh % params.heads) * strides.y + row * strides.z;
}
