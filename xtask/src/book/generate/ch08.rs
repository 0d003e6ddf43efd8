//! Chapter 8, making attention fast: what attention costs (FLOPs, exponentials, memory), the
//! online softmax step by step, and the measured results of `cargo xtask bench-torch`
//! (`benches/results.json`): the CPU table against PyTorch, the long sequence, the GPU run,
//! and the memory and time-vs-length figures.

use std::fmt::Write as _;

use attention::bench_results::{BenchCase, BenchResults, RESULTS_PATH, RatioRow};
use attention::fast::{OnlineSoftmax, attention_flops, input_output_bytes, score_matrix_bytes};
use attention::ndarray::array;
use attention::plot;
use attention::plotly::Plot;
use attention::plotly::common::Title;
use attention::plotly::layout::{Axis as PlotAxis, AxisType, Layout};

use super::{Figure, Numbers, figure, fmt_dp, num};

/// Heads and head size of the chapter's examples (the paper's base model: d_model 512).
const HEADS: usize = 8;
const HEAD_DIM: usize = 64;

pub fn numbers() -> Result<Numbers, String> {
    let results = bench_results()?;
    Ok(vec![
        ("ch08-cost.md", cost()),
        ("ch08-online.md", online()),
        ("ch08-results.md", ratio_results(&results)),
        ("ch08-long.md", long_sequence(&results)?),
        ("ch08-gpu.md", gpu(&results)),
    ])
}

pub fn figures() -> Result<Vec<Figure>, String> {
    let results = bench_results()?;
    Ok(vec![
        figure(
            "ch08-memory",
            "Memory of attention, 8 heads of 64, batch 1",
            |t| Ok(memory_figure(t)),
        )?,
        figure(
            "ch08-time-vs-seq",
            "Measured time against sequence length",
            |_| Ok(plot::time_vs_seq_figure(&results)),
        )?,
    ])
}

/// The measured results `cargo xtask bench-torch` wrote (`benches/results.json`).
fn bench_results() -> Result<BenchResults, String> {
    let path = crate::util::root().join(RESULTS_PATH);
    BenchResults::load(&path).map_err(|e| format!("chapter 8's table and figure: {e}"))
}

/// A count in millions or billions.
fn count(n: usize) -> String {
    let n = n as f64;
    if n >= 1e9 {
        format!("{:.1} billion", n / 1e9)
    } else {
        format!("{:.1} million", n / 1e6)
    }
}

/// `bytes` as MB or GB (10⁶, 10⁹ bytes).
fn bytes(b: u64) -> String {
    let b = b as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else {
        format!("{:.1} MB", b / 1e6)
    }
}

/// FLOPs, exponentials and memory of plain attention at three lengths.
fn cost() -> String {
    let (h, d) = (HEADS, HEAD_DIM);
    let mut md = format!(
        "{h} heads of size d = {d}, batch 1, no mask (a causal mask halves the FLOPs and the \
         exponentials).\n\n| n | FLOPs (4·n²·d per head) | exponentials (n² per head) | \
         score matrix, one head (4·n² bytes) | all {h} heads | Q, K, V and output, all heads |\n\
         |---:|---:|---:|---:|---:|---:|\n"
    );
    for n in [512, 2048, 16384] {
        writeln!(
            md,
            "| {n} | {:.1} GFLOP | {} | {} | {} | {} |",
            attention_flops(1, h, n, d, false) as f64 / 1e9,
            count(h * n * n),
            bytes(score_matrix_bytes(1, 1, n)),
            bytes(score_matrix_bytes(1, h, n)),
            bytes(input_output_bytes(1, h, n, d)),
        )
        .unwrap();
    }
    md
}

/// The online softmax of one query over scores [0, ln 3] with values [10, 20], key by key,
/// in both orders, straight from [`OnlineSoftmax`]'s state.
fn online() -> String {
    let mut md = String::new();
    for (title, order) in [("In order", [0, 1]), ("The other way round", [1, 0])] {
        writeln!(
            md,
            "{title}:\n\n| key | s | v | m | rescale | weight | ℓ | o | o / ℓ |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|"
        )
        .unwrap();
        online_rows(&mut md, order);
        md.push('\n');
    }
    md
}

