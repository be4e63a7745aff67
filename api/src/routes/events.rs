//! `GET /events`: past events (with `since`), then live ones until `until` or the client
//! goes away, one JSON object per line, each line flushed as its own chunk.

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::response::Response;
use berth_engine::events::{Event, FILTER_TERMS};
use berth_engine::filters::Filters;
use futures_util::StreamExt as _;

use super::AppState;
use crate::compat::events::legacy_fields_before_1_52;
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::stream::{framing, until_shutdown};
use crate::types::events::{EventActor, EventMessage};
use crate::version::ApiVersion;

/// Parses moby's `seconds[.nanoseconds]` timestamps into nanoseconds since the epoch.
fn parse_timestamp(name: &str, value: &str) -> Result<i128, ApiError> {
    let bad = || ApiError::invalid(format!("invalid value for {name}: {value}"));
    let (secs, nanos) = match value.split_once('.') {
        Some((s, n)) => (s, n),
        None => (value, ""),
    };
    let secs: i128 = secs.parse().map_err(|_| bad())?;
    let nanos: i128 = if nanos.is_empty() {
        0
    } else {
        if nanos.len() > 9 || !nanos.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        format!("{nanos:0<9}").parse().map_err(|_| bad())?
    };
    Ok(secs * 1_000_000_000 + nanos)
}

pub fn to_message(ev: &Event, version: ApiVersion) -> EventMessage {
    let mut msg = EventMessage {
        status: None,
        id: None,
        from: None,
        kind: ev.kind.clone(),
        action: ev.action.clone(),
        actor: EventActor {
            id: ev.actor_id.clone(),
            attributes: ev.attributes.clone(),
        },
        scope: ev.scope.clone(),
        time: (ev.time_nano / 1_000_000_000) as i64,
        time_nano: ev.time_nano as i64,
    };
    legacy_fields_before_1_52(&mut msg, version);
    msg
}

fn line(ev: &Event, version: ApiVersion, content_type: &str) -> Bytes {
    let json = serde_json::to_vec(&to_message(ev, version)).unwrap_or_default();
    Bytes::from(framing::record(content_type, &json))
}

/// `application/jsonl` from 1.52 (`application/json` before, though it never was one JSON
/// document), unless the client names one of the JSON stream types in `Accept`.
fn content_type(headers: &http::HeaderMap, version: ApiVersion) -> &'static str {
    framing::match_accept_strict(headers, &framing::JSON_STREAM_TYPES).unwrap_or(
        if version.lt(1, 52) {
            "application/json"
        } else {
            framing::JSON_LINES
        },
    )
}

#[utoipa::path(get, path = "/events", tag = "System",
    params(("since" = Option<String>, Query), ("until" = Option<String>, Query), ("filters" = Option<String>, Query)),
    responses((status = 200, body = EventMessage, content_type = "application/json")))]
pub async fn events(
    State(s): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    headers: http::HeaderMap,
    q: QueryParams,
) -> Result<Response, ApiError> {
    let content_type = content_type(&headers, version);
    let (since, until) = window(&q)?;
    let filters: Filters = q.filters()?;
    filters.validate(FILTER_TERMS)?;
    let events = s.engine.events().follow(since, until, filters);
    let lines = tokio_stream::wrappers::ReceiverStream::new(events)
        .map(move |ev| line(&ev, version, content_type));
    Ok(until_shutdown(lines, s.shutdown.clone(), content_type))
}

/// `since` and `until` in unix nanoseconds; `since` may not come after `until`.
fn window(q: &QueryParams) -> Result<(Option<i128>, Option<i128>), ApiError> {
    let time = |name: &str| {
        q.get(name)
            .filter(|v| !v.is_empty())
            .map(|v| parse_timestamp(name, v))
            .transpose()
    };
    let (since, until) = (time("since")?, time("until")?);
    if let (Some(a), Some(b)) = (since, until)
        && a > b
    {
        return Err(ApiError::invalid(format!(
            "`since` time ({}) cannot be after `until` time ({})",
            q.get("since").unwrap_or_default(),
            q.get("until").unwrap_or_default()
        )));
    }
    Ok((since, until))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_seconds_and_nanos() {
        assert_eq!(parse_timestamp("since", "5").unwrap(), 5_000_000_000);
        assert_eq!(parse_timestamp("since", "5.5").unwrap(), 5_500_000_000);
        assert_eq!(
            parse_timestamp("since", "5.000000001").unwrap(),
            5_000_000_001
        );
        assert!(parse_timestamp("since", "x").is_err());
        assert!(parse_timestamp("since", "1.x").is_err());
    }
}
