//! The event stream: one ordered, bounded record of what happened to the fleet.
//!
//! Instance starts and exits (with exit status and the last stderr lines),
//! health changes, restarts, scaling and rollout steps, and later deployments
//! and breaker changes, each as one [`Event`] with a sequence number. Kept in
//! memory (the newest `capacity` events), queryable by service, kind and
//! sequence, with a live tail for subscribers; with [`EventLog::open`], also
//! on disk (`journal.rs`), read back at the next start.
#![forbid(unsafe_code)]

mod journal;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Mutex;

use journal::Journal;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// What kind of thing happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    InstanceStarted,
    InstanceExited,
    InstanceStopped,
    StartFailed,
    HealthChanged,
    Restart,
    Scaled,
    Rollout,
    ConfigWaiting,
    Platform,
    /// A service's circuit breaker changed state (closed, open, half-open).
    CircuitChanged,
    /// An instance was ejected from load balancing after consecutive failures, or came back.
    InstanceEjected,
    /// A deployment step: started, a canary step held or judged, switched, ended.
    Deployment,
    /// A feature flag was created, changed or deleted (by the file or the API).
    Flag,
    /// A chaos experiment started, ended, or killed an instance.
    Chaos,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::InstanceStarted => "instance_started",
            Kind::InstanceExited => "instance_exited",
            Kind::InstanceStopped => "instance_stopped",
            Kind::StartFailed => "start_failed",
            Kind::HealthChanged => "health_changed",
            Kind::Restart => "restart",
            Kind::Scaled => "scaled",
            Kind::Rollout => "rollout",
            Kind::ConfigWaiting => "config_waiting",
            Kind::Platform => "platform",
            Kind::CircuitChanged => "circuit_changed",
            Kind::InstanceEjected => "instance_ejected",
            Kind::Deployment => "deployment",
            Kind::Flag => "flag",
            Kind::Chaos => "chaos",
        }
    }
}

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub time_ms: u64,
    pub kind: Kind,
    pub service: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub instance: String,
    pub message: String,
    /// Structured details (exit code, old/new health, stderr tail, counts...).
    #[serde(skip_serializing_if = "serde_json::Value::is_null", default)]
    pub fields: serde_json::Value,
}

/// Which events a query wants.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub service: Option<String>,
    pub kind: Option<Kind>,
    pub after_seq: Option<u64>,
    pub since_ms: Option<u64>,
    /// Most recent N (0 = all kept).
    pub limit: usize,
}

impl EventQuery {
    pub fn matches(&self, e: &Event) -> bool {
        self.service.as_ref().is_none_or(|s| &e.service == s)
            && self.kind.is_none_or(|k| e.kind == k)
            && self.after_seq.is_none_or(|a| e.seq > a)
            && self.since_ms.is_none_or(|t| e.time_ms >= t)
    }
}

struct Inner {
    next_seq: u64,
    events: VecDeque<Event>,
    /// The file events are written to, when the log was opened on one.
    journal: Option<Journal>,
    /// Since when writing the journal fails (a full disk), and when it was last tried:
    /// events stay in memory, and the file is rewritten whole once writing works again.
    failing: Option<std::time::Instant>,
}

/// How often a failing journal is tried again.
const RETRY_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The bounded event log.
pub struct EventLog {
    capacity: usize,
    inner: Mutex<Inner>,
    tail: broadcast::Sender<Event>,
}

impl EventLog {
    pub fn new(capacity: usize) -> Self {
        let (tail, _) = broadcast::channel(1024);
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner {
                next_seq: 1,
                events: VecDeque::new(),
                journal: None,
                failing: None,
            }),
            tail,
        }
    }

    /// A log kept in the file at `path` too: the newest `capacity` events a
    /// previous run wrote there come back (numbering goes on after them), and
    /// each new event is written there before anyone can see it.
    pub fn open(path: &Path, capacity: usize) -> std::io::Result<Self> {
        let log = Self::new(capacity);
        let events = journal::read_back(path, log.capacity)?;
        let journal = Journal::open(path, events.iter(), log.capacity)?;
        {
            let mut inner = log.lock();
            inner.next_seq = events.last().map_or(1, |e| e.seq.saturating_add(1));
            inner.events = events.into();
            inner.journal = Some(journal);
        }
        Ok(log)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an event; returns its sequence number.
    pub fn emit(
        &self,
        kind: Kind,
        service: &str,
        instance: &str,
        message: impl Into<String>,
        fields: serde_json::Value,
    ) -> u64 {
        let mut inner = self.lock();
        let seq = inner.next_seq;
        inner.next_seq = seq.saturating_add(1);
        let event = Event {
            seq,
            time_ms: now_ms(),
            kind,
            service: service.to_string(),
            instance: instance.to_string(),
            message: message.into(),
            fields,
        };
        if inner.events.len() >= self.capacity {
            inner.events.pop_front();
        }
        inner.events.push_back(event.clone());
        let Inner {
            journal,
            events,
            failing,
            ..
        } = &mut *inner;
        if let Some(j) = journal {
            let written = match *failing {
                // Failing: the whole file again, at most once per RETRY_EVERY (a
                // torn last line and the events missed go with the rewrite).
                Some(last) if last.elapsed() < RETRY_EVERY => Err(None),
                Some(_) => j.compact(events.iter()).map_err(Some),
                None => j
                    .append(&event)
                    .and_then(|()| match j.full() {
                        true => j.compact(events.iter()),
                        false => Ok(()),
                    })
                    .map_err(Some),
            };
            match written {
                Ok(()) if failing.is_some() => {
                    tracing::info!("the event stream is written to disk again");
                    *failing = None;
                }
                Ok(()) => {}
                Err(e) => {
                    if let (Some(e), None) = (&e, &failing) {
                        tracing::warn!(error = %e, "cannot write the event stream to disk; it is kept in memory until writing works again");
                    }
                    if e.is_some() || failing.is_none() {
                        *failing = Some(std::time::Instant::now());
                    }
                }
            }
        }
        // Sent under the lock so subscribers see sequence order.
        let _ = self.tail.send(event);
        seq
    }

    /// Matching events, oldest first (the most recent `limit` when set).
    pub fn query(&self, q: &EventQuery) -> Vec<Event> {
        let inner = self.lock();
        let mut out: Vec<Event> = inner
            .events
            .iter()
            .filter(|e| q.matches(e))
            .cloned()
            .collect();
        if q.limit > 0 && out.len() > q.limit {
            out.drain(..out.len() - q.limit);
        }
        out
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tail.subscribe()
    }
}

