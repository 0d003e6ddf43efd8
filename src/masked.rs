//! Chapter 4 — masked self-attention: who may attend to whom.
//!
//! # The mask convention (one, used everywhere in this crate)
//!
//! A [`Mask`] holds booleans where **`true` means "may attend"** and `false` means "masked
//! out". Attention turns it into the additive matrix M of the chapter (0 where allowed, −∞
//! where masked, see [`Mask::additive`]) and adds it to the scaled scores before softmax, so a
//! masked key gets exactly 0 weight.
//!
//! PyTorch uses the opposite boolean meaning in `nn.MultiheadAttention` and `nn.Transformer`
//! (`True` = *may not* attend); convert at that boundary with [`Mask::from_torch_attn_mask`]
//! and [`Mask::from_torch_key_padding_mask`]. (`F.scaled_dot_product_attention` uses this
//! crate's meaning: [`Mask::new`] takes it as is.)
//!
//! # A fully masked row
//! If a query may attend to no key at all, its softmax row is all −∞. Rather than NaN, this
//! crate defines its weights as all zeros, so that query's output is the zero vector (see
//! [`crate::nn::softmax()`]).
//!
//! # Shapes
//! A mask has shape `(batch, tgt_len, src_len)` where `batch` and `tgt_len` may be 1 and then
//! broadcast: a causal mask is `(1, n, n)` (same for every sequence), a padding mask is
//! `(batch, 1, src_len)` (same for every query). Combine them with [`Mask::and`].
//!
//! ```
//! use attention::masked::Mask;
//!
//! let causal = Mask::causal(3)?;           // (1, 3, 3), lower triangle allowed
//! let padding = Mask::padding(&[3, 2], 3)?; // (2, 1, 3), last key of sequence 1 is padding
//! let both = causal.and(&padding)?;        // (2, 3, 3)
//! assert_eq!(both.shape(), (2, 3, 3));
//! assert!(!both.allowed()[[1, 2, 2]]);     // sequence 1, query 2 may not see the padding
//! # Ok::<(), attention::Error>(())
//! ```

use std::fmt;

use ndarray::{Array2, Array3, ArrayRef2, ArrayView2, ArrayView3, Axis, s};

use crate::error::{Error, Result, fmt_shape};

/// Which keys each query may attend to: `true` = may attend. Shape `(batch, tgt, src)`, where
/// `batch` and `tgt` may be 1 to broadcast.
#[derive(Debug, Clone, PartialEq)]
pub struct Mask {
    allowed: Array3<bool>,
}

impl Mask {
    /// A mask for one sequence from a `(tgt_len, src_len)` matrix, `true` = may attend.
    pub fn new(allowed: Array2<bool>) -> Result<Self> {
        Self::batched(allowed.insert_axis(Axis(0)))
    }

    /// A mask from a `(batch, tgt_len, src_len)` array (`batch` or `tgt_len` may be 1).
    pub fn batched(allowed: Array3<bool>) -> Result<Self> {
        if allowed.is_empty() {
            return Err(Error::shape(
                "allowed",
                "(batch, tgt_len, src_len), every axis ≥ 1",
                allowed.shape(),
            ));
        }
        Ok(Mask { allowed })
    }

    /// The causal (look-ahead) mask for `len` tokens: query i may attend to keys 0..=i.
    ///
    /// ```text
    /// 1 0 0
    /// 1 1 0
    /// 1 1 1
    /// ```
    // ANCHOR: causal
    pub fn causal(len: usize) -> Result<Self> {
        if len == 0 {
            return Err(Error::value("len", "at least 1 token", len));
        }
        let allowed = Array2::from_shape_fn((len, len), |(query, key)| key <= query);
        Self::new(allowed)
    }
    // ANCHOR_END: causal

    /// Padding mask `(batch, 1, src_len)`: sequence b may attend to its first `lengths[b]` keys.
    pub fn padding(lengths: &[usize], src_len: usize) -> Result<Self> {
        if let Some(&bad) = lengths.iter().find(|&&l| l > src_len) {
            let want = format!("every length ≤ src_len = {src_len}");
            return Err(Error::value("lengths", want, bad));
        }
        let allowed =
            Array3::from_shape_fn((lengths.len(), 1, src_len), |(b, _, key)| key < lengths[b]);
        Self::batched(allowed)
    }

    /// Padding mask `(batch, 1, seq)` from token ids: every id equal to `pad_id` is masked out.
    pub fn from_token_ids(ids: &ArrayRef2<usize>, pad_id: usize) -> Result<Self> {
        Self::batched(ids.mapv(|id| id != pad_id).insert_axis(Axis(1)))
    }

    /// Converts PyTorch's boolean `attn_mask` `(tgt, src)` (`True` = may **not** attend).
    pub fn from_torch_attn_mask(disallowed: &ArrayRef2<bool>) -> Result<Self> {
        Self::new(disallowed.mapv(|masked| !masked))
    }

