//! Trains chapter 10's character-level GPT on Shakespeare's tragedies with nanoGPT's CPU
//! recipe (4 layers, 4 heads, n_embd 128, context 64, batch 12, 2000 steps), then prints
//! samples.
//!
//! ```text
//! cargo run --release --example train_gpt
//! cargo run --release --example train_gpt -- --iters 200             # a short run
//! cargo run --release --example train_gpt -- --save checkpoints/gpt_shakespeare.safetensors
//! ```
//!
//! It prints a progress line every 10 steps (loss, learning rate, gradient norm, tokens/s)
//! and both losses every 250 steps, and ends with the run's record (losses, training time,
//! tokens/s) as one line of JSON. With `--save PATH.safetensors` it writes the weights and
//! the record as `PATH.json`.
//! `benches/nanogpt_shakespeare.py` trains the same recipe in PyTorch for comparison.

use std::time::Instant;

use attention::gpt::Gpt;
use attention::gpt::data::{CharDataset, shakespeare};
use attention::gpt::sample::{Decoding, generate};
use attention::gpt::train::{
    GptTrainConfig, GptTrainer, estimate_loss, nanogpt_cpu_model, split_loss,
};
use attention::nn::seeded_rng;
use attention::params::{Module, Params};
use attention::train::trainer::save_checkpoint;

fn main() -> attention::Result<()> {
    attention::kernels::keep_freed_memory(); // no page faults on each step's reused memory
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
    };
    let mut config = GptTrainConfig::nanogpt_cpu();
    if let Some(iters) = value("--iters") {
        config.max_iters = iters.parse().expect("--iters N");
        config.lr_decay_iters = config.max_iters.max(config.warmup_iters + 1);
    }
    let data = CharDataset::new(&shakespeare()?)?;
    let model = Gpt::from_params(
        &Params::seeded(config.seed),
        nanogpt_cpu_model(data.tokenizer.vocab_size()),
    )?;
    println!(
        "GPT: {} parameters, vocabulary {} characters, {} training and {} validation characters",
        model.parameter_count(),
        data.tokenizer.vocab_size(),
        data.train.len(),
        data.val.len()
    );
    let tokens_per_step = config.batch_size * model.config.block_size;
    let mut trainer = GptTrainer::new(model, config.clone())?;
    let mut eval_rng = seeded_rng(config.seed + 1);
    let mut curve = Vec::new();
    let start = Instant::now();
    let mut last = Instant::now();
    let mut train_seconds = 0.0;
    for it in 0..=config.max_iters {
        if it % config.eval_interval == 0 || it == config.max_iters {
            let t = Instant::now();
            let train = estimate_loss(
                &trainer.model,
                &data.train,
                config.batch_size,
                config.eval_iters,
                &mut eval_rng,
            )?;
            let val = estimate_loss(
                &trainer.model,
                &data.val,
                config.batch_size,
                config.eval_iters,
                &mut eval_rng,
            )?;
            println!("step {it}: train loss {train:.4}, val loss {val:.4}");
            curve.push((it, train, val));
            last += t.elapsed(); // evaluation time is not training time
        }
        if it == config.max_iters {
            break;
        }
        let t = Instant::now();
        let report = trainer.step(&data.train)?;
        train_seconds += t.elapsed().as_secs_f64();
        if report.step % 10 == 0 {
            let per_second = 10.0 * tokens_per_step as f64 / last.elapsed().as_secs_f64();
            last = Instant::now();
            println!(
                "iter {:>4}: loss {:.4}, lr {:.2e}, |grad| {:.3}, {:.0} tokens/s",
                report.step, report.loss, report.lr, report.grad_norm, per_second
            );
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let val_full = split_loss(&trainer.model, &data.val, 64)?;
    println!(
        "done: {} steps in {train_seconds:.1} s of training ({wall:.1} s with evaluation), \
         {:.0} tokens/s; validation loss over the whole split: {val_full:.4}",
        config.max_iters,
        (config.max_iters * tokens_per_step) as f64 / train_seconds
    );
    let mut rng = seeded_rng(7);
    for prompt in ["\n", "ROMEO.\n", "To be, or not"] {
        let ids = data.tokenizer.encode(prompt)?;
        let decoding = Decoding::Sample {
            temperature: 0.8,
            top_k: Some(20),
            top_p: None,
        };
        let out = generate(&trainer.model, &ids, 200, decoding, None, &mut rng)?;
        println!("--- {prompt:?}\n{}{}", prompt, data.tokenizer.decode(&out)?);
    }
    let record = serde_json::json!({
            "recipe": "nanoGPT shakespeare_char, CPU: n_layer 4, n_head 4, n_embd 128, block_size 64, batch_size 12, lr 1e-3 → 1e-4 cosine, warmup 100, AdamW β=(0.9, 0.99), wd 0.1, clip 1.0, dropout 0",
            "max_iters": config.max_iters,
            "seed": config.seed,
            "curve": curve.iter().map(|(s, t, v)| serde_json::json!({"step": s, "train": t, "val": v})).collect::<Vec<_>>(),
            "val_loss_full_split": val_full,
            "train_seconds": train_seconds,
            "tokens_per_second": (config.max_iters * tokens_per_step) as f64 / train_seconds,
            "parameters": trainer.model.parameter_count(),
            "threads": rayon::current_num_threads(),
    });
    if let Some(path) = value("--save") {
        save_checkpoint(&trainer.model, path)?;
        let json_path = std::path::Path::new(path).with_extension("json");
        std::fs::write(
            &json_path,
            serde_json::to_string_pretty(&record).expect("json") + "\n",
        )
        .map_err(|e| attention::Error::Parse {
            what: json_path.display().to_string(),
            reason: e.to_string(),
        })?;
        println!("saved {path} and {}", json_path.display());
    }
    println!("{record}"); // last line: the record as JSON, for `cargo xtask bench-gpt`
    Ok(())
}
