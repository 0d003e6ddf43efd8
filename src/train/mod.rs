//! Chapter 9 — training a Transformer: the loss, backpropagation written by hand, optimizers,
//! and a training loop that makes attention learn.

mod clip;
pub mod corpus;
pub mod loss;
pub mod optim;
pub mod schedule;
pub mod tasks;
pub mod trainer;
