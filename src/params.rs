//! One way to get a layer's parameters: read them by name from a checkpoint, or draw them
//! with PyTorch's initialisation. Every layer has one constructor, `from_params`, that takes
//! a [`Params`] (in the spirit of candle's `VarBuilder`), and one way out, the [`Module`]
//! trait, that lists its parameters by name for saving, an optimizer or gradients.
//!
//! ```
//! use attention::nn::{Linear, seeded_rng};
//! use attention::params::{Module, Params};
//!
//! // Drawn with PyTorch's init (seeded: the same numbers on every machine) ...
//! let drawn = Linear::from_params(&Params::init(&mut seeded_rng(0)), 4, 2, true)?;
//! // ... listed by name, as a PyTorch state_dict ...
//! let tensors = drawn.parameters();
//! assert_eq!(tensors.names().collect::<Vec<_>>(), ["bias", "weight"]);
//! // ... and read back through the same constructor.
//! let loaded = Linear::from_params(&Params::load(&tensors), 4, 2, true)?;
//! assert_eq!(drawn, loaded);
//! # Ok::<(), attention::Error>(())
//! ```
//!
//! Settings that no tensor shape can tell (a layer's number of heads, post- or pre-LN) are
//! saved beside the tensors ([`NamedTensors::settings`]) and checked on load: a checkpoint
//! saved with 2 heads refuses to load as 4 instead of giving silently wrong outputs.

use std::cell::RefCell;
use std::fmt::Display;
use std::rc::Rc;

use ndarray::{Array, ArrayD, ArrayViewMutD, Dimension, IxDyn};

use crate::error::{Error, Result};
use crate::nn::init::{self, SeededRng};
use crate::weights::{NamedTensors, join};

/// How a parameter is drawn when it is not loaded (PyTorch's schemes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// All zeros (biases of attention, LayerNorm's β).
    Zeros,
    /// All ones (LayerNorm's γ).
    Ones,
    /// Uniform on `[-bound, bound)` (`nn.Linear`: bound = 1/√in_features).
    Uniform(f32),
    /// Normal(0, std²) (`nn.Embedding`: std = 1).
    Normal(f32),
    /// Xavier/Glorot uniform for a `(fan_out, fan_in)` matrix, bound √(6/(fan_in + fan_out)).
    XavierUniform,
    /// Drawn uniform on `[-bound, bound)`, then set to zero: what `nn.MultiheadAttention`
    /// does to `out_proj.bias` (its `nn.Linear` draws it, then `_reset_parameters` zeroes
    /// it), so the random stream matches PyTorch's order of draws.
    ZeroedAfterUniform(f32),
}

/// Where parameters come from: a checkpoint's named tensors, or a seeded generator.
#[derive(Clone)]
enum Source<'a> {
    Load(&'a NamedTensors),
    Init(Rc<RefCell<Generator<'a>>>),
}

/// The generator of [`Params::init`] (the caller's) or [`Params::seeded`] (its own).
enum Generator<'a> {
    Borrowed(&'a mut SeededRng),
    Owned(Box<SeededRng>),
}

impl Generator<'_> {
    fn rng(&mut self) -> &mut SeededRng {
        match self {
            Generator::Borrowed(rng) => rng,
            Generator::Owned(rng) => rng,
        }
    }
}

/// A layer's parameters, under a PyTorch-style name prefix such as `encoder.layers.0`.
#[derive(Clone)]
pub struct Params<'a> {
    source: Source<'a>,
    prefix: String,
}

impl<'a> Params<'a> {
    /// Parameters read from `tensors` (a `state_dict`), checked against the expected shapes.
    pub fn load(tensors: &'a NamedTensors) -> Self {
        Params {
            source: Source::Load(tensors),
            prefix: String::new(),
        }
    }

    /// Parameters drawn from `rng` with PyTorch's default initialisation; the generator
    /// goes on from where they left it.
    pub fn init(rng: &'a mut SeededRng) -> Self {
        Params {
            source: Source::Init(Rc::new(RefCell::new(Generator::Borrowed(rng)))),
            prefix: String::new(),
        }
    }

