//! API versions: the `/v{X.Y}` prefix, the supported range and the headers every routed
//! response carries. The prefix is stripped *before* routing so one route table serves every
//! version; the range check and headers run on matched routes only, as in moby, so unknown
//! routes get a bare 404.

use std::cmp::Ordering;
use std::fmt;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};

use crate::error::ApiError;

/// The oldest API version served.
pub const MIN_API_VERSION: ApiVersion = ApiVersion::new(1, 12);
/// The newest API version served, and the default when a request has no prefix.
pub const MAX_API_VERSION: ApiVersion = ApiVersion::new(1, 56);
/// The newest Docker Engine release (29.7, API 1.55; moby's main branch speaks 1.56), reported
/// as our engine version with Berth's own version as build metadata.
pub const ENGINE_VERSION: &str = engine_version!();

macro_rules! engine_version {
    () => {
        concat!("29.7.2+berth.", env!("CARGO_PKG_VERSION"))
    };
}
use engine_version;

/// An API version compared segment by segment (`1.4` < `1.40`), like moby's
/// `versions.Compare`. Missing segments count as zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ApiVersion {
    segments: [u32; 3],
}

impl ApiVersion {
    pub const fn new(major: u32, minor: u32) -> Self {
        ApiVersion {
            segments: [major, minor, 0],
        }
    }

    /// Parses `[0-9.]+` text; a non-numeric or empty segment counts as 0, as in Go.
    pub fn parse(s: &str) -> Option<Self> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return None;
        }
        let mut segments = [0u32; 3];
        for (i, part) in s.split('.').take(3).enumerate() {
            segments[i] = part.parse().unwrap_or(0);
        }
        Some(ApiVersion { segments })
    }

    pub fn lt(self, major: u32, minor: u32) -> bool {
        self < ApiVersion::new(major, minor)
    }

    pub fn ge(self, major: u32, minor: u32) -> bool {
        !self.lt(major, minor)
    }
}

impl PartialOrd for ApiVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ApiVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.segments.cmp(&other.segments)
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c] = self.segments;
        if c == 0 {
            write!(f, "{a}.{b}")
        } else {
            write!(f, "{a}.{b}.{c}")
        }
    }
}

/// The version text found in the URL prefix, exactly as the client wrote it.
#[derive(Clone, Debug)]
struct UrlVersion(String);

/// Splits `/v1.41/containers/json` into `("1.41", "/containers/json")`.
fn split_prefix(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/v")?;
    let slash = rest.find('/')?;
    let (ver, tail) = rest.split_at(slash);
    ApiVersion::parse(ver)?;
    Some((ver, tail))
}

