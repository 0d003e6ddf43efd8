//! Reference solutions — chapter 11, context-aware embeddings: an encoder-only model
//! (swapped in by the `solutions` feature).
//!
//! [`wrong`] holds realistic mistakes; the exercise checks must reject every one of them.

use std::collections::HashSet;

use ndarray::{Array1, Array2, Axis, s};

/// `ch11_gelu`: x · ½ · (1 + erf(x/√2)).
pub fn gelu(x: &Array1<f32>) -> Array1<f32> {
    x.mapv(|v| v * 0.5 * (1.0 + libm::erff(v / std::f32::consts::SQRT_2)))
}

/// `ch11_mean_pool`: the mean of the first `length` rows.
pub fn mean_pool(hidden: &Array2<f32>, length: usize) -> Array1<f32> {
    hidden.slice(s![..length, ..]).sum_axis(Axis(0)) / length as f32
}

/// `ch11_word_pieces`: greedy longest match first, continuations with `##`.
pub fn word_pieces(word: &str, vocab: &HashSet<String>) -> Vec<String> {
    let chars: Vec<char> = word.chars().collect();
    let mut pieces = Vec::new();
    let mut start = 0;
    while start < chars.len() {
        let prefix = if start == 0 { "" } else { "##" };
        // The longest piece first: end goes down from the end of the word.
        let found = (start + 1..=chars.len()).rev().find_map(|end| {
            let piece = format!("{prefix}{}", chars[start..end].iter().collect::<String>());
            vocab.contains(&piece).then_some((piece, end))
        });
        match found {
            Some((piece, end)) => {
                pieces.push(piece);
                start = end;
            }
            None => return vec!["[UNK]".to_string()], // the whole word, not a partial list
        }
    }
    pieces
}

/// `ch11_cosine_matrix`: unit rows, then their dot products.
pub fn cosine_matrix(x: &Array2<f32>) -> Array2<f32> {
    let norms = x.map_axis(Axis(1), |row| row.dot(&row).sqrt());
    let unit = x / &norms.insert_axis(Axis(1)); // (n, d) / (n, 1)
    unit.dot(&unit.t())
}

/// Realistic wrong answers, each rejected by its exercise's check.
pub mod wrong {
    use super::*;

    /// `ch11_gelu`, mistake: GPT-2's tanh approximation
    /// 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))) instead of the exact erf form.
    pub fn tanh_approximation(x: &Array1<f32>) -> Array1<f32> {
        let c = (2.0 / std::f32::consts::PI).sqrt();
        x.mapv(|v| 0.5 * v * (1.0 + (c * (v + 0.044_715 * v * v * v)).tanh()))
    }

    /// `ch11_gelu`, mistake: erf(x) instead of erf(x/√2).
    pub fn missing_sqrt2(x: &Array1<f32>) -> Array1<f32> {
        x.mapv(|v| v * 0.5 * (1.0 + libm::erff(v)))
    }

    /// `ch11_gelu`, mistake: ReLU, max(0, x).
    pub fn relu(x: &Array1<f32>) -> Array1<f32> {
        x.mapv(|v| v.max(0.0))
    }

    /// `ch11_mean_pool`, mistake: the mean over all `seq` rows, padding included.
    pub fn includes_padding(hidden: &Array2<f32>, _length: usize) -> Array1<f32> {
        hidden.mean_axis(Axis(0)).expect("at least one row")
    }

    /// `ch11_mean_pool`, mistake: sums the real rows but divides by `seq`.
    pub fn divides_by_seq(hidden: &Array2<f32>, length: usize) -> Array1<f32> {
        hidden.slice(s![..length, ..]).sum_axis(Axis(0)) / hidden.nrows() as f32
    }

    /// `ch11_mean_pool`, mistake: the sum of the real rows, not their mean.
    pub fn sums(hidden: &Array2<f32>, length: usize) -> Array1<f32> {
        hidden.slice(s![..length, ..]).sum_axis(Axis(0))
    }

    /// `ch11_word_pieces`, mistake: takes the shortest matching piece, not the longest.
    pub fn shortest_match(word: &str, vocab: &HashSet<String>) -> Vec<String> {
        let chars: Vec<char> = word.chars().collect();
        let mut pieces = Vec::new();
        let mut start = 0;
        while start < chars.len() {
            let prefix = if start == 0 { "" } else { "##" };
            let found = (start + 1..=chars.len()).find_map(|end| {
                let piece = format!("{prefix}{}", chars[start..end].iter().collect::<String>());
                vocab.contains(&piece).then_some((piece, end))
            });
            match found {
                Some((piece, end)) => {
                    pieces.push(piece);
                    start = end;
                }
                None => return vec!["[UNK]".to_string()],
            }
        }
        pieces
    }

    /// `ch11_word_pieces`, mistake: looks continuations up without `##` and returns them
    /// without it.
    pub fn forgets_prefix(word: &str, vocab: &HashSet<String>) -> Vec<String> {
        let chars: Vec<char> = word.chars().collect();
        let mut pieces = Vec::new();
        let mut start = 0;
        while start < chars.len() {
            let found = (start + 1..=chars.len()).rev().find_map(|end| {
                let piece: String = chars[start..end].iter().collect();
                vocab.contains(&piece).then_some((piece, end))
            });
            match found {
                Some((piece, end)) => {
                    pieces.push(piece);
                    start = end;
                }
                None => return vec!["[UNK]".to_string()],
            }
        }
        pieces
    }

    /// `ch11_word_pieces`, mistake: when no piece matches, keeps the pieces found so far and
    /// appends `[UNK]` instead of replacing the whole word.
    pub fn partial_unk(word: &str, vocab: &HashSet<String>) -> Vec<String> {
        let chars: Vec<char> = word.chars().collect();
        let mut pieces = Vec::new();
        let mut start = 0;
        while start < chars.len() {
            let prefix = if start == 0 { "" } else { "##" };
            let found = (start + 1..=chars.len()).rev().find_map(|end| {
                let piece = format!("{prefix}{}", chars[start..end].iter().collect::<String>());
                vocab.contains(&piece).then_some((piece, end))
            });
            match found {
                Some((piece, end)) => {
                    pieces.push(piece);
                    start = end;
                }
                None => {
                    pieces.push("[UNK]".to_string());
                    break;
                }
            }
        }
        pieces
    }

    /// `ch11_cosine_matrix`, mistake: the dot products, not normalised.
    pub fn dot_products(x: &Array2<f32>) -> Array2<f32> {
        x.dot(&x.t())
    }

    /// `ch11_cosine_matrix`, mistake: divides every column (feature) by its norm instead of
    /// every row (sentence).
    pub fn normalises_columns(x: &Array2<f32>) -> Array2<f32> {
        let norms = x.map_axis(Axis(0), |col| col.dot(&col).sqrt()); // (d)
        let unit = x / &norms; // broadcast along the rows
        unit.dot(&unit.t())
    }

    /// `ch11_cosine_matrix`, mistake: divides by ‖xᵢ‖² ‖xⱼ‖² (the squared norms).
    pub fn squared_norms(x: &Array2<f32>) -> Array2<f32> {
        let squares = x.map_axis(Axis(1), |row| row.dot(&row)); // ‖xᵢ‖²
        let dots = x.dot(&x.t());
        let n = x.nrows();
        Array2::from_shape_fn((n, n), |(i, j)| dots[[i, j]] / (squares[i] * squares[j]))
    }
}
