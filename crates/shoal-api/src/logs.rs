//! Log queries (`/api/v1/logs`) and the live tail over server-sent events.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use shoal_logs::{LogLine, LogQuery};
use tokio_stream::wrappers::BroadcastStream;

use crate::error::ApiError;
use crate::fanout;
use crate::fanout_merge::{self, NodeLine, NodesReport};
use crate::openapi::{
    array, error, object, ok, opt_uint, query_param, schema_ref, sse_event, string, uint,
};
use crate::since::SINCE_PATTERN;
use crate::state::ApiState;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LogParams {
    pub service: Option<String>,
    pub instance: Option<String>,
    /// A duration back from now (`5m`, `1h`) or unix milliseconds.
    pub since: Option<String>,
    pub grep: Option<String>,
    /// Only lines carrying this W3C trace id (32 hex digits), across services.
    pub trace: Option<String>,
    /// Only structured lines with these field values: `KEY=VALUE` (e.g.
    /// `level=error`); repeat `field` for several, each must match.
    #[serde(default)]
    pub field: Vec<String>,
    pub limit: Option<usize>,
    pub after: Option<u64>,
    /// This node's lines only (cluster mode; what a node asks the others).
    #[serde(default)]
    pub local: bool,
}

const DEFAULT_LIMIT: usize = 1000;
const MAX_LIMIT: usize = 100_000;

fn parse_field(f: &str) -> Result<(String, String), ApiError> {
    match f.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(ApiError::bad_request(
            "`field` must be KEY=VALUE, e.g. field=level=error",
        )),
    }
}

fn parse_trace(t: &str) -> Result<String, ApiError> {
    if shoal_logs::is_trace_id(t) {
        Ok(t.to_ascii_lowercase())
    } else {
        Err(ApiError::bad_request(
            "`trace` must be a W3C trace id: 32 hex digits, not all zero",
        ))
    }
}

fn to_query(p: &LogParams) -> Result<LogQuery, ApiError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Ok(LogQuery {
        service: p.service.clone(),
        instance: p.instance.clone(),
        since_ms: p
            .since
            .as_deref()
            .map(|s| crate::since::parse_since(s, now))
            .transpose()?,
        after_seq: p.after,
        grep: p.grep.clone(),
        trace: p.trace.as_deref().map(parse_trace).transpose()?,
        fields: p
            .field
            .iter()
            .map(|f| parse_field(f))
            .collect::<Result<_, _>>()?,
        limit: p.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT),
    })
}

/// What the log store holds and what it is allowed to hold.
pub async fn stats(State(st): State<Arc<ApiState>>) -> Json<serde_json::Value> {
    let limits = st.logs.limits();
    Json(serde_json::json!({
        "stats": st.logs.stats(),
        "limits": {
            "max_bytes": limits.max_bytes,
            "max_age_s": limits.max_age.as_secs(),
            "max_line_bytes": limits.max_line_bytes,
        },
    }))
}

/// The query string as [`LogParams`]; `field` may come more than once (a
/// plain query extractor refuses a repeated key).
fn params(raw: Option<&str>) -> Result<LogParams, ApiError> {
    let (fields, rest): (Vec<_>, Vec<_>) = crate::query::pairs(raw)?
        .into_iter()
        .partition(|(k, _)| k == "field");
    let mut p: LogParams = crate::query::from_pairs(&rest)?;
    p.field = fields.into_iter().map(|(_, v)| v).collect();
    Ok(p)
}

/// Lines matching the query. With `after`, an answer that resumes across a
/// crash of a previous run (numbers it may have given to lines that never
/// reached the disk) says so in `X-Shoal-Logs-Lost: FROM-UNTIL` (UNTIL not
/// included).
///
/// In cluster mode the other nodes' lines are gathered too (see `fanout.rs`), each line
/// with its `node`, and `X-Shoal-Nodes` says which nodes answered; not with `after`
/// (sequence numbers are each node's own) nor `local=true`.
pub async fn query(
    State(st): State<Arc<ApiState>>,
    asked: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let p = params(raw.as_deref())?;
    let q = to_query(&p)?;
    let mut headers = HeaderMap::new();
    if let Some(r) = lost_after(&st, q.after_seq) {
        if let Ok(v) = HeaderValue::from_str(&format!("{}-{}", r.start, r.end)) {
            headers.insert(LOST_HEADER, v);
        }
    }
    if p.local || q.after_seq.is_some() {
        return Ok((headers, Json(blocking_query(&st, q).await?)).into_response());
    }
    match gathered(&st, q, raw.as_deref(), &asked).await? {
        Gathered::Local(lines) => Ok((headers, Json(lines)).into_response()),
        Gathered::Nodes(lines, report) => {
            if let Some(v) = fanout::header_value(&report) {
                headers.insert(fanout::NODES_HEADER, v);
            }
            Ok((headers, Json(lines)).into_response())
        }
    }
}

