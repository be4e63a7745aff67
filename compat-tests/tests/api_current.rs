//! The Engine API from 1.51 to 1.56: each change checked over raw HTTP at the version just
//! below it and at its own. dockerd 20.10 stops at 1.41, so these are ledgered there.

use compat_tests::{Daemon, daemon};
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
}
