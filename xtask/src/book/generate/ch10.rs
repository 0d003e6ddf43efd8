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
use attention::gpt::sample::{Decoding, generate};
use attention::gpt::train::nanogpt_cpu_model;
use attention::gpt::{Gpt, GptConfig};
use attention::ndarray::Array2;
use attention::nn::seeded_rng;
use attention::params::{Module, Params};
use attention::train::loss::CrossEntropyLoss;
use attention::train::trainer::load_checkpoint;
use attention::weights::NamedTensors;
use serde_json::Value;

use crate::util::root;

use super::{Figure, Numbers, err, figure};

mod generation;

use generation::{
    attention_figure, gqa_table, heads_table, kv_cache_figure, kv_cache_table, loss_curves, quiz,
    rope_distances, sampling_figure, sampling_table,
};

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
