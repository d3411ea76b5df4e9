//! `Errors`: the shared, locked book, and the loop that feeds it from events and logs.

use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::json;
use shoal_events::{Event, Kind};
use shoal_logs::{LogLine, Stream};
use tokio::sync::{broadcast, watch};

use crate::book::{Book, ErrorQuery, Group, Sample, Source};
use crate::cause;

/// Groups kept before the least recently seen is forgotten.
pub const DEFAULT_MAX_GROUPS: usize = 1000;

/// A 5xx answer the proxy gave, as its access-log hook sees it.
#[derive(Debug, Clone, Copy)]
pub struct HttpError<'a> {
    pub time_ms: u64,
    pub service: &'a str,
    pub version: &'a str,
    pub instance: Option<&'a str>,
    pub caller: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub reason: Option<&'a str>,
    pub trace_id: &'a str,
    pub duration_ms: f64,
}

/// The errors view, shared by the proxy hook, the feeder loop and the API.
#[derive(Debug)]
pub struct Errors {
    book: Mutex<Book>,
}

impl Default for Errors {
    fn default() -> Self {
        Errors::new(DEFAULT_MAX_GROUPS)
    }
}

impl Errors {
    pub fn new(max_groups: usize) -> Self {
        Errors {
            book: Mutex::new(Book::new(max_groups)),
        }
    }

    /// Records a 5xx answer (others are ignored). Cheap: one short lock.
    pub fn record_http(&self, e: HttpError<'_>) {
        if e.status < 500 {
            return;
        }
        self.lock().record(Sample {
            service: e.service.to_string(),
            source: Source::Http,
            cause: cause::http_cause(e.status, e.reason, e.method, e.path),
            instance: e.instance.map(str::to_string),
            time_ms: e.time_ms,
            example: json!({
                "method": e.method, "path": e.path, "status": e.status,
                "reason": e.reason, "caller": e.caller, "version": e.version,
                "instance": e.instance, "trace_id": e.trace_id,
                "duration_ms": e.duration_ms,
            }),
        });
    }

    /// Records an event when it is a crash (an unexpected exit or a failed start).
    pub fn record_event(&self, e: &Event) {
        if !matches!(e.kind, Kind::InstanceExited | Kind::StartFailed) {
            return;
        }
        let tail: Vec<String> = e.fields["stderr_tail"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|l| l.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let how = e.fields["exit"]
            .as_str()
            .map_or_else(|| e.kind.as_str().replace('_', " "), str::to_string);
        self.lock().record(Sample {
            service: e.service.clone(),
            source: Source::Crash,
            cause: cause::crash_cause(&how, &tail),
            instance: (!e.instance.is_empty()).then(|| e.instance.clone()),
            time_ms: e.time_ms,
            example: json!({
                "event_seq": e.seq, "message": e.message, "exit": how,
                "stderr_tail": tail, "instance": e.instance,
            }),
        });
    }

    /// Records a log line when it is a structured line at error level from an instance.
    pub fn record_line(&self, l: &LogLine) {
        if l.stream == Stream::System {
            return;
        }
        let Some(fields) = l.fields.as_deref() else {
            return;
        };
        if !cause::is_error_line(fields) {
            return;
        }
        self.lock().record(Sample {
            service: l.service.clone(),
            source: Source::Log,
            cause: cause::log_cause(fields),
            instance: Some(l.instance.clone()),
            time_ms: l.time_ms,
            example: json!({
                "log_seq": l.seq, "line": l.line, "fields": fields,
                "trace_id": l.trace_id, "instance": l.instance,
            }),
        });
    }

    pub fn list(&self, q: &ErrorQuery) -> Vec<Group> {
        self.lock().list(q)
    }

    pub fn get(&self, id: &str) -> Option<Group> {
        self.lock().get(id)
    }

    /// What the view holds, if anything was recorded since the last call ([`crate::save_changes`]).
    pub fn take_changes(&self) -> Option<crate::Saved> {
        self.lock().take_changes()
    }

    /// Counts the view as changed again (its last save failed).
    pub fn mark_changed(&self) {
        self.lock().mark_changed();
    }

    /// Adds a previous run's view ([`crate::load`]).
    pub fn restore(&self, saved: crate::Saved) {
        self.lock().restore(saved);
    }

    /// Groups forgotten so far to stay within the bound.
    pub fn forgotten(&self) -> u64 {
        self.lock().forgotten
    }

    fn lock(&self) -> MutexGuard<'_, Book> {
        // Losing an error count to a poisoned lock is worse than using the book as is.
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Feeds `errors` from the event stream and the live log tail until `stop` turns true.
///
/// A lagging receiver skips what it missed (counted in the log) and goes on.
pub async fn run(
    errors: Arc<Errors>,
    mut events: broadcast::Receiver<Event>,
    mut logs: broadcast::Receiver<LogLine>,
    mut stop: watch::Receiver<bool>,
) {
    use broadcast::error::RecvError;
    loop {
        tokio::select! {
            e = events.recv() => match e {
                Ok(e) => errors.record_event(&e),
                Err(RecvError::Lagged(n)) => tracing::warn!(missed = n, "errors view fell behind the event stream"),
                Err(RecvError::Closed) => break,
            },
            l = logs.recv() => match l {
                Ok(l) => errors.record_line(&l),
                Err(RecvError::Lagged(n)) => tracing::debug!(missed = n, "errors view skipped log lines under a flood"),
                Err(RecvError::Closed) => break,
            },
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
    }
}
