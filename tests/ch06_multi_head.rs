//! Chapter 6: split/merge heads and multi-head attention against nn.MultiheadAttention.

mod common;

use attention::masked::Mask;
use attention::multi_head::{MultiHeadAttention, merge_heads, split_heads};
use attention::ndarray::{Array1, Array2, Array3, Axis, Ix2, Ix3, Ix4, array, s};
use attention::nn::init::uniform;
use attention::nn::{Linear, seeded_rng};
use attention::params::{Module, Params};
use attention::self_attention::SelfAttention;
use attention::weights::NamedTensors;
use common::{Fixture, assert_close, fixture};
use proptest::prelude::*;

fn load_mha(f: &Fixture) -> MultiHeadAttention {
    let mha = MultiHeadAttention::from_params(
        &Params::load(&f.tensors),
        f.usize("embed_dim"),
        f.usize("num_heads"),
    )
    .unwrap();
    f.assert_all_parameters_used();
    mha
}

fn check_outputs(f: &Fixture, query: &Array3<f32>, kv: &Array3<f32>, mask: Option<&Mask>) {
    let mha = load_mha(f);
    let out = mha.forward(query, kv, kv, mask).unwrap();
    assert_close(
        &format!("{} output", f.name),
        &out.output,
        &f.output::<Ix3>("attn_output"),
    );
    let averaged = f.output::<Ix3>("attn_weights");
    assert_close(
        &format!("{} weights", f.name),
        &out.averaged_weights(),
        &averaged,
    );
    let per_head = f.output::<Ix4>("attn_weights_per_head");
    assert_close(
        &format!("{} per-head weights", f.name),
        &out.weights,
        &per_head,
    );
}

#[test]
fn self_attention_matches_pytorch() {
    let f = fixture("mha_self");
    let x = f.input::<Ix3>("x");
    check_outputs(&f, &x, &x, None);
}

#[test]
fn causal_self_attention_matches_pytorch() {
    let f = fixture("mha_self_causal");
    let x = f.input::<Ix3>("x");
    let mask = Mask::from_torch_attn_mask(&f.bool_input::<Ix2>("attn_mask")).unwrap();
    check_outputs(&f, &x, &x, Some(&mask));
}

#[test]
fn cross_attention_matches_pytorch() {
    let f = fixture("mha_cross");
    check_outputs(&f, &f.input("query"), &f.input("memory"), None);
}

#[test]
fn cross_attention_with_key_padding_matches_pytorch() {
    let f = fixture("mha_cross_padding");
    let mask = Mask::from_torch_key_padding_mask(&f.bool_input::<Ix2>("key_padding_mask")).unwrap();
    check_outputs(&f, &f.input("query"), &f.input("memory"), Some(&mask));
}

/// A head of d_k = 64 with 70 keys fills the register tiles (`kernels::tiles_fit`), so its
/// heads run the kernels floor's exact kernel instead of chapter 3's two products.
#[test]
fn wide_heads_with_key_padding_match_pytorch() {
    let f = fixture("mha_wide_padding");
    assert!(
        attention::kernels::tiles_fit(70, 64),
        "the fixture takes the tiled path"
    );
    let mask = Mask::from_torch_key_padding_mask(&f.bool_input::<Ix2>("key_padding_mask")).unwrap();
    check_outputs(&f, &f.input("query"), &f.input("memory"), Some(&mask));
}

#[test]
fn split_heads_by_hand() {
    // One token [0, 1, 2, 3] and another [4, 5, 6, 7], two heads of d_k = 2:
    // head 0 takes columns 0..2, head 1 columns 2..4.
    let x = array![[[0.0_f32, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]]]; // (1, 2, 4)
    let heads = split_heads(&x, 2).unwrap(); // (1, 2, 2, 2)
    assert_eq!(
        heads.slice(s![0, 0, .., ..]),
        array![[0.0, 1.0], [4.0, 5.0]]
    );
    assert_eq!(
        heads.slice(s![0, 1, .., ..]),
        array![[2.0, 3.0], [6.0, 7.0]]
    );
    assert_eq!(merge_heads(&heads), x);
}

