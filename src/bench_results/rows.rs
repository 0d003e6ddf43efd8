//! What the book's tables and figure show from the results: each case against PyTorch
//! ([`RatioRow`]), each GPU case against the CPU ([`GpuRow`]), in the book's order, and the
//! series of the time-vs-length figure. The training steps ([`TRAIN_STEP_GROUP`]) have rows
//! of their own ([`BenchResults::train_step_rows`]), and so do chapter 11's sentence
//! embeddings ([`BenchResults::sentence_rows`]): chapter 8's table is attention's forward pass.

use super::schema::{BenchCase, BenchResults};

/// The [`BenchCase::group`] of the training steps (forward, loss, backward, optimizer):
/// `train_step/copy` (chapter 9's copy-task model, batch 64) and
/// `train_step/encoder_layer/512`.
pub const TRAIN_STEP_GROUP: &str = "train_step";

/// The [`BenchCase::group`] of chapter 11's sentence embeddings (`sentences/minilm/64`:
/// all-MiniLM-L6-v2 on 64 sentences, against sentence-transformers); not in chapter 8's
/// table either ([`BenchResults::sentence_rows`]).
pub const SENTENCES_GROUP: &str = "sentences";

/// One row of the book's table: a case's times, its ratios to PyTorch and its speed.
#[derive(Debug, Clone, PartialEq)]
pub struct RatioRow {
    /// The case in words ([`BenchCase::label`]).
    pub label: String,
    /// PyTorch, ms.
    pub torch_ms: f64,
    /// This crate, default build, ms.
    pub default_ms: f64,
    /// default_ms / torch_ms: 1 is as fast as PyTorch, 2 twice as slow, 0.5 twice as fast.
    pub default_ratio: f64,
    /// This crate with OpenBLAS, ms.
    pub blas_ms: Option<f64>,
    /// blas_ms / torch_ms.
    pub blas_ratio: Option<f64>,
    /// GFLOP/s of this crate's faster build.
    pub best_gflops: f64,
    /// The faster build's time over PyTorch's.
    pub best_ratio: f64,
    /// `best_gflops` as a percentage of the machine's fp32 peak, if the peak was recorded.
    pub percent_of_peak: Option<f64>,
}

/// One row of the book's GPU table.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuRow {
    /// The case in words.
    pub label: String,
    /// On the GPU, ms.
    pub gpu_ms: f64,
    /// GFLOP/s on the GPU.
    pub gpu_gflops: f64,
    /// This crate's faster CPU build, ms.
    pub cpu_ms: f64,
    /// PyTorch on the CPU, ms.
    pub torch_ms: f64,
    /// gpu_ms / cpu_ms: above 1, the GPU is slower than this crate on the CPU.
    pub over_cpu: f64,
    /// gpu_ms / torch_ms.
    pub over_torch: f64,
}

/// GFLOP/s of `flops` operations done in `ms` milliseconds: flops / (ms · 10⁻³) / 10⁹.
pub fn gflops(flops: u64, ms: f64) -> f64 {
    flops as f64 / ms / 1e6
}

impl BenchCase {
    /// The faster of this crate's CPU builds, ms: `blas_ms` when measured and smaller.
    pub fn best_ms(&self) -> f64 {
        self.blas_ms
            .map_or(self.default_ms, |b| b.min(self.default_ms))
    }

    /// A training step ([`TRAIN_STEP_GROUP`]), not a forward pass.
    pub fn is_train_step(&self) -> bool {
        self.group == TRAIN_STEP_GROUP
    }

    /// A case of chapter 8's table: neither a training step nor a whole pretrained model.
    pub fn is_attention_case(&self) -> bool {
        !self.is_train_step() && self.group != SENTENCES_GROUP
    }

    /// The case in words, e.g. `"attention, plain, causal, n = 1024"`,
    /// `"MultiHeadAttention, batch 8, n = 512"`, `"encoder layer, batch 1, n = 512"`,
    /// `"training step, copy-task model, batch 64, n = 12"`.
    pub fn label(&self) -> String {
        match self.group.as_str() {
            "sdpa" => format!(
                "attention, {}, {}, n = {}",
                self.kernel.as_deref().unwrap_or("?").replace('_', "-"),
                mask_word(self.causal),
                self.seq
            ),
            "multi_head" => format!("MultiHeadAttention, batch {}, n = {}", self.batch, self.seq),
            "encoder_layer" => format!("encoder layer, batch {}, n = {}", self.batch, self.seq),
            SENTENCES_GROUP => format!(
                "sentence embeddings, all-MiniLM-L6-v2, {} sentences",
                self.batch
            ),
            TRAIN_STEP_GROUP => {
                let model = match self.id.split('/').nth(1) {
                    Some("copy") => "copy-task model".to_string(),
                    Some(other) => other.replace('_', " "),
                    None => "?".to_string(),
                };
                format!(
                    "training step, {model}, batch {}, n = {}",
                    self.batch, self.seq
                )
            }
            _ => self.id.clone(),
        }
    }

