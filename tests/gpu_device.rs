//! Chapter 8, feature `gpu`: `backend::set_device(Device::Gpu)` runs the chapters' own layers
//! on the GPU, unchanged, and they still match PyTorch.
//!
//! `set_device` is process-wide, so this binary holds one test and nothing runs beside it.

mod common;

use attention::backend::{self, Device};
use attention::masked::Mask;
use attention::multi_head::MultiHeadAttention;
use attention::ndarray::{Ix2, Ix3};
use attention::params::Params;
use attention::transformer::Transformer;
use common::{assert_close, fixture, gpu_or_skip};

#[test]
fn chapter_layers_run_on_the_gpu_and_match_pytorch() {
    let Some(gpu) = gpu_or_skip("chapter_layers_run_on_the_gpu") else {
        return;
    };
    backend::set_device(Device::Gpu).unwrap();
    assert_eq!(backend::device(), Device::Gpu);
    let name = backend::name();
    assert!(name.contains(&gpu.adapter_name()), "{name}");

    // Chapter 6: nn.MultiheadAttention, causal.
    let f = fixture("mha_self_causal");
    let mha = MultiHeadAttention::from_params(
        &Params::load(&f.tensors),
        f.usize("embed_dim"),
        f.usize("num_heads"),
    )
    .unwrap();
    let x = f.input::<Ix3>("x");
    let mask = Mask::from_torch_attn_mask(&f.bool_input::<Ix2>("attn_mask")).unwrap();
    let out = mha.forward(&x, &x, &x, Some(&mask)).unwrap();
    assert_close("gpu mha output", &out.output, &f.output("attn_output"));

    // Chapter 7: the whole nn.Transformer, encoder and decoder.
    let f = fixture("transformer");
    let model =
        Transformer::from_params(&Params::load(&f.tensors), f.transformer_config()).unwrap();
    let src_mask = Mask::from_torch_key_padding_mask(&f.bool_input::<Ix2>("src_key_padding_mask"));
    let tgt_mask = Mask::from_torch_attn_mask(&f.bool_input::<Ix2>("tgt_mask"));
    let (src_mask, tgt_mask) = (src_mask.unwrap(), tgt_mask.unwrap());
    let (src, tgt) = (f.input::<Ix3>("src"), f.input::<Ix3>("tgt"));
    let out = model
        .forward(&src, &tgt, Some(&src_mask), Some(&tgt_mask))
        .unwrap();
    assert_close("gpu transformer output", &out, &f.output("out"));

    // A second forward pass reuses the pooled buffers of the first: it creates none. On one
    // thread, so that both passes take and return buffers in the same order (with heads in
    // parallel, how many are taken at once, and so the pool's size, depends on timing).
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    one_thread.install(|| {
        let first = model.forward(&src, &tgt, Some(&src_mask), Some(&tgt_mask));
        let created = gpu.buffers_created();
        let again = model.forward(&src, &tgt, Some(&src_mask), Some(&tgt_mask));
        assert_eq!(
            again.unwrap(),
            first.unwrap(),
            "the same forward pass twice"
        );
        assert_eq!(
            gpu.buffers_created(),
            created,
            "buffers created by a repeated forward"
        );
    });

    backend::set_device(Device::Cpu).unwrap();
    assert_eq!(backend::device(), Device::Cpu);
}
