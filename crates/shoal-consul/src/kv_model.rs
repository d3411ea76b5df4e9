//! The pure rules of a KV write (Consul's `cas`, `acquire`, `release`), the metadata kept
//! beside each value, the JSON entry shape and the `keys` + `separator` listing.

use base64::Engine;
use serde::{Deserialize, Serialize};

/// Per-key metadata stored at `shoal/kvmeta/<key>` (absent = all defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvMeta {
    #[serde(default)]
    pub flags: u64,
    #[serde(default)]
    pub lock_index: u64,
    /// The session holding the lock, empty when unlocked.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub session: String,
}

impl KvMeta {
    pub fn is_default(&self) -> bool {
        *self == KvMeta::default()
    }
}

/// A key as it is now: its value key's mod revision (Consul's ModifyIndex) and metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    pub modify_index: i64,
    pub meta: KvMeta,
}

/// The kind of a PUT; Consul lets `release` win over `acquire`, and both over `cas`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteKind {
    Set,
    /// Only if the ModifyIndex matches (0 = only if the key does not exist).
    Cas(u64),
    Acquire(String),
    Release(String),
}

/// The outcome of planning a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Answer `false`, change nothing.
    Refuse,
    /// `acquire` names a session that does not exist.
    InvalidSession,
    /// Write the value with this metadata.
    Write(KvMeta),
}

/// Decides a PUT given the key's current state and whether the named session exists.
pub fn plan_put(
    existing: Option<&Existing>,
    kind: &WriteKind,
    flags: u64,
    session_exists: bool,
) -> Plan {
    let prev = existing.map(|e| e.meta.clone()).unwrap_or_default();
    match kind {
        WriteKind::Set => Plan::Write(KvMeta { flags, ..prev }),
        WriteKind::Cas(index) => {
            let matches = match existing {
                None => *index == 0,
                Some(e) => *index != 0 && e.modify_index == *index as i64,
            };
            if matches {
                Plan::Write(KvMeta { flags, ..prev })
            } else {
                Plan::Refuse
            }
        }
        WriteKind::Acquire(session) => {
            if !session_exists {
                return Plan::InvalidSession;
            }
            if !prev.session.is_empty() && prev.session != *session {
                return Plan::Refuse;
            }
            let lock_index = if prev.session == *session {
                prev.lock_index
            } else {
                prev.lock_index + 1
            };
            Plan::Write(KvMeta {
                flags,
                lock_index,
                session: session.clone(),
            })
        }
        WriteKind::Release(session) => match existing {
            Some(e) if e.meta.session == *session && !session.is_empty() => Plan::Write(KvMeta {
                flags,
                lock_index: e.meta.lock_index,
                session: String::new(),
            }),
            _ => Plan::Refuse,
        },
    }
}

/// Decides a DELETE with `cas`: a missing key is `true` (nothing to do), a matching
/// ModifyIndex deletes, anything else (including `cas=0` on an existing key) is `false`.
pub fn plan_delete_cas(existing: Option<&Existing>, index: u64) -> (bool, bool) {
    match existing {
        None => (true, false),
        Some(e) if index != 0 && e.modify_index == index as i64 => (true, true),
        Some(_) => (false, false),
    }
}

/// One KV entry as Consul returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KvEntry {
    #[serde(rename = "LockIndex")]
    pub lock_index: u64,
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Flags")]
    pub flags: u64,
    /// Base64 of the value; `null` when the value is empty.
    #[serde(rename = "Value")]
    pub value: Option<String>,
    #[serde(rename = "Session", skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    #[serde(rename = "CreateIndex")]
    pub create_index: i64,
    #[serde(rename = "ModifyIndex")]
    pub modify_index: i64,
    /// The raw value (for `?raw`), not serialised.
    #[serde(skip)]
    pub raw: Vec<u8>,
}

impl KvEntry {
    pub fn new(key: String, raw: Vec<u8>, meta: KvMeta, create: i64, modify: i64) -> Self {
        KvEntry {
            lock_index: meta.lock_index,
            key,
            flags: meta.flags,
            value: (!raw.is_empty())
                .then(|| base64::engine::general_purpose::STANDARD.encode(&raw)),
            session: (!meta.session.is_empty()).then_some(meta.session),
            create_index: create,
            modify_index: modify,
            raw,
        }
    }
}

