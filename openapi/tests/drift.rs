//! The committed OpenAPI document must be exactly what the code generates.

#[test]
fn committed_document_matches_the_code() {
    let committed = std::fs::read_to_string(berth_openapi::committed_path()).unwrap_or_default();
    let generated = berth_openapi::generated();
    assert!(
        committed == generated,
        "openapi/berth-api.json is stale: run `cargo run -p berth-openapi -- write` and commit it"
    );
}

#[test]
fn coverage_sees_the_served_operations() {
    let Ok(yaml) = std::fs::read_to_string(berth_openapi::moby_spec_path()) else {
        eprintln!("moby spec not present beside the checkout; skipping");
        return;
    };
    let spec = berth_openapi::spec_operations(&yaml);
    assert!(spec.len() > 100, "parsed only {} operations", spec.len());
    let served = berth_openapi::served_operations();
    for op in [
        "GET /_ping",
        "HEAD /_ping",
        "GET /version",
        "GET /info",
        "GET /events",
    ] {
        assert!(spec.contains(op), "{op} missing from moby spec parse");
        assert!(served.contains(op), "{op} not served");
    }
}
