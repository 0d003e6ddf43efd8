//! The compute seam: every matrix product in the crate goes through [`matmul`].
//!
//! Chapter code never calls `ndarray`'s `dot` directly. Keeping the products behind this one
//! function means a faster backend (BLAS, a GPU) can be swapped in here without touching the
//! chapters: the attention code reads the same whichever backend runs it.
//!
//! Two libraries can do the arithmetic: the pure-Rust `matrixmultiply` crate (default) or
//! OpenBLAS (feature `blas`). Either way the crate, not the library, decides how many cores
//! work on a product (chapter 8): a large product called from ordinary code is split by rows
//! (or, when it is wider than tall, by columns) over rayon's threads; a product inside a parallel section (one attention head of many)
//! runs on its own thread. Two layers of threads on the same cores would only fight.
//!
//! With the `gpu` feature, [`set_device`]`(Device::Gpu)` sends every product to the tiled WGSL
//! kernel of [`crate::gpu`] instead, for the whole process: the chapters' layers then run their
//! products on the GPU without a line of their code changing.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};

use ndarray::{Array2, ArrayRef2, ArrayViewMut2, Axis, s};
use rayon::prelude::*;

use crate::error::Result;

/// Products with fewer multiply-adds than this run on one thread (splitting costs more).
const PARALLEL_MIN_WORK: usize = 1 << 22;
/// Rows (or columns) per thread below which a product is not split.
const PARALLEL_MIN_ROWS: usize = 32;

/// `a · b` for `a` of shape `(m, k)` and `b` of shape `(k, n)`, giving `(m, n)`.
///
/// Callers check shapes before calling (and name the offending argument); a mismatch here is
/// a bug in the crate, so this panics with both shapes.
///
/// Transposes are free: pass `&w.t()` for `wᵀ`. The result is always in standard (row-major)
/// layout, so callers may reshape it freely.
///
/// ```
/// use attention::backend::matmul;
/// use attention::ndarray::array;
///
/// let a = array![[1.0_f32, 2.0], [3.0, 4.0]];
/// let b = array![[5.0_f32], [6.0]];
/// assert_eq!(matmul(&a, &b), array![[17.0], [39.0]]);
/// ```
// ANCHOR: matmul
pub fn matmul(a: &ArrayRef2<f32>, b: &ArrayRef2<f32>) -> Array2<f32> {
    assert_eq!(
        a.ncols(),
        b.nrows(),
        "internal error: matmul of {:?} by {:?}",
        a.shape(),
        b.shape()
    );
    if device() == Device::Gpu {
        return gpu_matmul(a, b);
    }
    single_threaded_blas();
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    let threads = rayon::current_num_threads();
    let in_parallel_section = rayon::current_thread_index().is_some();
    let split = threads > 1 && !in_parallel_section && m * k * n >= PARALLEL_MIN_WORK;
    if split && n > m && n >= threads * PARALLEL_MIN_ROWS {
        // Wider than tall: one block of columns of `b` (and of the product) per thread, so
        // each thread packs only its share of the larger operand.
        let cols = n.div_ceil(threads);
        in_blocks((m, n), Axis(1), cols, |j, mut out_cols| {
            let b_cols = b.slice(s![.., j * cols..j * cols + out_cols.ncols()]);
            product_on_this_thread(a, &b_cols, &mut out_cols) // (m, cols)
        })
    } else if split && m >= threads * PARALLEL_MIN_ROWS {
        // One block of rows of `a` (and of the product) per thread.
        let rows = m.div_ceil(threads);
        in_blocks((m, n), Axis(0), rows, |i, mut out_rows| {
            let a_rows = a.slice(s![i * rows..i * rows + out_rows.nrows(), ..]);
            product_on_this_thread(&a_rows, b, &mut out_rows) // (rows, n)
        })
    } else {
        let mut product = Array2::zeros((m, n)); // (m, n), standard layout
        product_on_this_thread(a, b, &mut product);
        product
    }
}

/// A `shape` product computed in blocks of `size` rows or columns (`axis`), block `i` by
/// `fill(i, block)` on its own rayon thread. Each thread also zeroes its own block first
/// (`Array2::zeros` would have one thread clear the whole product while the others wait).
fn in_blocks(
    shape: (usize, usize),
    axis: Axis,
    size: usize,
    fill: impl Fn(usize, ArrayViewMut2<f32>) + Sync,
) -> Array2<f32> {
    let mut product = Array2::<f32>::uninit(shape); // (m, n), standard layout
    let blocks: Vec<_> = product.axis_chunks_iter_mut(axis, size).collect();
    blocks
        .into_par_iter()
        .enumerate()
        .for_each(|(i, mut block)| {
            block.fill(MaybeUninit::new(0.0));
            // SAFETY: every entry of the block was written just above.
            fill(i, unsafe { block.assume_init() });
        });
    // SAFETY: the blocks cover the whole product, and each was filled with zeros.
    unsafe { product.assume_init() }
}
// ANCHOR_END: matmul

