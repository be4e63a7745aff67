//! berthd's settings: dockerd's flag names, merged with a daemon.json that uses dockerd's
//! keys. As in dockerd, an unknown key or a setting given both as a flag and in the file is
//! an error.

use std::path::PathBuf;

use clap::Parser;
use serde_json::Value;

use crate::listen::{self, ListenAddr, TlsFiles};

#[derive(Parser, Debug, Default, Clone)]
#[command(
    name = "berthd",
    version,
    about = "Berth: a Docker Engine API daemon on containerd"
)]
pub struct Flags {
    /// Daemon socket(s) to listen on: unix://PATH or tcp://HOST:PORT (repeatable)
    #[arg(short = 'H', long = "host")]
    pub hosts: Vec<String>,
    /// Root directory of persistent state
    #[arg(long = "data-root")]
    pub data_root: Option<PathBuf>,
    /// Root directory of execution state (sockets, FIFOs)
    #[arg(long = "exec-root")]
    pub exec_root: Option<PathBuf>,
    /// containerd socket to use; without it berthd runs its own containerd
    #[arg(long = "containerd")]
    pub containerd: Option<PathBuf>,
    /// containerd namespace for containers and images
    #[arg(long = "containerd-namespace")]
    pub containerd_namespace: Option<String>,
    /// Path to the daemon's PID file
    #[arg(short = 'p', long = "pidfile")]
    pub pidfile: Option<PathBuf>,
    /// Enable debug mode
    #[arg(short = 'D', long = "debug", num_args = 0..=1, default_missing_value = "true")]
    pub debug: Option<bool>,
    /// Logging level: debug, info, warn, error, fatal
    #[arg(short = 'l', long = "log-level")]
    pub log_level: Option<String>,
    /// Daemon configuration file
    #[arg(long = "config-file")]
    pub config_file: Option<PathBuf>,
    /// Group for the unix socket
    #[arg(short = 'G', long = "group")]
    pub group: Option<String>,
    /// Use TLS; implied by --tlsverify
    #[arg(long = "tls", num_args = 0..=1, default_missing_value = "true")]
    pub tls: Option<bool>,
    /// Use TLS and verify the remote
    #[arg(long = "tlsverify", num_args = 0..=1, default_missing_value = "true")]
    pub tlsverify: Option<bool>,
    /// Trust certs signed only by this CA
    #[arg(long = "tlscacert")]
    pub tlscacert: Option<PathBuf>,
    /// Path to TLS certificate file
    #[arg(long = "tlscert")]
    pub tlscert: Option<PathBuf>,
    /// Path to TLS key file
    #[arg(long = "tlskey")]
    pub tlskey: Option<PathBuf>,
    /// Set key=value labels on the daemon (repeatable)
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Enable insecure registry communication (repeatable; host[:port] or CIDR)
    #[arg(long = "insecure-registry")]
    pub insecure_registries: Vec<String>,
    /// Enable experimental features
    #[arg(long = "experimental", num_args = 0..=1, default_missing_value = "true")]
    pub experimental: Option<bool>,
    /// The default bridge's gateway address and prefix (e.g. 172.30.0.1/16)
    #[arg(long = "bip")]
    pub bip: Option<String>,
    /// The default bridge's device name (default berth0, so it never clashes with docker0)
    #[arg(short = 'b', long = "bridge")]
    pub bridge: Option<String>,
    /// Where new networks' subnets come from: base=CIDR,size=PREFIX (repeatable)
    #[arg(long = "default-address-pool")]
    pub default_address_pools: Vec<String>,
    /// Seconds a client may take over a request's headers, or leave its body without a byte
    /// (berthd only; default 300, dockerd's header timeout)
    #[arg(long = "request-read-timeout", value_name = "SECONDS")]
    pub request_read_timeout: Option<u64>,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: Vec<ListenAddr>,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub containerd: Option<PathBuf>,
    pub namespace: String,
    pub pidfile: PathBuf,
    pub debug: bool,
    pub log_level: String,
    pub group: String,
    pub tls: Option<TlsFiles>,
    /// `--tls=false` given explicitly: plain TCP is accepted.
    pub tls_explicitly_off: bool,
    pub labels: Vec<String>,
    pub insecure_registries: Vec<String>,
    pub experimental: bool,
    pub bip: Option<String>,
    pub bridge: Option<String>,
    pub default_address_pools: Vec<String>,
    pub request_read_timeout: std::time::Duration,
}

