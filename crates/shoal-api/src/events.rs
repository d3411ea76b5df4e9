//! The event stream over HTTP: `/api/v1/events` (query) and `/api/v1/events/stream` (SSE tail).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::Json;
use futures::{Stream, StreamExt};
use serde::Deserialize;
use shoal_events::{Event, EventQuery, Kind};
use tokio_stream::wrappers::BroadcastStream;

use crate::error::ApiError;
use crate::state::ApiState;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    pub service: Option<String>,
    pub kind: Option<Kind>,
    /// Only events with a larger sequence number (resume a tail).
    pub after: Option<u64>,
    pub limit: Option<usize>,
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

type Params = Result<Query<EventParams>, axum::extract::rejection::QueryRejection>;

fn params(p: Params) -> Result<EventParams, ApiError> {
    p.map(|Query(p)| p)
        .map_err(|e| ApiError::bad_request("bad query string").detail(e.body_text()))
}

pub async fn query(
    State(st): State<Arc<ApiState>>,
    p: Params,
) -> Result<Json<Vec<Event>>, ApiError> {
    Ok(Json(st.events.query(&to_query(params(p)?))))
}

/// Replays events after `after` (if given), then follows live ones, in order, without gaps or repeats.
pub async fn stream(
    State(st): State<Arc<ApiState>>,
    p: Params,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let p = params(p)?;
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
