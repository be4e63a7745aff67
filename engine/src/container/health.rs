//! Healthchecks run by the daemon: a probe (an exec in the container) every interval, its
//! last results in `State.Health`, `health_status` events when the status changes.

use std::sync::Arc;
use std::time::Duration;

use super::exec::ExecConfig;
use super::model::{Health, HealthResult, Status};
use super::service::ContainerService;
use super::spec::ContainerConfig;
use super::store::Container;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: i64 = 3;
/// Results kept in `State.Health.Log`.
const KEEP_RESULTS: usize = 5;
/// Bytes of a probe's output kept.
const MAX_OUTPUT: usize = 4096;

/// A container's `Healthcheck`, with dockerd's defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthConfig {
    /// The probe's argv.
    pub command: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    pub retries: i64,
}

/// Reads `Config.Healthcheck`; None when there is none or it is `NONE`.
pub fn health_config(config: &ContainerConfig) -> Option<HealthConfig> {
    let h = config.healthcheck.as_ref()?;
    let test = h.test.as_deref().unwrap_or(&[]);
    let command = match test.first().map(String::as_str) {
        Some("CMD") => test[1..].to_vec(),
        Some("CMD-SHELL") => {
            let mut shell = config.shell().to_vec();
            if shell.is_empty() {
                shell = vec!["/bin/sh".into(), "-c".into()];
            }
            shell.push(test[1..].join(" "));
            shell
        }
        _ => return None,
    };
    if command.is_empty() {
        return None;
    }
    let duration = |ns: Option<i64>, default: Duration| match ns {
        Some(ns) if ns > 0 => Duration::from_nanos(ns as u64),
        _ => default,
    };
    Some(HealthConfig {
        command,
        interval: duration(h.interval, DEFAULT_INTERVAL),
        timeout: duration(h.timeout, DEFAULT_TIMEOUT),
        start_period: duration(h.start_period, Duration::ZERO),
        start_interval: duration(h.start_interval, DEFAULT_START_INTERVAL),
        retries: match h.retries {
            Some(r) if r > 0 => r,
            _ => DEFAULT_RETRIES,
        },
    })
}

/// Folds one probe result into the health record: moby's rules, where failures inside the
/// start period do not count until a probe has succeeded.
pub fn record_result(
    health: &mut Health,
    result: HealthResult,
    retries: i64,
    within_start_period: bool,
) {
    if result.exit_code == 0 {
        health.failing_streak = 0;
        health.status = "healthy".into();
    } else if !(health.status == "starting" && within_start_period) {
        health.failing_streak += 1;
        if health.failing_streak >= retries {
            health.status = "unhealthy".into();
        }
    }
    health.log.push(result);
    if health.log.len() > KEEP_RESULTS {
        let extra = health.log.len() - KEEP_RESULTS;
        health.log.drain(..extra);
    }
}

/// Go's rendering of a duration, as dockerd's timeout message shows it (`30s`, `1.5s`,
/// `500ms`).
fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        return format!("{}s", trim_float(secs));
    }
    let m = d.as_secs() / 60;
    let rest = secs - (m * 60) as f64;
    if m < 60 {
        return format!("{m}m{}s", trim_float(rest));
    }
    format!("{}h{}m{}s", m / 60, m % 60, trim_float(rest))
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.9}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl ContainerService {
    /// Starts probing a container that has just started (or was found running at boot).
    /// The monitor ends when the container stops, restarts or goes away.
    pub(super) fn start_health_monitor(&self, c: &Arc<Container>) {
        let (config, started_at) = {
            let r = c.rec();
            (health_config(&r.config), r.state.started_at.clone())
        };
        let Some(config) = config else {
            return;
        };
        let this = self.weak_self();
        let c = c.clone();
        tokio::spawn(async move {
            let mut delay = first_delay(&config);
            loop {
                tokio::time::sleep(delay).await;
                let Some(service) = this.upgrade() else {
                    return;
                };
                let (status, same_run) = {
                    let r = c.rec();
                    (r.state.status.clone(), r.state.started_at == started_at)
                };
                if !same_run || !matches!(status, Status::Running | Status::Paused) {
                    return;
                }
                if status == Status::Running {
                    service.probe(&c, &config).await;
                }
                let starting = c
                    .rec()
                    .state
                    .health
                    .as_ref()
                    .is_some_and(|h| h.status == "starting");
                delay = if starting && within(&c, config.start_period) {
                    config.start_interval
                } else {
                    config.interval
                };
            }
        });
    }

    async fn probe(&self, c: &Arc<Container>, config: &HealthConfig) {
        let record = c.rec().clone();
        let start = super::logs::now_rfc3339_nano();
        let within_start = within(c, config.start_period);
        let (exit_code, output) = self.run_probe(&record.id, config).await;
        let result = HealthResult {
            start,
            end: super::logs::now_rfc3339_nano(),
            exit_code,
            output,
        };
        let (old, updated) = {
            let mut r = c.rec();
            if r.state.started_at != record.state.started_at {
                return;
            }
            let health = r.state.health.get_or_insert_with(|| Health {
                status: "starting".into(),
                failing_streak: 0,
                log: vec![],
            });
            let old = health.status.clone();
            record_result(health, result, config.retries, within_start);
            (old, r.clone())
        };
        if let Err(e) = self.persist(&updated) {
            tracing::warn!(container = %updated.id, "cannot save health state: {}", e.message);
        }
        let now = updated.health_status().to_string();
        if now != old {
            self.event(&updated, &format!("health_status: {now}"), &[]);
        }
    }

    /// Runs the probe as an exec; (exit code, output). A probe that cannot start or runs
    /// over its timeout counts as a failure with exit code -1, as on dockerd.
    async fn run_probe(&self, id: &str, config: &HealthConfig) -> (i64, String) {
        let exec = ExecConfig {
            cmd: config.command.clone(),
            attach_stdout: true,
            attach_stderr: true,
            ..Default::default()
        };
        let exec_id = match self.exec_create(id, exec) {
            Ok(e) => e,
            Err(e) => return (-1, e.message),
        };
        let output = match self.exec_attach(&exec_id) {
            Ok(h) => h.output,
            Err(e) => {
                self.exec_forget(&exec_id);
                return (-1, e.message);
            }
        };
        // The probe's output is read as it comes (the process would wait for a reader),
        // the first MAX_OUTPUT bytes kept.
        let collected = output.map(|mut rx| {
            tokio::spawn(async move {
                let mut text = Vec::new();
                while let Some(chunk) = rx.recv().await {
                    let room = MAX_OUTPUT.saturating_sub(text.len());
                    text.extend_from_slice(&chunk.data[..chunk.data.len().min(room)]);
                }
                text
            })
        });
        if let Err(e) = self.exec_start(&exec_id).await {
            self.exec_forget(&exec_id);
            return (-1, e.message);
        }
        let code = match self.exec_wait(&exec_id, config.timeout).await {
            Ok(Some(code)) => Some(code),
            _ => {
                let _ = self.exec_kill(&exec_id).await;
                None
            }
        };
        // The output ends once the exec is forgotten and its copiers are done (the process
        // was killed above when it ran too long); a child left holding the output is not
        // waited for.
        self.exec_forget(&exec_id);
        let text = match collected {
            Some(mut task) => match tokio::time::timeout(Duration::from_secs(1), &mut task).await {
                Ok(Ok(text)) => text,
                _ => {
                    // Dropping the stream lets such a child write on unheard.
                    task.abort();
                    Vec::new()
                }
            },
            None => Vec::new(),
        };
        match code {
            Some(code) => (code, String::from_utf8_lossy(&text).into_owned()),
            None => (
                -1,
                format!(
                    "Health check exceeded timeout ({})",
                    go_duration(config.timeout)
                ),
            ),
        }
    }
}

