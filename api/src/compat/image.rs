//! Image shapes of older API versions.

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::types::image::{ImageInspect, ImageSummary};
use crate::version::ApiVersion;

/// The `Config` of image inspect: the image's own config keys, plus (below 1.50) the
/// container-config keys moby used to include, always empty.
pub fn inspect_config(image_config: Option<&Value>, v: ApiVersion) -> Value {
    let src = image_config
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut out = Map::new();
    let legacy = v.lt(1, 50);
    if legacy {
        for (k, zero) in [
            ("Hostname", Value::from("")),
            ("Domainname", Value::from("")),
        ] {
            out.insert(k.into(), zero);
        }
    }
    out.insert(
        "User".into(),
        src.get("User").cloned().unwrap_or(Value::from("")),
    );
    if legacy {
        for k in ["AttachStdin", "AttachStdout", "AttachStderr"] {
            out.insert(k.into(), Value::Bool(false));
        }
    }
    if let Some(p) = src.get("ExposedPorts").filter(|p| !p.is_null()) {
        out.insert("ExposedPorts".into(), p.clone());
    }
    if legacy {
        for k in ["Tty", "OpenStdin", "StdinOnce"] {
            out.insert(k.into(), Value::Bool(false));
        }
    }
    out.insert("Env".into(), src.get("Env").cloned().unwrap_or(Value::Null));
    out.insert("Cmd".into(), src.get("Cmd").cloned().unwrap_or(Value::Null));
    for k in ["Healthcheck", "ArgsEscaped"] {
        if let Some(x) = src
            .get(k)
            .filter(|x| !x.is_null() && *x != &Value::Bool(false))
        {
            out.insert(k.into(), x.clone());
        }
    }
    if legacy {
        out.insert("Image".into(), Value::from(""));
    }
    out.insert(
        "Volumes".into(),
        src.get("Volumes").cloned().unwrap_or(Value::Null),
    );
    out.insert(
        "WorkingDir".into(),
        src.get("WorkingDir").cloned().unwrap_or(Value::from("")),
    );
    out.insert(
        "Entrypoint".into(),
        src.get("Entrypoint").cloned().unwrap_or(Value::Null),
    );
    out.insert(
        "OnBuild".into(),
        src.get("OnBuild").cloned().unwrap_or(Value::Null),
    );
    out.insert(
        "Labels".into(),
        src.get("Labels").cloned().unwrap_or(Value::Null),
    );
    for k in ["StopSignal", "Shell"] {
        if let Some(x) = src.get(k).filter(|x| !x.is_null()) {
            out.insert(k.into(), x.clone());
        }
    }
    config_omits_unset_from_1_52(&mut out, v);
    Value::Object(out)
}

/// From 1.52 the image config leaves out what is not set, as the OCI image config does.
fn config_omits_unset_from_1_52(config: &mut Map<String, Value>, v: ApiVersion) {
    if v.lt(1, 52) {
        return;
    }
    for key in [
        "Cmd",
        "Entrypoint",
        "Env",
        "Labels",
        "OnBuild",
        "User",
        "Volumes",
        "WorkingDir",
    ] {
        let unset = config.get(key).is_some_and(|x| match x {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        });
        if unset {
            config.remove(key);
        }
    }
}

/// From 1.51 the images list counts the containers of each image (-1 before).
pub fn containers_counted_from_1_51(v: ApiVersion) -> bool {
    v.ge(1, 51)
}

/// From 1.52 image inspect leaves out an empty `Parent`, `Comment`, `DockerVersion` and
/// `Author`.
fn empty_history_fields_omitted_from_1_52(img: &mut ImageInspect, v: ApiVersion) {
    for field in [
        &mut img.parent,
        &mut img.comment,
        &mut img.docker_version,
        &mut img.author,
    ] {
        if v.lt(1, 52) {
            field.get_or_insert_with(String::new);
        } else if field.as_deref() == Some("") {
            *field = None;
        }
    }
}