/// Lines from this node alone (`shoal up`), or from every node that answered.
pub(crate) enum Gathered {
    Local(Vec<LogLine>),
    Nodes(Vec<NodeLine>, NodesReport),
}

/// `q` answered here and, in cluster mode, by every other node asked with `raw_query`.
pub(crate) async fn gathered(
    st: &ApiState,
    q: LogQuery,
    raw_query: Option<&str>,
    asked: &HeaderMap,
) -> Result<Gathered, ApiError> {
    let limit = q.limit;
    let (here, others) = tokio::join!(
        blocking_query(st, q),
        fanout::gather(st, "/api/v1/logs", raw_query, asked)
    );
    let here = here?;
    let Some(others) = others else {
        return Ok(Gathered::Local(here));
    };
    let (answers, report) = others.decode::<Vec<LogLine>>(false);
    let per_node = std::iter::once((st.node.clone(), here))
        .chain(answers.into_iter().map(|(n, l)| (n, l.unwrap_or_default())))
        .collect();
    Ok(Gathered::Nodes(fanout_merge::logs(per_node, limit), report))
}

/// The header naming the numbers a resumed reader may have missed.
pub const LOST_HEADER: &str = "x-shoal-logs-lost";

/// The part of the numbers lost in a previous run's crash that a reader
/// resuming after `after` would have read, if any.
fn lost_after(st: &ApiState, after: Option<u64>) -> Option<std::ops::Range<u64>> {
    let after = after?;
    let lost = st.logs.lost()?;
    let from = lost.start.max(after.saturating_add(1));
    (from < lost.end).then_some(from..lost.end)
}

/// `q` answered off the async threads: it may read the disk log.
pub(crate) async fn blocking_query(st: &ApiState, q: LogQuery) -> Result<Vec<LogLine>, ApiError> {
    let logs = st.logs.clone();
    crate::error::blocking(move || logs.query(&q)).await
}

