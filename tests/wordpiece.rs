//! BERT's WordPiece tokenizer against Hugging Face's: identical ids on every text of
//! `tests/fixtures/wordpiece.json` (written by `generate_wordpiece.py`), plus unit tests on a
//! tiny vocabulary.

use attention::Error;
use attention::bert::ModelFiles;
use attention::bert::tokenizer::{MAX_LEN, WordPiece};

/// all-MiniLM-L6-v2's vocabulary, found where `cargo xtask setup` put it.
fn minilm() -> WordPiece {
    let files = ModelFiles::find().unwrap_or_else(|e| panic!("{e}"));
    WordPiece::from_vocab_file(&files.vocab).unwrap_or_else(|e| panic!("{e}"))
}

fn fixture() -> serde_json::Value {
    let path = format!(
        "{}/tests/fixtures/wordpiece.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("wordpiece.json is JSON")
}

fn ids_of(value: &serde_json::Value) -> Vec<usize> {
    let list = value.as_array().expect("a list of ids");
    list.iter()
        .map(|v| v.as_u64().expect("an id") as usize)
        .collect()
}

/// A tiny vocabulary: the specials, then `un ##aff ##able`, `a`, `##a`, `the`, `!`.
fn tiny() -> WordPiece {
    let vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nun\n##aff\n##able\na\n##a\nthe\n!\nunaff\n";
    WordPiece::from_vocab_str(vocab).unwrap()
}

#[test]
fn ids_match_hugging_face_on_every_fixture_text() {
    let wp = minilm();
    let json = fixture();
    let max_len = json["max_len"].as_u64().unwrap() as usize;
    assert_eq!(
        max_len, MAX_LEN,
        "the fixture's max_len is sentence-transformers'"
    );
    let cases = json["cases"].as_array().unwrap();
    assert!(cases.len() >= 1000, "only {} fixture texts", cases.len());
    let mut mismatches = Vec::new();
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let expected = ids_of(&case["ids"]);
        let got = wp.encode(text, max_len).unwrap().ids;
        if got != expected {
            mismatches.push(format!("{text:?}\n  hf:   {expected:?}\n  ours: {got:?}"));
        }
    }
    let shown: Vec<&String> = mismatches.iter().take(5).collect();
    assert!(
        mismatches.is_empty(),
        "{} of {} texts differ from Hugging Face; the first ones:\n{}",
        mismatches.len(),
        cases.len(),
        shown
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn token_strings_match_hugging_face() {
    let wp = minilm();
    let json = fixture();
    let with_tokens: Vec<_> = json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c.get("tokens").is_some())
        .collect();
    assert!(with_tokens.len() >= 5);
    for case in with_tokens {
        let text = case["text"].as_str().unwrap();
        let expected: Vec<&str> = case["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(wp.tokenize(text), expected, "{text:?}");
    }
}

#[test]
fn the_minilm_vocabulary_has_bert_ids() {
    let wp = minilm();
    assert_eq!(wp.len(), 30_522);
    assert!(!wp.is_empty());
    for (token, id) in [("[PAD]", 0), ("[UNK]", 100), ("[CLS]", 101), ("[SEP]", 102)] {
        assert_eq!(wp.id(token), Some(id));
        assert_eq!(wp.token(id), Some(token));
    }
    assert_eq!(wp.token(30_522), None);
    assert_eq!(wp.id("no such token"), None);
}

#[test]
fn longest_match_first_on_a_tiny_vocabulary() {
    let wp = tiny();
    // "unaff" is in the vocabulary and longer than "un": greedy takes it, then "##able".
    assert_eq!(wp.word_pieces("unaffable"), ["unaff", "##able"]);
    assert_eq!(wp.word_pieces("aaa"), ["a", "##a", "##a"]);
    assert_eq!(wp.word_pieces("unable"), ["un", "##able"]);
    assert_eq!(wp.word_pieces("unthe"), ["[UNK]"]); // "un", then no piece for "the"
    assert_eq!(wp.word_pieces("xa"), ["[UNK]"]);
    assert_eq!(wp.word_pieces(""), Vec::<String>::new());
    assert_eq!(
        wp.tokenize("The UNAFFABLE!"),
        ["the", "unaff", "##able", "!"]
    );
}

#[test]
fn the_three_steps() {
    let wp = tiny();
    assert_eq!(wp.normalize("Café\tNAÏVE\u{200b}!"), "cafe naive!");
    assert_eq!(wp.normalize("ΣΑΣ"), "σασ"); // per character: no final sigma
    assert_eq!(wp.normalize("中文ok"), " 中  文 ok");
    assert_eq!(
        WordPiece::pre_tokenize(" don't  stop!! "),
        ["don", "'", "t", "stop", "!", "!"]
    );
    assert_eq!(wp.tokenize("a [MASK] the"), ["a", "[MASK]", "the"]);
    assert_eq!(wp.tokenize("[mask]"), ["[UNK]", "[UNK]", "[UNK]"]); // [ mask ]: not special
}

#[test]
fn a_word_of_101_characters_is_unknown() {
    let wp = tiny();
    assert_eq!(wp.word_pieces(&"a".repeat(100)).len(), 100);
    assert_eq!(wp.word_pieces(&"a".repeat(101)), ["[UNK]"]);
    assert_eq!(wp.tokenize(&"a".repeat(10_000)), ["[UNK]"]);
}

#[test]
fn encode_frames_and_truncates() {
    let wp = tiny();
    let empty = wp.encode("", MAX_LEN).unwrap();
    assert_eq!(empty.ids, [2, 3]);
    assert_eq!(empty.tokens, ["[CLS]", "[SEP]"]);
    assert!(!empty.truncated);

    let long = wp.encode(&"the ".repeat(300), MAX_LEN).unwrap();
    assert_eq!(long.ids.len(), 256);
    assert!(long.truncated);
    assert_eq!((long.ids[0], long.ids[255]), (2, 3));

    let exact = wp.encode(&"the ".repeat(254), MAX_LEN).unwrap();
    assert_eq!(exact.ids.len(), 256);
    assert!(!exact.truncated);

    let two = wp.encode("the the", 2).unwrap();
    assert_eq!((two.ids, two.truncated), (vec![2, 3], true));
}

#[test]
fn encode_batch_pads_to_the_longest_text() {
    let wp = tiny();
    let batch = wp.encode_batch(&["the", "a a a !", ""], MAX_LEN).unwrap();
    assert_eq!(batch.ids.dim(), (3, 6));
    assert_eq!(batch.lengths, [3, 6, 2]);
    assert_eq!(batch.truncated, [false, false, false]);
    assert_eq!(batch.ids.row(0).to_vec(), [2, 10, 3, 0, 0, 0]);
    assert_eq!(batch.ids.row(1).to_vec(), [2, 8, 8, 8, 11, 3]);
    assert_eq!(batch.ids.row(2).to_vec(), [2, 3, 0, 0, 0, 0]);
    let cut = wp.encode_batch(&["the the the", "a"], 4).unwrap();
    assert_eq!(
        (cut.lengths, cut.truncated),
        (vec![4, 3], vec![true, false])
    );
}

#[test]
fn bad_input_is_an_error_that_names_it() {
    let wp = tiny();
    let err = wp.encode("a", 1).unwrap_err();
    assert!(
        matches!(&err, Error::Value { arg, .. } if arg == "max_len"),
        "{err}"
    );
    assert!(err.to_string().contains("got 1"), "{err}");
    let err = wp.encode_batch(&[], MAX_LEN).unwrap_err();
    assert!(
        matches!(&err, Error::Value { arg, .. } if arg == "texts"),
        "{err}"
    );

    let err = WordPiece::from_vocab_str("[PAD]\n[UNK]\n[SEP]\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("[CLS]"), "{err}");
    let err = WordPiece::from_vocab_file("/nonexistent/vocab.txt")
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/vocab.txt"), "{err}");
}

#[test]
fn odd_input_never_panics() {
    let wp = minilm();
    let odd = [
        "\u{301}",
        "\0\u{7}\u{200b}\u{feff}\u{fffd}",
        "👨‍👩‍👧‍👦🇫🇷",
        "\u{10ffff}",
        "[MASK",
        "[[SEP]]",
    ];
    for text in odd {
        let e = wp.encode(text, MAX_LEN).unwrap();
        assert_eq!((e.ids[0], *e.ids.last().unwrap()), (101, 102), "{text:?}");
    }
}
