//! Chapter 9: the English → Spanish training corpus (src/train/corpus.rs).

use std::collections::{HashMap, HashSet};

use attention::embedding::{BOS, BOS_ID, EOS, EOS_ID, PAD, TOY_SENTENCES, UNK, Vocab, tokenize};
use attention::train::corpus::{MAX_WORDS, ParallelCorpus, encode_pair, toy_translation_corpus};

fn all(corpus: &ParallelCorpus) -> impl Iterator<Item = &(String, String)> {
    corpus.train.iter().chain(&corpus.held_out)
}

/// The Spanish of `english`, wherever the pair is.
fn translation<'a>(corpus: &'a ParallelCorpus, english: &str) -> &'a str {
    let pair = all(corpus).find(|(en, _)| en == english);
    let (_, spanish) = pair.unwrap_or_else(|| panic!("{english:?} is not in the corpus"));
    spanish
}

#[test]
fn the_corpus_has_a_few_hundred_pairs_and_holds_out_about_one_in_eight() {
    let corpus = toy_translation_corpus();
    let (train, held_out) = (corpus.train.len(), corpus.held_out.len());
    let total = train + held_out;
    println!("{train} training pairs, {held_out} held out, {total} in all");
    assert!((300..=600).contains(&total), "{total} pairs");
    let fraction = held_out as f64 / total as f64;
    assert!((0.10..=0.15).contains(&fraction), "{fraction} held out");
}

#[test]
fn the_corpus_is_deterministic() {
    assert_eq!(toy_translation_corpus(), toy_translation_corpus());
    let (a, b) = (
        toy_translation_corpus().vocabs(),
        toy_translation_corpus().vocabs(),
    );
    assert_eq!(a, b);
}

#[test]
fn each_english_sentence_appears_once() {
    let corpus = toy_translation_corpus();
    let mut seen = HashMap::new();
    for (en, es) in all(&corpus) {
        assert!(seen.insert(en, es).is_none(), "{en:?} appears twice");
    }
}

#[test]
fn the_books_pairs_are_in_the_training_split() {
    let corpus = toy_translation_corpus();
    let pair = |en: &str, es: &str| (en.to_string(), es.to_string());
    assert_eq!(corpus.train[0], pair("let's go", "vamos"));
    assert_eq!(corpus.train[1], pair("to go", "ir"));
    assert!(corpus.train.contains(&pair("it tasted good", "sabía bien")));
    assert!(corpus.train.contains(&pair(
        "the cat sat on the mat",
        "el gato se sentó en la alfombra"
    )));
    assert!(corpus.train.contains(&pair(
        "the dog sat on the log",
        "el perro se sentó en el tronco"
    )));
    for (en, _) in &corpus.held_out {
        assert!(en != "let's go" && en != "to go");
    }
}

#[test]
fn every_held_out_word_is_seen_in_training() {
    let corpus = toy_translation_corpus();
    let words = |side: fn(&(String, String)) -> &String| -> HashSet<String> {
        corpus
            .train
            .iter()
            .flat_map(|p| tokenize(side(p)))
            .collect()
    };
    let (english, spanish) = (words(|p| &p.0), words(|p| &p.1));
    for (en, es) in &corpus.held_out {
        assert!(
            !corpus.train.iter().any(|(e, _)| e == en),
            "{en:?} is in both splits"
        );
        for word in tokenize(en) {
            assert!(english.contains(&word), "{word:?} of held-out {en:?}");
        }
        for word in tokenize(es) {
            assert!(spanish.contains(&word), "{word:?} of held-out {es:?}");
        }
    }
    // So the training pairs alone give the same vocabularies.
    let train_only = ParallelCorpus {
        train: corpus.train.clone(),
        held_out: Vec::new(),
    };
    assert_eq!(train_only.vocabs(), corpus.vocabs());
}

