//! Chapter 1, word embeddings: the toy vectors, the dot products and cosines of some pairs,
//! and the scatter and cosine-similarity figures.

use std::fmt::Write as _;

use attention::embedding::{
    Embedding, TOY_SENTENCES, Vocab, cosine_similarity, cosine_similarity_matrix,
};
use attention::ndarray::ArrayView1;
use attention::params::Params;
use attention::plot;
use attention::worked;

use super::{Figure, Numbers, anchors, err, figure, num};

pub fn numbers() -> Result<Numbers, String> {
    Ok(vec![
        ("ch01-ids.md", ids()?),
        ("ch01-vectors.md", vectors()),
        ("ch01-pairs.md", pairs()?),
        ("ch01-quiz.md", quiz()?),
    ])
}

pub fn figures() -> Result<Vec<Figure>, String> {
    let (words, vectors) = worked::toy_embeddings();
    let cos = cosine_similarity_matrix(&vectors).map_err(err)?;
    Ok(vec![
        figure("ch01-scatter", "Toy 2-D word embeddings", |t| {
            plot::embedding_scatter(&vectors, &words, t)
        })?,
        figure("ch01-cosine", "Cosine similarity of every pair", |t| {
            plot::heatmap(&cos, &words, &words, t, Some((-1.0, 1.0)))
        })?,
    ])
}

/// The token ids the prose quotes, one anchor each (`{{#include generated/ch01-ids.md:NAME}}`
/// inside a sentence), from the toy sentences' vocabulary.
fn ids() -> Result<String, String> {
    let vocab = Vocab::from_sentences(TOY_SENTENCES);
    let id = |t: &str| {
        vocab
            .id(t)
            .ok_or_else(|| format!("{t:?} is not in the toy vocabulary"))
    };
    let (pizza, oven) = (id("pizza")?, id("oven")?);
    let mut md = String::new();
    for (name, value) in [
        ("lets_go", format!("{:?}", vocab.encode("Let's go"))),
        ("pizza", pizza.to_string()),
        ("oven", oven.to_string()),
        ("pizza_plus_oven", (pizza + oven).to_string()),
    ] {
        writeln!(
            md,
            "<!-- ANCHOR: {name} -->\n{value}\n<!-- ANCHOR_END: {name} -->"
        )
        .unwrap();
    }
    Ok(md)
}

/// The toy embedding table.
fn vectors() -> String {
    let (words, v) = worked::toy_embeddings();
    let mut md = String::from("| word | dimension 0 | dimension 1 |\n|---|---:|---:|\n");
    for (w, row) in words.iter().zip(v.rows()) {
        writeln!(md, "| {w} | {:.2} | {:.2} |", row[0], row[1]).unwrap();
    }
    md
}

/// Dot product, lengths and cosine of some pairs, and of one vector doubled.
fn pairs() -> Result<String, String> {
    let (words, v) = worked::toy_embeddings();
    let mut md = String::from("| pair | a · b | ‖a‖ | ‖b‖ | cosine |\n|---|---:|---:|---:|---:|\n");
    let mut row = |name: String, a: ArrayView1<f32>, b: ArrayView1<f32>| -> Result<(), String> {
        let cos = cosine_similarity(&a, &b).map_err(err)?;
        let cells = [a.dot(&b), a.dot(&a).sqrt(), b.dot(&b).sqrt(), cos].map(num);
        writeln!(md, "| {name} | {} |", cells.join(" | ")).unwrap();
        Ok(())
    };
    for (i, j) in [(0, 1), (0, 2), (3, 4), (0, 3), (0, 5), (5, 6)] {
        row(format!("{} · {}", words[i], words[j]), v.row(i), v.row(j))?;
    }
    // The same direction, twice as long: the dot product doubles, the cosine does not move.
    let double = v.row(1).mapv(|x| 2.0 * x);
    row(
        format!("{} · (2 × {})", words[0], words[1]),
        v.row(0),
        double.view(),
    )?;
    Ok(md)
}

/// The quiz's experiments (notebook 01, cells "Quiz: a repeated word" and "Quiz: unknown
/// words"): the ids and rows of a sentence with a word twice, and of two unseen words.
fn quiz() -> Result<String, String> {
    let vocab = Vocab::from_sentences(TOY_SENTENCES);
    let table = Embedding::from_params(&Params::seeded(0), vocab.len(), 4).map_err(err)?;
    let repeated = vocab.encode("let's go let's");
    let x = table.forward(&repeated).map_err(err)?; // (3, 4)
    let unknown = vocab.encode("pineapple banana");
    let y = table.forward(&unknown).map_err(err)?; // (2, 4)
    Ok(anchors(&[
        ("repeated_ids", format!("{repeated:?}")),
        ("repeated_equal", (x.row(0) == x.row(2)).to_string()),
        ("unknown_ids", format!("{unknown:?}")),
        ("unknown_equal", (y.row(0) == y.row(1)).to_string()),
    ]))
}
