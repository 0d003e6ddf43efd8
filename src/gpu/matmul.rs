//! The tiled matrix product `matmul.wgsl` on the GPU.

use ndarray::{Array2, ArrayRef2};

use super::{Gpu, groups};
use crate::error::{Error, Result};

/// Workgroup tile edge; must equal `TILE` in `matmul.wgsl`.
const TILE: usize = 16;

/// The kernel's parameters, laid out as `Dims` in `matmul.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Dims {
    m: u32,
    k: u32,
    n: u32,
    _padding: u32,
}

// ANCHOR: gpu_matmul
/// `a · b` on the GPU for `a (m, k)` and `b (k, n)`, giving `(m, n)`: the same contract as
/// [`crate::backend::matmul`], which calls this when the device is [`crate::backend::Device::Gpu`].
///
/// Fails with [`Error::Shape`] when the inner dimensions differ and with [`Error::Gpu`] when
/// there is no adapter or an input is larger than the adapter can bind.
pub fn matmul(a: &ArrayRef2<f32>, b: &ArrayRef2<f32>) -> Result<Array2<f32>> {
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    if b.nrows() != k {
        let expected = format!("({k}, n) with k = {k} from `a`");
        return Err(Error::shape("b", expected, b.shape()));
    }
    if m == 0 || k == 0 || n == 0 {
        return Ok(Array2::zeros((m, n))); // nothing for the GPU to do
    }
    let gpu = Gpu::get()?;
    let (a, b) = (gpu.input("a", a)?, gpu.input("b", b)?);
    let c = gpu.output("c", m * n)?;
    let dims = Dims {
        m: m as u32,
        k: k as u32,
        n: n as u32,
        _padding: 0,
    };
    let dims = gpu.uniform(&dims);
    let workgroups = [groups(n, TILE, "n")?, groups(m, TILE, "m")?, 1];
    let product = gpu.run(&gpu.matmul, &[&a, &b, &c, &dims], workgroups, &c, m * n);
    Ok(Array2::from_shape_vec((m, n), product).expect("m · n values"))
}
// ANCHOR_END: gpu_matmul
