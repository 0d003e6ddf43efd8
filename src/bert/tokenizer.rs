//! BERT's WordPiece tokenizer (being written).
