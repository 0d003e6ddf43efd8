//! The FlashAttention-2 style kernels on the GPU, heads read through strides:
//! `attention_flash.wgsl` for heads of up to 64 dimensions (a whole query row per invocation,
//! four invocations per row splitting the keys) and `attention_flash_wide.wgsl` for 65 to 128
//! (four invocations per row splitting the dimensions).

use ndarray::{Array4, ArrayRef4, Ix4};

use super::attention::{attention_heads_simple, check_head_dims};
use super::tensor::check_rank;
use super::{FLASH_WIDE_WORKGROUP_BYTES, FLASH_WORKGROUP_BYTES, Gpu, GpuTensor, Kernel, groups};
use crate::error::{Error, Result};
use crate::kernels::check_batched_heads;

/// Query rows per workgroup; must equal `ROWS` in `attention_flash.wgsl`.
const ROWS: usize = 32;
/// Query rows per workgroup; must equal `ROWS` in `attention_flash_wide.wgsl`.
const WIDE_ROWS: usize = 64;
/// The largest `d_k` and `d_v` of `attention_flash.wgsl` (`MAX_D` there).
const NARROW_MAX_D: usize = 64;

/// The kernel's parameters, laid out as `Params` in `attention_flash.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    tgt_len: u32,
    src_len: u32,
    d_k: u32,
    d_v: u32,
    heads: u32,
    causal: u32,
    scale: f32,
    _padding: u32,
    q_strides: [u32; 4],
    k_strides: [u32; 4],
    v_strides: [u32; 4],
    o_strides: [u32; 4],
}

/// Where the heads of a tensor lie in its buffer: `(batch, heads, len, dim)` read with
/// element strides (batch item, head, row, unused); the dimension's stride is 1.
#[derive(Clone, Copy)]
struct Heads {
    batch: usize,
    heads: usize,
    len: usize,
    dim: usize,
    strides: [u32; 4],
}

impl Heads {
    /// A `(batch, heads, len, dim)` tensor.
    fn split(shape: &[usize]) -> Heads {
        let [batch, heads, len, dim] = shape.try_into().expect("4-D");
        let strides = [heads * len * dim, len * dim, dim, 0].map(|s| s as u32);
        Heads {
            batch,
            heads,
            len,
            dim,
            strides,
        }
    }

    /// A `(batch, len, heads · dim)` tensor: head h is columns `h·dim .. (h+1)·dim`.
    fn merged(shape: &[usize], heads: usize) -> Heads {
        let [batch, len, width] = shape.try_into().expect("3-D");
        let dim = width / heads;
        let strides = [len * width, dim, width, 0].map(|s| s as u32);
        Heads {
            batch,
            heads,
            len,
            dim,
            strides,
        }
    }
}

// ANCHOR: gpu_flash_attention
/// softmax(Q·Kᵀ/√d_k)·V for every batch item and head in one fused GPU kernel, FlashAttention-2
/// style (`attention_flash.wgsl`): the same contract as [`crate::fast::attention_heads`],
/// which calls this for [`crate::fast::Kernel::Gpu`].
///
/// `queries (batch, heads, tgt_len, d_k)`, `keys (batch, heads, src_len, d_k)`,
/// `values (batch, heads, src_len, d_v)` → `(batch, heads, tgt_len, d_v)`; `d_k` and `d_v`
/// at most [`super::MAX_HEAD_DIM`]. With `causal`, query i sees keys 0..=i. On an adapter
/// with too little workgroup memory for it, runs [`attention_heads_simple`] instead.
pub fn attention_heads(
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
    if flash_kernel(Gpu::get()?, d_k, d_v).is_err() {
        return attention_heads_simple(queries, keys, values, causal);
    }
    let q = GpuTensor::upload(queries)?;
    let k = GpuTensor::upload(keys)?;
    let v = GpuTensor::upload(values)?;
    let output = attention_tensors(&q, &k, &v, causal)?.download()?;
    Ok(output.into_dimensionality::<Ix4>().expect("4-D output"))
}
// ANCHOR_END: gpu_flash_attention

/// [`attention_heads`] on GPU tensors `queries (batch, heads, tgt_len, d_k)`,
/// `keys (batch, heads, src_len, d_k)` and `values (batch, heads, src_len, d_v)`: the
/// output `(batch, heads, tgt_len, d_v)` stays on the GPU.
///
/// Fails with [`Error::Shape`] when the shapes disagree, [`Error::Value`] for a head dimension
/// above [`super::MAX_HEAD_DIM`] or no keys, [`Error::Gpu`] when the adapter lacks the
/// workgroup memory the kernel needs.
pub fn attention_tensors(
    queries: &GpuTensor,
    keys: &GpuTensor,
    values: &GpuTensor,
    causal: bool,
) -> Result<GpuTensor> {
    let [q, k, v] = split_heads(queries, keys, values)?;
    let shape = [q.batch, q.heads, q.len, v.dim]; // (batch, heads, tgt_len, d_v)
    let output = GpuTensor::uninit(Gpu::get()?, "output", &shape)?;
    run(
        [queries, keys, values, &output],
        [q, k, v, Heads::split(&shape)],
        causal,
    )?;
    Ok(output)
}

