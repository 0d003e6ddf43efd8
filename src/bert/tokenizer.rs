//! BERT's WordPiece tokenizer: text → subword ids, exactly as all-MiniLM-L6-v2's Hugging Face
//! tokenizer (`bert-base-uncased`'s rules) produces them.
//!
//! A model only sees ids from a fixed vocabulary (30,522 entries here). WordPiece covers any
//! word with a vocabulary of whole words and word *pieces*: a piece that continues a word is
//! written with the prefix `##`. Text becomes ids in three steps:
//!
//! 1. [`WordPiece::normalize`]: drop control characters, put spaces around Chinese
//!    characters, strip accents and lowercase (`"Café!"` → `"cafe!"`);
//! 2. [`WordPiece::pre_tokenize`]: split on whitespace, and make every punctuation character a
//!    word of its own (`"cafe!"` → `["cafe", "!"]`);
//! 3. [`WordPiece::word_pieces`]: cut each word greedily, longest match first, into pieces of
//!    the vocabulary. With a vocabulary holding `un`, `##aff` and `##able` (but not `unaff` or
//!    `##affable`), `"unaffable"` is cut like this:
//!
//! ```text
//! unaffable      not in the vocabulary, nor unaffabl, unaffab, …, una
//! un             found          → un
//!   ##affable    not found, nor ##affabl, ##affab, ##affa
//!   ##aff        found          → ##aff
//!      ##able    found          → ##able           result: un ##aff ##able
//! ```
//!
//! A word that cannot be cut (some rest matches no piece), or has more than 100 characters,
//! becomes the single token `[UNK]`. [`WordPiece::encode`] then frames the tokens as
//! `[CLS] … [SEP]` and truncates them to `max_len` (sentence-transformers uses [`MAX_LEN`]).
//!
//! ```
//! use attention::bert::tokenizer::WordPiece;
//!
//! let vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nun\n##aff\n##able\nthe\n!";
//! let wp = WordPiece::from_vocab_str(vocab)?;
//! assert_eq!(wp.tokenize("The unaffable!"), ["the", "un", "##aff", "##able", "!"]);
//! assert_eq!(wp.tokenize("Thé"), ["the"]); // accents stripped, lowercased
//! assert_eq!(wp.tokenize("unaffected"), ["[UNK]"]); // un ##aff, then no piece for "ected"
//! assert_eq!(wp.encode("unaffable", 8)?.ids, [2, 4, 5, 6, 3]); // [CLS] un ##aff ##able [SEP]
//! # Ok::<(), attention::Error>(())
//! ```
//!
//! Every rule here is Hugging Face's (`tokenizers` crate: `normalizers/bert.rs`,
//! `pre_tokenizers/bert.rs`, `models/wordpiece`), and `tests/wordpiece.rs` checks the ids of
//! more than 1,000 varied texts against it.

use std::collections::HashMap;
use std::path::Path;

use ndarray::Array2;
use unicode_categories::UnicodeCategories;
use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};

/// The longest input sentence-transformers gives all-MiniLM-L6-v2: 256 tokens, `[CLS]` and
/// `[SEP]` included (its `max_seq_length`; the 128 in `tokenizer.json` is not used).
pub const MAX_LEN: usize = 256;
/// A word longer than this (in characters) becomes `[UNK]` without trying to cut it.
pub const MAX_WORD_CHARS: usize = 100;
/// The prefix of a piece that continues a word.
pub const CONTINUATION: &str = "##";

/// Padding, id 0 in BERT's vocabulary.
pub const PAD: &str = "[PAD]";
/// The token of a word that cannot be cut into pieces.
pub const UNK: &str = "[UNK]";
/// The first token of every input (its vector is often used for the whole text).
pub const CLS: &str = "[CLS]";
/// The token that ends every input.
pub const SEP: &str = "[SEP]";
/// The masked-language-model token; only matters when written in a text.
pub const MASK: &str = "[MASK]";

/// A WordPiece vocabulary and the rules that cut text into its tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct WordPiece {
    /// token → id (line number in `vocab.txt`).
    ids: HashMap<String, usize>,
    /// id → token.
    tokens: Vec<String>,
    /// The special tokens kept whole when they appear in a text, as Hugging Face does.
    specials: Vec<String>,
}

/// One text's tokens, framed as `[CLS] … [SEP]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoding {
    /// The ids, `[CLS]` first and `[SEP]` last.
    pub ids: Vec<usize>,
    /// The same tokens as strings.
    pub tokens: Vec<String>,
    /// Whether tokens were cut off to fit `max_len`.
    pub truncated: bool,
}

/// Several texts encoded and padded with `[PAD]` to the longest of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// `(batch, seq)` ids; row i is text i, padded with `[PAD]` after its `lengths[i]` tokens.
    pub ids: Array2<usize>,
    /// The number of real tokens of each text, `[CLS]` and `[SEP]` included.
    pub lengths: Vec<usize>,
    /// Whether each text was truncated.
    pub truncated: Vec<bool>,
}

