//! What the trained models show (chapters 7 and 9): the committed checkpoints of
//! `checkpoints/` (trained by `cargo run --release --example train_task -- TASK --save …`),
//! their run records (loss curves, wall time, CPU), accuracies recomputed here from the
//! checkpoints, translations, and cross-attention before and after training.

use std::fmt::Write as _;

use attention::embedding::{BOS, EOS, PAD, UNK};
use attention::ndarray::{Array3, Axis, stack};
use attention::params::Params;
use attention::plot;
use attention::plotly::Plot;
use attention::prelude::{BOS_ID, EOS_ID, Seq2SeqTransformer, Vocab, greedy_decode};
use attention::train::tasks::{SymbolTask, Translation, exact_match_accuracy};
use attention::train::trainer::{Example, load_checkpoint};
use attention::transformer::Seq2SeqConfig;
use serde_json::Value;

use crate::util::root;

use super::err;

/// The seed `train_task` uses (model init, data, dropout).
const SEED: u64 = 0;

/// One trained task: its model before and after training, its held-out examples and the
/// record of its training run.
pub struct Trained {
    pub name: &'static str,
    pub before: Seq2SeqTransformer,
    pub after: Seq2SeqTransformer,
    pub held_out: Vec<Example>,
    pub record: Value,
}

/// The three tasks, in the book's order: copy, reverse, translate.
pub fn all() -> Result<Vec<Trained>, String> {
    let translation = Translation::new();
    let symbol = |t: SymbolTask| (t.name(), t.model_config(), t.examples(1_000, SEED + 1));
    let tasks = [
        symbol(SymbolTask::Copy),
        symbol(SymbolTask::Reverse),
        (
            "translate",
            translation.model_config(),
            translation.held_out,
        ),
    ];
    tasks
        .into_iter()
        .map(|(name, config, held_out)| load(name, config, held_out))
        .collect()
}

fn load(
    name: &'static str,
    config: Seq2SeqConfig,
    held_out: Vec<Example>,
) -> Result<Trained, String> {
    let before = Seq2SeqTransformer::from_params(&Params::seeded(SEED), config).map_err(err)?;
    let mut after = before.clone();
    let path = root().join(format!("checkpoints/{name}.safetensors"));
    load_checkpoint(&mut after, &path).map_err(err)?;
    let record_path = path.with_extension("json");
    let text = std::fs::read_to_string(&record_path)
        .map_err(|e| format!("{}: {e}", record_path.display()))?;
    let record =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", record_path.display()))?;
    Ok(Trained {
        name,
        before,
        after,
        held_out,
        record,
    })
}

/// The results table: accuracy before and after (recomputed from the checkpoints), and the
/// recorded run (steps, final held-out loss, wall time, CPU).
pub fn results(tasks: &[Trained]) -> Result<String, String> {
    let mut md = String::from(
        "| task | held-out examples | exact-sequence accuracy before → after training | final held-out loss | training time |\n|---|---|---|---|---|\n",
    );
    let mut cpus = Vec::new();
    for t in tasks {
        let before = exact_match_accuracy(&t.before, &t.held_out).map_err(err)?;
        let after = exact_match_accuracy(&t.after, &t.held_out).map_err(err)?;
        let recorded = t.record["exact_match_accuracy"]
            .as_f64()
            .unwrap_or(f64::NAN);
        if (recorded - f64::from(after)).abs() > 1e-6 {
            return Err(format!(
                "checkpoints/{}: the record says accuracy {recorded}, the checkpoint gives {after}",
                t.name
            ));
        }
        let last_loss = t.record["held_out_loss"]
            .as_array()
            .and_then(|a| a.last())
            .and_then(|p| p[1].as_f64())
            .ok_or("a record without held_out_loss")?;
        let seconds = t.record["seconds"]
            .as_f64()
            .ok_or("a record without seconds")?;
        let steps = t.record["steps"].as_u64().ok_or("a record without steps")?;
        writeln!(
            md,
            "| {} | {} | {:.1} % → **{:.1} %** | {last_loss:.3} | {seconds:.0} s ({steps} steps) |",
            t.name,
            t.held_out.len(),
            100.0 * before,
            100.0 * after,
        )
        .unwrap();
        cpus.push(t.record["cpu"].as_str().unwrap_or("unknown").to_string());
    }
    cpus.dedup();
    writeln!(md, "\nMeasured on: {}.", cpus.join("; ")).unwrap();
    Ok(md)
}

