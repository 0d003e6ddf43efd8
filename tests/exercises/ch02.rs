//! Chapter 2 checks, positional encoding (`src/exercises/ch02.rs`): one per exercise, named like
//! the learner's function it checks.

// Expected values are written as the decimals the hand arithmetic gives (0.707107 is
// 2·0.353553 here, not 1/√2 by intent), to the precision the comments show.
#![allow(clippy::approx_constant, clippy::excessive_precision)]

use attention::ndarray::{Array2, Ix2, array};

use super::helpers::{Check, call, close, f32_input, fixture_case, same};
use crate::common::fixture;

/// The check of `ch02_pe_entry`.
pub fn pe_entry(f: impl Fn(usize, usize, usize) -> f32) -> Check {
    let next = "2i is the even column of the pair (j − j % 2), the angle is \
                pos / 10000^(2i / d_model), sin for even j and cos for odd j.";
    // (pos, j, d_model, expected): by hand from the formula.
    let cases = [
        (0, 0, 4, 0.0_f32),       // sin(0)
        (0, 1, 4, 1.0),           // cos(0)
        (1, 0, 4, 0.841_470_96),  // sin(1 / 10000^0) = sin(1)
        (1, 1, 4, 0.540_302_3),   // cos(1): column 1 shares the pair (0, 1)'s frequency
        (1, 2, 4, 0.009_999_833), // sin(1 / 10000^(2/4)) = sin(0.01)
        (1, 3, 4, 0.999_950_0),   // cos(0.01)
        (2, 2, 4, 0.019_998_667), // sin(0.02)
        (5, 1, 6, 0.283_662_2),   // cos(5)
        (5, 3, 6, 0.973_190_2),   // cos(5 / 10000^(2/6)) = cos(0.232079)
        (5, 4, 6, 0.010_771_965), // sin(5 / 10000^(4/6)) = sin(0.0107722)
    ];
    for (pos, j, d_model, expected) in cases {
        let case = format!("case: pos = {pos}, j = {j}, d_model = {d_model}");
        let actual = call(&case, || f(pos, j, d_model))?;
        if !same(actual, expected) {
            return Err(format!(
                "{case}\nexpected {expected:.6}, got {actual:.6}.\n\ncheck next: {next}"
            ));
        }
    }
    let fx = fixture("positional_encoding");
    let pe: Array2<f32> = fx.output("pe");
    for ((pos, j), &expected) in pe.indexed_iter() {
        let case = fixture_case(
            "positional_encoding",
            &format!("pos = {pos}, j = {j}, d_model = 16"),
        );
        let actual = call(&case, || f(pos, j, 16))?;
        if !same(actual, expected) {
            return Err(format!(
                "{case}\nexpected {expected:.6}, got {actual:.6}.\n\ncheck next: {next}"
            ));
        }
    }
    Ok(())
}

/// The check of `ch02_sinusoidal_table`.
pub fn sinusoidal_table(f: impl Fn(usize, usize) -> Array2<f32>) -> Check {
    let next = "row = position (from 0), column j = the formula of `ch02_pe_entry`: sin and cos \
                alternate column by column (not all sines first).";
    // d_model = 4: the pairs (0, 1) and (2, 3) have frequencies 1 and 1/10000^(2/4) = 0.01.
    let expected = array![
        [0.0_f32, 1.0, 0.0, 1.0],                      // sin 0, cos 0, sin 0, cos 0
        [0.841_471, 0.540_302, 0.010_000, 0.999_950],  // sin 1, cos 1, sin .01, cos .01
        [0.909_297, -0.416_147, 0.019_999, 0.999_800], // sin 2, cos 2, sin .02, cos .02
    ];
    let case = "case: max_len = 3, d_model = 4".to_string();
    let actual = call(&case, || f(3, 4))?;
    close("table", &case, &expected, &actual, next)?;

    let fx = fixture("positional_encoding");
    let case = fixture_case("positional_encoding", "max_len = 50, d_model = 16");
    let actual = call(&case, || f(50, 16))?;
    close("table", &case, &fx.output::<Ix2>("pe"), &actual, next)
}

/// The check of `ch02_embed_with_positions`.
pub fn embed_with_positions(
    f: impl Fn(&Array2<f32>, &[usize], &Array2<f32>) -> Array2<f32>,
) -> Check {
    let next = "look up the rows of `ids`, multiply them by √d_model (d_model = columns of \
                `weight`), then add row t of `pe` to position t: positions, not token ids, \
                index the table.";
    let weight = array![[0.0_f32, 0.0], [0.5, -1.0], [1.0, 2.0], [-0.5, 0.25]];
    let ids = [3, 1, 3];
    // The d_model = 2 table: PE[t] = (sin t, cos t), four rows (max_len 4 > seq 3).
    let pe = array![
        [0.0_f32, 1.0],
        [0.841_471, 0.540_302],
        [0.909_297, -0.416_147],
        [0.141_120, -0.989_992],
    ];
    // t = 0: (−0.5, 0.25)·√2 = (−0.707107, 0.353553) + (0, 1)            = (−0.707107, 1.353553)
    // t = 1: (0.5, −1)·√2   = (0.707107, −1.414214) + (0.841471, 0.540302) = (1.548578, −0.873912)
    // t = 2: (−0.707107, 0.353553) + (0.909297, −0.416147)                 = (0.202190, −0.062594)
    let expected = array![
        [-0.707_107_f32, 1.353_553],
        [1.548_578, -0.873_912],
        [0.202_190, -0.062_594]
    ];
    let case = format!(
        "case: a 4-token table, d_model = 2\n{}  ids = {ids:?}\n{}",
        f32_input("weight", &weight),
        f32_input("pe", &pe)
    );
    let actual = call(&case, || f(&weight, &ids, &pe))?;
    close("embedded tokens", &case, &expected, &actual, next)
}
