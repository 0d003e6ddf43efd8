//! The whole model: `nn.Transformer`, and a sequence-to-sequence model around it.

use ndarray::{Array2, Array3, ArrayRef2, ArrayRef3, ArrayViewMutD};

use super::decoder::DecoderLayerCache;
use super::encoder::EncoderLayerCache;
use super::stack::StackCache;
use super::{Decoder, DecoderLayer, Encoder, EncoderLayer, NormPosition, TransformerConfig};
use crate::embedding::Embedding;
use crate::error::{Error, Result};
use crate::gradients::Gradients;
use crate::masked::Mask;
use crate::nn::dropout::apply_mask;
use crate::nn::{Linear, Train};
use crate::params::{Module, Params, setting_number, shape_of};
use crate::positional::SinusoidalEncoding;
use crate::weights::{NamedTensors, join};

/// Encoder and decoder stacks, each with its final LayerNorm: PyTorch's `nn.Transformer`
/// (with `batch_first=True`). Names: `encoder.*`, `decoder.*`.
#[derive(Debug, Clone, PartialEq)]
pub struct Transformer {
    /// The encoder stack.
    pub encoder: Encoder,
    /// The decoder stack.
    pub decoder: Decoder,
    /// The sizes it was built with.
    pub config: TransformerConfig,
}

impl Transformer {
    /// `src (batch, src_len, d_model)` and `tgt (batch, tgt_len, d_model)` →
    /// `(batch, tgt_len, d_model)`.
    ///
    /// `src_mask` (e.g. source padding) is used by the encoder's self-attention *and* by the
    /// decoder's cross-attention; `tgt_mask` (causal, maybe with target padding) by the
    /// decoder's self-attention.
    pub fn forward(
        &self,
        src: &ArrayRef3<f32>,
        tgt: &ArrayRef3<f32>,
        src_mask: Option<&Mask>,
        tgt_mask: Option<&Mask>,
    ) -> Result<Array3<f32>> {
        let memory = self.encoder.forward(src, src_mask)?; // (batch, src_len, d_model)
        self.decoder.forward(tgt, &memory, tgt_mask, src_mask) // (batch, tgt_len, d_model)
    }

    /// Training forward: [`Transformer::forward`] with dropout, keeping what the backward
    /// needs.
    pub fn forward_train(
        &self,
        src: &ArrayRef3<f32>,
        tgt: &ArrayRef3<f32>,
        src_mask: Option<&Mask>,
        tgt_mask: Option<&Mask>,
        train: &mut Train,
    ) -> Result<(Array3<f32>, TransformerCache)> {
        let (memory, encoder) = self.encoder.forward_train(src, src_mask, train)?;
        let (out, decoder) =
            (self.decoder).forward_train(tgt, &memory, tgt_mask, src_mask, train)?;
        Ok((out, TransformerCache { encoder, decoder }))
    }

    /// Backward of [`Transformer::forward_train`]: adds the gradients of `encoder.*` and
    /// `decoder.*` below `prefix`; returns ∂L/∂src and ∂L/∂tgt. The decoder runs back first:
    /// its cross-attention hands the encoder ∂L/∂memory.
    pub fn backward(
        &self,
        cache: &TransformerCache,
        dy: &ArrayRef3<f32>,
        grads: &mut Gradients,
        prefix: &str,
    ) -> Result<(Array3<f32>, Array3<f32>)> {
        let (p_enc, p_dec) = (join(prefix, "encoder"), join(prefix, "decoder"));
        let (d_tgt, d_memory) = self.decoder.backward(&cache.decoder, dy, grads, &p_dec)?;
        let d_src = (self.encoder).backward(&cache.encoder, &d_memory, grads, &p_enc)?;
        Ok((d_src, d_tgt))
    }

    /// The encoder output ("memory") `(batch, src_len, d_model)` that the decoder's
    /// cross-attention reads, for `src (batch, src_len, d_model)`.
    pub fn encode(&self, src: &ArrayRef3<f32>, src_mask: Option<&Mask>) -> Result<Array3<f32>> {
        self.encoder.forward(src, src_mask)
    }

