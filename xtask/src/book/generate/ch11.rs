//! Chapter 11, encoder-only with real pretrained weights (all-MiniLM-L6-v2, installed by
//! `cargo xtask setup`): WordPiece tokens of a few texts, the checkpoint's parameters, the
//! check against sentence-transformers (the committed fixtures), "bank" in four sentences,
//! the course's sentences clustered (cosines, k-means, purity, PCA), semantic search, what
//! the heads attend to, and the speed against sentence-transformers (from
//! `benches/results.json`, written by `cargo xtask bench-torch`).

use std::fmt::Write as _;
use std::sync::OnceLock;

use attention::bench_results::{BenchResults, RESULTS_PATH};
use attention::bert::cluster::{
    KMeans, Pca2, cosine_matrix, kmeans, pca_2d, purity, top_k_similar,
};
use attention::bert::data::{course_queries, course_sentences, topic_labels};
use attention::bert::figures::cluster_scatter;
use attention::bert::tokenizer::MAX_LEN;
use attention::bert::{SentenceEncoder, l2_normalize};
use attention::ndarray::Array2;
use attention::plot::heatmap;
use attention::weights::NamedTensors;
use serde_json::Value;

use crate::util::root;

use super::{Figure, Numbers, anchors, err, figure};

mod heads;

use heads::{Heads, heads_figure, typical_heads};

/// The seed of k-means (its k-means++ initialisation).
const KMEANS_SEED: u64 = 0;
/// The sentence whose attention maps the chapter shows.
const HEADS_SENTENCE: &str = "The striker curled the free kick into the top corner.";
/// "bank" in two rivers and two banks.
const BANK_SENTENCES: [&str; 4] = [
    "We had a picnic on the bank of the river.",
    "The fisherman sat all day on the muddy bank.",
    "I opened a savings account at the bank.",
    "The bank approved my loan on Friday.",
];
/// Texts whose WordPiece tokens the chapter shows.
const TOKEN_TEXTS: [&str; 4] = [
    "Attention is all you need.",
    "Tokenization isn't unaffable!",
    "The café's naïve façade 🤖",
    "Transformers transform transcripts.",
];

/// What several tables and figures share, computed once: the model, the course's
/// sentences, their vectors, the clustering, the projection, "bank" and the heads.
struct Analysis {
    encoder: SentenceEncoder,
    sentences: Vec<String>,
    labels: Vec<usize>,
    topics: Vec<String>,
    vectors: Array2<f32>,
    clusters: KMeans,
    purity: f32,
    pca: Pca2,
    /// The "bank" table and the river–loan cosine.
    bank: (String, f32),
    heads: Heads,
}

fn analysis() -> Result<&'static Analysis, String> {
    static ANALYSIS: OnceLock<Result<Analysis, String>> = OnceLock::new();
    ANALYSIS.get_or_init(compute).as_ref().map_err(Clone::clone)
}

fn compute() -> Result<Analysis, String> {
    let encoder = SentenceEncoder::load().map_err(err)?;
    let course = course_sentences().map_err(err)?;
    let topic_names: Vec<String> = course.iter().map(|(t, _)| t.clone()).collect();
    let (labels, topics) = topic_labels(&topic_names);
    let sentences: Vec<String> = course.into_iter().map(|(_, s)| s).collect();
    let texts: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let vectors = encoder.encode(&texts).map_err(err)?.vectors; // (n, 384)
    let clusters = kmeans(&vectors, topics.len(), KMEANS_SEED).map_err(err)?;
    let purity = purity(&clusters.assignments, &labels).map_err(err)?;
    let pca = pca_2d(&vectors).map_err(err)?;
    let bank = bank_table(&encoder)?;
    let heads = typical_heads(&encoder, &sentences)?;
    Ok(Analysis {
        encoder,
        sentences,
        labels,
        topics,
        vectors,
        clusters,
        purity,
        pca,
        bank,
        heads,
    })
}