/// The rows of one [`online`] table: the start, then one row per key in `order`.
fn online_rows(md: &mut String, order: [usize; 2]) {
    let keys = [(0.0_f32, 10.0_f32), (3.0_f32.ln(), 20.0)];
    let mut state = OnlineSoftmax::new(1);
    writeln!(
        md,
        "| (start) | | | −∞ | | | {} | {} | |",
        num(state.sum),
        num(state.acc[0])
    )
    .unwrap();
    for j in order {
        let (score, value) = keys[j];
        let old_max = state.max;
        state.push(score, array![value].view());
        let rescale = (old_max - state.max).exp();
        let weight = (score - state.max).exp();
        writeln!(
            md,
            "| {j} | {} | {} | {} | {} | {} | {} | {} | {} |",
            num(score),
            fmt_dp(value, 0),
            num(state.max),
            num(rescale),
            num(weight),
            num(state.sum),
            num(state.acc[0]),
            num(state.finish()[0])
        )
        .unwrap();
    }
}

/// The memory figure: score matrices against Q, K, V and output, 8 heads, log–log.
fn memory_figure(title: &str) -> Plot {
    let (h, d) = (HEADS, HEAD_DIM);
    let ns: Vec<usize> = (7..=14).map(|p| 1 << p).collect(); // 128 … 16384
    let mb = |b: u64| b as f64 / 1e6;
    let series = vec![
        (
            "score matrices, n × n per head (plain attention)".to_string(),
            ns.iter()
                .map(|&n| mb(score_matrix_bytes(1, h, n)))
                .collect(),
        ),
        (
            "Q, K, V and output (all a tiled kernel keeps)".to_string(),
            ns.iter()
                .map(|&n| mb(input_output_bytes(1, h, n, d)))
                .collect(),
        ),
    ];
    let xs: Vec<f64> = ns.iter().map(|&n| n as f64).collect();
    let mut plot = plot::line_chart(&xs, &series, title, "", "");
    let ticks: Vec<String> = ns.iter().map(usize::to_string).collect();
    plot.set_layout(
        Layout::new()
            .title(title)
            .x_axis(
                PlotAxis::new()
                    .title(Title::with_text("sequence length n (log scale)"))
                    .type_(AxisType::Log)
                    .tick_values(xs.clone())
                    .tick_text(ticks),
            )
            .y_axis(
                PlotAxis::new()
                    .title(Title::with_text("megabytes, f32 (log scale)"))
                    .type_(AxisType::Log),
            ),
    );
    plot
}

/// The CPU results: who measured what, the table against PyTorch and the range of ratios.
fn ratio_results(results: &BenchResults) -> String {
    // Each case with its row of the table (`ratio_rows` follows `cases_in_table_order`).
    let rows: Vec<(&BenchCase, RatioRow)> = results
        .cases_in_table_order()
        .into_iter()
        .zip(results.ratio_rows())
        .collect();
    let peak = results.fp32_peak_gflops;
    let mut md = measured_by(results);
    md.push_str(
        "Times are medians in milliseconds; a ratio is this crate's time over PyTorch's (below \
         1: faster than PyTorch). GFLOP/s is for this crate's faster build.",
    );
    if let Some(p) = peak {
        write!(md, " The machine's fp32 peak is {p:.0} GFLOP/s.").unwrap();
    }
    md.push_str(&ratio_table(&rows, peak.is_some()));
    md.push_str(&ratio_summary(&rows));
    md
}

/// "Measured by … on …, N threads, against PyTorch …. Builds: …" and a blank line.
fn measured_by(results: &BenchResults) -> String {
    let mut md = format!(
        "Measured by `{}`{} on {}, {} threads",
        results.generated_by,
        results
            .date
            .as_ref()
            .map_or(String::new(), |d| format!(" ({d})")),
        results.machine,
        results.threads
    );
    if let Some(v) = &results.torch_version {
        write!(md, ", against PyTorch {v}").unwrap();
    }
    writeln!(
        md,
        ". Builds: this crate = {}; + OpenBLAS = {}.\n",
        results.backends.default,
        results.backends.blas.as_deref().unwrap_or("not measured")
    )
    .unwrap();
    md
}

