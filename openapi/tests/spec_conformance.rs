//! The served document against moby's pinned spec: every documented operation is one of
//! moby's, and every schema reached from a documented body has moby's property names with
//! moby's JSON types. Keys moby still decodes for older clients but the pinned spec no longer
//! lists are named below.

use std::collections::BTreeSet;

use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;

/// `(schema, property)` pairs berthd documents that the pinned spec (1.56) lacks: older
/// API versions still send or receive them, or moby added them after the spec was pinned.
const LEGACY: &[(&str, &str)] = &[
    ("ContainerCreateRequest", "MacAddress"),
    ("HostConfig", "KernelMemory"),
    ("HostConfig", "KernelMemoryTCP"),
    ("HostConfig", "Capabilities"),
    // Inspect's top-level NetworkSettings addresses, shown below API 1.52.
    ("InspectNetworkSettings", "Bridge"),
    ("InspectNetworkSettings", "HairpinMode"),
    ("InspectNetworkSettings", "LinkLocalIPv6Address"),
    ("InspectNetworkSettings", "LinkLocalIPv6PrefixLen"),
    ("InspectNetworkSettings", "SecondaryIPAddresses"),
    ("InspectNetworkSettings", "SecondaryIPv6Addresses"),
    ("InspectNetworkSettings", "EndpointID"),
    ("InspectNetworkSettings", "Gateway"),
    ("InspectNetworkSettings", "GlobalIPv6Address"),
    ("InspectNetworkSettings", "GlobalIPv6PrefixLen"),
    ("InspectNetworkSettings", "IPAddress"),
    ("InspectNetworkSettings", "IPPrefixLen"),
    ("InspectNetworkSettings", "IPv6Gateway"),
    ("InspectNetworkSettings", "MacAddress"),
    // The same keys in inspect's HostConfig and Config.
    ("InspectHostConfig", "KernelMemory"),
    ("InspectHostConfig", "KernelMemoryTCP"),
    ("InspectHostConfig", "Capabilities"),
    ("InspectHostConfig", "Umask"),
    ("InspectConfig", "MacAddress"),
    ("ContainerUpdateRequest", "KernelMemory"),
    ("ContainerUpdateRequest", "KernelMemoryTCP"),
    // Newer than the pinned spec: moby 29.8 (API 1.56) added it after the spec was pinned.
    ("HostConfig", "Umask"),
    ("ContainerCreateRequest.HostConfig", "Umask"),
    // Shown below API 1.52 (events' legacy fields; image fields moby 29 dropped).
    ("EventMessage", "status"),
    ("EventMessage", "id"),
    ("EventMessage", "from"),
    ("ImageInspect", "Container"),
    ("ImageInspect", "ContainerConfig"),
    ("ImageInspect", "DockerVersion"),
    ("ImageInspect", "Parent"),
    ("ImageInspect", "VirtualSize"),
    ("ImageSummary", "VirtualSize"),
    // Fields of /info and /version that older daemons filled and newer specs dropped.
    ("Commit", "Expected"),
    (
        "RegistryServiceConfig",
        "AllowNondistributableArtifactsCIDRs",
    ),
    (
        "RegistryServiceConfig",
        "AllowNondistributableArtifactsHostnames",
    ),
    // dockerd 20.10 lists networks with an (empty) `Containers` map; 1.56's Summary has none.
    ("NetworkSummary", "Containers"),
    ("SystemInfo", "BridgeNfIptables"),
    ("SystemInfo", "BridgeNfIp6tables"),
];

/// Where in moby's spec each of berthd's top-level schemas is described.
fn spec_root<'s>(spec: &'s Yaml, schema: &str) -> Option<&'s Yaml> {
    let body = |path: &str, method: &str| {
        spec["paths"][path][method]["parameters"]
            .as_sequence()?
            .iter()
            .find(|p| p["in"].as_str() == Some("body"))
            .map(|p| &p["schema"])
    };
    let definition = |name: &str| Some(&spec["definitions"][name]).filter(|d| !d.is_null());
    // Answers the spec describes inline, under the operation's 200.
    let answer =
        |path: &str, method: &str| Some(&spec["paths"][path][method]["responses"][200]["schema"]);
    match schema {
        "ContainerCreateRequest" => body("/containers/create", "post"),
        "ContainerUpdateRequest" => body("/containers/{id}/update", "post"),
        "ExecCreateRequest" => body("/containers/{id}/exec", "post"),
        "ExecStartRequest" => body("/exec/{id}/start", "post"),
        "NetworkCreateRequest" => body("/networks/create", "post"),
        "HistoryItem" => definition("ImageHistoryResponseItem"),
        "ContainerPruneResponse" => answer("/containers/prune", "post"),
        "ImagePruneResponse" => answer("/images/prune", "post"),
        "NetworkPruneResponse" => answer("/networks/prune", "post"),
        "VolumePruneResponse" => answer("/volumes/prune", "post"),
        "BuildPruneResponse" => answer("/build/prune", "post"),
        "ExecInspectResponse" => answer("/exec/{id}/json", "get"),
        "DeleteResponseItem" => definition("ImageDeleteResponseItem"),
        // /version's platform is inline in the spec; its `Platform` definition is swarm's.
        "Platform" => None,
        other => definition(other),
    }
}

struct Check<'a> {
    doc: &'a Json,
    spec: &'a Yaml,
    reached: BTreeSet<String>,
    problems: Vec<String>,
}

