//! Routing: unknown paths, wrong methods, OPTIONS, and routes that exist only to refuse.

use compat_tests::{daemon, expect};

#[test]
fn unknown_paths_are_page_not_found() {
    let d = daemon();
    for path in [
        "/nope",
        "/v1.41/nope",
        "/v1.24/containers/x/nope/deeper",
        "/info/extra",
    ] {
        let r = d.get(path);
        expect::page_not_found(&r);
    }
    // Even an out-of-range version does not change a 404 for an unknown route: the mux
    // answers before the version check runs.
    expect::page_not_found(&d.get("/v9.99/nope"));
}

#[test]
fn wrong_methods_are_page_not_found_not_405() {
    let d = daemon();
    for (method, path) in [
        ("DELETE", "/info"),
        ("POST", "/version"),
        ("PUT", "/_ping"),
        ("DELETE", "/v1.41/events"),
        ("POST", "/v1.41/info"),
    ] {
        let r = d.request(method, path, &[], b"");
        assert_eq!(r.status, 404, "{method} {path}\n{}", r.describe());
        expect::page_not_found(&r);
    }
}

#[test]
fn options_on_any_path_is_a_bare_200() {
    let d = daemon();
    let max = d.max_api_version();
    for path in ["/anything", "/v1.41/containers/json", "/_ping", "/a/b/c"] {
        let r = d.request("OPTIONS", path, &[], b"");
        assert_eq!(r.status, 200, "OPTIONS {path}\n{}", r.describe());
        assert!(r.body.is_empty(), "OPTIONS {path}\n{}", r.describe());
        // OPTIONS is a real route, so the version middleware's headers are there.
        expect::common_headers(&r, &max);
        // No CORS middleware: no Access-Control-* headers unless configured.
        assert!(
            !r.has_header("Access-Control-Allow-Origin"),
            "{}",
            r.describe()
        );
    }
}

#[test]
fn swarm_routes_refuse_on_an_inactive_node() {
    let d = daemon();
    let max = d.max_api_version();
    let not_manager = "This node is not a swarm manager. Use \"docker swarm init\" or \
                       \"docker swarm join\" to connect this node to swarm and try again.";
    for path in [
        "/swarm",
        "/v1.41/swarm",
        "/nodes",
        "/services",
        "/tasks",
        "/v1.41/secrets",
        "/configs",
    ] {
        let r = d.get(path);
        expect::json_error(&r, 503, not_manager);
        expect::common_headers(&r, &max);
    }
    let r = d.request("POST", "/v1.41/swarm/leave", &[], b"");
    expect::json_error(&r, 503, "This node is not part of a swarm");
    let r = d.request("POST", "/swarm/leave?force=1", &[], b"");
    expect::json_error(&r, 503, "This node is not part of a swarm");
}

#[test]
fn swarm_errors_are_plain_text_below_1_24() {
    let d = daemon();
    let r = d.get("/v1.23/swarm");
    expect::text_error(
        &r,
        503,
        "This node is not a swarm manager. Use \"docker swarm init\" or \
         \"docker swarm join\" to connect this node to swarm and try again.",
    );
}

#[test]
fn checkpoint_routes_need_experimental() {
    let d = daemon();
    let max = d.max_api_version();
    let msg = "This experimental feature is disabled by default. Start the Docker daemon in \
               experimental mode in order to enable it.";
    // The experimental gate answers before the container is looked up.
    for (method, path) in [
        ("GET", "/containers/x/checkpoints"),
        ("GET", "/v1.41/containers/x/checkpoints"),
        ("POST", "/v1.41/containers/x/checkpoints"),
        ("DELETE", "/v1.41/containers/x/checkpoints/cp1"),
    ] {
        let r = d.request(method, path, &[], b"");
        expect::json_error(&r, 501, msg);
        expect::common_headers(&r, &max);
        assert_eq!(
            r.header("Docker-Experimental"),
            Some("false"),
            "{}",
            r.describe()
        );
    }
}

/// `POST /session` checks the upgrade a BuildKit session needs before anything else.
#[test]
fn session_needs_an_h2c_upgrade() {
    let d = daemon();
    let r = d.request("POST", "/session", &[], b"");
    expect::json_error(&r, 400, "no upgrade proto in request");
    let r = d.request(
        "POST",
        "/session",
        &[("Connection", "Upgrade"), ("Upgrade", "foo")],
        b"",
    );
    expect::json_error(&r, 400, "protocol foo not supported");
}

/// `POST /grpc` makes the same checks, reported as 500s.
#[test]
fn grpc_needs_an_h2c_upgrade() {
    let d = daemon();
    let r = d.request("POST", "/grpc", &[], b"");
    expect::json_error(&r, 500, "no upgrade proto in request");
    let r = d.request(
        "POST",
        "/grpc",
        &[("Connection", "Upgrade"), ("Upgrade", "foo")],
        b"",
    );
    expect::json_error(&r, 500, "protocol foo not supported");
}