proptest! {
    #[test]
    fn merge_undoes_split(batch in 1usize..3, seq in 1usize..5, heads in 1usize..4, d_k in 1usize..4, seed in any::<u64>()) {
        let x: Array3<f32> = uniform((batch, seq, heads * d_k), 1.0, &mut seeded_rng(seed));
        let split = split_heads(&x, heads).unwrap();
        prop_assert_eq!(split.shape(), &[batch, heads, seq, d_k]);
        prop_assert_eq!(merge_heads(&split), x);
    }

    /// With one head and an identity output projection, multi-head attention is exactly the
    /// single-head attention of chapter 3.
    #[test]
    fn one_head_equals_single_head_attention(seq in 1usize..6, d_model in 1usize..6, seed in any::<u64>()) {
        let mut rng = seeded_rng(seed);
        let head = SelfAttention::from_params(&Params::init(&mut rng), d_model, d_model, true).unwrap();
        let identity = Linear::new(Array2::eye(d_model), Some(Array1::zeros(d_model))).unwrap();
        let mha = MultiHeadAttention::new(1, head.w_q.clone(), head.w_k.clone(), head.w_v.clone(), identity).unwrap();
        let x: Array2<f32> = uniform((seq, d_model), 2.0, &mut rng);
        let single = head.forward(&x, None).unwrap();
        let batched = x.clone().insert_axis(attention::ndarray::Axis(0));
        let multi = mha.forward(&batched, &batched, &batched, None).unwrap();
        prop_assert!(multi.output.slice(s![0, .., ..]).abs_diff_eq(&single.output, 1e-5));
        prop_assert!(multi.weights.slice(s![0, 0, .., ..]).abs_diff_eq(&single.weights, 1e-6));
    }
}

#[test]
fn saves_pytorch_packed_layout_and_loads_it_back() {
    let mha = MultiHeadAttention::from_params(&Params::seeded(9), 8, 2).unwrap();
    let mut saved = NamedTensors::new();
    mha.parameters_into("self_attn", &mut saved);
    let names: Vec<&str> = saved.names().collect();
    let expected = [
        "self_attn.in_proj_bias",
        "self_attn.in_proj_weight",
        "self_attn.out_proj.bias",
        "self_attn.out_proj.weight",
    ];
    assert_eq!(names, expected);
    let packed = saved.get("self_attn.in_proj_weight").unwrap();
    assert_eq!(packed.shape(), &[24, 8]);
    // Rows 8..16 of in_proj_weight are W_k.
    assert_eq!(
        packed
            .slice(s![8..16, ..])
            .into_dimensionality::<Ix2>()
            .unwrap(),
        mha.w_k.weight
    );
    assert_eq!(
        MultiHeadAttention::from_params(&Params::load(&saved).sub("self_attn"), 8, 2).unwrap(),
        mha
    );
}

#[test]
fn heads_not_dividing_d_model_is_a_clear_error() {
    let msg = MultiHeadAttention::from_params(&Params::seeded(0), 8, 3)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`num_heads`") && msg.contains("d_model = 8") && msg.contains("got 3"),
        "{msg}"
    );
    assert!(split_heads(&Array3::<f32>::zeros((1, 2, 8)), 3).is_err());
    assert!(MultiHeadAttention::from_params(&Params::seeded(0), 8, 0).is_err());
}

#[test]
fn mismatched_inputs_are_clear_errors() {
    let mha = MultiHeadAttention::from_params(&Params::seeded(0), 8, 2).unwrap();
    let q = Array3::<f32>::zeros((2, 3, 8));
    let k = Array3::<f32>::zeros((2, 4, 8));
    let wrong_width = Array3::<f32>::zeros((2, 4, 6));
    let msg = mha
        .forward(&q, &wrong_width, &k, None)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`key`") && msg.contains("d_model = 8") && msg.contains("(2, 4, 6)"),
        "{msg}"
    );
    let msg = mha
        .forward(&Array3::zeros((2, 3, 6)), &k, &k, None)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`query`") && msg.contains("(2, 3, 6)"),
        "{msg}"
    );
    let short_value = Array3::<f32>::zeros((2, 5, 8));
    let msg = mha
        .forward(&q, &k, &short_value, None)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`value`") && msg.contains("(2, 4, 8)") && msg.contains("(2, 5, 8)"),
        "{msg}"
    );
    let msg = mha
        .forward(&q, &Array3::zeros((3, 4, 8)), &k, None)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`key`") && msg.contains("batch"), "{msg}");
    let mask = Mask::padding(&[4, 4, 4], 4).unwrap(); // batch 3, input batch 2
    let msg = mha
        .forward(&q, &k, &k, Some(&mask))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`mask`") && msg.contains("(2, 3, 4)") && msg.contains("(3, 1, 4)"),
        "{msg}"
    );
    let msg = mha
        .forward(&Array3::zeros((2, 0, 8)), &k, &k, None)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`query`") && msg.contains("non-empty"),
        "{msg}"
    );
}

