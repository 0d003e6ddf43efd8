//! The course's sentences: 48 short sentences on 6 topics and 6 search queries, written for
//! chapter 11 (`data/sentences/`, see its README). Compiled into the crate with
//! `include_str!`, so notebooks and the book read them without a path.
//!
//! ```
//! use attention::bert::data::{course_sentences, topic_labels};
//!
//! let pairs = course_sentences()?; // (topic, sentence)
//! let topics: Vec<String> = pairs.iter().map(|(t, _)| t.clone()).collect();
//! let (labels, names) = topic_labels(&topics);
//! assert_eq!(names[0], "cooking");
//! assert_eq!(labels.len(), pairs.len());
//! # Ok::<(), attention::Error>(())
//! ```

use crate::error::{Error, Result};

/// `data/sentences/sentences.tsv`: header `topic\tsentence`, then one sentence a line.
const SENTENCES_TSV: &str = include_str!("../../data/sentences/sentences.tsv");

/// `data/sentences/queries.tsv`: header `query\tanswer_topic`, then one query a line.
const QUERIES_TSV: &str = include_str!("../../data/sentences/queries.tsv");

/// The course's sentences as `(topic, sentence)` pairs, in file order (8 per topic).
pub fn course_sentences() -> Result<Vec<(String, String)>> {
    read_tsv(
        "data/sentences/sentences.tsv",
        SENTENCES_TSV,
        "topic\tsentence",
    )
}

/// The course's search queries as `(query, answer_topic)` pairs, one per topic.
pub fn course_queries() -> Result<Vec<(String, String)>> {
    read_tsv(
        "data/sentences/queries.tsv",
        QUERIES_TSV,
        "query\tanswer_topic",
    )
}

/// Topic names → label numbers `0, 1, …` in order of first appearance, and the names by
/// label: `["b", "a", "b"]` → `([0, 1, 0], ["b", "a"])`.
pub fn topic_labels(topics: &[String]) -> (Vec<usize>, Vec<String>) {
    let mut names: Vec<String> = Vec::new();
    let labels = topics
        .iter()
        .map(|t| match names.iter().position(|n| n == t) {
            Some(i) => i,
            None => {
                names.push(t.clone());
                names.len() - 1
            }
        })
        .collect();
    (labels, names)
}

/// A two-column TSV with the given header line; blank lines are skipped.
fn read_tsv(what: &str, text: &str, header: &str) -> Result<Vec<(String, String)>> {
    let parse = |reason: String| Error::Parse {
        what: what.to_string(),
        reason,
    };
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("");
    if first != header {
        return Err(parse(format!(
            "expected the header {header:?}, got {first:?}"
        )));
    }
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            [a, b] if !a.is_empty() && !b.is_empty() => {
                rows.push((a.to_string(), b.to_string()));
            }
            _ => {
                let reason = format!(
                    "line {}: expected two non-empty tab-separated fields, got {line:?}",
                    i + 2
                );
                return Err(parse(reason));
            }
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_first_appearance() {
        let topics: Vec<String> = ["b", "a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(
            topic_labels(&topics),
            (vec![0, 1, 0, 2], vec!["b".into(), "a".into(), "c".into()])
        );
    }

    #[test]
    fn bad_tsv_is_an_error_naming_the_line() {
        let err = read_tsv("x.tsv", "a\tb\none field\n", "a\tb").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(read_tsv("x.tsv", "wrong\n", "a\tb").is_err());
    }
}
