//! An image config as Berth writes one (commit, build, import): the fields it sets are
//! typed, and every other key of the base image's config is carried over as it was.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::container::spec::ContainerConfig;
use crate::{Error, Result};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageDocument {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub config: ContainerConfig,
    #[serde(default)]
    pub rootfs: RootFs,
    #[serde(default)]
    pub history: Vec<History>,
    /// Keys Berth does not model (`variant`, `os.version`, `docker_version`, `container`,
    /// `container_config`...), an opaque pass-through.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            kind: "layers".into(),
            diff_ids: vec![],
        }
    }
}

/// One `history` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

impl ImageDocument {
    /// Reads a stored image config.
    pub fn parse(bytes: &[u8]) -> Result<ImageDocument> {
        serde_json::from_slice(bytes).map_err(|e| Error::internal(format!("image config: {e}")))
    }

    /// An empty config for this host's platform (a `FROM scratch` stage, an import).
    pub fn for_host() -> ImageDocument {
        ImageDocument {
            architecture: super::archive::host_arch().to_string(),
            os: "linux".into(),
            ..Default::default()
        }
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::internal(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmodelled_keys_pass_through() {
        let raw = br#"{"architecture":"amd64","os":"linux","variant":"v8","os.version":"x",
            "config":{"Cmd":["sh"],"Env":["A=1"]},"rootfs":{"type":"layers","diff_ids":["sha256:a"]},
            "history":[{"created":"t","created_by":"c","empty_layer":true}],"docker_version":"20.10"}"#;
        let doc = ImageDocument::parse(raw).unwrap();
        assert_eq!(doc.config.cmd(), ["sh"]);
        assert!(doc.history[0].empty_layer);
        let back: serde_json::Value = serde_json::from_slice(&doc.to_bytes().unwrap()).unwrap();
        assert_eq!(back["variant"], "v8");
        assert_eq!(back["os.version"], "x");
        assert_eq!(back["docker_version"], "20.10");
        assert_eq!(back["rootfs"]["diff_ids"][0], "sha256:a");
        assert_eq!(back["history"][0]["empty_layer"], true);
    }
}
