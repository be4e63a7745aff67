//! The shape of dockerd's answers, kept as golden JSON and compared key by key.
//!
//! One scenario (a user network, a labelled volume, a container on both with a published
//! port and a healthcheck, an exec, a lookup of a missing container, the create event) runs
//! against the daemon under test at `/v1.41`, and every answer's shape (its keys, and the
//! JSON type of every value, `null` included) must equal the shape of the answers Debian's
//! dockerd 20.10 gave to the same scenario, kept in `golden/dockerd-20.10-v1.41.json`. Values
//! (IDs, addresses, times) are not compared. `BERTH_GOLDEN_WRITE=1` against a dockerd
//! rewrites the file.

use std::path::PathBuf;

use compat_tests::{Daemon, daemon, url_encode};
use serde_json::{Map, Value, json};

/// Differences from dockerd 20.10 that are Berth's by design: `(path, reason)`.
const KNOWN: &[(&str, &str)] = &[
    (
        "container_inspect.GraphDriver.Data",
        "snapshots live in containerd; there are no overlay2 directories to show",
    ),
    (
        "container_inspect.NetworkSettings.Networks.*.DNSNames",
        "API 1.44's DNSNames, which moby since 25 shows at every version",
    ),
    (
        "container_list[].NetworkSettings.Networks.*.DNSNames",
        "API 1.44's DNSNames, which moby since 25 shows at every version",
    ),
];

