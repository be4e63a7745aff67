//! The Engine API from 1.51 to 1.56: each change checked over raw HTTP at the version just
//! below it and at its own. dockerd 20.10 stops at 1.41, so these are ledgered there.

use std::time::Duration;

use compat_tests::http::Response;
use compat_tests::{Daemon, daemon, unix_now, url_encode};
use serde_json::{Value, json};

struct Ctx {
    d: Daemon,
    image: String,
    containers: Vec<String>,
}

fn setup(test: &str) -> Ctx {
    let d = daemon();
    let image = d.load_test_image(&format!("current-{test}"));
    Ctx {
        d,
        image,
        containers: vec![],
    }
}

impl Ctx {
    /// A container name unique to this test run, removed when the test ends.
    fn name(&mut self, what: &str) -> String {
        let name = format!("bct-current-{}-{what}", std::process::id());
        self.containers.push(name.clone());
        name
    }

    fn create(&mut self, version: &str, what: &str, body: Value) -> (String, Value) {
        let name = self.name(what);
        let r = self
            .d
            .post_json(&format!("/v{version}/containers/create?name={name}"), &body);
        assert_eq!(r.status, 201, "{}", r.describe());
        (name, r.json())
    }

    fn start(&self, name: &str) {
        let r = self
            .d
            .request("POST", &format!("/containers/{name}/start"), &[], b"");
        assert_eq!(r.status, 204, "{}", r.describe());
    }

    fn get(&self, path: &str) -> Value {
        let (status, v) = self.d.get_json(path);
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        for c in &self.containers {
            self.d
                .request("DELETE", &format!("/containers/{c}?force=1&v=1"), &[], b"");
        }
    }
}

/// 1.52: inspect no longer carries the legacy top-level addresses of `NetworkSettings`, an
/// empty `Config.OnBuild`, nor `HostConfig.KernelMemoryTCP`.
#[test]
fn container_inspect_drops_legacy_keys_at_1_52() {
    let mut c = setup("inspect");
    let (name, _) = c.create(
        "1.51",
        "legacy",
        json!({"Image": c.image, "Cmd": ["sleep", "300"]}),
    );
    c.start(&name);
    let old = c.get(&format!("/v1.51/containers/{name}/json"));
    let new = c.get(&format!("/v1.52/containers/{name}/json"));
    let legacy = [
        "Bridge",
        "HairpinMode",
        "LinkLocalIPv6Address",
        "LinkLocalIPv6PrefixLen",
        "SecondaryIPAddresses",
        "SecondaryIPv6Addresses",
        "EndpointID",
        "Gateway",
        "GlobalIPv6Address",
        "GlobalIPv6PrefixLen",
        "IPAddress",
        "IPPrefixLen",
        "IPv6Gateway",
        "MacAddress",
    ];
    for key in legacy {
        assert!(
            old["NetworkSettings"].get(key).is_some(),
            "1.51 has NetworkSettings.{key}: {}",
            old["NetworkSettings"]
        );
        assert!(
            new["NetworkSettings"].get(key).is_none(),
            "1.52 has no NetworkSettings.{key}: {}",
            new["NetworkSettings"]
        );
    }
    assert!(
        old["NetworkSettings"]["IPAddress"]
            .as_str()
            .is_some_and(|ip| !ip.is_empty()),
        "{}",
        old["NetworkSettings"]
    );
    // What replaces them is still there.
    assert_eq!(
        new["NetworkSettings"]["Networks"]["bridge"]["IPAddress"],
        old["NetworkSettings"]["IPAddress"]
    );
    assert!(new["NetworkSettings"]["SandboxKey"].is_string());
    assert!(old["Config"].get("OnBuild").is_some(), "{}", old["Config"]);
    assert!(new["Config"].get("OnBuild").is_none(), "{}", new["Config"]);
    // The snapshotter moves from GraphDriver to Storage.
    let snapshotter = old["GraphDriver"]["Name"].clone();
    assert!(snapshotter.is_string(), "{}", old["GraphDriver"]);
    assert!(new.get("GraphDriver").is_none(), "{new}");
    assert_eq!(new["Storage"]["RootFS"]["Snapshot"]["Name"], snapshotter);
}

