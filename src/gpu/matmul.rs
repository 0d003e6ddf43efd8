//! The matrix products on the GPU: `matmul.wgsl` (tiled, the one to read first) and
//! `matmul_blocked.wgsl` (register-blocked, the one [`crate::backend::matmul`] uses).

use ndarray::{Array2, ArrayRef2, Ix2};

use super::tensor::check_rank;
use super::{Gpu, GpuTensor, Kernel, groups};
use crate::error::{Error, Result};

/// Workgroup tile edge of `matmul.wgsl` (`TILE` there).
const TILE: usize = 16;
/// Workgroup tile edge of `matmul_blocked.wgsl` (`TILE` there).
const BLOCKED_TILE: usize = 64;

/// The kernels' parameters, laid out as `Dims` in the WGSL files.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Dims {
    m: u32,
    k: u32,
    n: u32,
    has_bias: u32, // padding in matmul.wgsl
}

// ANCHOR: gpu_matmul
/// `a · b` on the GPU for `a (m, k)` and `b (k, n)`, giving `(m, n)`: the same contract as
/// [`crate::backend::matmul`], which calls this when the device is [`crate::backend::Device::Gpu`].
/// Runs the register-blocked kernel `matmul_blocked.wgsl`.
///
/// Fails with [`Error::Shape`] when the inner dimensions differ and with [`Error::Gpu`] when
/// there is no adapter or an input is larger than the adapter can bind.
pub fn matmul(a: &ArrayRef2<f32>, b: &ArrayRef2<f32>) -> Result<Array2<f32>> {
    check_inner("b", a.ncols(), b.shape())?;
    if a.is_empty() || b.is_empty() {
        return Ok(Array2::zeros((a.nrows(), b.ncols()))); // nothing for the GPU to do
    }
    let (a, b) = (GpuTensor::upload(a)?, GpuTensor::upload(b)?);
    let c = matmul_tensors(&a, &b)?.download()?; // (m, n)
    Ok(c.into_dimensionality::<Ix2>().expect("2-D product"))
}
// ANCHOR_END: gpu_matmul

/// [`matmul`] with the simple tiled kernel `matmul.wgsl`, one output per invocation: the
/// version chapter 8 explains first. Same contract and errors.
pub fn matmul_tiled(a: &ArrayRef2<f32>, b: &ArrayRef2<f32>) -> Result<Array2<f32>> {
    check_inner("b", a.ncols(), b.shape())?;
    if a.is_empty() || b.is_empty() {
        return Ok(Array2::zeros((a.nrows(), b.ncols()))); // nothing for the GPU to do
    }
    let (a, b) = (GpuTensor::upload(a)?, GpuTensor::upload(b)?);
    let c = matmul_tiled_tensors(&a, &b)?.download()?; // (m, n)
    Ok(c.into_dimensionality::<Ix2>().expect("2-D product"))
}

/// [`matmul_tiled`] for GPU tensors `a (m, k)` and `b (k, n)`: the product stays on the GPU.
/// Same errors as [`matmul_tensors`].
pub fn matmul_tiled_tensors(a: &GpuTensor, b: &GpuTensor) -> Result<GpuTensor> {
    check_rank("a", a, 2, "(m, k)")?;
    check_rank("b", b, 2, "(k, n)")?;
    let (m, k) = (a.shape()[0], a.shape()[1]);
    check_inner("b", k, b.shape())?;
    let n = b.shape()[1];
    let gpu = Gpu::get()?;
    let c = GpuTensor::uninit(gpu, "c", &[m, n])?;
    if m * n > 0 {
        // With k = 0 the kernel writes zeros: the product of (m, 0) and (0, n).
        let buffers = [a.buffer(), b.buffer(), c.buffer()];
        run(
            gpu,
            &gpu.kernels.matmul_tiled,
            buffers,
            None,
            [m, k, n],
            TILE,
        )?;
    }
    Ok(c)
}

