//! What the heads of all-MiniLM-L6-v2 attend to: each head's mean share of attention on
//! `[CLS]`, `[SEP]`, itself, the previous and the next token over the course's sentences,
//! the most typical head of each habit, and four of them drawn on one sentence.

use std::fmt::Write as _;

use attention::bert::tokenizer::MAX_LEN;
use attention::ndarray::{Array2, Array3, Axis, s};
use attention::plot::side_by_side_heatmaps;

use super::super::err;
use super::{Analysis, HEADS_SENTENCE};

/// Per layer and head: the mean share of attention on [CLS], on [SEP], on itself, on the
/// previous and on the next token, over every real token of the course's sentences.
fn head_shares(a: &Analysis) -> Result<Array3<f32>, String> {
    let texts: Vec<&str> = a.sentences.iter().map(String::as_str).collect();
    let batch = a
        .encoder
        .tokenizer
        .encode_batch(&texts, MAX_LEN)
        .map_err(err)?;
    let bert = &a.encoder.bert;
    let (layers, heads) = (bert.layers.len(), bert.config.num_attention_heads);
    let mut shares = Array3::zeros((layers, heads, 5));
    for l in 0..layers {
        let w = bert
            .attention_weights(&batch.ids, &batch.lengths, l)
            .map_err(err)?; // (b, h, s, s)
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

/// The most typical head of each pattern: `(layer, head, share)`, and the table.
/// A head and the habit it shows most: `(layer, head, index into PATTERNS)`.
type Typical = (usize, usize, usize);

pub(super) fn heads_table(a: &Analysis) -> Result<(String, Vec<Typical>), String> {
    let shares = head_shares(a)?;
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
    Ok((md, chosen))
}

/// Four of the typical heads on [`HEADS_SENTENCE`].
pub(super) fn heads_figure(
    a: &Analysis,
    title: &str,
) -> attention::Result<attention::plotly::Plot> {
    let (_, chosen) = heads_table(a).map_err(|e| attention::Error::value("heads", "a table", e))?;
    let e = a.encoder.tokenizer.encode(HEADS_SENTENCE, MAX_LEN)?;
    let n = e.ids.len();
    let ids = Array2::from_shape_vec((1, n), e.ids.clone()).expect("one row");
    // [SEP], itself, previous, next: four different habits.
    let picks: Vec<Typical> = chosen.into_iter().filter(|&(_, _, k)| k != 0).collect();
    let mut maps = Array3::zeros((picks.len(), n, n));
    let mut names = Vec::new();
    for (i, &(l, h, k)) in picks.iter().enumerate() {
        let w = a.encoder.bert.attention_weights(&ids, &[n], l)?;
        maps.index_axis_mut(Axis(0), i)
            .assign(&w.slice(s![0, h, .., ..]));
        names.push(format!("{l}.{h}: {}", PATTERNS[k].replace('`', "")));
    }
    side_by_side_heatmaps(&maps, &names, &e.tokens, &e.tokens, title)
}
