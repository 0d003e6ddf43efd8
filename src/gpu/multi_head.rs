//! Multi-head attention with everything on the GPU: one upload, four products, one fused
//! attention kernel, one read-back.

use ndarray::{Array3, ArrayRef3, Ix3};

use super::flash::attention_merged;
use super::layers::GpuLinear;
use super::tensor::check_rank;
use super::{Gpu, GpuTensor};
use crate::error::{Error, Result};
use crate::multi_head::MultiHeadAttention;

/// A [`MultiHeadAttention`] layer whose weights live on the GPU.
///
/// [`GpuMultiHeadAttention::forward`] takes and gives [`GpuTensor`]s; nothing crosses to the
/// CPU in between. It returns the output only: the fused attention kernel never forms the
/// attention weights.
pub struct GpuMultiHeadAttention {
    num_heads: usize,
    d_model: usize,
    w_q: GpuLinear,
    w_k: GpuLinear,
    w_v: GpuLinear,
    out_proj: GpuLinear,
}

impl GpuMultiHeadAttention {
    /// Uploads `layer`'s four projections, once.
    pub fn new(layer: &MultiHeadAttention) -> Result<Self> {
        Gpu::get()?;
        Ok(GpuMultiHeadAttention {
            num_heads: layer.num_heads,
            d_model: layer.d_model(),
            w_q: GpuLinear::upload(&layer.w_q)?,
            w_k: GpuLinear::upload(&layer.w_k)?,
            w_v: GpuLinear::upload(&layer.w_v)?,
            out_proj: GpuLinear::upload(&layer.out_proj)?,
        })
    }

    // ANCHOR: gpu_multi_head
    /// Attention from `query (batch, tgt_len, d_model)` to `key` and `value`
    /// `(batch, src_len, d_model)`, all on the GPU; with `causal`, position i sees 0..=i.
    pub fn forward(
        &self,
        query: &GpuTensor,
        key: &GpuTensor,
        value: &GpuTensor,
        causal: bool,
    ) -> Result<GpuTensor> {
        self.check_inputs(query, key, value)?;
        let q = self.w_q.forward(query)?; // (batch, tgt_len, heads · d_k)
        let k = self.w_k.forward(key)?; // (batch, src_len, heads · d_k)
        let v = self.w_v.forward(value)?; // (batch, src_len, heads · d_k)
        // Each head read in place through strides, the output written with heads merged.
        let heads = attention_merged(&q, &k, &v, self.num_heads, causal)?; // (batch, tgt_len, d_model)
        self.out_proj.forward(&heads) // (batch, tgt_len, d_model)
    }
    // ANCHOR_END: gpu_multi_head

    /// [`GpuMultiHeadAttention::forward`] from and to the CPU: one upload per distinct input
    /// (self-attention, the same array three times, uploads it once) and one read-back.
    pub fn forward_arrays(
        &self,
        query: &ArrayRef3<f32>,
        key: &ArrayRef3<f32>,
        value: &ArrayRef3<f32>,
        causal: bool,
    ) -> Result<Array3<f32>> {
        let q = GpuTensor::upload(query)?;
        let k = (!same(query, key))
            .then(|| GpuTensor::upload(key))
            .transpose()?;
        let v = (!same(key, value))
            .then(|| GpuTensor::upload(value))
            .transpose()?;
        let k = k.as_ref().unwrap_or(&q);
        let v = v.as_ref().unwrap_or(k);
        let output = self.forward(&q, k, v, causal)?.download()?;
        Ok(output.into_dimensionality::<Ix3>().expect("3-D output"))
    }

    fn check_inputs(&self, query: &GpuTensor, key: &GpuTensor, value: &GpuTensor) -> Result<()> {
        let e = self.d_model;
        let want = |len: &str| format!("(batch, {len}, {e}) with d_model = {e}");
        check_rank("query", query, 3, &want("tgt_len"))?;
        for (name, x) in [("query", query), ("key", key), ("value", value)] {
            check_rank(name, x, 3, &want("len"))?;
            if x.shape()[2] != e || x.shape()[0] != query.shape()[0] {
                let expected = format!(
                    "(batch = {}, len, {e}) with d_model = {e}",
                    query.shape()[0]
                );
                return Err(Error::shape(name, expected, x.shape()));
            }
        }
        if value.shape()[1] != key.shape()[1] {
            let expected = format!("(batch, src_len = {}, {e}) like `key`", key.shape()[1]);
            return Err(Error::shape("value", expected, value.shape()));
        }
        Ok(())
    }
}

/// True when `a` and `b` are the same array (same data, shape and strides).
fn same(a: &ArrayRef3<f32>, b: &ArrayRef3<f32>) -> bool {
    a.as_ptr() == b.as_ptr() && a.shape() == b.shape() && a.strides() == b.strides()
}
