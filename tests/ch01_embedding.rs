//! Chapter 1: vocabulary, embedding table and cosine similarity.

mod common;

use attention::Error;
use attention::embedding::{
    BOS_ID, EOS_ID, Embedding, PAD_ID, TOY_SENTENCES, UNK_ID, Vocab, cosine_similarity,
    cosine_similarity_matrix, pad_batch, tokenize,
};
use attention::ndarray::{Array2, array};
use attention::params::Params;
use common::{assert_close, fixture};

#[test]
fn embedding_matches_pytorch() {
    let f = fixture("embedding");
    let (vocab, d) = (f.usize("num_embeddings"), f.usize("embedding_dim"));
    let table = Embedding::from_params(&Params::load(&f.tensors), vocab, d).unwrap();
    f.assert_all_parameters_used();
    let out = table.forward_batch(&f.ids("ids")).unwrap();
    assert_close("embedding", &out, &f.output("embedded"));
}

#[test]
fn embedding_looks_up_rows() {
    let table = Embedding::new(array![[0.0, 0.0], [1.0, 2.0], [3.0, 4.0]]).unwrap();
    assert_eq!(
        table.forward(&[2, 1, 2]).unwrap(),
        array![[3.0, 4.0], [1.0, 2.0], [3.0, 4.0]]
    );
}

#[test]
fn tokenizer_splits_words_and_punctuation() {
    assert_eq!(tokenize("Let's go!"), ["let's", "go", "!"]);
    assert_eq!(
        tokenize("  The pizza,  good. "),
        ["the", "pizza", ",", "good", "."]
    );
    assert!(tokenize("   ").is_empty());
}

#[test]
fn vocabulary_has_specials_first_then_words_in_order() {
    let vocab = Vocab::from_sentences(TOY_SENTENCES);
    let specials = ["<pad>", "<unk>", "<bos>", "<eos>"];
    for (id, token) in [PAD_ID, UNK_ID, BOS_ID, EOS_ID].into_iter().zip(specials) {
        assert_eq!(vocab.token(id), Some(token));
    }
    // "The pizza came out of the oven and it tasted good!" starts the toy corpus.
    assert_eq!(vocab.id("the"), Some(4));
    assert_eq!(vocab.id("pizza"), Some(5));
    assert_eq!(vocab.encode("the pizza the"), [4, 5, 4]);
    assert_eq!(vocab.encode("the unicorn"), [4, UNK_ID]);
    let ids = vocab.encode_with_specials("let's go");
    assert_eq!(ids.first(), Some(&BOS_ID));
    assert_eq!(ids.last(), Some(&EOS_ID));
    assert_eq!(vocab.decode(&ids).unwrap(), "<bos> let's go <eos>");
}

#[test]
fn pad_batch_fills_with_pad_id() {
    let batch = pad_batch(&[vec![5, 6, 7], vec![8]]).unwrap();
    assert_eq!(batch, array![[5, 6, 7], [8, PAD_ID, PAD_ID]]);
    assert!(pad_batch(&[]).is_err());
    assert!(pad_batch(&[vec![1], vec![]]).is_err());
}

#[test]
fn cosine_similarity_by_hand() {
    // a = (1, 2), b = (2, 1): a·b = 4, ‖a‖‖b‖ = √5·√5 = 5, cosine 0.8.
    let s = cosine_similarity(&array![1.0_f32, 2.0], &array![2.0, 1.0]).unwrap();
    assert!((s - 0.8).abs() < 1e-6);
    // Scaling a vector changes the dot product but not the cosine.
    let a = array![1.0_f32, 2.0];
    assert!((cosine_similarity(&a, &(&a * 3.0)).unwrap() - 1.0).abs() < 1e-6);
    assert!((cosine_similarity(&a, &(&a * -1.0)).unwrap() + 1.0).abs() < 1e-6);
    assert_eq!(
        cosine_similarity(&array![1.0_f32, 0.0], &array![0.0, 5.0]).unwrap(),
        0.0
    );
    assert_eq!(cosine_similarity(&a, &array![0.0, 0.0]).unwrap(), 0.0);
}

#[test]
fn cosine_matrix_is_symmetric_with_unit_diagonal() {
    let table = Embedding::from_params(&Params::seeded(3), 6, 3).unwrap();
    let sims = cosine_similarity_matrix(&table.weight).unwrap();
    for i in 0..6 {
        assert!((sims[[i, i]] - 1.0).abs() < 1e-6);
        for j in 0..6 {
            assert_eq!(sims[[i, j]], sims[[j, i]]);
            assert!(sims[[i, j]].abs() <= 1.0 + 1e-6);
        }
    }
}

#[test]
fn token_id_out_of_vocabulary_is_a_clear_error() {
    let table = Embedding::from_params(&Params::seeded(0), 10, 4).unwrap();
    let err = table.forward(&[3, 10]).unwrap_err();
    assert!(matches!(err, Error::Value { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("`ids`") && msg.contains("vocab_size = 10") && msg.contains("got 10"),
        "{msg}"
    );
    let batch = Array2::from_elem((1, 2), 12);
    assert!(
        table
            .forward_batch(&batch)
            .unwrap_err()
            .to_string()
            .contains("got 12")
    );
    let vocab = Vocab::new();
    assert!(vocab.decode(&[99]).unwrap_err().to_string().contains("99"));
}

#[test]
fn empty_sequence_is_a_clear_error() {
    let table = Embedding::from_params(&Params::seeded(0), 10, 4).unwrap();
    let msg = table.forward(&[]).unwrap_err().to_string();
    assert!(msg.contains("`ids`") && msg.contains("(0)"), "{msg}");
    let msg = cosine_similarity(&array![1.0_f32], &array![1.0, 2.0])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`b`") && msg.contains("(2)"), "{msg}");
}
