//! Figures for the book and the notebooks: one function per kind of figure.
//!
//! Each function returns a [`plotly::Plot`]. The notebooks show it with [`show`]; the book
//! generator writes it with [`html_fragment`]. Heatmaps put row 0 at the **top** (like a
//! printed matrix) and label both axes with tokens.
//!
//! ```
//! use attention::plot::attention_heatmap;
//! use attention::ndarray::array;
//!
//! let weights = array![[1.0_f32, 0.0], [0.3, 0.7]];
//! let tokens = ["let's".to_string(), "go".to_string()];
//! let figure = attention_heatmap(&weights, &tokens, &tokens, "Who attends to whom")?;
//! assert!(figure.to_json().contains("heatmap"));
//! # Ok::<(), attention::Error>(())
//! ```

use std::sync::atomic::{AtomicBool, Ordering};

use ndarray::{ArrayRef2, ArrayRef3};
use plotly::common::{ColorScale, ColorScalePalette, DashType, Line, Mode, Position, Title};
use plotly::layout::{Axis, AxisType, GridPattern, Layout, LayoutGrid};
use plotly::{HeatMap, Plot, Scatter};

use crate::bench_results::BenchResults;
use crate::error::{Error, Result};

/// Labels and title of a heatmap's axes.
struct Axes<'a> {
    x_labels: &'a [String],
    y_labels: &'a [String],
    x_title: &'a str,
    y_title: &'a str,
}

/// A heatmap of `z` `(rows, cols)`: row 0 at the top, `y_labels` down the side, `x_labels`
/// along the bottom. `z_range` fixes the colour scale (e.g. `(0, 1)` for probabilities).
pub fn heatmap(
    z: &ArrayRef2<f32>,
    x_labels: &[String],
    y_labels: &[String],
    title: &str,
    z_range: Option<(f32, f32)>,
) -> Result<Plot> {
    let axes = Axes {
        x_labels,
        y_labels,
        x_title: "",
        y_title: "",
    };
    let mut plot = Plot::new();
    plot.add_trace(heatmap_trace(
        z,
        &axes,
        z_range,
        1,
        ColorScalePalette::Viridis,
    )?);
    plot.set_layout(
        Layout::new()
            .title(title)
            .x_axis(label_axis(x_labels, "", false))
            .y_axis(label_axis(y_labels, "", true)),
    );
    Ok(plot)
}

/// Attention weights `(tgt_len, src_len)` as a heatmap: queries down the side (row 0 at the
/// top), keys along the bottom, colours from 0 to 1.
pub fn attention_heatmap(
    weights: &ArrayRef2<f32>,
    query_tokens: &[String],
    key_tokens: &[String],
    title: &str,
) -> Result<Plot> {
    let axes = Axes {
        x_labels: key_tokens,
        y_labels: query_tokens,
        x_title: "key (attended to)",
        y_title: "query (attending)",
    };
    let mut plot = Plot::new();
    plot.add_trace(heatmap_trace(
        weights,
        &axes,
        Some((0.0, 1.0)),
        1,
        ColorScalePalette::Blues,
    )?);
    plot.set_layout(
        Layout::new()
            .title(title)
            .x_axis(label_axis(key_tokens, axes.x_title, false))
            .y_axis(label_axis(query_tokens, axes.y_title, true))
            .height(420),
    );
    Ok(plot)
}

/// One attention heatmap per head, side by side: `weights` is `(heads, tgt_len, src_len)`
/// (one sequence of a multi-head output). At most 8 heads.
pub fn multi_head_heatmaps(
    weights: &ArrayRef3<f32>,
    query_tokens: &[String],
    key_tokens: &[String],
    title: &str,
) -> Result<Plot> {
    let names: Vec<String> = (0..weights.shape()[0])
        .map(|h| format!("head {h}"))
        .collect();
    side_by_side_heatmaps(weights, &names, query_tokens, key_tokens, title)
}

