//! Behaviours that clients nobody here wrote (docker-py's suite, compose, bollard, CLI
//! scripts) rely on, each first seen differing from Debian's dockerd 20.10 and checked
//! against it: single-file binds, `kill` semantics, exec framing, commit of an exiting
//! container, and more.

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use compat_tests::{Daemon, daemon};
use serde_json::{Value, json};

/// A test's daemon, image and the containers it made, removed at the end on an external
/// daemon (an owned one goes away whole).
struct Ctx {
    d: Daemon,
    image: String,
    containers: Vec<String>,
    networks: Vec<String>,
}

fn setup(test: &str) -> Ctx {
    let d = daemon();
    let image = d.load_test_image(&format!("dropin-{test}"));
    Ctx {
        d,
        image,
        containers: vec![],
        networks: vec![],
    }
}

impl Ctx {
    /// Runs a server on `net` and a client on the default bridge, then connects the client
    /// to `net` while it runs; returns their names.
    fn server_and_joined_client(&mut self, net: &str, tag: &str) -> (String, String) {
        let server = self.name(&format!("{tag}-server"));
        let out = self.d.docker(&[
            "run",
            "-d",
            "--name",
            &server,
            "--network",
            net,
            &self.image,
            "sleep",
            "300",
        ]);
        assert!(out.success(), "{}", out.describe());
        let client = self.name(&format!("{tag}-client"));
        let out = self
            .d
            .docker(&["run", "-d", "--name", &client, &self.image, "sleep", "300"]);
        assert!(out.success(), "{}", out.describe());
        let out = self.d.docker(&["network", "connect", net, &client]);
        assert!(out.success(), "{}", out.describe());
        (server, client)
    }

    /// A container name unique to this test run, removed when the test ends.
    fn name(&mut self, what: &str) -> String {
        let name = format!("bct-dropin-{}-{what}", std::process::id());
        self.containers.push(name.clone());
        name
    }

    fn inspect(&self, name: &str) -> Value {
        let (status, v) = self.d.get_json(&format!("/containers/{name}/json"));
        assert_eq!(status, 200, "inspect {name}: {v}");
        v
    }

    /// Creates a container over the API from `config` (the image filled in).
    fn create(&mut self, what: &str, mut config: Value) -> String {
        let name = self.name(what);
        config["Image"] = json!(self.image);
        let r = self
            .d
            .post_json(&format!("/containers/create?name={name}"), &config);
        assert_eq!(r.status, 201, "create {name}\n{}", r.describe());
        r.json()["Id"].as_str().unwrap().to_string()
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        if self.d.owned() {
            return;
        }
        for c in &self.containers {
            let _ = self.d.docker(&["rm", "-f", c]);
        }
        for n in &self.networks {
            let _ = self.d.docker(&["network", "rm", n]);
        }
        let _ = self.d.docker(&["rmi", "-f", &self.image]);
    }
}

/// `POST path` with a JSON body on a hijacked connection (`Upgrade: tcp`): the response
/// head and everything the daemon sends until it closes the stream.
fn hijack(d: &Daemon, path: &str, body: &Value) -> (String, Vec<u8>) {
    let mut s = UnixStream::connect(d.socket_path()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = body.to_string();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head: {:?}", String::from_utf8_lossy(&all)));
    let head = String::from_utf8_lossy(&all[..split]).to_string();
    (head, all[split + 4..].to_vec())
}

#[test]
fn bind_of_a_single_file_shows_the_file() {
    let mut c = setup("filebind");
    let file = compat_tests::unique_temp_dir("bct-dropin-file").join("hostfile");
    std::fs::write(&file, "from the host\n").unwrap();
    let name = c.name("filebind");
    let bind = format!("{}:/tmp/x", file.display());
    let out = c.d.docker(&[
        "run",
        "--name",
        &name,
        "--network",
        "none",
        "-v",
        &bind,
        &c.image,
        "cat",
        "/tmp/x",
    ]);
    assert!(out.success(), "{}", out.describe());
    assert_eq!(out.stdout, "from the host\n");
    // Read-only too, and the host's file is left as it was.
    let bind_ro = format!("{bind}:ro");
    let name = c.name("filebind-ro");
    let out = c.d.docker(&[
        "run",
        "--name",
        &name,
        "--network",
        "none",
        "-v",
        &bind_ro,
        &c.image,
        "sh",
        "-c",
        "echo changed > /tmp/x",
    ]);
    assert!(!out.success(), "writing a read-only file bind succeeded");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "from the host\n");
    let _ = std::fs::remove_dir_all(file.parent().unwrap());
}

#[test]
fn kill_waits_for_the_exit_and_no_policy_restarts_it() {
    let mut c = setup("kill");
    for policy in ["always", "on-failure:3", "unless-stopped"] {
        let name = c.name(&format!("kill-{}", policy.replace(':', "-")));
        let out = c.d.docker(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "none",
            "--restart",
            policy,
            &c.image,
            "sleep",
            "300",
        ]);
        assert!(out.success(), "{}", out.describe());
        let r =
            c.d.request("POST", &format!("/containers/{name}/kill"), &[], b"");
        assert_eq!(r.status, 204, "kill\n{}", r.describe());
        // Answered only once the container is down: no polling needed.
        let state = &c.inspect(&name)["State"];
        assert_eq!(state["Running"], json!(false), "{policy}: {state}");
        assert_eq!(state["ExitCode"], json!(137), "{policy}: {state}");
        // A kill is a manual stop: the policy does not bring it back.
        std::thread::sleep(Duration::from_millis(1500));
        let state = &c.inspect(&name)["State"];
        assert_eq!(state["Status"], json!("exited"), "{policy}: {state}");
        assert_eq!(c.inspect(&name)["RestartCount"], json!(0), "{policy}");
        let out = c.d.docker(&["rm", &name]);
        assert!(
            out.success(),
            "rm without -f after kill\n{}",
            out.describe()
        );
    }
}

#[test]
fn exec_framing_follows_the_start_request_tty() {
    let mut c = setup("exectty");
    let id = c.create(
        "exectty",
        json!({"Cmd": ["cat"], "OpenStdin": true, "HostConfig": {"NetworkMode": "none"}}),
    );
    let r =
        c.d.request("POST", &format!("/containers/{id}/start"), &[], b"");
    assert_eq!(r.status, 204, "{}", r.describe());
    let exec = |tty_start: bool| {
        let r = c.d.post_json(
            &format!("/containers/{id}/exec"),
            &json!({"Cmd": ["echo", "-n", "hello tty"], "Tty": true,
                    "AttachStdout": true, "AttachStderr": true}),
        );
        assert_eq!(r.status, 201, "{}", r.describe());
        let exec_id = r.json()["Id"].as_str().unwrap().to_string();
        hijack(
            &c.d,
            &format!("/exec/{exec_id}/start"),
            &json!({"Detach": false, "Tty": tty_start}),
        )
    };
    // Started without Tty: stdcopy frames, all of it on stdout.
    let (head, body) = exec(false);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(body.len() >= 8, "{body:?}");
    assert_eq!(body[0], 1, "stream byte of {body:?}");
    let len = u32::from_be_bytes(body[4..8].try_into().unwrap()) as usize;
    assert_eq!(&body[8..8 + len], b"hello tty");
    // Started with Tty: the raw bytes.
    let (head, body) = exec(true);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(body, b"hello tty");
}

#[test]
fn exec_create_matches_keys_case_insensitively() {
    let mut c = setup("execkeys");
    let id = c.create(
        "execkeys",
        json!({"Cmd": ["sleep", "300"], "HostConfig": {"NetworkMode": "none"}}),
    );
    let r =
        c.d.request("POST", &format!("/containers/{id}/start"), &[], b"");
    assert_eq!(r.status, 204, "{}", r.describe());
    // docker-py sends its config file's detach keys as `detachKeys`.
    let r = c.d.post_json(
        &format!("/containers/{id}/exec"),
        &json!({"cmd": ["true"], "tty": true, "detachKeys": "ctrl-x"}),
    );
    assert_eq!(r.status, 201, "{}", r.describe());
    let exec_id = r.json()["Id"].as_str().unwrap().to_string();
    let (status, v) = c.d.get_json(&format!("/exec/{exec_id}/json"));
    assert_eq!(status, 200, "{v}");
    // The parsed keys, as Go encodes a byte slice: base64 of 0x18.
    assert_eq!(v["DetachKeys"], json!("GA=="), "{v}");
    assert_eq!(v["ProcessConfig"]["tty"], json!(true), "{v}");
    assert_eq!(v["ProcessConfig"]["entrypoint"], json!("true"), "{v}");
}

/// Exec create decodes its body as Go does: a wrong JSON type is Go's error (400; moby since
/// v23 puts `invalid JSON: ` before it), unknown keys are ignored.
/// A 400 carrying Go's `encoding/json` type error `json: cannot unmarshal <go_error>`
/// (dockerd's text; berthd may prefix it with `invalid JSON: `).
fn assert_go_type_error(r: &compat_tests::http::Response, go_error: &str) {
    assert_eq!(r.status, 400, "{}", r.describe());
    let message = r.json()["message"].as_str().unwrap_or_default().to_string();
    let go_error = format!("json: cannot unmarshal {go_error}");
    assert!(
        message == go_error || message == format!("invalid JSON: {go_error}"),
        "{}",
        r.describe()
    );
}

