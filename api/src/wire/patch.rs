//! Go types whose JSON form the spec cannot describe.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

/// A key the engine does not model, passed through as JSON.
pub type Opaque = serde_json::Value;

/// moby's `strslice.StrSlice`: a JSON string is a one-element list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StrSlice(pub Vec<String>);

impl Serialize for StrSlice {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for StrSlice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrSlice;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<StrSlice, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<StrSlice, E> {
                Ok(StrSlice(vec![s.to_string()]))
            }
            fn visit_unit<E: de::Error>(self) -> Result<StrSlice, E> {
                Ok(StrSlice::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrSlice, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<Option<String>>()? {
                    out.push(s.unwrap_or_default());
                }
                Ok(StrSlice(out))
            }
        }
        d.deserialize_newtype_struct("StrSlice", V)
    }
}

/// A Go `struct{}` value (the members of `ExposedPorts` and `Volumes`): any object, its
/// keys ignored; written as `{}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmptyObject;

impl Serialize for EmptyObject {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_map(Some(0))?.end()
    }
}

impl<'de> Deserialize<'de> for EmptyObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EmptyObject;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EmptyObject, A::Error> {
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(EmptyObject)
            }
            fn visit_unit<E: de::Error>(self) -> Result<EmptyObject, E> {
                Ok(EmptyObject)
            }
        }
        d.deserialize_struct("struct {}", &[], V)
    }
}