/// `GET /events` for `name`'s events so far (the stream ends at `until`).
fn past_events(c: &Ctx, version: &str, name: &str, since: u64, accept: &[&str]) -> Response {
    std::thread::sleep(Duration::from_millis(1100));
    let filters = url_encode(&json!({"container": [name]}).to_string());
    let headers: Vec<(&str, &str)> = accept.iter().map(|a| ("Accept", *a)).collect();
    let r = c.d.request(
        "GET",
        &format!(
            "/v{version}/events?since={since}&until={}&filters={filters}",
            unix_now()
        ),
        &headers,
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.describe());
    r
}

/// 1.52: events lose the legacy `status`, `id` and `from`; the stream is `application/jsonl`
/// (it was `application/json`) unless `Accept` names `application/x-ndjson` or
/// `application/json-seq` (RFC 7464 records).
#[test]
fn events_drop_legacy_fields_and_negotiate_framing_at_1_52() {
    let mut c = setup("events");
    let since = unix_now() - 1;
    let (name, _) = c.create("1.52", "ev", json!({"Image": c.image, "Cmd": ["true"]}));

    let old = past_events(&c, "1.51", &name, since, &[]);
    assert_eq!(old.header("Content-Type"), Some("application/json"));
    let ev: Value = serde_json::from_str(old.text().lines().next().expect("an event")).unwrap();
    assert_eq!(ev["Action"], "create", "{ev}");
    assert_eq!(ev["status"], "create", "{ev}");
    assert_eq!(ev["id"], ev["Actor"]["ID"], "{ev}");
    assert_eq!(ev["from"], json!(c.image), "{ev}");

    let new = past_events(&c, "1.52", &name, since, &[]);
    assert_eq!(new.header("Content-Type"), Some("application/jsonl"));
    let ev: Value = serde_json::from_str(new.text().lines().next().expect("an event")).unwrap();
    assert_eq!(ev["Action"], "create", "{ev}");
    for legacy in ["status", "id", "from"] {
        assert!(ev.get(legacy).is_none(), "1.52 has no {legacy}: {ev}");
    }

    // Wildcards do not count; a named type does, whatever its weight among the others.
    let any = past_events(&c, "1.52", &name, since, &["*/*"]);
    assert_eq!(any.header("Content-Type"), Some("application/jsonl"));
    let nd = past_events(&c, "1.52", &name, since, &["application/x-ndjson"]);
    assert_eq!(nd.header("Content-Type"), Some("application/x-ndjson"));
    let seq = past_events(
        &c,
        "1.52",
        &name,
        since,
        &["application/jsonl;q=0.1, application/json-seq;q=0.9"],
    );
    assert_eq!(seq.header("Content-Type"), Some("application/json-seq"));
    let body = &seq.body;
    assert_eq!(body.first(), Some(&0x1E), "{:?}", seq.text());
    for record in body[1..].split(|b| *b == 0x1E) {
        assert_eq!(record.last(), Some(&b'\n'), "{:?}", seq.text());
        let ev: Value = serde_json::from_slice(record).expect("each record is one JSON text");
        assert!(ev["Action"].is_string(), "{ev}");
    }
}

