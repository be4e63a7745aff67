//! A container's restart policy and log configuration as the engine reads them: each parsed
//! in one place from the host config a record keeps, and validated once, at create or update,
//! with moby's texts.

use std::collections::BTreeMap;

use super::io;
use super::spec::{HostConfig, LogConfigSpec};
use crate::{Error, Result};

/// What happens when a container's process ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestartPolicy {
    No,
    Always,
    UnlessStopped,
    /// Restart after a non-zero exit, at most `max_retries` times (0: no limit).
    OnFailure {
        max_retries: u64,
    },
}

impl RestartPolicy {
    /// The policy of a stored host config; anything unreadable is `no` (it was validated
    /// when it was stored).
    pub fn of(host_config: &HostConfig) -> RestartPolicy {
        let policy = host_config.restart_policy.clone().unwrap_or_default();
        let max = u64::try_from(policy.maximum_retry_count.unwrap_or(0)).unwrap_or(0);
        match policy.name.as_deref().unwrap_or("no") {
            "always" => RestartPolicy::Always,
            "unless-stopped" => RestartPolicy::UnlessStopped,
            "on-failure" => RestartPolicy::OnFailure { max_retries: max },
            _ => RestartPolicy::No,
        }
    }

    /// Checks a policy as a client gave it (`name` may be empty: the default).
    pub fn validate(name: &str, max_retries: i64) -> Result<()> {
        match name {
            "" | "no" | "always" | "unless-stopped" if max_retries != 0 => {
                return Err(Error::invalid(
                    "invalid restart policy: maximum retry count can only be used with 'on-failure'",
                ));
            }
            "" | "no" | "always" | "unless-stopped" | "on-failure" => {}
            other => {
                return Err(Error::invalid(format!(
                    "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
                )));
            }
        }
        if max_retries < 0 {
            return Err(Error::invalid(
                "invalid restart policy: maximum retry count cannot be negative",
            ));
        }
        Ok(())
    }

    /// Whether a process that exited with `exit_code`, after `restarts` restarts so far,
    /// is started again (a manual stop or kill is checked by the caller).
    pub fn restarts_after_exit(&self, exit_code: i64, restarts: u64) -> bool {
        match self {
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
            RestartPolicy::OnFailure { max_retries } => {
                exit_code != 0 && (*max_retries == 0 || restarts < *max_retries)
            }
            RestartPolicy::No => false,
        }
    }

    /// Whether the container is started again when the daemon starts.
    pub fn restarts_with_daemon(&self, manually_stopped: bool) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::UnlessStopped => !manually_stopped,
            _ => false,
        }
    }
}

/// Where a container's output goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogDriver {
    JsonFile,
    None,
}

/// A container's log driver and its options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    pub driver: LogDriver,
    pub options: BTreeMap<String, String>,
}