/// h separate chapter-3 heads, head i built from rows i·d_k..(i+1)·d_k of W_q, W_k and W_v
/// (the `(out, in)` layout) and the same entries of their biases, concatenated, give the
/// fused forward's result before `out_proj`; and `out_proj` of that concatenation is the
/// layer's output. The biases are drawn at random, so a wrong bias slice shows too.
#[test]
fn separate_heads_from_row_slices_equal_the_fused_forward() {
    for (d_model, heads, seq, seed) in [(8, 4, 5, 0_u64), (6, 3, 4, 1), (12, 2, 3, 2)] {
        let mut rng = seeded_rng(seed);
        let mut mha =
            MultiHeadAttention::from_params(&Params::init(&mut rng), d_model, heads).unwrap();
        for w in [&mut mha.w_q, &mut mha.w_k, &mut mha.w_v] {
            w.bias = Some(uniform(d_model, 1.0, &mut rng)); // from_params leaves them zero
        }
        let x: Array2<f32> = uniform((seq, d_model), 1.0, &mut rng); // (seq, d_model)
        let d_k = d_model / heads;
        let mut separate = Array2::<f32>::zeros((seq, d_model));
        for i in 0..heads {
            let rows = i * d_k..(i + 1) * d_k;
            let cut = |w: &Linear| {
                let weight = w.weight.slice(s![rows.clone(), ..]).to_owned(); // (d_k, d_model)
                let bias = w
                    .bias
                    .as_ref()
                    .map(|b| b.slice(s![rows.clone()]).to_owned());
                Linear::new(weight, bias).unwrap()
            };
            let head = SelfAttention::new(cut(&mha.w_q), cut(&mha.w_k), cut(&mha.w_v)).unwrap();
            let out = head.forward(&x, None).unwrap().output; // (seq, d_k)
            separate.slice_mut(s![.., rows.clone()]).assign(&out);
            assert_eq!(
                mha.head(i).unwrap(),
                head,
                "head({i}) is rows {rows:?} of each projection"
            );
        }
        let identity = Linear::new(Array2::eye(d_model), None).unwrap();
        let fused_layer = MultiHeadAttention::new(
            heads,
            mha.w_q.clone(),
            mha.w_k.clone(),
            mha.w_v.clone(),
            identity,
        )
        .unwrap();
        let xb = x.clone().insert_axis(Axis(0)); // (1, seq, d_model)
        let fused = fused_layer.forward(&xb, &xb, &xb, None).unwrap().output;
        assert_close(
            &format!("d_model {d_model}, {heads} heads: concatenated heads vs fused, before W_o"),
            &fused.index_axis(Axis(0), 0).to_owned(),
            &separate,
        );
        let full = mha.forward(&xb, &xb, &xb, None).unwrap().output;
        assert_close(
            &format!("d_model {d_model}, {heads} heads: out_proj(concatenated heads) vs forward"),
            &full.index_axis(Axis(0), 0).to_owned(),
            &mha.out_proj.forward(&separate).unwrap(),
        );
    }
    assert!(
        MultiHeadAttention::from_params(&Params::seeded(0), 8, 4)
            .unwrap()
            .head(4)
            .is_err()
    );
}

/// `output` (what the Transformer layers call) is `forward`'s output bit for bit, for heads
/// on the register tiles (d_k = 64, 70 keys) and on chapter 3's products (d_k = 4), masked.
#[test]
fn output_alone_equals_forward_bit_for_bit() {
    let mut rng = seeded_rng(31);
    for (d_model, heads, seq) in [(128, 2, 70), (8, 2, 5)] {
        let mha = MultiHeadAttention::from_params(&Params::init(&mut rng), d_model, heads).unwrap();
        let x: Array3<f32> = uniform((2, seq, d_model), 1.0, &mut rng);
        for mask in [None, Some(Mask::causal(seq).unwrap())] {
            let full = mha.forward(&x, &x, &x, mask.as_ref()).unwrap().output;
            let alone = mha.output(&x, &x, &x, mask.as_ref()).unwrap();
            assert!(attention::kernels::tiles_fit(seq, d_model / heads) == (seq == 70));
            let bits = |a: &Array3<f32>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&alone),
                bits(&full),
                "d_model {d_model}, mask {}",
                mask.is_some()
            );
        }
    }
}
