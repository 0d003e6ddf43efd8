//! Proofs that the exercise checks work (run by `cargo xtask test`, so CI enforces them):
//!
//! - without the `solutions` feature: every check **fails** on the stubs as shipped (no
//!   exercise is accidentally pre-solved);
//! - with `solutions`: every check **passes** on the reference solutions, and **fails** on every
//!   realistic wrong solution kept beside them (`solutions/chNN.rs`, module `wrong`);
//! - always: the hints manifest lists exactly these exercises, numbered in order, with 2–3
//!   hints each, 2–4 exercises per chapter, and names exactly the wrong solutions tried here.
//!
//! ```sh
//! cargo test --features exercises --test exercise_proofs                 # stubs fail
//! cargo test --features exercises,solutions --test exercise_proofs       # solutions pass, mistakes fail
//! ```

#[path = "exercises/checks.rs"]
mod checks;
#[macro_use]
#[path = "exercises/registry.rs"]
mod registry;
mod common;
#[path = "exercises/manifest.rs"]
mod manifest;

use attention::exercises::{ch01, ch02, ch03, ch04, ch05, ch06, ch07, ch08};

/// Every exercise's check run on `attention::exercises` (stubs, or solutions with the feature).
fn run_all() -> Vec<(&'static str, checks::Check)> {
    macro_rules! run {
        ($($id:ident => $function:path),* $(,)?) => {
            vec![$((stringify!($id), checks::$id($function))),*]
        };
    }
    with_every_exercise!(run)
}

#[test]
fn manifest_lists_every_exercise_in_order() {
    let exercises = manifest::exercises();
    let ids: Vec<String> = exercises.iter().map(|e| e.id.clone()).collect();
    let checked: Vec<String> = run_all()
        .into_iter()
        .map(|(id, _)| id.to_string())
        .collect();
    assert_eq!(
        ids, checked,
        "hints.json and the checks list different exercises"
    );
    for (i, e) in exercises.iter().enumerate() {
        assert_eq!(
            e.number,
            i as u64 + 1,
            "{}: numbers must count 1, 2, 3…",
            e.id
        );
        assert!(
            e.id.starts_with(&format!("ch{:02}_", e.chapter)),
            "{}: id and chapter disagree",
            e.id
        );
        assert_eq!(
            e.file,
            format!("src/exercises/ch{:02}.rs", e.chapter),
            "{}: file",
            e.id
        );
        assert!(
            (2..=3).contains(&e.hints.len()),
            "{}: 2 or 3 hints, got {}",
            e.id,
            e.hints.len()
        );
        assert!(
            !e.mistakes.is_empty(),
            "{}: at least one wrong solution",
            e.id
        );
        let stub =
            std::fs::read_to_string(format!("{}/{}", env!("CARGO_MANIFEST_DIR"), e.file)).unwrap();
        assert!(
            stub.contains(&format!("fn {}(", e.function)),
            "{}: no fn {} in {}",
            e.id,
            e.function,
            e.file
        );
        assert!(
            stub.contains(&format!("`{}`", e.id)),
            "{}: the stub's doc comment names its id",
            e.id
        );
        assert!(
            stub.contains(&format!("section \"{}\"", e.section)),
            "{}: the stub names its section",
            e.id
        );
    }
    for chapter in 1..=8 {
        let n = exercises.iter().filter(|e| e.chapter == chapter).count();
        assert!(
            (2..=4).contains(&n),
            "chapter {chapter}: {n} exercises, want 2–4"
        );
    }
}

#[cfg(not(feature = "solutions"))]
#[test]
fn every_check_fails_on_the_stubs_as_shipped() {
    let passed: Vec<&str> = run_all()
        .into_iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(id, _)| id)
        .collect();
    assert!(
        passed.is_empty(),
        "these stubs already pass their checks (pre-solved?): {passed:?}"
    );
}

#[cfg(feature = "solutions")]
#[test]
fn every_check_passes_on_the_reference_solutions() {
    let failed: Vec<String> = run_all()
        .into_iter()
        .filter_map(|(id, r)| r.err().map(|e| format!("{id}:\n{e}")))
        .collect();
    assert!(
        failed.is_empty(),
        "reference solutions failing their checks:\n{}",
        failed.join("\n\n")
    );
}