    /// `encoder.*` and `decoder.*` read from `p` (the root of an `nn.Transformer`
    /// `state_dict`, or e.g. `p.sub("transformer")` inside a larger model), or drawn with
    /// each layer's PyTorch default init.
    ///
    /// (`nn.Transformer` additionally re-draws every weight matrix with Xavier-uniform; the
    /// scale is similar and nothing here depends on it.)
    pub fn from_params(p: &Params, config: TransformerConfig) -> Result<Self> {
        let (d, n_enc, n_dec) = (
            config.d_model,
            config.num_encoder_layers,
            config.num_decoder_layers,
        );
        Ok(Transformer {
            encoder: Encoder::from_params(&p.sub("encoder"), n_enc, d, |p| {
                EncoderLayer::from_params(p, &config)
            })?,
            decoder: Decoder::from_params(&p.sub("decoder"), n_dec, d, |p| {
                DecoderLayer::from_params(p, &config)
            })?,
            config,
        })
    }

    /// A Transformer saved by this crate, its sizes read from the tensors' shapes and the
    /// saved settings (nothing to repeat). A PyTorch `state_dict` has no settings for
    /// `num_heads` and `norm_first`: load it with [`Transformer::from_params`] and its config.
    pub fn from_tensors(tensors: &NamedTensors) -> Result<Self> {
        let config = TransformerConfig::from_tensors(tensors)?;
        Transformer::from_params(&Params::load(tensors), config)
    }
}

impl Module for Transformer {
    /// `encoder.*` and `decoder.*` below `prefix`.
    fn parameters_into(&self, prefix: &str, out: &mut NamedTensors) {
        self.encoder.parameters_into(&join(prefix, "encoder"), out);
        self.decoder.parameters_into(&join(prefix, "decoder"), out);
    }

    fn visit_parameters_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ArrayViewMutD<f32>)) {
        self.encoder
            .visit_parameters_mut(&join(prefix, "encoder"), f);
        self.decoder
            .visit_parameters_mut(&join(prefix, "decoder"), f);
    }
}

impl TransformerConfig {
    /// The sizes of a Transformer saved by this crate: d_model, d_ff and the layer counts from
    /// the tensors' shapes and names, `num_heads` and the norm position from its settings.
    pub fn from_tensors(tensors: &NamedTensors) -> Result<Self> {
        let layers = |stack: &str| {
            (0..)
                .take_while(|i| {
                    tensors
                        .get(&format!("{stack}.layers.{i}.norm1.weight"))
                        .is_some()
                })
                .count()
        };
        let first = "encoder.layers.0";
        let d_model = shape_of(tensors, &format!("{first}.norm1.weight"), 1)?[0];
        let d_ff = shape_of(tensors, &format!("{first}.linear1.weight"), 2)?[0];
        let why = "PyTorch's state_dict does not store it: pass a TransformerConfig";
        let num_heads = setting_number(tensors, &format!("{first}.self_attn.num_heads"), why)?;
        let norm_first = tensors.setting(&format!("{first}.norm_first"));
        let norm_position = match norm_first {
            Some("true") => NormPosition::Pre,
            Some("false") => NormPosition::Post,
            other => {
                let name = format!("{first}.norm_first");
                let got = other.unwrap_or("no such setting");
                return Err(Error::value(name, format!("true or false ({why})"), got));
            }
        };
        let config = TransformerConfig {
            d_model,
            num_heads,
            d_ff,
            num_encoder_layers: layers("encoder"),
            num_decoder_layers: layers("decoder"),
            norm_position,
        };
        config.validate()?;
        Ok(config)
    }
}

/// What [`Transformer::backward`] needs from the training forward.
#[derive(Debug, Clone)]
pub struct TransformerCache {
    encoder: StackCache<EncoderLayerCache>,
    decoder: StackCache<DecoderLayerCache>,
}

/// Sizes of a [`Seq2SeqTransformer`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seq2SeqConfig {
    /// The Transformer's sizes.
    pub transformer: TransformerConfig,
    /// Number of source tokens.
    pub src_vocab_size: usize,
    /// Number of target tokens (the generator's output size).
    pub tgt_vocab_size: usize,
    /// Longest sequence the positional table covers.
    pub max_len: usize,
    /// The padding id in both vocabularies (masked out as a key).
    pub pad_id: usize,
}

