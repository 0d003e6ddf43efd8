//! The loss: how wrong the model's next-token guesses are, as one number to push down.
//!
//! For each position the model outputs one score (logit) per vocabulary word; softmax turns
//! them into probabilities p, and cross-entropy charges −log p(correct word): 0 for a sure
//! right answer, large for a confident wrong one. Padding positions are skipped
//! (`ignore_index`), and label smoothing asks the model to keep a little probability
//! (ε spread evenly) on every word instead of pushing the right one to 100 %.

use ndarray::{Array2, ArrayRef2, Axis};

use crate::error::{Error, Result};

/// PyTorch's `nn.CrossEntropyLoss(ignore_index=…, label_smoothing=…)` with the default
/// mean reduction, over logits `(N, V)` and targets `(N)`.
///
/// With p = softmax(logits row) and the smoothed target distribution
/// q = (1 − ε)·onehot(target) + ε/V, each counted position costs
///
/// ℓ = −Σⱼ qⱼ log pⱼ = (1 − ε)·(−log p_target) + ε · mean_j(−log pⱼ),
///
/// and the loss is the mean of ℓ over positions whose target is not `ignore_index`.
///
/// ```
/// use attention::train::loss::CrossEntropyLoss;
/// use attention::ndarray::array;
///
/// let loss = CrossEntropyLoss::new(None, 0.0)?;
/// // Two words, equal scores: p = ½ each, so the loss is −log ½ = ln 2.
/// let value = loss.forward(&array![[0.0_f32, 0.0]], &[1])?;
/// assert!((value - 2.0_f32.ln()).abs() < 1e-6);
/// # Ok::<(), attention::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CrossEntropyLoss {
    /// Targets equal to this (padding) add nothing to the loss and get zero gradient.
    pub ignore_index: Option<usize>,
    /// ε in [0, 1]: the share of the target probability spread evenly over the vocabulary.
    pub label_smoothing: f32,
}

impl CrossEntropyLoss {
    /// A loss skipping `ignore_index` (if any), with label smoothing ε in `[0, 1]`.
    pub fn new(ignore_index: Option<usize>, label_smoothing: f32) -> Result<Self> {
        if !(0.0..=1.0).contains(&label_smoothing) {
            let want = "a value in [0, 1] (0 = no smoothing; the paper uses 0.1)";
            return Err(Error::value("label_smoothing", want, label_smoothing));
        }
        Ok(CrossEntropyLoss {
            ignore_index,
            label_smoothing,
        })
    }

    // ANCHOR: cross_entropy
    /// The mean loss over the counted positions.
    pub fn forward(&self, logits: &ArrayRef2<f32>, targets: &[usize]) -> Result<f32> {
        let counted = self.check(logits, targets)?;
        let (eps, v) = (self.label_smoothing as f64, logits.ncols() as f64);
        let mut total = 0.0_f64;
        for (row, &target) in logits.rows().into_iter().zip(targets) {
            if Some(target) == self.ignore_index {
                continue;
            }
            let log_p = log_softmax(row.iter().copied()); // (V), log pⱼ
            let nll = -log_p[target]; // −log p(target)
            let uniform = -log_p.iter().sum::<f64>() / v; // mean over j of −log pⱼ
            total += (1.0 - eps) * nll + eps * uniform;
        }
        Ok((total / counted as f64) as f32)
    }

    /// ∂loss/∂logits `(N, V)`: (p − q) / (number of counted positions) on counted rows, zero
    /// on ignored ones. (Softmax and cross-entropy together have this simple gradient: the
    /// predicted distribution minus the target one.)
    pub fn backward(&self, logits: &ArrayRef2<f32>, targets: &[usize]) -> Result<Array2<f32>> {
        let counted = self.check(logits, targets)? as f64;
        let (eps, v) = (self.label_smoothing as f64, logits.ncols() as f64);
        let mut d_logits = Array2::zeros(logits.raw_dim()); // (N, V)
        let rows = logits.rows().into_iter().zip(d_logits.rows_mut());
        for ((row, mut d_row), &target) in rows.zip(targets) {
            if Some(target) == self.ignore_index {
                continue; // zero gradient
            }
            let log_p = log_softmax(row.iter().copied());
            for (j, d) in d_row.iter_mut().enumerate() {
                let q = eps / v + if j == target { 1.0 - eps } else { 0.0 };
                *d = ((log_p[j].exp() - q) / counted) as f32;
            }
        }
        Ok(d_logits)
    }
    // ANCHOR_END: cross_entropy

