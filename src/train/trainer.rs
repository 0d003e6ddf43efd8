//! The training loop: batches with padding, teacher forcing, train and eval modes, the
//! optimizer step with warm-up and clipping, periodic evaluation, progress and checkpoints.
//!
//! One step, the whole chapter in six lines:
//! 1. forward in train mode (dropout on), keeping what the backward needs;
//! 2. the loss against the shifted target (teacher forcing), padding ignored;
//! 3. ∂loss/∂logits, then every layer's backward, filling [`Gradients`] by name;
//! 4. clip the gradients' global norm;
//! 5. set the learning rate from the warm-up schedule;
//! 6. the optimizer (AdamW) updates every parameter in place.

use std::path::Path;
use std::time::Instant;

use ndarray::Array2;
use rand_chacha::rand_core::RngCore;

use super::loss::{CrossEntropyLoss, counted_tokens};
use super::optim::{AdamW, Optimizer, clip_grad_norm};
use super::schedule::NoamSchedule;
use crate::embedding::pad_batch;
use crate::error::{Error, Result};
use crate::gradients::Gradients;
use crate::nn::{SeededRng, Train, seeded_rng};
use crate::params::Module;
use crate::transformer::Seq2SeqTransformer;
use crate::weights::NamedTensors;

/// One training pair: source ids and target ids, each `<bos> … <eos>`.
pub type Example = (Vec<usize>, Vec<usize>);

/// A padded batch, ready for teacher forcing.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Source ids `(batch, src_len)`.
    pub src: Array2<usize>,
    /// Decoder input: each target without its last token `(batch, tgt_len − 1)`.
    pub tgt_in: Array2<usize>,
    /// Labels: each target without its first token, `<bos>` (the same shape).
    pub tgt_out: Array2<usize>,
}

impl Batch {
    // ANCHOR: teacher_forcing
    /// Pads the examples to the longest of each side and shifts the targets: at position t
    /// the decoder reads target token t and learns to predict token t + 1 (teacher forcing:
    /// it always reads the *true* previous tokens, never its own guesses).
    pub fn new(examples: &[&Example], pad_id: usize) -> Result<Batch> {
        if examples.is_empty() {
            return Err(Error::value("examples", "at least one example", "none"));
        }
        if let Some((i, _)) = (examples.iter().enumerate()).find(|(_, (_, t))| t.len() < 2) {
            let want = "targets of at least 2 tokens (<bos> … <eos>)";
            return Err(Error::value(format!("examples[{i}].1"), want, "fewer"));
        }
        let src: Vec<Vec<usize>> = examples.iter().map(|(s, _)| s.clone()).collect();
        let tgt_in: Vec<Vec<usize>> = (examples.iter())
            .map(|(_, t)| t[..t.len() - 1].to_vec()) // <bos> a b c
            .collect();
        let tgt_out: Vec<Vec<usize>> = (examples.iter())
            .map(|(_, t)| t[1..].to_vec()) // a b c <eos>
            .collect();
        Ok(Batch {
            src: pad_batch_with(&src, pad_id)?,
            tgt_in: pad_batch_with(&tgt_in, pad_id)?,
            tgt_out: pad_batch_with(&tgt_out, pad_id)?,
        })
    }
    // ANCHOR_END: teacher_forcing
}

/// [`pad_batch`] with any padding id (it pads with [`crate::embedding::PAD_ID`]).
fn pad_batch_with(sequences: &[Vec<usize>], pad_id: usize) -> Result<Array2<usize>> {
    let mut padded = pad_batch(sequences)?;
    for (mut row, seq) in padded.rows_mut().into_iter().zip(sequences) {
        row.slice_mut(ndarray::s![seq.len()..]).fill(pad_id);
    }
    Ok(padded)
}

/// How to train: the recipe, every number in one place.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Optimizer steps.
    pub steps: usize,
    /// Examples per step.
    pub batch_size: usize,
    /// The learning rate at the end of warm-up (the schedule's peak).
    pub peak_lr: f64,
    /// Steps of linear warm-up; after it the rate decays as 1/√step (the paper's schedule).
    pub warmup: usize,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f64,
    /// Dropout probability at every dropout site while training.
    pub dropout: f32,
    /// Label smoothing ε of the loss (the paper: 0.1).
    pub label_smoothing: f32,
    /// Clip the gradients' global norm to this (None: no clipping).
    pub clip_norm: Option<f32>,
    /// Evaluate on the held-out examples every this many steps (and after the last).
    pub eval_every: usize,
    /// Seeds the batches and the dropout masks.
    pub seed: u64,
}