#[test]
fn exec_create_refuses_wrong_json_types_with_gos_text() {
    let mut c = setup("exectypes");
    let id = c.create(
        "exectypes",
        json!({"Cmd": ["sleep", "300"], "HostConfig": {"NetworkMode": "none"}}),
    );
    let r =
        c.d.request("POST", &format!("/containers/{id}/start"), &[], b"");
    assert_eq!(r.status, 204, "{}", r.describe());
    for (body, go_error) in [
        (
            json!({"Cmd": "true"}),
            "string into Go struct field ExecConfig.Cmd of type []string",
        ),
        (
            json!({"Cmd": ["true"], "Tty": "x"}),
            "string into Go struct field ExecConfig.Tty of type bool",
        ),
        (json!([1]), "array into Go value of type types.ExecConfig"),
    ] {
        let r = c.d.post_json(&format!("/containers/{id}/exec"), &body);
        assert_go_type_error(&r, go_error);
    }
    let r = c.d.post_json(
        &format!("/containers/{id}/exec"),
        &json!({"Cmd": ["true"], "Bogus": 1}),
    );
    assert_eq!(r.status, 201, "{}", r.describe());
    let exec_id = r.json()["Id"].as_str().unwrap_or_default().to_string();
    // Exec start decodes its body the same way.
    for (body, go_error) in [
        (
            json!({"Detach": "x"}),
            "string into Go struct field ExecStartCheck.Detach of type bool",
        ),
        (
            json!({"Tty": 1}),
            "number into Go struct field ExecStartCheck.Tty of type bool",
        ),
        (
            json!([1]),
            "array into Go value of type types.ExecStartCheck",
        ),
    ] {
        let r = c.d.post_json(&format!("/exec/{exec_id}/start"), &body);
        assert_go_type_error(&r, go_error);
    }
    // Keys matched ignoring case, unknown keys ignored: a detached start.
    let r = c.d.post_json(
        &format!("/exec/{exec_id}/start"),
        &json!({"detach": true, "Bogus": 1}),
    );
    assert_eq!(r.status, 200, "{}", r.describe());
}

/// A container or exec with a TTY starts at the `ConsoleSize` it was created with (API
/// 1.42), so a shell never sees a 0x0 window before the client's first resize lands.
#[test]
fn exec_with_a_tty_starts_at_its_console_size() {
    let mut c = setup("execsize");
    let id = c.create(
        "execsize",
        json!({"Cmd": ["sleep", "300"], "HostConfig": {"NetworkMode": "none"}}),
    );
    let r =
        c.d.request("POST", &format!("/containers/{id}/start"), &[], b"");
    assert_eq!(r.status, 204, "{}", r.describe());
    let r = c.d.post_json(
        &format!("/v1.42/containers/{id}/exec"),
        &json!({"Cmd": ["stty", "size"], "Tty": true, "AttachStdout": true,
                "ConsoleSize": [33, 111]}),
    );
    assert_eq!(r.status, 201, "{}", r.describe());
    let exec_id = r.json()["Id"].as_str().unwrap().to_string();
    let (head, body) = hijack(
        &c.d,
        &format!("/v1.42/exec/{exec_id}/start"),
        &json!({"Detach": false, "Tty": true}),
    );
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(String::from_utf8_lossy(&body).trim(), "33 111");
    // The container's own process, from `HostConfig.ConsoleSize`.
    let name = c.name("runsize");
    let r = c.d.post_json(
        &format!("/v1.42/containers/create?name={name}"),
        &json!({"Image": c.image, "Cmd": ["stty", "size"], "Tty": true,
                "HostConfig": {"NetworkMode": "none", "ConsoleSize": [31, 99]}}),
    );
    assert_eq!(r.status, 201, "{}", r.describe());
    let out = c.d.docker(&["start", "-a", &name]);
    assert!(out.success(), "{}", out.describe());
    let out = c.d.docker(&["logs", &name]);
    assert_eq!(out.stdout.trim(), "31 99", "{}", out.describe());
}

/// dockerd 20.10 answers 500 with this text (ledgered); a client's bad input is a 400.
#[test]
fn exec_create_refuses_bad_detach_keys() {
    let mut c = setup("execbadkeys");
    let id = c.create(
        "execbadkeys",
        json!({"Cmd": ["sleep", "300"], "HostConfig": {"NetworkMode": "none"}}),
    );
    let r =
        c.d.request("POST", &format!("/containers/{id}/start"), &[], b"");
    assert_eq!(r.status, 204, "{}", r.describe());
    let r = c.d.post_json(
        &format!("/containers/{id}/exec"),
        &json!({"Cmd": ["true"], "DetachKeys": "bogus"}),
    );
    compat_tests::expect::json_error(&r, 400, "Invalid escape keys (bogus) provided");
}

#[test]
fn commit_with_pause_of_a_container_that_just_exited() {
    let mut c = setup("commit");
    let image_id = c.d.get_json(&format!("/images/{}/json", c.image)).1["Id"].clone();
    for _ in 0..3 {
        let id = c.create(
            "commit",
            json!({"Cmd": ["touch", "/made"], "HostConfig": {"NetworkMode": "none"}}),
        );
        let r =
            c.d.request("POST", &format!("/containers/{id}/start"), &[], b"");
        assert_eq!(r.status, 204, "{}", r.describe());
        // Right after start: running, exiting or exited; each must commit.
        let r =
            c.d.request("POST", &format!("/commit?container={id}&pause=1"), &[], b"");
        assert_eq!(r.status, 201, "commit\n{}", r.describe());
        let new_id = r.json()["Id"].as_str().unwrap().to_string();
        let (status, img) = c.d.get_json(&format!("/images/{new_id}/json"));
        assert_eq!(status, 200, "{img}");
        assert_eq!(img["Parent"], image_id, "Parent of a committed image");
        let _ =
            c.d.request("POST", &format!("/containers/{id}/wait"), &[], b"");
        let r =
            c.d.request("DELETE", &format!("/containers/{id}"), &[], b"");
        assert_eq!(r.status, 204, "{}", r.describe());
        let r =
            c.d.request("DELETE", &format!("/images/{new_id}"), &[], b"");
        assert_eq!(r.status, 200, "{}", r.describe());
        c.containers.pop();
    }
}

#[test]
fn unknown_log_driver_is_looked_up_as_a_plugin() {
    let c = setup("logdriver");
    let r = c.d.post_json(
        "/containers/create",
        &json!({"Image": c.image, "Cmd": ["true"],
                "HostConfig": {"LogConfig": {"Type": "asdf", "Config": {}}}}),
    );
    compat_tests::expect::json_error(
        &r,
        400,
        "error looking up logging plugin asdf: plugin \"asdf\" not found",
    );
}

#[test]
fn delete_with_link_removes_only_the_legacy_link() {
    let mut c = setup("rmlink");
    let child = c.name("rmlink-child");
    let parent = c.name("rmlink-parent");
    let out =
        c.d.docker(&["run", "-d", "--name", &child, &c.image, "sleep", "300"]);
    assert!(out.success(), "{}", out.describe());
    let link = format!("{child}:mylink");
    let out = c.d.docker(&[
        "run", "-d", "--name", &parent, "--link", &link, &c.image, "sleep", "300",
    ]);
    assert!(out.success(), "{}", out.describe());
    assert_eq!(
        c.inspect(&parent)["HostConfig"]["Links"],
        json!([format!("/{child}:/{parent}/mylink")])
    );
    let path = format!("/containers/{parent}/mylink?link=1");
    let r = c.d.request("DELETE", &path, &[], b"");
    assert_eq!(r.status, 204, "{}", r.describe());
    assert_eq!(c.inspect(&parent)["HostConfig"]["Links"], Value::Null);
    assert_eq!(c.inspect(&parent)["State"]["Running"], json!(true));
    assert_eq!(c.inspect(&child)["State"]["Running"], json!(true));
    // The link is gone now.
    let r = c.d.request("DELETE", &path, &[], b"");
    compat_tests::expect::json_error(&r, 404, &format!("No such container: {parent}/mylink"));
}

#[test]
fn container_prune_reports_the_space_it_reclaimed() {
    let mut c = setup("prunespace");
    let label = format!("bct-prunespace-{}", std::process::id());
    let id = c.create(
        "prunespace",
        json!({"Cmd": ["sh", "-c", "echo hello > /data.txt"], "Labels": {&label: "1"},
               "HostConfig": {"NetworkMode": "none"}}),
    );
    let r =
        c.d.request("POST", &format!("/containers/{id}/start"), &[], b"");
    assert_eq!(r.status, 204, "{}", r.describe());
    let r =
        c.d.request("POST", &format!("/containers/{id}/wait"), &[], b"");
    assert_eq!(r.status, 200, "{}", r.describe());
    let filters = format!("{{\"label\":[\"{label}\"]}}");
    let path = format!(
        "/containers/prune?filters={}",
        compat_tests::url_encode(&filters)
    );
    let r = c.d.request("POST", &path, &[], b"");
    assert_eq!(r.status, 200, "{}", r.describe());
    let v = r.json();
    assert_eq!(v["ContainersDeleted"], json!([id]), "{v}");
    assert!(v["SpaceReclaimed"].as_i64().unwrap_or(0) > 0, "{v}");
}

