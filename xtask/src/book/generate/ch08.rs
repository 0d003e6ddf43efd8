//! Chapter 8, making attention fast: what attention costs (FLOPs, exponentials, memory), the
//! online softmax step by step, and the measured results of `cargo xtask bench-torch`
//! (`benches/results.json`): the CPU table against PyTorch, the long sequence, the GPU run,
//! and the memory and time-vs-length figures.

use std::fmt::Write as _;

use attention::bench_results::{BenchCase, BenchResults, RESULTS_PATH, RatioRow};
use attention::fast::{OnlineSoftmax, attention_flops, input_output_bytes, score_matrix_bytes};
use attention::ndarray::{Array2, array};
use attention::nn::softmax;
use attention::plot;

use super::{Figure, Numbers, figure, fmt_dp, num};

/// Heads and head size of the chapter's examples (the paper's base model: d_model 512).
const HEADS: usize = 8;
const HEAD_DIM: usize = 64;

pub fn numbers() -> Result<Numbers, String> {
    let results = bench_results()?;
    Ok(vec![
        ("ch08-cost.md", cost()),
        ("ch08-online.md", online()),
        ("ch08-merge.md", merge()?),
        ("ch08-predict-memory.md", predict_memory()),
        ("ch08-predict-shift.md", predict_shift()),
        ("ch08-results.md", ratio_results(&results)),
        ("ch08-long.md", long_sequence(&results)?),
        ("ch08-gpu.md", gpu(&results)),
        ("ch08-gpu-simple.md", super::ch08_gpu::simple()?),
        ("ch08-gpu-fast.md", super::ch08_gpu::fast()?),
    ])
}