    /// Parameters drawn with PyTorch's default initialisation from a generator of their own,
    /// seeded with `seed` (`Params::init(&mut seeded_rng(seed))` without the borrow).
    pub fn seeded(seed: u64) -> Params<'static> {
        let rng = crate::nn::seeded_rng(seed);
        Params {
            source: Source::Init(Rc::new(RefCell::new(Generator::Owned(Box::new(rng))))),
            prefix: String::new(),
        }
    }

    /// The parameters one level down: `p.sub("encoder").sub("layers.0")`.
    pub fn sub(&self, name: &str) -> Params<'a> {
        Params {
            source: self.source.clone(),
            prefix: join(&self.prefix, name),
        }
    }

    /// The full name of `leaf` here, e.g. `encoder.layers.0.norm1.weight`.
    pub fn name(&self, leaf: &str) -> String {
        join(&self.prefix, leaf)
    }

    /// The parameter `leaf`, of exactly `shape`: read (and checked) from the checkpoint, or
    /// drawn with `init`.
    pub fn get<D: Dimension>(
        &self,
        leaf: &str,
        shape: &[usize],
        init: Init,
    ) -> Result<Array<f32, D>> {
        let array = match &self.source {
            Source::Load(tensors) => tensors.tensor::<IxDyn>(&self.name(leaf), shape)?,
            Source::Init(rng) => draw(shape, init, rng.borrow_mut().rng()),
        };
        array.into_dimensionality::<D>().map_err(|_| {
            let want = format!("{} axes", D::NDIM.unwrap_or(shape.len()));
            Error::shape(self.name(leaf), want, shape)
        })
    }

    /// Checks a setting that shapes cannot tell (e.g. `num_heads`) against the one saved
    /// with the checkpoint, if it saved one (this crate does; a PyTorch `state_dict` does
    /// not). Drawing checks nothing.
    pub fn setting(&self, leaf: &str, value: impl Display) -> Result<()> {
        let Source::Load(tensors) = &self.source else {
            return Ok(());
        };
        let name = self.name(leaf);
        match tensors.setting(&name) {
            Some(saved) if saved != value.to_string() => Err(Error::value(
                &name,
                format!("{saved}, the value the checkpoint was saved with"),
                value,
            )),
            _ => Ok(()),
        }
    }
}

/// A fresh array of `shape` drawn with `init`.
fn draw(shape: &[usize], init: Init, rng: &mut SeededRng) -> ArrayD<f32> {
    let dim = IxDyn(shape);
    match init {
        Init::Zeros => ArrayD::zeros(dim),
        Init::Ones => ArrayD::ones(dim),
        Init::Uniform(bound) => init::uniform(dim, bound, rng),
        Init::Normal(std) => init::normal(dim, std, rng),
        Init::XavierUniform => {
            let (fan_out, fan_in) = (
                shape.first().copied().unwrap_or(1),
                shape.iter().skip(1).product::<usize>(),
            );
            let bound = (6.0 / (fan_in + fan_out) as f32).sqrt();
            init::uniform(dim, bound, rng)
        }
        Init::ZeroedAfterUniform(bound) => {
            let _drawn: ArrayD<f32> = init::uniform(dim.clone(), bound, rng); // the stream moves on
            ArrayD::zeros(dim)
        }
    }
}

/// Anything with parameters: lists them by their PyTorch names, with the settings needed to
/// rebuild it.
pub trait Module {
    /// Writes every parameter, named below `prefix`, and its settings into `out`.
    fn parameters_into(&self, prefix: &str, out: &mut NamedTensors);

    /// Calls `f` with every parameter, named below `prefix` as in
    /// [`Module::parameters_into`], as a mutable view: how an optimizer updates the
    /// parameters in place and how [`Module::load_parameters`] fills them.
    fn visit_parameters_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ArrayViewMutD<f32>));

    /// Replaces every parameter with the tensor of the same name in `tensors` (a checkpoint
    /// saved from a model of the same shape). Every name, shape and saved setting is checked
    /// before anything changes: on an error the model is left as it was.
    fn load_parameters(&mut self, tensors: &NamedTensors) -> Result<()> {
        let mine = self.parameters();
        for name in mine.names() {
            let shape = mine.get(name).expect("listed").shape();
            tensors.tensor::<IxDyn>(name, shape)?; // present, same shape
        }
        for (name, value) in mine.settings() {
            match tensors.setting(name) {
                Some(saved) if saved != value => {
                    let want = format!("{value}, this model's value");
                    return Err(Error::value(name, want, saved));
                }
                _ => {}
            }
        }
        self.visit_parameters_mut("", &mut |name, mut param| {
            param.assign(tensors.get(name).expect("checked above"));
        });
        Ok(())
    }

    /// Every parameter by name (a `state_dict`), with the settings.
    fn parameters(&self) -> NamedTensors {
        let mut out = NamedTensors::new();
        self.parameters_into("", &mut out);
        out
    }

    /// How many numbers the parameters hold.
    fn parameter_count(&self) -> usize {
        let tensors = self.parameters();
        tensors
            .names()
            .map(|n| tensors.get(n).map_or(0, |t| t.len()))
            .sum()
    }
}

/// Errors unless `tensors` has a tensor `name` with `axes` axes; returns its shape (sizes
/// read from a checkpoint instead of repeated by the caller).
pub fn shape_of(tensors: &NamedTensors, name: &str, axes: usize) -> Result<Vec<usize>> {
    match tensors.get(name) {
        Some(t) if t.ndim() == axes => Ok(t.shape().to_vec()),
        Some(t) => Err(Error::shape(name, format!("{axes} axes"), t.shape())),
        None => Err(Error::Parse {
            what: "the checkpoint's sizes".into(),
            reason: format!(
                "it has no tensor `{name}` to read them from ({} tensors)",
                tensors.len()
            ),
        }),
    }
}

/// The number in a setting such as `num_heads = "2"`, or an error naming it.
pub fn setting_number(tensors: &NamedTensors, name: &str, why: &str) -> Result<usize> {
    let value = tensors.setting(name).ok_or_else(|| {
        Error::value(
            name,
            format!("saved with the weights ({why})"),
            "no such setting",
        )
    })?;
    value
        .parse()
        .map_err(|_| Error::value(name, "a whole number", value))
}