#[test]
fn stats_count_the_bridge_interface_and_nothing_without_one() {
    let mut c = setup("statsnet");
    let bridged = c.name("statsnet-bridge");
    let out =
        c.d.docker(&["run", "-d", "--name", &bridged, &c.image, "sleep", "300"]);
    assert!(out.success(), "{}", out.describe());
    let isolated = c.name("statsnet-none");
    let out = c.d.docker(&[
        "run",
        "-d",
        "--name",
        &isolated,
        "--network",
        "none",
        &c.image,
        "sleep",
        "300",
    ]);
    assert!(out.success(), "{}", out.describe());
    let (status, v) =
        c.d.get_json(&format!("/containers/{bridged}/stats?stream=0"));
    assert_eq!(status, 200, "{v}");
    let eth0 = &v["networks"]["eth0"];
    for key in [
        "rx_bytes",
        "rx_packets",
        "rx_errors",
        "rx_dropped",
        "tx_bytes",
        "tx_packets",
        "tx_errors",
        "tx_dropped",
    ] {
        assert!(eth0[key].is_u64(), "{key} in {eth0}");
    }
    assert!(v["networks"].get("lo").is_none(), "{}", v["networks"]);
    let (status, v) =
        c.d.get_json(&format!("/containers/{isolated}/stats?stream=0"));
    assert_eq!(status, 200, "{v}");
    assert!(v.get("networks").is_none(), "{v}");
}

/// A user network on a subnet of its own for this test run.
fn user_network(c: &mut Ctx, what: &str, third_octet: u32, extra: Value) -> (String, String) {
    let name = format!("bct-dropin-{}-{what}", std::process::id());
    let base = format!("10.{}.{third_octet}", 200 + std::process::id() % 50);
    let mut body = json!({"Name": name});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    let body = body.to_string().replace("BASE", &base);
    let r = c.d.request(
        "POST",
        "/networks/create",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.describe());
    c.networks.push(name.clone());
    (name, base)
}

#[test]
fn network_ipam_and_endpoint_settings_come_back_as_given() {
    let mut c = setup("netsettings");
    let (net, base) = user_network(
        &mut c,
        "netsettings",
        11,
        json!({"IPAM": {"Driver": "default", "Options": null, "Config": [{
            "Subnet": "BASE.0/24", "IPRange": "BASE.128/25", "Gateway": "BASE.254",
            "AuxiliaryAddresses": {"a": "BASE.128", "b": "BASE.129"}}]}}),
    );
    let (status, v) = c.d.get_json(&format!("/networks/{net}"));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["IPAM"]["Options"], Value::Null, "{v}");
    assert_eq!(
        v["IPAM"]["Config"],
        json!([{"Subnet": format!("{base}.0/24"), "IPRange": format!("{base}.128/25"),
                "Gateway": format!("{base}.254"),
                "AuxiliaryAddresses": {"a": format!("{base}.128"), "b": format!("{base}.129")}}])
    );
    let id = c.create(
        "netsettings",
        json!({"Cmd": ["sleep", "300"], "HostConfig": {"NetworkMode": net},
               "NetworkingConfig": {"EndpointsConfig": {&net: {
                   "DriverOpts": {"com.example.setting": "on"},
                   "IPAMConfig": {"LinkLocalIPs": ["169.254.8.8"]}}}}}),
    );
    let r =
        c.d.request("POST", &format!("/containers/{id}/start"), &[], b"");
    assert_eq!(r.status, 204, "{}", r.describe());
    let e = &c.inspect(&id)["NetworkSettings"]["Networks"][&net];
    assert_eq!(e["DriverOpts"], json!({"com.example.setting": "on"}), "{e}");
    assert_eq!(
        e["IPAMConfig"],
        json!({"LinkLocalIPs": ["169.254.8.8"]}),
        "{e}"
    );
    // The auxiliary addresses are never handed out: the range starts with them.
    assert_eq!(e["IPAddress"], json!(format!("{base}.130")), "{e}");

    // A MAC address given on connect shows before the container ever ran.
    let other = c.create("netsettings-mac", json!({"Cmd": ["true"]}));
    let r = c.d.post_json(
        &format!("/networks/{net}/connect"),
        &json!({"Container": other, "EndpointConfig": {"MacAddress": "02:42:ac:11:00:02"}}),
    );
    assert_eq!(r.status, 200, "{}", r.describe());
    let e = &c.inspect(&other)["NetworkSettings"]["Networks"][&net];
    assert_eq!(e["MacAddress"], json!("02:42:ac:11:00:02"), "{e}");
}

#[test]
fn network_without_ipam_options_shows_null_and_empty_ones_as_given() {
    let mut c = setup("ipamopts");
    let (plain, _) = user_network(&mut c, "ipamopts-plain", 12, json!({}));
    let (empty, _) = user_network(
        &mut c,
        "ipamopts-empty",
        13,
        json!({"IPAM": {"Driver": "default", "Options": {}}}),
    );
    let (_, v) = c.d.get_json(&format!("/networks/{plain}"));
    assert_eq!(v["IPAM"]["Options"], Value::Null, "{v}");
    let (_, v) = c.d.get_json(&format!("/networks/{empty}"));
    assert_eq!(v["IPAM"]["Options"], json!({}), "{v}");
}

#[test]
fn links_on_a_user_network_make_the_alias_resolvable() {
    let mut c = setup("netlinks");
    let (net, _) = user_network(&mut c, "netlinks", 14, json!({}));
    let upstream = c.name("netlinks-upstream");
    let linker = c.create(
        "netlinks-linker",
        json!({"Cmd": ["sleep", "300"], "HostConfig": {"NetworkMode": net},
               "NetworkingConfig": {"EndpointsConfig": {&net: {
                   "Links": [format!("{upstream}:bar")]}}}}),
    );
    let r =
        c.d.request("POST", &format!("/containers/{linker}/start"), &[], b"");
    assert_eq!(r.status, 204, "{}", r.describe());
    let e = &c.inspect(&linker)["NetworkSettings"]["Networks"][&net];
    assert_eq!(e["Links"], json!([format!("{upstream}:bar")]), "{e}");
    let out = c.d.docker(&[
        "run",
        "-d",
        "--name",
        &upstream,
        "--network",
        &net,
        &c.image,
        "sleep",
        "300",
    ]);
    assert!(out.success(), "{}", out.describe());
    let upstream_ip = c.inspect(&upstream)["NetworkSettings"]["Networks"][&net]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    let out = c.d.docker(&["exec", &linker, "busybox", "nslookup", "bar"]);
    assert!(out.success(), "{}", out.describe());
    assert!(out.stdout.contains(&upstream_ip), "{}", out.describe());
}