/// Attention maps side by side, each `(tgt_len, src_len)` of `weights` under its name in
/// `names` (e.g. "before training", "after training"). At most 8.
pub fn side_by_side_heatmaps(
    weights: &ArrayRef3<f32>,
    names: &[String],
    query_tokens: &[String],
    key_tokens: &[String],
    title: &str,
) -> Result<Plot> {
    let heads = weights.shape()[0];
    if !(1..=8).contains(&heads) {
        return Err(Error::value("weights", "1 to 8 maps", heads));
    }
    if names.len() != heads {
        let want = format!("one name per map ({heads})");
        return Err(Error::value("names", want, names.len()));
    }
    let axes = Axes {
        x_labels: key_tokens,
        y_labels: query_tokens,
        x_title: "key",
        y_title: "query",
    };
    let mut plot = Plot::new();
    let mut layout = Layout::new().title(title).height(380).grid(
        LayoutGrid::new()
            .rows(1)
            .columns(heads)
            .pattern(GridPattern::Independent),
    );
    for (h, head) in weights.outer_iter().enumerate() {
        let trace = heatmap_trace(
            &head,
            &axes,
            Some((0.0, 1.0)),
            h + 1,
            ColorScalePalette::Blues,
        )?;
        plot.add_trace(trace);
        let x = label_axis(key_tokens, &names[h], false);
        let y = label_axis(query_tokens, if h == 0 { "query" } else { "" }, true);
        layout = set_axes(layout, h + 1, x, y);
    }
    plot.set_layout(layout);
    Ok(plot)
}

/// The positional-encoding table `(max_len, d_model)`: positions down the side (0 at the
/// top), dimensions along the bottom, colours from −1 to 1.
pub fn positional_encoding_heatmap(pe: &ArrayRef2<f32>, title: &str) -> Result<Plot> {
    let (positions, dims) = pe.dim();
    let pos_labels: Vec<String> = (0..positions).map(|p| p.to_string()).collect();
    let dim_labels: Vec<String> = (0..dims).map(|d| d.to_string()).collect();
    let axes = Axes {
        x_labels: &dim_labels,
        y_labels: &pos_labels,
        x_title: "dimension",
        y_title: "position",
    };
    let mut plot = Plot::new();
    plot.add_trace(heatmap_trace(
        pe,
        &axes,
        Some((-1.0, 1.0)),
        1,
        ColorScalePalette::RdBu,
    )?);
    plot.set_layout(
        Layout::new()
            .title(title)
            .x_axis(Axis::new().title(Title::with_text("dimension i")))
            .y_axis(
                Axis::new()
                    .title(Title::with_text("position"))
                    .range(vec![positions as f64 - 0.5, -0.5]),
            )
            .height(460),
    );
    Ok(plot)
}

/// Labelled points in 2-D: `points` is `(n, 2)`, e.g. toy embeddings with d_model = 2.
pub fn embedding_scatter(points: &ArrayRef2<f32>, labels: &[String], title: &str) -> Result<Plot> {
    if points.ncols() != 2 || points.nrows() != labels.len() {
        let want = format!("({}, 2): one 2-D point per label", labels.len());
        return Err(Error::shape("points", want, points.shape()));
    }
    let xs: Vec<f32> = points.column(0).to_vec();
    let ys: Vec<f32> = points.column(1).to_vec();
    let trace = Scatter::new(xs, ys)
        .mode(Mode::MarkersText)
        .text_array(labels.to_vec())
        .text_position(Position::TopCenter)
        .name("tokens");
    let mut plot = Plot::new();
    plot.add_trace(trace);
    plot.set_layout(
        Layout::new()
            .title(title)
            .x_axis(
                Axis::new()
                    .title(Title::with_text("dimension 0"))
                    .zero_line(true),
            )
            .y_axis(
                Axis::new()
                    .title(Title::with_text("dimension 1"))
                    .zero_line(true)
                    .scale_anchor("x"),
            )
            .height(460),
    );
    Ok(plot)
}

/// Curves with their own x values: `series` `(name, xs, ys)`, e.g. a training loss every
/// step and a held-out loss every few hundred steps.
pub fn curves(
    series: &[(String, Vec<f64>, Vec<f64>)],
    title: &str,
    x_title: &str,
    y_title: &str,
) -> Plot {
    let mut plot = Plot::new();
    for (name, xs, ys) in series {
        let mode = if xs.len() > 50 {
            Mode::Lines
        } else {
            Mode::LinesMarkers
        };
        plot.add_trace(Scatter::new(xs.clone(), ys.clone()).mode(mode).name(name));
    }
    plot.set_layout(
        Layout::new()
            .title(title)
            .height(460)
            .x_axis(Axis::new().title(Title::with_text(x_title)))
            .y_axis(Axis::new().title(Title::with_text(y_title))),
    );
    plot
}

