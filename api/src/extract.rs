//! Request decoding shared by handlers: query parameters (with Go's lax booleans), the
//! `filters` parameter in both of its JSON forms, and JSON bodies with moby's rules.

use axum::extract::{FromRequestParts, Query, Request};
use berth_engine::filters::Filters;
use http::header;
use http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::wire::go_json;

/// All query parameters, in order, repeated keys kept.
#[derive(Clone, Debug, Default)]
pub struct QueryParams(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::invalid(e.body_text()))?;
        Ok(QueryParams(pairs))
    }
}

impl QueryParams {
    /// The last value of `key` (Go's `r.Form.Get` returns the first; they differ only for
    /// repeated keys, where clients send one value anyway).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated key, in order.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// moby's `BoolValue`: anything but "", "0", "no", "false", "none" is true.
    pub fn bool(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| {
            !matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "" | "0" | "no" | "false" | "none"
            )
        })
    }

    /// The `filters` parameter, parsed.
    pub fn filters(&self) -> Result<Filters, ApiError> {
        parse_filters(self.get("filters").unwrap_or(""))
    }
}

/// Accepts `{"term":{"value":true}}` (current clients) and `{"term":["value"]}` (legacy).
/// Anything else is `invalid filter`.
pub fn parse_filters(text: &str) -> Result<Filters, ApiError> {
    let mut filters = Filters::new();
    let text = text.trim();
    if text.is_empty() {
        return Ok(filters);
    }
    let bad = || ApiError::invalid("invalid filter");
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| bad())?;
    let obj = value.as_object().ok_or_else(bad)?;
    for (term, values) in obj {
        match values {
            serde_json::Value::Object(map) => {
                for (v, on) in map {
                    match on {
                        serde_json::Value::Bool(true) => filters.add(term.clone(), v.clone()),
                        serde_json::Value::Bool(false) => {}
                        _ => return Err(bad()),
                    }
                }
            }
            serde_json::Value::Array(list) => {
                for v in list {
                    filters.add(term.clone(), v.as_str().ok_or_else(bad)?.to_string());
                }
            }
            _ => return Err(bad()),
        }
    }
    Ok(filters)
}

/// Reads a JSON body with moby's rules: an empty body is allowed, a non-empty one needs
/// `Content-Type: application/json`.
pub(crate) async fn json_body(req: Request) -> Result<Option<Value>, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = axum::body::to_bytes(req.into_body(), 16 << 20)
        .await
        .map_err(|e| ApiError::invalid(format!("error reading request body: {e}")))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if let Some(ct) = content_type {
        let mime = ct.split(';').next().unwrap_or("").trim();
        if mime != "application/json" {
            return Err(ApiError::invalid(format!(
                "unsupported Content-Type header ({ct}): must be 'application/json'"
            )));
        }
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| ApiError::invalid(format!("invalid JSON: {e}")))
}

/// A JSON object body that may also be empty or `null` (an empty object then).
pub(crate) async fn json_object_body(req: Request) -> Result<Map<String, Value>, ApiError> {
    match json_body(req).await? {
        Some(Value::Object(m)) => Ok(m),
        Some(Value::Null) | None => Ok(Map::new()),
        Some(_) => Err(ApiError::invalid(
            "invalid JSON: the body must be a JSON object",
        )),
    }
}

/// A JSON body decoded into `T` with Go's rules (`go_type` is the Go type moby decodes
/// into, named in its error texts), a failure worded as moby's `httputils.ReadJSON` words
/// it; `None` when the body is empty.
pub(crate) async fn go_json_body<T: DeserializeOwned>(
    req: Request,
    go_type: &str,
) -> Result<Option<T>, ApiError> {
    match json_body(req).await? {
        Some(body) => go_json::decode(body, go_type)
            .map(Some)
            .map_err(|e| ApiError::invalid(format!("invalid JSON: {e}"))),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_json_forms_parse_to_the_same_filters() {
        let a = parse_filters(r#"{"type":{"container":true,"image":true}}"#).unwrap();
        let b = parse_filters(r#"{"type":["container","image"]}"#).unwrap();
        assert_eq!(a, b);
        assert!(a.exact_match("type", "image"));
    }

    #[test]
    fn malformed_filters_are_invalid_filter() {
        for text in ["{bad", "[1]", r#"{"type":"x"}"#, r#"{"type":[1]}"#] {
            assert_eq!(parse_filters(text).unwrap_err().message, "invalid filter");
        }
        assert!(parse_filters("").unwrap().is_empty());
    }

    #[test]
    fn go_style_booleans() {
        let q = QueryParams(vec![
            ("a".into(), "1".into()),
            ("b".into(), "False".into()),
            ("c".into(), "yes".into()),
            ("d".into(), "".into()),
        ]);
        assert!(q.bool("a"));
        assert!(!q.bool("b"));
        assert!(q.bool("c"));
        assert!(!q.bool("d"));
        assert!(!q.bool("missing"));
    }
}