/// Names of the containers `docker ps -a --filter <filter>` lists, among `ours`.
fn ps_names(c: &Ctx, filter: &str, ours: &[&str]) -> Vec<String> {
    let out =
        c.d.docker(&["ps", "-a", "--filter", filter, "--format", "{{.Names}}"]);
    assert!(out.success(), "{}", out.describe());
    let mut names: Vec<String> = out
        .stdout
        .lines()
        .filter(|n| ours.contains(n))
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

#[test]
fn ps_filters_name_by_regexp_and_ports_of_running_containers() {
    let mut c = setup("psfilters");
    let pid = std::process::id();
    // Names that start with a letter of their own, so `^` patterns can tell them apart.
    let web = format!("w{pid}-web");
    let idle = format!("i{pid}-idle");
    c.containers.extend([web.clone(), idle.clone()]);
    let out = c.d.docker(&[
        "run",
        "-d",
        "--name",
        &web,
        "-p",
        "127.0.0.1::80",
        "--expose",
        "9000",
        &c.image,
        "sleep",
        "300",
    ]);
    assert!(out.success(), "{}", out.describe());
    let out = c.d.docker(&[
        "create", "--name", &idle, "--expose", "9000", &c.image, "true",
    ]);
    assert!(out.success(), "{}", out.describe());
    let ours = [web.as_str(), idle.as_str()];
    assert_eq!(
        ps_names(&c, &format!("name=^w{pid}"), &ours),
        [web.as_str()]
    );
    assert_eq!(
        ps_names(&c, &format!("name=^/i{pid}"), &ours),
        [idle.as_str()]
    );
    assert_eq!(ps_names(&c, "name=-(web|idle)$", &ours).len(), 2);
    let host_port = c.inspect(&web)["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"]
        .as_str()
        .unwrap()
        .to_string();
    // `expose` matches the private ports a running container lists, `publish` the host
    // ports; a created container lists none.
    assert_eq!(ps_names(&c, "expose=9000", &ours), [web.as_str()]);
    assert_eq!(ps_names(&c, "expose=80/tcp", &ours), [web.as_str()]);
    assert_eq!(ps_names(&c, "expose=9000/udp", &ours), Vec::<String>::new());
    assert_eq!(
        ps_names(&c, &format!("publish={host_port}"), &ours),
        [web.as_str()]
    );
    assert_eq!(ps_names(&c, "publish=80", &ours), Vec::<String>::new());
}

#[test]
fn archive_put_accepts_a_gzipped_tar() {
    let mut c = setup("cpgzip");
    let id = c.create(
        "cpgzip",
        json!({"Cmd": ["true"], "HostConfig": {"NetworkMode": "none"}}),
    );
    let tar = compat_tests::fixtures::plain_tar("cpgzip", &[("hello.txt", b"zipped\n")]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&std::fs::read(&tar).unwrap()).unwrap();
    let body = gz.finish().unwrap();
    let r = c.d.request(
        "PUT",
        &format!("/containers/{id}/archive?path=/tmp"),
        &[("Content-Type", "application/x-tar")],
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.describe());
    let r = c.d.request(
        "HEAD",
        &format!("/containers/{id}/archive?path=/tmp/hello.txt"),
        &[],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.describe());
    let r =
        c.d.get(&format!("/containers/{id}/archive?path=/tmp/hello.txt"));
    assert_eq!(r.status, 200, "{}", r.describe());
    let mut archive = tar::Archive::new(&r.body[..]);
    let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
    let mut text = String::new();
    entry.read_to_string(&mut text).unwrap();
    assert_eq!(text, "zipped\n");
}

#[test]
fn info_lists_plugins_and_security_options() {
    let d = daemon();
    let (status, v) = d.get_json("/v1.41/info");
    assert_eq!(status, 200, "{v}");
    let list = |key: &str| -> Vec<String> {
        serde_json::from_value(v["Plugins"][key].clone()).unwrap_or_default()
    };
    assert_eq!(list("Volume"), ["local"], "{}", v["Plugins"]);
    for driver in ["bridge", "host", "null"] {
        assert!(
            list("Network").iter().any(|n| n == driver),
            "{}",
            v["Plugins"]
        );
    }
    assert!(
        list("Log").iter().any(|n| n == "json-file"),
        "{}",
        v["Plugins"]
    );
    let security: Vec<String> =
        serde_json::from_value(v["SecurityOptions"].clone()).unwrap_or_default();
    assert!(
        security.iter().any(|o| o == "name=seccomp,profile=default"),
        "{security:?}"
    );
    // Configured pools are listed: the harness gives each daemon it boots a pool of its
    // own (`base=10.N.0.0/16,size=24`), so parallel daemons' networks never overlap.
    if d.owned() {
        let pools = v["DefaultAddressPools"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(pools.len(), 1, "{v}");
        let base = pools[0]["Base"].as_str().unwrap_or_default();
        assert!(base.starts_with("10.") && base.ends_with(".0.0/16"), "{v}");
        assert_eq!(pools[0]["Size"], json!(24), "{v}");
    }
}

#[test]
fn untagging_a_repository_drops_its_digest_references() {
    let mut c = setup("rmidigest");
    let reg = compat_tests::registry::Registry::start();
    let image = compat_tests::fixtures::test_image("dropin-rmidigest-pulled");
    reg.push(&image.docker_archive(&["x/y:z"]), "t/rmidigest:1");
    let pulled = format!("127.0.0.1:{}/t/rmidigest:1", reg.port);
    let out = c.d.docker(&["pull", &pulled]);
    assert!(out.success(), "{}", out.describe());
    let other = format!("bct-dropin-{}/rmidigest:x", std::process::id());
    let out = c.d.docker(&["tag", &pulled, &other]);
    assert!(out.success(), "{}", out.describe());
    let user = c.name("rmidigest-user");
    let out = c.d.docker(&["create", "--name", &user, &other, "true"]);
    assert!(out.success(), "{}", out.describe());

    let r =
        c.d.request("DELETE", &format!("/images/{pulled}"), &[], b"");
    assert_eq!(r.status, 200, "{}", r.describe());
    let untagged: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["Untagged"].as_str().map(str::to_string))
        .collect();
    let repo = format!("127.0.0.1:{}/t/rmidigest", reg.port);
    assert_eq!(untagged.len(), 2, "{untagged:?}");
    assert_eq!(untagged[0], pulled);
    assert!(
        untagged[1].starts_with(&format!("{repo}@sha256:")),
        "{untagged:?}"
    );
    let (_, v) = c.d.get_json(&format!("/images/{other}/json"));
    assert_eq!(v["RepoDigests"], json!([]), "{v}");

    // Its one name left, the image in use by a container: removing the name needs force.
    let r = c.d.request("DELETE", &format!("/images/{other}"), &[], b"");
    assert_eq!(r.status, 409, "{}", r.describe());
    let out = c.d.docker(&["rm", &user]);
    assert!(out.success(), "{}", out.describe());
    let _ = c.d.docker(&["rmi", &other]);
}

#[test]
fn logs_details_show_the_labels_and_env_named_by_log_opts() {
    let mut c = setup("logdetails");
    let name = c.name("logdetails");
    let out = c.d.docker(&[
        "run",
        "--name",
        &name,
        "--network",
        "none",
        "--log-opt",
        "labels=lab,other",
        "--log-opt",
        "env=E1",
        "-e",
        "E1=v1",
        "--label",
        "lab=L1",
        "--label",
        "other=O",
        &c.image,
        "echo",
        "one",
    ]);
    assert!(out.success(), "{}", out.describe());
    let out = c.d.docker(&["logs", "--details", &name]);
    assert!(out.success(), "{}", out.describe());
    assert_eq!(out.stdout, "E1=v1,lab=L1,other=O one\n");
    let out = c.d.docker(&["logs", &name]);
    assert_eq!(out.stdout, "one\n");
}

#[test]
fn starting_a_container_emits_a_volume_mount_event() {
    let mut c = setup("volmount");
    let volume = format!("bct-dropin-{}-volmount", std::process::id());
    let out = c.d.docker(&["volume", "create", &volume]);
    assert!(out.success(), "{}", out.describe());
    let since = compat_tests::unix_now();
    let name = c.name("volmount");
    let mount = format!("{volume}:/data");
    let out = c.d.docker(&[
        "run",
        "--name",
        &name,
        "--network",
        "none",
        "-v",
        &mount,
        &c.image,
        "true",
    ]);
    assert!(out.success(), "{}", out.describe());
    let id = c.inspect(&name)["Id"].as_str().unwrap().to_string();
    let until = compat_tests::unix_now() + 1;
    let r = c.d.get(&format!(
        "/events?since={since}&until={until}&filters={}",
        compat_tests::url_encode(r#"{"type":["volume"],"event":["mount"]}"#)
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    let events: Vec<Value> = r
        .text()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|e: &Value| e["Actor"]["ID"] == json!(volume))
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    let attrs = &events[0]["Actor"]["Attributes"];
    assert_eq!(attrs["container"], json!(id), "{attrs}");
    assert_eq!(attrs["destination"], json!("/data"), "{attrs}");
    assert_eq!(attrs["driver"], json!("local"), "{attrs}");
    assert_eq!(attrs["read/write"], json!("true"), "{attrs}");
    let _ = c.d.docker(&["rm", &name]);
    c.containers.retain(|n| *n != name);
    let _ = c.d.docker(&["volume", "rm", &volume]);
}

#[test]
fn create_refuses_an_image_of_another_platform() {
    let c = setup("platform");
    let (_, image) = c.d.get_json(&format!("/images/{}/json", c.image));
    let arch = image["Architecture"].as_str().unwrap().to_string();
    let other = if arch == "arm64" { "amd64" } else { "arm64" };
    let body = json!({"Image": c.image, "Cmd": ["true"], "HostConfig": {"NetworkMode": "none"}});
    let r = c.d.post_json(
        &format!("/v1.41/containers/create?platform=linux/{other}"),
        &body,
    );
    compat_tests::expect::json_error(
        &r,
        404,
        &format!(
            "image with reference {} was found but does not match the specified platform: \
             wanted linux/{other}, actual: linux/{arch}",
            c.image
        ),
    );
    // Its own platform is fine.
    let r = c.d.post_json(
        &format!("/v1.41/containers/create?platform=linux/{arch}"),
        &body,
    );
    assert_eq!(r.status, 201, "{}", r.describe());
    let id = r.json()["Id"].as_str().unwrap().to_string();
    let r =
        c.d.request("DELETE", &format!("/containers/{id}"), &[], b"");
    assert_eq!(r.status, 204, "{}", r.describe());
}

/// `VolumeOptions.Subpath` is API 1.45 (moby 26); ledgered for dockerd 20.10.
#[test]
fn a_volume_subpath_mounts_that_directory_only() {
    let mut c = setup("subpath");
    let volume = format!("bct-dropin-{}-subpath", std::process::id());
    let fill = c.name("subpath-fill");
    let vol_mount = format!("{volume}:/vol");
    let out = c.d.docker(&[
        "run",
        "--name",
        &fill,
        "--network",
        "none",
        "-v",
        &vol_mount,
        &c.image,
        "sh",
        "-c",
        "mkdir -p /vol/sub && echo inside > /vol/sub/f && echo top > /vol/top",
    ]);
    assert!(out.success(), "{}", out.describe());
    let mount = format!("type=volume,src={volume},dst=/mnt,volume-subpath=sub,readonly");
    let reader = c.name("subpath-read");
    let out = c.d.docker(&[
        "run",
        "--name",
        &reader,
        "--network",
        "none",
        "--mount",
        &mount,
        &c.image,
        "sh",
        "-c",
        "cat /mnt/f; ls /mnt",
    ]);
    assert!(out.success(), "{}", out.describe());
    assert_eq!(out.stdout, "inside\nf\n");
    // A subpath that climbs out is refused at create.
    let bad = format!("type=volume,src={volume},dst=/mnt,volume-subpath=../x");
    let out = c.d.docker(&[
        "create",
        "--network",
        "none",
        "--mount",
        &bad,
        &c.image,
        "true",
    ]);
    assert!(!out.success(), "{}", out.describe());
    for n in [&fill, &reader] {
        let _ = c.d.docker(&["rm", n]);
    }
    c.containers.clear();
    let _ = c.d.docker(&["volume", "rm", &volume]);
}

#[test]
fn ipv6_networks_give_containers_both_addresses() {
    let mut c = setup("ipv6");
    let pid = std::process::id();
    let subnet = format!("fd42:{:x}:{:x}::/64", pid % 0xffff, 7);
    let prefix = subnet.trim_end_matches("/64");
    let net = format!("bct-dropin-{pid}-ipv6");
    let gateway = format!("{prefix}ffff");
    let out = c.d.docker(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        &subnet,
        "--gateway",
        &gateway,
        &net,
    ]);
    assert!(out.success(), "{}", out.describe());
    c.networks.push(net.clone());
    let (_, v) = c.d.get_json(&format!("/networks/{net}"));
    assert_eq!(v["EnableIPv6"], json!(true), "{v}");
    let pools = v["IPAM"]["Config"].as_array().unwrap();
    assert_eq!(pools.len(), 2, "an IPv4 pool is chosen too: {v}");
    assert_eq!(
        pools[1],
        json!({"Subnet": subnet, "Gateway": gateway}),
        "{v}"
    );

    let fixed = format!("{prefix}f00d");
    let name = c.name("ipv6");
    let out = c.d.docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        &net,
        "--ip6",
        &fixed,
        &c.image,
        "sleep",
        "300",
    ]);
    assert!(out.success(), "{}", out.describe());
    let e = &c.inspect(&name)["NetworkSettings"]["Networks"][&net];
    assert_eq!(e["IPAMConfig"]["IPv6Address"], json!(fixed), "{e}");
    assert_eq!(e["GlobalIPv6Address"], json!(fixed), "{e}");
    assert_eq!(e["GlobalIPv6PrefixLen"], json!(64), "{e}");
    assert_eq!(e["IPv6Gateway"], json!(gateway), "{e}");
    assert!(
        e["IPAddress"].as_str().is_some_and(|a| !a.is_empty()),
        "{e}"
    );
    let out =
        c.d.docker(&["exec", &name, "busybox", "ip", "-6", "addr", "show", "eth0"]);
    assert!(
        out.stdout.contains(&format!("{fixed}/64")),
        "{}",
        out.describe()
    );
    let out = c.d.docker(&["exec", &name, "cat", "/etc/hosts"]);
    assert!(out.stdout.contains(&fixed), "{}", out.describe());
    let (_, v) = c.d.get_json(&format!("/networks/{net}"));
    let id = c.inspect(&name)["Id"].as_str().unwrap().to_string();
    assert_eq!(
        v["Containers"][&id]["IPv6Address"],
        json!(format!("{fixed}/64")),
        "{v}"
    );
    // The next container gets the first free address of the subnet.
    let other = c.name("ipv6-next");
    let out = c.d.docker(&[
        "run",
        "--name",
        &other,
        "--network",
        &net,
        &c.image,
        "busybox",
        "ip",
        "-6",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(
        out.stdout.contains(&format!("{prefix}1/64")),
        "{}",
        out.describe()
    );
}

/// A running container started on the default bridge (so with IPv6 off in its namespace)
/// that joins a dual-stack network gets IPv6 on the new interface: its address, the IPv6
/// default route through that network, and a peer reached over IPv6 by name.
#[test]
fn a_running_container_joins_an_ipv6_network() {
    let mut c = setup("ipv6-join");
    let pid = std::process::id();
    let prefix = format!("fd42:{:x}:{:x}::", pid % 0xffff, 8);
    let net = format!("bct-dropin-{pid}-ipv6-join");
    let out = c.d.docker(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        &format!("{prefix}/64"),
        &net,
    ]);
    assert!(out.success(), "{}", out.describe());
    c.networks.push(net.clone());
    let (server, client) = c.server_and_joined_client(&net, "ipv6");

    let e = &c.inspect(&client)["NetworkSettings"]["Networks"][&net];
    let address = e["GlobalIPv6Address"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(address.starts_with(&prefix), "{e}");
    let out = c.d.docker(&[
        "exec", &client, "busybox", "ip", "-6", "addr", "show", "eth1",
    ]);
    assert!(
        out.stdout.contains(&format!("{address}/64")),
        "{}",
        out.describe()
    );
    let out =
        c.d.docker(&["exec", &client, "busybox", "ip", "-6", "route"]);
    assert!(
        out.stdout
            .contains(&format!("default via {prefix}1 dev eth1")),
        "{}",
        out.describe()
    );
    let peer = c.inspect(&server)["NetworkSettings"]["Networks"][&net]["GlobalIPv6Address"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let out = c.d.docker(&[
        "exec", &client, "busybox", "ping6", "-c", "1", "-W", "5", &server,
    ]);
    assert!(out.success(), "{}", out.describe());
    assert!(out.stdout.contains(&peer), "{}", out.describe());
}

/// A running container started on the default bridge (where names do not resolve) that
/// joins a user-defined network resolves the names on it from then on.
#[test]
fn a_default_bridge_container_resolves_names_once_it_joins_a_user_network() {
    let mut c = setup("dns-join");
    let net = format!("bct-dropin-{}-dns-join", std::process::id());
    let out = c.d.docker(&["network", "create", &net]);
    assert!(out.success(), "{}", out.describe());
    c.networks.push(net.clone());
    // (No lookup before it joins: that would go to the host's nameserver.)
    let (server, client) = c.server_and_joined_client(&net, "dns");
    let peer = c.inspect(&server)["NetworkSettings"]["Networks"][&net]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let out =
        c.d.docker(&["exec", &client, "busybox", "nslookup", &server]);
    assert!(out.success(), "{}", out.describe());
    assert!(out.stdout.contains(&peer), "{}", out.describe());
}

/// `--dns`, `--dns-search` and `--dns-option` shape the container's resolv.conf as on
/// dockerd: on the default bridge they replace the host's servers, search and options; on a
/// user-defined network the network's resolver stays the one nameserver and `ndots:0` is
/// added unless an ndots option was given.
#[test]
fn dns_flags_shape_resolv_conf() {
    let mut c = setup("dns-flags");
    let flags = ["--dns-search", "a.test", "--dns-option", "timeout:2"];
    let mut args = vec!["run", "--rm", "--dns", "10.1.2.3"];
    args.extend(flags);
    args.extend([c.image.as_str(), "cat", "/etc/resolv.conf"]);
    let out = c.d.docker(&args);
    assert!(out.success(), "{}", out.describe());
    assert_eq!(
        out.stdout,
        "search a.test\nnameserver 10.1.2.3\noptions timeout:2\n",
        "{}",
        out.describe()
    );

    let net = format!("bct-dropin-{}-dns-flags", std::process::id());
    let out = c.d.docker(&["network", "create", &net]);
    assert!(out.success(), "{}", out.describe());
    c.networks.push(net.clone());
    let mut args = vec!["run", "--rm", "--network", &net];
    args.extend(flags);
    args.extend([c.image.as_str(), "cat", "/etc/resolv.conf"]);
    let out = c.d.docker(&args);
    assert!(out.success(), "{}", out.describe());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.describe());
    assert_eq!(lines[0], "search a.test", "{}", out.describe());
    assert!(lines[1].starts_with("nameserver "), "{}", out.describe());
    assert_eq!(lines[2], "options timeout:2 ndots:0", "{}", out.describe());
}

/// Network and volume bodies are decoded as Go decodes them: keys ignoring case, unknown
/// keys dropped, and a wrong JSON type refused with Go's text as a 400 (moby since v23 puts
/// `invalid JSON: ` before it; dockerd 20.10 sends it bare).
#[test]
fn network_and_volume_bodies_decode_as_go_does() {
    let mut c = setup("netvolbodies");
    let check = assert_go_type_error;
    for (body, go_error) in [
        (
            json!({"Name": 5}),
            "number into Go struct field NetworkCreateRequest.Name of type string",
        ),
        (
            json!({"Name": "x", "IPAM": {"Config": [{"Subnet": 5}]}}),
            "number into Go struct field IPAMConfig.IPAM.Config.Subnet of type string",
        ),
        (
            json!({"Name": "x", "IPAM": {"Options": [1]}}),
            "array into Go struct field IPAM.IPAM.Options of type map[string]string",
        ),
        (
            json!([1]),
            "array into Go value of type types.NetworkCreateRequest",
        ),
    ] {
        check(&c.d.post_json("/networks/create", &body), go_error);
    }
    let net = format!("bct-dropin-{}-gonet", std::process::id());
    c.networks.push(net.clone());
    let r = c.d.post_json(
        "/networks/create",
        &json!({"name": net, "internal": true, "bogus": 1}),
    );
    assert_eq!(r.status, 201, "{}", r.describe());
    let (_, v) = c.d.get_json(&format!("/networks/{net}"));
    assert_eq!(v["Internal"], json!(true), "{v}");
    assert!(v.get("bogus").is_none(), "{v}");
    check(
        &c.d.post_json(
            &format!("/networks/{net}/connect"),
            &json!({"Container": 5}),
        ),
        "number into Go struct field NetworkConnect.Container of type string",
    );
    check(
        &c.d.post_json(
            &format!("/networks/{net}/connect"),
            &json!({"Container": "x", "EndpointConfig": {"Aliases": "a"}}),
        ),
        "string into Go struct field EndpointSettings.EndpointConfig.Aliases of type []string",
    );
    check(
        &c.d.post_json(&format!("/networks/{net}/disconnect"), &json!([1])),
        "array into Go value of type types.NetworkDisconnect",
    );
    for (body, go_error) in [
        (
            json!({"Name": 5}),
            "number into Go struct field VolumeCreateBody.Name of type string",
        ),
        (
            json!({"DriverOpts": {"a": 1}}),
            "number into Go struct field VolumeCreateBody.DriverOpts of type string",
        ),
        (
            json!([1]),
            "array into Go value of type volume.VolumeCreateBody",
        ),
    ] {
        check(&c.d.post_json("/volumes/create", &body), go_error);
    }
    let vol = format!("bct-dropin-{}-govol", std::process::id());
    let r = c.d.post_json(
        "/volumes/create",
        &json!({"name": vol, "labels": {"a": "b"}}),
    );
    assert_eq!(r.status, 201, "{}", r.describe());
    assert_eq!(r.json()["Name"], json!(vol), "{}", r.describe());
    assert_eq!(r.json()["Labels"], json!({"a": "b"}), "{}", r.describe());
    let r = c.d.request("DELETE", &format!("/volumes/{vol}"), &[], b"");
    assert_eq!(r.status, 204, "{}", r.describe());
}

/// An exec runs under its container's ulimits and capabilities; a capability nobody has
/// heard of is refused at create, in moby's words, and leaves no container behind.
#[test]
fn exec_inherits_ulimits_and_unknown_capabilities_are_refused() {
    let mut c = setup("execlimits");
    let name = c.name("limits");
    let run = c.d.docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "none",
        "--ulimit",
        "nofile=100:200",
        "--ulimit",
        "nproc=300:400",
        "--cap-add",
        "net_admin",
        &c.image,
        "sleep",
        "300",
    ]);
    assert!(run.success(), "{run:?}");
    // Only the hard NOFILE limit is certain in an exec: runc 1.1 built with Go >= 1.19
    // (Debian 12's) races Go's start-up bump of the soft NOFILE limit (runc #4195), on
    // dockerd as on berthd. NPROC has no such race, so both of its limits are checked.
    let exec = c.d.docker(&[
        "exec",
        &name,
        "sh",
        "-c",
        "ulimit -Hn; ulimit -u; ulimit -Hu",
    ]);
    assert!(exec.success(), "{exec:?}");
    assert_eq!(
        exec.stdout.split_whitespace().collect::<Vec<_>>(),
        ["200", "300", "400"],
        "{exec:?}"
    );

    for (host_config, message) in [
        (
            json!({"CapAdd": ["FOO"]}),
            "invalid CapAdd: unknown capability: \"CAP_FOO\"",
        ),
        (
            json!({"CapAdd": ["ALL"], "CapDrop": ["cap_bar"]}),
            "invalid CapDrop: unknown capability: \"CAP_BAR\"",
        ),
    ] {
        let name = c.name("badcap");
        let mut host_config = host_config;
        host_config["NetworkMode"] = json!("none");
        let r = c.d.post_json(
            &format!("/containers/create?name={name}"),
            &json!({"Image": c.image, "Cmd": ["true"], "HostConfig": host_config}),
        );
        assert_eq!(r.status, 400, "{}", r.describe());
        assert_eq!(r.json()["message"], json!(message), "{}", r.describe());
        let (status, _) = c.d.get_json(&format!("/containers/{name}/json"));
        assert_eq!(status, 404, "a refused create left {name} behind");
    }
}

