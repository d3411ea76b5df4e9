//! The event stream over HTTP: `/api/v1/events` (query) and `/api/v1/events/stream` (SSE tail).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::Json;
use futures::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use shoal_events::{Event, EventQuery, Kind};
use tokio_stream::wrappers::BroadcastStream;

use crate::error::ApiError;
use crate::openapi::{array, error, ok, query_param, schema_ref, sse_event, string, uint};
use crate::query::Params;
use crate::state::ApiState;
use crate::{fanout, fanout_merge};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    pub service: Option<String>,
    pub kind: Option<Kind>,
    /// Only events with a larger sequence number (resume a tail).
    pub after: Option<u64>,
    pub limit: Option<usize>,
    /// Cluster mode: this node's events only (see `fanout`).
    #[serde(default)]
    pub local: bool,
}

fn to_query(p: EventParams) -> EventQuery {
    EventQuery {
        service: p.service,
        kind: p.kind,
        after_seq: p.after,
        since_ms: None,
        limit: p.limit.unwrap_or(1000).min(50_000),
    }
}

/// The events that match, oldest first. In cluster mode (unless `local` or `after`, whose
/// sequence number is one node's) every node's, each with its `node`: the leader's
/// decisions are events on the leader's node. `X-Shoal-Nodes` says which nodes answered.
pub async fn query(
    State(st): State<Arc<ApiState>>,
    asked: HeaderMap,
    RawQuery(raw): RawQuery,
    Params(p): Params<EventParams>,
) -> (HeaderMap, Json<Value>) {
    let one_node = p.local || p.after.is_some();
    let q = to_query(p);
    let mine = st.events.query(&q);
    let alone = |events: Vec<Event>| (HeaderMap::new(), Json(json!(events)));
    if one_node {
        return alone(mine);
    }
    let Some(others) = fanout::gather(&st, "/api/v1/events", raw.as_deref(), &asked).await else {
        return alone(mine);
    };
    let (answers, report) = others.decode::<Vec<Event>>(false);
    let per_node = std::iter::once((st.node.clone(), mine))
        .chain(answers.into_iter().filter_map(|(n, e)| Some((n, e?))))
        .collect();
    let merged = fanout_merge::events(per_node, q.limit);
    (fanout::headers(&report), Json(json!(merged)))
}

/// Replays events after `after` (if given), then follows live ones, in order, without gaps or repeats.
pub async fn stream(
    State(st): State<Arc<ApiState>>,
    Params(p): Params<EventParams>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let replay = p.after.is_some();
    let q = to_query(p);
    // Subscribe before reading the backlog so nothing falls between the two.
    let live = BroadcastStream::new(st.events.subscribe());
    let backlog = if replay {
        st.events.query(&EventQuery {
            limit: 0,
            ..q.clone()
        })
    } else {
        Vec::new()
    };
    let mut last = backlog.last().map(|e| e.seq).or(q.after_seq).unwrap_or(0);
    let to_sse = |e: &Event| {
        SseEvent::default()
            .json_data(e)
            .unwrap_or_else(|_| SseEvent::default())
    };
    let head: Vec<Result<SseEvent, Infallible>> = backlog.iter().map(|e| Ok(to_sse(e))).collect();
    let tail = live.filter_map(move |item| {
        let out = match item {
            Ok(e) if e.seq > last && q.matches(&e) => {
                last = e.seq;
                Some(Ok(to_sse(&e)))
            }
            Ok(_) => None,
            Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => {
                Some(Ok(SseEvent::default().event("lagged").data(n.to_string())))
            }
        };
        futures::future::ready(out)
    });
    Ok(Sse::new(futures::stream::iter(head).chain(tail))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Every event kind, as the API names them (`Kind`'s serde names; a test holds them equal).
pub const KINDS: [&str; 15] = [
    "instance_started",
    "instance_exited",
    "instance_stopped",
    "start_failed",
    "health_changed",
    "restart",
    "scaled",
    "rollout",
    "config_waiting",
    "platform",
    "circuit_changed",
    "instance_ejected",
    "deployment",
    "flag",
    "chaos",
];

/// The OpenAPI paths of this file's endpoints.
pub fn openapi_paths() -> Value {
    let service = query_param("service", string(), "only this service");
    let after = query_param(
        "after",
        uint(u64::MAX),
        "only events with a larger sequence number",
    );
    json!({
        "/api/v1/events": { "get": { "summary": "The event stream, oldest first", "parameters": [
                service.clone(), query_param("kind", json!({ "enum": KINDS }), "only this kind"), after.clone(),
                query_param("limit", uint(u64::MAX), "most recent N (default 1000, at most 50000; 0: every kept one)"),
                fanout::openapi_local()],
            "responses": { "200": fanout::openapi_with_header(ok("events", array(schema_ref("Event")))),
                "400": error("bad query string") } } },
        "/api/v1/events/stream": { "get": { "summary": "Live events as server-sent events (`data:` one Event as JSON; event `lagged` with the number skipped when the reader fell behind); with `after`, replays from there first",
            "parameters": [service, query_param("kind", json!({ "enum": KINDS }), "only this kind"), after,
                query_param("limit", uint(u64::MAX), "ignored by the stream")],
            "responses": { "200": { "description": "event stream", "content": { "text/event-stream": { "schema": sse_event(
                    schema_ref("Event"), &[("lagged", crate::openapi::pattern("^[0-9]+$"))]) } } },
                "400": error("bad query string") } } }
    })
}

/// The OpenAPI schemas of this file's answers.
pub fn openapi_schemas() -> Value {
    json!({
        "Event": { "type": "object", "required": ["seq", "time_ms", "kind", "service", "message"], "additionalProperties": false, "properties": {
            "seq": uint(u64::MAX), "time_ms": uint(u64::MAX), "kind": { "enum": KINDS },
            "service": { "type": "string", "description": "\"\" for the platform's own events" },
            "instance": string(), "message": string(),
            "node": { "type": "string", "description": "cluster mode, a gathered answer: the node that said it" },
            "fields": { "description": "structured details (exit code, old/new health, counts...)" } } }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_kinds_are_the_kinds() {
        for k in KINDS {
            let kind: Result<Kind, _> = serde_json::from_value(json!(k));
            assert_eq!(kind.map(Kind::as_str).ok(), Some(k));
        }
        // serde names every variant when it refuses one.
        let refused = serde_json::from_value::<Kind>(json!(""))
            .err()
            .map(|e| e.to_string());
        let listed = refused.unwrap_or_default();
        assert_eq!(listed.matches('`').count() / 2, KINDS.len() + 1, "{listed}");
    }
}
