//! The English → Spanish corpus chapter 9 trains the translator on.
//!
//! **Where the data comes from:** this file. The pairs were written for this course, generated
//! by the templates and word tables below around the book's own sentences ("let's go" → "vamos",
//! "to go" → "ir", the pizza that came out of the oven, the cat on the mat): the code *is* the
//! data, the same on every machine. Licence: the crate's own, MIT OR Apache-2.0.
//!
//! Every sentence is lowercase, has no punctuation and at most [`MAX_WORDS`] words, so the
//! word-level [`tokenize`](crate::embedding::tokenize) gives one token per word (`"let's"`
//! included). The Spanish is grammatical: articles and adjectives agree with their noun in
//! gender and number, verbs are conjugated for the person (`"i eat the pizza"` → `"como la
//! pizza"`, `"the pizzas are hot"` → `"las pizzas están calientes"`). The book's pizza sentence
//! has 11 words, so it comes in pieces: `"the pizza came out of the oven"`, `"it tasted good"`
//! and `"the pizza came out of the oven and tasted good"`.
//!
//! ```
//! use attention::train::corpus::{encode_pair, toy_translation_corpus};
//!
//! let corpus = toy_translation_corpus();
//! assert_eq!(corpus.train[0], ("let's go".to_string(), "vamos".to_string()));
//! let (src_vocab, tgt_vocab) = corpus.vocabs();
//! let (src, tgt) = encode_pair(&src_vocab, &tgt_vocab, &corpus.train[0]);
//! assert_eq!(src_vocab.decode(&src)?, "<bos> let's go <eos>");
//! assert_eq!(tgt_vocab.decode(&tgt)?, "<bos> vamos <eos>");
//! # Ok::<(), attention::Error>(())
//! ```

use std::collections::{BTreeSet, HashMap};

use ndarray_rand::rand::RngCore;

use crate::embedding::Vocab;
use crate::nn::seeded_rng;

/// The longest sentence, in words, on either side.
pub const MAX_WORDS: usize = 10;
/// Seed of the shuffle that picks the held-out pairs.
pub const HELD_OUT_SEED: u64 = 9;
/// One pair in this many is held out (about 12 %).
pub const HELD_OUT_EVERY: usize = 8;

/// A sentence pair, `(english, spanish)`.
pub type Pair = (String, String);

/// English → Spanish sentence pairs, split into training and held-out pairs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParallelCorpus {
    /// The pairs the model learns from; the book's `"let's go"` → `"vamos"` first and
    /// `"to go"` → `"ir"` second.
    pub train: Vec<Pair>,
    /// Pairs the model never sees while training: new combinations of words it has seen.
    pub held_out: Vec<Pair>,
}

impl ParallelCorpus {
    /// Source (English) and target (Spanish) vocabularies: the specials `<pad> <unk> <bos>
    /// <eos>` (ids 0–3), then every word of the training pairs and then of the held-out pairs,
    /// in order of first appearance (so `let's` is 4 and `vamos` is 4).
    pub fn vocabs(&self) -> (Vocab, Vocab) {
        let all = self.train.iter().chain(&self.held_out);
        let (en, es): (Vec<&str>, Vec<&str>) = all.map(|(en, es)| (&**en, &**es)).unzip();
        (Vocab::from_sentences(&en), Vocab::from_sentences(&es))
    }
}

/// One pair as token ids, `(src_ids, tgt_ids)`, each `<bos> … <eos>`
/// ([`Vocab::encode_with_specials`]); unknown words become `<unk>`.
pub fn encode_pair(src: &Vocab, tgt: &Vocab, (en, es): &Pair) -> (Vec<usize>, Vec<usize>) {
    (src.encode_with_specials(en), tgt.encode_with_specials(es))
}