/// At API 1.41 a container on a user network lists its short ID among its aliases once it
/// has started (moby adds it when it connects the endpoint), and only then: docker-py reads
/// the aliases of a container it has just created and expects exactly the ones it gave.
#[test]
fn the_short_id_alias_appears_at_the_first_start() {
    let mut c = setup("aliasstart");
    let net = format!("bct-dropin-{}-aliasnet", std::process::id());
    c.networks.push(net.clone());
    let r =
        c.d.post_json("/v1.41/networks/create", &json!({"Name": net}));
    assert_eq!(r.status, 201, "{}", r.describe());
    let id = c.create(
        "aliased",
        json!({
            "Cmd": ["sleep", "300"],
            "HostConfig": {"NetworkMode": net},
            "NetworkingConfig": {"EndpointsConfig": {net.clone(): {"Aliases": ["hello"]}}},
        }),
    );
    let aliases = |c: &Ctx| {
        let (status, v) = c.d.get_json(&format!("/v1.41/containers/{id}/json"));
        assert_eq!(status, 200, "{v}");
        v["NetworkSettings"]["Networks"][&net]["Aliases"].clone()
    };
    assert_eq!(aliases(&c), json!(["hello"]));
    let r =
        c.d.request("POST", &format!("/v1.41/containers/{id}/start"), &[], b"");
    assert_eq!(r.status, 204, "{}", r.describe());
    assert_eq!(aliases(&c), json!(["hello", &id[..12]]));
}

