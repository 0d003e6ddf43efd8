//! Chapter 11's tools for looking at sentence embeddings: k-means, cluster purity, a 2-D
//! PCA for plotting, cosine similarities and a small semantic search.
//!
//! Everything is deterministic: k-means draws from the crate's seeded ChaCha8 generator,
//! ties go to the lowest index, and PCA starts from a fixed vector and fixes each
//! component's sign, so the book's numbers are the same on every platform.
//!
//! ```
//! use attention::bert::cluster::{kmeans, purity};
//! use attention::ndarray::array;
//!
//! let points = array![[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]]; // (n, d)
//! let km = kmeans(&points, 2, 0)?;
//! assert_eq!(purity(&km.assignments, &[0, 0, 1, 1])?, 1.0);
//! # Ok::<(), attention::Error>(())
//! ```

use std::collections::BTreeMap;

use ndarray::{Array1, Array2, ArrayRef1, ArrayRef2, Axis, s};
use ndarray_rand::rand::RngCore;

use crate::backend::matmul;
use crate::error::{Error, Result};
use crate::nn::{SeededRng, seeded_rng};

/// Lloyd iterations per k-means run at most.
pub const MAX_ITERS: usize = 100;
/// k-means runs (each from its own k-means++ start); the lowest inertia is kept.
pub const N_INIT: usize = 10;

/// The result of [`kmeans`].
#[derive(Debug, Clone, PartialEq)]
pub struct KMeans {
    /// The cluster of each point, `0..k`.
    pub assignments: Vec<usize>,
    /// The cluster centres, `(k, d)`.
    pub centroids: Array2<f32>,
    /// Σᵢ ‖xᵢ − c_{a(i)}‖²: the sum of squared distances to the assigned centre.
    pub inertia: f32,
    /// Assignment steps the kept run took (the last one changed nothing, unless the run
    /// stopped at [`MAX_ITERS`]).
    pub iterations: usize,
}

/// k-means clustering of the rows of `points` `(n, d)` into `k` clusters.
///
/// Minimises the inertia Σᵢ ‖xᵢ − c_{a(i)}‖² by Lloyd's algorithm: assign every point to
/// its nearest centre (squared Euclidean distance, ties to the lowest index), move every
/// centre to the mean of its points, repeat until no assignment changes or [`MAX_ITERS`].
/// Each of [`N_INIT`] runs starts from k-means++ (first centre uniform, each next one drawn
/// with probability ∝ D(x)², the squared distance to the nearest centre so far), all drawn
/// from `seeded_rng(seed)`; the run with the lowest inertia is kept (the first on ties).
/// A cluster that loses all its points keeps its old centre.
///
/// Errors: `points` empty or not finite, `k` = 0 or `k` > n.
pub fn kmeans(points: &ArrayRef2<f32>, k: usize, seed: u64) -> Result<KMeans> {
    let (n, d) = points.dim();
    if n == 0 || d == 0 {
        return Err(Error::shape("points", "(n, d), n, d ≥ 1", &[n, d]));
    }
    check_finite("points", points)?;
    if k == 0 || k > n {
        let want = format!("1 ≤ k ≤ n = {n} (the number of points)");
        return Err(Error::value("k", want, k));
    }
    let mut rng = seeded_rng(seed);
    let mut best: Option<KMeans> = None;
    for _ in 0..N_INIT {
        let run = lloyd(points, kmeans_plus_plus(points, k, &mut rng));
        if best.as_ref().is_none_or(|b| run.inertia < b.inertia) {
            best = Some(run);
        }
    }
    Ok(best.expect("N_INIT ≥ 1"))
}

/// One k-means run from the given initial centres `(k, d)`.
fn lloyd(points: &ArrayRef2<f32>, mut centroids: Array2<f32>) -> KMeans {
    let mut assignments = assign(points, &centroids);
    let mut iterations = 1;
    while iterations < MAX_ITERS {
        centroids = update(points, &assignments, &centroids);
        let next = assign(points, &centroids);
        iterations += 1;
        if next == assignments {
            break;
        }
        assignments = next;
    }
    let inertia = points
        .outer_iter()
        .zip(&assignments)
        .map(|(x, &c)| sq_dist(&x, &centroids.row(c)))
        .sum();
    KMeans {
        assignments,
        centroids,
        inertia,
        iterations,
    }
}

