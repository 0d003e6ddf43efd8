//! The list of exercises, written once: each check's id and the learner's function.

/// Expands `$callback! { id => function, … }` with every exercise, in order, so the learner's
/// tests and the proofs can never disagree about which function an exercise checks.
macro_rules! with_every_exercise {
    ($callback:ident) => {
        $callback! {
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
            ch08_online_softmax_step => ch08::online_softmax_step,
            ch08_merge_partial_softmax => ch08::merge_partial_softmax,
        }
    };
}