/// An encoder–decoder language model (translation): embeddings → [`Transformer`] → logits.
///
/// Names (as in PyTorch's "Language Translation with nn.Transformer" tutorial):
/// `src_embedding.weight`, `tgt_embedding.weight`, `transformer.*`, `generator.weight`,
/// `generator.bias`. The sinusoidal positions are fixed, not parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Seq2SeqTransformer {
    /// Source token embeddings `(src_vocab_size, d_model)`.
    pub src_embedding: Embedding,
    /// Target token embeddings `(tgt_vocab_size, d_model)`.
    pub tgt_embedding: Embedding,
    /// Fixed positions `(max_len, d_model)`.
    pub positional: SinusoidalEncoding,
    /// Encoder and decoder.
    pub transformer: Transformer,
    /// Projection to target-vocabulary logits, `(tgt_vocab_size, d_model)`.
    pub generator: Linear,
    /// The sizes it was built with.
    pub config: Seq2SeqConfig,
}

impl Seq2SeqTransformer {
    // ANCHOR: seq2seq_forward
    /// Logits for every target position: `src_ids (batch, src_len)`, `tgt_ids (batch,
    /// tgt_len)` → `(batch, tgt_len, tgt_vocab_size)`.
    ///
    /// Position t's logits predict target token t + 1 (teacher forcing): the decoder sees
    /// `tgt_ids[..=t]` only, through the causal mask.
    pub fn forward(
        &self,
        src_ids: &ArrayRef2<usize>,
        tgt_ids: &ArrayRef2<usize>,
    ) -> Result<Array3<f32>> {
        let (memory, src_mask) = self.encode(src_ids)?; // (batch, src_len, d_model)
        let decoded = self.decode(tgt_ids, &memory, &src_mask)?; // (batch, tgt_len, d_model)
        self.generator.forward(&decoded) // (batch, tgt_len, tgt_vocab_size)
    }

    /// The encoder output ("memory") and the source padding mask `(batch, 1, src_len)`.
    pub fn encode(&self, src_ids: &ArrayRef2<usize>) -> Result<(Array3<f32>, Mask)> {
        let src = self.embed(&self.src_embedding, src_ids)?; // (batch, src_len, d_model)
        let src_mask = Mask::from_token_ids(src_ids, self.config.pad_id)?; // (batch, 1, src_len)
        let memory = self.transformer.encoder.forward(&src, Some(&src_mask))?;
        Ok((memory, src_mask))
    }

    /// Decoder output `(batch, tgt_len, d_model)` for `tgt_ids` given the encoder's memory.
    pub fn decode(
        &self,
        tgt_ids: &ArrayRef2<usize>,
        memory: &ArrayRef3<f32>,
        src_mask: &Mask,
    ) -> Result<Array3<f32>> {
        let tgt = self.embed(&self.tgt_embedding, tgt_ids)?; // (batch, tgt_len, d_model)
        let tgt_mask = self.target_mask(tgt_ids)?; // (batch, tgt_len, tgt_len)
        let decoder = &self.transformer.decoder;
        decoder.forward(&tgt, memory, Some(&tgt_mask), Some(src_mask))
    }

    /// The decoder's self-attention mask: causal, and no attending to target padding.
    pub fn target_mask(&self, tgt_ids: &ArrayRef2<usize>) -> Result<Mask> {
        let causal = Mask::causal(tgt_ids.ncols())?; // (1, tgt_len, tgt_len)
        let tgt_padding = Mask::from_token_ids(tgt_ids, self.config.pad_id)?; // (batch, 1, tgt_len)
        causal.and(&tgt_padding) // (batch, tgt_len, tgt_len)
    }

    /// Token embeddings scaled by √d_model, plus sinusoidal positions: `(batch, seq, d_model)`.
    ///
    /// The scaling is the paper's: its embeddings, shared with the output projection, are
    /// initialised ~N(0, 1/d_model), and × √d_model brings them to the positional encoding's
    /// scale (entries in [−1, 1]). With PyTorch's `nn.Embedding` init N(0, 1), which
    /// [`Embedding`] copies, it makes the tokens ~√d_model times larger than the positions.
    pub fn embed(&self, table: &Embedding, ids: &ArrayRef2<usize>) -> Result<Array3<f32>> {
        let scale = (self.config.transformer.d_model as f32).sqrt();
        let tokens = table.forward_batch(ids)? * scale; // (batch, seq, d_model)
        self.positional.forward(&tokens) // + PE[..seq]
    }
    // ANCHOR_END: seq2seq_forward