const DEFAULT_CONFIG_FILE: &str = "/etc/berth/daemon.json";

/// daemon.json keys berthd understands (dockerd's names).
const KNOWN_KEYS: &[&str] = &[
    "hosts",
    "data-root",
    "exec-root",
    "containerd",
    "containerd-namespace",
    "pidfile",
    "debug",
    "log-level",
    "group",
    "tls",
    "tlsverify",
    "tlscacert",
    "tlscert",
    "tlskey",
    "labels",
    "insecure-registries",
    "bip",
    "bridge",
    "default-address-pools",
    "experimental",
];

impl Flags {
    /// (daemon.json key, value given as a flag), for the flags that are set.
    fn given(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        let mut put = |k: &'static str, val: Option<String>| {
            if let Some(val) = val {
                v.push((k, val));
            }
        };
        put(
            "hosts",
            (!self.hosts.is_empty()).then(|| self.hosts.join(",")),
        );
        put(
            "data-root",
            self.data_root.as_ref().map(|p| p.display().to_string()),
        );
        put(
            "exec-root",
            self.exec_root.as_ref().map(|p| p.display().to_string()),
        );
        put(
            "containerd",
            self.containerd.as_ref().map(|p| p.display().to_string()),
        );
        put("containerd-namespace", self.containerd_namespace.clone());
        put(
            "pidfile",
            self.pidfile.as_ref().map(|p| p.display().to_string()),
        );
        put("debug", self.debug.map(|b| b.to_string()));
        put("log-level", self.log_level.clone());
        put("group", self.group.clone());
        put("tls", self.tls.map(|b| b.to_string()));
        put("tlsverify", self.tlsverify.map(|b| b.to_string()));
        put(
            "tlscacert",
            self.tlscacert.as_ref().map(|p| p.display().to_string()),
        );
        put(
            "tlscert",
            self.tlscert.as_ref().map(|p| p.display().to_string()),
        );
        put(
            "tlskey",
            self.tlskey.as_ref().map(|p| p.display().to_string()),
        );
        put(
            "labels",
            (!self.labels.is_empty()).then(|| self.labels.join(",")),
        );
        put(
            "insecure-registries",
            (!self.insecure_registries.is_empty()).then(|| self.insecure_registries.join(",")),
        );
        put("experimental", self.experimental.map(|b| b.to_string()));
        put("bip", self.bip.clone());
        put("bridge", self.bridge.clone());
        put(
            "default-address-pools",
            (!self.default_address_pools.is_empty()).then(|| self.default_address_pools.join(";")),
        );
        v
    }
}

/// Reads the config file (if any) and merges it under the flags.
pub fn load(flags: Flags) -> Result<Settings, String> {
    let (path, explicit) = match &flags.config_file {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
    };
    let file = match std::fs::read_to_string(&path) {
        Ok(text) => Some(parse_file(&text).map_err(|e| format!("{}: {e}", path.display()))?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => None,
        Err(e) => return Err(format!("cannot read config file {}: {e}", path.display())),
    };
    merge(flags, file.unwrap_or_default())
}

fn parse_file(text: &str) -> Result<serde_json::Map<String, Value>, String> {
    if text.trim().is_empty() {
        return Ok(Default::default());
    }
    let value: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let Value::Object(map) = value else {
        return Err("the configuration must be a JSON object".into());
    };
    let unknown: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| !KNOWN_KEYS.contains(k))
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "the following directives don't match any configuration option: {}",
            unknown.join(", ")
        ));
    }
    Ok(map)
}