/// From 1.54 the images list's `identity` needs `manifests` (read from 1.47).
pub fn identity_needs_manifests_from_1_54(
    identity: bool,
    manifests: bool,
    v: ApiVersion,
) -> Result<(), ApiError> {
    if v.ge(1, 54) && identity && !(manifests && v.ge(1, 47)) {
        return Err(ApiError::invalid(
            "conflicting options: identity requires manifests=1",
        ));
    }
    Ok(())
}

/// The `platform` parameters of image save and load: read from 1.48, one at most below
/// 1.52. Each must be a JSON OCI platform naming its OS and architecture.
pub fn save_load_platforms(values: &[&str], v: ApiVersion) -> Result<Vec<Value>, ApiError> {
    if v.lt(1, 48) {
        return Ok(vec![]);
    }
    if v.lt(1, 52) && values.len() > 1 {
        return Err(ApiError::invalid(
            "multiple platform parameters are not supported in this API version; use API version 1.52 or later",
        ));
    }
    values.iter().map(|p| decode_platform(p)).collect()
}

/// moby's `DecodePlatform`: Go matches the keys case-insensitively.
fn decode_platform(text: &str) -> Result<Value, ApiError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ApiError::invalid(format!("failed to parse platform: {e}")))?;
    let Value::Object(fields) = &value else {
        return Err(ApiError::invalid(
            "failed to parse platform: json: cannot unmarshal non-object into Go value of type v1.Platform",
        ));
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let text_of = |name: &str| field(name).and_then(Value::as_str).unwrap_or_default();
    let optional = !text_of("variant").is_empty()
        || !text_of("os.version").is_empty()
        || field("os.features")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
    let (os, arch) = (text_of("os"), text_of("architecture"));
    if os.is_empty() && arch.is_empty() && optional {
        return Err(ApiError::invalid(
            "optional platform fields provided, but OS and Architecture are missing",
        ));
    }
    if os.is_empty() || arch.is_empty() {
        return Err(ApiError::invalid(
            "both OS and Architecture must be provided",
        ));
    }
    Ok(value)
}

/// Below 1.44 `VirtualSize` mirrors `Size`; below 1.45 `Container`/`ContainerConfig` appear;
/// `Descriptor` appears from 1.48; empty history fields go at 1.52.
pub fn adapt_inspect(img: &mut ImageInspect, v: ApiVersion) {
    if v.lt(1, 44) {
        img.virtual_size = Some(img.size);
    }
    if v.lt(1, 45) {
        img.container = Some(String::new());
        img.container_config = Some(inspect_config(None, ApiVersion::new(1, 41)));
    }
    if v.lt(1, 48) {
        img.descriptor = None;
    }
    empty_history_fields_omitted_from_1_52(img, v);
    if v.ge(1, 52) {
        // Images on a snapshotter have no graph driver to show from 1.52.
        img.graph_driver = None;
    }
}

pub fn adapt_summary(img: &mut ImageSummary, v: ApiVersion) {
    if v.lt(1, 44) {
        img.virtual_size = Some(img.size);
    }
    none_placeholders_before_1_43(img, v);
}

