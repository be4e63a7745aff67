//! A container as Berth keeps it: what was asked for (Config and HostConfig, echoed back as
//! sent, merged with the image), its state, and the paths of its files. Persisted as one
//! file, `config.v2.json` in `<data-root>/containers/<id>/` (before layout 3 the HostConfig
//! was a second file, `hostconfig.json`, which a crash between two renames could leave older
//! than the record).

use serde::{Deserialize, Serialize};

pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The layout of `config.v2.json` this berthd writes. Records without the key were written
/// before it existed (layout 1) and read as they are; a record of a later layout came from a
/// newer berthd and is left alone rather than misread.
pub const RECORD_SCHEMA_VERSION: u32 = 3;

/// The first layout whose `config.v2.json` holds the HostConfig itself.
pub const HOST_CONFIG_IN_RECORD: u32 = 3;

fn first_layout() -> u32 {
    1
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    pub pid: u32,
    pub exit_code: i64,
    pub error: String,
    pub oom_killed: bool,
    pub started_at: String,
    pub finished_at: String,
    /// Set when the container has a healthcheck.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

/// `State.Health`: what the healthcheck has found so far.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Health {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    pub failing_streak: i64,
    /// The last results, oldest first (at most five kept).
    pub log: Vec<HealthResult>,
}

/// One probe of a healthcheck.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct HealthResult {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

impl Default for State {
    fn default() -> Self {
        State {
            status: Status::Created,
            pid: 0,
            exit_code: 0,
            error: String::new(),
            oom_killed: false,
            started_at: ZERO_TIME.into(),
            finished_at: ZERO_TIME.into(),
            health: None,
        }
    }
}

impl State {
    pub fn running(&self) -> bool {
        matches!(
            self.status,
            Status::Running | Status::Paused | Status::Restarting
        )
    }
}

/// `config.v2.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// [`RECORD_SCHEMA_VERSION`] when written by this berthd.
    #[serde(rename = "schema_version", default = "first_layout")]
    pub schema_version: u32,
    pub id: String,
    /// With the leading `/`.
    pub name: String,
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    /// The container config, after merging the image config.
    pub config: super::spec::ContainerConfig,
    /// The image ID (config digest).
    pub image_id: String,
    /// The containerd image record name it was created from (for events and `ps`).
    pub image_name: String,
    pub state: State,
    pub restart_count: u64,
    pub log_path: String,
    pub resolv_conf_path: String,
    pub hostname_path: String,
    pub hosts_path: String,
    /// Whether the container was stopped by a user (restart policies honour it).
    #[serde(default)]
    pub manually_stopped: bool,
    /// Binds and volumes, resolved at create.
    #[serde(default)]
    pub mounts: Vec<super::mounts::MountPoint>,
    /// The networks it is on, by name (what it asked for, and while running what it got).
    #[serde(default)]
    pub networks: std::collections::BTreeMap<String, crate::network::Endpoint>,
    /// Host ports published while it runs.
    #[serde(default)]
    pub ports: Vec<crate::network::netavark::PortMapping>,
    /// Its network namespace while it runs on bridge networks.
    #[serde(default)]
    pub sandbox: String,
    /// HostConfig as sent. Layouts before [`HOST_CONFIG_IN_RECORD`] kept it in
    /// `hostconfig.json` (read by restore).
    #[serde(default)]
    pub host_config: super::spec::HostConfig,
}

impl ContainerRecord {
    /// `none` without a healthcheck, else `starting`, `healthy` or `unhealthy`.
    pub fn health_status(&self) -> &str {
        self.state
            .health
            .as_ref()
            .map_or("none", |h| h.status.as_str())
    }
}

impl ContainerRecord {
    pub fn labels(&self) -> std::collections::BTreeMap<String, String> {
        self.config.labels()
    }

    /// `HostConfig.Umask`, when set.
    pub fn umask(&self) -> Option<u32> {
        self.host_config.umask
    }

    /// `HostConfig.Annotations`.
    pub fn annotations(&self) -> std::collections::BTreeMap<String, String> {
        self.host_config.annotations.clone().unwrap_or_default()
    }

    pub fn tty(&self) -> bool {
        self.config.tty()
    }

    /// `Path` + `Args` joined as `docker ps` shows the command.
    pub fn command(&self) -> String {
        let mut parts = vec![self.path.clone()];
        parts.extend(self.args.iter().map(|a| {
            if a.contains(char::is_whitespace) || a.is_empty() {
                format!("'{a}'")
            } else {
                a.clone()
            }
        }));
        parts.join(" ")
    }
}

/// What a container directory holds.
#[derive(Debug)]
pub enum Stored {
    Record(Box<ContainerRecord>),
    /// No `config.v2.json`: the daemon died inside a create.
    Missing,
    /// Not a record this berthd can read (why).
    Unreadable(String),
}

