//! The `filters` query parameter: any text decodes or is refused as `invalid filter`, and
//! whatever decodes can be validated and matched without a panic.
#![no_main]

use std::collections::BTreeMap;

use berth_api::extract::parse_filters;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(filters) = parse_filters(text) else {
        return;
    };
    let _ = filters.validate(&["label", "name", "status", "before", "since", "dangling"]);
    let labels: BTreeMap<String, String> =
        [("a".to_string(), "1".to_string()), ("b".to_string(), String::new())].into();
    let _ = filters.label_match(&labels);
    let _ = filters.key_value_match("label", &labels);
    let _ = filters.exact_match("name", "x");
    let _ = filters.prefix_match_any("name", &["abc", ""]);
});