    /// This case against PyTorch; `peak` is the machine's fp32 GFLOP/s, if recorded.
    fn ratio_row(&self, peak: Option<f64>) -> RatioRow {
        let best_ms = self.best_ms();
        let best_gflops = gflops(self.flops, best_ms);
        RatioRow {
            label: self.label(),
            torch_ms: self.torch_ms,
            default_ms: self.default_ms,
            default_ratio: self.default_ms / self.torch_ms,
            blas_ms: self.blas_ms,
            blas_ratio: self.blas_ms.map(|b| b / self.torch_ms),
            best_ratio: best_ms / self.torch_ms,
            best_gflops,
            percent_of_peak: peak.map(|p| 100.0 * best_gflops / p),
        }
    }

    /// This case's computation on the GPU, done in `gpu_ms`, against the CPU and PyTorch.
    fn gpu_row(&self, gpu_ms: f64) -> GpuRow {
        let cpu_ms = self.best_ms();
        let label = match self.group.as_str() {
            "sdpa" => format!(
                "attention, fused kernel, {}, n = {}",
                mask_word(self.causal),
                self.seq
            ),
            _ => self.label(),
        };
        GpuRow {
            label,
            gpu_ms,
            gpu_gflops: gflops(self.flops, gpu_ms),
            cpu_ms,
            torch_ms: self.torch_ms,
            over_cpu: gpu_ms / cpu_ms,
            over_torch: gpu_ms / self.torch_ms,
        }
    }
}

/// `"causal"` or `"full"`.
fn mask_word(causal: bool) -> &'static str {
    if causal { "causal" } else { "full" }
}

impl BenchResults {
    /// The cases of chapter 8's table (forward passes: every case but the training steps) in
    /// the book's order: attention alone (plain kernel, then memory-efficient; without a
    /// mask, then causal; by sequence length), then multi-head attention by batch size, then
    /// the encoder layer, then anything else.
    pub fn cases_in_table_order(&self) -> Vec<&BenchCase> {
        let group_rank = |g: &str| match g {
            "sdpa" => 0,
            "multi_head" => 1,
            "encoder_layer" => 2,
            _ => 3,
        };
        let mut cases: Vec<&BenchCase> = self
            .cases
            .iter()
            .filter(|c| c.is_attention_case())
            .collect();
        cases.sort_by_key(|c| {
            let kernel_rank = usize::from(c.kernel.as_deref() != Some("plain"));
            (group_rank(&c.group), kernel_rank, c.causal, c.batch, c.seq)
        });
        cases
    }

    /// One [`RatioRow`] per case, in [`Self::cases_in_table_order`].
    pub fn ratio_rows(&self) -> Vec<RatioRow> {
        self.cases_in_table_order()
            .into_iter()
            .map(|c| c.ratio_row(self.fp32_peak_gflops))
            .collect()
    }

    /// One [`RatioRow`] per training step ([`TRAIN_STEP_GROUP`]), by id; empty if the run
    /// had none.
    pub fn train_step_rows(&self) -> Vec<RatioRow> {
        let mut cases: Vec<&BenchCase> = self.cases.iter().filter(|c| c.is_train_step()).collect();
        cases.sort_by(|a, b| a.id.cmp(&b.id));
        (cases.into_iter())
            .map(|c| c.ratio_row(self.fp32_peak_gflops))
            .collect()
    }

    /// The sentence-embedding rows ([`SENTENCES_GROUP`]), by id; empty if the run had none.
    pub fn sentence_rows(&self) -> Vec<RatioRow> {
        let mut cases: Vec<&BenchCase> = (self.cases.iter())
            .filter(|c| c.group == SENTENCES_GROUP)
            .collect();
        cases.sort_by(|a, b| a.id.cmp(&b.id));
        (cases.into_iter())
            .map(|c| c.ratio_row(self.fp32_peak_gflops))
            .collect()
    }

    /// One [`GpuRow`] per GPU case, in the CPU table's order; empty without a GPU run.
    pub fn gpu_rows(&self) -> Vec<GpuRow> {
        let Some(gpu) = &self.gpu else {
            return Vec::new();
        };
        let mut rows = Vec::new();
        for cpu in self.cases_in_table_order() {
            for case in gpu.cases.iter().filter(|g| g.cpu_id == cpu.id) {
                rows.push(cpu.gpu_row(case.ms));
            }
        }
        rows
    }

