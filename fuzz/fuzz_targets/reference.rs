//! Image references as users type them: parsing never panics, and a parsed reference,
//! written out, reads back as itself.
#![no_main]

use berth_engine::image::reference::Reference;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(r) = Reference::parse_normalized(text) else {
        return;
    };
    let written = r.to_string();
    let again = Reference::parse_normalized(&written)
        .unwrap_or_else(|e| panic!("{text:?} read as {written:?}, which does not read: {e}"));
    assert_eq!(again.to_string(), written, "{text:?}");
    let _ = r.familiar();
    let _ = Reference::parse_docker_ref(text);
});