impl WordPiece {
    /// Reads a vocabulary file (`vocab.txt`: one token per line, line i is id i).
    pub fn from_vocab_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let what = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Parse {
            what: what.clone(),
            reason: e.to_string(),
        })?;
        Self::parse(&text, &what)
    }

    /// A vocabulary from its text: one token per line. It must hold `[PAD]`, `[UNK]`, `[CLS]`
    /// and `[SEP]`.
    pub fn from_vocab_str(text: &str) -> Result<Self> {
        Self::parse(text, "WordPiece vocabulary")
    }

    /// Line i is the token of id i; trailing whitespace is not part of a token (as in Hugging
    /// Face's `WordPiece::read_file`).
    fn parse(text: &str, what: &str) -> Result<Self> {
        let tokens: Vec<String> = text.lines().map(|l| l.trim_end().to_string()).collect();
        let ids: HashMap<String, usize> = tokens.iter().cloned().zip(0..).collect();
        for required in [PAD, UNK, CLS, SEP] {
            if !ids.contains_key(required) {
                return Err(Error::Parse {
                    what: what.to_string(),
                    reason: format!(
                        "it has no `{required}` line ({} lines; a BERT vocabulary holds \
                         [PAD], [UNK], [CLS] and [SEP])",
                        tokens.len()
                    ),
                });
            }
        }
        let specials = [PAD, UNK, CLS, SEP, MASK]
            .into_iter()
            .filter(|s| ids.contains_key(*s))
            .map(String::from)
            .collect();
        Ok(WordPiece {
            ids,
            tokens,
            specials,
        })
    }

    /// The number of tokens in the vocabulary.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the vocabulary is empty (never, once built: it holds the special tokens).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The id of `token`, if it is in the vocabulary.
    pub fn id(&self, token: &str) -> Option<usize> {
        self.ids.get(token).copied()
    }

    /// The token of `id`, if there is one.
    pub fn token(&self, id: usize) -> Option<&str> {
        self.tokens.get(id).map(String::as_str)
    }

    // ANCHOR: normalize
    /// Step 1, Hugging Face's `BertNormalizer` for an uncased model, in its order:
    ///
    /// 1. clean: drop NUL, U+FFFD and control/format characters (`\u{200b}`, `\u{feff}`), turn
    ///    every whitespace character (tab, newline, no-break space…) into a space;
    /// 2. put spaces around each CJK ideograph, so each becomes a word of its own (Chinese is
    ///    written without spaces; Japanese kana and Korean hangul are not affected);
    /// 3. strip accents: decompose (NFD, `é` → `e` + U+0301) and drop the non-spacing marks;
    /// 4. lowercase, one character at a time (so `Σ` is always `σ`, never a final `ς`).
    pub fn normalize(&self, text: &str) -> String {
        let cleaned: String = text
            .chars()
            .filter(|&c| !is_dropped(c))
            .map(|c| if is_whitespace(c) { ' ' } else { c })
            .collect();
        let spaced = space_out_cjk(&cleaned);
        let stripped: String = spaced.nfd().filter(|c| !c.is_mark_nonspacing()).collect();
        stripped.chars().flat_map(char::to_lowercase).collect()
    }
    // ANCHOR_END: normalize

    /// Step 2, Hugging Face's `BertPreTokenizer`: split on whitespace (dropping it) and make
    /// each punctuation character a word of its own, so `"don't!"` → `don ' t !`.
    pub fn pre_tokenize(text: &str) -> Vec<String> {
        let mut words = Vec::new();
        for chunk in text.split(char::is_whitespace) {
            let mut word = String::new();
            for c in chunk.chars() {
                if is_punctuation(c) {
                    push_word(&mut words, &mut word);
                    words.push(c.to_string());
                } else {
                    word.push(c);
                }
            }
            push_word(&mut words, &mut word);
        }
        words
    }

    // ANCHOR: longest_match
    /// Step 3, Hugging Face's `WordPiece` model: cut one word into vocabulary pieces, greedily
    /// taking the longest piece that matches at each position. Pieces after the first carry the
    /// `##` prefix. A word that cannot be cut completely, or that is longer than
    /// [`MAX_WORD_CHARS`], is `[UNK]` as a whole.
    pub fn word_pieces(&self, word: &str) -> Vec<String> {
        if word.chars().count() > MAX_WORD_CHARS {
            return vec![UNK.to_string()];
        }
        let mut pieces = Vec::new();
        let mut start = 0;
        while start < word.len() {
            match self.longest_piece(word, start) {
                Some((piece, end)) => {
                    pieces.push(piece);
                    start = end;
                }
                None => return vec![UNK.to_string()],
            }
        }
        pieces
    }

    /// The longest vocabulary piece starting at byte `start` of `word`, and where it ends.
    /// Tries `word[start..]`, then drops one character at a time from the end.
    fn longest_piece(&self, word: &str, start: usize) -> Option<(String, usize)> {
        let mut end = word.len();
        while end > start {
            let piece = if start == 0 {
                word[..end].to_string()
            } else {
                format!("{CONTINUATION}{}", &word[start..end])
            };
            if self.ids.contains_key(&piece) {
                return Some((piece, end));
            }
            end = word[..end].char_indices().last().map_or(start, |(i, _)| i);
        }
        None
    }
    // ANCHOR_END: longest_match

    /// The tokens of `text`, without `[CLS]`/`[SEP]`: the three steps, word by word.
    ///
    /// A special token written in the text (`[MASK]`, `[SEP]`, …, exactly so) is kept whole,
    /// as Hugging Face does with its "added tokens": `"a [MASK]"` → `a [MASK]`.
    pub fn tokenize(&self, text: &str) -> Vec<String> {
        let mut tokens = Vec::new();
        for (plain, special) in self.split_specials(text) {
            for word in Self::pre_tokenize(&self.normalize(plain)) {
                tokens.extend(self.word_pieces(&word));
            }
            tokens.extend(special.map(String::from));
        }
        tokens
    }

    /// Cuts `text` at the special tokens written in it: a list of (plain text, the special
    /// token that follows it, if any).
    fn split_specials<'t>(&self, text: &'t str) -> Vec<(&'t str, Option<&str>)> {
        let mut parts = Vec::new();
        let mut plain_start = 0;
        let mut i = 0;
        while i < text.len() {
            let found = self
                .specials
                .iter()
                .find(|s| text[i..].starts_with(s.as_str()));
            match found {
                Some(special) => {
                    parts.push((&text[plain_start..i], Some(special.as_str())));
                    i += special.len();
                    plain_start = i;
                }
                None => i += text[i..].chars().next().map_or(1, char::len_utf8),
            }
        }
        parts.push((&text[plain_start..], None));
        parts
    }

    /// `[CLS] tokens [SEP]` with their ids, keeping only the first `max_len - 2` tokens (as
    /// sentence-transformers' truncation does). `max_len` must be at least 2.
    pub fn encode(&self, text: &str, max_len: usize) -> Result<Encoding> {
        if max_len < 2 {
            return Err(Error::value(
                "max_len",
                "at least 2 (room for [CLS] and [SEP])",
                max_len,
            ));
        }
        let mut words = self.tokenize(text);
        let truncated = words.len() > max_len - 2;
        words.truncate(max_len - 2);
        let mut tokens = Vec::with_capacity(words.len() + 2);
        tokens.push(CLS.to_string());
        tokens.extend(words);
        tokens.push(SEP.to_string());
        let unk = self.ids[UNK];
        let ids = tokens.iter().map(|t| self.id(t).unwrap_or(unk)).collect();
        Ok(Encoding {
            ids,
            tokens,
            truncated,
        })
    }

    /// Encodes each text and pads them with `[PAD]` to the longest one (not to `max_len`), as
    /// sentence-transformers does. `texts` must not be empty.
    pub fn encode_batch(&self, texts: &[&str], max_len: usize) -> Result<Batch> {
        if texts.is_empty() {
            return Err(Error::value("texts", "at least one text", "an empty slice"));
        }
        let encodings = texts
            .iter()
            .map(|t| self.encode(t, max_len))
            .collect::<Result<Vec<_>>>()?;
        Ok(self.pad(&encodings.iter().collect::<Vec<_>>()))
    }

    /// Encodings already made, padded with `[PAD]` into one batch `(n, longest)`.
    pub fn pad(&self, encodings: &[&Encoding]) -> Batch {
        let seq = encodings.iter().map(|e| e.ids.len()).max().unwrap_or(2);
        let mut ids = Array2::from_elem((encodings.len(), seq), self.ids[PAD]);
        for (mut row, e) in ids.rows_mut().into_iter().zip(encodings) {
            for (slot, &id) in row.iter_mut().zip(&e.ids) {
                *slot = id;
            }
        }
        Batch {
            ids,
            lengths: encodings.iter().map(|e| e.ids.len()).collect(),
            truncated: encodings.iter().map(|e| e.truncated).collect(),
        }
    }
}

