//! What every node publishes under one prefix (`<prefix><node>`, rewritten each period),
//! as a leader last read it: each node's record and whether it is stale. Staleness is
//! judged by the reader's clock (the record's revision did not move for a while), so no
//! two machines' clocks are ever compared.

use std::collections::HashMap;
use std::time::Duration;

use serde::de::DeserializeOwned;
use shoal_store::KeyValue;
use tokio::time::Instant;

/// Where each node's proxy numbers are (`shoal/numbers/<node>`, canary judgement).
pub const NUMBERS_PREFIX: &str = "shoal/numbers/";
/// Where each node's autoscaler signals are (`shoal/scale-signals/<node>`).
pub const SIGNALS_PREFIX: &str = "shoal/scale-signals/";

/// `node`'s proxy numbers.
pub fn numbers_key(node: &str) -> String {
    format!("{NUMBERS_PREFIX}{node}")
}

/// `node`'s autoscaler signals.
pub fn signals_key(node: &str) -> String {
    format!("{SIGNALS_PREFIX}{node}")
}

/// One node's last record and since when (reader's clock) it has been at that revision.
#[derive(Debug, Clone)]
struct Seen<T> {
    revision: i64,
    since: Instant,
    record: T,
}

/// Every node's record under `prefix`, as last read.
#[derive(Debug)]
pub struct Published<T> {
    prefix: &'static str,
    stale_after: Duration,
    seen: HashMap<String, Seen<T>>,
}

impl<T: DeserializeOwned> Published<T> {
    /// Records under `prefix`, stale once not rewritten for `stale_after`.
    pub fn new(prefix: &'static str, stale_after: Duration) -> Self {
        Self {
            prefix,
            stale_after,
            seen: HashMap::new(),
        }
    }

    /// Takes the records read under the prefix at `now`: one rewritten since the last
    /// read is fresh from `now`; one gone is forgotten; one that does not decode keeps
    /// what was read before it (and is left out if there was nothing).
    pub fn update(&mut self, kvs: &[KeyValue], now: Instant) {
        let mut next = HashMap::with_capacity(kvs.len());
        for kv in kvs {
            let Some(node) = kv.key.strip_prefix(self.prefix) else {
                continue;
            };
            let before = self.seen.remove(node);
            let seen = match (before, serde_json::from_slice::<T>(&kv.value)) {
                (Some(b), _) if b.revision == kv.mod_revision => b,
                (_, Ok(record)) => Seen {
                    revision: kv.mod_revision,
                    since: now,
                    record,
                },
                (Some(b), Err(e)) => {
                    tracing::warn!(key = %kv.key, error = %e, "a node's record does not decode; keeping its last");
                    b
                }
                (None, Err(e)) => {
                    tracing::warn!(key = %kv.key, error = %e, "a node's record does not decode");
                    continue;
                }
            };
            next.insert(node.to_owned(), seen);
        }
        self.seen = next;
    }

    /// Whether `node` has a record here.
    pub fn has(&self, node: &str) -> bool {
        self.seen.contains_key(node)
    }

    /// Every node's record, and whether it is stale at `now`, by node name.
    pub fn records(&self, now: Instant) -> impl Iterator<Item = (&str, &T, bool)> {
        self.seen.iter().map(move |(node, s)| {
            let stale = now.saturating_duration_since(s.since) > self.stale_after;
            (node.as_str(), &s.record, stale)
        })
    }

    /// Forgets every record (a reader that stops leading).
    pub fn clear(&mut self) {
        self.seen.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(node: &str, revision: i64, value: &str) -> KeyValue {
        KeyValue {
            key: format!("p/{node}"),
            value: value.as_bytes().to_vec(),
            create_revision: 1,
            mod_revision: revision,
            version: 1,
            lease: 0,
        }
    }

    fn stale_of(p: &Published<u32>, now: Instant) -> Vec<(String, u32, bool)> {
        let mut out: Vec<_> = p
            .records(now)
            .map(|(n, v, s)| (n.to_owned(), *v, s))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn a_record_not_rewritten_goes_stale_by_the_reader_s_clock() {
        let t0 = Instant::now();
        let mut p = Published::<u32>::new("p/", Duration::from_secs(5));
        p.update(&[kv("a", 5, "1"), kv("b", 6, "2")], t0);
        let later = t0 + Duration::from_secs(6);
        p.update(&[kv("a", 9, "3"), kv("b", 6, "2")], later);
        assert_eq!(
            stale_of(&p, later),
            [("a".into(), 3, false), ("b".into(), 2, true)]
        );
        // b rewritten: fresh again.
        p.update(&[kv("a", 9, "3"), kv("b", 10, "4")], later);
        assert_eq!(stale_of(&p, later)[1], ("b".into(), 4, false));
    }

    #[test]
    fn a_record_gone_is_forgotten_and_a_damaged_one_keeps_the_last() {
        let t0 = Instant::now();
        let mut p = Published::<u32>::new("p/", Duration::from_secs(5));
        p.update(&[kv("a", 5, "1"), kv("b", 6, "2")], t0);
        p.update(&[kv("a", 8, "{not a number"), kv("c", 9, "oops")], t0);
        assert!(p.has("a") && !p.has("b") && !p.has("c"));
        assert_eq!(stale_of(&p, t0), [("a".into(), 1, false)]);
        p.clear();
        assert!(!p.has("a"));
    }
}