/// 1.52: the container-wide `Config.MacAddress` is gone (ignored, where 1.44-1.51 moved it to
/// the endpoint with a warning), and an empty list of port bindings is warned about.
#[test]
fn create_ignores_the_container_mac_and_warns_of_empty_port_bindings_at_1_52() {
    let mut c = setup("create");
    let mac = "92:d0:c6:0a:29:33";
    let body = json!({
        "Image": c.image, "Cmd": ["sleep", "300"], "MacAddress": mac,
        "ExposedPorts": {"80/tcp": {}},
        "HostConfig": {"PortBindings": {"80/tcp": []}},
    });
    let (old, created) = c.create("1.51", "mac51", body.clone());
    assert_eq!(
        created["Warnings"],
        json!([
            "The container-wide MacAddress field is now deprecated. It should be specified in \
             EndpointsConfig instead."
        ]),
        "{created}"
    );
    let (new, created) = c.create("1.52", "mac52", body);
    assert_eq!(
        created["Warnings"],
        json!([
            "Following container port(s) have an empty list of port-bindings: 80/tcp. \
             Such bindings will be discarded in a future version."
        ]),
        "{created}"
    );
    c.start(&old);
    c.start(&new);
    let mac_of = |name: &str| {
        c.get(&format!("/containers/{name}/json"))["NetworkSettings"]["Networks"]["bridge"]
            ["MacAddress"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(mac_of(&old), mac);
    let given = mac_of(&new);
    assert!(
        !given.is_empty() && given != mac,
        "1.52 ignores the container MAC: {given}"
    );
}

/// 1.51: the images list counts each image's containers (-1 before). 1.52: image inspect
/// leaves out unset config keys and empty `Parent`, `Comment`, `DockerVersion`, `Author`.
#[test]
fn images_count_containers_at_1_51_and_inspect_omits_unset_fields_at_1_52() {
    let mut c = setup("images");
    let id = c.get(&format!("/images/{}/json", c.image))["Id"]
        .as_str()
        .expect("image id")
        .to_string();
    let count = |c: &Ctx, version: &str| {
        let list = c.get(&format!("/v{version}/images/json"));
        list.as_array()
            .expect("a list")
            .iter()
            .find(|i| i["Id"] == json!(id))
            .unwrap_or_else(|| panic!("{id} not listed: {list}"))["Containers"]
            .as_i64()
            .expect("Containers is a number")
    };
    let before = count(&c, "1.51");
    c.create("1.51", "user1", json!({"Image": c.image, "Cmd": ["true"]}));
    c.create("1.51", "user2", json!({"Image": c.image, "Cmd": ["true"]}));
    assert_eq!(count(&c, "1.51"), before + 2);
    assert_eq!(count(&c, "1.50"), -1);

    let old = c.get(&format!("/v1.51/images/{}/json", c.image));
    let new = c.get(&format!("/v1.52/images/{}/json", c.image));
    // The test image sets Cmd, Env and Labels only.
    for key in ["Entrypoint", "OnBuild", "User", "Volumes", "WorkingDir"] {
        assert!(
            old["Config"].get(key).is_some(),
            "1.51 Config.{key}: {}",
            old["Config"]
        );
        assert!(
            new["Config"].get(key).is_none(),
            "1.52 Config.{key}: {}",
            new["Config"]
        );
    }
    for key in ["Cmd", "Env", "Labels"] {
        assert_eq!(new["Config"][key], old["Config"][key], "Config.{key}");
    }
    for key in ["Parent", "Comment", "DockerVersion", "Author"] {
        assert_eq!(old[key], json!(""), "1.51 {key}: {old}");
        assert!(new.get(key).is_none(), "1.52 {key}: {new}");
    }
    assert!(old["GraphDriver"]["Name"].is_string(), "{old}");
    assert!(
        new.get("GraphDriver").is_none(),
        "1.52 shows no graph driver: {new}"
    );
}

/// 1.52: `/system/df` adds `ImageUsage`, `ContainerUsage`, `VolumeUsage` and
/// `BuildCacheUsage` (with their items); with `verbose` the old lists go.
#[test]
fn disk_usage_summaries_at_1_52() {
    let mut c = setup("df");
    c.create(
        "1.52",
        "counted",
        json!({"Image": c.image, "Cmd": ["true"]}),
    );
    let old = c.get("/v1.51/system/df");
    for key in [
        "ImageUsage",
        "ContainerUsage",
        "VolumeUsage",
        "BuildCacheUsage",
    ] {
        assert!(old.get(key).is_none(), "1.51 has no {key}");
    }
    assert!(
        old["Images"].is_array() && old["Containers"].is_array(),
        "{old}"
    );

    let new = c.get("/v1.52/system/df");
    let count = |v: &Value, key: &str| v[key]["TotalCount"].as_u64().unwrap_or(0) as usize;
    for (usage, list) in [
        ("ImageUsage", "Images"),
        ("ContainerUsage", "Containers"),
        ("VolumeUsage", "Volumes"),
    ] {
        let items = new[list]
            .as_array()
            .unwrap_or_else(|| panic!("1.52 keeps {list}"));
        assert_eq!(
            count(&new, usage),
            items.len(),
            "{usage} vs {list}: {}",
            new[usage]
        );
        let usage_items = new[usage]["Items"].as_array().map_or(0, Vec::len);
        assert_eq!(usage_items, items.len(), "{usage}.Items");
    }
    assert!(count(&new, "ImageUsage") >= 1 && count(&new, "ContainerUsage") >= 1);
    assert!(new["BuildCacheUsage"].is_object(), "{new}");
    let images = &new["ImageUsage"];
    assert!(
        images["ActiveCount"].as_u64().unwrap_or(0) >= 1,
        "an image with a container is active: {images}"
    );
    assert_eq!(images["TotalSize"], new["LayersSize"], "{new}");

    let verbose = c.get("/v1.52/system/df?verbose=1&type=container");
    assert_eq!(
        verbose
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["ContainerUsage".to_string()]),
        "{verbose}"
    );
    let items = verbose["ContainerUsage"]["Items"]
        .as_array()
        .expect("Items");
    assert_eq!(items.len(), count(&verbose, "ContainerUsage"));
    assert!(items.iter().all(|i| i["Id"].is_string()), "{verbose}");
}

/// 1.52 documents `os_type` in stats records (moby sends it at every version).
#[test]
fn stats_records_carry_the_os_type() {
    let mut c = setup("stats");
    let (name, _) = c.create("1.52", "idle", json!({"Image": c.image, "Cmd": ["true"]}));
    let stats = c.get(&format!("/v1.52/containers/{name}/stats?stream=0"));
    assert_eq!(stats["os_type"], "linux", "{stats}");
}

/// 1.52: network inspect reports each subnet's address use: its network and broadcast
/// addresses, the gateway, auxiliary addresses and containers' addresses are in use.
#[test]
fn network_inspect_reports_ipam_status_at_1_52() {
    let mut c = setup("netstatus");
    let net = format!("bct-current-{}-status", std::process::id());
    let r = c.d.post_json(
        "/networks/create",
        &json!({"Name": net, "IPAM": {"Config": [{
            "Subnet": "10.213.77.0/24", "Gateway": "10.213.77.1",
            "AuxiliaryAddresses": {"router": "10.213.77.20"},
        }]}}),
    );
    assert_eq!(r.status, 201, "{}", r.describe());
    let status = |c: &Ctx| {
        let v = c.get(&format!("/v1.52/networks/{net}"));
        v["Status"]["IPAM"]["Subnets"]["10.213.77.0/24"].clone()
    };
    let old = c.get(&format!("/v1.51/networks/{net}"));
    assert!(old.get("Status").is_none(), "{old}");
    assert_eq!(
        status(&c),
        json!({"IPsInUse": 4, "DynamicIPsAvailable": 252}),
        "network, broadcast, gateway and the auxiliary address"
    );
    let (name, _) = c.create(
        "1.52",
        "member",
        json!({"Image": c.image, "Cmd": ["sleep", "300"], "HostConfig": {"NetworkMode": net}}),
    );
    c.start(&name);
    assert_eq!(
        status(&c),
        json!({"IPsInUse": 5, "DynamicIPsAvailable": 251})
    );
    c.d.request("DELETE", &format!("/containers/{name}?force=1"), &[], b"");
    assert_eq!(
        status(&c),
        json!({"IPsInUse": 4, "DynamicIPsAvailable": 252})
    );
    let r = c.d.request("DELETE", &format!("/networks/{net}"), &[], b"");
    assert_eq!(r.status, 204, "{}", r.describe());
}

/// `PUT /volumes/{name}` (API 1.42) updates cluster volumes: without a swarm, 503; below
/// 1.42 the route does not exist yet.
#[test]
fn volume_update_needs_a_swarm() {
    let c = setup("volput");
    let r =
        c.d.request("PUT", "/v1.42/volumes/anything?version=1", &[], b"{}");
    assert_eq!(r.status, 503, "{}", r.describe());
    assert_eq!(
        r.json()["message"],
        "volume update only valid for cluster volumes, but swarm is unavailable"
    );
    let r = c.d.request("PUT", "/v1.41/volumes/anything", &[], b"{}");
    assert_eq!(r.status, 400, "{}", r.describe());
    assert_eq!(
        r.json()["message"],
        "PUT /volumes/{name:.*} requires minimum API version 1.42"
    );
}

/// 1.56: `GET /containers/json` filters on annotations as it does on labels (`key` or
/// `key=value`).
#[test]
fn containers_filter_on_annotations() {
    let mut c = setup("annotations");
    let (one, _) = c.create(
        "1.56",
        "one",
        json!({"Image": c.image, "Cmd": ["true"],
               "HostConfig": {"Annotations": {"org.example.tier": "web"}}}),
    );
    let (two, _) = c.create(
        "1.56",
        "two",
        json!({"Image": c.image, "Cmd": ["true"],
               "HostConfig": {"Annotations": {"org.example.tier": "db", "org.example.backup": "yes"}}}),
    );
    let names = |filter: &str| {
        let filters = url_encode(&json!({"annotation": [filter]}).to_string());
        let list = c.get(&format!("/v1.56/containers/json?all=1&filters={filters}"));
        let mut names: Vec<String> = list
            .as_array()
            .expect("a list")
            .iter()
            .map(|e| {
                e["Names"][0]
                    .as_str()
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_string()
            })
            .filter(|n| *n == one || *n == two)
            .collect();
        names.sort();
        names
    };
    assert_eq!(names("org.example.tier"), vec![one.clone(), two.clone()]);
    assert_eq!(names("org.example.tier=db"), vec![two.clone()]);
    assert_eq!(names("org.example.backup"), vec![two.clone()]);
    assert!(names("org.example.tier=cache").is_empty());
}

/// 1.52: image save (and load) take several `platform` parameters; below, one at most.
#[test]
fn image_save_takes_several_platforms_at_1_52() {
    let c = setup("platforms");
    let amd64 = url_encode(r#"{"os":"linux","architecture":"amd64"}"#);
    let arm64 = url_encode(r#"{"os":"linux","architecture":"arm64"}"#);
    let path = |version: &str, platforms: &[&String]| {
        let query: Vec<String> = platforms.iter().map(|p| format!("platform={p}")).collect();
        format!("/v{version}/images/{}/get?{}", c.image, query.join("&"))
    };
    let r = c.d.get(&path("1.51", &[&amd64, &arm64]));
    assert_eq!(r.status, 400, "{}", r.describe());
    assert_eq!(
        r.json()["message"],
        "multiple platform parameters are not supported in this API version; use API version 1.52 or later"
    );
    let host = if cfg!(target_arch = "aarch64") {
        &arm64
    } else {
        &amd64
    };
    let r = c.d.get(&path("1.51", &[host]));
    assert_eq!(r.status, 200, "{}", r.describe());
    let bad = url_encode(r#"{"os":"linux"}"#);
    let r = c.d.get(&path("1.52", &[host, &bad]));
    assert_eq!(r.status, 400, "{}", r.describe());
    assert_eq!(
        r.json()["message"],
        "both OS and Architecture must be provided"
    );
    let r = c.d.request(
        "POST",
        &format!("/v1.51/images/load?platform={amd64}&platform={arm64}"),
        &[("Content-Type", "application/x-tar")],
        b"",
    );
    assert_eq!(r.status, 400, "{}", r.describe());
}

/// 1.54: network connect applies the endpoint's `MacAddress`. moby drops it below 1.54, but
/// dockerd 20.10 to 28 kept it and docker-py's suite (at 1.45) expects it: kept at both.
#[test]
fn network_connect_applies_the_mac_address_at_1_54() {
    let mut c = setup("connectmac");
    let net = format!("bct-current-{}-mac", std::process::id());
    let r = c.d.post_json("/networks/create", &json!({"Name": net}));
    assert_eq!(r.status, 201, "{}", r.describe());
    let mac = "02:42:ac:11:00:54";
    let mut endpoint_mac = |version: &str| {
        let (name, _) = c.create(
            version,
            &format!("mac{}", version.replace('.', "")),
            json!({"Image": c.image, "Cmd": ["true"]}),
        );
        let r = c.d.post_json(
            &format!("/v{version}/networks/{net}/connect"),
            &json!({"Container": name, "EndpointConfig": {"MacAddress": mac}}),
        );
        assert_eq!(r.status, 200, "{}", r.describe());
        let v = c.get(&format!("/containers/{name}/json"));
        v["NetworkSettings"]["Networks"][&net]["MacAddress"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(endpoint_mac("1.45"), mac);
    assert_eq!(endpoint_mac("1.54"), mac);
    for name in c.containers.drain(..).collect::<Vec<_>>() {
        c.d.request("DELETE", &format!("/containers/{name}?force=1"), &[], b"");
    }
    c.d.request("DELETE", &format!("/networks/{net}"), &[], b"");
}

/// 1.54: the images list's `identity` needs `manifests=1`.
#[test]
fn images_identity_needs_manifests_at_1_54() {
    let c = setup("identity");
    assert!(c.get("/v1.53/images/json?identity=1").is_array());
    let r = c.d.get("/v1.54/images/json?identity=1");
    assert_eq!(r.status, 400, "{}", r.describe());
    assert_eq!(
        r.json()["message"],
        "conflicting options: identity requires manifests=1"
    );
    assert!(
        c.get("/v1.54/images/json?identity=1&manifests=1")
            .is_array()
    );
}

/// 1.55: `GET /images/{name}/attestations` answers the in-toto statements an image's index
/// attaches to its manifest (the statements themselves with `statement=true`), and an
/// empty list for an image without any.
#[test]
fn image_attestations_at_1_55() {
    let c = setup("attest");
    let provenance = json!({"_type": "https://in-toto.io/Statement/v0.1",
                            "predicateType": "https://slsa.dev/provenance/v0.2",
                            "predicate": {"builder": {"id": "berth-test"}}});
    let sbom = json!({"_type": "https://in-toto.io/Statement/v0.1",
                      "predicateType": "https://spdx.dev/Document",
                      "predicate": {"spdxVersion": "SPDX-2.3"}});
    let tag = format!("berth-test/attested:{}", std::process::id());
    let layout = compat_tests::fixtures::test_image("current-attest").oci_layout_with_attestations(
        &tag,
        &[
            ("https://slsa.dev/provenance/v0.2", provenance.clone()),
            ("https://spdx.dev/Document", sbom),
        ],
    );
    let out =
        c.d.docker(&["load", "-i", layout.to_str().expect("utf-8 path")]);
    assert!(out.success(), "{}", out.describe());

    let r = c.d.get(&format!("/v1.54/images/{tag}/attestations"));
    assert_eq!(r.status, 400, "{}", r.describe());
    assert_eq!(
        r.json()["message"],
        "GET /images/{name:.*}/attestations requires minimum API version 1.55"
    );
    let all = c.get(&format!("/v1.55/images/{tag}/attestations"));
    let types: Vec<&str> = all
        .as_array()
        .expect("a list")
        .iter()
        .map(|a| a["PredicateType"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        types,
        [
            "https://slsa.dev/provenance/v0.2",
            "https://spdx.dev/Document"
        ]
    );
    assert!(all[0].get("Statement").is_none(), "{all}");
    assert_eq!(
        all[0]["Descriptor"]["mediaType"],
        "application/vnd.in-toto+json"
    );

    let provenance_only = c.get(&format!(
        "/v1.55/images/{tag}/attestations?statement=1&type={}",
        url_encode("https://slsa.dev/provenance/v0.2")
    ));
    assert_eq!(
        provenance_only.as_array().map(Vec::len),
        Some(1),
        "{provenance_only}"
    );
    assert_eq!(provenance_only[0]["Statement"], provenance);

    assert_eq!(
        c.get(&format!("/v1.55/images/{}/attestations", c.image)),
        json!([])
    );
    let r = c.d.get("/v1.55/images/no-such-image-here/attestations");
    assert_eq!(r.status, 404, "{}", r.describe());
    c.d.request("DELETE", &format!("/images/{tag}"), &[], b"");
}

/// 1.56: `HostConfig.Umask` sets the file mode creation mask of the container's process;
/// below 1.56 it is ignored. (Execs get it too, but runc applies an exec's umask only
/// from 1.2, and Debian 12 ships 1.1.)
#[test]
fn umask_applies_to_the_process_at_1_56() {
    let mut c = setup("umask");
    let mut run = |version: &str| {
        let (name, _) = c.create(
            version,
            &format!("umask{}", version.replace('.', "")),
            json!({"Image": c.image, "Cmd": ["sh", "-c", "umask > /tmp/umask; sleep 300"],
                   "HostConfig": {"Umask": 0o077, "NetworkMode": "none"}}),
        );
        c.start(&name);
        let inspect = c.get(&format!("/v1.56/containers/{name}/json"));
        let main = c.d.docker(&[
            "exec",
            &name,
            "sh",
            "-c",
            "while [ ! -s /tmp/umask ]; do sleep 0.05; done; cat /tmp/umask",
        ]);
        assert!(main.success(), "{}", main.describe());
        (
            inspect["HostConfig"].get("Umask").cloned(),
            main.stdout.trim().to_string(),
        )
    };
    assert_eq!(run("1.56"), (Some(json!(0o077)), "0077".to_string()));
    assert_eq!(
        run("1.55"),
        (None, "0022".to_string()),
        "1.55 ignores Umask"
    );
}

/// 1.55: `update` takes the per-device blkio lists (ignored before): a list replaces the
/// container's, and a device that does not exist changes nothing.
#[test]
fn update_takes_per_device_blkio_at_1_55() {
    let mut c = setup("blkioupdate");
    let Some(disk) = compat_tests::host_disk() else {
        compat_tests::skip("no whole disk under /sys/block on this host");
        return;
    };
    let (name, _) = c.create(
        "1.55",
        "throttled",
        json!({"Image": c.image, "Cmd": ["sleep", "300"], "HostConfig": {"NetworkMode": "none",
               "BlkioDeviceReadBps": [{"Path": disk, "Rate": 1048576}]}}),
    );
    c.start(&name);
    let read_bps = |c: &Ctx| {
        c.get(&format!("/containers/{name}/json"))["HostConfig"]["BlkioDeviceReadBps"].clone()
    };
    let update = |version: &str, rate: u64, path: &str| {
        c.d.post_json(
            &format!("/v{version}/containers/{name}/update"),
            &json!({"BlkioDeviceReadBps": [{"Path": path, "Rate": rate}]}),
        )
    };
    let r = update("1.54", 2097152, &disk);
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(
        read_bps(&c),
        json!([{"Path": disk, "Rate": 1048576}]),
        "1.54 ignores it"
    );
    let r = update("1.55", 2097152, &disk);
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(read_bps(&c), json!([{"Path": disk, "Rate": 2097152}]));

    let r = update("1.55", 4096, "/dev/berth-no-such-disk");
    assert_eq!(r.status, 500, "{}", r.describe());
    let id = c.get(&format!("/containers/{name}/json"))["Id"].clone();
    assert_eq!(
        r.json()["message"],
        json!(format!(
            "Cannot update container {}: stat /dev/berth-no-such-disk: no such file or directory",
            id.as_str().unwrap_or_default()
        ))
    );
    assert_eq!(
        read_bps(&c),
        json!([{"Path": disk, "Rate": 2097152}]),
        "unchanged"
    );

    let r = c.d.post_json(
        &format!("/v1.55/containers/{name}/update"),
        &json!({"BlkioDeviceReadBps": []}),
    );
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(read_bps(&c), json!([]), "an empty list clears");
}