/// `c = a · b` on the calling thread: `matrixmultiply`'s packed kernels through ndarray
/// (AVX-512, or AVX2 and FMA, chosen at run time: the same bits either way, as each entry
/// sums its products in the same order), or OpenBLAS with the `blas` feature.
fn product_on_this_thread(a: &ArrayRef2<f32>, b: &ArrayRef2<f32>, c: &mut ArrayRef2<f32>) {
    ndarray::linalg::general_mat_mul(1.0, a, b, 0.0, c)
}

/// Where [`matmul`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// On the CPU (the default): `matrixmultiply`, or OpenBLAS with the `blas` feature.
    Cpu,
    /// On the GPU, through the tiled WGSL kernel of `crate::gpu` (feature `gpu`).
    Gpu,
}

static ON_GPU: AtomicBool = AtomicBool::new(false);

// ANCHOR: set_device
/// Makes every [`matmul`] in the process run on `device` from now on.
///
/// Choosing [`Device::Gpu`] starts the GPU first, so it fails here, with wgpu's reason, when
/// there is no adapter (or the crate was built without the `gpu` feature), never later in
/// the middle of a forward pass.
pub fn set_device(device: Device) -> Result<()> {
    if device == Device::Gpu {
        start_gpu()?;
    }
    ON_GPU.store(device == Device::Gpu, Ordering::Relaxed);
    Ok(())
}
// ANCHOR_END: set_device

/// Where [`matmul`] runs now (see [`set_device`]).
pub fn device() -> Device {
    if ON_GPU.load(Ordering::Relaxed) {
        Device::Gpu
    } else {
        Device::Cpu
    }
}

#[cfg(feature = "gpu")]
fn start_gpu() -> Result<()> {
    crate::gpu::Gpu::get().map(|_| ())
}

#[cfg(not(feature = "gpu"))]
fn start_gpu() -> Result<()> {
    Err(crate::Error::gpu_not_built())
}

#[cfg(feature = "gpu")]
fn gpu_matmul(a: &ArrayRef2<f32>, b: &ArrayRef2<f32>) -> Array2<f32> {
    crate::gpu::matmul(a, b).unwrap_or_else(|e| {
        panic!(
            "matmul of {:?} by {:?} on the GPU: {e} (use set_device(Device::Cpu) for it)",
            a.shape(),
            b.shape()
        )
    })
}

#[cfg(not(feature = "gpu"))]
fn gpu_matmul(_: &ArrayRef2<f32>, _: &ArrayRef2<f32>) -> Array2<f32> {
    unreachable!("set_device(Device::Gpu) fails without the `gpu` feature")
}

/// What computes [`matmul`]: the GPU's adapter after [`set_device`]`(Device::Gpu)`, else
/// OpenBLAS with the `blas` feature (with the CPU kernel it chose), else the pure-Rust
/// `matrixmultiply` crate (ndarray's default).
pub fn name() -> String {
    #[cfg(feature = "gpu")]
    if device() == Device::Gpu
        && let Ok(gpu) = crate::gpu::Gpu::get()
    {
        return format!(
            "tiled WGSL kernel on {} (feature `gpu`)",
            gpu.adapter_name()
        );
    }
    #[cfg(feature = "blas")]
    {
        unsafe extern "C" {
            fn openblas_get_corename() -> *const std::ffi::c_char;
        }
        // SAFETY: returns a static NUL-terminated string owned by OpenBLAS.
        let core = unsafe { std::ffi::CStr::from_ptr(openblas_get_corename()) };
        format!(
            "OpenBLAS sgemm (feature `blas`), kernels for {} (set OPENBLAS_CORETYPE to change)",
            core.to_string_lossy()
        )
    }
    #[cfg(not(feature = "blas"))]
    {
        format!(
            "matrixmultiply (pure Rust, default), {} kernel",
            matrixmultiply_kernel().0
        )
    }
}

/// Which of `matrixmultiply`'s f32 kernels this CPU runs (it picks at run time, as here), and
/// whether it sums with fused multiply-adds: all do but its fallbacks for CPUs without FMA,
/// which round each product before adding it, so their last bits differ.
#[cfg(not(feature = "blas"))]
fn matrixmultiply_kernel() -> (&'static str, bool) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") {
            return ("AVX-512 16 × 16", true);
        }
        if has!("avx2") && has!("fma") {
            return ("AVX2 + FMA 8 × 8", true);
        }
        if has!("avx") {
            return ("AVX 8 × 8 without FMA", false);
        }
    }
    #[cfg(target_arch = "aarch64")]
    if std::arch::is_aarch64_feature_detected!("neon") {
        return ("NEON 8 × 8", true);
    }
    ("portable", false)
}