/// `a · b` for GPU tensors `a (m, k)` and `b (k, n)`: the product stays on the GPU.
///
/// Fails with [`Error::Shape`] unless both are 2-D with matching inner dimensions.
pub fn matmul_tensors(a: &GpuTensor, b: &GpuTensor) -> Result<GpuTensor> {
    check_rank("a", a, 2, "(m, k)")?;
    check_rank("b", b, 2, "(k, n)")?;
    let (m, k) = (a.shape()[0], a.shape()[1]);
    check_inner("b", k, b.shape())?;
    product(a, b, None, m, "c")
}

/// `x · w + bias` on the GPU for `x (rows, k)` seen as any shape ending in `k`, `w (k, n)` and
/// `bias (n)`: a linear layer with its weight already transposed. The result has `x`'s
/// shape with the last dimension `n`.
pub(super) fn linear(x: &GpuTensor, w: &GpuTensor, bias: Option<&GpuTensor>) -> Result<GpuTensor> {
    let (k, n) = (w.shape()[0], w.shape()[1]);
    let last = x.shape().last().copied().unwrap_or(0);
    if last != k {
        return Err(Error::shape(
            "x",
            format!("(..., {k}) with in_features = {k}"),
            x.shape(),
        ));
    }
    let rows = x.len() / k.max(1);
    let y = product(x, w, bias, rows, "y")?;
    let mut shape = x.shape().to_vec();
    *shape.last_mut().expect("checked above") = n;
    Ok(y.reshaped(&shape))
}

/// Runs `matmul_blocked.wgsl` for `a` seen as `(m, k)` and `b (k, n)`, plus `bias (n)`.
fn product(
    a: &GpuTensor,
    b: &GpuTensor,
    bias: Option<&GpuTensor>,
    m: usize,
    name: &str,
) -> Result<GpuTensor> {
    let (k, n) = (b.shape()[0], b.shape()[1]);
    let gpu = Gpu::get()?;
    let c = GpuTensor::uninit(gpu, name, &[m, n])?;
    if m * n == 0 {
        return Ok(c);
    }
    let buffers = [a.buffer(), b.buffer(), c.buffer()];
    // Without a bias the kernel does not read its `bias` binding; `a` fills it.
    let bias = match bias {
        Some(bias) => (bias.buffer(), true),
        None => (a.buffer(), false),
    };
    let kernel = &gpu.kernels.matmul_blocked;
    run(gpu, kernel, buffers, Some(bias), [m, k, n], BLOCKED_TILE)?;
    Ok(c)
}

/// Dispatches a matmul `kernel` on `a`, `b` and `c`, one workgroup per `tile` × `tile` block
/// of `c`; `bias` is the blocked kernel's extra binding and whether to add it.
fn run(
    gpu: &Gpu,
    kernel: &Kernel,
    [a, b, c]: [&wgpu::Buffer; 3],
    bias: Option<(&wgpu::Buffer, bool)>,
    [m, k, n]: [usize; 3],
    tile: usize,
) -> Result<()> {
    let dims = gpu.uniform(&Dims {
        m: m as u32,
        k: k as u32,
        n: n as u32,
        has_bias: bias.is_some_and(|(_, add)| add).into(),
    });
    let workgroups = [groups(n, tile, "n")?, groups(m, tile, "m")?, 1];
    let mut bindings = vec![a, b, c, &*dims];
    bindings.extend(bias.map(|(buffer, _)| buffer));
    gpu.dispatch(kernel, &bindings, workgroups);
    Ok(())
}

/// An error naming `name` unless `shape` is `(k, n)`.
fn check_inner(name: &str, k: usize, shape: &[usize]) -> Result<()> {
    if shape.len() != 2 || shape[0] != k {
        let expected = format!("({k}, n) with k = {k} from `a`");
        return Err(Error::shape(name, expected, shape));
    }
    Ok(())
}
