//! Spans as an OTLP/HTTP JSON `ExportTraceServiceRequest`: one `resourceSpans` entry
//! per service (`service.name`), ids in hex, times in unix nanoseconds as strings.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::span::Span;

/// `SPAN_KIND_SERVER`: every span is the proxy answering a request.
const KIND_SERVER: u8 = 2;
/// `STATUS_CODE_ERROR`.
const STATUS_ERROR: u8 = 2;

fn string_attr(key: &str, value: &str) -> Value {
    json!({ "key": key, "value": { "stringValue": value } })
}

fn int_attr(key: &str, value: u64) -> Value {
    json!({ "key": key, "value": { "intValue": value.to_string() } })
}

fn encode_span(s: &Span) -> Value {
    let mut attributes = vec![
        string_attr("http.method", &s.method),
        int_attr("http.status_code", u64::from(s.status)),
        string_attr("http.target", &s.path),
        string_attr("shoal.caller", &s.caller),
        string_attr("shoal.version", &s.version),
    ];
    if let Some(i) = &s.instance {
        attributes.push(string_attr("shoal.instance", i));
    }
    attributes.push(int_attr("shoal.retries", u64::from(s.retries)));
    if let Some(r) = &s.reason {
        attributes.push(string_attr("shoal.reason", r));
    }
    if let Some(f) = &s.flags {
        attributes.push(string_attr("shoal.flags", f));
    }
    let status = if s.is_error() {
        let message = match &s.reason {
            Some(r) => format!("{} {r}", s.status),
            None => s.status.to_string(),
        };
        json!({ "code": STATUS_ERROR, "message": message })
    } else {
        json!({})
    };
    let mut span = json!({
        "traceId": s.trace_id,
        "spanId": s.span_id,
        "name": s.name(),
        "kind": KIND_SERVER,
        "startTimeUnixNano": (u128::from(s.start_us) * 1000).to_string(),
        "endTimeUnixNano": (u128::from(s.end_us()) * 1000).to_string(),
        "attributes": attributes,
        "status": status,
    });
    if let Some(p) = s.parent_span_id.as_deref().filter(|p| crate::is_span_id(p)) {
        span["parentSpanId"] = json!(p);
    }
    span
}

/// The request body for `POST /v1/traces`.
pub fn encode<'a>(spans: impl IntoIterator<Item = &'a Span>) -> Value {
    let mut by_service: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for s in spans {
        by_service
            .entry(s.service.as_str())
            .or_default()
            .push(encode_span(s));
    }
    let resource_spans: Vec<Value> = by_service
        .into_iter()
        .map(|(service, spans)| {
            json!({
                "resource": { "attributes": [string_attr("service.name", service)] },
                "scopeSpans": [{
                    "scope": { "name": "shoal", "version": env!("CARGO_PKG_VERSION") },
                    "spans": spans,
                }],
            })
        })
        .collect();
    json!({ "resourceSpans": resource_spans })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::test_span;

    const T: &str = "0af7651916cd43dd8448eb211c80319c";

    #[test]
    fn spans_are_grouped_by_service() {
        let a = test_span(
            T,
            "b7ad6b7169203331",
            Some("00f067aa0ba902b7"),
            1_000,
            2_500,
        );
        let mut b = test_span(T, "c7ad6b7169203331", Some("b7ad6b7169203331"), 1_500, 500);
        b.service = "db".into();
        b.status = 503;
        b.reason = Some("shed".into());
        b.instance = None;
        let v = encode([&a, &b]);
        let rs = v["resourceSpans"].as_array().expect("resourceSpans");
        assert_eq!(rs.len(), 2);
        assert_eq!(rs[0]["resource"]["attributes"][0]["key"], "service.name");
        assert_eq!(
            rs[0]["resource"]["attributes"][0]["value"]["stringValue"],
            "db"
        );
        let db = &rs[0]["scopeSpans"][0]["spans"][0];
        assert_eq!(db["status"]["code"], 2);
        assert_eq!(db["status"]["message"], "503 shed");
        assert_eq!(db["parentSpanId"], "b7ad6b7169203331");
        let web = &rs[1]["scopeSpans"][0]["spans"][0];
        assert_eq!(web["traceId"], T);
        assert_eq!(web["spanId"], "b7ad6b7169203331");
        assert_eq!(web["name"], "GET /");
        assert_eq!(web["kind"], 2);
        assert_eq!(web["startTimeUnixNano"], "1000000");
        assert_eq!(web["endTimeUnixNano"], "3500000");
        assert_eq!(web["status"], json!({}));
        let attrs = web["attributes"].as_array().expect("attributes");
        let keys: Vec<&str> = attrs.iter().filter_map(|a| a["key"].as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "http.method",
                "http.status_code",
                "http.target",
                "shoal.caller",
                "shoal.version",
                "shoal.instance",
                "shoal.retries"
            ]
        );
        assert_eq!(attrs[1]["value"]["intValue"], "200");
    }

    #[test]
    fn a_missing_or_malformed_parent_is_left_out() {
        let a = test_span(T, "b7ad6b7169203331", None, 1, 1);
        let b = test_span(T, "c7ad6b7169203331", Some("nothex"), 1, 1);
        let v = encode([&a, &b]);
        for s in v["resourceSpans"][0]["scopeSpans"][0]["spans"]
            .as_array()
            .expect("spans")
        {
            assert!(s.get("parentSpanId").is_none(), "{s}");
        }
    }
}
