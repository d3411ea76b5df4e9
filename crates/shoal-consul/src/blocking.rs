//! Blocking queries: the pure decisions (answer now, ignore a change, re-read) and the loop
//! that waits on a store watch until a change affects the query's result or `wait` runs out.
//!
//! The index is the store revision. A query with `index = N` watches its keys from `N + 1`:
//! a relevant change already in history (made after `N`, before the read) answers at once;
//! a later one re-reads and answers only if the result differs (unrelated writes under the
//! same prefix do not wake the client).

use std::future::Future;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use rand::Rng;
use shoal_store::{Revision, Store, WatchBatch};

use crate::error::Result;
use crate::params::Blocking;

/// Which keys a query reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Exactly this key.
    Key(String),
    /// Every key under these prefixes.
    Prefixes(Vec<String>),
}

impl Scope {
    /// Every key under one prefix.
    pub fn prefix(p: impl Into<String>) -> Self {
        Scope::Prefixes(vec![p.into()])
    }

    /// The one prefix to watch: the key itself or the prefixes' longest common prefix.
    pub fn watch_prefix(&self) -> String {
        match self {
            Scope::Key(k) => k.clone(),
            Scope::Prefixes(ps) => {
                let Some(first) = ps.first() else {
                    return String::new();
                };
                let mut len = first.len();
                for p in &ps[1..] {
                    len = len.min(p.len());
                    len = first
                        .bytes()
                        .zip(p.bytes())
                        .take(len)
                        .take_while(|(a, b)| a == b)
                        .count();
                }
                while !first.is_char_boundary(len) {
                    len -= 1;
                }
                first[..len].to_string()
            }
        }
    }

    /// Whether a change to `key` can affect the query.
    pub fn matches(&self, key: &str) -> bool {
        match self {
            Scope::Key(k) => k == key,
            Scope::Prefixes(ps) => ps.iter().any(|p| key.starts_with(p.as_str())),
        }
    }
}

/// How a blocking query starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Answer with the current data.
    Now,
    /// Watch from `index + 1`.
    Watch { from: Revision },
}

/// No index (or 0) answers at once; so does an index ahead of the store (a client that saw
/// another store, Consul's "index went backwards" case: it resets and re-reads).
pub fn start(index: Option<Revision>, current: Revision) -> Start {
    match index {
        Some(i) if i > 0 && i <= current => Start::Watch { from: i + 1 },
        _ => Start::Now,
    }
}

/// What one watched batch means for a query whose result was read at `read_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnBatch {
    /// Nothing the query reads changed.
    Ignore,
    /// A relevant change the read already includes: the client's data is stale, answer.
    Answer,
    /// A relevant change after the read: re-read and answer if the result differs.
    Reread,
}

pub fn on_batch(batch: &WatchBatch, scope: &Scope, read_at: Revision) -> OnBatch {
    if !batch.events.iter().any(|e| scope.matches(&e.kv.key)) {
        OnBatch::Ignore
    } else if batch.revision <= read_at {
        OnBatch::Answer
    } else {
        OnBatch::Reread
    }
}

/// `wait` plus Consul's jitter of up to `wait / 16`.
pub fn with_jitter(wait: Duration) -> Duration {
    let max = (wait / 16).as_millis() as u64;
    let extra = if max == 0 {
        0
    } else {
        rand::rng().random_range(0..=max)
    };
    wait + Duration::from_millis(extra)
}

/// Runs `read` (which returns a result and the revision it saw) as a blocking query.
pub async fn run<T, F, Fut>(
    store: &dyn Store,
    blocking: Blocking,
    scope: &Scope,
    mut read: F,
) -> Result<(T, Revision)>
where
    T: PartialEq,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(T, Revision)>>,
{
    let current = store.revision().await?;
    let Start::Watch { from } = start(blocking.index, current) else {
        return read().await;
    };
    let mut watcher = match store.watch(&scope.watch_prefix(), from).await {
        Ok(w) => w,
        // Compacted history: the client's view is too old to compare; answer now.
        Err(_) => return read().await,
    };
    let (mut value, mut read_at) = read().await?;
    let deadline = tokio::time::Instant::now() + with_jitter(blocking.wait);
    loop {
        let batch = tokio::select! {
            b = watcher.next() => b,
            _ = tokio::time::sleep_until(deadline) => return read().await,
        };
        let Some(Ok(batch)) = batch else {
            return read().await;
        };
        match on_batch(&batch, scope, read_at) {
            OnBatch::Ignore => {}
            OnBatch::Answer => return Ok((value, read_at.max(batch.revision))),
            OnBatch::Reread => {
                let (again, at) = read().await?;
                if again != value {
                    return Ok((again, at));
                }
                value = again;
                read_at = at;
            }
        }
    }
}

/// The headers of every read: `X-Consul-Index` (never below 1), known leader, last contact.
pub fn headers(index: Revision) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&index.max(1).to_string()) {
        h.insert("x-consul-index", v);
    }
    h.insert("x-consul-knownleader", HeaderValue::from_static("true"));
    h.insert("x-consul-lastcontact", HeaderValue::from_static("0"));
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_store::{Event, EventKind, KeyValue};

    fn batch(rev: Revision, keys: &[&str]) -> WatchBatch {
        WatchBatch {
            revision: rev,
            events: keys
                .iter()
                .map(|k| Event {
                    kind: EventKind::Put,
                    kv: KeyValue {
                        key: k.to_string(),
                        value: vec![],
                        create_revision: rev,
                        mod_revision: rev,
                        version: 1,
                        lease: 0,
                    },
                    prev: None,
                })
                .collect(),
        }
    }

    #[test]
    fn start_rules() {
        assert_eq!(start(None, 10), Start::Now);
        assert_eq!(start(Some(0), 10), Start::Now);
        assert_eq!(start(Some(11), 10), Start::Now);
        assert_eq!(start(Some(10), 10), Start::Watch { from: 11 });
        assert_eq!(start(Some(3), 10), Start::Watch { from: 4 });
    }

    #[test]
    fn batches_are_judged_by_scope_and_read_revision() {
        let key = Scope::Key("kv/a".into());
        assert_eq!(on_batch(&batch(5, &["kv/ab"]), &key, 4), OnBatch::Ignore);
        assert_eq!(on_batch(&batch(5, &["kv/a"]), &key, 7), OnBatch::Answer);
        assert_eq!(on_batch(&batch(8, &["kv/a"]), &key, 7), OnBatch::Reread);
        let many = Scope::Prefixes(vec!["shoal/catalog/".into(), "shoal/consul/checks/".into()]);
        assert_eq!(many.watch_prefix(), "shoal/c");
        assert!(many.matches("shoal/consul/checks/x"));
        assert!(!many.matches("shoal/consul/sessions/x"));
        assert_eq!(Scope::prefix("kv/").watch_prefix(), "kv/");
    }

    #[test]
    fn jitter_is_bounded() {
        let w = Duration::from_secs(16);
        for _ in 0..100 {
            let j = with_jitter(w);
            assert!(j >= w && j <= w + Duration::from_secs(1));
        }
        assert_eq!(headers(0)["x-consul-index"], "1");
    }
}