/// The table of times and ratios, with a "% of peak" column when the peak is known.
fn ratio_table(rows: &[(&BenchCase, RatioRow)], with_peak: bool) -> String {
    let mut md = String::from(
        "\n\n| case | PyTorch ms | this crate ms | ratio | + OpenBLAS ms | ratio | GFLOP/s |",
    );
    md.push_str(if with_peak { " % of peak |\n" } else { "\n" });
    md.push_str("|---|---:|---:|---:|---:|---:|---:|");
    md.push_str(if with_peak { "---:|\n" } else { "\n" });
    let opt = |v: Option<f64>, dp: usize| v.map_or("–".to_string(), |v| format!("{v:.dp$}"));
    for (_, r) in rows {
        write!(
            md,
            "| {} | {:.1} | {:.1} | {:.2} | {} | {} | {:.0} |",
            r.label,
            r.torch_ms,
            r.default_ms,
            r.default_ratio,
            opt(r.blas_ms, 1),
            opt(r.blas_ratio, 2),
            r.best_gflops,
        )
        .unwrap();
        if let Some(p) = r.percent_of_peak {
            write!(md, " {p:.0} % |").unwrap();
        }
        md.push('\n');
    }
    md
}

/// The range of "faster build / PyTorch" for attention alone and for the larger layers, as
/// one sentence (empty if there are no rows).
fn ratio_summary(rows: &[(&BenchCase, RatioRow)]) -> String {
    let range = |sdpa: bool| {
        let ratios = rows
            .iter()
            .filter(|(c, _)| (c.group == "sdpa") == sdpa)
            .map(|(_, r)| r.best_ratio);
        let (lo, hi) = ratios.fold((f64::INFINITY, 0.0_f64), |(lo, hi), x| {
            (lo.min(x), hi.max(x))
        });
        (lo <= hi).then(|| format!("{lo:.2} to {hi:.2} times"))
    };
    let mut parts = Vec::new();
    if let Some(r) = range(true) {
        parts.push(format!("{r} PyTorch's time on attention alone"));
    }
    if let Some(r) = range(false) {
        parts.push(format!("{r} on the layers with their projections"));
    }
    if parts.is_empty() {
        return String::new();
    }
    format!(
        "\nIn this run, this crate's faster build took {}.\n",
        parts.join(", and ")
    )
}

/// The GPU run of `bench-torch --gpu`: each case against the CPU and PyTorch.
fn gpu(results: &BenchResults) -> String {
    let Some(gpu) = &results.gpu else {
        return format!(
            "No GPU run is recorded in `{RESULTS_PATH}`: `cargo xtask bench-torch --gpu` adds one.\n"
        );
    };
    let mut md = format!(
        "Measured in the same run on adapter **{}**. A ratio above 1 means the GPU took longer \
         than this crate's faster CPU build (or than PyTorch on the CPU); GPU times include \
         copying the inputs to the GPU and the output back.\n\n\
         | case | GPU ms | GFLOP/s | CPU ms | GPU ÷ CPU | GPU ÷ PyTorch |\n\
         |---|---:|---:|---:|---:|---:|\n",
        gpu.adapter
    );
    for r in results.gpu_rows() {
        writeln!(
            md,
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            r.label, r.gpu_ms, r.gpu_gflops, r.cpu_ms, r.over_cpu, r.over_torch
        )
        .unwrap();
    }
    md
}

/// The long sequence: what plain attention would need against what the tiled kernel used.
fn long_sequence(results: &BenchResults) -> Result<String, String> {
    let Some(l) = &results.long_sequence else {
        return Err(format!(
            "{RESULTS_PATH} has no `long_sequence`: run `cargo xtask bench-torch`"
        ));
    };
    let scores = score_matrix_bytes(1, l.heads, l.seq);
    let io = input_output_bytes(1, l.heads, l.seq, l.head_dim);
    Ok(format!(
        "| batch 1, {} heads of {}, n = {}, no mask | |\n|---|---:|\n\
         | the `(heads, n, n)` weights, if materialised | {} |\n\
         | Q, K, V and the output | {} |\n\
         | this crate's `{}` kernel: peak memory of the whole process | {:.0} MB |\n\
         | its time | {:.1} s |\n",
        l.heads,
        l.head_dim,
        l.seq,
        bytes(scores),
        bytes(io),
        l.kernel.replace('_', "-"),
        l.peak_rss_mb,
        l.seconds
    ))
}