pub fn numbers() -> Result<Numbers, String> {
    let a = analysis()?;
    Ok(vec![
        ("ch11-tokens.md", tokens_table(a)?),
        ("ch11-parameters.md", parameters(a)),
        ("ch11-check.md", fixture_check(a)?),
        ("ch11-bank.md", a.bank.0.clone()),
        ("ch11-clusters.md", clusters_table(a)),
        ("ch11-search.md", search_table(a)?),
        ("ch11-heads.md", a.heads.table.clone()),
        ("ch11-speed.md", speed_table()?),
        ("ch11-quiz.md", quiz(a)?),
    ])
}

pub fn figures() -> Result<Vec<Figure>, String> {
    let a = analysis()?;
    Ok(vec![
        figure(
            "ch11-cosine",
            "Cosine similarity of the course's sentences, ordered by topic",
            |t| {
                let names = sentence_names(a);
                heatmap(
                    &cosine_matrix(&a.vectors),
                    &names,
                    &names,
                    t,
                    Some((-0.2, 1.0)),
                )
            },
        )?,
        figure(
            "ch11-pca",
            "The course's sentences projected on two principal components, coloured by k-means cluster",
            |t| {
                let names = cluster_names(a);
                cluster_scatter(
                    &a.pca.projected,
                    &a.clusters.assignments,
                    &names,
                    &a.sentences,
                    t,
                )
            },
        )?,
        figure("ch11-heads", "Four heads of all-MiniLM-L6-v2", |t| {
            heads_figure(&a.encoder, &a.heads, t)
        })?,
    ])
}

/// `"cooking 3"`: a sentence's topic and its number within the topic.
fn sentence_names(a: &Analysis) -> Vec<String> {
    let mut seen = vec![0; a.topics.len()];
    a.labels
        .iter()
        .map(|&l| {
            seen[l] += 1;
            format!("{} {}", a.topics[l], seen[l])
        })
        .collect()
}

/// `"cluster 2 (mostly music)"` for every cluster.
fn cluster_names(a: &Analysis) -> Vec<String> {
    let counts = cluster_topic_counts(a);
    (0..a.topics.len())
        .map(|c| {
            let best = (0..a.topics.len()).max_by_key(|&t| (counts[[c, t]], std::cmp::Reverse(t)));
            format!("cluster {c} (mostly {})", a.topics[best.unwrap_or(0)])
        })
        .collect()
}

/// `(cluster, topic)` → number of sentences.
fn cluster_topic_counts(a: &Analysis) -> Array2<usize> {
    let k = a.topics.len();
    let mut counts = Array2::zeros((k, k));
    for (&c, &t) in a.clusters.assignments.iter().zip(&a.labels) {
        counts[[c, t]] += 1;
    }
    counts
}

fn code(token: &str) -> String {
    format!("`{}`", token.replace('`', "'"))
}

/// Texts, their pieces and ids.
fn tokens_table(a: &Analysis) -> Result<String, String> {
    let tok = &a.encoder.tokenizer;
    let mut md = String::from("| text | WordPiece tokens | ids |\n|---|---|---|\n");
    for text in TOKEN_TEXTS {
        let e = tok.encode(text, MAX_LEN).map_err(err)?;
        let pieces: Vec<String> = e.tokens.iter().map(|t| code(t)).collect();
        let ids: Vec<String> = e.ids.iter().map(usize::to_string).collect();
        writeln!(md, "| {text} | {} | {} |", pieces.join(" "), ids.join(" ")).unwrap();
    }
    writeln!(
        md,
        "\nThe vocabulary has {} entries; accents are gone (*café* → `cafe`), the apostrophe is \
         a word of its own, and the emoji, absent from the vocabulary, is `[UNK]`.",
        tok.len()
    )
    .unwrap();
    Ok(md)
}

