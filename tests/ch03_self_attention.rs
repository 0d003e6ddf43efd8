//! Chapter 3: scaled dot-product attention and a self-attention head.

mod common;

use attention::masked::Mask;
use attention::ndarray::{Array1, Array2, Axis, Ix2, array};
use attention::nn::init::uniform;
use attention::nn::{Linear, seeded_rng};
use attention::params::{Module, Params};
use attention::self_attention::{SelfAttention, scaled_dot_product_attention, scaled_scores};
use attention::weights::NamedTensors;
use common::{assert_close, fixture};
use proptest::prelude::*;

#[test]
fn sdpa_matches_pytorch() {
    let f = fixture("sdpa_plain");
    let (q, k, v) = (
        f.input::<Ix2>("query"),
        f.input::<Ix2>("key"),
        f.input::<Ix2>("value"),
    );
    let attn = scaled_dot_product_attention(&q, &k, &v, None).unwrap();
    assert_close("sdpa_plain output", &attn.output, &f.output("output"));
    assert_close("sdpa_plain weights", &attn.weights, &f.output("weights"));
}

/// The StatQuest course's 3 tokens × 2 dims, with weights chosen to make the arithmetic easy.
#[test]
fn statquest_example_by_hand() {
    // Encodings X of "Let's go <EOS>"-style 3 tokens (rows), d_model = 2.
    let x = array![[1.16_f32, 0.23], [0.57, 1.36], [4.41, -2.16]];
    // W_q = identity       → Q = X·W_qᵀ = X
    // W_k = swap           → K = X with its two columns swapped
    // W_v = [[1, 1], [1, -1]] → V row (a, b) becomes (a + b, a − b)
    // The book's and notebooks' head (attention::worked) has exactly these weights:
    let head = attention::worked::statquest_head();
    assert_eq!(head.w_q.weight, array![[1.0, 0.0], [0.0, 1.0]]);
    assert_eq!(head.w_k.weight, array![[0.0, 1.0], [1.0, 0.0]]);
    assert_eq!(head.w_v.weight, array![[1.0, 1.0], [1.0, -1.0]]);
    assert!(head.w_q.bias.is_none() && head.w_k.bias.is_none() && head.w_v.bias.is_none());
    assert_eq!(attention::worked::statquest_encodings(), x);
    let k = head.w_k.forward(&x).unwrap();
    let v = head.w_v.forward(&x).unwrap();
    assert_close("K", &k, &array![[0.23, 1.16], [1.36, 0.57], [-2.16, 4.41]]);
    assert_close("V", &v, &array![[1.39, 0.93], [1.93, -0.79], [2.25, 6.57]]);

    // Q·Kᵀ, entry (i, j) = q_i · k_j:
    //   row 0: 1.16·0.23 + 0.23·1.16 = 0.5336, 1.16·1.36 + 0.23·0.57 = 1.7087,
    //          1.16·(−2.16) + 0.23·4.41 = −1.4913
    //   row 1: 0.57·0.23 + 1.36·1.16 = 1.7087, 0.57·1.36 + 1.36·0.57 = 1.5504,
    //          0.57·(−2.16) + 1.36·4.41 = 4.7664
    //   row 2: −1.4913, 4.41·1.36 + (−2.16)·0.57 = 4.7664, 2·4.41·(−2.16) = −19.0512
    // Divide by √d_k = √2 ≈ 1.41421:
    let scaled = scaled_scores(&x, &k).unwrap();
    let expected_scaled = array![
        [0.37731_f32, 1.20823, -1.05451],
        [1.20823, 1.09630, 3.37035],
        [-1.05451, 3.37035, -13.47123],
    ];
    assert!(scaled.abs_diff_eq(&expected_scaled, 1e-4), "{scaled}");

    // softmax row 0: e^0.37731 = 1.45836, e^1.20823 = 3.34757, e^−1.05451 = 0.34836,
    //   sum 5.15429 → [0.28294, 0.64947, 0.06759]
    // row 1: 3.34757, 2.99307, 29.08882, sum 35.42945 → [0.09449, 0.08448, 0.82103]
    // row 2: 0.34836, 29.08882, ~1.4e−6, sum 29.43718 → [0.01183, 0.98817, 0.00000]
    let attn = head.forward(&x, None).unwrap();
    let expected_weights = array![
        [0.28294_f32, 0.64947, 0.06759],
        [0.09449, 0.08448, 0.82103],
        [0.01183, 0.98817, 0.00000],
    ];
    assert!(
        attn.weights.abs_diff_eq(&expected_weights, 1e-4),
        "{}",
        attn.weights
    );

    // output row 0 = 0.28294·(1.39, 0.93) + 0.64947·(1.93, −0.79) + 0.06759·(2.25, 6.57)
    //              = (0.39329 + 1.25348 + 0.15208, 0.26313 − 0.51308 + 0.44407)
    //              = (1.79884, 0.19410); rows 1 and 2 likewise.
    let expected_output = array![
        [1.79884_f32, 0.19410],
        [2.14171, 5.41533],
        [1.92361, -0.76964]
    ];
    assert!(
        attn.output.abs_diff_eq(&expected_output, 1e-4),
        "{}",
        attn.output
    );
}