#[cfg(feature = "solutions")]
#[test]
fn every_wrong_solution_fails_its_check() {
    use attention::exercises::{ch01::wrong as w1, ch02::wrong as w2, ch03::wrong as w3};
    use attention::exercises::{
        ch04::wrong as w4, ch05::wrong as w5, ch06::wrong as w6, ch07::wrong as w7,
        ch08::wrong as w8,
    };
    macro_rules! wrong {
        ($($id:ident: $($module:ident :: $name:ident),+;)*) => {
            vec![$($((stringify!($id), stringify!($name), checks::$id($module::$name))),+),*]
        };
    }
    let results: Vec<(&str, &str, checks::Check)> = wrong! {
        ch01_embedding_lookup: w1::lookup_columns;
        ch01_cosine_similarity: w1::dot_without_norms, w1::nan_for_zero_vector;
        ch01_most_similar: w1::includes_itself, w1::largest_dot_product;
        ch02_pe_entry: w2::exponent_uses_column_index, w2::sin_cos_swapped;
        ch02_sinusoidal_table: w2::halves_layout, w2::positions_start_at_one;
        ch02_embed_with_positions: w2::forgets_scaling, w2::positions_indexed_by_token_id;
        ch03_project_qkv: w3::weight_not_transposed, w3::keys_and_values_swapped;
        ch03_scaled_scores: w3::missing_sqrt_scaling, w3::divides_by_d_k, w3::k_not_transposed;
        ch03_softmax_rows: w3::over_columns, w3::not_stable;
        ch03_attention: w3::softmax_over_columns, w3::missing_scaling;
        ch04_causal_mask: w4::excludes_diagonal, w4::upper_triangle;
        ch04_apply_mask: w4::zero_instead_of_neg_infinity, w4::inverted_convention;
        ch04_masked_attention: w4::mask_after_softmax, w4::ignores_mask;
        ch05_cross_attention_shapes: w5::weights_transposed, w5::keys_from_decoder;
        ch05_cross_attention: w5::queries_from_encoder, w5::values_from_decoder;
        ch05_source_padding_mask: w5::keeps_padding, w5::rows_are_source;
        ch06_split_heads: w6::reshape_without_permute, w6::heads_interleaved;
        ch06_merge_heads: w6::merge_without_permute, w6::merge_interleaved;
        ch06_multi_head_attention: w6::forgets_out_proj, w6::scales_by_d_model;
        ch07_layer_norm: w7::normalizes_over_wrong_axis, w7::unbiased_variance;
        ch07_encoder_layer: w7::forgets_residual, w7::always_post_ln;
        ch07_decoder_layer: w7::cross_attends_to_itself, w7::ignores_self_mask;
        ch07_greedy_step: w7::uses_first_position;
        ch08_online_softmax_step: w8::forgets_rescale, w8::inverted_rescale, w8::nan_for_masked_key;
        ch08_merge_partial_softmax:
            w8::adds_sums_without_rescaling, w8::keeps_larger_max_block, w8::normalises_each_block_first;
    };
    // Each mistake must be caught, and the manifest must list exactly these mistakes.
    let mut accepted = Vec::new();
    for (id, name, result) in &results {
        match result {
            Ok(()) => accepted.push(format!("{id}: wrong::{name}")),
            Err(message) => println!(
                "caught {id}: wrong::{name}\n{}\n",
                message.lines().take(3).collect::<Vec<_>>().join("\n")
            ),
        }
    }
    assert!(
        accepted.is_empty(),
        "wrong solutions that pass their check: {accepted:?}"
    );
    for e in manifest::exercises() {
        let tried: Vec<String> = results
            .iter()
            .filter(|(id, _, _)| *id == e.id)
            .map(|(_, n, _)| n.to_string())
            .collect();
        assert_eq!(
            e.mistakes, tried,
            "{}: hints.json `mistakes` vs the wrong solutions tried",
            e.id
        );
    }
}