/// The layouts of 4-D GPU tensors `queries (batch, heads, tgt_len, d_k)`,
/// `keys (batch, heads, src_len, d_k)` and `values (batch, heads, src_len, d_v)`, or an error
/// naming the one that does not fit.
fn split_heads(queries: &GpuTensor, keys: &GpuTensor, values: &GpuTensor) -> Result<[Heads; 3]> {
    check_rank("queries", queries, 4, "(batch, heads, tgt_len, d_k)")?;
    check_rank("keys", keys, 4, "(batch, heads, src_len, d_k)")?;
    check_rank("values", values, 4, "(batch, heads, src_len, d_v)")?;
    let (q, k, v) = (
        Heads::split(queries.shape()),
        Heads::split(keys.shape()),
        Heads::split(values.shape()),
    );
    check_agree(q, k, v, [queries, keys, values].map(GpuTensor::shape))?;
    Ok([q, k, v])
}

/// `(batch, heads, tgt_len, src_len, d_k, d_v)` of checked attention inputs on the GPU, for
/// the simple kernel.
pub(super) fn head_sizes(
    queries: &GpuTensor,
    keys: &GpuTensor,
    values: &GpuTensor,
) -> Result<(usize, usize, usize, usize, usize, usize)> {
    let [q, k, v] = split_heads(queries, keys, values)?;
    Ok((q.batch, q.heads, q.len, k.len, q.dim, v.dim))
}

/// Attention of every head of `queries (batch, tgt_len, heads · d_k)` to
/// `keys (batch, src_len, heads · d_k)` and `values (batch, src_len, heads · d_v)`, giving
/// the heads merged, `(batch, tgt_len, heads · d_v)`: multi-head attention's middle step
/// with no split or merge copies. The caller checks the shapes.
pub(super) fn attention_merged(
    queries: &GpuTensor,
    keys: &GpuTensor,
    values: &GpuTensor,
    heads: usize,
    causal: bool,
) -> Result<GpuTensor> {
    let q = Heads::merged(queries.shape(), heads);
    let (k, v) = (
        Heads::merged(keys.shape(), heads),
        Heads::merged(values.shape(), heads),
    );
    check_agree(q, k, v, [queries, keys, values].map(GpuTensor::shape))?;
    let shape = [q.batch, q.len, heads * v.dim]; // (batch, tgt_len, heads · d_v)
    let output = GpuTensor::uninit(Gpu::get()?, "output", &shape)?;
    run(
        [queries, keys, values, &output],
        [q, k, v, Heads::merged(&shape, heads)],
        causal,
    )?;
    Ok(output)
}

/// Errors unless the batch, heads, lengths and head dimensions of `q`, `k` and `v` fit
/// together; `shapes` are the three tensors' shapes, for the message.
fn check_agree(q: Heads, k: Heads, v: Heads, shapes: [&[usize]; 3]) -> Result<()> {
    if (k.batch, k.heads, k.dim) != (q.batch, q.heads, q.dim) {
        let (b, h, d) = (q.batch, q.heads, q.dim);
        let expected = format!("batch {b}, {h} heads of d_k = {d}, as in `queries`");
        return Err(Error::shape("keys", expected, shapes[1]));
    }
    if (v.batch, v.heads, v.len) != (k.batch, k.heads, k.len) {
        let (b, h, len) = (k.batch, k.heads, k.len);
        let expected = format!("batch {b}, {h} heads, src_len = {len}, as in `keys`");
        return Err(Error::shape("values", expected, shapes[2]));
    }
    check_head_dims(q.dim, v.dim, k.len)
}

/// Dispatches the flash kernel for the head dimensions: one workgroup per (32 or 64 query
/// rows, batch item · head).
fn run([q, k, v, o]: [&GpuTensor; 4], layouts: [Heads; 4], causal: bool) -> Result<()> {
    let gpu = Gpu::get()?;
    let [ql, kl, vl, ol] = layouts;
    let (kernel, rows) = flash_kernel(gpu, ql.dim, vl.dim)?;
    if ql.batch * ql.heads * ql.len * vl.dim == 0 {
        return Ok(()); // an empty output
    }
    let params = gpu.uniform(&Params {
        tgt_len: ql.len as u32,
        src_len: kl.len as u32,
        d_k: ql.dim as u32,
        d_v: vl.dim as u32,
        heads: ql.heads as u32,
        causal: causal.into(),
        scale: 1.0 / (ql.dim as f32).sqrt(),
        _padding: 0,
        q_strides: ql.strides,
        k_strides: kl.strides,
        v_strides: vl.strides,
        o_strides: ol.strides,
    });
    let workgroups = [
        groups(ql.len, rows, "tgt_len")?,
        groups(ql.batch * ql.heads, 1, "batch · heads")?,
        1,
    ];
    let bindings = [q.buffer(), k.buffer(), v.buffer(), o.buffer(), &params];
    gpu.dispatch(kernel, &bindings, workgroups);
    Ok(())
}

/// The flash kernel for heads of `d_k` and `d_v` dimensions and its query rows per workgroup,
/// or an error naming the adapter's workgroup memory when it does not fit.
fn flash_kernel(gpu: &Gpu, d_k: usize, d_v: usize) -> Result<(&Kernel, usize)> {
    let (kernel, rows, file, bytes) = if d_k.max(d_v) <= NARROW_MAX_D {
        let kernel = gpu.kernels.attention_flash.as_ref();
        (kernel, ROWS, "attention_flash.wgsl", FLASH_WORKGROUP_BYTES)
    } else {
        let kernel = gpu.kernels.attention_flash_wide.as_ref();
        let file = "attention_flash_wide.wgsl";
        (kernel, WIDE_ROWS, file, FLASH_WIDE_WORKGROUP_BYTES)
    };
    let kernel = kernel.ok_or_else(|| {
        Error::gpu(format!(
            "adapter \"{}\" has {} bytes of workgroup memory; {file} needs {bytes}",
            gpu.adapter.name, gpu.limits.max_compute_workgroup_storage_size
        ))
    })?;
    Ok((kernel, rows))
}
