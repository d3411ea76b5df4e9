//! Consul user events, the pure side: the event record, the size limit, the ring of the
//! newest 256, and Consul's event index (the newest event's UUID folded to 64 bits: not a
//! store revision, and not monotonic, so a blocking list waits while the index is *equal*).

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::{ConsulError, Result};
use crate::state::EVENT_PREFIX;

/// Events kept (Consul's agent buffer of recent events).
pub const MAX_EVENTS: usize = 256;
/// Largest name + payload (Serf's default `UserEventSizeLimit`, which Consul keeps).
pub const SIZE_LIMIT: usize = 512;
/// Consul's `userEventVersion`.
pub const VERSION: u32 = 1;

/// One user event, stored and answered in Consul's JSON shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEvent {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Name")]
    pub name: String,
    /// Base64 (Go's encoding of `[]byte`); `null` when empty.
    #[serde(rename = "Payload")]
    pub payload: Option<String>,
    #[serde(rename = "NodeFilter")]
    pub node_filter: String,
    #[serde(rename = "ServiceFilter")]
    pub service_filter: String,
    #[serde(rename = "TagFilter")]
    pub tag_filter: String,
    #[serde(rename = "Version")]
    pub version: u32,
    #[serde(rename = "LTime")]
    pub ltime: u64,
}

/// The filters a fire records (`?node=`, `?service=`, `?tag=`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub node: String,
    pub service: String,
    pub tag: String,
}

/// The store key of the event with Lamport time `ltime`: keys sort by time.
pub fn event_key(ltime: u64) -> String {
    format!("{EVENT_PREFIX}{ltime:020}")
}

/// The Lamport time in an event key.
pub fn ltime_of(key: &str) -> Option<u64> {
    key.strip_prefix(EVENT_PREFIX)?.parse().ok()
}

/// A new event, or why it cannot be fired.
pub fn new_event(
    name: &str,
    payload: &[u8],
    filters: Filters,
    ltime: u64,
    id: String,
) -> Result<UserEvent> {
    if name.is_empty() {
        return Err(ConsulError::bad("Missing name"));
    }
    if !filters.tag.is_empty() && filters.service.is_empty() {
        return Err(ConsulError::bad(
            "cannot provide tag filter without service filter",
        ));
    }
    let size = name.len() + payload.len();
    if size > SIZE_LIMIT {
        return Err(ConsulError::bad(format!(
            "user event exceeds configured limit of {SIZE_LIMIT} bytes before encoding \
             ({size} bytes of name and payload)"
        )));
    }
    Ok(UserEvent {
        id,
        name: name.to_string(),
        payload: (!payload.is_empty())
            .then(|| base64::engine::general_purpose::STANDARD.encode(payload)),
        node_filter: filters.node,
        service_filter: filters.service,
        tag_filter: filters.tag,
        version: VERSION,
        ltime,
    })
}

/// The keys to delete so that, with one more event, at most [`MAX_EVENTS`] stay
/// (`keys` sorted oldest first).
pub fn evicted(keys: &[String]) -> &[String] {
    let keep = MAX_EVENTS - 1;
    &keys[..keys.len().saturating_sub(keep)]
}

/// Consul's `uuidToUint64`: the UUID's two 64-bit halves XORed.
pub fn uuid_index(uuid: &str) -> u64 {
    let hex: String = uuid.chars().filter(|c| *c != '-').collect();
    let half = |s: Option<&str>| s.and_then(|h| u64::from_str_radix(h, 16).ok()).unwrap_or(0);
    half(hex.get(0..16)) ^ half(hex.get(16..32))
}

/// The index of a list: the newest event's (1 when there is none, so watches do not spin).
pub fn list_index(events: &[UserEvent]) -> u64 {
    events.last().map_or(1, |e| uuid_index(&e.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ltime: u64) -> UserEvent {
        new_event(
            "deploy",
            b"",
            Filters::default(),
            ltime,
            crate::state::new_uuid(),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_index_is_consuls_uuid_fold() {
        // The halves b54fe1107af5cafc and d1fbafc8ba432b1c, XORed.
        assert_eq!(
            uuid_index("b54fe110-7af5-cafc-d1fb-afc8ba432b1c"),
            0xb54f_e110_7af5_cafc ^ 0xd1fb_afc8_ba43_2b1c
        );
        assert_eq!(list_index(&[]), 1);
        let (a, b) = (ev(1), ev(2));
        assert_eq!(list_index(&[a, b.clone()]), uuid_index(&b.id));
    }

    #[test]
    fn events_are_shaped_and_limited_like_consuls() {
        let e = new_event(
            "deploy",
            b"v42",
            Filters {
                service: "web".into(),
                tag: "blue".into(),
                ..Filters::default()
            },
            7,
            "id".into(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let json = serde_json::to_value(&e).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"ID": "id", "Name": "deploy", "Payload": "djQy", "NodeFilter": "",
                "ServiceFilter": "web", "TagFilter": "blue", "Version": 1, "LTime": 7})
        );
        assert_eq!(ev(1).payload, None);
        let big = vec![b'x'; SIZE_LIMIT];
        assert!(new_event("d", &big, Filters::default(), 1, "i".into()).is_err());
        assert!(new_event("", b"", Filters::default(), 1, "i".into()).is_err());
        let tag_only = Filters {
            tag: "t".into(),
            ..Filters::default()
        };
        assert!(new_event("d", b"", tag_only, 1, "i".into()).is_err());
    }

    #[test]
    fn the_ring_keeps_the_newest() {
        let keys: Vec<String> = (1..=300).map(event_key).collect();
        let gone = evicted(&keys);
        assert_eq!(gone.len(), 300 - (MAX_EVENTS - 1));
        assert_eq!(gone.last().and_then(|k| ltime_of(k)), Some(45));
        assert!(evicted(&keys[..10]).is_empty());
        assert_eq!(event_key(12), "shoal/consul/events/00000000000000000012");
    }
}
