//! The hints manifest `src/exercises/hints.json`, shared by the learner test and the proofs.
#![allow(dead_code)] // each test binary uses a different subset

use serde_json::Value;

/// One exercise as the manifest describes it.
pub struct Exercise {
    pub number: u64,
    pub id: String,
    pub chapter: u64,
    pub section: String,
    pub title: String,
    pub file: String,
    pub function: String,
    pub hints: Vec<String>,
    /// Names of the wrong solutions (functions in `solutions/chNN.rs`, module `wrong`).
    pub mistakes: Vec<String>,
}

/// Every exercise, in order.
pub fn exercises() -> Vec<Exercise> {
    let json: Value = serde_json::from_str(include_str!("../../src/exercises/hints.json"))
        .expect("src/exercises/hints.json is valid JSON");
    let text = |e: &Value, key: &str| {
        e[key]
            .as_str()
            .unwrap_or_else(|| panic!("hints.json: `{key}` missing"))
            .to_string()
    };
    let texts = |v: &Value| -> Vec<String> {
        v.as_array()
            .expect("an array")
            .iter()
            .map(|s| s.as_str().expect("a string").to_string())
            .collect()
    };
    json["exercises"]
        .as_array()
        .expect("hints.json: `exercises` is an array")
        .iter()
        .map(|e| Exercise {
            number: e["number"].as_u64().expect("number"),
            id: text(e, "id"),
            chapter: e["chapter"].as_u64().expect("chapter"),
            section: text(e, "section"),
            title: text(e, "title"),
            file: text(e, "file"),
            function: text(e, "function"),
            hints: texts(&e["hints"]),
            mistakes: e["mistakes"]
                .as_array()
                .expect("mistakes")
                .iter()
                .map(|m| m["name"].as_str().expect("mistake name").to_string())
                .collect(),
        })
        .collect()
}

/// The exercise with this id.
pub fn exercise(id: &str) -> Exercise {
    exercises()
        .into_iter()
        .find(|e| e.id == id)
        .unwrap_or_else(|| panic!("hints.json has no exercise `{id}`"))
}