/// Limits moby refuses are a 400 with its text at create and at update, before anything is
/// made or changed: never a 500 from runc, never a container that cannot start.
#[test]
fn resource_limits_are_checked_as_moby_checks_them() {
    let mut c = setup("limits");
    // moby checks NanoCpus against runtime.NumCPU (the affinity mask, not a quota).
    let cpus = compat_tests::procfs::allowed_cpus();
    for (limits, message) in [
        (
            json!({"Memory": -1}),
            "Minimum memory limit allowed is 6MB".to_string(),
        ),
        (
            json!({"Memory": 10_000_000, "MemorySwap": 5_000_000}),
            "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
        ),
        (
            json!({"MemorySwap": 50_000_000}),
            "You should always set the Memory limit when using Memoryswap limit, see usage".into(),
        ),
        (
            json!({"MemoryReservation": 1000}),
            "Minimum memory reservation allowed is 6MB".into(),
        ),
        (
            json!({"NanoCpus": 1_000_000_000, "CpuPeriod": 100_000}),
            "Conflicting options: Nano CPUs and CPU Period cannot both be set".into(),
        ),
        (
            json!({"NanoCpus": (cpus as i64 + 1) * 1_000_000_000}),
            format!(
                "Range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"
            ),
        ),
        (
            json!({"CpuPeriod": 10}),
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
                .into(),
        ),
        (
            json!({"CpuQuota": 10}),
            "CPU cfs quota can not be less than 1ms (i.e. 1000)".into(),
        ),
        (
            json!({"CpusetCpus": "1-0"}),
            "Invalid value 1-0 for cpuset cpus: invalid format: 1-0".into(),
        ),
        (
            json!({"OomScoreAdj": 1001}),
            "Invalid value 1001, range for oom score adj is [-1000, 1000]".into(),
        ),
        (
            json!({"MemorySwappiness": 200}),
            "Invalid value: 200, valid memory swappiness range is 0-100".into(),
        ),
    ] {
        let name = c.name("badlimit");
        let mut host_config = limits.clone();
        host_config["NetworkMode"] = json!("none");
        let r = c.d.post_json(
            &format!("/v1.41/containers/create?name={name}"),
            &json!({"Image": c.image, "Cmd": ["true"], "HostConfig": host_config}),
        );
        assert_eq!(r.status, 400, "{limits}: {}", r.describe());
        assert_eq!(
            r.json()["message"],
            json!(message),
            "{limits}: {}",
            r.describe()
        );
        let (status, _) = c.d.get_json(&format!("/containers/{name}/json"));
        assert_eq!(status, 404, "a refused create left {name} behind");
    }

    // Asking a running container for CPUs the host does not have.
    let id = c.create(
        "update",
        json!({"Cmd": ["sleep", "300"], "HostConfig": {"NetworkMode": "none"}}),
    );
    let r =
        c.d.request("POST", &format!("/containers/{id}/start"), &[], b"");
    assert_eq!(r.status, 204, "{}", r.describe());
    let missing = format!("0-{cpus}");
    let r = c.d.post_json(
        &format!("/v1.41/containers/{id}/update"),
        &json!({"CpusetCpus": missing}),
    );
    assert_eq!(r.status, 400, "{}", r.describe());
    let message = r.json()["message"].as_str().unwrap_or_default().to_string();
    assert!(
        message.starts_with(&format!(
            "Requested CPUs are not available - requested {missing}, available: "
        )),
        "{}",
        r.describe()
    );
    assert_eq!(c.inspect(&id)["HostConfig"]["CpusetCpus"], json!(""));
}

/// `start` and `rm -f` sent together: whichever wins, the container ends up gone and so
/// does its process. Both orders are tried several times; a process left running with no
/// container to show for it is what this guards against.
#[test]
fn start_racing_a_forced_remove_leaves_no_process_behind() {
    let mut c = setup("startrm");
    let marker = format!("bct-startrm-{}", std::process::id());
    for i in 0..10 {
        let id = c.create(
            &format!("race{i}"),
            json!({
                "Cmd": ["sh", "-c", format!("sleep 1000; : {marker}")],
                "HostConfig": {"NetworkMode": "none"},
            }),
        );
        let socket_daemon = &c.d;
        std::thread::scope(|s| {
            let start = s.spawn(|| {
                socket_daemon.request("POST", &format!("/containers/{id}/start"), &[], b"")
            });
            if i % 2 == 1 {
                std::thread::sleep(Duration::from_millis(5 * i as u64));
            }
            let rm =
                socket_daemon.request("DELETE", &format!("/containers/{id}?force=1"), &[], b"");
            let start = start.join().expect("start thread");
            assert!(
                matches!(start.status, 204 | 404 | 409),
                "start: {}",
                start.describe()
            );
            assert!(matches!(rm.status, 204 | 409), "rm -f: {}", rm.describe());
        });
        // A 409 from rm (removal already in progress elsewhere) can only mean another
        // removal; finish it the way a user would.
        let _ =
            c.d.request("DELETE", &format!("/containers/{id}?force=1"), &[], b"");
        let gone = compat_tests::wait_until(Duration::from_secs(20), || {
            c.d.get_json(&format!("/containers/{id}/json")).0 == 404
        });
        assert!(gone, "container {id} still listed after rm -f");
    }
    let left = compat_tests::wait_until(Duration::from_secs(20), || {
        !compat_tests::procfs::all_pids().into_iter().any(|pid| {
            compat_tests::procfs::cmdline(pid)
                .iter()
                .any(|a| a.contains(&marker))
        })
    });
    assert!(
        left,
        "a container process ({marker}) outlived its container"
    );
}

