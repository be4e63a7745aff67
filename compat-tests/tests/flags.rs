//! berthd's own flags, as dockerd names them: TLS on TCP listeners, the refusal of plain TCP,
//! daemon.json validation and the socket group. Only meaningful for a berthd the test boots.

use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use compat_tests::{Daemon, berthd_binary, cli, external_daemon, unique_temp_dir};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, in `dir`.
fn make_certs(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=berth-test-ca",
        ],
    );
    std::fs::write(
        dir.join("server.cnf"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    std::fs::write(dir.join("client.cnf"), "extendedKeyUsage=clientAuth\n").unwrap();
    for (name, cn, ext) in [
        ("server", "127.0.0.1", "server.cnf"),
        ("client", "client", "client.cnf"),
    ] {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{name}-key.pem"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={cn}"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca-key.pem",
                "-CAcreateserial",
                "-out",
                &format!("{name}-cert.pem"),
                "-days",
                "2",
                "-extfile",
                ext,
            ],
        );
    }
    // The docker CLI reads ca.pem, cert.pem and key.pem from DOCKER_CERT_PATH.
    let client = dir.join("client");
    std::fs::create_dir_all(&client).unwrap();
    std::fs::copy(dir.join("ca.pem"), client.join("ca.pem")).unwrap();
    std::fs::copy(dir.join("client-cert.pem"), client.join("cert.pem")).unwrap();
    std::fs::copy(dir.join("client-key.pem"), client.join("key.pem")).unwrap();
}

fn docker_over_tcp(port: u16, certs: Option<&Path>, args: &[&str]) -> cli::Output {
    let config = unique_temp_dir("bct-flags-cli");
    let mut cmd = cli::docker_command(&format!("tcp://127.0.0.1:{port}"), &config, args);
    match certs {
        Some(dir) => {
            cmd.env("DOCKER_TLS_VERIFY", "1")
                .env("DOCKER_CERT_PATH", dir);
        }
        None => {
            cmd.env_remove("DOCKER_TLS_VERIFY")
                .env_remove("DOCKER_CERT_PATH");
        }
    }
    let out = cli::run(cmd, Duration::from_secs(60));
    let _ = std::fs::remove_dir_all(&config);
    out
}

#[test]
fn tlsverify_serves_clients_with_a_certificate_only() {
    if external_daemon() {
        return;
    }
    let certs = unique_temp_dir("bct-tls");
    make_certs(&certs);
    let port = free_port();
    let host = format!("tcp://127.0.0.1:{port}");
    let path = |f: &str| certs.join(f).display().to_string();
    let (ca, cert, key) = (
        path("ca.pem"),
        path("server-cert.pem"),
        path("server-key.pem"),
    );
    let d = Daemon::start_berthd(&[
        "-H",
        &host,
        "--tlsverify",
        "--tlscacert",
        &ca,
        "--tlscert",
        &cert,
        "--tlskey",
        &key,
    ]);
    let ok = docker_over_tcp(
        port,
        Some(&certs.join("client")),
        &["version", "--format", "{{.Server.APIVersion}}"],
    );
    assert!(ok.success(), "{}", ok.describe());
    assert!(!ok.stdout.trim().is_empty());
    let plain = docker_over_tcp(
        port,
        None,
        &["version", "--format", "{{.Server.APIVersion}}"],
    );
    assert!(
        !plain.success(),
        "a client without TLS must not get an answer\n{}",
        plain.describe()
    );
    drop(d);
    let _ = std::fs::remove_dir_all(&certs);
}

fn run_berthd_expecting_failure(args: &[&str]) -> (bool, String) {
    let dir = unique_temp_dir("bct-flags");
    let (mut cmd, _bridge) = compat_tests::bare_daemon_command(&berthd_binary());
    cmd.args([
        "--data-root",
        &dir.join("data").display().to_string(),
        "--exec-root",
        &dir.join("exec").display().to_string(),
        "--pidfile",
        &dir.join("berthd.pid").display().to_string(),
    ]);
    cmd.args(args);
    let out = cli::run(cmd, Duration::from_secs(20));
    let _ = std::fs::remove_dir_all(&dir);
    (out.success(), format!("{}{}", out.stdout, out.stderr))
}