/// Training loss (every 10th step) and held-out loss of each task, from the run records.
pub fn loss_curves(tasks: &[Trained], title: &str) -> attention::Result<Plot> {
    let mut series = Vec::new();
    for t in tasks {
        for (key, what) in [("train_loss", "training"), ("held_out_loss", "held-out")] {
            let points = t.record[key].as_array().cloned().unwrap_or_default();
            let xs = points.iter().filter_map(|p| p[0].as_f64()).collect();
            let ys = points.iter().filter_map(|p| p[1].as_f64()).collect();
            series.push((format!("{} ({what})", t.name), xs, ys));
        }
    }
    Ok(plot::curves(
        &series,
        title,
        "step",
        "loss (label-smoothed)",
    ))
}

/// The last decoder layer's cross-attention, averaged over heads, before and after training,
/// for the first held-out example (symbol tasks) or `english` (translation): `(2, tgt, src)`
/// with the query and key tokens. The target is the trained model's own greedy output.
pub fn before_after(
    t: &Trained,
    english: Option<&str>,
) -> attention::Result<(Array3<f32>, Vec<String>, Vec<String>)> {
    let translation = Translation::new();
    let src = match english {
        Some(text) => translation.src_vocab.encode_with_specials(text),
        None => t.held_out[0].0.clone(),
    };
    let max_new = t.after.config.max_len - 1;
    let out = greedy_decode(&t.after, &src, BOS_ID, EOS_ID, max_new)?;
    let queries = &out[..out.len() - 1]; // position t reads, to predict token t + 1
    let layer = t.after.transformer.decoder.layers.len() - 1;
    let mean = |m: &Seq2SeqTransformer| -> attention::Result<_> {
        Ok(m.cross_attention(&src, queries, layer)?
            .mean_axis(Axis(0))
            .expect("heads"))
    };
    let (before, after) = (mean(&t.before)?, mean(&t.after)?);
    let maps = stack(Axis(0), &[before.view(), after.view()]).expect("same shapes");
    let tokens = |ids: &[usize], vocab: Option<&Vocab>| -> Vec<String> {
        match vocab {
            Some(v) => v.tokens_of(ids).unwrap_or_default(),
            None => ids.iter().map(|&id| symbol_name(id)).collect(),
        }
    };
    let (src_vocab, tgt_vocab) = match english {
        Some(_) => (Some(&translation.src_vocab), Some(&translation.tgt_vocab)),
        None => (None, None),
    };
    Ok((maps, tokens(queries, tgt_vocab), tokens(&src, src_vocab)))
}

/// A symbol id as the book writes it: specials by name, symbols as letters A, B, ….
fn symbol_name(id: usize) -> String {
    match [PAD, UNK, BOS, EOS].get(id) {
        Some(special) => special.to_string(), // ids 0–3
        None => char::from(b'A' + (id - 4) as u8).to_string(),
    }
}

/// The figure: before and after, side by side.
pub fn before_after_figure(
    t: &Trained,
    english: Option<&str>,
    title: &str,
) -> attention::Result<Plot> {
    let (maps, queries, keys) = before_after(t, english)?;
    let names = ["before training".to_string(), "after training".to_string()];
    plot::side_by_side_heatmaps(&maps, &names, &queries, &keys, title)
}

/// Greedy translations of the book's sentences and of held-out phrases by the trained
/// translator, marking which the model never saw.
pub fn translations(t: &Trained) -> Result<String, String> {
    let translation = Translation::new();
    let seen = |english: &str| translation.corpus.train.iter().any(|(en, _)| en == english);
    let mut md = String::from(
        "| English | greedy decoding (trained) | in the training pairs? |\n|---|---|---|\n",
    );
    let held_out: Vec<&str> = (translation.corpus.held_out.iter())
        .take(4)
        .map(|(en, _)| en.as_str())
        .collect();
    for english in ["let's go", "to go"].into_iter().chain(held_out) {
        let spanish = translation.translate(&t.after, english).map_err(err)?;
        let where_ = if seen(english) {
            "yes"
        } else {
            "no (held out)"
        };
        writeln!(md, "| {english} | `{spanish}` | {where_} |").unwrap();
    }
    Ok(md)
}