/// Lines of `series` `(name, ys)` over common `xs`.
pub fn line_chart(
    xs: &[f64],
    series: &[(String, Vec<f64>)],
    title: &str,
    x_title: &str,
    y_title: &str,
) -> Plot {
    let mut plot = Plot::new();
    for (name, ys) in series {
        let trace = Scatter::new(xs.to_vec(), ys.clone())
            .mode(Mode::LinesMarkers)
            .name(name);
        plot.add_trace(trace);
    }
    plot.set_layout(
        Layout::new()
            .title(title)
            .x_axis(Axis::new().title(Title::with_text(x_title)))
            .y_axis(Axis::new().title(Title::with_text(y_title))),
    );
    plot
}

/// Measured time against sequence length (chapter 8): milliseconds per call of attention
/// alone (the `"sdpa"` cases of [`BenchResults`] with the plain kernel), for PyTorch, this
/// crate's default build and this crate with OpenBLAS; solid lines without a mask, dashed
/// with a causal mask. Both axes are logarithmic, so time growing like n² is a straight
/// line of slope 2.
///
/// A build with no measurement (no `blas_ms`) has no line.
pub fn time_vs_seq_figure(results: &BenchResults) -> Plot {
    let mut plot = Plot::new();
    let mut ticks = Vec::new();
    for (causal, mask, dash) in [
        (false, "full", DashType::Solid),
        (true, "causal", DashType::Dash),
    ] {
        let cases = results.sdpa_series("plain", causal);
        let seqs: Vec<f64> = cases.iter().map(|c| c.seq as f64).collect();
        ticks.extend(seqs.iter().copied());
        let builds: [(&str, Vec<Option<f64>>); 3] = [
            ("PyTorch", cases.iter().map(|c| Some(c.torch_ms)).collect()),
            (
                "this crate",
                cases.iter().map(|c| Some(c.default_ms)).collect(),
            ),
            (
                "this crate + OpenBLAS",
                cases.iter().map(|c| c.blas_ms).collect(),
            ),
        ];
        for (colour, (build, times)) in ["#636efa", "#ef553b", "#00cc96"].iter().zip(builds) {
            let points: Vec<(f64, f64)> = seqs
                .iter()
                .zip(&times)
                .filter_map(|(&n, t)| t.map(|ms| (n, ms)))
                .collect();
            if points.is_empty() {
                continue;
            }
            let (xs, ys): (Vec<f64>, Vec<f64>) = points.into_iter().unzip();
            let trace = Scatter::new(xs, ys)
                .mode(Mode::LinesMarkers)
                .name(format!("{build}, {mask}"))
                .line(Line::new().dash(dash.clone()).color(*colour));
            plot.add_trace(trace);
        }
    }
    ticks.sort_by(f64::total_cmp);
    ticks.dedup();
    let title = format!(
        "Attention alone, time per call ({}, {} threads)",
        results.machine, results.threads
    );
    plot.set_layout(
        Layout::new()
            .title(title.as_str())
            .x_axis(
                Axis::new()
                    .title(Title::with_text("sequence length n (log scale)"))
                    .type_(AxisType::Log)
                    .tick_values(ticks.clone())
                    .tick_text(ticks.iter().map(|t| t.to_string()).collect()),
            )
            .y_axis(
                Axis::new()
                    .title(Title::with_text("milliseconds per call (log scale)"))
                    .type_(AxisType::Log),
            )
            .height(460),
    );
    plot
}

/// Memory of plain attention against sequence length (chapter 8): the `(n, n)` score
/// matrices of `heads` heads against Q, K, V and the output (`head_dim` wide), batch 1, in
/// megabytes of `f32`, for n = 128, 256, … 16384. Both axes are logarithmic: the score
/// matrices grow like n² (slope 2), what a tiled kernel keeps like n (slope 1).
pub fn attention_memory_figure(heads: usize, head_dim: usize, title: &str) -> Plot {
    use crate::fast::{input_output_bytes, score_matrix_bytes};
    let ns: Vec<usize> = (7..=14).map(|p| 1 << p).collect(); // 128 … 16384
    let mb = |b: u64| b as f64 / 1e6;
    let series = vec![
        (
            "score matrices, n × n per head (plain attention)".to_string(),
            ns.iter()
                .map(|&n| mb(score_matrix_bytes(1, heads, n)))
                .collect(),
        ),
        (
            "Q, K, V and output (all a tiled kernel keeps)".to_string(),
            ns.iter()
                .map(|&n| mb(input_output_bytes(1, heads, n, head_dim)))
                .collect(),
        ),
    ];
    let xs: Vec<f64> = ns.iter().map(|&n| n as f64).collect();
    let mut plot = line_chart(&xs, &series, title, "", "");
    let ticks: Vec<String> = ns.iter().map(usize::to_string).collect();
    plot.set_layout(
        Layout::new()
            .title(title)
            .x_axis(
                Axis::new()
                    .title(Title::with_text("sequence length n (log scale)"))
                    .type_(AxisType::Log)
                    .tick_values(xs.clone())
                    .tick_text(ticks),
            )
            .y_axis(
                Axis::new()
                    .title(Title::with_text("megabytes, f32 (log scale)"))
                    .type_(AxisType::Log),
            ),
    );
    plot
}

