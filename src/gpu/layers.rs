//! The pieces of a Transformer layer on GPU tensors: a linear layer, LayerNorm, the residual
//! addition and the activations (`elementwise.wgsl`, `layer_norm.wgsl`).

use super::matmul::linear;
use super::{Gpu, GpuTensor, groups};
use crate::error::{Error, Result};
use crate::nn::{Activation, LayerNorm, Linear};

/// Invocations per workgroup of `elementwise.wgsl`.
const ELEMENTWISE_THREADS: usize = 256;

/// A linear layer's parameters on the GPU: the weight transposed to `(in, out)`, the bias.
pub(super) struct GpuLinear {
    weight_t: GpuTensor,
    bias: Option<GpuTensor>,
}

impl GpuLinear {
    pub(super) fn upload(layer: &Linear) -> Result<GpuLinear> {
        let weight_t = GpuTensor::upload(&layer.weight.t())?; // (in, out)
        let bias = layer
            .bias
            .as_ref()
            .map(|b| GpuTensor::upload(b))
            .transpose()?;
        Ok(GpuLinear { weight_t, bias })
    }

    /// `x (..., in) → (..., out)`: x · Wᵀ + b, the bias added by the product kernel.
    pub(super) fn forward(&self, x: &GpuTensor) -> Result<GpuTensor> {
        linear(x, &self.weight_t, self.bias.as_ref())
    }
}

/// A LayerNorm's γ and β on the GPU.
pub(super) struct GpuLayerNorm {
    weight: GpuTensor,
    bias: GpuTensor,
    eps: f32,
}

/// `layer_norm.wgsl`'s parameters.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct NormParams {
    rows: u32,
    d: u32,
    eps: f32,
    row_len: u32,
}

impl GpuLayerNorm {
    pub(super) fn upload(norm: &LayerNorm) -> Result<GpuLayerNorm> {
        Ok(GpuLayerNorm {
            weight: GpuTensor::upload(&norm.weight)?,
            bias: GpuTensor::upload(&norm.bias)?,
            eps: norm.eps,
        })
    }

    /// `x (..., d)` normalised over its last dimension.
    pub(super) fn forward(&self, x: &GpuTensor) -> Result<GpuTensor> {
        let d = self.weight.len();
        if x.shape().last() != Some(&d) || x.is_empty() {
            let want = format!("(..., {d}) with normalized size d = {d}, no empty axis");
            return Err(Error::shape("x", want, x.shape()));
        }
        let gpu = Gpu::get()?;
        let out = GpuTensor::uninit(gpu, "x", x.shape())?;
        let rows = x.len() / d;
        let (workgroups, row_len) = grid(rows, 1)?;
        let params = gpu.uniform(&NormParams {
            rows: rows as u32,
            d: d as u32,
            eps: self.eps,
            row_len,
        });
        let bindings = [
            x.buffer(),
            self.weight.buffer(),
            self.bias.buffer(),
            out.buffer(),
            &params,
        ];
        gpu.dispatch(&gpu.kernels.layer_norm, &bindings, workgroups);
        Ok(out)
    }
}

/// `elementwise.wgsl`'s parameters.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ElementwiseParams {
    len: u32,
    op: u32,
    row_len: u32,
    _padding: u32,
}

/// `a + b` for tensors of the same shape (a residual connection).
pub(super) fn add(a: &GpuTensor, b: &GpuTensor) -> Result<GpuTensor> {
    if a.shape() != b.shape() {
        return Err(Error::shape(
            "b",
            crate::error::fmt_shape(a.shape()),
            b.shape(),
        ));
    }
    elementwise(a, b, 0)
}

/// `activation` applied to every entry of `x`.
pub(super) fn activate(x: &GpuTensor, activation: Activation) -> Result<GpuTensor> {
    let op = match activation {
        Activation::Relu => 1,
        Activation::Gelu => 2,
    };
    elementwise(x, x, op)
}

/// Runs `elementwise.wgsl` with operation `op` on `a` (and `b`).
fn elementwise(a: &GpuTensor, b: &GpuTensor, op: u32) -> Result<GpuTensor> {
    let gpu = Gpu::get()?;
    let out = GpuTensor::uninit(gpu, "out", a.shape())?;
    if a.is_empty() {
        return Ok(out);
    }
    let (workgroups, row_len) = grid(a.len(), ELEMENTWISE_THREADS)?;
    let params = gpu.uniform(&ElementwiseParams {
        len: a.len() as u32,
        op,
        row_len: row_len * ELEMENTWISE_THREADS as u32,
        _padding: 0,
    });
    let bindings = [a.buffer(), b.buffer(), out.buffer(), &params];
    gpu.dispatch(&gpu.kernels.elementwise, &bindings, workgroups);
    Ok(out)
}

/// A 2-D grid of workgroups of `size` covering `n` items (one row of workgroups holds at most
/// 65 535), and the workgroups per row.
fn grid(n: usize, size: usize) -> Result<([u32; 3], u32)> {
    let count = n.div_ceil(size);
    let per_row = count.clamp(1, 65_535);
    let rows = groups(count, per_row, "items")?;
    Ok(([per_row as u32, rows, 1], per_row as u32))
}
