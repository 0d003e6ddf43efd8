//! Trains a small Transformer on a task that shows attention working, with the crate's own
//! backpropagation, and reports its accuracy on held-out examples.
//!
//! ```text
//! cargo run --release --example train_task -- copy        # or: reverse, translate
//! cargo run --release --example train_task -- copy --save checkpoints/copy.safetensors
//! ```
//!
//! With `--save PATH.safetensors` it also writes `PATH.json`: the run's record (loss curves,
//! accuracy, wall time, CPU), which the book's chapter 9 shows.

use std::time::Instant;

use attention::params::{Module, Params};
use attention::train::tasks::{SymbolTask, Translation, exact_match_accuracy};
use attention::train::trainer::{Trainer, print_progress, save_checkpoint};
use attention::transformer::Seq2SeqTransformer;

fn main() -> attention::Result<()> {
    attention::kernels::keep_freed_memory(); // no page faults on each step's reused memory
    let args: Vec<String> = std::env::args().skip(1).collect();
    let task = args.first().map(String::as_str).unwrap_or("copy");
    let save = args
        .iter()
        .position(|a| a == "--save")
        .and_then(|i| args.get(i + 1));
    let seed = 0;
    let start = Instant::now();
    let translation = Translation::new();
    let (config, train_config, train, held_out) = match task {
        "copy" | "reverse" => {
            let t = if task == "copy" {
                SymbolTask::Copy
            } else {
                SymbolTask::Reverse
            };
            let train = t.examples(20_000, seed);
            let held_out = t.examples(1_000, seed + 1);
            (t.model_config(), t.train_config(seed), train, held_out)
        }
        "translate" => (
            translation.model_config(),
            translation.train_config(seed),
            translation.train.clone(),
            translation.held_out.clone(),
        ),
        other => {
            eprintln!("unknown task `{other}`: expected copy, reverse or translate");
            std::process::exit(2);
        }
    };
    let mut model = Seq2SeqTransformer::from_params(&Params::seeded(seed), config)?;
    println!(
        "{task}: {} parameters, {} training examples, {} held out",
        model.parameter_count(),
        train.len(),
        held_out.len()
    );
    let d_model = config.transformer.d_model;
    let steps = train_config.steps;
    let mut trainer = Trainer::new(train_config, d_model, config.pad_id)?;
    let history = trainer.fit(&mut model, &train, &held_out, print_progress(steps, 100))?;
    let accuracy = exact_match_accuracy(&model, &held_out)?;
    println!(
        "{task}: trained in {:.1} s; exact-sequence accuracy on {} held-out examples: {:.1} %",
        history.seconds,
        held_out.len(),
        100.0 * accuracy
    );
    if task == "translate" {
        for english in [
            "let's go",
            "to go",
            "the pizza is hot",
            "the pizzas are hot",
        ] {
            println!(
                "  {english:>20} → {}",
                translation.translate(&model, english)?
            );
        }
    }
    if let Some(path) = save {
        save_checkpoint(&model, path)?;
        let record = serde_json::json!({
            "task": task,
            "command": format!("cargo run --release --example train_task -- {task}"),
            "seed": seed,
            "parameters": model.parameter_count(),
            "train_examples": train.len(),
            "held_out_examples": held_out.len(),
            "steps": steps,
            "seconds": history.seconds,
            "exact_match_accuracy": accuracy,
            "cpu": cpu_name(),
            // Every 10th step's training loss keeps the file small.
            "train_loss": history.train.iter().filter(|(s, _)| s % 10 == 0).collect::<Vec<_>>(),
            "held_out_loss": history.held_out,
        });
        let json_path = std::path::Path::new(path).with_extension("json");
        std::fs::write(&json_path, format!("{record:#}\n")).expect("write the record");
        println!("saved {path} and {}", json_path.display());
    }
    println!("total {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

/// The CPU's model name (Linux), for the record.
fn cpu_name() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let name = info.lines().find_map(|l| l.strip_prefix("model name"));
    let name = name
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("unknown")
        .trim();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{name}, {cores} threads")
}
