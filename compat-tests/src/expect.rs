//! Assertions on the exact shape of moby's answers, shared by the test files.

use crate::Response;
use crate::json_error_body;

/// A JSON error as moby writes it: the status, `Content-Type: application/json` exactly
/// (the Go client parses nothing else), and the body `{"message":"..."}` plus a newline.
#[track_caller]
pub fn json_error(r: &Response, status: u16, message: &str) {
    assert_eq!(r.status, status, "status\n{}", r.describe());
    assert_eq!(
        r.header("Content-Type"),
        Some("application/json"),
        "Content-Type\n{}",
        r.describe()
    );
    assert_eq!(r.text(), json_error_body(message), "body\n{}", r.describe());
}

/// A plain-text error as moby writes it for API versions below 1.24 (Go's `http.Error`):
/// `text/plain; charset=utf-8`, `X-Content-Type-Options: nosniff`, message plus newline.
#[track_caller]
pub fn text_error(r: &Response, status: u16, message: &str) {
    assert_eq!(r.status, status, "status\n{}", r.describe());
    assert_eq!(
        r.header("Content-Type"),
        Some("text/plain; charset=utf-8"),
        "Content-Type\n{}",
        r.describe()
    );
    assert_eq!(
        r.header("X-Content-Type-Options"),
        Some("nosniff"),
        "nosniff\n{}",
        r.describe()
    );
    assert_eq!(r.text(), format!("{message}\n"), "body\n{}", r.describe());
}

/// The 404 for unknown routes and wrong methods: `{"message":"page not found"}`, JSON, and
/// none of the version middleware's headers (the mux answers before any middleware runs).
#[track_caller]
pub fn page_not_found(r: &Response) {
    json_error(r, 404, "page not found");
    assert!(
        !r.has_header("Api-Version"),
        "unexpected Api-Version\n{}",
        r.describe()
    );
    assert!(
        !r.has_header("Docker-Experimental"),
        "unexpected Docker-Experimental\n{}",
        r.describe()
    );
}

/// Headers the version middleware puts on every routed response.
#[track_caller]
pub fn common_headers(r: &Response, api_max: &str) {
    assert_eq!(
        r.header("Api-Version"),
        Some(api_max),
        "Api-Version\n{}",
        r.describe()
    );
    assert_eq!(
        r.header("Ostype"),
        Some("linux"),
        "Ostype\n{}",
        r.describe()
    );
    let server = r
        .header("Server")
        .unwrap_or_else(|| panic!("no Server header\n{}", r.describe()));
    assert!(
        server.starts_with("Docker/") && server.ends_with(" (linux)"),
        "Server header {server:?}"
    );
}