    /// The `"sdpa"` cases of one kernel (`"plain"`, `"memory_efficient"`), with or without a
    /// causal mask, by increasing sequence length: one line of the time-vs-seq figure.
    pub fn sdpa_series(&self, kernel: &str, causal: bool) -> Vec<&BenchCase> {
        let mut cases: Vec<&BenchCase> = self
            .cases
            .iter()
            .filter(|c| {
                c.group == "sdpa" && c.kernel.as_deref() == Some(kernel) && c.causal == causal
            })
            .collect();
        cases.sort_by_key(|c| c.seq);
        cases
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench_results::TEST_JSON;

    fn results() -> BenchResults {
        BenchResults::from_json(TEST_JSON).unwrap()
    }

    #[test]
    fn the_table_follows_the_book_order_and_computes_the_ratios() {
        let rows = results().ratio_rows();
        assert_eq!(rows.len(), 4);
        // Table order: full before causal, shorter before longer, attention before MHA.
        let labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "attention, plain, full, n = 512",
                "attention, plain, full, n = 1024",
                "attention, plain, causal, n = 512",
                "MultiHeadAttention, batch 8, n = 512"
            ]
        );
        let row = &rows[1];
        assert_eq!(row.default_ratio, 2.0);
        assert_eq!(row.blas_ratio, Some(1.25));
        assert_eq!(row.best_ratio, 1.25);
        // Best of default and blas: 25 ms; 2147483648 flops / 25 ms / 10⁶ = 85.9 GFLOP/s.
        assert!((row.best_gflops - 85.899).abs() < 1e-3);
        assert_eq!(row.percent_of_peak, None);
        // No blas time: the default build is the best.
        assert_eq!(rows[2].blas_ratio, None);
        assert!((rows[2].best_gflops - 134.2177).abs() < 1e-3);
    }

    #[test]
    fn training_steps_have_rows_of_their_own() {
        let r = results();
        assert!(r.cases_in_table_order().iter().all(|c| !c.is_train_step()));
        let rows = r.train_step_rows();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rows[0].label,
            "training step, copy-task model, batch 64, n = 12"
        );
        assert_eq!(
            (rows[0].default_ratio, rows[0].blas_ratio),
            (0.5, Some(0.25))
        );
    }

    #[test]
    fn percent_of_peak_when_the_peak_is_recorded() {
        let json = TEST_JSON.replace(
            "\"threads\": 2,",
            "\"threads\": 2, \"fp32_peak_gflops\": 100.0,",
        );
        let r = BenchResults::from_json(&json).unwrap();
        let row = &r.ratio_rows()[1];
        assert!((row.percent_of_peak.unwrap() - 85.899).abs() < 1e-3);
    }

    #[test]
    fn series_are_sorted_by_sequence_length() {
        let r = results();
        let full: Vec<usize> = r
            .sdpa_series("plain", false)
            .iter()
            .map(|c| c.seq)
            .collect();
        assert_eq!(full, [512, 1024]);
        assert_eq!(r.sdpa_series("plain", true).len(), 1);
        assert!(r.sdpa_series("memory_efficient", false).is_empty());
    }

    #[test]
    fn the_figure_has_one_line_per_build_and_mask() {
        let json = crate::plot::time_vs_seq_figure(&results()).to_json();
        // Full: PyTorch, default, blas; causal: PyTorch, default (no blas time).
        assert_eq!(json.matches("\"type\":\"scatter\"").count(), 5, "{json}");
        assert!(json.contains("this crate + OpenBLAS, full"));
        assert!(!json.contains("OpenBLAS, causal"));
        assert!(json.contains("\"type\":\"log\""));
    }

    #[test]
    fn gpu_rows_follow_the_cpu_table() {
        let gpu = r#""gpu": {"adapter": "llvmpipe", "cases": [
            {"id": "gpu/multi_head/batch/8", "cpu_id": "multi_head/batch/8", "ms": 365.6},
            {"id": "gpu/sdpa/full/512", "cpu_id": "sdpa/plain/full/512", "ms": 40.0}]},
          "cases": ["#;
        let r = BenchResults::from_json(&TEST_JSON.replace("\"cases\": [", gpu)).unwrap();
        let rows = r.gpu_rows();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].label, "attention, fused kernel, full, n = 512");
        // Against the faster CPU build (blas, 4 ms) and PyTorch (5 ms).
        assert_eq!(
            (rows[0].cpu_ms, rows[0].over_cpu, rows[0].over_torch),
            (4.0, 10.0, 8.0)
        );
        assert!((rows[0].gpu_gflops - 13.42).abs() < 0.01); // 536870912 / 40 ms / 10⁶
        assert_eq!(rows[1].over_cpu, 2.0); // 365.6 / 182.8
        assert!(results().gpu_rows().is_empty());
    }

    #[test]
    fn gflops_is_flops_per_millisecond_over_a_million() {
        assert_eq!(gflops(2_000_000_000, 1000.0), 2.0); // 2 GFLOP in 1 s
        assert_eq!(gflops(1_000_000, 1.0), 1.0);
    }
}
