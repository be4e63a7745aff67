//! What a container runs, as the engine models it: moby's `container.Config` after the API
//! layer has decoded and adapted the request. Kept in the record under `config` in moby's
//! key spelling, so records written while it was raw JSON read as this type. A key that is
//! `None` was not given (or was `null`); the inspect output supplies Go's zero values.

use std::collections::BTreeMap;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The members of `ExposedPorts` and `Volumes` (Go's `struct{}`): any JSON object read, `{}`
/// written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Marker;

impl Serialize for Marker {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_map(Some(0))?.end()
    }
}

impl<'de> Deserialize<'de> for Marker {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Marker;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut m: A,
            ) -> std::result::Result<Marker, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Marker)
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<Marker, E> {
                Ok(Marker)
            }
        }
        d.deserialize_any(V)
    }
}

/// A set of keys written as a JSON object of `{}` (`ExposedPorts`, `Volumes`).
pub type KeySet = BTreeMap<String, Marker>;

/// `Config.Healthcheck`; durations in nanoseconds, `0` meaning "inherit" or "default".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Healthcheck {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
}

/// moby's `container.Config`, as asked for and then merged with the image's.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach_stdin: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach_stdout: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach_stderr: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<KeySet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_stdin: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin_once: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<KeySet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_disabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

fn text(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

fn list(v: &Option<Vec<String>>) -> &[String] {
    v.as_deref().unwrap_or(&[])
}

impl ContainerConfig {
    pub fn image(&self) -> &str {
        text(&self.image)
    }
    pub fn hostname(&self) -> &str {
        text(&self.hostname)
    }
    pub fn user(&self) -> &str {
        text(&self.user)
    }
    pub fn working_dir(&self) -> &str {
        text(&self.working_dir)
    }
    pub fn stop_signal(&self) -> &str {
        text(&self.stop_signal)
    }
    pub fn mac_address(&self) -> &str {
        text(&self.mac_address)
    }
    pub fn env(&self) -> &[String] {
        list(&self.env)
    }
    pub fn cmd(&self) -> &[String] {
        list(&self.cmd)
    }
    pub fn entrypoint(&self) -> &[String] {
        list(&self.entrypoint)
    }
    pub fn shell(&self) -> &[String] {
        list(&self.shell)
    }
    pub fn tty(&self) -> bool {
        self.tty.unwrap_or(false)
    }
    pub fn open_stdin(&self) -> bool {
        self.open_stdin.unwrap_or(false)
    }
    pub fn stdin_once(&self) -> bool {
        self.stdin_once.unwrap_or(false)
    }
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.labels.clone().unwrap_or_default()
    }
    /// `ExposedPorts` keys (`80/tcp`).
    pub fn exposed_ports(&self) -> impl Iterator<Item = &String> {
        self.exposed_ports.iter().flat_map(|m| m.keys())
    }
    /// `Volumes` keys (container paths).
    pub fn volumes(&self) -> impl Iterator<Item = &String> {
        self.volumes.iter().flat_map(|m| m.keys())
    }

    /// The `config` section of an image config, read as the same type (a malformed one is
    /// an invalid image).
    pub fn from_image(config: &serde_json::Value) -> Result<ContainerConfig> {
        ContainerConfig::deserialize(config)
            .map_err(|e| Error::invalid(format!("invalid image config: {e}")))
    }

    /// Merges the image's config in as moby does: Env by key, Cmd and Entrypoint by the
    /// entrypoint rule, and WorkingDir, User, StopSignal, Healthcheck and Domainname where
    /// the container sets none; Labels, ExposedPorts and Volumes key by key, the
    /// container's winning.
    pub fn merge_image(&mut self, image: ContainerConfig) {
        let key_of = |e: &str| e.split_once('=').map_or(e, |(k, _)| k).to_string();
        let mut env = self.env.take().unwrap_or_default();
        for e in image.env.unwrap_or_default() {
            if !env.iter().any(|x| key_of(x) == key_of(&e)) {
                env.push(e);
            }
        }
        self.env = Some(env);
        let own_entrypoint = !self.entrypoint().is_empty();
        if self.cmd().is_empty() && !own_entrypoint && image.cmd.is_some() {
            self.cmd = image.cmd;
        }
        if !own_entrypoint && image.entrypoint.is_some() {
            self.entrypoint = image.entrypoint;
        }
        fn fill(own: &mut Option<String>, image: Option<String>) {
            if own.as_deref().unwrap_or("").is_empty()
                && image.as_deref().is_some_and(|s| !s.is_empty())
            {
                *own = image;
            }
        }
        fill(&mut self.working_dir, image.working_dir);
        fill(&mut self.user, image.user);
        fill(&mut self.stop_signal, image.stop_signal);
        fill(&mut self.domainname, image.domainname);
        if self
            .healthcheck
            .as_ref()
            .is_none_or(|h| *h == Healthcheck::default())
            && image.healthcheck.is_some()
        {
            self.healthcheck = image.healthcheck;
        }
        let mut labels = image.labels.unwrap_or_default();
        labels.extend(self.labels.take().unwrap_or_default());
        self.labels = Some(labels);
        fn union(own: &mut Option<KeySet>, image: Option<KeySet>) {
            let mut merged = image.unwrap_or_default();
            merged.extend(own.take().unwrap_or_default());
            *own = (!merged.is_empty()).then_some(merged);
        }
        union(&mut self.exposed_ports, image.exposed_ports);
        union(&mut self.volumes, image.volumes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(v: serde_json::Value) -> ContainerConfig {
        serde_json::from_value(v).expect("a config")
    }

    #[test]
    fn image_cmd_is_used_only_without_own_entrypoint() {
        let image =
            config(json!({"Cmd": ["sh"], "Env": ["PATH=/bin", "A=1"], "Labels": {"x": "1"}}));
        let mut c = config(json!({"Env": ["A=2", "B=3"]}));
        c.merge_image(image.clone());
        assert_eq!(c.cmd(), ["sh"]);
        assert_eq!(c.env(), ["A=2", "B=3", "PATH=/bin"]);
        assert_eq!(c.labels()["x"], "1");
        let mut c = config(json!({"Entrypoint": ["echo"]}));
        c.merge_image(image);
        assert!(c.cmd.is_none());
    }

    #[test]
    fn own_keys_win_and_sets_are_unions() {
        let image = config(
            json!({"WorkingDir": "/img", "User": "img", "Labels": {"a": "img", "b": "img"},
            "ExposedPorts": {"80/tcp": {}}, "Volumes": {"/data": {}}, "Healthcheck": {"Test": ["NONE"]}}),
        );
        let mut c = config(
            json!({"User": "", "WorkingDir": "/own", "Labels": {"a": "own"},
            "ExposedPorts": {"81/udp": {}}}),
        );
        c.merge_image(image);
        assert_eq!(c.working_dir(), "/own");
        assert_eq!(c.user(), "img");
        assert_eq!(c.labels()["a"], "own");
        assert_eq!(c.labels()["b"], "img");
        assert_eq!(c.exposed_ports().collect::<Vec<_>>(), ["80/tcp", "81/udp"]);
        assert_eq!(c.volumes().collect::<Vec<_>>(), ["/data"]);
        assert_eq!(c.healthcheck.unwrap().test.unwrap(), ["NONE"]);
    }

    #[test]
    fn written_in_moby_spelling_without_absent_keys() {
        let c = config(
            json!({"Image": "busybox", "Cmd": null, "Volumes": {"/v": {"x": 1}}, "Tty": true}),
        );
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({"Image": "busybox", "Volumes": {"/v": {}}, "Tty": true})
        );
    }
}
