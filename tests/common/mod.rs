//! Shared helpers for the integration tests: loading PyTorch fixtures and comparing arrays.
#![allow(dead_code)] // each test binary uses a different subset

use attention::ndarray::{Array, Array2, ArrayD, ArrayRef, Dimension};
use attention::transformer::{NormPosition, Seq2SeqConfig, TransformerConfig};
use attention::weights::NamedTensors;

/// Absolute tolerance for comparing with PyTorch (float32 on both sides).
pub const TOL: f32 = 1e-5;

/// One PyTorch fixture from `tests/fixtures/<name>.json`.
pub struct Fixture {
    pub name: String,
    pub tensors: NamedTensors,
    pub config: serde_json::Value,
}

/// Loads `tests/fixtures/<name>.json`.
pub fn fixture(name: &str) -> Fixture {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let json: serde_json::Value = serde_json::from_str(&text).expect("fixture is JSON");
    Fixture {
        name: name.to_string(),
        tensors: NamedTensors::from_json_str(&text).expect("fixture tensors parse"),
        config: json["config"].clone(),
    }
}

impl Fixture {
    fn raw(&self, name: &str) -> ArrayD<f32> {
        self.tensors
            .get(name)
            .unwrap_or_else(|| panic!("{}: no tensor `{name}`", self.name))
            .clone()
    }

    /// The float tensor `input.<name>` as a `D`-dimensional array.
    pub fn input<D: Dimension>(&self, name: &str) -> Array<f32, D> {
        self.raw(&format!("input.{name}"))
            .into_dimensionality()
            .expect("rank")
    }

    /// The float tensor `output.<name>`.
    pub fn output<D: Dimension>(&self, name: &str) -> Array<f32, D> {
        self.raw(&format!("output.{name}"))
            .into_dimensionality()
            .expect("rank")
    }

    /// A bool mask stored as 1.0 / 0.0, exactly as PyTorch received it.
    pub fn bool_input<D: Dimension>(&self, name: &str) -> Array<bool, D> {
        self.input::<D>(name).mapv(|v| v != 0.0)
    }

    /// Token ids stored as floats.
    pub fn ids(&self, name: &str) -> Array2<usize> {
        self.input::<attention::ndarray::Ix2>(name)
            .mapv(|v| v as usize)
    }

    /// An integer from the config.
    pub fn usize(&self, key: &str) -> usize {
        self.config[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{}: config `{key}` is not an integer", self.name))
            as usize
    }

    /// A bool from the config.
    pub fn bool(&self, key: &str) -> bool {
        self.config[key]
            .as_bool()
            .unwrap_or_else(|| panic!("{}: config `{key}` is not a bool", self.name))
    }

    /// The `nn.Transformer` / layer sizes recorded in the config (absent layer counts: 0).
    pub fn transformer_config(&self) -> TransformerConfig {
        let layers = |key: &str| self.config[key].as_u64().unwrap_or(0) as usize;
        TransformerConfig {
            d_model: self.usize("d_model"),
            num_heads: self.usize("nhead"),
            d_ff: self.usize("dim_feedforward"),
            num_encoder_layers: layers("num_encoder_layers"),
            num_decoder_layers: layers("num_decoder_layers"),
            norm_position: if self.bool("norm_first") {
                NormPosition::Pre
            } else {
                NormPosition::Post
            },
        }
    }

    /// The config of a fixture's encoder-decoder language model (`seq2seq.json` and the
    /// fixtures that record the same model: its transformer, vocabularies, positions, pad id).
    pub fn seq2seq_config(&self) -> Seq2SeqConfig {
        Seq2SeqConfig {
            transformer: self.transformer_config(),
            src_vocab_size: self.usize("src_vocab_size"),
            tgt_vocab_size: self.usize("tgt_vocab_size"),
            max_len: self.usize("pe_max_len"),
            pad_id: self.usize("pad_id"),
        }
    }

    /// Asserts that every parameter tensor was read by the loader (only `input.*` and
    /// `output.*` and gradients `grad.*` may remain): catches a parameter the Rust layer forgot.
    pub fn assert_all_parameters_used(&self) {
        let unused: Vec<String> = self
            .tensors
            .unused()
            .into_iter()
            .filter(|n| {
                !["input.", "output.", "grad."]
                    .iter()
                    .any(|p| n.starts_with(p))
            })
            .collect();
        assert!(
            unused.is_empty(),
            "{}: parameters never loaded: {unused:?}",
            self.name
        );
    }
}

/// The largest `|a − b|` element-wise (panics if the shapes differ).
pub fn max_abs_diff<D: Dimension>(a: &ArrayRef<f32, D>, b: &ArrayRef<f32, D>) -> f32 {
    assert_eq!(a.shape(), b.shape(), "shapes differ");
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

/// Asserts `|actual − expected| ≤ TOL` element-wise; prints and returns the max absolute
/// difference (with the largest expected magnitude, for context).
pub fn assert_close<D: Dimension>(
    label: &str,
    actual: &Array<f32, D>,
    expected: &Array<f32, D>,
) -> f32 {
    assert_eq!(actual.shape(), expected.shape(), "{label}: shapes differ");
    let scale = expected.iter().fold(1.0_f32, |m, v| m.max(v.abs()));
    let mut max_diff = 0.0_f32;
    for (a, e) in actual.iter().zip(expected) {
        assert!(a.is_finite(), "{label}: non-finite value {a}");
        max_diff = max_diff.max((a - e).abs());
    }
    println!("max |diff| {label}: {max_diff:.3e} (scale {scale:.2})");
    assert!(
        max_diff <= TOL,
        "{label}: max |diff| {max_diff:e} > {TOL:e}\nactual:\n{actual:.6}\nexpected:\n{expected:.6}"
    );
    max_diff
}

/// The GPU for the `gpu` tests, or `None` to skip them: only when there is no adapter and
/// `REQUIRE_GPU` is unset. CI sets `REQUIRE_GPU=1`, so there a missing adapter fails the test
/// instead of skipping it silently.
#[cfg(feature = "gpu")]
pub fn gpu_or_skip(test: &str) -> Option<&'static attention::gpu::Gpu> {
    match attention::gpu::Gpu::get() {
        Ok(gpu) => Some(gpu),
        Err(e) if std::env::var_os("REQUIRE_GPU").is_some() => {
            panic!("{test}: REQUIRE_GPU is set but {e}")
        }
        Err(e) => {
            eprintln!("{test}: SKIPPED (set REQUIRE_GPU=1 to fail instead): {e}");
            None
        }
    }
}
