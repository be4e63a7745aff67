//! Berth's OpenAPI document (generated from the api crate) and a coverage report of moby's
//! operations against it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Where the generated document is committed.
pub fn committed_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("berth-api.json")
}

/// moby's spec, kept beside the project as reference data.
pub fn moby_spec_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/docker-engine-api.yaml")
}

/// The document as the api crate generates it, with a trailing newline.
pub fn generated() -> String {
    let mut doc = berth_api::openapi_json();
    doc.push('\n');
    doc
}

/// `METHOD /path` with path parameters normalised to `{}`.
pub fn normalise(method: &str, path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if !in_param => out.push(c),
            _ => {}
        }
    }
    format!("{} {}", method.to_ascii_uppercase(), out)
}

const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch"];

/// Operations in a swagger YAML, read from its `paths:` block by indentation.
pub fn spec_operations(yaml: &str) -> BTreeSet<String> {
    let mut ops = BTreeSet::new();
    let mut in_paths = false;
    let mut current: Option<String> = None;
    for line in yaml.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            in_paths = line.trim_end() == "paths:";
            current = None;
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(rest) = line.strip_prefix("  ")
            && !rest.starts_with(' ')
            && rest.starts_with('/')
        {
            current = Some(
                rest.trim_end()
                    .trim_end_matches(':')
                    .trim_matches('"')
                    .to_string(),
            );
            continue;
        }
        if let (Some(path), Some(rest)) = (&current, line.strip_prefix("    "))
            && !rest.starts_with(' ')
        {
            let key = rest.trim_end().trim_end_matches(':');
            if METHODS.contains(&key) {
                ops.insert(normalise(key, path));
            }
        }
    }
    ops
}

/// Operations berthd serves: those in its document plus routes answered as moby answers
/// when a feature is off.
pub fn served_operations() -> BTreeSet<String> {
    let doc: serde_json::Value =
        serde_json::from_str(&berth_api::openapi_json()).unwrap_or_default();
    let mut ops = BTreeSet::new();
    if let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) {
        for (path, item) in paths {
            if let Some(item) = item.as_object() {
                for method in item.keys().filter(|m| METHODS.contains(&m.as_str())) {
                    ops.insert(normalise(method, path));
                }
            }
        }
    }
    ops.extend(disabled_operations());
    ops
}

/// Operations answered as moby answers when a feature is off (swarm, plugins).
pub fn disabled_operations() -> BTreeSet<String> {
    berth_api::ANSWERED_AS_DISABLED
        .iter()
        .map(|op| {
            let (m, p) = op.split_once(' ').unwrap_or(("GET", op));
            normalise(m, p)
        })
        .collect()
}

/// A plain-text report: each moby operation marked implemented, disabled (answered as moby
/// does with the feature off) or missing, then totals.
pub fn coverage_report(yaml: &str) -> String {
    let spec = spec_operations(yaml);
    let served = served_operations();
    let disabled = disabled_operations();
    let mut out = String::new();
    let (mut done, mut off) = (0, 0);
    for op in &spec {
        let mark = if disabled.contains(op) {
            off += 1;
            "disabled   "
        } else if served.contains(op) {
            done += 1;
            "implemented"
        } else {
            "missing    "
        };
        out.push_str(&format!("{mark}  {op}\n"));
    }
    out.push_str(&format!(
        "\n{done} of {} moby operations implemented, {off} answered as disabled, {} missing\n",
        spec.len(),
        spec.len() - done - off
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_normalised() {
        assert_eq!(
            normalise("get", "/containers/{id}/json"),
            "GET /containers/{}/json"
        );
        assert_eq!(
            normalise("GET", "/containers/{name}/json"),
            "GET /containers/{}/json"
        );
    }

    #[test]
    fn paths_block_is_read_by_indentation() {
        let yaml = "swagger: \"2.0\"\npaths:\n  /_ping:\n    get:\n      summary: x\n    head:\n      summary: y\n  /containers/{id}/json:\n    get:\n      parameters:\n        - name: get\ndefinitions:\n  Foo:\n    get: 1\n";
        let ops = spec_operations(yaml);
        assert_eq!(
            ops.into_iter().collect::<Vec<_>>(),
            vec!["GET /_ping", "GET /containers/{}/json", "HEAD /_ping"]
        );
    }
}
