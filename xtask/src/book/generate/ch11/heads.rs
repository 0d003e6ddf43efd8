//! What the heads of all-MiniLM-L6-v2 attend to: each head's mean share of attention on
//! `[CLS]`, `[SEP]`, itself, the previous and the next token over the course's sentences,
//! the most typical head of each habit, and four of them drawn on one sentence.

use std::fmt::Write as _;

use attention::bert::tokenizer::MAX_LEN;
use attention::ndarray::{Array2, Array3, Axis, s};
use attention::plot::side_by_side_heatmaps;

use attention::bert::SentenceEncoder;

use super::super::err;
use super::HEADS_SENTENCE;

/// Per layer and head: the mean share of attention on [CLS], on [SEP], on itself, on the
/// previous and on the next token, over every real token of `sentences`.
fn head_shares(encoder: &SentenceEncoder, sentences: &[String]) -> Result<Array3<f32>, String> {
    let texts: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let batch = encoder
        .tokenizer
        .encode_batch(&texts, MAX_LEN)
        .map_err(err)?;
    let bert = &encoder.bert;
    let (layers, heads) = (bert.layers.len(), bert.config.num_attention_heads);
    let all = bert
        .all_attention_weights(&batch.ids, &batch.lengths)
        .map_err(err)?; // per layer (b, h, s, s)
    let mut shares = Array3::zeros((layers, heads, 5));
    for (l, w) in all.iter().enumerate() {
        for h in 0..heads {
            let mut sum = [0.0_f32; 5];
            let mut n = 0.0;
            for (b, &len) in batch.lengths.iter().enumerate() {
                let m = w.slice(s![b, h, ..len, ..len]);
                for q in 0..len {
                    sum[0] += m[[q, 0]];
                    sum[1] += m[[q, len - 1]];
                    sum[2] += m[[q, q]];
                    sum[3] += if q > 0 { m[[q, q - 1]] } else { 0.0 };
                    sum[4] += if q + 1 < len { m[[q, q + 1]] } else { 0.0 };
                    n += 1.0;
                }
            }
            for (k, v) in sum.iter().enumerate() {
                shares[[l, h, k]] = v / n;
            }
        }
    }
    Ok(shares)
}

const PATTERNS: [&str; 5] = [
    "`[CLS]`",
    "`[SEP]`",
    "itself",
    "the previous token",
    "the next token",
];

/// A head and the habit it shows most: `(layer, head, index into PATTERNS)`.
type Typical = (usize, usize, usize);

/// The most typical head of each habit, and their table.
pub(super) struct Heads {
    /// The markdown table.
    pub table: String,
    /// One head per entry of [`PATTERNS`].
    chosen: Vec<Typical>,
}

/// The most typical head of each pattern over `sentences`, and the table.
pub(super) fn typical_heads(
    encoder: &SentenceEncoder,
    sentences: &[String],
) -> Result<Heads, String> {
    let shares = head_shares(encoder, sentences)?;
    let (layers, heads, _) = shares.dim();
    let mut md = String::from(
        "| attends most to | head (layer.head) | mean share | how many heads give it > 50 % |\n|---|---|---:|---:|\n",
    );
    let mut chosen = Vec::new();
    for (k, pattern) in PATTERNS.iter().enumerate() {
        let mut best = (0, 0);
        for l in 0..layers {
            for h in 0..heads {
                if shares[[l, h, k]] > shares[[best.0, best.1, k]] {
                    best = (l, h);
                }
            }
        }
        let many = shares
            .index_axis(Axis(2), k)
            .iter()
            .filter(|&&v| v > 0.5)
            .count();
        writeln!(
            md,
            "| {pattern} | {}.{} | {:.0} % | {many} of {} |",
            best.0,
            best.1,
            shares[[best.0, best.1, k]] * 100.0,
            layers * heads
        )
        .unwrap();
        chosen.push((best.0, best.1, k));
    }
    Ok(Heads { table: md, chosen })
}

/// Four of the typical heads on [`HEADS_SENTENCE`].
pub(super) fn heads_figure(
    encoder: &SentenceEncoder,
    heads: &Heads,
    title: &str,
) -> attention::Result<attention::plotly::Plot> {
    let e = encoder.tokenizer.encode(HEADS_SENTENCE, MAX_LEN)?;
    let n = e.ids.len();
    let ids = Array2::from_shape_vec((1, n), e.ids.clone()).expect("one row");
    let all = encoder.bert.all_attention_weights(&ids, &[n])?; // per layer (1, h, n, n)
    // [CLS], itself, previous, next: four different habits ([SEP] is the weakest here).
    let picks: Vec<Typical> = (heads.chosen.iter().copied())
        .filter(|&(_, _, k)| k != 1)
        .collect();
    let mut maps = Array3::zeros((picks.len(), n, n));
    let mut names = Vec::new();
    for (i, &(l, h, k)) in picks.iter().enumerate() {
        maps.index_axis_mut(Axis(0), i)
            .assign(&all[l].slice(s![0, h, .., ..]));
        names.push(format!("{l}.{h}: {}", PATTERNS[k].replace('`', "")));
    }
    side_by_side_heatmaps(&maps, &names, &e.tokens, &e.tokens, title)
}