#[test]
fn sentences_are_short_lowercase_words_that_tokenize_one_to_one() {
    let corpus = toy_translation_corpus();
    for sentence in all(&corpus).flat_map(|(en, es)| [en, es]) {
        let words: Vec<&str> = sentence.split_whitespace().collect();
        assert!((1..=10).contains(&words.len()), "{sentence:?}");
        assert_eq!(tokenize(sentence), words, "{sentence:?}");
        assert_eq!(sentence, &sentence.to_lowercase());
        assert_eq!(sentence, &words.join(" "), "{sentence:?} has odd spacing");
    }
    // "let's" stays one token, the way the book's Vocab reads "Let's go".
    assert_eq!(tokenize("let's go"), ["let's", "go"]);
    let book = Vocab::from_sentences(TOY_SENTENCES);
    assert_eq!(
        book.tokens_of(&book.encode("Let's go")).unwrap(),
        ["let's", "go"]
    );
    let (src, _) = corpus.vocabs();
    assert!(src.id("let's").is_some() && src.id("let").is_none() && src.id("'").is_none());
}

#[test]
fn vocabularies_start_with_the_specials_then_the_books_words() {
    let corpus = toy_translation_corpus();
    let (src, tgt) = corpus.vocabs();
    println!(
        "source vocabulary: {} tokens, target vocabulary: {} tokens",
        src.len(),
        tgt.len()
    );
    for vocab in [&src, &tgt] {
        assert_eq!(vocab.tokens()[..4], [PAD, UNK, BOS, EOS]);
        assert_eq!(vocab.tokens()[..4], Vocab::new().tokens()[..]);
    }
    assert_eq!(src.tokens()[4..7], ["let's", "go", "to"]);
    assert_eq!(tgt.tokens()[4..6], ["vamos", "ir"]);
    assert!(
        src.len() < 100 && tgt.len() < 150,
        "{} {}",
        src.len(),
        tgt.len()
    );
}

#[test]
fn encode_pair_wraps_both_sides_in_bos_and_eos() {
    let corpus = toy_translation_corpus();
    let (src_vocab, tgt_vocab) = corpus.vocabs();
    let (src, tgt) = encode_pair(&src_vocab, &tgt_vocab, &corpus.train[0]);
    assert_eq!(src, [BOS_ID, 4, 5, EOS_ID]); // <bos> let's go <eos>
    assert_eq!(tgt, [BOS_ID, 4, EOS_ID]); //     <bos> vamos <eos>
    for pair in all(&corpus) {
        let (src, tgt) = encode_pair(&src_vocab, &tgt_vocab, pair);
        assert_eq!(
            src_vocab.decode(&src).unwrap(),
            format!("<bos> {} <eos>", pair.0)
        );
        assert_eq!(
            tgt_vocab.decode(&tgt).unwrap(),
            format!("<bos> {} <eos>", pair.1)
        );
        assert!(src.len() <= MAX_WORDS + 2 && tgt.len() <= MAX_WORDS + 2);
    }
}

#[test]
fn spanish_agrees_in_gender_and_number_and_conjugates() {
    let corpus = toy_translation_corpus();
    for (en, es) in [
        ("let's eat", "comamos"),
        ("to eat the pizza", "comer la pizza"),
        ("i eat the pizza", "como la pizza"),
        ("she eats the cake", "ella come el pastel"),
        ("they buy the taco", "ellos compran el taco"),
        ("the pizza is hot", "la pizza está caliente"),
        ("the pizzas are hot", "las pizzas están calientes"),
        ("the oven is big", "el horno es grande"),
        ("the oven is hot", "el horno está caliente"),
        ("the ovens are cold", "los hornos están fríos"),
        ("the cake is cold", "el pastel está frío"),
        ("the soups are cold", "las sopas están frías"),
        ("the houses are small", "las casas son pequeñas"),
        ("the dog is dirty", "el perro está sucio"),
        ("we go to the beach", "vamos a la playa"),
        ("they go to the park", "ellos van al parque"),
        ("the pizza came out of the oven", "la pizza salió del horno"),
        (
            "the cats came out of the house",
            "los gatos salieron de la casa",
        ),
        (
            "the cats sat on the mat",
            "los gatos se sentaron en la alfombra",
        ),
        ("the cookies tasted bad", "las galletas sabían mal"),
        ("i want the hot cookies", "quiero las galletas calientes"),
        ("he wants the cold soup", "él quiere la sopa fría"),
        (
            "the cake came out of the oven and tasted good",
            "el pastel salió del horno y sabía bien",
        ),
    ] {
        assert_eq!(translation(&corpus, en), es, "{en:?}");
    }
}
