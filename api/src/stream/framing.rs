//! How a stream of JSON records is framed for the client: `application/jsonl` and
//! `application/x-ndjson` (one record a line, like the old `application/json` streams) or
//! `application/json-seq` (RFC 7464: each record after an ASCII record separator). The
//! client picks one with `Accept`; only media types it names exactly count, as in moby's
//! `MatchAcceptStrict`.

use http::HeaderMap;

pub const JSON_LINES: &str = "application/jsonl";
pub const NDJSON: &str = "application/x-ndjson";
pub const JSON_SEQUENCE: &str = "application/json-seq";

/// The framings a JSON stream offers, in moby's order of preference on equal weight.
pub const JSON_STREAM_TYPES: [&str; 3] = [JSON_LINES, NDJSON, JSON_SEQUENCE];

/// The offer the `Accept` headers name with the highest weight (earlier offers win ties);
/// wildcards and `q=0` never match.
pub fn match_accept_strict(headers: &HeaderMap, offers: &[&'static str]) -> Option<&'static str> {
    let mut best: Option<(&'static str, f64)> = None;
    let specs: Vec<(String, f64)> = headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|spec| {
            let mut parts = spec.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .map_or(1.0, |(_, v)| v.trim().parse::<f64>().unwrap_or(0.0));
            (media, q)
        })
        .collect();
    for offer in offers {
        for (media, q) in &specs {
            if *q <= 0.0 || media != offer {
                continue;
            }
            if best.is_none_or(|(_, best_q)| *q > best_q) {
                best = Some((offer, *q));
            }
        }
    }
    best.map(|(offer, _)| offer)
}

/// One record framed for `content_type`.
pub fn record(content_type: &str, json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() + 2);
    if content_type == JSON_SEQUENCE {
        out.push(0x1E);
    }
    out.extend_from_slice(json);
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(http::header::ACCEPT, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_named_types_match_and_weight_decides() {
        let offers = &JSON_STREAM_TYPES;
        assert_eq!(match_accept_strict(&accept(&[]), offers), None);
        assert_eq!(match_accept_strict(&accept(&["*/*"]), offers), None);
        assert_eq!(
            match_accept_strict(&accept(&["application/*"]), offers),
            None
        );
        assert_eq!(
            match_accept_strict(&accept(&["application/json-seq"]), offers),
            Some(JSON_SEQUENCE)
        );
        // What moby's own client sends.
        assert_eq!(
            match_accept_strict(
                &accept(&[
                    "application/jsonl",
                    "application/x-ndjson;q=0.9",
                    "application/json-seq;q=0.5"
                ]),
                offers
            ),
            Some(JSON_LINES)
        );
        assert_eq!(
            match_accept_strict(
                &accept(&["application/jsonl;q=0.2, application/json-seq;q=0.8"]),
                offers
            ),
            Some(JSON_SEQUENCE)
        );
        assert_eq!(
            match_accept_strict(&accept(&["application/x-ndjson;q=0"]), offers),
            None
        );
        // Equal weights: the earlier offer wins.
        assert_eq!(
            match_accept_strict(
                &accept(&["application/json-seq, application/x-ndjson"]),
                offers
            ),
            Some(NDJSON)
        );
    }

    #[test]
    fn json_seq_records_start_with_a_record_separator() {
        assert_eq!(record(JSON_SEQUENCE, b"{}"), b"\x1e{}\n");
        assert_eq!(record(JSON_LINES, b"{}"), b"{}\n");
    }
}