/// `kill` and `pause` sent as a container's process ends: either they act, or they find it
/// not running (409); never a 500 from the runtime's half-gone task. (moby passes a failed
/// pause on untyped, so dockerd may answer that race with a 500: "cannot pause a stopped
/// container", or "Cannot pause container …: OCI runtime pause failed: container not
/// running", depending on where the race falls. Berth answers 409, as for any pause of a
/// container that is not running.)
#[test]
fn kill_and_pause_racing_the_exit_answer_409_at_worst() {
    let mut c = setup("exitrace");
    let (_, version) = c.d.get_json("/version");
    let moby = !version["Platform"]["Name"]
        .as_str()
        .unwrap_or_default()
        .starts_with("Berth");
    for i in 0..12 {
        let id = c.create(
            &format!("quick{i}"),
            json!({"Cmd": ["true"], "HostConfig": {"NetworkMode": "none"}}),
        );
        let r =
            c.d.request("POST", &format!("/containers/{id}/start"), &[], b"");
        assert_eq!(r.status, 204, "{}", r.describe());
        let (method, path) = if i % 2 == 0 {
            ("POST", format!("/containers/{id}/kill"))
        } else {
            ("POST", format!("/containers/{id}/pause"))
        };
        let r = c.d.request(method, &path, &[], b"");
        let moby_pause_race = moby
            && i % 2 == 1
            && r.status == 500
            && r.text().to_lowercase().contains("cannot pause");
        assert!(
            matches!(r.status, 204 | 409) || moby_pause_race,
            "{path} as the process ends: {}",
            r.describe()
        );
        if r.status == 204 && i % 2 == 1 {
            let r =
                c.d.request("POST", &format!("/containers/{id}/unpause"), &[], b"");
            assert_eq!(r.status, 204, "{}", r.describe());
        }
    }
}

/// The block device throttles a container's own cgroup holds, as `major:minor` → (read
/// bytes, write operations) per second, cgroup v1 or v2.
const THROTTLES: &str = "if [ -f /sys/fs/cgroup/blkio/blkio.throttle.read_bps_device ]; then \
     cat /sys/fs/cgroup/blkio/blkio.throttle.read_bps_device \
         /sys/fs/cgroup/blkio/blkio.throttle.write_iops_device; \
     else cat /sys/fs/cgroup/io.max; fi";

/// `--device-read-bps` and friends reach the container's cgroup; a device that does not
/// exist fails the start, in moby's words.
#[test]
fn block_device_throttles_apply_and_a_missing_device_fails_the_start() {
    let Some(disk) = compat_tests::host_disk() else {
        compat_tests::skip("no whole disk under /sys/block on this host");
        return;
    };
    let mut c = setup("blkio");
    let name = c.name("throttled");
    let run = c.d.docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "none",
        "--device-read-bps",
        &format!("{disk}:1mb"),
        "--device-write-iops",
        &format!("{disk}:100"),
        &c.image,
        "sleep",
        "300",
    ]);
    assert!(run.success(), "{run:?}");
    let out = c.d.docker(&["exec", &name, "sh", "-c", THROTTLES]);
    assert!(out.success(), "{out:?}");
    let text = out.stdout.replace('\n', " ");
    assert!(
        text.contains(" 1048576") || text.contains("rbps=1048576"),
        "read bps in {text:?}"
    );
    assert!(
        text.contains(" 100") || text.contains("wiops=100"),
        "write iops in {text:?}"
    );

    let id = c.create(
        "nodevice",
        json!({"Cmd": ["true"], "HostConfig": {"NetworkMode": "none",
               "BlkioDeviceReadBps": [{"Path": "/dev/berth-no-such-disk", "Rate": 1}]}}),
    );
    let r =
        c.d.request("POST", &format!("/containers/{id}/start"), &[], b"");
    assert_eq!(r.status, 500, "{}", r.describe());
    assert_eq!(
        r.json()["message"],
        json!("stat /dev/berth-no-such-disk: no such file or directory")
    );
}