/// The course's translation corpus: every pair the templates below generate, one in
/// [`HELD_OUT_EVERY`] held out. The held-out pairs are picked in an order shuffled by
/// [`seeded_rng`]`(`[`HELD_OUT_SEED`]`)`, each only if every word of both its sentences stays in
/// some training pair, and never one of the book's own sentences.
pub fn toy_translation_corpus() -> ParallelCorpus {
    split(all_pairs(), HELD_OUT_SEED)
}

// ---- the word tables ----

#[derive(Clone, Copy, PartialEq)]
enum Gender {
    M,
    F,
}
use Gender::{F, M};

type S = &'static str;

/// A noun: English singular and plural, Spanish singular and plural, gender.
type Noun = (S, S, S, S, Gender);

const FOODS: &[Noun] = &[
    ("pizza", "pizzas", "pizza", "pizzas", F),
    ("cake", "cakes", "pastel", "pasteles", M),
    ("soup", "soups", "sopa", "sopas", F),
    ("taco", "tacos", "taco", "tacos", M),
    ("cookie", "cookies", "galleta", "galletas", F),
];
const ANIMALS: &[Noun] = &[
    ("cat", "cats", "gato", "gatos", M),
    ("dog", "dogs", "perro", "perros", M),
];
/// Things that (with the animals) are big or small, white or black, clean or dirty.
const THINGS: &[Noun] = &[
    ("oven", "ovens", "horno", "hornos", M),
    ("house", "houses", "casa", "casas", F),
    ("mat", "mats", "alfombra", "alfombras", F),
    ("log", "logs", "tronco", "troncos", M),
    ("chair", "chairs", "silla", "sillas", F),
];
/// Where one goes: `"to the beach"` → `"a la playa"`, `"to the park"` → `"al parque"`
/// (places are only singular: no plurals).
#[rustfmt::skip]
const PLACES: &[Noun] = &[
    ("beach", "", "playa", "", F), ("park", "", "parque", "", M), ("market", "", "mercado", "", M),
    ("kitchen", "", "cocina", "", F), ("river", "", "río", "", M),
];
/// Where an animal comes out of: `"of the house"` → `"de la casa"`, `"of the river"` → `"del río"`.
#[rustfmt::skip]
const EXITS: &[Noun] = &[
    ("house", "", "casa", "", F), ("kitchen", "", "cocina", "", F),
    ("river", "", "río", "", M), ("park", "", "parque", "", M),
];
/// Where an animal sits.
#[rustfmt::skip]
const SEATS: &[Noun] = &[
    ("mat", "", "alfombra", "", F), ("log", "", "tronco", "", M),
    ("chair", "", "silla", "", F), ("bed", "", "cama", "", F),
];

/// An adjective: English, Spanish `[masc. sg, fem. sg, masc. pl, fem. pl]`, and its "is / are":
/// *estar* for a state (hot, clean), *ser* for what a thing is (big, white).
type Adjective = (S, [S; 4], [S; 2]);
const ESTAR: [S; 2] = ["está", "están"];
const SER: [S; 2] = ["es", "son"];

#[rustfmt::skip]
const FOOD_ADJECTIVES: &[Adjective] = &[
    ("hot",   ["caliente", "caliente", "calientes", "calientes"], ESTAR),
    ("cold",  ["frío", "fría", "fríos", "frías"], ESTAR),
    ("good",  ["bueno", "buena", "buenos", "buenas"], ESTAR),
    ("ready", ["listo", "lista", "listos", "listas"], ESTAR),
];
#[rustfmt::skip]
const THING_ADJECTIVES: &[Adjective] = &[
    ("big",   ["grande", "grande", "grandes", "grandes"], SER),
    ("small", ["pequeño", "pequeña", "pequeños", "pequeñas"], SER),
    ("white", ["blanco", "blanca", "blancos", "blancas"], SER),
    ("black", ["negro", "negra", "negros", "negras"], SER),
    ("clean", ["limpio", "limpia", "limpios", "limpias"], ESTAR),
    ("dirty", ["sucio", "sucia", "sucios", "sucias"], ESTAR),
];

