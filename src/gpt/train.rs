//! Training a GPT on a text the way nanoGPT's `train.py` does: random windows, next-token
//! cross-entropy at every position, AdamW (decay on matrices only), gradient clipping, a
//! cosine learning rate with warm-up, and periodic loss estimates on both splits.

use ndarray::{Array2, s};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::gradients::Gradients;
use crate::nn::{SeededRng, seeded_rng};
use crate::train::loss::CrossEntropyLoss;
use crate::train::optim::{AdamW, Optimizer, clip_grad_norm};
use crate::train::schedule::CosineWithWarmup;
use crate::train::trainer::StepReport;

use super::data::get_batch;
use super::model::{Gpt, GptConfig};

/// nanoGPT's training settings (`train.py`'s names).
#[derive(Debug, Clone, PartialEq)]
pub struct GptTrainConfig {
    /// Sequences per step.
    pub batch_size: usize,
    /// Optimizer steps.
    pub max_iters: usize,
    /// Peak learning rate, reached after the warm-up.
    pub learning_rate: f64,
    /// The floor of the cosine decay.
    pub min_lr: f64,
    /// Linear warm-up steps.
    pub warmup_iters: usize,
    /// Where the cosine reaches `min_lr`.
    pub lr_decay_iters: usize,
    /// AdamW's decoupled weight decay, on matrices and embeddings only.
    pub weight_decay: f64,
    /// AdamW's (β₁, β₂).
    pub betas: (f64, f64),
    /// Clip the global gradient norm to this.
    pub grad_clip: f32,
    /// Estimate both losses every this many steps.
    pub eval_interval: usize,
    /// Batches per loss estimate.
    pub eval_iters: usize,
    /// Seeds the batches.
    pub seed: u64,
    /// Parts the batch is split into, whose gradients are computed at the same time
    /// ([`sharded_loss_and_grads`]): 1 is one forward and backward over the whole batch.
    /// The split depends on this number, not on the machine's cores, so a run gives the same
    /// bits on any machine.
    pub shards: usize,
}

impl GptTrainConfig {
    /// nanoGPT's CPU recipe for character-level Shakespeare (its README:
    /// `config/train_shakespeare_char.py --device=cpu --eval_iters=20 --block_size=64
    /// --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128 --max_iters=2000
    /// --lr_decay_iters=2000 --dropout=0.0`), the model's shape in [`nanogpt_cpu_model`].
    pub fn nanogpt_cpu() -> Self {
        GptTrainConfig {
            batch_size: 12,
            max_iters: 2000,
            learning_rate: 1e-3,
            min_lr: 1e-4,
            warmup_iters: 100,
            lr_decay_iters: 2000,
            weight_decay: 0.1,
            betas: (0.9, 0.99),
            grad_clip: 1.0,
            eval_interval: 250,
            eval_iters: 20,
            seed: 1337,
            shards: 2,
        }
    }
}

/// The model of nanoGPT's CPU recipe: 4 layers, 4 heads, n_embd 128, context 64.
pub fn nanogpt_cpu_model(vocab_size: usize) -> GptConfig {
    GptConfig {
        vocab_size,
        block_size: 64,
        n_layer: 4,
        n_head: 4,
        n_embd: 128,
    }
}

/// A GPT, its optimizer and schedule, and the generator of its batches.
pub struct GptTrainer {
    /// The model being trained.
    pub model: Gpt,
    /// The settings.
    pub config: GptTrainConfig,
    optimizer: AdamW,
    schedule: CosineWithWarmup,
    batches: SeededRng,
    steps: usize,
}

impl GptTrainer {
    /// Ready to train `model` with `config`.
    pub fn new(model: Gpt, config: GptTrainConfig) -> Result<Self> {
        let counts = [
            config.batch_size,
            config.eval_iters,
            config.eval_interval,
            config.shards,
        ];
        if counts.contains(&0) {
            let want = "batch_size, eval_iters, eval_interval and shards all ≥ 1";
            let got = format!("{counts:?}");
            return Err(Error::value("config", want, got));
        }
        let schedule = CosineWithWarmup::new(
            config.learning_rate,
            config.min_lr,
            config.warmup_iters,
            config.lr_decay_iters,
        )?;
        let optimizer = AdamW::new(
            config.learning_rate,
            config.betas,
            1e-8,
            config.weight_decay,
        )?
        .decay_matrices_only();
        let batches = seeded_rng(config.seed);
        Ok(GptTrainer {
            model,
            config,
            optimizer,
            schedule,
            batches,
            steps: 0,
        })
    }

    /// Steps done so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    // ANCHOR: gpt_step
    /// One step on a random batch of `train_data`: forward, loss over every position,
    /// backward, clip, learning rate from the schedule, AdamW.
    pub fn step(&mut self, train_data: &[usize]) -> Result<StepReport> {
        let (batch, block) = (self.config.batch_size, self.model.config.block_size);
        let (x, y) = get_batch(train_data, batch, block, &mut self.batches)?; // (B, T) each
        let (loss, mut grads) = sharded_loss_and_grads(&self.model, &x, &y, self.config.shards)?;
        let grad_norm = clip_grad_norm(&mut grads, self.config.grad_clip)?;
        let lr = self.schedule.lr(self.steps);
        self.optimizer.set_lr(lr)?;
        self.optimizer.step(&mut self.model, &grads)?;
        self.steps += 1;
        let tokens = batch * block; // every position is a target: no padding
        Ok(StepReport {
            step: self.steps,
            loss,
            lr,
            grad_norm,
            tokens,
        })
    }
    // ANCHOR_END: gpt_step
}