/// The checkpoint's parameters, part by part.
fn parameters(a: &Analysis) -> String {
    let bert = &a.encoder.bert;
    let c = &bert.config;
    let (d, ff) = (c.hidden_size, c.intermediate_size);
    let emb = &bert.embeddings;
    let embedding_params = emb.word_embeddings.weight.len()
        + emb.position_embeddings.weight.len()
        + emb.token_type_embeddings.weight.len()
        + 2 * d;
    let layer_params = 4 * (d * d + d) + (d * ff + ff) + (ff * d + d) + 4 * d;
    let mut md =
        String::from("| part | checkpoint names | shape | parameters |\n|---|---|---|---:|\n");
    let rows = [
        (
            "token embeddings",
            "`embeddings.word_embeddings`",
            format!("({}, {d})", c.vocab_size),
            emb.word_embeddings.weight.len(),
        ),
        (
            "positions",
            "`embeddings.position_embeddings`",
            format!("({}, {d})", c.max_position_embeddings),
            emb.position_embeddings.weight.len(),
        ),
        (
            "token types",
            "`embeddings.token_type_embeddings`",
            format!("({}, {d})", c.type_vocab_size),
            emb.token_type_embeddings.weight.len(),
        ),
        (
            "embedding LayerNorm",
            "`embeddings.LayerNorm`",
            format!("({d}) ×2"),
            2 * d,
        ),
        (
            "one layer",
            "`encoder.layer.0.*`",
            format!("W_q, W_k, W_v, W_o ({d}, {d}); FFN ({ff}, {d}), ({d}, {ff})"),
            layer_params,
        ),
        (
            "all layers",
            "`encoder.layer.*`",
            format!(
                "{} layers, {} heads of {}",
                c.num_hidden_layers,
                c.num_attention_heads,
                d / c.num_attention_heads
            ),
            c.num_hidden_layers * layer_params,
        ),
    ];
    for (part, names, shape, n) in rows {
        writeln!(md, "| {part} | {names} | {shape} | {} |", thousands(n)).unwrap();
    }
    let total = embedding_params + c.num_hidden_layers * layer_params;
    writeln!(md, "| **total** | | | **{}** |", thousands(total)).unwrap();
    writeln!(
        md,
        "\nThe file also holds `pooler.dense` (a layer on `[CLS]` that sentence-transformers does \
         not use) and `embeddings.position_ids` (the constant 0 … 511), which the loader skips."
    )
    .unwrap();
    md
}