/// A verb: English base and third person singular; Spanish infinitive, "let's" form
/// (first person plural subjunctive; empty where English has no "let's …") and present tense
/// `[yo, tú, él/ella, nosotros, ellos]`.
type Verb = (S, S, S, S, [S; 5]);

#[rustfmt::skip]
const GO: Verb = ("go", "goes", "ir", "vamos", ["voy", "vas", "va", "vamos", "van"]);
/// Verbs that take a food as object.
#[rustfmt::skip]
const FOOD_VERBS: &[Verb] = &[
    ("eat",  "eats",  "comer",   "comamos",   ["como", "comes", "come", "comemos", "comen"]),
    ("want", "wants", "querer",  "",          ["quiero", "quieres", "quiere", "queremos", "quieren"]),
    ("cook", "cooks", "cocinar", "cocinemos", ["cocino", "cocinas", "cocina", "cocinamos", "cocinan"]),
    ("buy",  "buys",  "comprar", "compremos", ["compro", "compras", "compra", "compramos", "compran"]),
];

/// A subject: English pronoun, Spanish pronoun (dropped, as Spanish does, where the verb's
/// ending says who it is) and the person, an index into a verb's present tense.
type Person = (S, S, usize);

#[rustfmt::skip]
const PERSONS: &[Person] = &[
    ("i", "", 0), ("you", "", 1), ("he", "él", 2), ("she", "ella", 2), ("we", "", 3), ("they", "ellos", 4),
];

// ---- the templates ----

/// `"the pizza"` → `"la pizza"`, `"the cakes"` → `"los pasteles"`.
fn the(noun: &Noun, plural: bool) -> (String, String) {
    let (en, en_pl, es, es_pl, gender) = *noun;
    let article = match gender {
        M => number(plural, ["el", "los"]),
        F => number(plural, ["la", "las"]),
    };
    let (en, es) = (number(plural, [en, en_pl]), number(plural, [es, es_pl]));
    (format!("the {en}"), format!("{article} {es}"))
}

/// `"a"` / `"de"` and `"the …"`: `"a la playa"`, `"de la casa"`, contracted before `el` to
/// `"al parque"`, `"del río"`.
fn contract(preposition: &str, noun: &Noun) -> String {
    let (_, es) = the(noun, false);
    match es.strip_prefix("el ") {
        Some(rest) => format!("{preposition}l {rest}"), // a + el = al, de + el = del
        None => format!("{preposition} {es}"),
    }
}

/// The adjective's form agreeing with `noun`.
fn agree(adjective: &Adjective, noun: &Noun, plural: bool) -> &'static str {
    adjective.1[usize::from(noun.4 == F) + 2 * usize::from(plural)]
}

/// Each noun in the singular, then in the plural.
fn each_number(nouns: &'static [Noun]) -> impl Iterator<Item = (&'static Noun, bool)> {
    nouns.iter().flat_map(|noun| [(noun, false), (noun, true)])
}

/// `one` or `many` by `plural`.
fn number(plural: bool, one_many: [S; 2]) -> S {
    one_many[usize::from(plural)]
}

/// Collects pairs in order, skipping exact repeats; panics if one English sentence would get
/// two translations (a bug in the templates).
#[derive(Default)]
struct Pairs {
    pairs: Vec<Pair>,
    seen: HashMap<String, String>,
}

impl Pairs {
    /// Adds a pair, spaces tidied (a dropped pronoun leaves none behind).
    fn push(&mut self, english: String, spanish: String) {
        let tidy = |s: String| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let (en, es) = (tidy(english), tidy(spanish));
        match self.seen.insert(en.clone(), es.clone()) {
            Some(previous) => assert_eq!(previous, es, "two translations of {en:?}"),
            None => self.pairs.push((en, es)),
        }
    }
}

/// `pair!(pairs, "english {x}", "spanish {y}")`: both sentences formatted (names in the braces
/// are the template's slots, filled from the variables in scope) and pushed.
macro_rules! pair {
    ($pairs:expr, $english:literal, $spanish:literal) => {
        $pairs.push(format!($english), format!($spanish))
    };
}