impl LogConfig {
    /// The log configuration of a stored host config (validated when it was stored).
    pub fn of(host_config: &HostConfig) -> LogConfig {
        let lc = host_config.log_config.as_ref();
        let driver = match lc.and_then(|l| l.r#type.as_deref()) {
            Some("none") => LogDriver::None,
            _ => LogDriver::JsonFile,
        };
        let options = lc.and_then(|l| l.config.clone()).unwrap_or_default();
        LogConfig { driver, options }
    }

    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str)
    }

    /// `max-size` in bytes, when set to more than zero.
    pub fn max_size(&self) -> Option<u64> {
        self.option("max-size")
            .and_then(io::parse_size)
            .filter(|s| *s > 0)
    }

    /// `max-file`, 1 when unset.
    pub fn max_files(&self) -> u32 {
        self.option("max-file")
            .and_then(|s| s.parse().ok())
            .unwrap_or(1)
    }

    /// Checks a `LogConfig` as a client gave it, as moby does at create time.
    pub fn validate(log_config: Option<&LogConfigSpec>) -> Result<()> {
        let Some(lc) = log_config else {
            return Ok(());
        };
        let driver = lc.r#type.as_deref().unwrap_or("");
        match driver {
            "" | "json-file" | "none" => {}
            // dockerd's other built-in drivers, which Berth does not have yet.
            "local" | "journald" | "syslog" | "gelf" | "fluentd" | "awslogs" | "splunk"
            | "gcplogs" | "logentries" => {
                return Err(Error::invalid(format!(
                    "failed to create container: logger: no log driver named '{driver}' is registered"
                )));
            }
            // Any other name is looked up as a logging plugin, and there are none.
            other => {
                return Err(Error::invalid(format!(
                    "error looking up logging plugin {other}: plugin \"{other}\" not found"
                )));
            }
        }
        let Some(opts) = &lc.config else {
            return Ok(());
        };
        for (k, v) in opts {
            let v = v.as_str();
            match k.as_str() {
                "max-size" if io::parse_size(v).is_none() => {
                    return Err(Error::invalid(format!("invalid max-size: {v}")));
                }
                "max-file" if v.parse::<u32>().map_or(true, |n| n == 0) => {
                    return Err(Error::invalid(format!("invalid max-file: {v}")));
                }
                "max-size" | "max-file" | "compress" | "labels" | "labels-regex" | "env"
                | "env-regex" | "tag" => {}
                other if driver == "none" => {
                    return Err(Error::invalid(format!(
                        "unknown log opt '{other}' for none log driver"
                    )));
                }
                other => {
                    return Err(Error::invalid(format!(
                        "unknown log opt '{other}' for json-file log driver"
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn host(v: Value) -> HostConfig {
        serde_json::from_value(v).expect("a host config")
    }

    fn log(v: Value) -> LogConfigSpec {
        serde_json::from_value(v).expect("a log config")
    }

    #[test]
    fn restart_decisions_follow_the_policy() {
        let p = |v: Value| RestartPolicy::of(&host(json!({ "RestartPolicy": v })));
        let on_failure = p(json!({"Name": "on-failure", "MaximumRetryCount": 2}));
        assert_eq!(on_failure, RestartPolicy::OnFailure { max_retries: 2 });
        assert!(on_failure.restarts_after_exit(1, 1));
        assert!(!on_failure.restarts_after_exit(1, 2));
        assert!(!on_failure.restarts_after_exit(0, 0));
        assert!(p(json!({"Name": "always"})).restarts_after_exit(0, 100));
        assert!(!p(json!({"Name": "no"})).restarts_after_exit(1, 0));
        assert_eq!(RestartPolicy::of(&HostConfig::default()), RestartPolicy::No);
        let unless = p(json!({"Name": "unless-stopped"}));
        assert!(unless.restarts_with_daemon(false));
        assert!(!unless.restarts_with_daemon(true));
        assert!(!on_failure.restarts_with_daemon(false));
    }

    #[test]
    fn restart_policies_are_checked_with_mobys_texts() {
        assert!(RestartPolicy::validate("on-failure", 3).is_ok());
        assert!(RestartPolicy::validate("", 0).is_ok());
        let e = RestartPolicy::validate("always", 2).unwrap_err();
        assert!(
            e.message.contains("can only be used with 'on-failure'"),
            "{}",
            e.message
        );
        let e = RestartPolicy::validate("on-failure", -1).unwrap_err();
        assert!(e.message.contains("cannot be negative"), "{}", e.message);
        let e = RestartPolicy::validate("sometimes", 0).unwrap_err();
        assert!(
            e.message.contains("unknown policy 'sometimes'"),
            "{}",
            e.message
        );
    }

    #[test]
    fn log_config_reads_driver_and_rotation() {
        let lc = LogConfig::of(&host(json!({"LogConfig": {"Type": "json-file",
            "Config": {"max-size": "1k", "max-file": "3"}}})));
        assert_eq!(lc.driver, LogDriver::JsonFile);
        assert_eq!(lc.max_size(), Some(1024));
        assert_eq!(lc.max_files(), 3);
        let none = LogConfig::of(&host(json!({"LogConfig": {"Type": "none"}})));
        assert_eq!(none.driver, LogDriver::None);
        assert_eq!(none.max_files(), 1);
        assert!(LogConfig::validate(Some(&log(json!({"Type": "syslog"})))).is_err());
        assert!(
            LogConfig::validate(Some(&log(
                json!({"Type": "none", "Config": {"max-size": "1k"}})
            )))
            .is_ok()
        );
        assert!(LogConfig::validate(Some(&log(json!({"Config": {"max-file": "0"}})))).is_err());
    }
}
