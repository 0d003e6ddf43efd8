//! Chapter 10's generation side: the sampling distributions, the KV cache's speed and size,
//! the trained heads, grouped-query attention's cache, RoPE's distances and the quiz.

use std::fmt::Write as _;

use attention::gpt::sample::{Decoding, generate, next_token_probabilities};
use attention::gpt::{GptConfig, kv_cache_bytes, rope};
use attention::ndarray::{Array2, Array4, Axis, s};
use attention::nn::seeded_rng;
use attention::plot;
use attention::plotly::Plot;
use serde_json::Value;

use super::super::err;
use super::{ATTENTION_LINE, DISTRIBUTION_PROMPT, Models, RESULTS, f, shown};

/// The four settings of the sampling table and figure.
fn settings() -> [(&'static str, Decoding); 4] {
    let sample = |temperature, top_k, top_p| Decoding::Sample {
        temperature,
        top_k,
        top_p,
    };
    [
        ("T = 1", sample(1.0, None, None)),
        ("T = 0.5", sample(0.5, None, None)),
        ("top-k 3", sample(1.0, Some(3), None)),
        ("top-p 0.9", sample(1.0, None, Some(0.9))),
    ]
}

/// `(settings × characters)` probabilities of the next character after the prompt, for the
/// 8 characters the trained model finds most likely; and their labels.
fn distributions(m: &Models) -> Result<(Array2<f32>, Vec<String>), String> {
    let tok = &m.data.tokenizer;
    let ids = tok.encode(DISTRIBUTION_PROMPT).map_err(err)?;
    let x = Array2::from_shape_vec((1, ids.len()), ids).map_err(|e| e.to_string())?;
    let logits = m.after.forward(&x).map_err(err)?;
    let last = logits.slice(s![0, -1, ..]).to_owned();
    let plain = next_token_probabilities(&last, settings()[0].1).map_err(err)?;
    let mut top: Vec<usize> = (0..plain.len()).collect();
    top.sort_by(|&a, &b| plain[b].total_cmp(&plain[a]));
    top.truncate(8);
    let mut table = Array2::zeros((4, top.len()));
    for (r, (_, decoding)) in settings().iter().enumerate() {
        let p = next_token_probabilities(&last, *decoding).map_err(err)?;
        for (c, &i) in top.iter().enumerate() {
            table[[r, c]] = p[i];
        }
    }
    Ok((table, shown(tok, &top)?))
}

pub(super) fn sampling_table(m: &Models) -> Result<String, String> {
    let (table, chars) = distributions(m)?;
    let mut md = format!("| after `{}` | ", DISTRIBUTION_PROMPT.replace('\n', "⏎"));
    md.push_str(
        &chars
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(" | "),
    );
    md.push_str(" | the other characters |\n|---|");
    md.push_str(&"---:|".repeat(chars.len() + 1));
    for (r, (name, _)) in settings().iter().enumerate() {
        let row = table.row(r);
        let cells: Vec<String> = row.iter().map(|p| format!("{p:.3}")).collect();
        write!(
            md,
            "\n| {name} | {} | {:.3} |",
            cells.join(" | "),
            (1.0 - row.sum()).max(0.0)
        )
        .unwrap();
    }
    md.push('\n');
    Ok(md)
}

pub(super) fn sampling_figure(m: &Models, title: &str) -> attention::Result<Plot> {
    let (table, chars) =
        distributions(m).map_err(|e| attention::Error::value("distributions", "computed", e))?;
    let names: Vec<String> = settings().iter().map(|(n, _)| n.to_string()).collect();
    plot::heatmap(&table, &chars, &names, title, Some((0.0, 1.0)))
}

pub(super) fn loss_curves(r: &Value, title: &str) -> Plot {
    let mut series = Vec::new();
    for (who, run) in [("this crate", &r["crate"]), ("PyTorch", &r["torch"])] {
        for split in ["train", "val"] {
            let points = run["curve"].as_array().cloned().unwrap_or_default();
            let xs: Vec<f64> = points.iter().map(|p| f(&p["step"])).collect();
            let ys: Vec<f64> = points.iter().map(|p| f(&p[split])).collect();
            series.push((format!("{who}, {split}"), xs, ys));
        }
    }
    plot::curves(
        &series,
        title,
        "step",
        "loss (cross-entropy, nats per character)",
    )
}

fn kv_rows(r: &Value) -> Vec<(f64, f64, f64, f64)> {
    r["kv_cache"]["rows"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|row| {
            (
                f(&row["context"]),
                f(&row["uncached_tokens_per_s"]),
                f(&row["cached_tokens_per_s"]),
                f(&row["cache_bytes"]),
            )
        })
        .collect()
}

pub(super) fn kv_cache_table(r: &Value) -> Result<String, String> {
    let rows = kv_rows(r);
    if rows.is_empty() {
        return Err(format!("{RESULTS}: no kv_cache rows"));
    }
    let mut md = String::from(
        "| context n | without the cache (tokens/s) | with it (tokens/s) | speed-up | the cache's memory |\n|---:|---:|---:|---:|---:|\n",
    );
    for (n, u, c, b) in &rows {
        writeln!(
            md,
            "| {n} | {u:.1} | {c:.1} | {:.1}× | {:.2} MB |",
            c / u,
            b / 1e6
        )
        .unwrap();
    }
    writeln!(
        md,
        "\n{}; `cargo xtask bench-gpt`, {}.",
        r["kv_cache"]["model"].as_str().unwrap_or(""),
        r["date"].as_str().unwrap_or("?")
    )
    .unwrap();
    Ok(md)
}

pub(super) fn kv_cache_figure(r: &Value, title: &str) -> Plot {
    let rows = kv_rows(r);
    let xs: Vec<f64> = rows.iter().map(|r| r.0).collect();
    let series = vec![
        (
            "with the KV cache".to_string(),
            rows.iter().map(|r| r.2).collect(),
        ),
        (
            "without (the whole context again)".to_string(),
            rows.iter().map(|r| r.1).collect(),
        ),
    ];
    plot::line_chart(
        &xs,
        &series,
        title,
        "context n (tokens)",
        "tokens per second",
    )
}

/// The heads of the first block on a line of Othello, and which head looks most at the
/// previous character.
pub(super) fn attention_figure(m: &Models, title: &str) -> attention::Result<Plot> {
    let tok = &m.data.tokenizer;
    let ids = tok.encode(ATTENTION_LINE)?;
    let x = Array2::from_shape_vec((1, ids.len()), ids.clone()).expect("one row");
    let maps: Vec<Array4<f32>> = m.after.attention_weights(&x)?;
    let first = maps[0].index_axis(Axis(0), 0).to_owned(); // (heads, seq, seq)
    let labels = shown(tok, &ids).map_err(|e| attention::Error::value("ids", "decodable", e))?;
    plot::multi_head_heatmaps(&first, &labels, &labels, title)
}

/// MHA, GQA and MQA caches for this chapter's model at context 1024.
pub(super) fn gqa_table(c: &GptConfig) -> String {
    let hs = c.n_embd / c.n_head;
    let mut md = String::from(
        "| key/value heads | attention | KV cache at 1024 tokens |\n|---:|---|---:|\n",
    );
    for (kv, name) in [
        (c.n_head, "multi-head (MHA)"),
        (c.n_head / 2, "grouped-query (GQA), 2 query heads per K/V"),
        (1, "multi-query (MQA)"),
    ] {
        writeln!(
            md,
            "| {kv} | {name} | {:.2} MB |",
            kv_cache_bytes(c.n_layer, kv, hs, 1024, 1) as f64 / 1e6
        )
        .unwrap();
    }
    md
}

/// RoPE: the score of one query and one key at different positions with the same distance.
pub(super) fn rope_distances() -> Result<String, String> {
    let q = Array4::from_shape_fn((1, 1, 1, 8), |(_, _, _, i)| ((i + 1) as f32 * 0.7).sin());
    let k = Array4::from_shape_fn((1, 1, 1, 8), |(_, _, _, i)| ((i + 2) as f32 * 1.1).cos());
    let score = |m: usize, n: usize| -> Result<f32, String> {
        let (qm, kn) = (
            rope(&q, m, 10_000.0).map_err(err)?,
            rope(&k, n, 10_000.0).map_err(err)?,
        );
        Ok((&qm * &kn).sum())
    };
    let mut md = String::from(
        "| query at m | key at n | distance m − n | score q·k after rotation |\n|---:|---:|---:|---:|\n",
    );
    for (m, n) in [(2, 0), (7, 5), (100, 98), (3, 0), (8, 5)] {
        writeln!(md, "| {m} | {n} | {} | {:.4} |", m - n, score(m, n)?).unwrap();
    }
    Ok(md)
}

/// The quiz's answers: two worked distributions, what the loss means, two samples at
/// different temperatures, and the largest difference between cached and plain logits.
pub(super) fn quiz(m: &Models, r: &Value) -> Result<String, String> {
    let tok = &m.data.tokenizer;
    let probs = |p: &[f32], decoding| -> Result<String, String> {
        let logits = attention::ndarray::Array1::from(p.to_vec()).mapv(f32::ln);
        let out = next_token_probabilities(&logits, decoding).map_err(err)?;
        Ok(format!(
            "({})",
            out.iter()
                .map(|v| format!("{v:.3}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    };
    let sample = |temperature| Decoding::Sample {
        temperature,
        top_k: None,
        top_p: None,
    };
    let nucleus = Decoding::Sample {
        temperature: 1.0,
        top_k: None,
        top_p: Some(0.6),
    };
    let loss = f(&r["crate"]["val_loss_full_split"]);
    let mut md = String::new();
    let mut anchor = |name: &str, body: String| {
        writeln!(
            md,
            "<!-- ANCHOR: {name} -->\n{body}\n<!-- ANCHOR_END: {name} -->"
        )
        .unwrap()
    };
    anchor("temperature", probs(&[0.5, 0.3, 0.2], sample(0.5))?);
    anchor("top_p", probs(&[0.1, 0.4, 0.2, 0.3], nucleus)?);
    anchor("loss", format!("{loss:.2}"));
    anchor("perplexity", format!("{:.1}", loss.exp()));
    let prompt = tok.encode("ROMEO.\n").map_err(err)?;
    for (name, t) in [("cold", 0.2), ("hot", 1.5)] {
        let out =
            generate(&m.after, &prompt, 100, sample(t), None, &mut seeded_rng(7)).map_err(err)?;
        let text = tok
            .decode(&out)
            .map_err(err)?
            .replace('\n', " ⏎ ")
            .replace('`', "'");
        anchor(name, format!("`{text}`"));
    }
    let line = tok
        .encode("HAMLET.\nTo be, or not to be, that is the question:")
        .map_err(err)?;
    let ids = Array2::from_shape_vec((1, line.len()), line.clone()).map_err(|e| e.to_string())?;
    let plain = m.after.forward(&ids).map_err(err)?;
    let mut caches = m.after.new_caches(1);
    let mut diff = 0.0_f32;
    for (t, &id) in line.iter().enumerate() {
        let step = m
            .after
            .forward_cached(&attention::ndarray::arr2(&[[id]]), &mut caches)
            .map_err(err)?;
        let row = plain.slice(s![0, t, ..]);
        diff = step
            .slice(s![0, 0, ..])
            .iter()
            .zip(row)
            .fold(diff, |d, (a, b)| d.max((a - b).abs()));
    }
    anchor("cache_diff", format!("{diff:.1e}"));
    anchor("cache_len", line.len().to_string());
    Ok(md)
}

/// Where the first block's heads look, averaged over a 64-character stretch of the
/// validation text: the share of each row's weight on the character itself, the one before,
/// the two before that, and everything further back.
pub(super) fn heads_table(m: &Models) -> Result<String, String> {
    let ids = m.data.val[1000..1064].to_vec();
    let x = Array2::from_shape_vec((1, ids.len()), ids).map_err(|e| e.to_string())?;
    let maps = m.after.attention_weights(&x).map_err(err)?;
    let first = maps[0].index_axis(Axis(0), 0); // (heads, 64, 64)
    let mut md = String::from(
        "| first block | the character itself | the one before | the two before that | further back |\n|---|---:|---:|---:|---:|\n",
    );
    for (h, head) in first.outer_iter().enumerate() {
        let rows = head.nrows();
        // The mean over the rows of the weight on the keys `from..=to` positions back.
        let share = |from: usize, to: usize| -> f32 {
            let mut total = 0.0;
            for t in 0..rows {
                for back in (from..=to).filter(|&back| back <= t) {
                    total += head[[t, t - back]];
                }
            }
            total / rows as f32
        };
        let (itself, before, two) = (share(0, 0), share(1, 1), share(2, 3));
        writeln!(
            md,
            "| head {h} | {:.0} % | {:.0} % | {:.0} % | {:.0} % |",
            100.0 * itself,
            100.0 * before,
            100.0 * two,
            100.0 * (1.0 - itself - before - two)
        )
        .unwrap();
    }
    Ok(md)
}
