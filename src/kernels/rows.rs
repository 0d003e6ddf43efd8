//! Row-by-row and entry-by-entry work on every core: a layer whose rows are independent
//! (LayerNorm normalises each token vector on its own, a bias is added to every row) gives
//! each thread a share of the rows. Each row is computed exactly as a plain loop would, so the
//! bits do not change.

use ndarray::{ArrayRef, ArrayViewMut1, Axis, Dimension};
use rayon::prelude::*;

/// Entries per rayon task: below this, one thread does it all (splitting costs more).
pub const TASK_ENTRIES: usize = 1 << 14;

/// Whether element-wise work on `len` entries is worth splitting over rayon's threads: at
/// least two tasks of [`TASK_ENTRIES`], and not already inside a parallel section (where the
/// other cores are busy with their own share).
pub fn split_over_threads(len: usize) -> bool {
    len >= 2 * TASK_ENTRIES && rayon::current_thread_index().is_none()
}

/// Calls `f` on every row (every lane along the last axis) of `a`. For a large array in
/// standard layout, outside a parallel section, the rows are split over rayon's threads;
/// otherwise they run in order on this thread.
///
/// ```
/// use attention::kernels::for_each_row;
/// use attention::ndarray::array;
///
/// let mut x = array![[1.0_f32, 2.0], [3.0, 4.0]];
/// for_each_row(&mut x, |mut row| row += &array![10.0, 20.0]); // a bias on every row
/// assert_eq!(x, array![[11.0, 22.0], [13.0, 24.0]]);
/// ```
pub fn for_each_row<D: Dimension>(
    a: &mut ArrayRef<f32, D>,
    f: impl Fn(ArrayViewMut1<f32>) + Sync + Send,
) {
    let Some(&d) = a.shape().last() else {
        return; // a 0-dimensional array has no rows
    };
    let parallel = d > 0 && split_over_threads(a.len());
    match a.as_slice_mut() {
        Some(entries) if parallel => entries
            .par_chunks_mut(d)
            .with_min_len(TASK_ENTRIES.div_ceil(d))
            .for_each(|row| f(ArrayViewMut1::from(row))),
        _ => {
            let last = Axis(a.ndim() - 1);
            a.lanes_mut(last).into_iter().for_each(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array3, s};

    /// Split over threads or not, standard layout or not: every row gets `f` once.
    #[test]
    fn every_row_once_in_any_layout() {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build_global();
        for shape in [(1, 1, 1), (3, 4, 5), (4, 300, 64), (2, 2, 0)] {
            let count = |a: &mut ArrayRef<f32, _>| {
                for_each_row(a, |mut row| {
                    let n = row.len() as f32;
                    row.iter_mut()
                        .enumerate()
                        .for_each(|(i, x)| *x += n + i as f32);
                })
            };
            let mut a = Array3::<f32>::zeros(shape);
            count(&mut a);
            let want = Array3::from_shape_fn(shape, |(_, _, i)| (shape.2 + i) as f32);
            assert_eq!(a, want, "{shape:?}");
            let mut b = Array3::<f32>::zeros((shape.0, shape.1, 2 * shape.2));
            let mut strided = b.slice_mut(s![.., .., ..;2]); // not standard layout
            count(&mut strided);
            assert_eq!(strided, want, "{shape:?} strided");
        }
    }
}