/// Objects whose keys are data (names, ports, labels), not fields: their values are
/// compared with one another's shape, whatever the keys.
const DATA_MAPS: &[&str] = &[
    "Labels",
    "Networks",
    "Ports",
    "PortBindings",
    "ExposedPorts",
    "Options",
    "Containers",
    "Volumes",
    "Attributes",
    "Data",
    "DriverOpts",
];

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden/dockerd-20.10-v1.41.json")
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Where `ours` differs in shape from `golden`, as `path: what` lines.
fn shape_differences(golden: &Value, ours: &Value, path: &str, out: &mut Vec<(String, String)>) {
    let (a, b) = (kind(golden), kind(ours));
    if a != b {
        out.push((path.to_string(), format!("dockerd {a}, here {b}")));
        return;
    }
    match (golden, ours) {
        (Value::Object(g), Value::Object(o)) => {
            let last = path.rsplit('.').next().unwrap_or(path);
            if DATA_MAPS.contains(&last) || path.ends_with("LogConfig.Config") {
                match (g.values().next(), o.values().next()) {
                    (Some(gv), Some(ov)) => shape_differences(gv, ov, &format!("{path}.*"), out),
                    (None, None) => {}
                    _ => out.push((
                        path.to_string(),
                        format!("dockerd {} entries, here {}", g.len(), o.len()),
                    )),
                }
                return;
            }
            for k in g.keys().chain(o.keys().filter(|k| !g.contains_key(*k))) {
                let here = format!("{path}.{k}");
                match (g.get(k), o.get(k)) {
                    (Some(gv), Some(ov)) => shape_differences(gv, ov, &here, out),
                    (Some(gv), None) => out.push((here, format!("missing ({})", kind(gv)))),
                    (None, Some(ov)) => {
                        out.push((here, format!("not in dockerd's ({})", kind(ov))))
                    }
                    (None, None) => {}
                }
            }
        }
        (Value::Array(g), Value::Array(o)) => {
            if let (Some(gv), Some(ov)) = (g.first(), o.first()) {
                shape_differences(gv, ov, &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

/// Runs the scenario and returns each answer by name.
fn scenario(d: &Daemon) -> Map<String, Value> {
    let pid = std::process::id();
    let (net, vol, ctr) = (
        format!("bct-golden-{pid}-net"),
        format!("bct-golden-{pid}-vol"),
        format!("bct-golden-{pid}-ctr"),
    );
    let image = d.load_test_image("golden");
    let mut out = Map::new();
    let since = compat_tests::unix_now() - 1;
    let ok = |r: compat_tests::http::Response, status: u16| {
        assert_eq!(r.status, status, "{}", r.describe());
        r
    };
    ok(
        d.post_json(
            "/v1.41/networks/create",
            &json!({"Name": net, "Labels": {"a": "b"}}),
        ),
        201,
    );
    let r = ok(
        d.post_json(
            "/v1.41/volumes/create",
            &json!({"Name": vol, "Labels": {"a": "b"}}),
        ),
        201,
    );
    out.insert("volume_create".into(), r.json());
    let r = ok(
        d.post_json(
            &format!("/v1.41/containers/create?name={ctr}"),
            &json!({
                "Image": image, "Cmd": ["sleep", "300"], "Labels": {"a": "b"}, "Env": ["A=1"],
                "ExposedPorts": {"80/tcp": {}},
                "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1_000_000_000},
                "HostConfig": {
                    "Binds": [format!("{vol}:/data")],
                    "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]},
                    "NetworkMode": net,
                },
            }),
        ),
        201,
    );
    out.insert("container_create".into(), r.json());
    let id = r.json()["Id"].as_str().unwrap_or_default().to_string();
    ok(
        d.request("POST", &format!("/v1.41/containers/{id}/start"), &[], b""),
        204,
    );
    // Let the first health probe land, so State.Health.Log has an entry on both daemons.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while d.get_json(&format!("/v1.41/containers/{id}/json")).1["State"]["Health"]["Log"]
        .as_array()
        .is_none_or(Vec::is_empty)
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    out.insert(
        "container_inspect".into(),
        d.get_json(&format!("/v1.41/containers/{id}/json")).1,
    );
    let filter = |name: &str| url_encode(&json!({"name": [name]}).to_string());
    out.insert(
        "container_list".into(),
        d.get_json(&format!("/v1.41/containers/json?filters={}", filter(&ctr)))
            .1,
    );
    let r = ok(
        d.post_json(
            &format!("/v1.41/containers/{id}/exec"),
            &json!({"Cmd": ["true"]}),
        ),
        201,
    );
    out.insert("exec_create".into(), r.json());
    let exec = r.json()["Id"].as_str().unwrap_or_default().to_string();
    ok(
        d.post_json(
            &format!("/v1.41/exec/{exec}/start"),
            &json!({"Detach": true}),
        ),
        200,
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut exec_json = Value::Null;
    while std::time::Instant::now() < deadline {
        exec_json = d.get_json(&format!("/v1.41/exec/{exec}/json")).1;
        if exec_json["Running"] == json!(false) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    out.insert("exec_inspect".into(), exec_json);
    out.insert(
        "network_inspect".into(),
        d.get_json(&format!("/v1.41/networks/{net}")).1,
    );
    out.insert(
        "network_list".into(),
        d.get_json(&format!("/v1.41/networks?filters={}", filter(&net)))
            .1,
    );
    out.insert(
        "volume_inspect".into(),
        d.get_json(&format!("/v1.41/volumes/{vol}")).1,
    );
    out.insert(
        "volume_list".into(),
        d.get_json(&format!("/v1.41/volumes?filters={}", filter(&vol)))
            .1,
    );
    let r = d.get("/v1.41/containers/bct-golden-no-such-container/json");
    assert_eq!(r.status, 404, "{}", r.describe());
    out.insert("error_not_found".into(), r.json());
    let until = compat_tests::unix_now() + 1;
    let events = url_encode(&json!({"container": [ctr], "event": ["create"]}).to_string());
    let r = d.get(&format!(
        "/v1.41/events?since={since}&until={until}&filters={events}"
    ));
    let events: Vec<Value> = r
        .text()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(events.len(), 1, "{}", r.describe());
    out.insert("events".into(), Value::Array(events));
    let _ = d.request(
        "DELETE",
        &format!("/v1.41/containers/{id}?force=1&v=1"),
        &[],
        b"",
    );
    let _ = d.request("DELETE", &format!("/v1.41/networks/{net}"), &[], b"");
    let _ = d.request("DELETE", &format!("/v1.41/volumes/{vol}"), &[], b"");
    out
}

#[test]
fn answers_have_the_shape_dockerd_gives_them() {
    let d = daemon();
    let answers = scenario(&d);
    if std::env::var_os("BERTH_GOLDEN_WRITE").is_some() {
        let server = d
            .get("/_ping")
            .header("Server")
            .unwrap_or_default()
            .to_string();
        assert!(
            !server.contains("berth"),
            "golden answers are captured from dockerd only, not {server}"
        );
        let text = serde_json::to_string_pretty(&Value::Object(answers)).expect("serialises");
        std::fs::write(golden_path(), text + "\n").expect("golden file written");
        return;
    }
    let golden: Value =
        serde_json::from_str(&std::fs::read_to_string(golden_path()).expect("golden file present"))
            .expect("golden file parses");
    let mut differences = Vec::new();
    for (name, answer) in &answers {
        shape_differences(&golden[name], answer, name, &mut differences);
    }
    let unexplained: Vec<String> = differences
        .iter()
        .filter(|(path, _)| !KNOWN.iter().any(|(known, _)| known == path))
        .map(|(path, what)| format!("{path}: {what}"))
        .collect();
    assert!(
        unexplained.is_empty(),
        "answers differ in shape from dockerd's:\n{}",
        unexplained.join("\n")
    );
}

#[test]
fn shape_comparison_sees_keys_types_and_nulls() {
    let golden = json!({"A": null, "B": [{"x": 1}], "Labels": {"k": "v"}, "C": "s"});
    let mut out = Vec::new();
    shape_differences(
        &golden,
        &json!({"A": [], "B": [{"x": "1"}], "Labels": {"other": "w"}, "D": 1}),
        "t",
        &mut out,
    );
    let paths: Vec<&str> = out.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, vec!["t.A", "t.B[].x", "t.C", "t.D"], "{out:?}");
}