/// Reads the record in a container directory, whatever layout up to the current one wrote
/// it, as a record of the current layout (the next write records that layout).
pub fn read_record(dir: &std::path::Path) -> Stored {
    let Ok(bytes) = std::fs::read(dir.join("config.v2.json")) else {
        return Stored::Missing;
    };
    let mut record = match serde_json::from_slice::<ContainerRecord>(&bytes) {
        Ok(r) => r,
        Err(e) => return Stored::Unreadable(e.to_string()),
    };
    if record.schema_version > RECORD_SCHEMA_VERSION {
        return Stored::Unreadable(format!(
            "written by a newer berthd (layout {})",
            record.schema_version
        ));
    }
    if record.schema_version < HOST_CONFIG_IN_RECORD {
        record.host_config = std::fs::read(dir.join("hostconfig.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
    }
    record.schema_version = RECORD_SCHEMA_VERSION;
    Stored::Record(Box::new(record))
}

#[cfg(test)]
mod record_layout_tests {
    use super::*;
    use crate::container::policy::{LogConfig, RestartPolicy};

    /// Written by berthd before records carried a layout version (`docker run -d --network
    /// fixnet --network-alias fx -v fixvol:/data -v /etc/hostname:/host-hostname:ro
    /// --health-cmd true --restart on-failure:3 --log-opt max-size=1k -p 127.0.0.1:18080:80
    /// ... busybox sleep 1000`, then stopped).
    const LAYOUT_1: &str = include_str!("../../tests/fixtures/record-layout-1/config.v2.json");
    const LAYOUT_1_HOST: &str =
        include_str!("../../tests/fixtures/record-layout-1/hostconfig.json");

    #[test]
    fn a_record_of_the_first_layout_reads_whole() {
        let mut r: ContainerRecord = serde_json::from_str(LAYOUT_1).expect("layout 1 parses");
        r.host_config = serde_json::from_str(LAYOUT_1_HOST).expect("host config parses");
        assert_eq!(r.schema_version, 1);
        assert_eq!(r.name, "/record-fixture");
        assert_eq!(r.args, vec!["1000"]);
        assert_eq!(r.state.status, Status::Exited);
        assert_eq!(r.state.exit_code, 137);
        assert!(r.manually_stopped);
        assert_eq!(r.mounts.len(), 2);
        assert_eq!(r.networks["fixnet"].aliases, vec!["fx"]);
        assert_eq!(r.config.image(), "busybox");
        assert_eq!(
            RestartPolicy::of(&r.host_config),
            RestartPolicy::OnFailure { max_retries: 3 }
        );
        assert_eq!(LogConfig::of(&r.host_config).max_size(), Some(1024));
    }

    #[test]
    fn records_are_written_with_the_current_layout() {
        let mut r: ContainerRecord = serde_json::from_str(LAYOUT_1).expect("layout 1 parses");
        r.schema_version = RECORD_SCHEMA_VERSION;
        let written = serde_json::to_value(&r).expect("serialises");
        assert_eq!(written["schema_version"], RECORD_SCHEMA_VERSION);
        let back: ContainerRecord = serde_json::from_value(written).expect("reads back");
        assert_eq!(back.schema_version, RECORD_SCHEMA_VERSION);
        assert_eq!(back.networks.len(), 1);
    }

    fn fixture(layout: &str) -> ContainerRecord {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(layout);
        match read_record(&dir) {
            Stored::Record(r) => *r,
            other => panic!("{layout}: {other:?}"),
        }
    }

    /// Layout 2 was written by berthd at 91cbea6 from the same command as layout 1, with
    /// the name `record-fixture2`.
    #[test]
    fn records_of_earlier_layouts_read_with_their_host_config() {
        for (layout, name) in [
            ("record-layout-1", "/record-fixture"),
            ("record-layout-2", "/record-fixture2"),
        ] {
            let r = fixture(layout);
            assert_eq!(r.schema_version, RECORD_SCHEMA_VERSION, "{layout}");
            assert_eq!(r.name, name);
            assert_eq!(
                RestartPolicy::of(&r.host_config),
                RestartPolicy::OnFailure { max_retries: 3 },
                "{layout}"
            );
            assert_eq!(LogConfig::of(&r.host_config).max_size(), Some(1024));
            assert_eq!(r.networks["fixnet"].aliases, vec!["fx"], "{layout}");
        }
    }

    #[test]
    fn the_host_config_is_part_of_the_record_from_layout_3() {
        let mut r: ContainerRecord = serde_json::from_str(LAYOUT_1).expect("layout 1 parses");
        assert!(
            r.host_config == Default::default(),
            "layout 1 keeps it in hostconfig.json"
        );
        r.host_config = serde_json::from_str(LAYOUT_1_HOST).expect("host config parses");
        r.schema_version = RECORD_SCHEMA_VERSION;
        let back: ContainerRecord =
            serde_json::from_slice(&serde_json::to_vec(&r).expect("serialises")).expect("reads");
        assert_eq!(
            RestartPolicy::of(&back.host_config),
            RestartPolicy::OnFailure { max_retries: 3 }
        );
        assert_eq!(back.host_config, r.host_config);
    }
}