    /// Converts PyTorch's `key_padding_mask` `(batch, src)` (`True` = padding, ignore).
    pub fn from_torch_key_padding_mask(padding: &ArrayRef2<bool>) -> Result<Self> {
        Self::batched(padding.mapv(|pad| !pad).insert_axis(Axis(1)))
    }

    /// The booleans, `(batch | 1, tgt | 1, src)`.
    pub fn allowed(&self) -> ArrayView3<'_, bool> {
        self.allowed.view()
    }

    /// `(batch, tgt, src)` as stored (before broadcasting).
    pub fn shape(&self) -> (usize, usize, usize) {
        self.allowed.dim()
    }

    /// Both masks' permissions at once (logical AND), broadcasting axes of length 1.
    pub fn and(&self, other: &Mask) -> Result<Mask> {
        let (a, b) = (self.shape(), other.shape());
        let broadcast = |x: usize, y: usize| match (x, y) {
            _ if x == y => Some(x),
            (1, _) => Some(y),
            (_, 1) => Some(x),
            _ => None,
        };
        let (Some(batch), Some(tgt), true) = (broadcast(a.0, b.0), broadcast(a.1, b.1), a.2 == b.2)
        else {
            let want = format!("a shape broadcastable with {}", fmt_shape(&[a.0, a.1, a.2]));
            return Err(Error::shape("other", want, &[b.0, b.1, b.2]));
        };
        let lhs = self.allowed.broadcast((batch, tgt, a.2)).expect("checked");
        let rhs = other.allowed.broadcast((batch, tgt, a.2)).expect("checked");
        Self::batched(
            ndarray::Zip::from(&lhs)
                .and(&rhs)
                .map_collect(|&x, &y| x && y),
        )
    }

    /// The additive mask M: 0.0 where allowed, −∞ where masked. Same shape as the mask.
    ///
    /// Attention computes softmax(QKᵀ/√d_k + M): adding −∞ makes exp(·) = 0, so masked keys
    /// get no weight at all.
    pub fn additive(&self) -> Array3<f32> {
        self.allowed
            .mapv(|ok| if ok { 0.0 } else { f32::NEG_INFINITY })
    }

    /// Checks that the mask broadcasts to `(batch, tgt_len, src_len)`; errors name `arg`.
    pub fn check(&self, arg: &str, batch: usize, tgt_len: usize, src_len: usize) -> Result<()> {
        let (b, t, s) = self.shape();
        if (b == 1 || b == batch) && (t == 1 || t == tgt_len) && s == src_len {
            return Ok(());
        }
        let want = format!(
            "(batch, tgt_len, src_len) = ({batch}, {tgt_len}, {src_len}) or 1 on the batch / tgt axes"
        );
        Err(Error::shape(arg, want, &[b, t, s]))
    }

    /// The `(tgt_len, src_len)` mask of sequence `b`, broadcast. Call [`Mask::check`] first.
    pub fn for_sequence(&self, b: usize, tgt_len: usize) -> Array2<bool> {
        let (batch, _, src) = self.shape();
        let item = if batch == 1 { 0 } else { b };
        let matrix = self.allowed.slice(s![item, .., ..]); // (tgt_len | 1, src_len)
        let broadcast = matrix.broadcast((tgt_len, src));
        broadcast
            .expect("mask was checked against the input shapes")
            .to_owned()
    }
}

impl fmt::Display for Mask {
    /// Prints each `(tgt, src)` matrix with 1 = may attend, 0 = masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (b, matrix) in self.allowed.outer_iter().enumerate() {
            if self.shape().0 > 1 {
                writeln!(f, "sequence {b}:")?;
            }
            for row in matrix.rows() {
                let cells: Vec<&str> = row.iter().map(|&ok| if ok { "1" } else { "0" }).collect();
                writeln!(f, "{}", cells.join(" "))?;
            }
        }
        Ok(())
    }
}

/// `scores + M` for one sequence: `(tgt, src)` scores, masked entries become −∞.
///
/// The mask must broadcast to `(1, tgt, src)`.
pub fn apply_mask(scores: &ArrayRef2<f32>, mask: &Mask) -> Result<Array2<f32>> {
    let (tgt, src) = scores.dim();
    mask.check("mask", 1, tgt, src)?;
    let mut masked = scores.to_owned();
    mask_in_place(&mut masked, mask.for_sequence(0, tgt).view());
    Ok(masked)
}

/// Sets every score whose key is not allowed to −∞. `scores` and `allowed`: `(tgt, src)`.
// ANCHOR: mask_in_place
pub(crate) fn mask_in_place(scores: &mut Array2<f32>, allowed: ArrayView2<bool>) {
    ndarray::Zip::from(scores)
        .and(&allowed)
        .for_each(|score, &ok| {
            if !ok {
                *score = f32::NEG_INFINITY;
            }
        });
}
// ANCHOR_END: mask_in_place