/// `"let's eat"` → `"comamos"` (where English says it) and `"to eat"` → `"comer"`.
fn lets_and_to(&(en, _, inf, lets, _): &Verb) -> Vec<Pair> {
    let lets = (!lets.is_empty()).then(|| (format!("let's {en}"), lets.to_string()));
    let to = (format!("to {en}"), inf.to_string());
    lets.into_iter().chain([to]).collect()
}

/// `"i eat"` → `"como"`, `"she eats"` → `"ella come"`, … for the six [`PERSONS`].
fn persons(&(en, en_s, _, _, present): &Verb) -> impl Iterator<Item = Pair> {
    PERSONS.iter().map(move |&(who, pronoun, person)| {
        let (en, es) = (if person == 2 { en_s } else { en }, present[person]);
        (format!("{who} {en}"), format!("{pronoun} {es}"))
    })
}

/// Every pair the templates generate, in a fixed order (the book's two first).
fn all_pairs() -> Vec<Pair> {
    let mut p = Pairs::default();
    // "let's go" → "vamos", "to go" → "ir", and the same for the food verbs.
    for verb in std::iter::once(&GO).chain(FOOD_VERBS) {
        for (en, es) in lets_and_to(verb) {
            p.push(en, es);
        }
    }
    // Going places: "we go to the beach" → "vamos a la playa", "to go to the park" → "ir al parque".
    for place in PLACES {
        let ((place, _), to) = (the(place, false), contract("a", place));
        for (en, es) in lets_and_to(&GO).into_iter().chain(persons(&GO)) {
            pair!(p, "{en} to {place}", "{es} {to}");
        }
    }
    // Food: "let's eat the pizza" → "comamos la pizza", "i eat the pizza" → "como la pizza"
    // (persons with one food only), "the cats eat the cakes" → "los gatos comen los pasteles".
    for (food, plural) in each_number(FOODS) {
        let (food, comida) = the(food, plural);
        for verb in FOOD_VERBS {
            let people = persons(verb).filter(|_| !plural);
            for (en, es) in lets_and_to(verb).into_iter().chain(people) {
                pair!(p, "{en} {food}", "{es} {comida}");
            }
        }
        for (animal, many) in each_number(ANIMALS) {
            let ((en, es), eats) = (the(animal, many), number(many, ["eats", "eat"]));
            let come = number(many, ["come", "comen"]);
            pair!(p, "{en} {eats} {food}", "{es} {come} {comida}");
        }
    }
    // The pizza sentence, in pieces: "the pizza came out of the oven" → "la pizza salió del
    // horno", "it tasted good" → "sabía bien".
    let tastes = [("good", "bien"), ("bad", "mal")];
    for (it, sabia) in [("it", "sabía"), ("they", "sabían")] {
        for (good, bien) in tastes {
            pair!(p, "{it} tasted {good}", "{sabia} {bien}");
        }
    }
    for (food, plural) in each_number(FOODS) {
        let ((en, es), sabia) = (the(food, plural), number(plural, ["sabía", "sabían"]));
        for (good, bien) in tastes {
            pair!(p, "{en} tasted {good}", "{es} {sabia} {bien}");
        }
        let salio = number(plural, ["salió", "salieron"]);
        let en = format!("{en} came out of the oven");
        let es = format!("{es} {salio} del horno");
        p.push(en.clone(), es.clone());
        pair!(p, "{en} and tasted good", "{es} y {sabia} bien");
    }
    // Animals: "the cat sat on the mat" → "el gato se sentó en la alfombra",
    // "the dog came out of the river" → "el perro salió del río".
    for (animal, plural) in each_number(ANIMALS) {
        let (en, es) = the(animal, plural);
        let sento = number(plural, ["se sentó", "se sentaron"]);
        for seat in SEATS {
            let (seat, asiento) = the(seat, false);
            pair!(p, "{en} sat on {seat}", "{es} {sento} en {asiento}");
        }
        let salio = number(plural, ["salió", "salieron"]);
        for exit in EXITS {
            let ((exit, _), de) = (the(exit, false), contract("de", exit));
            pair!(p, "{en} came out of {exit}", "{es} {salio} {de}");
        }
    }
    // "the pizza is hot" → "la pizza está caliente", "the cats are big" → "los gatos son grandes".
    let foods = each_number(FOODS).map(|food| (food, FOOD_ADJECTIVES));
    let oven = each_number(&THINGS[..1]).map(|oven| (oven, &FOOD_ADJECTIVES[..2])); // hot, cold
    let things = each_number(ANIMALS).chain(each_number(THINGS));
    let things = things.map(|thing| (thing, THING_ADJECTIVES));
    for ((noun, plural), adjectives) in foods.chain(oven).chain(things) {
        let ((en, es), is) = (the(noun, plural), number(plural, ["is", "are"]));
        for adjective @ &(adj, _, copula) in adjectives {
            let (esta, form) = (number(plural, copula), agree(adjective, noun, plural));
            pair!(p, "{en} {is} {adj}", "{es} {esta} {form}");
        }
    }
    // Reordering: "i want the hot pizza" → "quiero la pizza caliente".
    for (food, plural) in each_number(FOODS) {
        let (noun, (_, comida)) = (number(plural, [food.0, food.1]), the(food, plural));
        for adjective @ &(hot, ..) in &FOOD_ADJECTIVES[..2] {
            let caliente = agree(adjective, food, plural);
            for (en, es) in persons(&FOOD_VERBS[1]).take(3) {
                pair!(p, "{en} the {hot} {noun}", "{es} {comida} {caliente}");
            }
        }
    }
    p.pairs
}