/// The loss of one position over two tokens against the probability p of the right one, p
/// from 0.01 to 0.99 (chapter 9): plain cross-entropy −log p and, for each ε of
/// `label_smoothing`, the label-smoothed loss. The logits (log p, log(1 − p)) give exactly p.
pub fn cross_entropy_curves(label_smoothing: &[f32], title: &str) -> Result<Plot> {
    use crate::train::loss::CrossEntropyLoss;
    let ps: Vec<f64> = (1..100).map(|i| f64::from(i) / 100.0).collect();
    let mut series = Vec::new();
    let mut cases = vec![("cross-entropy −log p".to_string(), 0.0)];
    cases.extend(
        label_smoothing
            .iter()
            .map(|&eps| (format!("with label smoothing ε = {eps}"), eps)),
    );
    for (name, eps) in cases {
        let loss = CrossEntropyLoss::new(None, eps)?;
        let mut ys = Vec::new();
        for &p in &ps {
            let logits = ndarray::array![[p.ln() as f32, (1.0 - p).ln() as f32]];
            ys.push(f64::from(loss.forward(&logits, &[0])?));
        }
        series.push((name, ys));
    }
    Ok(line_chart(&ps, &series, title, "p(right token)", "loss"))
}

/// The paper's learning-rate schedule (chapter 9's `NoamSchedule`, factor 1) for each
/// `(d_model, warmup)`, every 100 steps up to 20,000 (The Annotated Transformer's figure).
pub fn noam_schedule_curves(configs: &[(usize, usize)], title: &str) -> Result<Plot> {
    use crate::train::schedule::NoamSchedule;
    let steps: Vec<usize> = (1..=200).map(|i| i * 100).collect();
    let mut series = Vec::new();
    for &(d_model, warmup) in configs {
        let schedule = NoamSchedule::new(d_model, warmup, 1.0)?;
        let lrs: Result<Vec<f64>> = steps.iter().map(|&s| schedule.lr(s)).collect();
        series.push((format!("d_model {d_model}, warm-up {warmup}"), lrs?));
    }
    let xs: Vec<f64> = steps.iter().map(|&s| s as f64).collect();
    Ok(line_chart(&xs, &series, title, "step", "learning rate"))
}

/// A heatmap trace on subplot `index` (1-based) with numeric axes labelled by tick text.
fn heatmap_trace(
    z: &ArrayRef2<f32>,
    axes: &Axes,
    z_range: Option<(f32, f32)>,
    index: usize,
    palette: ColorScalePalette,
) -> Result<Box<HeatMap<usize, usize, Vec<f32>>>> {
    let (rows, cols) = z.dim();
    if rows != axes.y_labels.len() || cols != axes.x_labels.len() {
        let want = format!(
            "({}, {}): one row per y label and one column per x label",
            axes.y_labels.len(),
            axes.x_labels.len()
        );
        return Err(Error::shape("z", want, z.shape()));
    }
    let rows_z: Vec<Vec<f32>> = z.rows().into_iter().map(|r| r.to_vec()).collect();
    let hover: Vec<Vec<String>> = (0..rows)
        .map(|r| {
            (0..cols)
                .map(|c| {
                    let (x, y) = (&axes.x_labels[c], &axes.y_labels[r]);
                    let (xt, yt) = (axes.x_title, axes.y_title);
                    format!("{yt} {y} → {xt} {x}: {:.3}", z[[r, c]])
                })
                .collect()
        })
        .collect();
    let suffix = if index == 1 {
        String::new()
    } else {
        index.to_string()
    };
    // plotly's "Blues" runs from dark (0) to light (1); reversed, more attention is darker.
    let reverse = matches!(palette, ColorScalePalette::Blues);
    let mut trace = HeatMap::new((0..cols).collect(), (0..rows).collect(), rows_z)
        .color_scale(ColorScale::Palette(palette))
        .reverse_scale(reverse)
        .hover_text_matrix(hover)
        .hover_info(plotly::common::HoverInfo::Text)
        .x_axis(format!("x{suffix}"))
        .y_axis(format!("y{suffix}"))
        .show_scale(index == 1);
    if let Some((lo, hi)) = z_range {
        trace = trace.zmin(lo as f64).zmax(hi as f64);
    }
    Ok(trace)
}