/// The mean next-token cross-entropy of `x → y` (both `(batch, seq)`) and its gradients.
pub fn loss_and_grads(gpt: &Gpt, x: &Array2<usize>, y: &Array2<usize>) -> Result<(f32, Gradients)> {
    let (logits, cache) = gpt.forward_train(x)?; // (B, T, V)
    let (loss, d_logits) = CrossEntropyLoss::new(None, 0.0)?.forward_backward(&logits, y)?;
    if !loss.is_finite() {
        return Err(Error::value("loss", "a finite number", loss));
    }
    Ok((loss, gpt.backward(&cache, &d_logits)?))
}

// ANCHOR: sharded_loss_and_grads
/// [`loss_and_grads`] with the batch split into `shards` parts of whole sequences that run at
/// the same time, one per thread (data parallelism, as PyTorch's DistributedDataParallel does
/// across GPUs).
///
/// Each part's loss is the mean over its own tokens, so the batch's loss is the parts' losses
/// weighted by their share of the tokens, and so are the gradients, which are then added. The
/// result equals `loss_and_grads` on the whole batch up to rounding. Inside a part every
/// matrix product runs on that part's thread ([`crate::backend::matmul`] does not split
/// again), so the element-wise work is spread over the cores too, not only the products.
pub fn sharded_loss_and_grads(
    gpt: &Gpt,
    x: &Array2<usize>, // (B, T) input ids
    y: &Array2<usize>, // (B, T) target ids
    shards: usize,
) -> Result<(f32, Gradients)> {
    let batch = x.nrows();
    let rows = batch.div_ceil(shards.clamp(1, batch.max(1))); // sequences per part
    if rows >= batch {
        return loss_and_grads(gpt, x, y);
    }
    let firsts: Vec<usize> = (0..batch).step_by(rows).collect();
    let parts: Vec<Result<(f32, Gradients)>> = firsts
        .into_par_iter()
        .map(|first| {
            let part = s![first..(first + rows).min(batch), ..];
            let (x, y) = (x.slice(part).to_owned(), y.slice(part).to_owned()); // (b, T)
            let (loss, mut grads) = loss_and_grads(gpt, &x, &y)?;
            let share = x.nrows() as f32 / batch as f32; // this part's share of the tokens
            grads.scale(share);
            Ok((loss * share, grads))
        })
        .collect();
    let (mut loss, mut sum) = (0.0, Gradients::new());
    for part in parts {
        let (part_loss, grads) = part?;
        loss += part_loss;
        sum.add_all(grads);
    }
    Ok((loss, sum))
}
// ANCHOR_END: sharded_loss_and_grads

/// nanoGPT's `estimate_loss` for one split: the mean loss of `eval_iters` random batches
/// (drawn from `rng`, so the estimate is noisy by about 0.01 at 20 batches of 12 × 64).
pub fn estimate_loss(
    gpt: &Gpt,
    data: &[usize],
    batch: usize,
    eval_iters: usize,
    rng: &mut SeededRng,
) -> Result<f32> {
    let block = gpt.config.block_size;
    let mut total = 0.0;
    for _ in 0..eval_iters {
        let (x, y) = get_batch(data, batch, block, rng)?;
        total += mean_loss(gpt, &x, &y)?;
    }
    Ok(total / eval_iters as f32)
}

/// The loss over all of `data`, in consecutive windows of block_size (the last partial one
/// dropped), `batch` windows at a time: the same number on every run, for comparing runs.
pub fn split_loss(gpt: &Gpt, data: &[usize], batch: usize) -> Result<f32> {
    let block = gpt.config.block_size;
    let windows = data.len().saturating_sub(1) / block; // an empty split: 0, an error below
    if windows == 0 || batch == 0 {
        let want = format!("more than block_size = {block} ids, and batch ≥ 1");
        return Err(Error::value("data (its length)", want, data.len()));
    }
    let (mut total, mut count) = (0.0_f64, 0);
    for first in (0..windows).step_by(batch) {
        let rows = batch.min(windows - first);
        let x = Array2::from_shape_fn((rows, block), |(b, t)| data[(first + b) * block + t]);
        let y = Array2::from_shape_fn((rows, block), |(b, t)| data[(first + b) * block + t + 1]);
        total += mean_loss(gpt, &x, &y)? as f64 * rows as f64;
        count += rows;
    }
    Ok((total / count as f64) as f32)
}

/// Mean cross-entropy of the model's predictions of `y` from `x`.
fn mean_loss(gpt: &Gpt, x: &Array2<usize>, y: &Array2<usize>) -> Result<f32> {
    let logits = gpt.forward(x)?; // (B, T, V)
    let (b, t, v) = logits.dim();
    let flat = logits
        .into_shape_with_order((b * t, v))
        .expect("contiguous");
    let targets: Vec<usize> = y.iter().copied().collect();
    CrossEntropyLoss::new(None, 0.0)?.forward(&flat, &targets)
}
