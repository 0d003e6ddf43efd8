//! Chapter 11 — an encoder-only model with real pretrained weights: BERT, as
//! sentence-transformers' all-MiniLM-L6-v2.
//!
//! - [`files`]: where `cargo xtask setup` put the model's files;
//! - [`tokenizer`]: BERT's WordPiece tokenizer (text → subword ids);
//! - [`model`]: the encoder, chapter 7's layers with BERT's settings and names;
//! - [`sentence`]: sentence embeddings (mean pooling, L2 normalisation);
//! - [`data`]: the course's sentences and search queries (`data/sentences/`);
//! - [`cluster`]: cosines, semantic search, k-means, cluster purity and PCA;
//! - [`figures`]: the chapter's scatter of sentences coloured by cluster.

pub mod cluster;
pub mod data;
pub mod figures;
pub mod files;
pub mod model;
pub mod sentence;
pub mod tokenizer;

pub use cluster::{KMeans, Pca2, cosine_matrix, kmeans, pca_2d, purity, top_k_similar};
pub use data::{course_queries, course_sentences, topic_labels};
pub use files::ModelFiles;
pub use model::{Bert, BertConfig, BertEmbeddings, BertOutput, l2_normalize, mean_pool};
pub use sentence::{SentenceEmbeddings, SentenceEncoder};
