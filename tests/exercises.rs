//! The learner's checks: one test per exercise of `src/exercises/`.
//!
//! ```sh
//! cargo exercise ch03_scaled_scores   # one exercise
//! cargo exercise ch03                 # one chapter
//! cargo exercise                      # all
//! ```
//!
//! (`cargo exercise` = `cargo test --features exercises --test exercises --`.) You never edit
//! this file: edit the stubs in `src/exercises/`.

#[path = "exercises/checks.rs"]
mod checks;
mod common;
#[path = "exercises/manifest.rs"]
mod manifest;

use attention::exercises::{ch01, ch02, ch03, ch04, ch05, ch06, ch07};

/// Fails the test with a learner-friendly report: where to work, what went wrong, a hint.
fn report(id: &str, result: checks::Check) {
    let Err(problem) = result else { return };
    let e = manifest::exercise(id);
    let hint = e.hints.first().map(String::as_str).unwrap_or("");
    checks::fail(format!(
        "\n\n✗ exercise {n} `{id}`: {title}\n  your code: {file}, fn {function}\n  re-read: chapter {chapter}, section \"{section}\"\n\n{problem}\n\nhint 1: {hint}\nmore hints: cargo xtask exercises --hint {n}\n",
        n = e.number,
        title = e.title,
        file = e.file,
        function = e.function,
        chapter = e.chapter,
        section = e.section,
    ));
}

macro_rules! exercises {
    ($($id:ident => $function:path),* $(,)?) => {
        $(
            #[test]
            fn $id() {
                report(stringify!($id), checks::$id($function));
            }
        )*
    };
}

exercises! {
    ch01_embedding_lookup => ch01::embedding_lookup,
    ch01_cosine_similarity => ch01::cosine_similarity,
    ch01_most_similar => ch01::most_similar,
    ch02_pe_entry => ch02::pe_entry,
    ch02_sinusoidal_table => ch02::sinusoidal_table,
    ch02_embed_with_positions => ch02::embed_with_positions,
    ch03_project_qkv => ch03::project_qkv,
    ch03_scaled_scores => ch03::scaled_scores,
    ch03_softmax_rows => ch03::softmax_rows,
    ch03_attention => ch03::attention,
    ch04_causal_mask => ch04::causal_mask,
    ch04_apply_mask => ch04::apply_mask,
    ch04_masked_attention => ch04::masked_attention,
    ch05_cross_attention_shapes => ch05::cross_attention_shapes,
    ch05_cross_attention => ch05::cross_attention,
    ch05_source_padding_mask => ch05::source_padding_mask,
    ch06_split_heads => ch06::split_heads,
    ch06_merge_heads => ch06::merge_heads,
    ch06_multi_head_attention => ch06::multi_head_attention,
    ch07_layer_norm => ch07::layer_norm,
    ch07_encoder_layer => ch07::encoder_layer,
    ch07_decoder_layer => ch07::decoder_layer,
    ch07_greedy_step => ch07::greedy_step,
}