#[test]
fn plain_tcp_needs_an_explicit_tls_false() {
    if external_daemon() {
        return;
    }
    let port = free_port();
    let (ok, text) = run_berthd_expecting_failure(&["-H", &format!("tcp://127.0.0.1:{port}")]);
    assert!(!ok, "berthd must refuse plain TCP\n{text}");
    assert!(text.contains("--tls=false"), "{text}");
}

#[test]
fn unknown_daemon_json_keys_are_refused() {
    if external_daemon() {
        return;
    }
    let dir = unique_temp_dir("bct-daemon-json");
    let file = dir.join("daemon.json");
    std::fs::write(&file, r#"{"debug": true, "no-such-option": 1}"#).unwrap();
    let (ok, text) = run_berthd_expecting_failure(&["--config-file", &file.display().to_string()]);
    assert!(!ok, "{text}");
    assert!(
        text.contains(
            "the following directives don't match any configuration option: no-such-option"
        ),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn socket_belongs_to_the_group_with_mode_0660() {
    if external_daemon() {
        return;
    }
    // `daemon` (gid 1) exists on Debian.
    let d = Daemon::start_berthd(&["-G", "daemon"]);
    let meta = std::fs::metadata(d.socket_path()).expect("socket");
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    let gid = nix::unistd::Group::from_name("daemon")
        .ok()
        .flatten()
        .map(|g| g.gid.as_raw());
    assert_eq!(Some(meta.gid()), gid);
    drop(d);
    // A group named and missing is refused, as dockerd does (only a missing default
    // `docker` group falls back to root).
    let dir = unique_temp_dir("bct-flags-group");
    let socket = format!("unix://{}", dir.join("d.sock").display());
    let (ok, text) = run_berthd_expecting_failure(&["-H", &socket, "-G", "no-such-group-berth"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!ok, "a missing -G group must stop the daemon\n{text}");
    assert!(
        text.contains("group no-such-group-berth not found"),
        "{text}"
    );
}

#[test]
fn insecure_registries_show_in_info_and_bad_ones_are_refused() {
    if external_daemon() {
        return;
    }
    let d = Daemon::start_berthd(&[
        "--insecure-registry",
        "myreg:5000",
        "--insecure-registry",
        "10.1.0.0/16",
        "--insecure-registry",
        "http://other.example",
    ]);
    let (status, info) = d.get_json("/v1.41/info");
    assert_eq!(status, 200);
    let config = &info["RegistryConfig"];
    assert_eq!(
        config["InsecureRegistryCIDRs"],
        serde_json::json!(["10.1.0.0/16", "127.0.0.0/8", "::1/128"])
    );
    for name in ["myreg:5000", "other.example"] {
        assert_eq!(
            config["IndexConfigs"][name],
            serde_json::json!({"Name": name, "Mirrors": [], "Secure": false, "Official": false}),
            "{config}"
        );
    }
    assert_eq!(config["IndexConfigs"]["docker.io"]["Secure"], true);
    let out = d.docker(&["info"]);
    assert!(out.success(), "{}", out.describe());
    let listed = out
        .stdout
        .split("Insecure Registries:")
        .nth(1)
        .unwrap_or_default();
    for name in ["myreg:5000", "10.1.0.0/16", "127.0.0.0/8"] {
        assert!(listed.contains(name), "{}", out.stdout);
    }
    drop(d);

    let (ok, text) = run_berthd_expecting_failure(&["--insecure-registry", "x:99999"]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("insecure registry x:99999 is not valid: invalid port \"99999\""),
        "{text}"
    );
    let dir = unique_temp_dir("bct-daemon-json");
    let file = dir.join("daemon.json");
    std::fs::write(&file, r#"{"insecure-registries": ["bad value!"]}"#).unwrap();
    let (ok, text) = run_berthd_expecting_failure(&["--config-file", &file.display().to_string()]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("insecure registry bad value! is not valid: invalid host \"bad value!\""),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
