//! Chapter 10, decoder-only: the next-token pairs of a line of Shakespeare, the GPT's
//! parameters, the check against nanoGPT, the training run against PyTorch (from
//! `benches/gpt_results.json`, written by `cargo xtask bench-gpt`), samples before and after
//! training (the committed checkpoint `checkpoints/gpt_shakespeare.safetensors`), the
//! sampling distributions, the KV cache's speed and size, GQA's cache and RoPE's distances.
//!
//! Nothing here trains: the trained model is the committed checkpoint, and its run's numbers
//! come from the results file.

use std::fmt::Write as _;

use attention::gpt::data::{CharDataset, CharTokenizer, shakespeare};
use attention::gpt::sample::{Decoding, generate, next_token_probabilities};
use attention::gpt::train::nanogpt_cpu_model;
use attention::gpt::{Gpt, GptConfig, kv_cache_bytes, rope};
use attention::ndarray::{Array2, Array4, Axis, s};
use attention::nn::seeded_rng;
use attention::params::{Module, Params};
use attention::plot;
use attention::plotly::Plot;
use attention::train::loss::CrossEntropyLoss;
use attention::train::trainer::load_checkpoint;
use attention::weights::NamedTensors;
use serde_json::Value;

use crate::util::root;

use super::{Figure, Numbers, err, figure};

/// The committed trained model.
const CHECKPOINT: &str = "checkpoints/gpt_shakespeare.safetensors";
/// The results of `cargo xtask bench-gpt`.
const RESULTS: &str = "benches/gpt_results.json";
/// The seed the recipe initialises the model with (`GptTrainConfig::nanogpt_cpu`).
const SEED: u64 = 1337;
/// The prompts of the samples.
const PROMPTS: [&str; 2] = ["ROMEO.\n", "HAMLET.\nTo be, or not"];
/// The prompt whose next-character distribution the chapter shows.
const DISTRIBUTION_PROMPT: &str = "KING LEAR.\nWhat is th";
/// The line whose attention maps the chapter shows.
const ATTENTION_LINE: &str = "OTHELLO.\nO, my fair warrior!";

struct Models {
    data: CharDataset,
    before: Gpt,
    after: Gpt,
}

fn models() -> Result<Models, String> {
    let data = CharDataset::new(&shakespeare().map_err(err)?).map_err(err)?;
    let config = nanogpt_cpu_model(data.tokenizer.vocab_size());
    let before = Gpt::from_params(&Params::seeded(SEED), config).map_err(err)?;
    let mut after = before.clone();
    load_checkpoint(&mut after, root().join(CHECKPOINT))
        .map_err(|e| format!("{CHECKPOINT}: {e} (run `cargo xtask bench-gpt`)"))?;
    Ok(Models {
        data,
        before,
        after,
    })
}

fn results() -> Result<Value, String> {
    let path = root().join(RESULTS);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: {e} (run `cargo xtask bench-gpt`)", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn numbers() -> Result<Numbers, String> {
    let m = models()?;
    let r = results()?;
    Ok(vec![
        ("ch10-pairs.md", pairs(&m.data.tokenizer)?),
        ("ch10-parameters.md", parameters(&m.after)),
        ("ch10-nanogpt.md", nanogpt_check()?),
        ("ch10-results.md", training_results(&r, &m)?),
        ("ch10-samples.md", samples(&m)?),
        ("ch10-sampling.md", sampling_table(&m)?),
        ("ch10-kv-cache.md", kv_cache_table(&r)?),
        ("ch10-gqa.md", gqa_table(&m.after.config)),
        ("ch10-rope.md", rope_distances()?),
        ("ch10-heads.md", heads_table(&m)?),
        ("ch10-quiz.md", quiz(&m, &r)?),
    ])
}

