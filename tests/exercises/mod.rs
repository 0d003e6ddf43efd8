//! The exercise checks, shared by the learner test (`tests/exercises.rs`) and the proofs
//! (`tests/exercise_proofs.rs`).
//!
//! One file per chapter, mirroring the stubs (`src/exercises/chNN.rs`) and the reference
//! solutions (`solutions/chNN.rs`): the check of exercise `chNN_name` is `chNN::function`,
//! named like the learner's function it checks, and takes the implementation as a parameter,
//! so the same check runs on the learner's function, the reference solution and every known
//! wrong solution. Expected values are independent of the crate's code: hand-derived small
//! cases (the arithmetic is in the comments), the PyTorch fixtures in `tests/fixtures/` and,
//! where no fixture fits (chapter 9's attention backward), finite differences of a forward
//! written in the check. A check returns `Err` with a message for learners: the case, the
//! input, the expected and the actual value, and what to check next. `helpers.rs` has what
//! they share.
//!
//! Which exercises exist comes from the manifest alone (`src/exercises/exercises.toml`):
//! `with_every_exercise!`, generated from it by `build.rs`, hands every exercise (id, module,
//! function, wrong solutions) to the tests.

pub mod helpers;

pub mod ch01;
pub mod ch02;
pub mod ch03;
pub mod ch04;
pub mod ch05;
pub mod ch06;
pub mod ch07;
pub mod ch08;
pub mod ch09;
pub mod ch10;
pub mod ch11;

pub use helpers::Check;

include!(concat!(env!("OUT_DIR"), "/every_exercise.rs"));