    /// Training forward (teacher forcing): the logits of [`Seq2SeqTransformer::forward`]
    /// with dropout after the positions are added (as in PyTorch's translation tutorial) and
    /// inside every layer; keeps what the backward needs.
    pub fn forward_train(
        &self,
        src_ids: &ArrayRef2<usize>,
        tgt_ids: &ArrayRef2<usize>,
        train: &mut Train,
    ) -> Result<(Array3<f32>, Seq2SeqCache)> {
        let (src, src_dropped) = train.drop(self.embed(&self.src_embedding, src_ids)?);
        let (tgt, tgt_dropped) = train.drop(self.embed(&self.tgt_embedding, tgt_ids)?);
        let src_mask = Mask::from_token_ids(src_ids, self.config.pad_id)?; // (batch, 1, src_len)
        let tgt_mask = self.target_mask(tgt_ids)?; // (batch, tgt_len, tgt_len)
        let (decoded, transformer) = (self.transformer).forward_train(
            &src,
            &tgt,
            Some(&src_mask),
            Some(&tgt_mask),
            train,
        )?; // (batch, tgt_len, d_model)
        let logits = self.generator.forward(&decoded)?; // (batch, tgt_len, tgt_vocab_size)
        let cache = Seq2SeqCache {
            src_ids: src_ids.to_owned(),
            tgt_ids: tgt_ids.to_owned(),
            dropped: [src_dropped, tgt_dropped],
            transformer,
            decoded,
        };
        Ok((logits, cache))
    }

    // ANCHOR: seq2seq_backward
    /// Backward of [`Seq2SeqTransformer::forward_train`]: given `d_logits = ∂L/∂logits
    /// (batch, tgt_len, tgt_vocab_size)` (from the loss), adds the gradient of every
    /// parameter to `grads` under its name (see [`Module::parameters`]).
    ///
    /// The forward in reverse: the generator, the Transformer (decoder, then encoder), the
    /// dropout and √d_model scaling of the embeddings (the fixed sinusoidal positions have no
    /// parameters), and the embedding tables, whose gradient lands on the rows of the tokens
    /// in the batch.
    pub fn backward(
        &self,
        cache: &Seq2SeqCache,
        d_logits: &ArrayRef3<f32>,
        grads: &mut Gradients,
    ) -> Result<()> {
        let g = &self.generator;
        let d_decoded = g.backward(&cache.decoded, d_logits, grads, "generator")?;
        let (d_src, d_tgt) =
            (self.transformer).backward(&cache.transformer, &d_decoded, grads, "transformer")?;
        let scale = (self.config.transformer.d_model as f32).sqrt();
        let [src_dropped, tgt_dropped] = &cache.dropped;
        let d_src = apply_mask(d_src, src_dropped.as_ref()) * scale; // ∂L/∂(token vectors)
        let d_tgt = apply_mask(d_tgt, tgt_dropped.as_ref()) * scale;
        let (src_table, tgt_table) = (&self.src_embedding, &self.tgt_embedding);
        src_table.backward(&cache.src_ids, &d_src, grads, "src_embedding")?;
        tgt_table.backward(&cache.tgt_ids, &d_tgt, grads, "tgt_embedding")
    }
    // ANCHOR_END: seq2seq_backward