/// An axis whose ticks 0..n show `labels` (duplicated tokens stay distinct); `reversed`
/// puts index 0 at the top.
fn label_axis(labels: &[String], title: &str, reversed: bool) -> Axis {
    let n = labels.len() as f64;
    let range = if reversed {
        vec![n - 0.5, -0.5]
    } else {
        vec![-0.5, n - 0.5]
    };
    // Up to 24 labels all show; longer axes (e.g. 50 positions) label every 2nd, 5th, 10th…
    let step = [1, 2, 5, 10, 20, 50, 100, 200, 500]
        .into_iter()
        .find(|&k| labels.len().div_ceil(k) <= 24)
        .unwrap_or(1000);
    let ticks: Vec<usize> = (0..labels.len()).step_by(step).collect();
    Axis::new()
        .title(Title::with_text(title))
        .tick_values(ticks.iter().map(|&i| i as f64).collect())
        .tick_text(ticks.iter().map(|&i| labels[i].clone()).collect())
        .range(range)
}

/// Sets x and y axis number `index` (1-based, up to 8) of `layout`.
fn set_axes(layout: Layout, index: usize, x: Axis, y: Axis) -> Layout {
    match index {
        1 => layout.x_axis(x).y_axis(y),
        2 => layout.x_axis2(x).y_axis2(y),
        3 => layout.x_axis3(x).y_axis3(y),
        4 => layout.x_axis4(x).y_axis4(y),
        5 => layout.x_axis5(x).y_axis5(y),
        6 => layout.x_axis6(x).y_axis6(y),
        7 => layout.x_axis7(x).y_axis7(y),
        _ => layout.x_axis8(x).y_axis8(y),
    }
}

/// plotly.js itself (the version bundled with the `plotly` crate), for pages that load it
/// once and then draw [`html_fragment`]s.
pub fn plotly_js() -> String {
    let sources = Plot::offline_js_sources();
    let start = sources.find('>').map_or(0, |i| i + 1);
    let end = sources.find("</script>").unwrap_or(sources.len());
    sources[start..end].to_string()
}

/// A `<div>` plus the script that draws `plot` into it, assuming plotly.js is loaded.
pub fn html_fragment(plot: &Plot, div_id: &str) -> String {
    plot.to_inline_html(Some(div_id))
}

static PLOTLY_LOADED: AtomicBool = AtomicBool::new(false);

/// Shows `plot` in a Jupyter notebook (evcxr kernel), offline.
///
/// Emits two renderings of the same figure: plotly's JSON mimetype (drawn natively by
/// JupyterLab with the `plotly` Python package, and by VS Code) and HTML for everything
/// else (nbconvert's HTML export, classic Notebook). The first call in a kernel session
/// also loads plotly.js into the page, so no CDN is needed.
pub fn show(plot: &Plot) {
    let div_id = format!("plot-{}", next_figure_id());
    let mut html = String::new();
    if !PLOTLY_LOADED.swap(true, Ordering::SeqCst) {
        html.push_str(&format!(
            "<script type=\"text/javascript\">{}</script>\n",
            plotly_js()
        ));
    }
    html.push_str(&html_fragment(plot, &div_id));
    println!("EVCXR_BEGIN_CONTENT text/html\n{html}\nEVCXR_END_CONTENT");
    println!(
        "EVCXR_BEGIN_CONTENT application/vnd.plotly.v1+json\n{}\nEVCXR_END_CONTENT",
        plot.to_json()
    );
}

/// A per-process counter, so figure divs in one notebook never collide.
fn next_figure_id() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::SeqCst)
}
