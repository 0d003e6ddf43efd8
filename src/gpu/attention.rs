//! The fused attention kernel `attention.wgsl` on the GPU.

use ndarray::{Array4, ArrayRef4};

use super::{Gpu, groups};
use crate::error::{Error, Result};
use crate::kernels::check_batched_heads;

/// Query rows per workgroup; must equal `ROWS` in `attention.wgsl`.
const ROWS: usize = 64;
/// The largest `d_k` and `d_v` the kernel takes (`MAX_D` in `attention.wgsl`).
pub const MAX_HEAD_DIM: usize = 128;

/// The kernel's parameters, laid out as `Params` in `attention.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    tgt_len: u32,
    src_len: u32,
    d_k: u32,
    d_v: u32,
    scale: f32,
    causal: u32,
    _padding: [u32; 2],
}

// ANCHOR: gpu_attention_heads
/// softmax(Q·Kᵀ/√d_k)·V for every batch item and head in one fused GPU kernel: the same
/// contract as [`crate::fast::attention_heads`], which calls this for
/// [`crate::fast::Kernel::Gpu`].
///
/// `queries (batch, heads, tgt_len, d_k)`, `keys (batch, heads, src_len, d_k)`,
/// `values (batch, heads, src_len, d_v)` → `(batch, heads, tgt_len, d_v)`; `d_k` and `d_v`
/// at most [`MAX_HEAD_DIM`]. With `causal`, query i sees keys 0..=i.
pub fn attention_heads(
    queries: &ArrayRef4<f32>,
    keys: &ArrayRef4<f32>,
    values: &ArrayRef4<f32>,
    causal: bool,
) -> Result<Array4<f32>> {
    let (batch, heads, tgt_len, src_len) = check_batched_heads(queries, keys, values)?;
    let (d_k, d_v) = (queries.shape()[3], values.shape()[3]);
    for (arg, d) in [("queries", d_k), ("values", d_v)] {
        if d > MAX_HEAD_DIM {
            let expected = format!("a head dimension of at most {MAX_HEAD_DIM} for the GPU kernel");
            return Err(Error::value(arg, expected, d));
        }
    }
    let gpu = Gpu::get()?;
    let q = gpu.input("queries", queries)?;
    let k = gpu.input("keys", keys)?;
    let v = gpu.input("values", values)?;
    let len = batch * heads * tgt_len * d_v;
    let output = gpu.output("output", len)?;
    let params = gpu.uniform(&Params {
        tgt_len: tgt_len as u32,
        src_len: src_len as u32,
        d_k: d_k as u32,
        d_v: d_v as u32,
        scale: 1.0 / (d_k as f32).sqrt(),
        causal: causal.into(),
        _padding: [0; 2],
    });
    let workgroups = [
        groups(tgt_len, ROWS, "tgt_len")?,
        groups(batch * heads, 1, "batch · heads")?,
        1,
    ];
    let bindings = [&q, &k, &v, &output, &params];
    let result = gpu.run(&gpu.attention, &bindings, workgroups, &output, len);
    Ok(Array4::from_shape_vec((batch, heads, tgt_len, d_v), result).expect("len values"))
}
// ANCHOR_END: gpu_attention_heads