/// Events kept by default (in memory, and on disk with [`EventLog::open`]).
pub const CAPACITY: usize = 50_000;

impl Default for EventLog {
    fn default() -> Self {
        Self::new(CAPACITY)
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;
    use std::io::Write;

    #[test]
    fn events_are_ordered_bounded_and_filtered() {
        let log = EventLog::new(3);
        let mut rx = log.subscribe();
        for i in 0..5 {
            let svc = if i % 2 == 0 { "a" } else { "b" };
            log.emit(
                Kind::Restart,
                svc,
                "i",
                format!("e{i}"),
                serde_json::Value::Null,
            );
        }
        let all = log.query(&EventQuery::default());
        assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3, 4, 5]);
        let a = log.query(&EventQuery {
            service: Some("a".into()),
            ..Default::default()
        });
        assert_eq!(
            a.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(),
            vec!["e2", "e4"]
        );
        let after = log.query(&EventQuery {
            after_seq: Some(4),
            ..Default::default()
        });
        assert_eq!(after.len(), 1);
        let last = log.query(&EventQuery {
            limit: 2,
            ..Default::default()
        });
        assert_eq!(last.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4, 5]);
        assert_eq!(rx.try_recv().map(|e| e.seq).ok(), Some(1));
        let restarts = log.query(&EventQuery {
            kind: Some(Kind::Restart),
            ..Default::default()
        });
        assert_eq!(restarts.len(), 3);
        assert!(log
            .query(&EventQuery {
                kind: Some(Kind::Scaled),
                ..Default::default()
            })
            .is_empty());
    }

    fn emit_n(log: &EventLog, from: u64, n: u64) {
        for i in from..from + n {
            log.emit(
                Kind::HealthChanged,
                "web",
                "web-1",
                format!("e{i}"),
                serde_json::json!({"i": i}),
            );
        }
    }

    fn messages(log: &EventLog) -> Vec<String> {
        log.query(&EventQuery::default())
            .into_iter()
            .map(|e| e.message)
            .collect()
    }

    /// Events written to the file come back at the next open, in order, with
    /// their numbers; numbering goes on after them; a torn last line (a
    /// crash mid-write) is skipped.
    #[test]
    fn events_survive_a_reopen_and_a_torn_last_line() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("events.jsonl");
        let log = EventLog::open(&path, 100).expect("open");
        emit_n(&log, 0, 5);
        let before = log.query(&EventQuery::default());
        drop(log);
        let mut f = OpenOptions::new().append(true).open(&path).expect("file");
        f.write_all(br#"{"seq":6,"time_ms":1,"kind":"resta"#)
            .expect("torn");
        drop(f);

        let again = EventLog::open(&path, 100).expect("reopen");
        assert_eq!(again.query(&EventQuery::default()), before);
        assert_eq!(
            again.emit(Kind::Restart, "web", "", "after", serde_json::Value::Null),
            6
        );
        drop(again);
        let third = EventLog::open(&path, 100).expect("reopen");
        assert_eq!(messages(&third), ["e0", "e1", "e2", "e3", "e4", "after"]);
        assert_eq!(third.query(&EventQuery::default())[0].fields["i"], 0);
    }

    /// The file holds at most about twice the kept events: it is rewritten
    /// to the kept ones when full; a reopen keeps the newest `capacity`.
    #[test]
    fn the_file_stays_bounded() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("events.jsonl");
        let log = EventLog::open(&path, 10).expect("open");
        emit_n(&log, 0, 95);
        let lines = std::fs::read_to_string(&path)
            .expect("read")
            .lines()
            .count();
        assert!((10..=20).contains(&lines), "{lines} lines");
        drop(log);
        let small = EventLog::open(&path, 3).expect("reopen smaller");
        assert_eq!(messages(&small), ["e92", "e93", "e94"]);
        assert_eq!(
            small.emit(Kind::Restart, "web", "", "next", serde_json::Value::Null),
            96
        );
        let missing = dir.path().join("none").join("events.jsonl");
        assert!(EventLog::open(&missing, 3).is_err(), "no such directory");
    }

    #[test]
    fn events_serialize_with_snake_case_kinds() {
        let log = EventLog::default();
        log.emit(
            Kind::InstanceExited,
            "web",
            "web-1",
            "exited",
            serde_json::json!({"code": 1}),
        );
        let text = serde_json::to_string(&log.query(&EventQuery::default())).unwrap_or_default();
        assert!(text.contains("\"kind\":\"instance_exited\""), "{text}");
        assert!(text.contains("\"code\":1"), "{text}");
    }
}
