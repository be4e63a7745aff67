//! Turns the definitions of moby's engine API spec (swagger 2.0 YAML) that berthd's routes
//! take into Rust wire types: one struct per Go struct, every field `Option` (Go's `null` and
//! a missing key both leave the zero value), keys spelt as on the wire, plus a table of each
//! field's Go type so that decoding errors can be worded as Go's `encoding/json` words them.
//!
//! Only names and types are read from the spec; none of its prose is emitted. Where Go's
//! structs differ from what the spec says, the patch tables below decide.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;

use serde_yaml_ng::Value as Yaml;

/// Where a generated root type comes from.
enum Source {
    /// `#/definitions/<name>`.
    Definition(&'static str),
    /// The `in: body` parameter of an operation.
    Body(&'static str, &'static str),
}

/// A type generated because a route decodes it.
struct Root {
    rust: &'static str,
    go: &'static str,
    source: Source,
}

const ROOTS: &[Root] = &[
    Root {
        rust: "ContainerCreateRequest",
        go: "ContainerConfigWrapper",
        source: Source::Body("/containers/create", "post"),
    },
    Root {
        rust: "ContainerUpdateRequest",
        go: "UpdateConfig",
        source: Source::Body("/containers/{id}/update", "post"),
    },
    Root {
        rust: "ExecCreateRequest",
        go: "ExecConfig",
        source: Source::Body("/containers/{id}/exec", "post"),
    },
    Root {
        rust: "ExecStartRequest",
        go: "ExecStartCheck",
        source: Source::Body("/exec/{id}/start", "post"),
    },
    Root {
        rust: "NetworkCreateRequest",
        go: "NetworkCreateRequest",
        source: Source::Body("/networks/create", "post"),
    },
    Root {
        rust: "NetworkConnectRequest",
        go: "NetworkConnect",
        source: Source::Definition("NetworkConnectRequest"),
    },
    Root {
        rust: "NetworkDisconnectRequest",
        go: "NetworkDisconnect",
        source: Source::Definition("NetworkDisconnectRequest"),
    },
    Root {
        rust: "VolumeCreateRequest",
        go: "VolumeCreateBody",
        source: Source::Definition("VolumeCreateRequest"),
    },
    Root {
        rust: "NetworkingConfig",
        go: "NetworkingConfig",
        source: Source::Definition("NetworkingConfig"),
    },
];

/// Go's qualified name of a struct or named type the spec defines (`encoding/json` prints it
/// after "of type"). Definitions not listed are printed by their spec name.
const GO_QUALIFIED: &[(&str, &str)] = &[
    ("HostConfig", "container.HostConfig"),
    ("RestartPolicy", "container.RestartPolicy"),
    ("HealthConfig", "container.HealthConfig"),
    ("DeviceMapping", "container.DeviceMapping"),
    ("DeviceRequest", "container.DeviceRequest"),
    ("LogConfig", "container.LogConfig"),
    ("Mount", "mount.Mount"),
    ("MountType", "mount.Type"),
    ("BindOptions", "mount.BindOptions"),
    ("VolumeOptions", "mount.VolumeOptions"),
    ("DriverConfig", "mount.Driver"),
    ("TmpfsOptions", "mount.TmpfsOptions"),
    ("ImageOptions", "mount.ImageOptions"),
    ("ThrottleDevice", "blkiodev.ThrottleDevice"),
    ("WeightDevice", "blkiodev.WeightDevice"),
    ("Ulimit", "units.Ulimit"),
    ("NetworkingConfig", "network.NetworkingConfig"),
    ("EndpointSettings", "network.EndpointSettings"),
    ("EndpointIPAMConfig", "network.EndpointIPAMConfig"),
    ("PortMap", "nat.PortMap"),
    ("PortBinding", "nat.PortBinding"),
];

/// Names of structs the spec declares inline, keyed by `<Go struct>.<field>`: Go's names
/// (the spec has none), so errors name the struct Go would.
const INLINE_NAMES: &[(&str, &str)] = &[
    ("HostConfig.LogConfig", "LogConfig"),
    ("HostConfig.BlkioWeightDevice", "WeightDevice"),
    ("HostConfig.Ulimits", "Ulimit"),
    ("UpdateConfig.BlkioWeightDevice", "WeightDevice"),
    ("UpdateConfig.Ulimits", "Ulimit"),
    ("Mount.VolumeOptions", "VolumeOptions"),
    ("VolumeOptions.DriverConfig", "DriverConfig"),
];

/// Fields whose Go type is not what the spec's type says: `(Go struct, field, Rust type,
/// Go type)`. Integers without a format are Go `int` unless listed here.
const FIELD_PATCHES: &[(&str, &str, &str, &str)] = &[
    // strslice.StrSlice takes a string or an array of strings.
    (
        "ContainerConfigWrapper",
        "Cmd",
        "StrSlice",
        "strslice.StrSlice",
    ),
    (
        "ContainerConfigWrapper",
        "Entrypoint",
        "StrSlice",
        "strslice.StrSlice",
    ),
    (
        "ContainerConfigWrapper",
        "Shell",
        "StrSlice",
        "strslice.StrSlice",
    ),
    // nat.PortSet and the volume set are maps to struct{}.
    (
        "ContainerConfigWrapper",
        "ExposedPorts",
        "BTreeMap<String, EmptyObject>",
        "nat.PortSet",
    ),
    (
        "ContainerConfigWrapper",
        "Volumes",
        "BTreeMap<String, EmptyObject>",
        "map[string]struct {}",
    ),
    ("ContainerConfigWrapper", "StopTimeout", "i64", "int"),
    ("HealthConfig", "Interval", "i64", "time.Duration"),
    ("HealthConfig", "Timeout", "i64", "time.Duration"),
    ("HealthConfig", "StartPeriod", "i64", "time.Duration"),
    ("HealthConfig", "StartInterval", "i64", "time.Duration"),
    ("HostConfig", "CpuShares", "i64", "int64"),
    ("HostConfig", "BlkioWeight", "u16", "uint16"),
    ("HostConfig", "OomScoreAdj", "i64", "int"),
    ("HostConfig", "ShmSize", "i64", "int64"),
    ("HostConfig", "Ulimits", "Vec<Ulimit>", "[]*units.Ulimit"),
    ("HostConfig", "ConsoleSize", "Vec<u64>", "[2]uint"),
    ("ExecConfig", "ConsoleSize", "Vec<u64>", "*[2]uint"),
    ("ExecStartCheck", "ConsoleSize", "Vec<u64>", "*[2]uint"),
    (
        "HostConfig",
        "NetworkMode",
        "String",
        "container.NetworkMode",
    ),
    ("HostConfig", "IpcMode", "String", "container.IpcMode"),
    ("HostConfig", "PidMode", "String", "container.PidMode"),
    ("HostConfig", "UTSMode", "String", "container.UTSMode"),
    ("HostConfig", "UsernsMode", "String", "container.UsernsMode"),
    (
        "HostConfig",
        "CgroupnsMode",
        "String",
        "container.CgroupnsMode",
    ),
    ("HostConfig", "Cgroup", "String", "container.CgroupSpec"),
    ("HostConfig", "Isolation", "String", "container.Isolation"),
    ("UpdateConfig", "CpuShares", "i64", "int64"),
    ("UpdateConfig", "BlkioWeight", "u16", "uint16"),
    ("UpdateConfig", "Ulimits", "Vec<Ulimit>", "[]*units.Ulimit"),
    ("WeightDevice", "Weight", "u16", "uint16"),
    ("ThrottleDevice", "Rate", "u64", "uint64"),
    ("Ulimit", "Soft", "i64", "int64"),
    ("Ulimit", "Hard", "i64", "int64"),
    ("Mount", "Type", "String", "mount.Type"),
    ("BindOptions", "Propagation", "String", "mount.Propagation"),
    ("Mount", "Consistency", "String", "mount.Consistency"),
    ("TmpfsOptions", "Mode", "u32", "fs.FileMode"),
    ("TmpfsOptions", "Options", "Vec<Vec<String>>", "[][]string"),
];

/// Keys Go decodes that the pinned spec does not list (older API versions send them, or
/// they are newer than it): `(definition, field, Rust type, Go type)`.
const EXTRA_FIELDS: &[(&str, &str, &str, &str)] = &[
    ("ContainerConfig", "MacAddress", "String", "string"),
    ("Resources", "KernelMemory", "i64", "int64"),
    ("Resources", "KernelMemoryTCP", "i64", "int64"),
    ("HostConfig", "Capabilities", "Vec<String>", "[]string"),
    // Newer than the pinned spec: moby 29.8's HostConfig.Umask (API 1.56), a number.
    ("HostConfig", "Umask", "u32", "uint32"),
];

const KEYWORDS: &[&str] = &[
    "type", "ref", "match", "use", "static", "mod", "fn", "struct", "enum", "impl", "crate",
    "self", "super", "move", "loop", "where", "async", "await", "dyn",
];

/// Where the generated types are committed.
pub fn committed_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../api/src/wire/generated.rs")
}