fn merge(flags: Flags, file: serde_json::Map<String, Value>) -> Result<Settings, String> {
    let conflicts: Vec<String> = flags
        .given()
        .into_iter()
        .filter_map(|(k, flag_val)| {
            file.get(k)
                .map(|fv| format!("{k}: (from flag: {flag_val}, from file: {fv})"))
        })
        .collect();
    if !conflicts.is_empty() {
        return Err(format!(
            "the following directives are specified both as a flag and in the configuration file: {}",
            conflicts.join(", ")
        ));
    }
    let s = |k: &str| -> Result<Option<String>, String> {
        match file.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(format!("{k}: expected a string, got {other}")),
        }
    };
    let b = |k: &str| -> Result<Option<bool>, String> {
        match file.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(format!("{k}: expected true or false, got {other}")),
        }
    };
    let list = |k: &str| -> Result<Vec<String>, String> {
        match file.get(k) {
            None | Some(Value::Null) => Ok(vec![]),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("{k}: expected a list of strings"))
                })
                .collect(),
            Some(_) => Err(format!("{k}: expected a list of strings")),
        }
    };
    // daemon.json has `[{"base": "10.10.0.0/16", "size": 24}]`; the flag's form is kept.
    let pools = || -> Result<Vec<String>, String> {
        let bad = || "default-address-pools: expected a list of {\"base\", \"size\"}".to_string();
        match file.get("default-address-pools") {
            None | Some(Value::Null) => Ok(vec![]),
            Some(Value::Array(a)) => a
                .iter()
                .map(|p| {
                    let base = p.get("base").and_then(Value::as_str).ok_or_else(bad)?;
                    let size = p.get("size").and_then(Value::as_u64).ok_or_else(bad)?;
                    Ok(format!("base={base},size={size}"))
                })
                .collect(),
            Some(_) => Err(bad()),
        }
    };
    let path = |flag: Option<PathBuf>, k: &str| -> Result<Option<PathBuf>, String> {
        Ok(flag.or(s(k)?.map(PathBuf::from)))
    };

    let hosts = if flags.hosts.is_empty() {
        list("hosts")?
    } else {
        flags.hosts.clone()
    };
    let hosts = if hosts.is_empty() {
        vec![format!("unix://{}", listen::DEFAULT_UNIX_SOCKET)]
    } else {
        hosts
    };
    let listen = hosts
        .iter()
        .map(|h| listen::parse_host(h))
        .collect::<Result<Vec<_>, _>>()?;

    let debug = flags.debug.or(b("debug")?).unwrap_or(false);
    let log_level = flags
        .log_level
        .clone()
        .or(s("log-level")?)
        .unwrap_or_else(|| "info".into());
    if !["debug", "info", "warn", "error", "fatal"].contains(&log_level.as_str()) {
        return Err(format!("unable to parse logging level: {log_level}"));
    }

    let tlsverify = flags.tlsverify.or(b("tlsverify")?).unwrap_or(false);
    let tls_flag = flags.tls.or(b("tls")?);
    let tls_on = tlsverify || tls_flag == Some(true);
    let tls_explicitly_off = tls_flag == Some(false) && !tlsverify;
    let tlscacert = path(flags.tlscacert.clone(), "tlscacert")?;
    let tlscert = path(flags.tlscert.clone(), "tlscert")?;
    let tlskey = path(flags.tlskey.clone(), "tlskey")?;
    let tls = if tls_on {
        Some(TlsFiles {
            verify: tlsverify,
            ca: tlscacert,
            cert: tlscert.ok_or("TLS needs --tlscert")?,
            key: tlskey.ok_or("TLS needs --tlskey")?,
        })
    } else {
        None
    };
    if tls.is_none()
        && !tls_explicitly_off
        && let Some(ListenAddr::Tcp(addr)) = listen.iter().find(|l| matches!(l, ListenAddr::Tcp(_)))
    {
        return Err(format!(
            "refusing to listen on tcp://{addr} without TLS: anyone who can reach it controls this host. \
             Use --tlsverify with --tlscacert, --tlscert and --tlskey, or pass --tls=false to accept an unencrypted, unauthenticated API"
        ));
    }
    let labels = if flags.labels.is_empty() {
        list("labels")?
    } else {
        flags.labels.clone()
    };
    let insecure_registries = if flags.insecure_registries.is_empty() {
        list("insecure-registries")?
    } else {
        flags.insecure_registries.clone()
    };

    Ok(Settings {
        listen,
        data_root: path(flags.data_root.clone(), "data-root")?
            .unwrap_or_else(|| PathBuf::from("/var/lib/berth")),
        exec_root: path(flags.exec_root.clone(), "exec-root")?
            .unwrap_or_else(|| PathBuf::from("/run/berth")),
        containerd: path(flags.containerd.clone(), "containerd")?,
        namespace: flags
            .containerd_namespace
            .clone()
            .or(s("containerd-namespace")?)
            .unwrap_or_else(|| "berth".into()),
        pidfile: path(flags.pidfile.clone(), "pidfile")?
            .unwrap_or_else(|| PathBuf::from("/var/run/berthd.pid")),
        debug,
        log_level: if debug { "debug".into() } else { log_level },
        group: flags
            .group
            .clone()
            .or(s("group")?)
            .unwrap_or_else(|| crate::listen::DEFAULT_SOCKET_GROUP.into()),
        tls,
        tls_explicitly_off,
        labels,
        insecure_registries,
        experimental: flags.experimental.or(b("experimental")?).unwrap_or(false),
        bip: flags.bip.clone().or(s("bip")?),
        bridge: flags.bridge.clone().or(s("bridge")?),
        default_address_pools: if flags.default_address_pools.is_empty() {
            pools()?
        } else {
            flags.default_address_pools.clone()
        },
        request_read_timeout: match flags.request_read_timeout {
            Some(0) => return Err("--request-read-timeout must be at least 1 second".into()),
            Some(secs) => std::time::Duration::from_secs(secs),
            None => crate::listen::DEFAULT_READ_TIMEOUT,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &[&str]) -> Flags {
        let mut all = vec!["berthd"];
        all.extend_from_slice(args);
        Flags::try_parse_from(all).unwrap()
    }

    fn merged(args: &[&str], file: &str) -> Result<Settings, String> {
        merge(flags(args), parse_file(file)?)
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let s = merged(&[], "").unwrap();
        assert_eq!(s.data_root, PathBuf::from("/var/lib/berth"));
        assert_eq!(s.exec_root, PathBuf::from("/run/berth"));
        assert_eq!(s.namespace, "berth");
        assert_eq!(
            s.listen,
            vec![ListenAddr::Unix("/var/run/docker.sock".into())]
        );
        assert!(s.containerd.is_none());
    }

    #[test]
    fn file_keys_use_dockerd_names() {
        let s = merged(
            &[],
            r#"{"data-root":"/d","hosts":["unix:///x.sock"],"debug":true,"labels":["a=b"]}"#,
        )
        .unwrap();
        assert_eq!(s.data_root, PathBuf::from("/d"));
        assert_eq!(s.listen, vec![ListenAddr::Unix("/x.sock".into())]);
        assert!(s.debug);
        assert_eq!(s.labels, vec!["a=b"]);
    }

    #[test]
    fn unknown_keys_are_an_error() {
        let e = merged(&[], r#"{"data-root":"/d","bogus":1}"#).unwrap_err();
        assert_eq!(
            e,
            "the following directives don't match any configuration option: bogus"
        );
    }

    #[test]
    fn flag_and_file_conflict() {
        let e = merged(&["--data-root", "/a"], r#"{"data-root":"/b"}"#).unwrap_err();
        assert!(
            e.contains("specified both as a flag and in the configuration file: data-root"),
            "{e}"
        );
    }

    #[test]
    fn tcp_without_tls_needs_explicit_opt_out() {
        let e = merged(&["-H", "tcp://127.0.0.1:2375"], "").unwrap_err();
        assert!(e.contains("--tls=false"), "{e}");
        let s = merged(&["-H", "tcp://127.0.0.1:2375", "--tls=false"], "").unwrap();
        assert!(s.tls.is_none() && s.tls_explicitly_off);
    }

    #[test]
    fn tlsverify_implies_tls_and_needs_cert_and_key() {
        assert!(merged(&["-H", "tcp://:2376", "--tlsverify"], "").is_err());
        let s = merged(
            &[
                "-H",
                "tcp://:2376",
                "--tlsverify",
                "--tlscacert",
                "ca",
                "--tlscert",
                "c",
                "--tlskey",
                "k",
            ],
            "",
        )
        .unwrap();
        let tls = s.tls.unwrap();
        assert!(tls.verify);
        assert_eq!(tls.ca, Some(PathBuf::from("ca")));
    }

    #[test]
    fn debug_flag_forms() {
        assert_eq!(flags(&["-D"]).debug, Some(true));
        assert_eq!(flags(&["--debug=false"]).debug, Some(false));
        assert!(merged(&["-D"], "").unwrap().log_level == "debug");
    }
}
