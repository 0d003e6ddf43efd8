//! Gradients by parameter name: what every `backward` writes and every optimizer reads.
//!
//! A backward pass computes ∂loss/∂θ for every parameter θ and files it under θ's PyTorch
//! name (`encoder.layers.0.self_attn.in_proj_weight`), the same name the weights have in a
//! checkpoint. A parameter used twice (a tied embedding, a layer applied at several
//! positions) receives the sum of its gradients: [`Gradients::add`] accumulates, like
//! PyTorch's `.grad`.
//!
//! ```
//! use attention::gradients::Gradients;
//! use attention::ndarray::array;
//!
//! let mut grads = Gradients::new();
//! grads.add("w", array![1.0_f32, 2.0]);
//! grads.add("w", array![0.5_f32, 0.5]); // a second use adds up
//! assert_eq!(grads.get("w").unwrap().as_slice().unwrap(), &[1.5, 2.5]);
//! assert_eq!(grads.global_norm(), (1.5_f32 * 1.5 + 2.5 * 2.5).sqrt());
//! ```

use std::collections::BTreeMap;

use ndarray::{Array, ArrayD, Dimension};

use crate::weights::NamedTensors;

/// ∂loss/∂θ for every parameter θ, by the parameter's name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gradients {
    tensors: BTreeMap<String, ArrayD<f32>>,
}

impl Gradients {
    /// No gradients yet (PyTorch's `zero_grad(set_to_none=True)`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `grad` to the gradient of `name` (the first call sets it).
    ///
    /// Panics if a second call brings another shape: the caller is this crate's own backward
    /// code, where that would be a bug, not bad input.
    pub fn add<D: Dimension>(&mut self, name: impl Into<String>, grad: Array<f32, D>) {
        let name = name.into();
        match self.tensors.get_mut(&name) {
            Some(sum) => {
                assert_eq!(sum.shape(), grad.shape(), "gradient `{name}` changed shape");
                *sum += &grad.into_dyn();
            }
            None => {
                self.tensors.insert(name, grad.into_dyn());
            }
        }
    }

    /// Adds every gradient of `other` to this one's ([`Gradients::add`] for each name).
    pub fn add_all(&mut self, other: Gradients) {
        for (name, grad) in other.tensors {
            self.add(name, grad);
        }
    }

    /// The gradient of `name`, if one was computed.
    pub fn get(&self, name: &str) -> Option<&ArrayD<f32>> {
        self.tensors.get(name)
    }

    /// Every name with a gradient, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Number of gradients.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// True when no gradient was computed.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// ‖g‖ over every gradient together (all entries as one vector), accumulated in f64.
    pub fn global_norm(&self) -> f32 {
        let sum: f64 = (self.tensors.values())
            .flat_map(|g| g.iter())
            .map(|&v| (v as f64) * (v as f64))
            .sum();
        sum.sqrt() as f32
    }

    /// Multiplies every gradient by `factor` (gradient clipping).
    pub fn scale(&mut self, factor: f32) {
        for g in self.tensors.values_mut() {
            *g *= factor;
        }
    }

    /// The gradients as named tensors, e.g. to compare with PyTorch's or to save them.
    pub fn to_named_tensors(&self) -> NamedTensors {
        let mut out = NamedTensors::new();
        for (name, g) in &self.tensors {
            out.insert(name.clone(), g.clone());
        }
        out
    }
}
