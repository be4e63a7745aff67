//! `/_ping`: what every client reads first.

use compat_tests::{daemon, expect};

#[track_caller]
fn assert_ping_headers(r: &compat_tests::Response) {
    let api = r
        .header("Api-Version")
        .unwrap_or_else(|| panic!("no Api-Version\n{}", r.describe()));
    let parts: Vec<&str> = api.split('.').collect();
    assert!(
        parts.len() == 2
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())),
        "Api-Version {api:?}"
    );
    expect::common_headers(r, api);
    assert!(
        matches!(r.header("Docker-Experimental"), Some("true" | "false")),
        "Docker-Experimental\n{}",
        r.describe()
    );
    assert_eq!(
        r.header("Cache-Control"),
        Some("no-cache, no-store, must-revalidate"),
        "{}",
        r.describe()
    );
    assert_eq!(r.header("Pragma"), Some("no-cache"), "{}", r.describe());
    assert_eq!(
        r.header("Content-Type"),
        Some("text/plain; charset=utf-8"),
        "{}",
        r.describe()
    );
    assert!(r.has_header("Date"), "no Date header\n{}", r.describe());
    if let Some(bv) = r.header("Builder-Version") {
        assert!(bv == "1" || bv == "2", "Builder-Version {bv:?}");
    }
}

#[test]
fn head_ping_headers() {
    let d = daemon();
    let r = d.head("/_ping");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_ping_headers(&r);
    assert_eq!(r.header("Content-Length"), Some("0"), "{}", r.describe());
    assert!(r.body.is_empty());
    if d.owned() {
        // Newer dockerd (API >= 1.42 era) advertises the swarm state; Debian's dockerd 20.10
        // does not send the header at all, so only berthd is held to it.
        assert_eq!(r.header("Swarm"), Some("inactive"), "{}", r.describe());
    }
}

#[test]
fn get_ping_body_ok() {
    let d = daemon();
    for path in ["/_ping", "/v1.41/_ping", "/v1.24/_ping"] {
        let r = d.get(path);
        assert_eq!(r.status, 200, "{path}\n{}", r.describe());
        assert_ping_headers(&r);
        assert_eq!(r.body, b"OK", "{path}\n{}", r.describe());
        assert_eq!(
            r.header("Content-Length"),
            Some("2"),
            "{path}\n{}",
            r.describe()
        );
        if d.owned() {
            assert_eq!(r.header("Swarm"), Some("inactive"), "{}", r.describe());
        }
    }
}

#[test]
fn ping_on_a_kept_alive_connection() {
    // Clients reuse one connection; a HEAD must not leave a stray body behind.
    let d = daemon();
    let mut conn = compat_tests::http::Conn::connect(d.socket_path()).expect("connect");
    for method in ["HEAD", "GET", "HEAD", "GET"] {
        let r = conn
            .request(method, "/_ping", &[], b"")
            .expect("ping on kept-alive connection");
        assert_eq!(r.status, 200, "{}", r.describe());
        assert_eq!(
            r.body,
            if method == "GET" {
                &b"OK"[..]
            } else {
                &b""[..]
            }
        );
    }
}
