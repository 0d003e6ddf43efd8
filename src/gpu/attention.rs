//! The simple fused attention kernel `attention.wgsl` on the GPU: one invocation per query row.

use ndarray::{Array4, ArrayRef4, Ix4};

use super::{Gpu, GpuTensor, groups};
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

/// softmax(Q·Kᵀ/√d_k)·V for every batch item and head in one fused GPU kernel, the simple
/// one (`attention.wgsl`): the same contract as [`super::attention_heads`], which
/// [`crate::fast::Kernel::Gpu`] runs.
///
/// `queries (batch, heads, tgt_len, d_k)`, `keys (batch, heads, src_len, d_k)`,
/// `values (batch, heads, src_len, d_v)` → `(batch, heads, tgt_len, d_v)`; `d_k` and `d_v`
/// at most [`MAX_HEAD_DIM`]. With `causal`, query i sees keys 0..=i.
pub fn attention_heads_simple(
    queries: &ArrayRef4<f32>,
    keys: &ArrayRef4<f32>,
    values: &ArrayRef4<f32>,
    causal: bool,
) -> Result<Array4<f32>> {
    let (batch, heads, tgt_len, src_len) = check_batched_heads(queries, keys, values)?;
    let (d_k, d_v) = (queries.shape()[3], values.shape()[3]);
    check_head_dims(d_k, d_v, src_len)?;
    if batch * heads * tgt_len * d_v == 0 {
        return Ok(Array4::zeros((batch, heads, tgt_len, d_v))); // nothing for the GPU to do
    }
    let q = GpuTensor::upload(queries)?;
    let k = GpuTensor::upload(keys)?;
    let v = GpuTensor::upload(values)?;
    let output = attention_tensors_simple(&q, &k, &v, causal)?.download()?;
    Ok(output.into_dimensionality::<Ix4>().expect("4-D output"))
}

// ANCHOR: gpu_attention_heads
/// [`attention_heads_simple`] on GPU tensors of the same shapes: the output stays on the GPU.
///
/// Fails with [`Error::Shape`] when the shapes disagree and [`Error::Value`] for a head
/// dimension above [`MAX_HEAD_DIM`] or no keys.
pub fn attention_tensors_simple(
    queries: &GpuTensor, // (batch, heads, tgt_len, d_k)
    keys: &GpuTensor,    // (batch, heads, src_len, d_k)
    values: &GpuTensor,  // (batch, heads, src_len, d_v)
    causal: bool,
) -> Result<GpuTensor> {
    let (batch, heads, tgt_len, src_len, d_k, d_v) =
        super::flash::head_sizes(queries, keys, values)?;
    let gpu = Gpu::get()?;
    let output = GpuTensor::uninit(gpu, "output", &[batch, heads, tgt_len, d_v])?;
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
    let bindings = [
        queries.buffer(),
        keys.buffer(),
        values.buffer(),
        output.buffer(),
        &params,
    ];
    gpu.dispatch(&gpu.kernels.attention_simple, &bindings, workgroups);
    Ok(output) // (batch, heads, tgt_len, d_v), once the kernel has run
}
// ANCHOR_END: gpu_attention_heads

/// Errors unless `d_k` and `d_v` are at most [`MAX_HEAD_DIM`] and there is at least one key
/// (softmax over no keys has no value).
pub(super) fn check_head_dims(d_k: usize, d_v: usize, src_len: usize) -> Result<()> {
    for (arg, d) in [("queries", d_k), ("values", d_v)] {
        if d > MAX_HEAD_DIM {
            let expected = format!("a head dimension of at most {MAX_HEAD_DIM} for the GPU kernel");
            return Err(Error::value(arg, expected, d));
        }
    }
    if src_len == 0 {
        return Err(Error::value("keys", "at least one key position", src_len));
    }
    Ok(())
}
