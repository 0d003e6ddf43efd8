//! Chapter 11's clustering tools (`attention::bert::cluster`) on inputs whose answers are known
//! by construction or by hand, and the course's sentence set (`data/sentences/`).

use std::collections::HashSet;

use attention::Error;
use attention::bert::cluster::{cosine_matrix, kmeans, pca_2d, purity, top_k_similar};
use attention::bert::data::{course_queries, course_sentences, topic_labels};
use attention::ndarray::{Array2, array};
use attention::nn::{init, seeded_rng};

/// Three blobs of 10 points in 5-D, centres 10 apart along different axes, noise std 0.5:
/// `(30, 5)` points and their blob labels.
fn three_blobs() -> (Array2<f32>, Vec<usize>) {
    let centres = array![
        [0.0f32, 0.0, 0.0, 0.0, 0.0],
        [10.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 10.0, 0.0, 0.0, 0.0]
    ];
    let noise: Array2<f32> = init::normal((30, 5), 0.5, &mut seeded_rng(7));
    // Interleaved, so that the blobs are not simply the first, second and third ten rows.
    let labels: Vec<usize> = (0..30).map(|i| i % 3).collect();
    let points = Array2::from_shape_fn((30, 5), |(i, j)| centres[[labels[i], j]] + noise[[i, j]]);
    (points, labels)
}

#[test]
fn kmeans_finds_three_separated_blobs() {
    let (points, labels) = three_blobs();
    let km = kmeans(&points, 3, 0).unwrap();
    assert_eq!(purity(&km.assignments, &labels).unwrap(), 1.0);
    assert_eq!(km.centroids.dim(), (3, 5));
    assert!(km.iterations >= 1 && km.iterations <= 100);
    // Each centroid is near its blob's centre: inertia ≈ 30 · 5 · 0.5² = 37.5.
    assert!(
        km.inertia > 20.0 && km.inertia < 60.0,
        "inertia {}",
        km.inertia
    );
}

#[test]
fn kmeans_is_reproducible_for_a_seed() {
    let (points, _) = three_blobs();
    let a = kmeans(&points, 4, 11).unwrap();
    let b = kmeans(&points, 4, 11).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.inertia.to_bits(), b.inertia.to_bits());
}

#[test]
fn kmeans_with_one_cluster_per_point_has_zero_inertia() {
    let points = array![[0.0f32, 1.0], [2.0, 3.0], [4.0, 5.0]];
    let km = kmeans(&points, 3, 1).unwrap();
    assert_eq!(km.inertia, 0.0);
    let distinct: HashSet<usize> = km.assignments.iter().copied().collect();
    assert_eq!(distinct.len(), 3);
}

#[test]
fn kmeans_one_cluster_is_the_mean() {
    let points = array![[0.0f32, 0.0], [2.0, 0.0], [4.0, 6.0]];
    let km = kmeans(&points, 1, 0).unwrap();
    assert_eq!(km.centroids, array![[2.0, 2.0]]);
    // (4 + 4) + (0 + 4) + (4 + 16) = 32.
    assert_eq!(km.inertia, 32.0);
}

#[test]
fn kmeans_rejects_bad_input_naming_the_argument() {
    let points = array![[0.0f32, 1.0], [2.0, 3.0]];
    let arg = |e: Error| match e {
        Error::Value { arg, .. } | Error::Shape { arg, .. } => arg,
        other => panic!("unexpected {other}"),
    };
    assert_eq!(arg(kmeans(&points, 0, 0).unwrap_err()), "k");
    let too_many = kmeans(&points, 3, 0).unwrap_err();
    assert!(too_many.to_string().contains("n = 2"), "{too_many}");
    assert_eq!(arg(too_many), "k");
    assert_eq!(
        arg(kmeans(&Array2::<f32>::zeros((0, 3)), 1, 0).unwrap_err()),
        "points"
    );
    let nan = kmeans(&array![[0.0f32, f32::NAN]], 1, 0).unwrap_err();
    assert!(nan.to_string().contains("[0, 1]"), "{nan}");
    assert_eq!(arg(nan), "points");
}

#[test]
fn purity_by_hand() {
    // Cluster 0 holds labels {0, 1}: its majority label has 1 point.
    // Cluster 1 holds labels {1, 1, 0}: its majority label (1) has 2 points.
    // purity = (1 + 2) / 5 = 3/5.
    assert_eq!(purity(&[0, 0, 1, 1, 1], &[0, 1, 1, 1, 0]).unwrap(), 0.6);
    // Renaming clusters changes nothing; one cluster per point is always pure.
    assert_eq!(purity(&[7, 7, 3, 3], &[1, 1, 0, 0]).unwrap(), 1.0);
    assert_eq!(purity(&[0, 1, 2, 3], &[0, 0, 0, 0]).unwrap(), 1.0);
    // One cluster for two equal-sized labels: 2/4.
    assert_eq!(purity(&[0, 0, 0, 0], &[0, 1, 0, 1]).unwrap(), 0.5);
}

#[test]
fn purity_rejects_bad_input() {
    let e = purity(&[0, 1], &[0]).unwrap_err();
    assert!(e.to_string().contains("labels"), "{e}");
    let e = purity(&[], &[]).unwrap_err();
    assert!(e.to_string().contains("assignments"), "{e}");
}