pub fn figures() -> Result<Vec<Figure>, String> {
    let m = models()?;
    let r = results()?;
    Ok(vec![
        figure(
            "ch10-loss-curves",
            "Training the GPT: this crate and PyTorch, same recipe",
            |t| Ok(loss_curves(&r, t)),
        )?,
        figure(
            "ch10-sampling",
            "The next character after \"What is th\": four ways to sample",
            |t| sampling_figure(&m, t),
        )?,
        figure(
            "ch10-kv-cache",
            "Generating one token at context n: with and without the KV cache",
            |t| Ok(kv_cache_figure(&r, t)),
        )?,
        figure(
            "ch10-attention",
            "The trained GPT's heads on a line of Othello (first block)",
            |t| attention_figure(&m, t),
        )?,
    ])
}

/// How a character shows in a table or on an axis.
fn show(c: char) -> String {
    match c {
        '\n' => "⏎".into(),
        ' ' => "␣".into(),
        '|' => "\\|".into(),
        c => c.to_string(),
    }
}

fn shown(tok: &CharTokenizer, ids: &[usize]) -> Result<Vec<String>, String> {
    Ok(tok.decode(ids).map_err(err)?.chars().map(show).collect())
}

/// A window of "To be, or not to be" and its targets, position by position.
fn pairs(tok: &CharTokenizer) -> Result<String, String> {
    let line = "To be, or not to be";
    let ids = tok.encode(line).map_err(err)?;
    let block = 12;
    let (x, y) = (&ids[..block], &ids[1..=block]);
    let mut md =
        String::from("| position t | 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11 |\n|---|");
    md.push_str(&"---|".repeat(block));
    let row = |name: &str, ids: &[usize]| -> Result<String, String> {
        let cells: Vec<String> = shown(tok, ids)?
            .into_iter()
            .map(|c| format!("`{c}`"))
            .collect();
        Ok(format!("\n| {name} | {} |", cells.join(" | ")))
    };
    md.push_str(&row("input x (sees 0..=t)", x)?);
    md.push_str(&row("target y (next)", y)?);
    let ids_row: Vec<String> = x.iter().map(usize::to_string).collect();
    writeln!(md, "\n| id of x | {} |", ids_row.join(" | ")).unwrap();
    writeln!(
        md,
        "\nOne window of {block} characters holds {block} training examples: at position 0 the model \
         sees `T` and must say `o`, at position 11 it sees `To be, or no` and must say `t`. The \
         vocabulary has {} characters (ids 0 to {}).",
        tok.vocab_size(),
        tok.vocab_size() - 1
    )
    .unwrap();
    Ok(md)
}

/// The model's parameters, part by part.
fn parameters(gpt: &Gpt) -> String {
    let p = gpt.parameters();
    let count = |prefix: &str| -> usize {
        p.names()
            .filter(|n| n.starts_with(prefix))
            .map(|n| p.get(n).unwrap().len())
            .sum()
    };
    let c = gpt.config;
    let mut md = String::from("| part | shape | parameters |\n|---|---|---:|\n");
    let rows = [
        (
            "token embeddings `wte` (also the output head)",
            format!("({}, {})", c.vocab_size, c.n_embd),
            count("transformer.wte"),
        ),
        (
            "positions `wpe`",
            format!("({}, {})", c.block_size, c.n_embd),
            count("transformer.wpe"),
        ),
        (
            "one block `h.0` (ln_1, attention, ln_2, MLP)",
            format!(
                "c_attn ({}, {}), c_fc ({}, {}) …",
                3 * c.n_embd,
                c.n_embd,
                4 * c.n_embd,
                c.n_embd
            ),
            count("transformer.h.0."),
        ),
        (
            "all blocks",
            format!("{} blocks", c.n_layer),
            count("transformer.h."),
        ),
        (
            "final LayerNorm `ln_f`",
            format!("({})", c.n_embd),
            count("transformer.ln_f"),
        ),
    ];
    for (part, shape, n) in rows {
        writeln!(md, "| {part} | {shape} | {n} |").unwrap();
    }
    writeln!(md, "| **total** | | **{}** |", gpt.parameter_count()).unwrap();
    md
}