fn permute_rows(x: &Array2<f32>, perm: &[usize]) -> Array2<f32> {
    x.select(Axis(0), perm)
}

proptest! {
    /// Without positions, self-attention is permutation-equivariant: shuffling the tokens
    /// shuffles the outputs (and both axes of the weights) the same way.
    #[test]
    fn self_attention_is_permutation_equivariant(
        seq in 2usize..7, d_model in 1usize..6, seed in any::<u64>(), shuffle_seed in any::<u64>(),
    ) {
        let mut rng = seeded_rng(seed);
        let head = SelfAttention::from_params(&Params::init(&mut rng), d_model, 3, true).unwrap();
        let x: Array2<f32> = uniform((seq, d_model), 2.0, &mut rng);
        let mut perm: Vec<usize> = (0..seq).collect();
        let keys: Array1<f32> = uniform(seq, 1.0, &mut seeded_rng(shuffle_seed));
        perm.sort_by(|&a, &b| keys[a].total_cmp(&keys[b]));

        let plain = head.forward(&x, None).unwrap();
        let shuffled = head.forward(&permute_rows(&x, &perm), None).unwrap();
        let expected_out = permute_rows(&plain.output, &perm);
        prop_assert!(shuffled.output.abs_diff_eq(&expected_out, 1e-5));
        let expected_w = permute_rows(&plain.weights, &perm).select(Axis(1), &perm);
        prop_assert!(shuffled.weights.abs_diff_eq(&expected_w, 1e-6));
    }
}

#[test]
fn self_attention_saves_and_loads_the_course_names() {
    let head = SelfAttention::from_params(&Params::seeded(5), 4, 3, true).unwrap();
    let mut saved = NamedTensors::new();
    head.parameters_into("", &mut saved);
    let names: Vec<&str> = saved.names().collect();
    assert_eq!(
        names,
        [
            "W_k.bias",
            "W_k.weight",
            "W_q.bias",
            "W_q.weight",
            "W_v.bias",
            "W_v.weight"
        ]
    );
    assert_eq!(saved.get("W_q.weight").unwrap().shape(), &[3, 4]);
    assert_eq!(
        SelfAttention::from_params(&Params::load(&saved), 4, 3, true).unwrap(),
        head
    );
}

#[test]
fn mismatched_d_k_is_a_clear_error() {
    let (q, k, v) = (
        Array2::<f32>::zeros((2, 4)),
        Array2::<f32>::zeros((3, 5)),
        Array2::zeros((3, 2)),
    );
    let msg = scaled_dot_product_attention(&q, &k, &v, None)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`keys`") && msg.contains("(src_len, 4)") && msg.contains("(3, 5)"),
        "{msg}"
    );
}

#[test]
fn key_and_value_lengths_differing_is_a_clear_error() {
    let (q, k, v) = (
        Array2::<f32>::zeros((2, 4)),
        Array2::<f32>::zeros((3, 4)),
        Array2::zeros((2, 2)),
    );
    let msg = scaled_dot_product_attention(&q, &k, &v, None)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`values`") && msg.contains("(3, d_v)") && msg.contains("(2, 2)"),
        "{msg}"
    );
}

#[test]
fn empty_sequence_is_a_clear_error() {
    let (q, k, v) = (
        Array2::<f32>::zeros((0, 4)),
        Array2::<f32>::zeros((3, 4)),
        Array2::zeros((3, 2)),
    );
    let msg = scaled_dot_product_attention(&q, &k, &v, None)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`queries`") && msg.contains("non-empty") && msg.contains("(0, 4)"),
        "{msg}"
    );
    let head = SelfAttention::from_params(&Params::seeded(0), 4, 4, false).unwrap();
    let msg = head
        .forward(&Array2::<f32>::zeros((0, 4)), None)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`x`") && msg.contains("(0, 4)"), "{msg}");
}

#[test]
fn wrong_d_model_and_mask_shape_are_clear_errors() {
    let head = SelfAttention::from_params(&Params::seeded(0), 4, 4, false).unwrap();
    let msg = head
        .forward(&Array2::<f32>::zeros((3, 5)), None)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`x`") && msg.contains("d_model = 4") && msg.contains("(3, 5)"),
        "{msg}"
    );
    let mask = Mask::causal(4).unwrap();
    let msg = head
        .forward(&Array2::<f32>::zeros((3, 4)), Some(&mask))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`mask`") && msg.contains("(1, 3, 3)") && msg.contains("(1, 4, 4)"),
        "{msg}"
    );
    let bad = SelfAttention::new(
        Linear::from_params(&Params::seeded(0), 4, 3, false).unwrap(),
        Linear::from_params(&Params::seeded(0), 4, 2, false).unwrap(),
        Linear::from_params(&Params::seeded(0), 4, 3, false).unwrap(),
    );
    assert!(bad.unwrap_err().to_string().contains("`w_k.weight`"));
}