/// `?keys&separator=S` under `prefix`: each key cut after the first `S` past the prefix,
/// duplicates removed. `keys` must be sorted.
pub fn list_keys<'a>(
    keys: impl IntoIterator<Item = &'a str>,
    prefix: &str,
    sep: Option<&str>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for k in keys {
        let Some(rest) = k.strip_prefix(prefix) else {
            continue;
        };
        let shown = match sep
            .filter(|s| !s.is_empty())
            .and_then(|s| rest.find(s).map(|i| i + s.len()))
        {
            Some(end) => &k[..prefix.len() + end],
            None => k,
        };
        if out.last().map(String::as_str) != Some(shown) {
            out.push(shown.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(session: &str, lock_index: u64, modify_index: i64) -> Existing {
        Existing {
            modify_index,
            meta: KvMeta {
                flags: 0,
                lock_index,
                session: session.into(),
            },
        }
    }

    #[test]
    fn cas_rules() {
        assert!(matches!(
            plan_put(None, &WriteKind::Cas(0), 0, false),
            Plan::Write(_)
        ));
        assert_eq!(
            plan_put(Some(&held("", 0, 5)), &WriteKind::Cas(0), 0, false),
            Plan::Refuse
        );
        assert!(
            matches!(plan_put(Some(&held("", 0, 5)), &WriteKind::Cas(5), 3, false), Plan::Write(m) if m.flags == 3)
        );
        assert_eq!(
            plan_put(Some(&held("", 0, 5)), &WriteKind::Cas(4), 0, false),
            Plan::Refuse
        );
        assert_eq!(plan_put(None, &WriteKind::Cas(4), 0, false), Plan::Refuse);
        assert_eq!(plan_delete_cas(None, 3), (true, false));
        assert_eq!(plan_delete_cas(Some(&held("", 0, 3)), 3), (true, true));
        assert_eq!(plan_delete_cas(Some(&held("", 0, 3)), 0), (false, false));
    }

    #[test]
    fn lock_rules() {
        let acquire = |s: &str| WriteKind::Acquire(s.into());
        let release = |s: &str| WriteKind::Release(s.into());
        assert_eq!(
            plan_put(None, &acquire("a"), 0, false),
            Plan::InvalidSession
        );
        let first = plan_put(None, &acquire("a"), 0, true);
        assert_eq!(
            first,
            Plan::Write(KvMeta {
                flags: 0,
                lock_index: 1,
                session: "a".into()
            })
        );
        // Re-acquiring by the holder keeps the lock index; another session is refused.
        assert!(
            matches!(plan_put(Some(&held("a", 1, 9)), &acquire("a"), 0, true), Plan::Write(m) if m.lock_index == 1)
        );
        assert_eq!(
            plan_put(Some(&held("a", 1, 9)), &acquire("b"), 0, true),
            Plan::Refuse
        );
        // Release only by the holder; it keeps the lock index.
        assert_eq!(
            plan_put(Some(&held("a", 1, 9)), &release("b"), 0, true),
            Plan::Refuse
        );
        assert_eq!(plan_put(None, &release("a"), 0, true), Plan::Refuse);
        assert_eq!(
            plan_put(Some(&held("a", 1, 9)), &release("a"), 0, true),
            Plan::Write(KvMeta {
                flags: 0,
                lock_index: 1,
                session: String::new()
            })
        );
        // A new acquisition after a release increments the lock index.
        assert!(
            matches!(plan_put(Some(&held("", 1, 10)), &acquire("b"), 0, true), Plan::Write(m) if m.lock_index == 2)
        );
        // A plain set keeps the lock.
        assert!(
            matches!(plan_put(Some(&held("a", 1, 9)), &WriteKind::Set, 7, true), Plan::Write(m) if m.session == "a" && m.flags == 7)
        );
    }

    #[test]
    fn entries_and_keys() {
        let e = KvEntry::new("a".into(), vec![], KvMeta::default(), 2, 3);
        let v = serde_json::to_value(&e).ok();
        assert_eq!(
            v,
            Some(
                serde_json::json!({"LockIndex": 0, "Key": "a", "Flags": 0, "Value": null, "CreateIndex": 2, "ModifyIndex": 3})
            )
        );
        let keys = ["foo/a", "foo/b-x", "foo/b/c", "foo/b/d", "foo/c"];
        assert_eq!(
            list_keys(keys, "foo/", Some("/")),
            vec!["foo/a", "foo/b-x", "foo/b/", "foo/c"]
        );
        assert_eq!(list_keys(keys, "foo/b", None).len(), 3);
        assert_eq!(list_keys(keys, "", Some("/")), vec!["foo/"]);
    }
}
