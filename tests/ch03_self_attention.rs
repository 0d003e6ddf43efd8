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
    // W_q = [[1, 1], [0, 1]]  → Q row (a, b) becomes (a + b, b)
    // W_k = [[0, 1], [-1, 0]] → K row (a, b) becomes (b, −a), a quarter turn
    // W_v = [[1, 0], [1, -1]] → V row (a, b) becomes (a, a − b)
    // The book's and notebooks' head (attention::worked) has exactly these weights:
    let head = attention::worked::statquest_head();
    assert_eq!(head.w_q.weight, array![[1.0, 1.0], [0.0, 1.0]]);
    assert_eq!(head.w_k.weight, array![[0.0, 1.0], [-1.0, 0.0]]);
    assert_eq!(head.w_v.weight, array![[1.0, 0.0], [1.0, -1.0]]);
    assert!(head.w_q.bias.is_none() && head.w_k.bias.is_none() && head.w_v.bias.is_none());
    assert_eq!(attention::worked::statquest_encodings(), x);
    let q = head.w_q.forward(&x).unwrap();
    let k = head.w_k.forward(&x).unwrap();
    let v = head.w_v.forward(&x).unwrap();
    assert_close("Q", &q, &array![[1.39, 0.23], [1.93, 1.36], [2.25, -2.16]]);
    assert_close(
        "K",
        &k,
        &array![[0.23, -1.16], [1.36, -0.57], [-2.16, -4.41]],
    );
    assert_close("V", &v, &array![[1.16, 0.93], [0.57, -0.79], [4.41, 6.57]]);

    // Q·Kᵀ, entry (i, j) = q_i · k_j:
    //   row 0: 1.39·0.23 − 0.23·1.16 = 0.0529, 1.39·1.36 − 0.23·0.57 = 1.7593,
    //          1.39·(−2.16) − 0.23·4.41 = −4.0167
    //   row 1: 1.93·0.23 − 1.36·1.16 = −1.1337, 1.93·1.36 − 1.36·0.57 = 1.8496,
    //          1.93·(−2.16) − 1.36·4.41 = −10.1664
    //   row 2: 2.25·0.23 + 2.16·1.16 = 3.0231, 2.25·1.36 + 2.16·0.57 = 4.2912,
    //          2.25·(−2.16) + 2.16·4.41 = 4.6656
    // Divide by √d_k = √2 ≈ 1.41421:
    let scaled = scaled_scores(&q, &k).unwrap();
    let expected_scaled = array![
        [0.03741_f32, 1.24401, -2.84024],
        [-0.80165, 1.30786, -7.18873],
        [2.13765, 3.03434, 3.29908],
    ];
    assert!(scaled.abs_diff_eq(&expected_scaled, 1e-4), "{scaled}");

    // softmax row 0: e^0.03741 = 1.03811, e^1.24401 = 3.46951, e^−2.84024 = 0.05841,
    //   sum 4.56603 → [0.22736, 0.75985, 0.01279]
    // row 1: 0.44859, 3.69827, 0.00076, sum 4.14761 → [0.10816, 0.89166, 0.00018]
    // row 2: 8.47953, 20.78718, 27.08764, sum 56.35435 → [0.15047, 0.36887, 0.48067]
    let attn = head.forward(&x, None).unwrap();
    let expected_weights = array![
        [0.22736_f32, 0.75985, 0.01279],
        [0.10816, 0.89166, 0.00018],
        [0.15047, 0.36887, 0.48067],
    ];
    assert!(
        attn.weights.abs_diff_eq(&expected_weights, 1e-4),
        "{}",
        attn.weights
    );

    // output row 0 = 0.22736·(1.16, 0.93) + 0.75985·(0.57, −0.79) + 0.01279·(4.41, 6.57)
    //              = (0.26374 + 0.43311 + 0.05640, 0.21144 − 0.60028 + 0.08403)
    //              = (0.75325, −0.30481); rows 1 and 2 likewise.
    let expected_output = array![
        [0.75326_f32, -0.30479],
        [0.63451, -0.60263],
        [2.50453, 3.00651]
    ];
    assert!(
        attn.output.abs_diff_eq(&expected_output, 1e-4),
        "{}",
        attn.output
    );
}

/// The worked head is not blind to the transpose chapter 3 stresses: for each projection
/// X·Wᵀ (`nn.Linear`) differs from X·W, and a head that forgot the transpose (weights
/// W instead of Wᵀ) gives other attention weights and another output.
#[test]
fn worked_head_shows_a_forgotten_transpose() {
    let head = attention::worked::statquest_head();
    let x = attention::worked::statquest_encodings();
    for (name, linear) in [("W_q", &head.w_q), ("W_k", &head.w_k), ("W_v", &head.w_v)] {
        let with_transpose = x.dot(&linear.weight.t());
        let without = x.dot(&linear.weight);
        assert!(
            !with_transpose.abs_diff_eq(&without, 0.1),
            "{name} is transpose-blind on the worked X: X·Wᵀ = X·W = {without}"
        );
        assert!(linear.bias.is_none());
    }
    let untransposed = |l: &Linear| Linear::new(l.weight.t().to_owned(), None).unwrap();
    let forgot = SelfAttention::new(
        untransposed(&head.w_q),
        untransposed(&head.w_k),
        untransposed(&head.w_v),
    )
    .unwrap();
    let right = head.forward(&x, None).unwrap();
    let wrong = forgot.forward(&x, None).unwrap();
    assert!(
        !right.weights.abs_diff_eq(&wrong.weights, 0.1),
        "weights equal without the transpose: {}",
        right.weights
    );
    assert!(
        !right.output.abs_diff_eq(&wrong.output, 0.1),
        "output equal without the transpose: {}",
        right.output
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