pub fn figures() -> Result<Vec<Figure>, String> {
    let results = bench_results()?;
    Ok(vec![
        figure(
            "ch08-memory",
            "Memory of attention, 8 heads of 64, batch 1",
            |t| Ok(plot::attention_memory_figure(HEADS, HEAD_DIM, t)),
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

/// Scores and values of the merge example: keys 0, 1 form block a, keys 2, 3 block b.
const MERGE_SCORES: [f32; 4] = [1.0, 2.0, 3.0, 0.5];
const MERGE_VALUES: [f32; 4] = [10.0, 20.0, 30.0, 40.0];

/// Two blocks of keys for one query, each summarised by [`OnlineSoftmax`], merged with
/// [`OnlineSoftmax::merge`], against the softmax of the whole row.
fn merge() -> Result<String, String> {
    let block = |keys: std::ops::Range<usize>| {
        let mut state = OnlineSoftmax::new(1);
        for j in keys {
            state.push(MERGE_SCORES[j], array![MERGE_VALUES[j]].view());
        }
        state
    };
    let (a, b) = (block(0..2), block(2..4));
    let merged = a.merge(&b);
    let list = |v: &[f32], dp: usize| {
        let parts: Vec<String> = v.iter().map(|&x| fmt_dp(x, dp)).collect();
        parts.join(", ")
    };
    let mut md = String::from(
        "Each block on its own (as one thread or one tile would see it):\n\n\
         | block | keys | scores s | values v | m | ℓ | o | o / ℓ |\n\
         |---|---|---|---|---:|---:|---:|---:|\n",
    );
    for (name, state, keys) in [("a", &a, 0..2), ("b", &b, 2..4)] {
        writeln!(
            md,
            "| {name} | {} | {} | {} | {} | {} | {} | {} |",
            list(&keys.clone().map(|j| j as f32).collect::<Vec<_>>(), 0),
            list(&MERGE_SCORES[keys.clone()], 1),
            list(&MERGE_VALUES[keys], 0),
            num(state.max),
            num(state.sum),
            num(state.acc[0]),
            num(state.finish()[0])
        )
        .unwrap();
    }
    write!(
        md,
        "\nMerged, with the common maximum $m = \\max(m_a, m_b) = {}$:\n\n\
         | block | rescale $e^{{m_{{\\text{{block}}}} - m}}$ | ℓ · rescale | o · rescale |\n\
         |---|---:|---:|---:|\n",
        num(merged.max)
    )
    .unwrap();
    for (name, state) in [("a", &a), ("b", &b)] {
        let r = (state.max - merged.max).exp();
        writeln!(
            md,
            "| {name} | {} | {} | {} |",
            num(r),
            num(state.sum * r),
            num(state.acc[0] * r)
        )
        .unwrap();
    }
    // The whole row at once, chapter 3's way: softmax of the four scores, times the values.
    let row = Array2::from_shape_vec((1, 4), MERGE_SCORES.to_vec()).map_err(|e| e.to_string())?;
    let weights = softmax(&row); // (1, 4)
    let full: f32 = weights.iter().zip(MERGE_VALUES).map(|(w, v)| w * v).sum();
    let out = merged.finish()[0];
    if (out - full).abs() > 1e-4 {
        return Err(format!(
            "chapter 8: merged output {out} differs from the full softmax {full}"
        ));
    }
    writeln!(
        md,
        "| **merged** | | **{}** | **{}** |\n\n\
         Output $o / \\ell = {} / {} = {}$. The whole row at once: softmax$({})$ = \
         $({})$, times the values: **{}**, the same.",
        num(merged.sum),
        num(merged.acc[0]),
        num(merged.acc[0]),
        num(merged.sum),
        num(out),
        list(&MERGE_SCORES, 1),
        list(&weights.row(0).to_vec(), 4),
        num(full)
    )
    .unwrap();
    Ok(md)
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
    if let Some(n) = results.rounds.filter(|&n| n > 1) {
        write!(
            md,
            " PyTorch and both builds were timed {n} times in turn, and each time is the best \
             of its {n} rounds' medians."
        )
        .unwrap();
    }
    if let Some(p) = peak {
        write!(
            md,
            " The machine's fp32 peak is {p:.0} GFLOP/s at its reported (base) clock."
        )
        .unwrap();
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

/// Quiz: memory at n and 2n, 8 heads of 64: the score matrices against what a tiled kernel
/// keeps.
fn predict_memory() -> String {
    let (h, d) = (HEADS, HEAD_DIM);
    let (n, n2) = (2048, 4096);
    let scores = [score_matrix_bytes(1, h, n), score_matrix_bytes(1, h, n2)];
    let io = [
        input_output_bytes(1, h, n, d),
        input_output_bytes(1, h, n2, d),
    ];
    format!(
        "| {h} heads of {d}, batch 1 | n = {n} | n = {n2} | ratio |\n|---|---:|---:|---:|\n\
         | plain: the score matrices | {} | {} | {:.0}× |\n\
         | tiled (flash): Q, K, V and the output | {} | {} | {:.0}× |\n",
        bytes(scores[0]),
        bytes(scores[1]),
        scores[1] as f64 / scores[0] as f64,
        bytes(io[0]),
        bytes(io[1]),
        io[1] as f64 / io[0] as f64,
    )
}

/// Quiz: the merge example with 100 added to every score: a plain `exp` overflows, the
/// online softmax's output does not move.
fn predict_shift() -> String {
    let run = |shift: f32| {
        let mut a = OnlineSoftmax::new(1);
        let mut b = OnlineSoftmax::new(1);
        for j in 0..4 {
            let state = if j < 2 { &mut a } else { &mut b };
            state.push(MERGE_SCORES[j] + shift, array![MERGE_VALUES[j]].view());
        }
        a.merge(&b).finish()[0]
    };
    let largest = MERGE_SCORES
        .iter()
        .fold(f32::NEG_INFINITY, |m, &v| m.max(v))
        + 100.0;
    format!(
        "| | scores as given | scores + 100 |\n|---|---:|---:|\n\
         | merged output $o / \\ell$ | {} | {} |\n\n\
         A plain `f32` exponential of the largest shifted score, `{}_f32.exp()`, is `{}`: the \
         largest `f32` is `{:.1e}` (`f32::MAX`).\n",
        num(run(0.0)),
        num(run(100.0)),
        largest,
        largest.exp(),
        f32::MAX
    )
}