#[test]
fn pca_of_points_on_a_line() {
    // Points t·(3, 4)/5 + (1, 1): all variance along (0.6, 0.8).
    let points = Array2::from_shape_fn((6, 2), |(i, j)| 1.0 + i as f32 * [0.6, 0.8][j]);
    let pca = pca_2d(&points).unwrap();
    assert!((pca.explained[0] - 1.0).abs() < 1e-6, "{:?}", pca.explained);
    assert!(pca.explained[1].abs() < 1e-6, "{:?}", pca.explained);
    // The sign rule makes the largest entry (0.8) positive.
    let c0 = pca.components.row(0);
    assert!(
        (c0[0] - 0.6).abs() < 1e-6 && (c0[1] - 0.8).abs() < 1e-6,
        "{c0}"
    );
    // Projections: centred positions along the line, −2.5 … 2.5; nothing on the second axis.
    for (i, p) in pca.projected.outer_iter().enumerate() {
        assert!((p[0] - (i as f32 - 2.5)).abs() < 1e-5, "{p}");
        assert!(p[1].abs() < 1e-5, "{p}");
    }
    // The components are orthonormal.
    let gram = pca.components.dot(&pca.components.t());
    assert!(gram.abs_diff_eq(&Array2::eye(2), 1e-6), "{gram}");
}

#[test]
fn pca_recovers_the_axes_of_a_gaussian() {
    // z ~ N(0, I), scaled by (3, 1), rotated by 30°: covariance R diag(9, 1) Rᵀ, so the
    // principal axes are (cos 30°, sin 30°) and (−sin 30°, cos 30°), explaining 0.9 and 0.1.
    let z: Array2<f32> = init::normal((4000, 2), 1.0, &mut seeded_rng(5));
    let (c, s) = (30f32.to_radians().cos(), 30f32.to_radians().sin());
    let rotate = array![[3.0 * c, 3.0 * s], [-s, c]]; // rows: the scaled, rotated axes
    let points = z.dot(&rotate); // (4000, 2)
    let pca = pca_2d(&points).unwrap();
    let expected = array![[c, s], [-s, c]]; // signs as the largest-entry rule fixes them
    assert!(
        pca.components.abs_diff_eq(&expected, 0.02),
        "{}",
        pca.components
    );
    assert!((pca.explained[0] - 0.9).abs() < 0.01, "{:?}", pca.explained);
    assert!((pca.explained[1] - 0.1).abs() < 0.01, "{:?}", pca.explained);
    assert!((pca.explained[0] + pca.explained[1] - 1.0).abs() < 1e-5);
}

#[test]
fn pca_in_more_dimensions_than_points() {
    // 48 points in 384-D (n < d, the chapter's shape): still two orthonormal components, explained summing to ≤ 1.
    let points: Array2<f32> = init::normal((48, 384), 1.0, &mut seeded_rng(2));
    let pca = pca_2d(&points).unwrap();
    let gram = pca.components.dot(&pca.components.t());
    assert!(gram.abs_diff_eq(&Array2::eye(2), 1e-5), "{gram}");
    assert!(
        pca.explained[0] >= pca.explained[1] && pca.explained[0] + pca.explained[1] <= 1.0 + 1e-6
    );
    assert_eq!(pca.projected.dim(), (48, 2));
}

#[test]
fn pca_rejects_bad_input() {
    for bad in [
        Array2::<f32>::zeros((1, 3)),
        Array2::zeros((3, 1)),
        Array2::ones((3, 3)),
    ] {
        let e = pca_2d(&bad).unwrap_err();
        assert!(e.to_string().contains("`points`"), "{e}");
    }
    let e = pca_2d(&array![[0.0f32, 1.0], [f32::INFINITY, 0.0]]).unwrap_err();
    assert!(e.to_string().contains("inf at [1, 0]"), "{e}");
}

#[test]
fn cosines_and_search_by_hand() {
    // Unit rows: e₁, e₂ and (0.6, 0.8) (a 3-4-5 triangle).
    let a = array![[1.0f32, 0.0], [0.0, 1.0], [0.6, 0.8]];
    let expected = array![[1.0, 0.0, 0.6], [0.0, 1.0, 0.8], [0.6, 0.8, 1.0]];
    assert!(cosine_matrix(&a).abs_diff_eq(&expected, 1e-6));
    // Query (0.8, 0.6): cosines 0.8, 0.6, 0.48 + 0.48 = 0.96.
    let hits = top_k_similar(&array![0.8f32, 0.6], &a, 2);
    assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), vec![2, 0]);
    assert!((hits[0].1 - 0.96).abs() < 1e-6 && (hits[1].1 - 0.8).abs() < 1e-6);
    // Ties go to the lower index; k beyond n returns all of them.
    let tied = top_k_similar(
        &array![1.0f32, 0.0],
        &array![[0.0f32, 1.0], [1.0, 0.0], [1.0, 0.0]],
        5,
    );
    assert_eq!(tied.iter().map(|h| h.0).collect::<Vec<_>>(), vec![1, 2, 0]);
}

#[test]
fn the_course_sentences_are_a_fair_test() {
    let pairs = course_sentences().unwrap();
    assert!(pairs.len() >= 40, "{} sentences", pairs.len());
    let topics: Vec<String> = pairs.iter().map(|(t, _)| t.clone()).collect();
    let (labels, names) = topic_labels(&topics);
    assert!(names.len() >= 4, "{names:?}");
    for (label, name) in names.iter().enumerate() {
        let count = labels.iter().filter(|&&l| l == label).count();
        assert!(count >= 6, "topic {name} has {count} sentences");
    }
    let mut seen = HashSet::new();
    for (_, sentence) in &pairs {
        assert!(
            seen.insert(sentence.to_lowercase()),
            "duplicate: {sentence}"
        );
    }
    let queries = course_queries().unwrap();
    assert!(!queries.is_empty());
    for (query, topic) in &queries {
        assert!(
            names.contains(topic),
            "query {query:?} answers the unknown topic {topic}"
        );
        assert!(
            !seen.contains(&query.to_lowercase()),
            "query {query:?} is one of the sentences"
        );
    }
}