    /// [`CrossEntropyLoss::forward`] and [`CrossEntropyLoss::backward`] over a batch of
    /// sequences: logits `(batch, seq, V)`, targets `(batch, seq)`. Returns the loss and
    /// ∂loss/∂logits `(batch, seq, V)`.
    pub fn forward_backward(
        &self,
        logits: &ndarray::ArrayRef3<f32>,
        targets: &ArrayRef2<usize>,
    ) -> Result<(f32, ndarray::Array3<f32>)> {
        let (batch, seq, v) = logits.dim();
        if targets.dim() != (batch, seq) {
            let want = format!("({batch}, {seq}) = the logits' (batch, seq)");
            return Err(Error::shape("targets", want, targets.shape()));
        }
        let flat = logits.to_shape((batch * seq, v)).expect("same elements"); // (N, V)
        let targets: Vec<usize> = targets.iter().copied().collect(); // (N), row-major
        let loss = self.forward(&flat, &targets)?;
        let d = self
            .backward(&flat, &targets)?
            .into_shape_with_order((batch, seq, v));
        Ok((loss, d.expect("same elements")))
    }

    /// Errors on mismatched shapes, targets outside the vocabulary, or nothing to count;
    /// returns the number of counted positions.
    fn check(&self, logits: &ArrayRef2<f32>, targets: &[usize]) -> Result<usize> {
        let (n, v) = logits.dim();
        if n == 0 || v == 0 {
            return Err(Error::shape("logits", "(N, V), both ≥ 1", logits.shape()));
        }
        if targets.len() != n {
            let want = format!("({n},), one target per row of `logits`");
            return Err(Error::shape("targets", want, &[targets.len()]));
        }
        let ignored = |t: &usize| Some(*t) == self.ignore_index;
        if let Some(&t) = targets.iter().find(|t| !ignored(t) && **t >= v) {
            let want = format!("token ids below the vocabulary size V = {v}");
            return Err(Error::value("targets", want, t));
        }
        let counted = targets.iter().filter(|t| !ignored(t)).count();
        if counted == 0 {
            let want = "at least one target that is not ignore_index (the mean would be 0/0)";
            return Err(Error::value("targets", want, "only ignored targets"));
        }
        Ok(counted)
    }
}

/// log softmax of one row, in f64: xⱼ − max − log Σₖ exp(xₖ − max).
fn log_softmax(row: impl Iterator<Item = f32> + Clone) -> Vec<f64> {
    let max = row.clone().fold(f32::NEG_INFINITY, f32::max) as f64;
    let log_sum = row
        .clone()
        .map(|x| (x as f64 - max).exp())
        .sum::<f64>()
        .ln();
    row.map(|x| x as f64 - max - log_sum).collect()
}

/// How many of the `(batch, seq)` targets count (are not `ignore_index`): the tokens a
/// training step learns from.
pub fn counted_tokens(targets: &ArrayRef2<usize>, ignore_index: Option<usize>) -> usize {
    targets.iter().filter(|&&t| Some(t) != ignore_index).count()
}

/// The index of the largest logit in each row (the model's best guess), `(N, V) → (N)`.
pub fn argmax_rows(logits: &ArrayRef2<f32>) -> Vec<usize> {
    logits
        .axis_iter(Axis(0))
        .map(|row| {
            let mut best = (0, f32::NEG_INFINITY);
            for (i, &v) in row.iter().enumerate() {
                if v > best.1 {
                    best = (i, v);
                }
            }
            best.0
        })
        .collect()
}