// ANCHOR: kmeans_step
/// The assignment step: each point's nearest centre, a(i) = argmin_c ‖xᵢ − c‖²
/// (the lowest index on ties).
fn assign(points: &ArrayRef2<f32>, centroids: &ArrayRef2<f32>) -> Vec<usize> {
    points
        .outer_iter() // each x: (d,)
        .map(|x| nearest(&x, centroids).0)
        .collect()
}

/// The update step: each centre moves to the mean of its points, c = (1/|S_c|) Σ_{i∈S_c} xᵢ;
/// a centre with no points stays where it was.
fn update(
    points: &ArrayRef2<f32>,
    assignments: &[usize],
    centroids: &ArrayRef2<f32>,
) -> Array2<f32> {
    let mut sums = Array2::<f32>::zeros(centroids.raw_dim()); // (k, d)
    let mut counts = vec![0usize; centroids.nrows()];
    for (x, &c) in points.outer_iter().zip(assignments) {
        sums.row_mut(c).scaled_add(1.0, &x);
        counts[c] += 1;
    }
    for (c, mut row) in sums.outer_iter_mut().enumerate() {
        match counts[c] {
            0 => row.assign(&centroids.row(c)),
            m => row /= m as f32,
        }
    }
    sums
}
// ANCHOR_END: kmeans_step

/// The nearest centre to `x` and its squared distance (the lowest index on ties).
fn nearest(x: &ArrayRef1<f32>, centroids: &ArrayRef2<f32>) -> (usize, f32) {
    let mut best = (0, f32::INFINITY);
    for (c, centre) in centroids.outer_iter().enumerate() {
        let dist = sq_dist(x, &centre);
        if dist < best.1 {
            best = (c, dist);
        }
    }
    best
}

/// ‖a − b‖².
fn sq_dist(a: &ArrayRef1<f32>, b: &ArrayRef1<f32>) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// k-means++ initial centres `(k, d)`: the first a uniformly drawn point, each next one a
/// point drawn with probability D(x)² / Σ D², D(x) the distance to the nearest centre so far.
fn kmeans_plus_plus(points: &ArrayRef2<f32>, k: usize, rng: &mut SeededRng) -> Array2<f32> {
    let n = points.nrows();
    let mut chosen = vec![(rng.next_u64() % n as u64) as usize];
    while chosen.len() < k {
        let centres = points.select(Axis(0), &chosen); // (chosen, d)
        let d2: Vec<f64> = points
            .outer_iter()
            .map(|x| nearest(&x, &centres).1 as f64)
            .collect();
        let total: f64 = d2.iter().sum();
        let next = if total > 0.0 {
            // The first point whose running sum of D² reaches u·Σ D², u uniform on [0, 1);
            // points with D = 0 (the centres) are never picked.
            let target = unit_f64(rng) * total;
            let mut cumulative = 0.0;
            d2.iter()
                .position(|&w| {
                    cumulative += w;
                    w > 0.0 && cumulative >= target
                })
                .expect("the last point with D > 0 reaches the total")
        } else {
            // Every point already sits on a centre: any point will do.
            (rng.next_u64() % n as u64) as usize
        };
        chosen.push(next);
    }
    points.select(Axis(0), &chosen)
}