/// A detach sequence typed key by key (docker-py sends ctrl-p and ctrl-q half a second
/// apart) detaches without the first key reaching the TTY, whose echo would reach the
/// client.
#[test]
fn detach_keys_typed_one_by_one_reach_nothing() {
    let mut c = setup("detachsplit");
    let id = c.create(
        "cat",
        json!({"Cmd": ["cat"], "OpenStdin": true, "HostConfig": {"NetworkMode": "none"}}),
    );
    let r =
        c.d.request("POST", &format!("/containers/{id}/start"), &[], b"");
    assert_eq!(r.status, 204, "{}", r.describe());
    let r = c.d.post_json(
        &format!("/containers/{id}/exec"),
        &json!({"Cmd": ["cat"], "AttachStdin": true, "AttachStdout": true, "Tty": true}),
    );
    assert_eq!(r.status, 201, "{}", r.describe());
    let exec = r.json()["Id"].as_str().unwrap().to_string();

    let mut s = UnixStream::connect(c.d.socket_path()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let body = json!({"Detach": false, "Tty": true}).to_string();
    write!(
        s,
        "POST /exec/{exec}/start HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\n\
         Upgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    s.write_all(&[0x10]).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    s.write_all(&[0x11]).unwrap();
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head: {:?}", String::from_utf8_lossy(&all)));
    let output = &all[split + 4..];
    assert!(
        !output.contains(&0x10) && !output.windows(2).any(|w| w == b"^P"),
        "the first detach key reached the TTY: {:?}",
        String::from_utf8_lossy(output)
    );
}

/// A client that attaches and then does not read for a while still gets every line: the
/// container's writes wait for it, as on dockerd, rather than output being dropped.
#[test]
fn a_slow_attached_client_gets_every_line() {
    const LINES: usize = 1_000_000;
    let mut c = setup("slowattach");
    let id = c.create(
        "seq",
        json!({"Cmd": ["/bin/busybox", "seq", "1", LINES.to_string()],
               "HostConfig": {"NetworkMode": "none"}}),
    );
    let mut s = UnixStream::connect(c.d.socket_path()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "POST /containers/{id}/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: docker\r\n\
         Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).expect("attach response head");
        head.push(byte[0]);
    }
    let r =
        c.d.request("POST", &format!("/containers/{id}/start"), &[], b"");
    assert_eq!(r.status, 204, "{}", r.describe());
    // Far more output than any buffer on the way holds is waiting by now.
    std::thread::sleep(Duration::from_secs(2));
    let mut stream = Vec::new();
    s.read_to_end(&mut stream).expect("attach stream");
    assert_eq!(
        compat_tests::stdcopy_lines(&stream),
        LINES,
        "lines that reached the slow client"
    );
}

/// testcontainers' `with_tmpfs_mount("/x", "1m")` sends `Tmpfs: {"/x": "1m"}`: the create
/// is accepted and the start refused with moby's check of the options (a 500, as on dockerd),
/// not the runtime's mount error; the container stays created.
#[test]
fn tmpfs_options_are_checked_at_start_as_moby_checks_them() {
    let mut c = setup("tmpfs-opts");
    let id = c.create(
        "tmpfs",
        json!({"Cmd": ["true"], "HostConfig": {"NetworkMode": "none", "Tmpfs": {"/scratch": "1m"}}}),
    );
    let r =
        c.d.request("POST", &format!("/containers/{id}/start"), &[], b"");
    assert_eq!(r.status, 500, "{}", r.describe());
    let message = r.json()["message"].as_str().unwrap_or_default().to_string();
    assert!(
        message.starts_with("invalid tmpfs option ") && message.contains("\"1m\""),
        "{message}"
    );
    assert_eq!(c.inspect(&id)["State"]["Status"], "created");
    let ok = c.create(
        "tmpfs-ok",
        json!({"Cmd": ["true"], "HostConfig": {"NetworkMode": "none", "Tmpfs": {"/scratch": "size=1m,noexec"}}}),
    );
    let r =
        c.d.request("POST", &format!("/containers/{ok}/start"), &[], b"");
    assert_eq!(r.status, 204, "{}", r.describe());
}

/// `GET /containers/{id}/json?size=1` (dockerode's `inspect({size: true})`) adds the
/// writable layer's and the whole root's sizes, as the list's `size=1` does.
#[test]
fn inspect_with_size_counts_the_layers() {
    let mut c = setup("inspect-size");
    let id = c.create(
        "sized",
        json!({"Cmd": ["sh", "-c", "echo x > /f"], "HostConfig": {"NetworkMode": "none"}}),
    );
    let r =
        c.d.request("POST", &format!("/containers/{id}/start"), &[], b"");
    assert_eq!(r.status, 204, "{}", r.describe());
    let _ =
        c.d.request("POST", &format!("/containers/{id}/wait"), &[], b"");
    let plain = c.inspect(&id);
    assert!(plain.get("SizeRw").is_none(), "{plain}");
    let (status, sized) = c.d.get_json(&format!("/containers/{id}/json?size=1"));
    assert_eq!(status, 200);
    assert_eq!(sized["SizeRw"], 2, "the two bytes of /f");
    let root = sized["SizeRootFs"].as_i64().unwrap_or(0);
    assert!(
        root > 1_000_000,
        "SizeRootFs {root}: the image's busybox and the layer"
    );
}

/// A run that mounted a volume releases it with an `unmount` event (container, driver).
#[test]
fn a_run_that_mounted_a_volume_emits_unmount() {
    let mut c = setup("vol-unmount");
    let volume = format!("bct-dropin-{}-unmount", std::process::id());
    let since = compat_tests::unix_now();
    let id = c.create(
        "vol-user",
        json!({"Cmd": ["true"], "HostConfig": {"NetworkMode": "none", "Binds": [format!("{volume}:/data")]}}),
    );
    let r =
        c.d.request("POST", &format!("/containers/{id}/start"), &[], b"");
    assert_eq!(r.status, 204, "{}", r.describe());
    let _ =
        c.d.request("POST", &format!("/containers/{id}/wait"), &[], b"");
    let r =
        c.d.request("DELETE", &format!("/containers/{id}?v=1"), &[], b"");
    assert_eq!(r.status, 204, "{}", r.describe());
    let r =
        c.d.request("DELETE", &format!("/volumes/{volume}"), &[], b"");
    assert_eq!(r.status, 204, "{}", r.describe());
    let filters =
        compat_tests::url_encode(&format!(r#"{{"type":["volume"],"volume":["{volume}"]}}"#));
    let r = c.d.request(
        "GET",
        &format!(
            "/events?since={since}&until={}&filters={filters}",
            compat_tests::unix_now() + 1
        ),
        &[],
        b"",
    );
    let events: Vec<Value> = String::from_utf8_lossy(&r.body)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let actions: Vec<&str> = events.iter().filter_map(|e| e["Action"].as_str()).collect();
    let mount = actions.iter().position(|a| *a == "mount");
    let unmount = actions.iter().position(|a| *a == "unmount");
    assert!(mount.is_some() && unmount > mount, "{actions:?}");
    let attrs = &events[unmount.unwrap()]["Actor"]["Attributes"];
    assert_eq!(attrs["container"], id.as_str());
    assert_eq!(attrs["driver"], "local");
    assert_eq!(actions.last(), Some(&"destroy"), "{actions:?}");
}

/// Removing a built image takes its untagged parents (the build's step images) with it,
/// unless `noprune` is given, as moby's image delete does.
#[test]
fn removing_an_image_prunes_its_untagged_parents() {
    let c = setup("rmi-prune");
    let dir = compat_tests::TempDir::new("bct-rmi-prune");
    std::fs::write(
        dir.join("Dockerfile"),
        format!("FROM {}\nRUN echo a > /a\nRUN echo b > /b\n", c.image),
    )
    .unwrap();
    let tag = format!("bct-rmi-prune:{}", std::process::id());
    // Builds the image, removes it, and says whether its parent (a step image) is left.
    let parent_left = |noprune: bool| -> (Vec<Value>, bool, String) {
        let out =
            c.d.docker(&["build", "-q", "-t", &tag, &dir.display().to_string()]);
        assert!(out.success(), "{}", out.describe());
        let (_, img) = c.d.get_json(&format!("/images/{tag}/json"));
        let parent = img["Parent"].as_str().unwrap_or_default().to_string();
        assert!(
            parent.starts_with("sha256:"),
            "a classic build records the parent: {img}"
        );
        let path = format!("/images/{tag}{}", if noprune { "?noprune=1" } else { "" });
        let r = c.d.request("DELETE", &path, &[], b"");
        assert_eq!(r.status, 200, "{}", r.describe());
        let items: Vec<Value> = r.json().as_array().cloned().unwrap_or_default();
        let (status, _) = c.d.get_json(&format!("/images/{parent}/json"));
        (items, status == 200, parent)
    };
    let (items, left, parent) = parent_left(false);
    assert!(
        !left,
        "the step image {parent} is left after rmi: {items:?}"
    );
    let deleted: Vec<&str> = items.iter().filter_map(|i| i["Deleted"].as_str()).collect();
    assert!(deleted.contains(&parent.as_str()), "{items:?}");
    let (items, left, parent) = parent_left(true);
    assert!(left, "noprune removed the parent too: {items:?}");
    assert!(
        !items.iter().any(|i| i["Deleted"] == parent.as_str()),
        "noprune listed the parent as deleted: {items:?}"
    );
    // The parent kept, removed now, takes the rest of the chain with it.
    let r =
        c.d.request("DELETE", &format!("/images/{parent}"), &[], b"");
    assert_eq!(r.status, 200, "{}", r.describe());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A container in a namespace of its own on networks without IPv6 (or none) has IPv6 turned
/// off, as dockerd leaves it; `--sysctl` still decides.
#[test]
fn ipv6_is_off_without_an_ipv6_network() {
    let c = setup("ipv6-off");
    let read = "for i in all default lo; do cat /proc/sys/net/ipv6/conf/$i/disable_ipv6; done";
    for network in ["bridge", "none"] {
        let out = c.d.docker(&[
            "run",
            "--rm",
            "--network",
            network,
            &c.image,
            "sh",
            "-c",
            read,
        ]);
        assert!(out.success(), "{}", out.describe());
        assert_eq!(out.stdout, "1\n1\n1\n", "--network {network}");
    }
    let out = c.d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--sysctl",
        "net.ipv6.conf.all.disable_ipv6=0",
        &c.image,
        "cat",
        "/proc/sys/net/ipv6/conf/all/disable_ipv6",
    ]);
    assert!(out.success(), "{}", out.describe());
    assert_eq!(out.stdout, "0\n", "the --sysctl given wins");
}

/// Sends `head` then `body` bytes on a fresh connection, one chunk every `gap`, and returns
/// what the daemon answered within `wait` (empty when it closed without a word, `None` when
/// it said nothing at all).
fn stalled_request(
    d: &Daemon,
    head: &str,
    chunks: &[&[u8]],
    gap: Duration,
    wait: Duration,
) -> Option<String> {
    let mut s = UnixStream::connect(d.socket_path()).expect("connect");
    s.write_all(head.as_bytes()).expect("send head");
    for chunk in chunks {
        std::thread::sleep(gap);
        s.write_all(chunk).expect("send chunk");
    }
    s.set_read_timeout(Some(wait)).expect("timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(String::from_utf8_lossy(&got).into_owned()),
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.windows(4).any(|w| w == b"\r\n\r\n") && got.ends_with(b"\n") {
                    return Some(String::from_utf8_lossy(&got).into_owned());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // Only our own read timeout means the daemon is still waiting; any other end of
            // the connection (a reset included) is the daemon dropping it.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None;
            }
            Err(_) => return Some(String::from_utf8_lossy(&got).into_owned()),
        }
    }
}

/// A client that stops sending in the middle of a request's headers or body has its
/// connection dropped (the body's with a 400) once the read timeout passes, and creates
/// nothing; a body that keeps coming, however slowly, is read whole. berthd runs here with
/// `--request-read-timeout 3` (a byte a second stays well inside it even on a loaded
/// machine); dockerd has no such limit on bodies and a 5-minute one on headers. The waits
/// for answers are long because a create can take seconds on a busy machine.
#[test]
fn a_stalled_request_is_dropped_after_the_read_timeout() {
    if compat_tests::external_daemon() {
        return;
    }
    let d = if compat_tests::owned_daemons_are_dockerd() {
        Daemon::start_berthd(&[])
    } else {
        Daemon::start_berthd(&["--request-read-timeout", "3"])
    };
    let image = d.load_test_image("dropin-stalled");
    let body = json!({"Image": image, "Cmd": ["true"]}).to_string();
    let head = |len: usize| {
        format!(
            "POST /v1.41/containers/create HTTP/1.1\r\nHost: d\r\n\
             Content-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
        )
    };

    // Slow but steady: a byte a second for longer than the timeout.
    let (start, rest) = body.split_at(body.len() - 4);
    let rest: Vec<&[u8]> = rest.as_bytes().chunks(1).collect();
    let mut first = head(body.len());
    first.push_str(start);
    let slow = stalled_request(
        &d,
        &first,
        &rest,
        Duration::from_secs(1),
        Duration::from_secs(60),
    )
    .expect("an answer to a body that kept coming");
    assert!(slow.starts_with("HTTP/1.1 201"), "{slow}");

    let (_, before) = d.get_json("/v1.41/containers/json?all=1");
    // A body that stops 40 bytes short of its Content-Length.
    let mut stalled = head(body.len() + 40);
    stalled.push_str(&body);
    let answer = stalled_request(&d, &stalled, &[], Duration::ZERO, Duration::from_secs(30));
    let answer = answer.expect("the daemon never gave up on a stalled body");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("error reading request body"), "{answer}");
    let (_, after) = d.get_json("/v1.41/containers/json?all=1");
    assert_eq!(before, after, "a stalled create made something");

    // Headers that never end.
    let answer = stalled_request(
        &d,
        "GET /_ping HTTP/1.1\r\nHost: d\r\n",
        &[],
        Duration::ZERO,
        Duration::from_secs(30),
    );
    assert!(
        answer.is_some(),
        "the daemon never gave up on unfinished headers"
    );
}
