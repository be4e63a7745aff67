//! The `/v1.NN` prefix: range checks, their messages, and plain-text errors below 1.24.
//!
//! The expected range is read from the server (`Api-Version` on `/_ping`, `MinAPIVersion` on
//! `/version`) so the same tests hold for dockerd 20.10 (1.12..1.41) and berthd (1.12..1.50+).

use compat_tests::{daemon, expect, parse_api_version};

/// The version just below `v` in the minor component (`1.12` -> `1.11`).
fn one_below(v: &str) -> String {
    let parts = parse_api_version(v);
    assert!(parts.len() == 2 && parts[1] > 0, "cannot go below {v}");
    format!("{}.{}", parts[0], parts[1] - 1)
}

#[test]
fn too_old_version_is_rejected_in_plain_text() {
    let d = daemon();
    let min = d.min_api_version();
    let old = one_below(&min);
    let r = d.get(&format!("/v{old}/version"));
    // Versions below 1.24 get plain-text errors, and any "too old" version is below 1.24
    // while the minimum is 1.12.
    expect::text_error(
        &r,
        400,
        &format!(
            "client version {old} is too old. Minimum supported API version is {min}, \
             please upgrade your client to a newer version"
        ),
    );
    assert_eq!(
        r.header("Api-Version"),
        Some(d.max_api_version().as_str()),
        "{}",
        r.describe()
    );
}

#[test]
fn minimum_version_is_served() {
    let d = daemon();
    let min = d.min_api_version();
    let r = d.get(&format!("/v{min}/version"));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(r.json()["Version"].is_string());
}

#[test]
fn too_new_version_is_rejected_in_json() {
    let d = daemon();
    let max = d.max_api_version();
    let r = d.get("/v9.99/version");
    expect::json_error(
        &r,
        400,
        &format!("client version 9.99 is too new. Maximum supported API version is {max}"),
    );
    // The next minor above the maximum is rejected the same way.
    let parts = parse_api_version(&max);
    let above = format!("{}.{}", parts[0], parts[1] + 1);
    let r = d.get(&format!("/v{above}/version"));
    expect::json_error(
        &r,
        400,
        &format!("client version {above} is too new. Maximum supported API version is {max}"),
    );
}

#[test]
fn maximum_and_unversioned_are_served() {
    let d = daemon();
    let max = d.max_api_version();
    let r = d.get(&format!("/v{max}/version"));
    assert_eq!(r.status, 200, "{}", r.describe());
    expect::common_headers(&r, &max);
    let r = d.get("/version");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(r.json()["ApiVersion"], max.as_str());
}

#[test]
fn errors_are_plain_text_below_1_24_and_json_from_1_24() {
    let d = daemon();
    let max = d.max_api_version();
    let msg = "`since` time (5) cannot be after `until` time (3)";

    let r = d.get("/v1.23/events?since=5&until=3");
    expect::text_error(&r, 400, msg);
    expect::common_headers(&r, &max);

    let r = d.get("/v1.24/events?since=5&until=3");
    expect::json_error(&r, 400, msg);
    expect::common_headers(&r, &max);

    // Unversioned requests are served at the maximum version: JSON.
    let r = d.get("/events?since=5&until=3");
    expect::json_error(&r, 400, msg);
}

#[test]
fn version_components_compare_numerically() {
    // `1.4` is 1.4, below `1.12`, not "1.40": too old.
    let d = daemon();
    let min = d.min_api_version();
    let r = d.get("/v1.4/version");
    expect::text_error(
        &r,
        400,
        &format!(
            "client version 1.4 is too old. Minimum supported API version is {min}, \
             please upgrade your client to a newer version"
        ),
    );
}