/// The wait before the first probe: the start interval while a start period runs, else the
/// interval.
fn first_delay(config: &HealthConfig) -> Duration {
    if config.start_period > Duration::ZERO {
        config.start_interval.min(config.interval)
    } else {
        config.interval
    }
}

/// Whether the container started less than `period` ago.
fn within(c: &Arc<Container>, period: Duration) -> bool {
    let started = super::logs::parse_time_nanos(&c.rec().state.started_at);
    let now = super::logs::parse_time_nanos(&super::logs::now_rfc3339_nano());
    now - started < period.as_nanos() as i128
}

/// The health record a container starts with when it has a healthcheck.
pub fn initial_health(config: &ContainerConfig) -> Option<Health> {
    health_config(config).map(|_| Health {
        status: "starting".into(),
        failing_streak: 0,
        log: vec![],
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn result(code: i64) -> HealthResult {
        HealthResult {
            start: String::new(),
            end: String::new(),
            exit_code: code,
            output: String::new(),
        }
    }

    fn config(v: serde_json::Value) -> ContainerConfig {
        serde_json::from_value(v).expect("a config")
    }

    #[test]
    fn shell_and_exec_forms_with_defaults() {
        let c = health_config(&config(
            json!({"Healthcheck": {"Test": ["CMD-SHELL", "test -f /ok"]}}),
        ))
        .unwrap();
        assert_eq!(c.command, ["/bin/sh", "-c", "test -f /ok"]);
        assert_eq!(c.interval, DEFAULT_INTERVAL);
        assert_eq!(c.retries, 3);
        let c = health_config(&config(json!({
            "Shell": ["/bin/ash", "-e", "-c"],
            "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 1_000_000_000i64, "Retries": 2}
        })))
        .unwrap();
        assert_eq!(c.command, ["/bin/ash", "-e", "-c", "true"]);
        assert_eq!(c.interval, Duration::from_secs(1));
        assert_eq!(c.retries, 2);
        let c = health_config(&config(
            json!({"Healthcheck": {"Test": ["CMD", "curl", "-f", "x"]}}),
        ))
        .unwrap();
        assert_eq!(c.command, ["curl", "-f", "x"]);
        assert!(health_config(&config(json!({"Healthcheck": {"Test": ["NONE"]}}))).is_none());
        assert!(health_config(&config(json!({}))).is_none());
    }

    #[test]
    fn failures_count_after_the_start_period_and_success_resets() {
        let mut h = Health {
            status: "starting".into(),
            failing_streak: 0,
            log: vec![],
        };
        record_result(&mut h, result(1), 2, true);
        assert_eq!((h.status.as_str(), h.failing_streak), ("starting", 0));
        record_result(&mut h, result(1), 2, false);
        assert_eq!((h.status.as_str(), h.failing_streak), ("starting", 1));
        record_result(&mut h, result(1), 2, false);
        assert_eq!((h.status.as_str(), h.failing_streak), ("unhealthy", 2));
        record_result(&mut h, result(0), 2, false);
        assert_eq!((h.status.as_str(), h.failing_streak), ("healthy", 0));
        // Once healthy, the start period no longer shields failures.
        record_result(&mut h, result(1), 2, true);
        assert_eq!(h.failing_streak, 1);
        for _ in 0..10 {
            record_result(&mut h, result(0), 2, false);
        }
        assert_eq!(h.log.len(), KEEP_RESULTS);
    }

    #[test]
    fn durations_read_like_go() {
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
    }
}
