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
/// Each of [`N_INIT`] runs starts from greedy k-means++ (first centre uniform, each next one
/// the best of a few drawn with probability ∝ D(x)², the squared distance to the nearest
/// centre so far), all drawn
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
    while let Some(moved) = single_moves(points, &mut assignments, &mut centroids) {
        iterations += moved;
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

/// Hartigan's refinement of a converged Lloyd run: moves single points to another cluster
/// whenever that lowers the inertia, counting the centres' own shift. Moving x from cluster
/// a (n_a points) to b (n_b points) changes the inertia by
/// n_b/(n_b + 1)·‖x − c_b‖² − n_a/(n_a − 1)·‖x − c_a‖²; Lloyd's step looks only at
/// ‖x − c_b‖² − ‖x − c_a‖² and so stops at partitions this still improves. Returns the
/// number of points moved in one pass, `None` when no move helps.
fn single_moves(
    points: &ArrayRef2<f32>,
    assignments: &mut [usize],
    centroids: &mut Array2<f32>,
) -> Option<usize> {
    let k = centroids.nrows();
    let mut counts = vec![0usize; k];
    for &a in assignments.iter() {
        counts[a] += 1;
    }
    let mut moved = 0;
    for (i, x) in points.outer_iter().enumerate() {
        let a = assignments[i];
        if counts[a] <= 1 {
            continue; // a cluster keeps at least one point
        }
        let n_a = counts[a] as f32;
        let leave = n_a / (n_a - 1.0) * sq_dist(&x, &centroids.row(a));
        let best = (0..k)
            .filter(|&b| b != a)
            .map(|b| {
                let n_b = counts[b] as f32;
                (b, n_b / (n_b + 1.0) * sq_dist(&x, &centroids.row(b)))
            })
            .min_by(|p, q| p.1.total_cmp(&q.1));
        if let Some((b, join)) = best
            && join < leave - 1e-6
        {
            // Both centres move: c_a loses x, c_b gains it.
            let n_b = counts[b] as f32;
            let c_a = (&centroids.row(a) * n_a - x) / (n_a - 1.0);
            let c_b = (&centroids.row(b) * n_b + x) / (n_b + 1.0);
            centroids.row_mut(a).assign(&c_a);
            centroids.row_mut(b).assign(&c_b);
            counts[a] -= 1;
            counts[b] += 1;
            assignments[i] = b;
            moved += 1;
        }
    }
    (moved > 0).then_some(moved)
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

/// Greedy k-means++ initial centres `(k, d)` (as scikit-learn draws them): the first a
/// uniformly drawn point; for each next one, 2 + ⌊ln k⌋ candidates are drawn with
/// probability D(x)² / Σ D² (D(x) the distance to the nearest centre so far), and the one
/// that leaves the smallest Σ D² is kept. Plain k-means++ draws one candidate; trying a few
/// avoids most starts that put two centres in one group.
fn kmeans_plus_plus(points: &ArrayRef2<f32>, k: usize, rng: &mut SeededRng) -> Array2<f32> {
    let n = points.nrows();
    let trials = 2 + (k as f64).ln().floor() as usize;
    let mut chosen = vec![(rng.next_u64() % n as u64) as usize];
    let mut d2: Vec<f64> = points
        .outer_iter()
        .map(|x| sq_dist(&x, &points.row(chosen[0])) as f64)
        .collect(); // D(x)² to the nearest centre so far
    while chosen.len() < k {
        let mut best: Option<(f64, usize, Vec<f64>)> = None;
        for _ in 0..trials {
            let candidate = draw_proportional(&d2, rng);
            let with: Vec<f64> = (points.outer_iter().zip(&d2))
                .map(|(x, &d)| d.min(sq_dist(&x, &points.row(candidate)) as f64))
                .collect();
            let potential: f64 = with.iter().sum();
            if best.as_ref().is_none_or(|b| potential < b.0) {
                best = Some((potential, candidate, with));
            }
        }
        let (_, next, with) = best.expect("at least two trials");
        chosen.push(next);
        d2 = with;
    }
    points.select(Axis(0), &chosen)
}

/// An index drawn with probability ∝ `weights[i]`: the first whose running sum reaches
/// u·Σ weights, u uniform on [0, 1); zero weights (the centres) are never drawn. All zero
/// (every point sits on a centre): any index.
fn draw_proportional(weights: &[f64], rng: &mut SeededRng) -> usize {
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return (rng.next_u64() % weights.len() as u64) as usize;
    }
    let target = unit_f64(rng) * total;
    let mut cumulative = 0.0;
    weights
        .iter()
        .position(|&w| {
            cumulative += w;
            w > 0.0 && cumulative >= target
        })
        .unwrap_or_else(|| weights.iter().rposition(|&w| w > 0.0).expect("total > 0"))
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
