//! `PUT /v1/event/fire/<name>` and `GET /v1/event/list`: user events kept in the store
//! (the newest 256, so they survive a restart), listed oldest first, with Consul's blocking
//! list (an `index` equal to the newest event's waits for the next event, up to `wait`).

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use shoal_catalog::{decode, encode};
use shoal_store::{CmpOp, Compare, Op, OpResponse, Revision, Txn};

use crate::blocking::{headers, with_jitter};
use crate::error::{ConsulError, Result};
use crate::event_model::{event_key, evicted, list_index, ltime_of, new_event, Filters, UserEvent};
use crate::query::Endpoint;
use crate::state::{new_uuid, ConsulState, EVENT_PREFIX};

const MAX_ATTEMPTS: usize = 32;

/// Every stored event, oldest first, and the revision read at.
async fn read(st: &ConsulState) -> Result<(Vec<(String, UserEvent)>, Revision)> {
    let resp = st
        .store
        .txn(Txn::new().and_then([Op::range(EVENT_PREFIX)]))
        .await?;
    let kvs = match resp.responses.into_iter().next() {
        Some(OpResponse::Range(kvs)) => kvs,
        _ => Vec::new(),
    };
    let events = kvs
        .into_iter()
        .filter_map(|kv| {
            decode::<UserEvent>(&kv.key, &kv.value)
                .ok()
                .map(|e| (kv.key, e))
        })
        .collect();
    Ok((events, resp.revision))
}

// `relay-factor` (the Go client's WriteOptions): gossip relays, none on one node.
const FIRE: Endpoint = Endpoint::plain(
    "PUT /v1/event/fire/<name>",
    &["node", "service", "tag", "relay-factor"],
);
// Consul's list reads `node`, `service` and `tag` too (filters on the answer); Shoal
// keeps only `name`: a filter it would not apply is refused, not ignored.
const LIST: Endpoint = Endpoint::blocking("GET /v1/event/list", &["name"]);

pub async fn fire(
    State(st): State<Arc<ConsulState>>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let body = body?;
    let p = FIRE.params(q.as_deref())?;
    let get = |k: &str| p.get(k).unwrap_or_default().to_string();
    let filters = Filters {
        node: get("node"),
        service: get("service"),
        tag: get("tag"),
    };
    for _ in 0..MAX_ATTEMPTS {
        let (events, _) = read(st.as_ref()).await?;
        let keys: Vec<String> = events.into_iter().map(|(k, _)| k).collect();
        let ltime = keys.last().and_then(|k| ltime_of(k)).unwrap_or(0) + 1;
        let event = new_event(&name, &body, filters.clone(), ltime, new_uuid())?;
        let key = event_key(ltime);
        let mut ops = vec![Op::put(key.clone(), encode(&event))];
        ops.extend(evicted(&keys).iter().map(|k| Op::delete(k.clone())));
        let txn = Txn::new()
            .when([Compare::version(key, CmpOp::Equal, 0)])
            .and_then(ops);
        if st.store.txn(txn).await?.succeeded {
            tracing::info!(event = %event.name, id = %event.id, ltime, "consul user event fired");
            return Ok(Json(event).into_response());
        }
    }
    Err(ConsulError::Conflict(
        "events kept being fired concurrently; retry".into(),
    ))
}

/// The events named `name` (all without one), oldest first.
fn named(events: Vec<(String, UserEvent)>, name: Option<&str>) -> Vec<UserEvent> {
    events
        .into_iter()
        .map(|(_, e)| e)
        .filter(|e| name.is_none_or(|n| n.is_empty() || e.name == n))
        .collect()
}

pub async fn list(State(st): State<Arc<ConsulState>>, RawQuery(q): RawQuery) -> Result<Response> {
    let p = LIST.params(q.as_deref())?;
    let wait = p.blocking()?.wait;
    let want = p.u64("index")?.filter(|i| *i > 0);
    let name = p.get("name");
    let (events, revision) = read(st.as_ref()).await?;
    let mut events = named(events, name);
    if want.is_some_and(|w| w == list_index(&events)) {
        // Consul's index is not monotonic: only an equal one means "nothing new yet".
        let deadline = tokio::time::Instant::now() + with_jitter(wait);
        let mut watch = st.store.watch(EVENT_PREFIX, revision + 1).await?;
        while want == Some(list_index(&events)) {
            tokio::select! {
                b = watch.next() => if b.is_none() { break },
                _ = tokio::time::sleep_until(deadline) => break,
            }
            events = named(read(st.as_ref()).await?.0, name);
        }
    }
    let mut h = headers(1);
    if let Ok(v) = HeaderValue::from_str(&list_index(&events).to_string()) {
        h.insert("x-consul-index", v);
    }
    Ok((h, Json(events)).into_response())
}

#[cfg(test)]
mod tests {
    use shoal_store::EmbeddedStore;

    use super::*;
    use crate::event_model::uuid_index;

    async fn state() -> Arc<ConsulState> {
        let store: Arc<dyn shoal_store::Store> = match EmbeddedStore::open_in_memory().await {
            Ok(s) => s,
            Err(e) => panic!("in-memory store: {e}"),
        };
        let addr = "127.0.0.1:8500".parse().unwrap_or_else(|e| panic!("{e}"));
        Arc::new(ConsulState::new(store, "me", addr))
    }

    async fn fire_one(st: &Arc<ConsulState>, name: &str, payload: &str) -> UserEvent {
        let r = fire(
            State(st.clone()),
            Path(name.to_string()),
            RawQuery(Some("service=web".into())),
            Ok(Bytes::from(payload.to_string())),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let body = axum::body::to_bytes(r.into_body(), 1 << 16)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{e}"))
    }

    async fn list_of(st: &Arc<ConsulState>, q: &str) -> (u64, Vec<UserEvent>) {
        let r = list(State(st.clone()), RawQuery(Some(q.to_string())))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let index = r.headers()["x-consul-index"]
            .to_str()
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = axum::body::to_bytes(r.into_body(), 1 << 20)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        (
            index,
            serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{e}")),
        )
    }

    #[tokio::test]
    async fn events_are_listed_in_order_and_a_blocking_list_wakes_on_the_next() {
        let st = state().await;
        assert_eq!(list_of(&st, "").await, (1, vec![]));
        let a = fire_one(&st, "deploy", "v1").await;
        assert_eq!((a.ltime, a.service_filter.as_str()), (1, "web"));
        fire_one(&st, "other", "").await;
        let (index, events) = list_of(&st, "name=deploy").await;
        assert_eq!((index, events), (uuid_index(&a.id), vec![a.clone()]));
        // Nothing new: the wait runs out and the same list comes back.
        let q = format!("name=deploy&index={index}&wait=50ms");
        assert_eq!(list_of(&st, &q).await.1.len(), 1);
        // A blocked list answers with the next event (fired before or after it blocks).
        let q = format!("name=deploy&index={index}&wait=30s");
        let waiting = tokio::spawn({
            let st = st.clone();
            async move { list_of(&st, &q).await }
        });
        let b = fire_one(&st, "deploy", "v2").await;
        let (index, events) = waiting.await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(index, uuid_index(&b.id));
        assert_eq!(events, vec![a, b]);
    }
}