/// Below 1.43 an untagged image lists as `<none>:<none>` / `<none>@<none>`, and an image
/// without digests has `RepoDigests: null`.
fn none_placeholders_before_1_43(img: &mut ImageSummary, v: ApiVersion) {
    if !v.lt(1, 43) {
        return;
    }
    let no_tags = img.repo_tags.as_ref().is_none_or(Vec::is_empty);
    let no_digests = img.repo_digests.as_ref().is_none_or(Vec::is_empty);
    if no_tags && no_digests {
        img.repo_tags = Some(vec!["<none>:<none>".into()]);
        img.repo_digests = Some(vec!["<none>@<none>".into()]);
    } else if no_digests {
        img.repo_digests = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(tags: Vec<String>) -> ImageSummary {
        ImageSummary {
            containers: -1,
            created: 0,
            id: "sha256:x".into(),
            labels: None,
            parent_id: String::new(),
            repo_digests: Some(vec![]),
            repo_tags: Some(tags),
            shared_size: -1,
            size: 1,
            virtual_size: None,
        }
    }

    #[test]
    fn none_placeholders_below_1_43_only() {
        let mut s = summary(vec![]);
        adapt_summary(&mut s, ApiVersion::new(1, 42));
        assert_eq!(s.repo_tags.unwrap(), vec!["<none>:<none>"]);
        assert_eq!(s.repo_digests.unwrap(), vec!["<none>@<none>"]);
        let mut s = summary(vec![]);
        adapt_summary(&mut s, ApiVersion::new(1, 43));
        assert!(s.repo_tags.unwrap().is_empty());
        let mut s = summary(vec!["a:1".into()]);
        adapt_summary(&mut s, ApiVersion::new(1, 41));
        assert!(s.repo_digests.is_none());
        assert_eq!(s.virtual_size, Some(1));
    }

    #[test]
    fn config_has_container_keys_below_1_50_only() {
        let src = serde_json::json!({"Cmd": ["sh"], "Env": ["A=1"]});
        let old = inspect_config(Some(&src), ApiVersion::new(1, 49));
        assert_eq!(old["Hostname"], "");
        assert_eq!(old["Tty"], false);
        assert_eq!(old["Cmd"][0], "sh");
        let new = inspect_config(Some(&src), ApiVersion::new(1, 50));
        assert!(new.get("Hostname").is_none());
        assert!(new.get("Tty").is_none());
        assert_eq!(new["Env"][0], "A=1");
        assert!(new["Entrypoint"].is_null());
    }

    #[test]
    fn unset_config_keys_are_left_out_from_1_52() {
        let config = serde_json::json!({"Cmd": ["sh"], "Env": [], "User": "", "Labels": null,
                                        "WorkingDir": "/w"});
        let old = inspect_config(Some(&config), ApiVersion::new(1, 51));
        for key in ["Entrypoint", "Env", "Labels", "OnBuild", "User", "Volumes"] {
            assert!(old.get(key).is_some(), "1.51 has {key}: {old}");
        }
        let new = inspect_config(Some(&config), ApiVersion::new(1, 52));
        assert_eq!(
            new,
            serde_json::json!({"Cmd": ["sh"], "WorkingDir": "/w"}),
            "1.52 keeps only what is set"
        );
    }

    #[test]
    fn save_and_load_take_several_platforms_from_1_52() {
        let amd64 = r#"{"os":"linux","architecture":"amd64"}"#;
        let arm64 = r#"{"OS":"linux","Architecture":"arm64","variant":"v8"}"#;
        assert!(
            save_load_platforms(&[amd64, arm64], ApiVersion::new(1, 47))
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            save_load_platforms(&[amd64, arm64], ApiVersion::new(1, 51))
                .unwrap_err()
                .message,
            "multiple platform parameters are not supported in this API version; use API version 1.52 or later"
        );
        assert_eq!(
            save_load_platforms(&[amd64], ApiVersion::new(1, 51))
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            save_load_platforms(&[amd64, arm64], ApiVersion::new(1, 52))
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            save_load_platforms(&[r#"{"variant":"v8"}"#], ApiVersion::new(1, 52))
                .unwrap_err()
                .message,
            "optional platform fields provided, but OS and Architecture are missing"
        );
        assert_eq!(
            save_load_platforms(&[r#"{"os":"linux"}"#], ApiVersion::new(1, 52))
                .unwrap_err()
                .message,
            "both OS and Architecture must be provided"
        );
    }

    #[test]
    fn identity_needs_manifests_from_1_54() {
        let v53 = ApiVersion::new(1, 53);
        let v54 = ApiVersion::new(1, 54);
        assert!(super::identity_needs_manifests_from_1_54(true, false, v53).is_ok());
        assert_eq!(
            super::identity_needs_manifests_from_1_54(true, false, v54)
                .unwrap_err()
                .message,
            "conflicting options: identity requires manifests=1"
        );
        assert!(super::identity_needs_manifests_from_1_54(true, true, v54).is_ok());
    }
}