/// Characters the cleaning step removes: NUL, the replacement character U+FFFD, and the
/// "other" categories Cc, Cf, Co (control, format, private use), except tab, newline and
/// carriage return, which are whitespace.
fn is_dropped(c: char) -> bool {
    let kept_control = matches!(c, '\t' | '\n' | '\r');
    c == '\0' || c == '\u{fffd}' || (!kept_control && c.is_other())
}

/// Whitespace for BERT: Unicode whitespace, tab, newline and carriage return.
fn is_whitespace(c: char) -> bool {
    c.is_whitespace()
}

/// Punctuation for BERT: every ASCII non-alphanumeric symbol (`$`, `+`, `^`, … count,
/// though Unicode calls some of them symbols) and Unicode's punctuation categories P*.
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || c.is_punctuation()
}

/// The CJK ideograph blocks BERT splits into single characters (not kana, not hangul).
fn is_cjk_ideograph(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F | 0x2B920..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

/// `text` with a space before and after every CJK ideograph.
fn space_out_cjk(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_cjk_ideograph(c) {
            out.extend([' ', c, ' ']);
        } else {
            out.push(c);
        }
    }
    out
}

/// Moves `word` into `words` unless it is empty.
fn push_word(words: &mut Vec<String>, word: &mut String) {
    if !word.is_empty() {
        words.push(std::mem::take(word));
    }
}
