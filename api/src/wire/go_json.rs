//! Decoding a JSON body the way Go's `encoding/json` decodes it into moby's structs, so that
//! clients get what dockerd would give them:
//! - a key matches a field exactly, else ignoring case; unknown keys are dropped;
//! - `null` leaves a field unset;
//! - a value of the wrong JSON type fails with Go's text, naming the innermost struct, the
//!   field path from the top and the field's Go type (`json: cannot unmarshal string into Go
//!   struct field HostConfig.HostConfig.Privileged of type bool`);
//! - integers must be integral and in range for their Go type (`number 1.5`, `number -1`).
//!
//! Go keeps decoding after a type error and reports the first; this stops at the first.

use serde::de::value::StringDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde_json::{Map, Number, Value};

use super::generated::go_field_type;

/// A decoding failure, worded as Go words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoJsonError(pub String);

impl std::fmt::Display for GoJsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GoJsonError {}

impl de::Error for GoJsonError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        GoJsonError(format!("json: {msg}"))
    }
}

/// Decodes `value` into `T`, whose Go type is `go_type` (named in errors about the whole body).
pub fn decode<T: DeserializeOwned>(value: Value, go_type: &str) -> Result<T, GoJsonError> {
    T::deserialize(Node {
        value,
        at: At {
            go_struct: None,
            path: String::new(),
            go_type: Some(go_type.to_string()),
        },
    })
}

/// Where a value sits: the innermost Go struct around it, the field path from the top, and
/// its Go type when the tables know it.
#[derive(Clone, Debug)]
struct At {
    go_struct: Option<&'static str>,
    path: String,
    go_type: Option<String>,
}

impl At {
    fn field(&self, go_struct: &'static str, field: &str) -> At {
        At {
            go_struct: Some(go_struct),
            path: if self.path.is_empty() {
                field.to_string()
            } else {
                format!("{}.{field}", self.path)
            },
            go_type: go_field_type(go_struct, field).map(str::to_string),
        }
    }

    fn element(&self) -> At {
        At {
            go_struct: self.go_struct,
            path: self.path.clone(),
            go_type: self.go_type.as_deref().map(element_type),
        }
    }

    fn mismatch(&self, found: &str, fallback: &str) -> GoJsonError {
        let ty = self.go_type.as_deref().unwrap_or(fallback);
        GoJsonError(match self.go_struct {
            Some(s) => format!(
                "json: cannot unmarshal {found} into Go struct field {s}.{} of type {ty}",
                self.path
            ),
            None => format!("json: cannot unmarshal {found} into Go value of type {ty}"),
        })
    }
}

/// The Go type of a slice's elements or a map's values (pointers dereferenced, as Go names
/// them in errors).
fn element_type(go: &str) -> String {
    let go = go.trim_start_matches('*');
    let underlying = match go {
        "nat.PortMap" => "map[nat.Port][]nat.PortBinding",
        "nat.PortSet" => "map[nat.Port]struct {}",
        "strslice.StrSlice" => "[]string",
        other => other,
    };
    let inner = if let Some(rest) = underlying.strip_prefix('[') {
        rest.split_once(']').map_or(rest, |(_, t)| t)
    } else if let Some(rest) = underlying.strip_prefix("map[") {
        // The value type follows the key's closing bracket.
        let mut depth = 1;
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            match c {
                '[' => depth += 1,
                ']' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        &rest[(end + 1).min(rest.len())..]
    } else {
        underlying
    };
    inner.trim_start_matches('*').to_string()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

struct Node {
    value: Value,
    at: At,
}

/// An integer of the wanted range, or Go's complaint about the number.
fn integer(n: &Number, at: &At, go: &str, min: i128, max: i128) -> Result<i128, GoJsonError> {
    let v = n
        .as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from));
    match v {
        Some(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(at.mismatch(&format!("number {n}"), go)),
    }
}

macro_rules! int_method {
    ($method:ident, $visit:ident, $t:ty, $go:literal) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GoJsonError> {
            match &self.value {
                Value::Null => visitor.$visit(0),
                Value::Number(n) => {
                    let v = integer(n, &self.at, $go, <$t>::MIN as i128, <$t>::MAX as i128)?;
                    visitor.$visit(v as $t)
                }
                other => Err(self.at.mismatch(kind(other), $go)),
            }
        }
    };
}