/// moby's pinned spec: `BERTH_MOBY_SPEC`, else the shared reference beside the checkout.
pub fn spec_path() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_MOBY_SPEC") {
        return Some(p.into());
    }
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        "../../../shared/reference/docker-engine-api.yaml",
        "../../../../shared/reference/docker-engine-api.yaml",
    ]
    .iter()
    .map(|r| here.join(r))
    .find(|p| p.exists())
}

/// The generated Rust source for the pinned spec.
pub fn generate(spec_yaml: &str) -> Result<String, String> {
    let spec: Yaml = serde_yaml_ng::from_str(spec_yaml).map_err(|e| format!("spec: {e}"))?;
    let spec = &spec;
    let mut g = Generator {
        spec,
        structs: Vec::new(),
        seen: BTreeSet::new(),
        queue: VecDeque::new(),
    };
    for root in ROOTS {
        let schema = match root.source {
            Source::Definition(name) => g.definition(name)?.clone(),
            Source::Body(path, method) => g.body(path, method)?.clone(),
        };
        g.seen.insert(root.rust.to_string());
        g.queue.push_back(Pending {
            rust: root.rust.to_string(),
            go: root.go.to_string(),
            schema,
            definition: match root.source {
                Source::Definition(name) => Some(name.to_string()),
                Source::Body(..) => None,
            },
        });
    }
    while let Some(p) = g.queue.pop_front() {
        let s = g.build_struct(&p)?;
        g.structs.push(s);
    }
    Ok(g.render())
}