/// The JSON type a document schema gives (a `$ref` is an object), `None` when it allows anything.
fn doc_kind(s: &Json) -> Option<String> {
    if s.get("$ref").is_some() {
        return Some("object".into());
    }
    if let Some(parts) = s
        .get("oneOf")
        .or_else(|| s.get("allOf"))
        .and_then(Json::as_array)
    {
        return parts
            .iter()
            .filter(|p| p.get("type") != Some(&Json::from("null")))
            .find_map(doc_kind);
    }
    match s.get("type")? {
        Json::String(t) => Some(t.clone()),
        Json::Array(ts) => ts
            .iter()
            .filter_map(Json::as_str)
            .find(|t| *t != "null")
            .map(str::to_string),
        _ => None,
    }
}

fn spec_kind(spec: &Yaml, s: &Yaml) -> Option<String> {
    if let Some(r) = s["$ref"].as_str() {
        return spec_kind(
            spec,
            &spec["definitions"][r.trim_start_matches("#/definitions/")],
        );
    }
    if let Some([only]) = s["allOf"].as_sequence().map(Vec::as_slice) {
        return spec_kind(spec, only);
    }
    if s["allOf"].is_sequence() || s["properties"].is_mapping() {
        return Some("object".into());
    }
    s["type"].as_str().map(str::to_string)
}

impl<'a> Check<'a> {
    fn resolve_doc(&self, s: &'a Json) -> (&'a Json, Option<String>) {
        let mut s = s;
        if let Some(parts) = s.get("oneOf").and_then(Json::as_array)
            && let Some(p) = parts
                .iter()
                .find(|p| p.get("type") != Some(&Json::from("null")))
        {
            s = p;
        }
        match s.get("$ref").and_then(Json::as_str) {
            Some(r) => {
                let name = r.trim_start_matches("#/components/schemas/").to_string();
                (&self.doc["components"]["schemas"][&name], Some(name))
            }
            None => (s, None),
        }
    }

    fn resolve_spec(&self, s: &'a Yaml) -> &'a Yaml {
        match s["$ref"].as_str() {
            Some(r) => &self.spec["definitions"][r.trim_start_matches("#/definitions/")],
            None => s,
        }
    }

    /// A spec schema's properties with `allOf` parts merged.
    fn spec_property(&self, s: &'a Yaml, key: &str) -> Option<&'a Yaml> {
        let s = self.resolve_spec(s);
        if let Some(p) = s["properties"].get(key) {
            return Some(p);
        }
        s["allOf"]
            .as_sequence()?
            .iter()
            .find_map(|part| self.spec_property(part, key))
    }

    /// Compares a document schema with the spec's at `at`, descending into properties,
    /// items and map values.
    fn compare(&mut self, ours: &'a Json, theirs: &'a Yaml, at: &str) {
        let (ours, named) = self.resolve_doc(ours);
        if let Some(name) = &named
            && !self.reached.insert(name.clone())
        {
            return;
        }
        let owner = named.clone().unwrap_or_else(|| at.to_string());
        let theirs = self.resolve_spec(theirs);
        if let Some(props) = ours.get("properties").and_then(Json::as_object) {
            for (key, schema) in props {
                let here = format!("{at}.{key}");
                match self.spec_property(theirs, key) {
                    None if LEGACY.contains(&(owner.as_str(), key.as_str())) => {}
                    None => self
                        .problems
                        .push(format!("{here}: moby's spec has no such property")),
                    Some(spec_prop) => {
                        let spec_prop = self.resolve_spec(spec_prop);
                        if let (Some(a), Some(b)) =
                            (doc_kind(schema), spec_kind(self.spec, spec_prop))
                            && a != b
                        {
                            self.problems
                                .push(format!("{here}: documented as {a}, moby's spec says {b}"));
                        }
                        self.compare(schema, spec_prop, &here);
                    }
                }
            }
        }
        let (ours_inner, _) = self.resolve_doc(ours);
        if let Some(items) = ours_inner.get("items") {
            self.compare(items, &theirs["items"], &format!("{at}[]"));
        }
        if let Some(values) = ours_inner
            .get("additionalProperties")
            .filter(|v| v.is_object())
            && theirs["additionalProperties"].is_mapping()
        {
            self.compare(
                values,
                &theirs["additionalProperties"],
                &format!("{at}{{}}"),
            );
        }
    }
}

#[test]
fn documented_operations_and_schemas_are_mobys() {
    let Ok(yaml) = std::fs::read_to_string(berth_openapi::moby_spec_path()) else {
        eprintln!("SKIP: moby's spec is not beside the checkout");
        return;
    };
    let spec: Yaml = serde_yaml_ng::from_str(&yaml).expect("spec parses");
    let doc: Json = serde_json::from_str(&berth_openapi::generated()).expect("document parses");
    let mut problems = Vec::new();

    let spec_ops = berth_openapi::spec_operations(&yaml);
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            let op = berth_openapi::normalise(method, path);
            if !spec_ops.contains(&op) {
                problems.push(format!("{op}: not an operation of moby's spec"));
            }
        }
    }

    let mut check = Check {
        doc: &doc,
        spec: &spec,
        reached: BTreeSet::new(),
        problems: Vec::new(),
    };
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in schemas.keys() {
        if let Some(theirs) = spec_root(&spec, name) {
            let ours = &doc["components"]["schemas"][name];
            check.reached.insert(name.clone());
            check.compare(ours, theirs, name);
        }
    }
    for name in schemas.keys() {
        if !check.reached.contains(name) {
            problems.push(format!(
                "{name}: neither in moby's spec nor reached from a schema that is"
            ));
        }
    }
    problems.extend(check.problems);
    assert!(
        problems.is_empty(),
        "{} differences from moby's spec:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