/// The book's own sentences (`TOY_SENTENCES`, `TOY_TRANSLATIONS`): never held out.
#[rustfmt::skip]
const BOOK: &[&str] = &[
    "let's go", "to go", "it tasted good", "the pizza came out of the oven",
    "the cat sat on the mat", "the dog sat on the log",
];

/// Holds out one pair in [`HELD_OUT_EVERY`]: walks the pairs in an order shuffled by
/// `seeded_rng(seed)` and moves a pair to `held_out` only if every word of both its sentences
/// stays in some training pair (so a held-out pair is a new combination of known words) and
/// it is none of the [`BOOK`]'s. Both halves keep the generation order.
fn split(pairs: Vec<Pair>, seed: u64) -> ParallelCorpus {
    // The distinct words of a pair, tagged with their side.
    let words = |(en, es): &Pair| {
        let en = en.split_whitespace().map(|w| ("en", w.to_string()));
        let es = es.split_whitespace().map(|w| ("es", w.to_string()));
        en.chain(es).collect::<BTreeSet<_>>()
    };
    // How many training pairs hold each word.
    let mut count: HashMap<(&str, String), usize> = HashMap::new();
    for word in pairs.iter().flat_map(words) {
        *count.entry(word).or_default() += 1;
    }
    // Fisher–Yates on the ChaCha stream itself, so the order never depends on `rand`'s version.
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    let mut rng = seeded_rng(seed);
    for i in (1..order.len()).rev() {
        order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    let (mut held, mut left) = (vec![false; pairs.len()], pairs.len() / HELD_OUT_EVERY);
    for i in order {
        let pair_words = words(&pairs[i]);
        let book = BOOK.contains(&pairs[i].0.as_str());
        if left == 0 || book || pair_words.iter().any(|w| count[w] < 2) {
            continue;
        }
        for w in &pair_words {
            *count.get_mut(w).unwrap() -= 1;
        }
        (held[i], left) = (true, left - 1);
    }
    let mut corpus = ParallelCorpus::default();
    for (pair, held) in pairs.into_iter().zip(held) {
        [&mut corpus.train, &mut corpus.held_out][usize::from(held)].push(pair);
    }
    corpus
}