struct Pending {
    rust: String,
    go: String,
    schema: Yaml,
    definition: Option<String>,
}

struct Field {
    key: String,
    rust_type: String,
    go_type: String,
}

struct Struct {
    rust: String,
    go: String,
    fields: Vec<Field>,
}

struct Generator<'a> {
    spec: &'a Yaml,
    structs: Vec<Struct>,
    seen: BTreeSet<String>,
    queue: VecDeque<Pending>,
}

fn key<'y>(y: &'y Yaml, k: &str) -> &'y Yaml {
    &y[k]
}

fn str_of<'y>(y: &'y Yaml, k: &str) -> Option<&'y str> {
    key(y, k).as_str()
}

fn ref_name(y: &Yaml) -> Option<&str> {
    str_of(y, "$ref").and_then(|r| r.strip_prefix("#/definitions/"))
}

fn lookup<'t>(table: &'t [(&str, &str)], k: &str) -> Option<&'t str> {
    table.iter().find(|(a, _)| *a == k).map(|(_, b)| *b)
}

impl<'a> Generator<'a> {
    fn definition(&self, name: &str) -> Result<&'a Yaml, String> {
        let d = &self.spec["definitions"][name];
        if d.is_null() {
            return Err(format!("spec has no definition {name}"));
        }
        Ok(d)
    }

    fn body(&self, path: &str, method: &str) -> Result<&'a Yaml, String> {
        let op = &self.spec["paths"][path][method];
        let params = op["parameters"]
            .as_sequence()
            .ok_or_else(|| format!("{method} {path}: no parameters"))?;
        params
            .iter()
            .find(|p| str_of(p, "in") == Some("body"))
            .map(|p| &p["schema"])
            .ok_or_else(|| format!("{method} {path}: no body parameter"))
    }

    /// The properties of an object schema with `allOf` parts merged in order, and each
    /// definition's extra fields after its own.
    fn properties<'s>(
        &self,
        schema: &'s Yaml,
        definition: Option<&str>,
        out: &mut Vec<(String, PropertyKind<'s>)>,
    ) -> Result<(), String>
    where
        'a: 's,
    {
        if let Some(name) = ref_name(schema) {
            return self.properties(self.definition(name)?, Some(name), out);
        }
        if let Some(parts) = schema["allOf"].as_sequence() {
            for part in parts {
                self.properties(part, None, out)?;
            }
        }
        if let Some(props) = schema["properties"].as_mapping() {
            for (k, v) in props {
                let k = k.as_str().ok_or("non-string property name")?.to_string();
                out.retain(|(n, _)| *n != k);
                out.push((k, PropertyKind::Spec(v)));
            }
        }
        if let Some(def) = definition {
            for (d, f, rust, go) in EXTRA_FIELDS {
                if *d == def {
                    out.push((f.to_string(), PropertyKind::Extra(rust, go)));
                }
            }
        }
        Ok(())
    }

    fn build_struct(&mut self, p: &Pending) -> Result<Struct, String> {
        let mut props = Vec::new();
        self.properties(&p.schema, p.definition.as_deref(), &mut props)?;
        let mut fields = Vec::new();
        for (k, kind) in props {
            let (rust_type, go_type) = if let Some((_, _, r, g)) = FIELD_PATCHES
                .iter()
                .find(|(s, f, _, _)| *s == p.go && *f == k)
            {
                self.note_named(r)?;
                (r.to_string(), g.to_string())
            } else {
                match kind {
                    PropertyKind::Extra(r, g) => (r.to_string(), g.to_string()),
                    PropertyKind::Spec(s) => self.type_of(s, &p.go, &k)?,
                }
            };
            fields.push(Field {
                key: k,
                rust_type,
                go_type,
            });
        }
        Ok(Struct {
            rust: p.rust.clone(),
            go: p.go.clone(),
            fields,
        })
    }

    /// A patched Rust type may name a struct (`Vec<Ulimit>`): make sure it is generated.
    fn note_named(&mut self, rust: &str) -> Result<(), String> {
        let inner = rust.trim_start_matches("Vec<").trim_end_matches('>');
        if inner == "Ulimit" && !self.seen.contains(inner) {
            let schema = self.definition("Resources")?["properties"]["Ulimits"]["items"].clone();
            self.enqueue(inner, inner, schema, None);
        }
        Ok(())
    }

    fn enqueue(&mut self, rust: &str, go: &str, schema: Yaml, definition: Option<String>) {
        if self.seen.insert(rust.to_string()) {
            self.queue.push_back(Pending {
                rust: rust.to_string(),
                go: go.to_string(),
                schema,
                definition,
            });
        }
    }

    /// `(Rust type, Go type)` of a schema found at `owner.field`.
    fn type_of(&mut self, s: &Yaml, owner: &str, field: &str) -> Result<(String, String), String> {
        if let Some(name) = ref_name(s) {
            let def = self.definition(name)?;
            if is_struct(def) {
                self.enqueue(name, name, def.clone(), Some(name.to_string()));
                let go = lookup(GO_QUALIFIED, name).unwrap_or(name).to_string();
                return Ok((name.to_string(), go));
            }
            let (rust, go) = self.type_of(def, owner, field)?;
            return Ok((rust, lookup(GO_QUALIFIED, name).map_or(go, str::to_string)));
        }
        if is_struct(s) {
            let path = format!("{owner}.{field}");
            let name = lookup(INLINE_NAMES, &path).unwrap_or(field).to_string();
            self.enqueue(&name, &name, s.clone(), None);
            let go = lookup(GO_QUALIFIED, &name).unwrap_or(&name).to_string();
            return Ok((name, go));
        }
        match str_of(s, "type") {
            Some("string") => Ok(("String".into(), "string".into())),
            Some("boolean") => Ok(("bool".into(), "bool".into())),
            Some("number") => Ok(("f64".into(), "float64".into())),
            Some("integer") => Ok(match str_of(s, "format") {
                Some("int64") => ("i64".into(), "int64".into()),
                Some("int32") => ("i32".into(), "int32".into()),
                Some("uint16") => ("u16".into(), "uint16".into()),
                Some("uint32") => ("u32".into(), "uint32".into()),
                Some("uint64") => ("u64".into(), "uint64".into()),
                Some("int8") => ("i8".into(), "int8".into()),
                _ => ("i64".into(), "int".into()),
            }),
            Some("array") => {
                let items = &s["items"];
                let (rust, go) = if items.is_null() {
                    ("Opaque".to_string(), "interface {}".to_string())
                } else {
                    self.type_of(items, owner, field)?
                };
                Ok((format!("Vec<{rust}>"), format!("[]{go}")))
            }
            Some("object") | None => match &s["additionalProperties"] {
                Yaml::Mapping(_) => {
                    let v = &s["additionalProperties"];
                    let (rust, go) = if v.as_mapping().is_some_and(|h| h.is_empty()) {
                        ("Opaque".to_string(), "interface {}".to_string())
                    } else {
                        self.type_of(v, owner, field)?
                    };
                    Ok((
                        format!("BTreeMap<String, {rust}>"),
                        format!("map[string]{go}"),
                    ))
                }
                _ => Ok(("Opaque".into(), "interface {}".into())),
            },
            Some(other) => Err(format!("{owner}.{field}: unknown type {other}")),
        }
    }

    fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "// @generated by `cargo run -p berth-wiregen -- write` from moby's engine API spec.\n\
             // Do not edit: change the generator's tables instead.\n\n\
             use std::collections::BTreeMap;\n\n\
             use serde::{Deserialize, Serialize};\n\
             use utoipa::ToSchema;\n",
        );
        let mut body = String::new();
        for s in &self.structs {
            let out = &mut body;
            let _ = writeln!(out);
            let _ = writeln!(out, "/// Go's `{}`.", s.go);
            let _ = writeln!(
                out,
                "#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]"
            );
            let _ = writeln!(out, "#[serde(rename = \"{}\")]", s.go);
            let _ = writeln!(out, "pub struct {} {{", s.rust);
            for f in &s.fields {
                let _ = writeln!(
                    out,
                    "    #[serde(rename = \"{}\", skip_serializing_if = \"Option::is_none\")]",
                    f.key
                );
                if let Some(schema) = schema_type(&f.rust_type) {
                    let _ = writeln!(out, "    #[schema(value_type = Option<{schema}>)]");
                }
                let _ = writeln!(
                    out,
                    "    pub {}: Option<{}>,",
                    rust_field_name(&f.key),
                    f.rust_type
                );
            }
            let _ = writeln!(out, "}}");
        }
        let patch: Vec<&str> = ["EmptyObject", "Opaque", "StrSlice"]
            .into_iter()
            .filter(|t| body.contains(&format!("<{t}>")) || body.contains(&format!(" {t}>")))
            .collect();
        if !patch.is_empty() {
            let _ = writeln!(out, "\nuse super::patch::{{{}}};", patch.join(", "));
        }
        out.push_str(&body);
        // One table for every struct, so the decoder can name a mismatched field's Go type.
        let mut table: BTreeMap<(&str, &str), &str> = BTreeMap::new();
        for s in &self.structs {
            for f in &s.fields {
                table.insert((&s.go, &f.key), &f.go_type);
            }
        }
        out.push_str(
            "\n/// The Go type of field `field` of Go struct `go_struct`, as `encoding/json` names it.\n\
             pub fn go_field_type(go_struct: &str, field: &str) -> Option<&'static str> {\n    \
             Some(match (go_struct, field) {\n",
        );
        for ((s, f), g) in &table {
            let _ = writeln!(out, "        ({s:?}, {f:?}) => {g:?},");
        }
        out.push_str("        _ => return None,\n    })\n}\n");
        out
    }
}

