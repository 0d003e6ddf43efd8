//! Chapter 11: cluster the course's sentences by meaning with a real pretrained encoder.
//!
//! ```sh
//! cargo xtask setup                 # once: installs all-MiniLM-L6-v2 into models/
//! cargo run --release --example cluster_sentences
//! ```
//!
//! Encodes `data/sentences/sentences.tsv` with all-MiniLM-L6-v2, runs k-means with k = the
//! number of topics, prints every cluster with its sentences and the purity, then answers
//! the course's questions (`data/sentences/queries.tsv`) by semantic search.

use std::time::Instant;

use attention::bert::SentenceEncoder;
use attention::bert::cluster::{kmeans, purity, top_k_similar};
use attention::bert::data::{course_queries, course_sentences, topic_labels};

fn main() -> Result<(), attention::Error> {
    let start = Instant::now();
    let encoder = SentenceEncoder::load()?;
    println!(
        "loaded all-MiniLM-L6-v2 in {:.1} s",
        start.elapsed().as_secs_f64()
    );

    let course = course_sentences()?;
    let topics: Vec<String> = course.iter().map(|(t, _)| t.clone()).collect();
    let (labels, names) = topic_labels(&topics);
    let texts: Vec<&str> = course.iter().map(|(_, s)| s.as_str()).collect();
    let start = Instant::now();
    let vectors = encoder.encode(&texts)?.vectors; // (n, 384), unit length
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "encoded {} sentences in {seconds:.2} s ({:.0} sentences/s)\n",
        texts.len(),
        texts.len() as f64 / seconds
    );

    let clusters = kmeans(&vectors, names.len(), 0)?;
    for c in 0..names.len() {
        println!("cluster {c}:");
        for (i, _) in clusters
            .assignments
            .iter()
            .enumerate()
            .filter(|(_, a)| **a == c)
        {
            println!("  [{:>9}] {}", names[labels[i]], texts[i]);
        }
    }
    let purity = purity(&clusters.assignments, &labels)?;
    println!(
        "\npurity {:.1} % (k = {}, {} sentences, {} k-means iterations)\n",
        purity * 100.0,
        names.len(),
        texts.len(),
        clusters.iterations
    );

    println!("semantic search:");
    for (question, topic) in course_queries()? {
        let q = encoder.encode(&[question.as_str()])?.vectors;
        let (best, cosine) = top_k_similar(&q.row(0), &vectors, 1)[0];
        let mark = if names[labels[best]] == topic {
            "✓"
        } else {
            "✗"
        };
        println!(
            "  {question}\n    → {} (cosine {cosine:.2}, {} {mark})",
            texts[best], names[labels[best]]
        );
    }
    Ok(())
}
