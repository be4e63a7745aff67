//! The Dockerfile reader and the word expansion of every instruction: any text is either
//! read or refused with an error, never a panic.
#![no_main]

use std::collections::BTreeMap;

use berth_engine::build::dockerfile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(file) = dockerfile::parse(text) else {
        return;
    };
    let vars: BTreeMap<String, String> =
        [("A".to_string(), "a b".to_string()), ("EMPTY".to_string(), String::new())].into();
    for ins in &file.instructions {
        let words = ins.text();
        let _ = dockerfile::expand_words(&words, &vars, file.escape);
        if matches!(ins.keyword.as_str(), "ENV" | "LABEL") {
            if let Ok(pairs) = dockerfile::name_values(&ins.keyword, &words, file.escape) {
                for (_, value) in pairs {
                    let _ = dockerfile::expand(&value, &vars, file.escape);
                }
            }
        }
    }
});