    /// What decoder layer `layer`'s cross-attention looks at: per-head weights `(heads,
    /// tgt_len, src_len)` for one source and target sequence (eval mode). Row t is the
    /// distribution over source tokens that target position t reads; after training on a
    /// translation it shows the word alignment.
    pub fn cross_attention(
        &self,
        src_ids: &[usize],
        tgt_ids: &[usize],
        layer: usize,
    ) -> Result<ndarray::Array3<f32>> {
        let layers = &self.transformer.decoder.layers;
        if layer >= layers.len() {
            let want = format!("a decoder layer below {}", layers.len());
            return Err(Error::value("layer", want, layer));
        }
        let row = |ids: &[usize], name: &str| {
            Array2::from_shape_vec((1, ids.len()), ids.to_vec())
                .map_err(|_| Error::shape(name, "(len) with len ≥ 1", &[ids.len()]))
        };
        let (src, tgt) = (row(src_ids, "src_ids")?, row(tgt_ids, "tgt_ids")?);
        let (memory, src_mask) = self.encode(&src)?; // (1, src_len, d_model)
        let tgt_mask = self.target_mask(&tgt)?;
        let mut x = self.embed(&self.tgt_embedding, &tgt)?; // (1, tgt_len, d_model)
        for below in &layers[..layer] {
            x = below.forward(&x, &memory, Some(&tgt_mask), Some(&src_mask))?;
        }
        let l = &layers[layer];
        // The cross-attention's queries: after self-attention, as the layer computes them.
        let self_attend = |h: &Array3<f32>| l.self_attn.forward(h, h, h, Some(&tgt_mask));
        let query = match l.norm_position {
            NormPosition::Post => l.norm1.forward(&(self_attend(&x)?.output + &x))?,
            NormPosition::Pre => {
                let h = self_attend(&l.norm1.forward(&x)?)?.output + &x; // x + SelfAttn(LN(x))
                l.norm2.forward(&h)?
            }
        };
        let cross = l
            .cross_attn
            .forward(&query, &memory, &memory, Some(&src_mask))?;
        Ok(cross.weights.index_axis(ndarray::Axis(0), 0).to_owned()) // (heads, tgt, src)
    }

    /// The embeddings, the Transformer and the generator read from `p` (names in the struct
    /// docs) or drawn with PyTorch's default init.
    pub fn from_params(p: &Params, config: Seq2SeqConfig) -> Result<Self> {
        let d = config.transformer.d_model;
        check_vocab(&config)?;
        p.setting("max_len", config.max_len)?;
        p.setting("pad_id", config.pad_id)?;
        Ok(Seq2SeqTransformer {
            src_embedding: Embedding::from_params(
                &p.sub("src_embedding"),
                config.src_vocab_size,
                d,
            )?,
            tgt_embedding: Embedding::from_params(
                &p.sub("tgt_embedding"),
                config.tgt_vocab_size,
                d,
            )?,
            positional: SinusoidalEncoding::new(config.max_len, d)?,
            transformer: Transformer::from_params(&p.sub("transformer"), config.transformer)?,
            generator: Linear::from_params(&p.sub("generator"), d, config.tgt_vocab_size, true)?,
            config,
        })
    }
}

/// What [`Seq2SeqTransformer::backward`] needs from the training forward.
#[derive(Debug, Clone)]
pub struct Seq2SeqCache {
    src_ids: Array2<usize>,
    tgt_ids: Array2<usize>,
    /// Dropout masks on the source and target inputs (embeddings + positions).
    dropped: [Option<Array3<f32>>; 2],
    transformer: TransformerCache,
    /// The decoder's output, the generator's input `(batch, tgt_len, d_model)`.
    decoded: Array3<f32>,
}

impl Module for Seq2SeqTransformer {
    /// The names in the struct docs below `prefix`, and the settings `max_len` and `pad_id`.
    fn parameters_into(&self, prefix: &str, out: &mut NamedTensors) {
        self.src_embedding
            .parameters_into(&join(prefix, "src_embedding"), out);
        self.tgt_embedding
            .parameters_into(&join(prefix, "tgt_embedding"), out);
        self.transformer
            .parameters_into(&join(prefix, "transformer"), out);
        self.generator
            .parameters_into(&join(prefix, "generator"), out);
        out.set_setting(join(prefix, "max_len"), self.config.max_len);
        out.set_setting(join(prefix, "pad_id"), self.config.pad_id);
    }

    fn visit_parameters_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, ArrayViewMutD<f32>)) {
        (self.src_embedding).visit_parameters_mut(&join(prefix, "src_embedding"), f);
        (self.tgt_embedding).visit_parameters_mut(&join(prefix, "tgt_embedding"), f);
        (self.transformer).visit_parameters_mut(&join(prefix, "transformer"), f);
        (self.generator).visit_parameters_mut(&join(prefix, "generator"), f);
    }
}

/// Errors unless both vocabularies are non-empty and hold `pad_id`.
fn check_vocab(config: &Seq2SeqConfig) -> Result<()> {
    for (name, size) in [
        ("src_vocab_size", config.src_vocab_size),
        ("tgt_vocab_size", config.tgt_vocab_size),
    ] {
        if size <= config.pad_id {
            let want = format!("more than pad_id = {} tokens", config.pad_id);
            return Err(Error::value(name, want, size));
        }
    }
    Ok(())
}