impl<'de> de::Deserializer<'de> for Node {
    type Error = GoJsonError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GoJsonError> {
        match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or_default())
                }
            }
            Value::String(s) => visitor.visit_string(s),
            Value::Array(items) => visitor.visit_seq(Seq::new(items, self.at.element())),
            Value::Object(map) => visitor.visit_map(Entries::plain(map, self.at.element())),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GoJsonError> {
        match self.value {
            Value::Null => visitor.visit_bool(false),
            Value::Bool(b) => visitor.visit_bool(b),
            other => Err(self.at.mismatch(kind(&other), "bool")),
        }
    }

    int_method!(deserialize_i8, visit_i8, i8, "int8");
    int_method!(deserialize_i16, visit_i16, i16, "int16");
    int_method!(deserialize_i32, visit_i32, i32, "int32");
    int_method!(deserialize_i64, visit_i64, i64, "int64");
    int_method!(deserialize_u8, visit_u8, u8, "uint8");
    int_method!(deserialize_u16, visit_u16, u16, "uint16");
    int_method!(deserialize_u32, visit_u32, u32, "uint32");
    int_method!(deserialize_u64, visit_u64, u64, "uint64");

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GoJsonError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GoJsonError> {
        match &self.value {
            Value::Null => visitor.visit_f64(0.0),
            Value::Number(n) => visitor.visit_f64(n.as_f64().unwrap_or_default()),
            other => Err(self.at.mismatch(kind(other), "float64")),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GoJsonError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GoJsonError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GoJsonError> {
        match self.value {
            Value::Null => visitor.visit_string(String::new()),
            Value::String(s) => visitor.visit_string(s),
            other => Err(self.at.mismatch(kind(&other), "string")),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GoJsonError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GoJsonError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GoJsonError> {
        if self.value.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GoJsonError> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, GoJsonError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, GoJsonError> {
        if name == "StrSlice" {
            // moby tries a list of strings, then a string, and reports the second failure:
            // about the whole value, as a `string`.
            let fits = match &self.value {
                Value::String(_) | Value::Null => true,
                Value::Array(items) => items.iter().all(|i| i.is_string() || i.is_null()),
                _ => false,
            };
            if !fits {
                let found = kind(&self.value);
                return Err(At {
                    go_type: Some("string".into()),
                    ..self.at
                }
                .mismatch(found, "string"));
            }
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GoJsonError> {
        match self.value {
            Value::Null => visitor.visit_seq(Seq::new(Vec::new(), self.at)),
            Value::Array(items) => {
                let at = self.at.element();
                visitor.visit_seq(Seq::new(items, at))
            }
            other => Err(self.at.mismatch(kind(&other), "[]interface {}")),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, GoJsonError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, GoJsonError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GoJsonError> {
        match self.value {
            Value::Null => visitor.visit_map(Entries::plain(Map::new(), self.at)),
            Value::Object(map) => {
                let at = self.at.element();
                visitor.visit_map(Entries::plain(map, at))
            }
            other => Err(self.at.mismatch(kind(&other), "map[string]interface {}")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, GoJsonError> {
        match self.value {
            Value::Null => visitor.visit_map(Entries::plain(Map::new(), self.at)),
            Value::Object(map) => visitor.visit_map(Entries::fields(map, name, fields, &self.at)),
            other => Err(self.at.mismatch(kind(&other), name)),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, GoJsonError> {
        match self.value {
            Value::String(s) => visitor.visit_enum(s.into_deserializer()),
            other => Err(self.at.mismatch(kind(&other), "string")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GoJsonError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GoJsonError> {
        visitor.visit_unit()
    }
}

struct Seq {
    items: std::vec::IntoIter<Value>,
    at: At,
}

impl Seq {
    fn new(items: Vec<Value>, at: At) -> Seq {
        Seq {
            items: items.into_iter(),
            at,
        }
    }
}

impl<'de> de::SeqAccess<'de> for Seq {
    type Error = GoJsonError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, GoJsonError> {
        match self.items.next() {
            Some(value) => seed
                .deserialize(Node {
                    value,
                    at: self.at.clone(),
                })
                .map(Some),
            None => Ok(None),
        }
    }
}

/// The members of an object, each with where it sits.
struct Entries {
    entries: std::vec::IntoIter<(String, Value, At)>,
    pending: Option<(Value, At)>,
}

impl Entries {
    /// A map's entries: keys are data, every value has the map's value type.
    fn plain(map: Map<String, Value>, at: At) -> Entries {
        let entries: Vec<_> = map.into_iter().map(|(k, v)| (k, v, at.clone())).collect();
        Entries {
            entries: entries.into_iter(),
            pending: None,
        }
    }

    /// A struct's members, keyed by the field each matches (exactly, else ignoring case);
    /// members that match no field are dropped. An exact match wins over a case-folded one.
    fn fields(
        map: Map<String, Value>,
        go_struct: &'static str,
        fields: &'static [&'static str],
        at: &At,
    ) -> Entries {
        let mut matched: Vec<(&'static str, bool, Value)> = Vec::new();
        for (key, value) in map {
            let (field, exact) = match fields.iter().find(|f| **f == key) {
                Some(f) => (*f, true),
                None => match fields.iter().find(|f| f.eq_ignore_ascii_case(&key)) {
                    Some(f) => (*f, false),
                    None => continue,
                },
            };
            match matched.iter_mut().find(|(f, _, _)| *f == field) {
                Some(slot) if exact || !slot.1 => *slot = (field, exact, value),
                Some(_) => {}
                None => matched.push((field, exact, value)),
            }
        }
        let entries: Vec<_> = matched
            .into_iter()
            .map(|(f, _, v)| (f.to_string(), v, at.field(go_struct, f)))
            .collect();
        Entries {
            entries: entries.into_iter(),
            pending: None,
        }
    }
}

impl<'de> de::MapAccess<'de> for Entries {
    type Error = GoJsonError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, GoJsonError> {
        match self.entries.next() {
            Some((key, value, at)) => {
                self.pending = Some((value, at));
                let key: StringDeserializer<GoJsonError> = key.into_deserializer();
                seed.deserialize(key).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, GoJsonError> {
        let (value, at) = self
            .pending
            .take()
            .ok_or_else(|| GoJsonError("json: value without a key".into()))?;
        seed.deserialize(Node { value, at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ContainerCreateRequest;
    use serde_json::json;

    fn create(body: Value) -> Result<ContainerCreateRequest, String> {
        decode(body, "runconfig.ContainerConfigWrapper").map_err(|e| e.0)
    }

    #[test]
    fn keys_match_ignoring_case_and_unknown_keys_are_dropped() {
        let c = create(json!({"image": "busybox", "CMD": ["true"], "HostConfig": {"Bogus": 1, "privileged": true}})).unwrap();
        assert_eq!(c.image.as_deref(), Some("busybox"));
        assert_eq!(c.cmd.unwrap().0, vec!["true"]);
        let h = c.host_config.unwrap();
        assert_eq!(h.privileged, Some(true));
        let back = serde_json::to_value(&h).unwrap();
        assert_eq!(back, json!({"Privileged": true}));
    }

    #[test]
    fn an_exact_key_wins_over_a_case_folded_one() {
        let c = create(json!({"image": "a", "Image": "b"})).unwrap();
        assert_eq!(c.image.as_deref(), Some("b"));
    }

    #[test]
    fn strslice_takes_a_string() {
        let c = create(json!({"Cmd": "true", "Entrypoint": null})).unwrap();
        assert_eq!(c.cmd.unwrap().0, vec!["true"]);
        assert!(c.entrypoint.is_none());
    }

    #[test]
    fn type_errors_read_as_go_writes_them() {
        for (body, text) in [
            (
                json!({"HostConfig": {"Privileged": "yes"}}),
                "string into Go struct field HostConfig.HostConfig.Privileged of type bool",
            ),
            (
                json!({"Env": "A=1"}),
                "string into Go struct field ContainerConfigWrapper.Env of type []string",
            ),
            (
                json!({"Env": [1]}),
                "number into Go struct field ContainerConfigWrapper.Env of type string",
            ),
            (
                json!({"Cmd": [1]}),
                "array into Go struct field ContainerConfigWrapper.Cmd of type string",
            ),
            (
                json!({"Labels": {"a": 1}}),
                "number into Go struct field ContainerConfigWrapper.Labels of type string",
            ),
            (
                json!({"Labels": [1]}),
                "array into Go struct field ContainerConfigWrapper.Labels of type map[string]string",
            ),
            (
                json!({"ExposedPorts": [1]}),
                "array into Go struct field ContainerConfigWrapper.ExposedPorts of type nat.PortSet",
            ),
            (
                json!({"ExposedPorts": {"80/tcp": 1}}),
                "number into Go struct field ContainerConfigWrapper.ExposedPorts of type struct {}",
            ),
            (
                json!({"HostConfig": 5}),
                "number into Go struct field ContainerConfigWrapper.HostConfig of type container.HostConfig",
            ),
            (
                json!({"HostConfig": {"Memory": 1.5}}),
                "number 1.5 into Go struct field HostConfig.HostConfig.Memory of type int64",
            ),
            (
                json!({"HostConfig": {"BlkioWeight": -1}}),
                "number -1 into Go struct field HostConfig.HostConfig.BlkioWeight of type uint16",
            ),
            (
                json!({"HostConfig": {"RestartPolicy": {"MaximumRetryCount": "x"}}}),
                "string into Go struct field RestartPolicy.HostConfig.RestartPolicy.MaximumRetryCount of type int",
            ),
            (
                json!({"HostConfig": {"Mounts": {}}}),
                "object into Go struct field HostConfig.HostConfig.Mounts of type []mount.Mount",
            ),
            (
                json!({"HostConfig": {"Mounts": [{"Type": 1}]}}),
                "number into Go struct field Mount.HostConfig.Mounts.Type of type mount.Type",
            ),
            (
                json!({"HostConfig": {"Ulimits": [{"Soft": "x"}]}}),
                "string into Go struct field Ulimit.HostConfig.Ulimits.Soft of type int64",
            ),
            (
                json!({"HostConfig": {"PortBindings": []}}),
                "array into Go struct field HostConfig.HostConfig.PortBindings of type nat.PortMap",
            ),
            (
                json!({"HostConfig": {"LogConfig": {"Config": {"a": 1}}}}),
                "number into Go struct field LogConfig.HostConfig.LogConfig.Config of type string",
            ),
            (
                json!({"NetworkingConfig": {"EndpointsConfig": {"bridge": {"Aliases": "x"}}}}),
                "string into Go struct field EndpointSettings.NetworkingConfig.EndpointsConfig.Aliases of type []string",
            ),
            (
                json!({"Healthcheck": {"Interval": "x"}}),
                "string into Go struct field HealthConfig.Healthcheck.Interval of type time.Duration",
            ),
            (
                json!({"StopTimeout": "x"}),
                "string into Go struct field ContainerConfigWrapper.StopTimeout of type int",
            ),
            (
                json!([1]),
                "array into Go value of type runconfig.ContainerConfigWrapper",
            ),
            (
                json!("x"),
                "string into Go value of type runconfig.ContainerConfigWrapper",
            ),
        ] {
            assert_eq!(
                create(body.clone()).unwrap_err(),
                format!("json: cannot unmarshal {text}"),
                "{body}"
            );
        }
    }

    #[test]
    fn null_leaves_fields_unset() {
        let c = create(json!({"Tty": null, "HostConfig": null, "Env": null})).unwrap();
        assert_eq!(c, ContainerCreateRequest::default());
    }

    #[test]
    fn element_types_follow_go() {
        assert_eq!(element_type("[]*units.Ulimit"), "units.Ulimit");
        assert_eq!(element_type("map[string]string"), "string");
        assert_eq!(element_type("nat.PortMap"), "[]nat.PortBinding");
        assert_eq!(element_type("map[string][]string"), "[]string");
        assert_eq!(element_type("[2]uint"), "uint");
    }
}
