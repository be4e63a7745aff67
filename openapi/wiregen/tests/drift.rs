//! The committed wire types must be exactly what the generator writes from the pinned spec.

#[test]
fn committed_wire_types_match_the_spec() {
    let Some(spec) = berth_wiregen::spec_path() else {
        eprintln!("SKIP: moby's spec is not beside the checkout (set BERTH_MOBY_SPEC)");
        return;
    };
    let yaml = std::fs::read_to_string(spec).expect("spec readable");
    let generated = berth_wiregen::generate(&yaml).expect("spec generates");
    let committed = std::fs::read_to_string(berth_wiregen::committed_path()).unwrap_or_default();
    assert!(
        committed == generated,
        "api/src/wire/generated.rs is stale: run `cargo run -p berth-wiregen -- write` and commit it"
    );
}