/// `22713216` → `"22,713,216"`.
fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn max_abs_diff<'a>(
    a: impl IntoIterator<Item = &'a f32>,
    b: impl IntoIterator<Item = &'a f32>,
) -> f32 {
    a.into_iter()
        .zip(b)
        .fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

fn json_usizes(v: &Value) -> Vec<usize> {
    v.as_array().map_or(Vec::new(), |a| {
        a.iter()
            .filter_map(Value::as_u64)
            .map(|x| x as usize)
            .collect()
    })
}

/// The crate on the committed sentence-transformers fixtures: largest differences.
fn fixture_check(a: &Analysis) -> Result<String, String> {
    let dir = root().join("tests/fixtures");
    let text = std::fs::read_to_string(dir.join("minilm.json")).map_err(|e| e.to_string())?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let fixture = NamedTensors::from_json_str(&text).map_err(err)?;
    let hidden = NamedTensors::from_safetensors_file(dir.join("minilm_hidden_states.safetensors"))
        .map_err(err)?;
    let rows: Vec<Vec<usize>> = doc["config"]["batch_ids"]
        .as_array()
        .ok_or("batch_ids")?
        .iter()
        .map(json_usizes)
        .collect();
    let lengths = json_usizes(&doc["config"]["batch_lengths"]);
    let ids = Array2::from_shape_fn((rows.len(), rows[0].len()), |(b, t)| rows[b][t]);
    let out = a.encoder.bert.forward(&ids, &lengths).map_err(err)?;
    let mut md = String::from("| output | shape | largest difference |\n|---|---|---:|\n");
    for (i, actual) in out.hidden_states.iter().enumerate() {
        let want = hidden
            .get(&format!("hidden_states.{i}"))
            .ok_or("hidden state missing")?;
        let name = if i == 0 {
            "embeddings (after their LayerNorm)".to_string()
        } else {
            format!("layer {i}")
        };
        let shape: Vec<String> = actual.shape().iter().map(usize::to_string).collect();
        writeln!(
            md,
            "| {name} | ({}) | {:.1e} |",
            shape.join(", "),
            max_abs_diff(actual, want)
        )
        .unwrap();
    }
    let texts: Vec<String> = doc["config"]["texts"]
        .as_array()
        .ok_or("texts")?
        .iter()
        .filter_map(|t| t.as_str().map(String::from))
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let embedded = a.encoder.encode(&refs).map_err(err)?;
    let want_e = fixture.get("embeddings").ok_or("embeddings")?;
    let want_c = fixture.get("cosine").ok_or("cosine")?;
    let cosine = cosine_matrix(&embedded.vectors);
    writeln!(
        md,
        "| sentence embeddings of {} texts | ({}, {}) | {:.1e} |",
        texts.len(),
        texts.len(),
        embedded.vectors.ncols(),
        max_abs_diff(&embedded.vectors, want_e)
    )
    .unwrap();
    writeln!(
        md,
        "| their cosine similarities | ({0}, {0}) | {1:.1e} |",
        texts.len(),
        max_abs_diff(&cosine, want_c)
    )
    .unwrap();
    let cut = embedded.truncated.iter().filter(|&&t| t).count();
    writeln!(
        md,
        "\nEvery layer within 1e-4, cosines within 1e-5 (`tests/bert.rs`); {cut} of the texts \
         was longer than {MAX_LEN} tokens and was cut there, on both sides. The differences \
         grow with depth because float32 rounding differs between the two implementations' \
         sums, and each layer passes its rounding on."
    )
    .unwrap();
    Ok(md)
}

/// The cosine table of "bank" in [`BANK_SENTENCES`], and the river–loan cosine.
fn bank_table(encoder: &SentenceEncoder) -> Result<(String, f32), String> {
    let vectors: Vec<_> = BANK_SENTENCES
        .iter()
        .map(|s| encoder.word_vector(s, "bank"))
        .collect::<attention::Result<_>>()
        .map_err(err)?;
    let d = vectors[0].len();
    let mut stacked = Array2::zeros((vectors.len(), d));
    for (mut row, v) in stacked.outer_iter_mut().zip(&vectors) {
        row.assign(v);
    }
    let cos = cosine_matrix(&l2_normalize(&stacked));
    let mut md = String::from("| *bank* in … | 1 | 2 | 3 | 4 |\n|---|---:|---:|---:|---:|\n");
    for (i, s) in BANK_SENTENCES.iter().enumerate() {
        let cells: Vec<String> = cos.row(i).iter().map(|c| format!("{c:.2}")).collect();
        writeln!(md, "| {} {s} | {} |", i + 1, cells.join(" | ")).unwrap();
    }
    // Sentences 1-2 are rivers, 3-4 money: is every same-sense cosine above every other?
    let same = |i: usize, j: usize| (i < 2) == (j < 2);
    let (mut lowest_same, mut highest_other) = (f32::INFINITY, f32::NEG_INFINITY);
    for i in 0..4 {
        for j in (0..4).filter(|&j| j != i) {
            if same(i, j) {
                lowest_same = lowest_same.min(cos[[i, j]]);
            } else {
                highest_other = highest_other.max(cos[[i, j]]);
            }
        }
    }
    let verdict = if lowest_same > highest_other {
        "Every *bank* is closer to the other *bank* of the same sense than to either of the \
         other sense"
    } else {
        "The senses overlap: some *bank* is as close to the other sense as to its own"
    };
    writeln!(
        md,
        "\n{verdict} (same sense: at least {lowest_same:.2}; different senses: at most \
         {highest_other:.2})."
    )
    .unwrap();
    Ok((md, cos[[0, 3]]))
}

/// Purity and the cluster × topic counts.
fn clusters_table(a: &Analysis) -> String {
    let counts = cluster_topic_counts(a);
    let mut md = format!("| cluster | {} |\n|---|", a.topics.join(" | "));
    md.push_str(&"---:|".repeat(a.topics.len()));
    md.push('\n');
    for c in 0..a.topics.len() {
        let cells: Vec<String> = counts
            .row(c)
            .iter()
            .map(|n| if *n == 0 { "·".into() } else { n.to_string() })
            .collect();
        writeln!(md, "| {c} | {} |", cells.join(" | ")).unwrap();
    }
    writeln!(
        md,
        "\nk-means with k = {} (seed {KMEANS_SEED}, k-means++, best of its restarts) on the {} \
         sentence vectors: **purity {:.1} %** ({} of {} sentences in a cluster whose majority \
         is their topic), after {} iterations.",
        a.topics.len(),
        a.sentences.len(),
        a.purity * 100.0,
        (a.purity * a.sentences.len() as f32).round(),
        a.sentences.len(),
        a.clusters.iterations
    )
    .unwrap();
    writeln!(
        md,
        "\nThe two principal components of the figure below explain {:.0} % and {:.0} % of the \
         variance.",
        a.pca.explained[0] * 100.0,
        a.pca.explained[1] * 100.0
    )
    .unwrap();
    md
}

/// Each course question, its best sentence and cosine.
fn search_table(a: &Analysis) -> Result<String, String> {
    let queries = course_queries().map_err(err)?;
    let texts: Vec<&str> = queries.iter().map(|(q, _)| q.as_str()).collect();
    let q = a.encoder.encode(&texts).map_err(err)?.vectors;
    let mut md =
        String::from("| question | best sentence | cosine | topic |\n|---|---|---:|---|\n");
    for (i, (query, topic)) in queries.iter().enumerate() {
        let best = top_k_similar(&q.row(i), &a.vectors, 1);
        let (j, cos) = best[0];
        let found = &a.topics[a.labels[j]];
        let mark = if found == topic { "✓" } else { "✗" };
        writeln!(
            md,
            "| {query} | {} | {cos:.2} | {found} {mark} |",
            a.sentences[j]
        )
        .unwrap();
    }
    Ok(md)
}

/// The sentence-embedding case of `benches/results.json`.
fn speed_table() -> Result<String, String> {
    let results = BenchResults::load(root().join(RESULTS_PATH)).map_err(err)?;
    let case = results
        .cases
        .iter()
        .find(|c| c.group == "sentences")
        .ok_or("benches/results.json has no `sentences/...` case: run `cargo xtask bench-torch`")?;
    let mut md = String::from(
        "| | sentence-transformers (PyTorch) | this crate, default | this crate, `blas` |\n|---|---:|---:|---:|\n",
    );
    let blas = case.blas_ms.map_or("–".into(), |b| {
        format!("{b:.1} ms ({:.2}×)", b / case.torch_ms)
    });
    writeln!(
        md,
        "| {} sentences | {:.1} ms | {:.1} ms ({:.2}×) | {blas} |",
        case.batch,
        case.torch_ms,
        case.default_ms,
        case.default_ms / case.torch_ms
    )
    .unwrap();
    writeln!(
        md,
        "\n{} sentences per second with the faster build, measured on {} ({}, {} threads).",
        (case.batch as f64 / case.best_ms() * 1000.0).round(),
        results.date.as_deref().unwrap_or("?"),
        results.machine,
        results.threads
    )
    .unwrap();
    Ok(md)
}

fn quiz(a: &Analysis) -> Result<String, String> {
    let wordpiece = std::fs::read_to_string(root().join("tests/fixtures/wordpiece.json"))
        .map_err(|e| e.to_string())?;
    let wordpiece: Value = serde_json::from_str(&wordpiece).map_err(|e| e.to_string())?;
    let cases = wordpiece["cases"].as_array().map_or(0, Vec::len);
    let bank = a.bank.1;
    let purity = format!(
        "{:.1} % of the sentences share their cluster with the majority of their topic",
        a.purity * 100.0
    );
    Ok(anchors(&[
        ("wordpiece_cases", thousands(cases)),
        ("sentences", a.sentences.len().to_string()),
        ("topics", a.topics.len().to_string()),
        ("bank_cosine", format!("{bank:.2}")),
        ("purity", purity),
    ]))
}