/// Outer layer: strips the version prefix so the router sees the bare path.
pub fn strip_version_prefix(mut req: Request) -> Request {
    let Some((ver, tail)) = split_prefix(req.uri().path()) else {
        return req;
    };
    let ver = ver.to_string();
    let new_path_and_query = match req.uri().query() {
        Some(q) => format!("{tail}?{q}"),
        None => tail.to_string(),
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(pq) = new_path_and_query.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req.extensions_mut().insert(UrlVersion(ver));
    req
}

/// Whether error bodies must be plain text (URL versions below 1.24, as moby does).
fn wants_plain_errors(url_version: Option<ApiVersion>) -> bool {
    url_version.is_some_and(|v| v.lt(1, 24))
}

/// Settings the header layer reports.
#[derive(Clone, Copy, Debug)]
pub struct DaemonFlags {
    pub experimental: bool,
}

/// Route layer: checks the range, puts the effective [`ApiVersion`] in the request's
/// extensions and sets the common headers.
pub async fn version_middleware(
    State(flags): State<DaemonFlags>,
    mut req: Request,
    next: Next,
) -> Response {
    let url_text = req.extensions().get::<UrlVersion>().map(|v| v.0.clone());
    let url_version = url_text.as_deref().and_then(ApiVersion::parse);
    let plain = wants_plain_errors(url_version);
    let version = url_version.unwrap_or(MAX_API_VERSION);

    let mut resp = match check_range(url_text.as_deref(), version) {
        Err(e) => e.into_response(),
        Ok(()) => {
            req.extensions_mut().insert(version);
            let mut resp = next.run(req).await;
            resp.headers_mut().insert(
                "Docker-Experimental",
                HeaderValue::from_static(if flags.experimental { "true" } else { "false" }),
            );
            resp
        }
    };
    if plain {
        resp = crate::error::to_plain_text(resp).await;
    }
    set_common_headers(&mut resp);
    resp
}

fn check_range(text: Option<&str>, version: ApiVersion) -> Result<(), ApiError> {
    let shown = text
        .map(str::to_string)
        .unwrap_or_else(|| version.to_string());
    if version < MIN_API_VERSION {
        return Err(ApiError::invalid(format!(
            "client version {shown} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        )));
    }
    if version > MAX_API_VERSION {
        return Err(ApiError::invalid(format!(
            "client version {shown} is too new. Maximum supported API version is {MAX_API_VERSION}"
        )));
    }
    Ok(())
}

pub fn set_common_headers(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(
        http::header::SERVER,
        HeaderValue::from_static(concat!("Docker/", engine_version!(), " (linux)")),
    );
    h.insert("Api-Version", HeaderValue::from_static(MAX_VERSION_TEXT));
    h.insert("Ostype", HeaderValue::from_static("linux"));
}

const MAX_VERSION_TEXT: &str = "1.56";

/// Per-route minimum version (moby's `WithMinimumAPIVersion`): below it the route answers
/// 400 `<METHOD> <route> requires minimum API version <v>` rather than 404, because 404
/// already means "no such object" to clients.
#[derive(Clone, Copy, Debug)]
pub struct RouteMinimum {
    pub version: ApiVersion,
    pub method: &'static str,
    pub route: &'static str,
}

pub async fn route_minimum(State(min): State<RouteMinimum>, req: Request, next: Next) -> Response {
    let version = req
        .extensions()
        .get::<ApiVersion>()
        .copied()
        .unwrap_or(MAX_API_VERSION);
    if version < min.version {
        return ApiError::invalid(format!(
            "{} {} requires minimum API version {}",
            min.method, min.route, min.version
        ))
        .into_response();
    }
    next.run(req).await
}

/// `OPTIONS` on any path: a bare 200 with the common headers (moby registers it as a route).
pub async fn options_any(State(flags): State<DaemonFlags>, req: Request, next: Next) -> Response {
    if req.method() != http::Method::OPTIONS {
        return next.run(req).await;
    }
    let url_text = req.extensions().get::<UrlVersion>().map(|v| v.0.clone());
    let version = url_text
        .as_deref()
        .and_then(ApiVersion::parse)
        .unwrap_or(MAX_API_VERSION);
    let mut resp = match check_range(url_text.as_deref(), version) {
        Err(e) => e.into_response(),
        Ok(()) => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::OK;
            r.headers_mut().insert(
                "Docker-Experimental",
                HeaderValue::from_static(if flags.experimental { "true" } else { "false" }),
            );
            r
        }
    };
    set_common_headers(&mut resp);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_segments_numerically() {
        let v = |s| ApiVersion::parse(s).unwrap();
        assert!(v("1.4") < v("1.40"));
        assert!(v("1.9") < v("1.10"));
        assert_eq!(v("1.40"), v("1.40.0"));
        assert!(v("2") > v("1.99"));
        assert!(ApiVersion::parse("1.x").is_none());
        assert!(ApiVersion::parse("").is_none());
    }

    #[test]
    fn max_version_text_matches_constant() {
        assert_eq!(MAX_VERSION_TEXT, MAX_API_VERSION.to_string());
        assert!(ENGINE_VERSION.starts_with("29.7.2+berth."));
    }

    #[test]
    fn prefix_is_split_only_when_followed_by_a_path() {
        assert_eq!(split_prefix("/v1.41/info"), Some(("1.41", "/info")));
        assert_eq!(split_prefix("/v1.41"), None);
        assert_eq!(split_prefix("/version"), None);
        assert_eq!(split_prefix("/vx/info"), None);
    }

    #[test]
    fn range_messages_are_moby_texts() {
        let e = check_range(Some("1.11"), ApiVersion::new(1, 11)).unwrap_err();
        assert_eq!(
            e.message,
            "client version 1.11 is too old. Minimum supported API version is 1.12, please upgrade your client to a newer version"
        );
        let e = check_range(Some("9.99"), ApiVersion::new(9, 99)).unwrap_err();
        assert_eq!(
            e.message,
            "client version 9.99 is too new. Maximum supported API version is 1.56"
        );
        assert!(check_range(Some("1.12"), ApiVersion::new(1, 12)).is_ok());
        assert!(check_range(Some("1.56"), ApiVersion::new(1, 56)).is_ok());
    }

    #[test]
    fn plain_errors_below_1_24() {
        assert!(wants_plain_errors(ApiVersion::parse("1.23")));
        assert!(!wants_plain_errors(ApiVersion::parse("1.24")));
        assert!(!wants_plain_errors(None));
    }
}