/// The schema to document for a field whose Rust type is one of the patch types (which do
/// not describe themselves): a string list for `StrSlice`, a free-form object otherwise.
fn schema_type(rust: &str) -> Option<String> {
    if rust.contains("StrSlice") {
        return Some(rust.replace("StrSlice", "Vec<String>"));
    }
    if rust.contains("EmptyObject") || rust.contains("Opaque") {
        return Some(if rust.starts_with("Vec<") {
            "Vec<Object>".to_string()
        } else {
            "Object".to_string()
        });
    }
    None
}

enum PropertyKind<'a> {
    Spec(&'a Yaml),
    Extra(&'static str, &'static str),
}

fn is_struct(s: &Yaml) -> bool {
    !s["properties"].is_null() || !s["allOf"].is_null()
}

/// `IOMaximumIOps` → `io_maximum_iops`, `HostConfig` → `host_config`, `Type` → `r#type`.
pub fn rust_field_name(key: &str) -> String {
    // Acronyms with a lower-case letter inside are one word.
    let key = key
        .replace("IPv4", "Ipv4")
        .replace("IPv6", "Ipv6")
        .replace("IOps", "Iops")
        .replace("IPs", "Ips");
    let chars: Vec<char> = key.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    if KEYWORDS.contains(&out.as_str()) {
        format!("r#{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_read_as_words() {
        for (key, name) in [
            ("HostConfig", "host_config"),
            ("IOMaximumIOps", "io_maximum_iops"),
            ("BlkioDeviceReadIOps", "blkio_device_read_iops"),
            ("CpusetCpus", "cpuset_cpus"),
            ("IPv4Address", "ipv4_address"),
            ("UTSMode", "uts_mode"),
            ("Type", "r#type"),
            ("Id", "id"),
            ("OomKillDisable", "oom_kill_disable"),
            ("KernelMemoryTCP", "kernel_memory_tcp"),
            ("LinkLocalIPs", "link_local_ips"),
        ] {
            assert_eq!(rust_field_name(key), name, "{key}");
        }
    }
}
