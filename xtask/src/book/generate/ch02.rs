//! Chapter 2, positional encoding: a 4 × 4 encoding, attention's blindness to word order,
//! and the encoding's heatmap, waves and similarity figures.

use std::fmt::Write as _;

use attention::ndarray::{Array2, Axis};
use attention::plot;
use attention::plotly::Plot;
use attention::positional::sinusoidal_encoding;
use attention::worked;

use super::{Figure, Numbers, anchors, bmatrix, bmatrix_dp, err, figure, fmt_dp};

pub fn numbers() -> Result<Numbers, String> {
    Ok(vec![
        ("ch02-positional.md", positional()?),
        ("ch02-shuffle.md", shuffle()?),
        ("ch02-quiz.md", quiz()?),
    ])
}

pub fn figures() -> Result<Vec<Figure>, String> {
    let pe = sinusoidal_encoding(50, 32).map_err(err)?;
    Ok(vec![
        figure(
            "ch02-pe-heatmap",
            "Sinusoidal positional encoding, 50 positions × 32 dimensions",
            |t| plot::positional_encoding_heatmap(&pe, t),
        )?,
        figure(
            "ch02-pe-waves",
            "Columns 0, 2, 6 and 14: later dimensions turn more slowly",
            |t| Ok(waves(&pe, t)),
        )?,
        figure(
            "ch02-pe-similarity",
            "PE(i) · PE(j): depends only on the distance |i − j|",
            |t| similarity(&pe, t),
        )?,
    ])
}

/// The 4 × 4 encoding as a KaTeX matrix.
fn positional() -> Result<String, String> {
    let pe = sinusoidal_encoding(4, 4).map_err(err)?;
    let mut md = String::new();
    writeln!(
        md,
        "$$\n\\text{{PE}}_{{(4 \\times 4)}} = {}\n$$",
        bmatrix(&pe)
    )
    .unwrap();
    Ok(md)
}

/// The StatQuest head on "let's go <eos>" and on "go let's <eos>": the output rows swap too.
fn shuffle() -> Result<String, String> {
    let x = worked::statquest_encodings();
    let swapped = x.select(Axis(0), &[1, 0, 2]); // "go let's <eos>"
    let head = worked::statquest_head();
    let out = head.forward(&x, None).map_err(err)?.output;
    let out_swapped = head.forward(&swapped, None).map_err(err)?.output;
    Ok(format!(
        "$$\nX = {} \\;\\to\\; \\text{{output}} = {}\n$$\n\n$$\nX_{{\\text{{swapped}}}} = {} \\;\\to\\; \\text{{output}} = {}\n$$\n",
        bmatrix_dp(&x, 2),
        bmatrix(&out),
        bmatrix_dp(&swapped, 2),
        bmatrix(&out_swapped)
    ))
}

/// Four columns of the `(50, 32)` encoding against the position.
fn waves(pe: &Array2<f32>, title: &str) -> Plot {
    let xs: Vec<f64> = (0..50).map(f64::from).collect();
    let series: Vec<(String, Vec<f64>)> = [0, 2, 6, 14]
        .iter()
        .map(|&d| {
            let ys = pe.column(d).iter().map(|&v| f64::from(v)).collect();
            (format!("dimension {d} (sin)"), ys)
        })
        .collect();
    plot::line_chart(&xs, &series, title, "position", "PE value")
}

/// Every position's encoding dotted with every other's.
fn similarity(pe: &Array2<f32>, title: &str) -> attention::Result<Plot> {
    let similarity = pe.dot(&pe.t()); // (50, 50)
    let labels: Vec<String> = (0..50).map(|p| p.to_string()).collect();
    plot::heatmap(&similarity, &labels, &labels, title, None)
}

/// The quiz's experiments on the book's `(50, 32)` encoding (notebook 02, cells "Quiz: the
/// length of a position" and "Quiz: similarity and distance"): the squared length of some
/// rows, and PE[0] · PE[k] for a few distances k with the distance where it is smallest.
fn quiz() -> Result<String, String> {
    let pe = sinusoidal_encoding(50, 32).map_err(err)?;
    let lengths: Vec<String> = [0, 7, 49]
        .iter()
        .map(|&p| fmt_dp(pe.row(p).dot(&pe.row(p)), 4))
        .collect();
    let dot = |k: usize| pe.row(0).dot(&pe.row(k));
    let dots: Vec<String> = [0, 1, 2, 5, 10, 20, 40]
        .iter()
        .map(|&k| format!("k = {k}: {}", fmt_dp(dot(k), 2)))
        .collect();
    if (1..50).all(|k| dot(k) <= dot(k - 1)) {
        return Err("PE[0] · PE[k] falls steadily with k: the quiz says it wobbles".into());
    }
    let smallest = (1..50)
        .min_by(|&a, &b| dot(a).total_cmp(&dot(b)))
        .expect("49 distances");
    Ok(anchors(&[
        ("lengths", lengths.join(", ")),
        ("dots", dots.join("; ")),
        ("smallest_at", smallest.to_string()),
        ("smallest", fmt_dp(dot(smallest), 2)),
    ]))
}