/// Live tail: every new line matching the filters, as one SSE `data:` JSON
/// event each; with `after`, the kept lines after that sequence number first,
/// so a client that read a backlog misses nothing and sees nothing twice
/// (and, resuming across a crash of a previous run, a `lost` event first).
/// A tail that falls behind gets a `lagged` event with the number skipped.
pub async fn stream(
    State(st): State<Arc<ApiState>>,
    RawQuery(raw): RawQuery,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let p = params(raw.as_deref())?;
    let replay = p.after.is_some();
    let q = to_query(&p)?;
    // Subscribe before reading the backlog so nothing falls between the two.
    let rx = st.logs.subscribe();
    let backlog = if replay {
        blocking_query(
            &st,
            LogQuery {
                limit: 0,
                ..q.clone()
            },
        )
        .await?
    } else {
        Vec::new()
    };
    let mut last = backlog.last().map(|l| l.seq).or(q.after_seq).unwrap_or(0);
    let to_event = |l: &LogLine| {
        Event::default()
            .json_data(l)
            .unwrap_or_else(|_| Event::default())
    };
    // Resumed across a crash: say which numbers may be missing, before the
    // lines after them (event `lost`, data `{"from":N,"until":M}`).
    let lost = lost_after(&st, q.after_seq).map(|r| {
        let data = serde_json::json!({ "from": r.start, "until": r.end });
        Ok(Event::default().event("lost").data(data.to_string()))
    });
    let head: Vec<Result<Event, Infallible>> = lost
        .into_iter()
        .chain(backlog.iter().map(|l| Ok(to_event(l))))
        .collect();
    let lines = BroadcastStream::new(rx).filter_map(move |item| {
        let out = match item {
            Ok(line) if line.seq > last && q.matches(&line) => {
                last = line.seq;
                Some(Ok(to_event(&line)))
            }
            Ok(_) => None,
            // The subscriber fell behind the live stream: say so instead of silently skipping.
            Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => {
                Some(Ok(Event::default().event("lagged").data(n.to_string())))
            }
        };
        futures::future::ready(out)
    });
    Ok(Sse::new(futures::stream::iter(head).chain(lines))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// A W3C trace id: 32 hex digits, not all zero (`shoal_logs::is_trace_id`).
pub const TRACE_ID_PATTERN: &str = "^(?!0{32}$)[0-9a-fA-F]{32}$";

/// The OpenAPI paths of this file's endpoints.
pub fn openapi_paths() -> Value {
    let params = json!([
        query_param("service", string(), "only this service"),
        query_param("instance", string(), "only this instance"),
        query_param("since", crate::openapi::pattern(SINCE_PATTERN), "a duration back from now (5m, 1h30m) or unix milliseconds"),
        query_param("grep", string(), "substring the line must contain"),
        query_param("trace", crate::openapi::pattern(TRACE_ID_PATTERN), "only lines carrying this W3C trace id, across services"),
        { "name": "field", "in": "query", "required": false, "style": "form", "explode": true,
            "schema": array(crate::openapi::pattern("^[^=]+=")),
            "description": "KEY=VALUE: only JSON lines whose field KEY is VALUE (level=error); repeat for several, each must match" },
        query_param("limit", uint(u64::MAX), "most recent N lines (default 1000, at most 100000; 0: every kept one)"),
        query_param("after", uint(u64::MAX), "only lines with a larger sequence number (a node's own numbers: in cluster mode this node's lines only)"),
        crate::fanout::openapi_local(),
    ]);
    let bad = error("bad query string: an unknown parameter, a bad `since`, `trace` or `field`");
    json!({
        "/api/v1/logs": { "get": { "summary": "Search the central log (in cluster mode every node's, each line with its `node`)", "parameters": params.clone(),
            "responses": { "200": { "description": "lines, oldest first",
                    "headers": { "X-Shoal-Nodes": crate::fanout::openapi_header()["X-Shoal-Nodes"], "X-Shoal-Logs-Lost": { "schema": crate::openapi::pattern("^[0-9]+-[0-9]+$"),
                        "description": "with `after`, resuming across a crash of a previous run: FROM-UNTIL, the numbers that may be missing (UNTIL not included)" } },
                    "content": { "application/json": { "schema": array(schema_ref("LogLine")) } } },
                "400": bad.clone() } } },
        "/api/v1/logs/stats": { "get": { "summary": "What the log store holds and its limits",
            "responses": { "200": ok("stats and limits", object(&["stats", "limits"], json!({
                "stats": object(&["lines", "bytes", "oldest_ms", "dropped", "traces", "disk_bytes", "disk_dropped"], json!({
                    "lines": uint(u64::MAX), "bytes": uint(u64::MAX), "oldest_ms": opt_uint(), "dropped": uint(u64::MAX),
                    "traces": uint(u64::MAX), "disk_bytes": uint(u64::MAX), "disk_dropped": uint(u64::MAX) })),
                "limits": object(&["max_bytes", "max_age_s", "max_line_bytes"], json!({
                    "max_bytes": uint(u64::MAX), "max_age_s": uint(u64::MAX), "max_line_bytes": uint(u64::MAX) })) }))) } } },
        "/api/v1/logs/stream": { "get": { "summary": "Live tail as server-sent events (`data:` one LogLine as JSON; event `lagged` with the number skipped, event `lost` when resuming across a crash); with `after`, the kept lines after it first",
            "parameters": params,
            "responses": { "200": { "description": "event stream", "content": { "text/event-stream": { "schema": sse_event(
                    schema_ref("LogLine"), &[
                        ("lagged", crate::openapi::pattern("^[0-9]+$")),
                        ("lost", json!({ "type": "string", "contentMediaType": "application/json",
                            "contentSchema": object(&["from", "until"], json!({ "from": uint(u64::MAX), "until": uint(u64::MAX) })) }))]) } } },
                "400": bad } } }
    })
}

/// The OpenAPI schemas of this file's answers.
pub fn openapi_schemas() -> Value {
    json!({
        "LogLine": { "type": "object", "required": ["seq", "time_ms", "service", "version", "instance", "stream", "line"],
            "additionalProperties": false, "properties": {
            "seq": uint(u64::MAX), "time_ms": uint(u64::MAX), "service": string(),
            "version": string(), "instance": string(),
            "stream": { "enum": ["stdout", "stderr", "system"] }, "line": string(),
            "trace_id": { "type": "string", "description": "the W3C trace id the line carries, when it has one" },
            "fields": { "type": "object", "description": "a JSON object line, as its fields" } } }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_may_repeat_and_every_one_is_kept() {
        let p = params(Some(
            "field=kind%3Daccess&service=web&field=status=503&limit=5",
        ))
        .expect("params");
        assert_eq!(p.field, ["kind=access", "status=503"]);
        assert_eq!((p.service.as_deref(), p.limit), (Some("web"), Some(5)));
        let q = to_query(&p).expect("query");
        assert_eq!(
            q.fields,
            [
                ("kind".into(), "access".into()),
                ("status".into(), "503".into())
            ]
        );
        assert!(params(Some("limit=x")).is_err());
        assert!(params(Some("nope=1")).is_err());
        assert!(to_query(&params(Some("field=novalue")).expect("params")).is_err());
        assert!(params(None).is_ok_and(|p| p.field.is_empty()));
        assert!(params(Some("token=t&limit=1")).is_ok_and(|p| p.limit == Some(1)));
    }
}