impl TrainConfig {
    /// Errors naming the first setting out of range.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("steps", self.steps),
            ("batch_size", self.batch_size),
            ("warmup", self.warmup),
            ("eval_every", self.eval_every),
        ] {
            if v == 0 {
                return Err(Error::value(name, "at least 1", v));
            }
        }
        if !(self.peak_lr > 0.0 && self.peak_lr.is_finite()) {
            return Err(Error::value("peak_lr", "a positive number", self.peak_lr));
        }
        if let Some(c) = self.clip_norm
            && !(c > 0.0 && c.is_finite())
        {
            return Err(Error::value("clip_norm", "a positive number", c));
        }
        Ok(())
    }
}

/// What one training step measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepReport {
    /// The step, from 1.
    pub step: usize,
    /// The batch's loss (train mode).
    pub loss: f32,
    /// The learning rate used.
    pub lr: f64,
    /// The gradients' global norm before clipping.
    pub grad_norm: f32,
    /// Target tokens that counted in the loss.
    pub tokens: usize,
}

/// The loss curves of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// `(step, training loss)` for every step.
    pub train: Vec<(usize, f32)>,
    /// `(step, held-out loss)` at every evaluation.
    pub held_out: Vec<(usize, f32)>,
    /// Wall time of the whole run, seconds.
    pub seconds: f64,
}

/// What [`Trainer::fit`] tells its progress callback.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Progress {
    /// A step finished; `tokens_per_second` over the steps since the last report.
    Step(StepReport, f64),
    /// An evaluation on the held-out examples finished.
    Eval {
        /// The step it followed.
        step: usize,
        /// The held-out loss (eval mode: no dropout).
        loss: f32,
    },
}

/// The training state: optimizer, schedule, loss, dropout generator, batch sampler.
pub struct Trainer {
    /// The recipe.
    pub config: TrainConfig,
    optimizer: AdamW,
    schedule: NoamSchedule,
    loss: CrossEntropyLoss,
    train: Train,
    sampler: SeededRng,
    step: usize,
}

impl Trainer {
    /// A trainer for a model whose padding id is `pad_id`.
    pub fn new(config: TrainConfig, d_model: usize, pad_id: usize) -> Result<Self> {
        config.validate()?;
        // The paper's schedule, lr = factor · d_model^−½ · min(step^−½, step · warmup^−1.5),
        // peaks at step = warmup with factor · (d_model · warmup)^−½: pick the factor for
        // the requested peak.
        let factor = config.peak_lr * ((d_model * config.warmup) as f64).sqrt();
        let schedule = NoamSchedule::new(d_model, config.warmup, factor)?;
        let optimizer = AdamW::new(config.peak_lr, (0.9, 0.98), 1e-9, config.weight_decay)?;
        Ok(Trainer {
            loss: CrossEntropyLoss::new(Some(pad_id), config.label_smoothing)?,
            train: Train::new(config.dropout, config.seed)?,
            sampler: seeded_rng(config.seed ^ 0xba7c4),
            optimizer,
            schedule,
            config,
            step: 0,
        })
    }

    // ANCHOR: train_step
    /// One optimizer step on `batch`; errors naming the step if the loss is not finite.
    pub fn step(&mut self, model: &mut Seq2SeqTransformer, batch: &Batch) -> Result<StepReport> {
        self.step += 1;
        let (logits, cache) = model.forward_train(&batch.src, &batch.tgt_in, &mut self.train)?;
        let (loss, d_logits) = self.loss.forward_backward(&logits, &batch.tgt_out)?;
        if !loss.is_finite() {
            let want = "a finite number (lower the learning rate, or check the data)";
            return Err(Error::value(
                "loss",
                want,
                format!("{loss} at step {}", self.step),
            ));
        }
        let mut grads = Gradients::new();
        model.backward(&cache, &d_logits, &mut grads)?; // ∂loss/∂θ for every θ, by name
        let grad_norm = match self.config.clip_norm {
            Some(max_norm) => clip_grad_norm(&mut grads, max_norm)?,
            None => grads.global_norm(),
        };
        let lr = self.schedule.lr(self.step)?;
        self.optimizer.set_lr(lr)?;
        self.optimizer.step(model, &grads)?; // θ ← θ − update(∂loss/∂θ)
        let tokens = counted_tokens(&batch.tgt_out, self.loss.ignore_index);
        Ok(StepReport {
            step: self.step,
            loss,
            lr,
            grad_norm,
            tokens,
        })
    }
    // ANCHOR_END: train_step