/// The crate's GPT on the fixture recorded from nanoGPT: largest differences.
fn nanogpt_check() -> Result<String, String> {
    let path = root().join("tests/fixtures/grad_gpt.json");
    let tensors = NamedTensors::from_json_file(&path).map_err(err)?;
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let size = |k: &str| doc["config"][k].as_u64().unwrap_or(0) as usize;
    let config = GptConfig {
        vocab_size: size("vocab_size"),
        block_size: size("block_size"),
        n_layer: size("n_layer"),
        n_head: size("n_head"),
        n_embd: size("n_embd"),
    };
    let gpt = Gpt::from_params(&Params::load(&tensors), config).map_err(err)?;
    let ids = |name: &str| -> Result<Array2<usize>, String> {
        let t = tensors.get(name).ok_or(format!("{name} missing"))?;
        t.mapv(|v| v as usize)
            .into_dimensionality()
            .map_err(|e| e.to_string())
    };
    let (idx, targets) = (ids("input.idx")?, ids("input.targets")?);
    let (logits, cache) = gpt.forward_train(&idx).map_err(err)?;
    let (loss, d) = CrossEntropyLoss::new(None, 0.0)
        .map_err(err)?
        .forward_backward(&logits, &targets)
        .map_err(err)?;
    let grads = gpt.backward(&cache, &d).map_err(err)?;
    let max_diff = |a: &attention::ndarray::ArrayD<f32>, b: &attention::ndarray::ArrayD<f32>| {
        a.iter()
            .zip(b)
            .fold(0.0_f32, |m, (x, y)| m.max((x - y).abs()))
    };
    let logit_diff = max_diff(&logits.into_dyn(), tensors.get("output.logits").unwrap());
    let loss_diff = (loss
        - tensors
            .get("output.loss")
            .unwrap()
            .iter()
            .next()
            .copied()
            .unwrap())
    .abs();
    let grad_diff = grads
        .names()
        .map(|n| {
            max_diff(
                grads.get(n).unwrap(),
                tensors.get(&format!("grad.{n}")).unwrap(),
            )
        })
        .fold(0.0_f32, f32::max);
    Ok(format!(
        "On a small nanoGPT recorded by the fixture generator ({} layers, {} heads, n_embd {}, \
         biases and LayerNorm γ randomised), the crate's GPT gives the same logits (largest \
         difference {logit_diff:.1e}), the same loss ({loss_diff:.1e}) and the same gradient for \
         all {} parameters (largest difference {grad_diff:.1e}).\n",
        config.n_layer,
        config.n_head,
        config.n_embd,
        grads.len()
    ))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// Both runs of `cargo xtask bench-gpt`: losses, times, speed, and the ratio.
fn training_results(r: &Value, m: &Models) -> Result<String, String> {
    let (torch, ours) = (&r["torch"], &r["crate"]);
    let last = |run: &Value, split: &str| {
        run["curve"]
            .as_array()
            .and_then(|c| c.last())
            .map_or(f64::NAN, |p| f(&p[split]))
    };
    let mut md = String::from("| | this crate | PyTorch |\n|---|---:|---:|\n");
    let row = |md: &mut String, name: &str, a: String, b: String| {
        writeln!(md, "| {name} | {a} | {b} |").unwrap()
    };
    row(
        &mut md,
        "validation loss, whole split (deterministic)",
        format!("**{:.4}**", f(&ours["val_loss_full_split"])),
        format!("**{:.4}**", f(&torch["val_loss_full_split"])),
    );
    row(
        &mut md,
        "validation loss, nanoGPT's estimate (20 random batches)",
        format!("{:.4}", last(ours, "val")),
        format!("{:.4}", last(torch, "val")),
    );
    row(
        &mut md,
        "training loss, nanoGPT's estimate",
        format!("{:.4}", last(ours, "train")),
        format!("{:.4}", last(torch, "train")),
    );
    row(
        &mut md,
        "training time (2000 steps, evaluation excluded)",
        format!("**{:.1} s**", f(&ours["train_seconds"])),
        format!("**{:.1} s**", f(&torch["train_seconds"])),
    );
    row(
        &mut md,
        "tokens per second",
        format!("{:.0}", f(&ours["tokens_per_second"])),
        format!("{:.0}", f(&torch["tokens_per_second"])),
    );
    writeln!(
        md,
        "\nMeasured by `cargo xtask bench-gpt` on {} ({}), {} threads each, PyTorch {}: the \
         crate's validation loss is {:+.4} from PyTorch's, and its training time {:.2}× \
         PyTorch's. The loss of the committed checkpoint, recomputed by the book on the whole \
         validation split: {:.4}.",
        r["date"].as_str().unwrap_or("?"),
        r["machine"].as_str().unwrap_or("?"),
        r["threads"],
        r["torch_version"].as_str().unwrap_or("?"),
        f(&r["val_loss_difference"]),
        f(&r["time_ratio"]),
        attention::gpt::train::split_loss(&m.after, &m.data.val, 64).map_err(err)?
    )
    .unwrap();
    Ok(md)
}

/// Samples of the untrained and the trained model, seeded.
fn samples(m: &Models) -> Result<String, String> {
    let tok = &m.data.tokenizer;
    let decoding = Decoding::Sample {
        temperature: 0.8,
        top_k: Some(20),
        top_p: None,
    };
    let mut md = String::new();
    for (name, gpt) in [
        ("before training (random weights)", &m.before),
        ("after training", &m.after),
    ] {
        writeln!(
            md,
            "**{name}**, prompt `{}`, temperature 0.8, top-k 20, seed 7:\n\n```text",
            PROMPTS[1].replace('\n', "⏎")
        )
        .unwrap();
        let ids = tok.encode(PROMPTS[1]).map_err(err)?;
        let out = generate(gpt, &ids, 240, decoding, None, &mut seeded_rng(7)).map_err(err)?;
        writeln!(
            md,
            "{}{}\n```\n",
            PROMPTS[1],
            tok.decode(&out).map_err(err)?
        )
        .unwrap();
    }
    writeln!(
        md,
        "**after training**, prompt `{}`, greedy (always the most likely character):\n\n```text",
        PROMPTS[0].replace('\n', "⏎")
    )
    .unwrap();
    let ids = tok.encode(PROMPTS[0]).map_err(err)?;
    let out = generate(
        &m.after,
        &ids,
        160,
        Decoding::Greedy,
        None,
        &mut seeded_rng(7),
    )
    .map_err(err)?;
    writeln!(md, "{}{}\n```", PROMPTS[0], tok.decode(&out).map_err(err)?).unwrap();
    Ok(md)
}

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

fn sampling_table(m: &Models) -> Result<String, String> {
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

fn sampling_figure(m: &Models, title: &str) -> attention::Result<Plot> {
    let (table, chars) =
        distributions(m).map_err(|e| attention::Error::value("distributions", "computed", e))?;
    let names: Vec<String> = settings().iter().map(|(n, _)| n.to_string()).collect();
    plot::heatmap(&table, &chars, &names, title, Some((0.0, 1.0)))
}

fn loss_curves(r: &Value, title: &str) -> Plot {
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

fn kv_cache_table(r: &Value) -> Result<String, String> {
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

fn kv_cache_figure(r: &Value, title: &str) -> Plot {
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
fn attention_figure(m: &Models, title: &str) -> attention::Result<Plot> {
    let tok = &m.data.tokenizer;
    let ids = tok.encode(ATTENTION_LINE)?;
    let x = Array2::from_shape_vec((1, ids.len()), ids.clone()).expect("one row");
    let maps: Vec<Array4<f32>> = m.after.attention_weights(&x)?;
    let first = maps[0].index_axis(Axis(0), 0).to_owned(); // (heads, seq, seq)
    let labels = shown(tok, &ids).map_err(|e| attention::Error::value("ids", "decodable", e))?;
    plot::multi_head_heatmaps(&first, &labels, &labels, title)
}

/// MHA, GQA and MQA caches for this chapter's model at context 1024.
fn gqa_table(c: &GptConfig) -> String {
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
fn rope_distances() -> Result<String, String> {
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
fn quiz(m: &Models, r: &Value) -> Result<String, String> {
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
fn heads_table(m: &Models) -> Result<String, String> {
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