// ANCHOR: single_threaded_blas
/// OpenBLAS starts its own threads for every product by default; under rayon that puts two
/// threads on each core. Tell it, once, to compute on the calling thread only.
fn single_threaded_blas() {
    #[cfg(feature = "blas")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        unsafe extern "C" {
            fn openblas_set_num_threads(num_threads: std::ffi::c_int);
        }
        // SAFETY: an OpenBLAS function taking a plain int, linked by the `blas` feature.
        ONCE.call_once(|| unsafe { openblas_set_num_threads(1) });
    }
}
// ANCHOR_END: single_threaded_blas

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{init::uniform, seeded_rng};

    /// Splitting a product over threads, by rows or by columns, changes no bit of it: every
    /// entry is the same sum in the same order. The stored notebook outputs and the book's
    /// numbers rely on that, whatever the number of cores.
    #[test]
    fn split_products_equal_the_single_threaded_product_bit_for_bit() {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build_global();
        assert!(
            rayon::current_num_threads() >= 2,
            "needs 2 threads to split"
        );
        let one_thread = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let mut rng = seeded_rng(0);
        // Tall (split by rows), wide (by columns), odd sizes, and a transposed `b` as in
        // `x · Wᵀ`.
        for (m, k, n) in [(1000, 300, 100), (100, 300, 1000), (513, 257, 701)] {
            let a: Array2<f32> = uniform((m, k), 1.0, &mut rng);
            let b: Array2<f32> = uniform((k, n), 1.0, &mut rng);
            let b_t: Array2<f32> = uniform((n, k), 1.0, &mut rng);
            assert!(m * k * n >= PARALLEL_MIN_WORK, "large enough to split");
            let single = one_thread.install(|| matmul(&a, &b));
            assert_eq!(matmul(&a, &b), single, "({m}, {k}) · ({k}, {n})");
            let single = one_thread.install(|| matmul(&a, &b_t.t()));
            assert_eq!(matmul(&a, &b_t.t()), single, "({m}, {k}) · ({n}, {k})ᵀ");
        }
    }

    /// `a · b` summed the way each of `matrixmultiply`'s f32 kernels sums: for every entry,
    /// fused multiply-adds in order of k within blocks of 256 (its `KC`), the blocks' sums
    /// added in order.
    #[cfg(not(feature = "blas"))]
    fn in_matrixmultiply_order(a: &ArrayRef2<f32>, b: &ArrayRef2<f32>) -> Array2<f32> {
        Array2::from_shape_fn((a.nrows(), b.ncols()), |(i, j)| {
            let mut entry = 0.0_f32;
            for (block, start) in (0..a.ncols()).step_by(256).enumerate() {
                let end = (start + 256).min(a.ncols());
                let sum = (start..end).fold(0.0_f32, |acc, k| a[[i, k]].mul_add(b[[k, j]], acc));
                entry = if block == 0 { sum } else { entry + sum };
            }
            entry
        })
    }

    /// Whichever fused kernel this CPU runs (AVX-512 16 × 16, AVX2 8 × 8, NEON), every entry
    /// is the same sum in the same order, so products have the same bits on every such
    /// machine: the stored notebook outputs rely on it. Edge tiles, several blocks of k, and
    /// a transposed `b` included. A CPU without FMA gets a kernel that rounds each product
    /// first: there the products are only checked to agree within rounding.
    #[test]
    #[cfg(not(feature = "blas"))]
    fn products_have_the_bits_of_one_summation_order_on_every_kernel() {
        if device() == Device::Gpu {
            return;
        }
        let mut rng = seeded_rng(1);
        for (m, k, n) in [
            (1, 1, 1),
            (17, 33, 15),
            (40, 600, 37),
            (129, 257, 70),
            (64, 1000, 48),
        ] {
            let a: Array2<f32> = uniform((m, k), 1.0, &mut rng);
            let b: Array2<f32> = uniform((k, n), 1.0, &mut rng);
            let b_t: Array2<f32> = uniform((n, k), 1.0, &mut rng);
            let what = format!("({m}, {k}) · ({k}, {n}) on the {} kernel", name());
            for (b, layout) in [(b.view(), ""), (b_t.t(), ", b transposed")] {
                let (got, want) = (matmul(&a, &b), in_matrixmultiply_order(&a, &b));
                if matrixmultiply_kernel().1 {
                    assert_eq!(got, want, "{what}{layout}");
                } else {
                    let tolerance = 1e-6 * k as f32; // |entries| < 1, k products each
                    assert!(got.abs_diff_eq(&want, tolerance), "{what}{layout}");
                }
            }
        }
    }
}