    /// The mean loss over `examples` in eval mode (no dropout, no update), in batches.
    pub fn evaluate(&self, model: &Seq2SeqTransformer, examples: &[Example]) -> Result<f32> {
        if examples.is_empty() {
            return Err(Error::value("examples", "at least one example", "none"));
        }
        let pad_id = model.config.pad_id;
        let (mut total, mut tokens) = (0.0_f64, 0);
        for chunk in examples.chunks(self.config.batch_size) {
            let refs: Vec<&Example> = chunk.iter().collect();
            let batch = Batch::new(&refs, pad_id)?;
            let logits = model.forward(&batch.src, &batch.tgt_in)?; // eval mode
            let (loss, _) = self.loss.forward_backward(&logits, &batch.tgt_out)?;
            let n = counted_tokens(&batch.tgt_out, Some(pad_id));
            total += loss as f64 * n as f64;
            tokens += n;
        }
        Ok((total / tokens as f64) as f32)
    }

    /// A batch of `batch_size` examples drawn uniformly (with replacement) from `examples`,
    /// by the trainer's seeded generator.
    pub fn sample_batch(&mut self, examples: &[Example], pad_id: usize) -> Result<Batch> {
        if examples.is_empty() {
            return Err(Error::value("examples", "at least one example", "none"));
        }
        let picked: Vec<&Example> = (0..self.config.batch_size)
            .map(|_| &examples[(self.sampler.next_u64() % examples.len() as u64) as usize])
            .collect();
        Batch::new(&picked, pad_id)
    }

    /// Trains for `config.steps` steps on `train`, evaluating on `held_out` every
    /// `config.eval_every` steps and after the last; `progress` hears about every step and
    /// every evaluation.
    pub fn fit(
        &mut self,
        model: &mut Seq2SeqTransformer,
        train: &[Example],
        held_out: &[Example],
        mut progress: impl FnMut(Progress),
    ) -> Result<History> {
        let start = Instant::now();
        let mut history = History::default();
        let (mut window_tokens, mut window_start) = (0, Instant::now());
        for _ in 0..self.config.steps {
            let batch = self.sample_batch(train, model.config.pad_id)?;
            let report = self.step(model, &batch)?;
            history.train.push((report.step, report.loss));
            window_tokens += report.tokens;
            let per_second = window_tokens as f64 / window_start.elapsed().as_secs_f64();
            progress(Progress::Step(report, per_second));
            if report.step % self.config.eval_every == 0 || report.step == self.config.steps {
                (window_tokens, window_start) = (0, Instant::now());
                let loss = self.evaluate(model, held_out)?;
                history.held_out.push((report.step, loss));
                progress(Progress::Eval {
                    step: report.step,
                    loss,
                });
            }
        }
        history.seconds = start.elapsed().as_secs_f64();
        Ok(history)
    }
}

/// A progress callback for [`Trainer::fit`] that prints one line every `every` steps and
/// one per evaluation: step, loss, learning rate, gradient norm, tokens per second.
pub fn print_progress(total_steps: usize, every: usize) -> impl FnMut(Progress) {
    move |p| match p {
        Progress::Step(r, per_second) if r.step % every == 0 || r.step == total_steps => {
            println!(
                "step {:>5}/{total_steps}  loss {:.4}  lr {:.2e}  |grad| {:.3}  {:.0} tokens/s",
                r.step, r.loss, r.lr, r.grad_norm, per_second
            );
        }
        Progress::Eval { step, loss } => println!("step {step:>5}  held-out loss {loss:.4}"),
        _ => {}
    }
}

/// Saves a model's parameters and settings as safetensors (names as PyTorch's state_dict).
pub fn save_checkpoint(model: &impl Module, path: impl AsRef<Path>) -> Result<()> {
    model.parameters().write_safetensors_file(path)
}

/// Loads a checkpoint into `model` (same sizes), checked before anything changes: on an error
/// naming the tensor, setting or file, `model` is left as it was.
pub fn load_checkpoint(model: &mut impl Module, path: impl AsRef<Path>) -> Result<()> {
    let tensors = NamedTensors::from_safetensors_file(path)?;
    model.load_parameters(&tensors)
}