/// Uniform on `[0, 1)` from the top 53 bits of one `u64` (the same on every platform).
fn unit_f64(rng: &mut SeededRng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

// ANCHOR: purity
/// Cluster purity: each cluster votes for its most common true label, and purity is the
/// fraction of points whose label won their cluster's vote,
/// purity = (1/n) Σ_clusters max_label |{i : a(i) = cluster, label(i) = label}|.
/// 1.0 means every cluster holds a single label. More clusters never lower it (n clusters
/// of one point each score 1.0), so compare purities at the same k.
pub fn purity(assignments: &[usize], labels: &[usize]) -> Result<f32> {
    if assignments.is_empty() {
        return Err(Error::value("assignments", "at least one point", "none"));
    }
    if labels.len() != assignments.len() {
        let want = format!("one label per point ({})", assignments.len());
        return Err(Error::value("labels (its length)", want, labels.len()));
    }
    let mut counts: BTreeMap<(usize, usize), usize> = BTreeMap::new(); // (cluster, label) → count
    for (&c, &l) in assignments.iter().zip(labels) {
        *counts.entry((c, l)).or_default() += 1;
    }
    let mut majority: BTreeMap<usize, usize> = BTreeMap::new(); // cluster → its largest count
    for (&(c, _), &m) in &counts {
        let best = majority.entry(c).or_default();
        *best = (*best).max(m);
    }
    let agree: usize = majority.values().sum();
    Ok(agree as f32 / assignments.len() as f32)
}
// ANCHOR_END: purity

/// The result of [`pca_2d`].
#[derive(Debug, Clone, PartialEq)]
pub struct Pca2 {
    /// The centred points on the two components, `(n, 2)`.
    pub projected: Array2<f32>,
    /// The top two principal directions as unit rows, `(2, d)`.
    pub components: Array2<f32>,
    /// The fraction of the total variance along each component, λᵢ / Σⱼ λⱼ.
    pub explained: [f32; 2],
}

/// Power iterations per component at most.
const PCA_MAX_ITERS: usize = 1000;
/// Power iteration stops once the unit vector moves less than this.
const PCA_TOL: f64 = 1e-7;

/// The top two principal components of the rows of `points` `(n, d)`, for a 2-D picture.
///
/// Centres the points (X̄ = X − mean), forms the `(d, d)` covariance C = X̄ᵀX̄ / (n − 1)
/// (always the covariance, even when n < d: for 384-d embeddings that is 147k entries,
/// cheap) and finds its top eigenvectors by power iteration with deflation: v ← Cv / ‖Cv‖
/// until v moves less than 1e-7 (at most 1000 steps), λ = vᵀCv, then C ← C − λvvᵀ for the
/// next one. The start vector is C's column with the largest diagonal entry (deterministic);
/// each step is kept orthogonal to the earlier component. Each component's sign is fixed so that its largest-|entry| coordinate is
/// positive. Computed in f64, returned in f32.
///
/// Errors: fewer than 2 points or 2 dimensions, non-finite values, all points identical.
pub fn pca_2d(points: &ArrayRef2<f32>) -> Result<Pca2> {
    let (n, d) = points.dim();
    if n < 2 || d < 2 {
        return Err(Error::shape("points", "(n, d), n, d ≥ 2", &[n, d]));
    }
    check_finite("points", points)?;
    let x = points.mapv(f64::from); // (n, d)
    let centred = &x - &x.mean_axis(Axis(0)).expect("n ≥ 2"); // (n, d)
    let mut cov = centred.t().dot(&centred) / (n - 1) as f64; // (d, d)
    let total: f64 = cov.diag().sum();
    if total <= 0.0 {
        let want = "points that are not all identical";
        return Err(Error::value("points", want, "zero variance"));
    }
    let mut components = Array2::<f64>::zeros((2, d)); // (2, d)
    let mut explained = [0.0f32; 2];
    for (i, share) in explained.iter_mut().enumerate() {
        let (lambda, v) = top_eigenvector(&cov, &components.slice(s![..i, ..]));
        *share = (lambda.max(0.0) / total) as f32;
        // Deflation: C ← C − λ v vᵀ.
        let v_col = v.view().insert_axis(Axis(1)); // (d, 1)
        cov -= &(lambda * &v_col.dot(&v_col.t()));
        components.row_mut(i).assign(&v);
    }
    let projected = centred.dot(&components.t()); // (n, 2)
    Ok(Pca2 {
        projected: projected.mapv(|v| v as f32),
        components: components.mapv(|v| v as f32),
        explained,
    })
}

/// Power iteration on the symmetric `a` `(d, d)`, kept orthogonal to the rows of `earlier`:
/// the top eigenvalue and its unit eigenvector, sign fixed by [`fix_sign`].
fn top_eigenvector(a: &ArrayRef2<f64>, earlier: &ArrayRef2<f64>) -> (f64, Array1<f64>) {
    let d = a.nrows();
    // Start: the column of `a` with the largest diagonal entry; if that lies in the span of
    // `earlier` (a ≈ 0 elsewhere), the first unit vector that does not.
    let j = (0..d).fold(0, |b, j| if a[[j, j]] > a[[b, b]] { j } else { b });
    let unit = |j: usize| Array1::from_shape_fn(d, |i| if i == j { 1.0 } else { 0.0 });
    let mut v = orthonormal(a.column(j).to_owned(), earlier)
        .or_else(|| (0..d).find_map(|j| orthonormal(unit(j), earlier)))
        .expect("d > the number of earlier components");
    for _ in 0..PCA_MAX_ITERS {
        let Some(next) = orthonormal(a.dot(&v), earlier) else {
            break; // a v = 0: v is an eigenvector with eigenvalue 0
        };
        let change = (&next - &v).mapv(|e| e * e).sum().sqrt();
        v = next;
        if change < PCA_TOL {
            break;
        }
    }
    let v = fix_sign(v);
    (v.dot(&a.dot(&v)), v)
}

/// `v` with its components along the (unit) rows of `earlier` removed, scaled to length 1;
/// `None` if nothing is left.
fn orthonormal(mut v: Array1<f64>, earlier: &ArrayRef2<f64>) -> Option<Array1<f64>> {
    for u in earlier.outer_iter() {
        let along = u.dot(&v);
        v.scaled_add(-along, &u);
    }
    let norm = v.dot(&v).sqrt();
    (norm > 1e-12).then(|| v / norm)
}

/// `v` or `−v`, whichever has its largest-|entry| coordinate (the first on ties) positive.
fn fix_sign(v: Array1<f64>) -> Array1<f64> {
    let top = v
        .iter()
        .fold(0.0f64, |m, &e| if e.abs() > m.abs() { e } else { m });
    if top < 0.0 { -v } else { v }
}

/// All pairwise cosines of the rows of `a` `(n, d)`, **which must already be L2-normalised**
/// (as the sentence embeddings are): cos(aᵢ, aⱼ) = aᵢ·aⱼ, so the `(n, n)` matrix is a·aᵀ.
pub fn cosine_matrix(a: &ArrayRef2<f32>) -> Array2<f32> {
    matmul(a, &a.t()) // (n, d)·(d, n) → (n, n)
}

/// Semantic search: the `k` rows of `candidates` `(n, d)` most similar to `query` `(d,)`,
/// as `(index, cosine)`, best first (the lower index first on ties). Like
/// [`cosine_matrix`] it takes the dot product as the cosine, so `query` and `candidates`
/// must be L2-normalised; fewer than `k` results when n < k.
///
/// # Panics
/// If `query`'s length differs from `candidates`' row length.
pub fn top_k_similar(
    query: &ArrayRef1<f32>,
    candidates: &ArrayRef2<f32>,
    k: usize,
) -> Vec<(usize, f32)> {
    let (d, rows) = (query.len(), candidates.ncols());
    assert_eq!(
        d, rows,
        "top_k_similar: `query` (d = {d}) vs `candidates` (d = {rows})"
    );
    let mut scored: Vec<(usize, f32)> = candidates
        .outer_iter()
        .map(|row| row.dot(query))
        .enumerate()
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.truncate(k);
    scored
}

/// An [`Error::Value`] naming `arg` and the first non-finite entry, if there is one.
fn check_finite(arg: &str, points: &ArrayRef2<f32>) -> Result<()> {
    match points.indexed_iter().find(|(_, v)| !v.is_finite()) {
        None => Ok(()),
        Some(((i, j), v)) => Err(Error::value(
            arg,
            "finite values",
            format!("{v} at [{i}, {j}]"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn assign_breaks_ties_to_the_lowest_index() {
        // The point 0 is equally far (1) from both centres.
        let centroids = array![[-1.0f32], [1.0]];
        assert_eq!(assign(&array![[0.0f32], [0.9]], &centroids), vec![0, 1]);
    }

    #[test]
    fn an_empty_cluster_keeps_its_centre() {
        let points = array![[0.0f32, 0.0], [2.0, 0.0]];
        let centroids = array![[1.0f32, 1.0], [9.0, 9.0]];
        let moved = update(&points, &[0, 0], &centroids);
        assert_eq!(moved, array![[1.0, 0.0], [9.0, 9.0]]);
    }

    #[test]
    fn sign_is_fixed_by_the_largest_entry() {
        assert_eq!(fix_sign(array![0.6, -0.8]), array![-0.6, 0.8]);
        assert_eq!(fix_sign(array![-0.6, 0.8]), array![-0.6, 0.8]);
    }
}
