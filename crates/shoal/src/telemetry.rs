//! What the proxy reports per request, off the request path: the hook only
//! queues the record; one task takes the queued records every few milliseconds
//! and turns each into the access log line (which is also the request's span)
//! and, for a 5xx, an entry in the errors view.
//!
//! The queue is a vector per serving thread behind a short lock, not a channel:
//! a channel wakes the task for each record (a cross-thread wake-up, often a
//! futex call, per request); the task here wakes on its own tick and takes the
//! whole batch. One vector per thread, so the serving threads do not pass one
//! lock's cache line back and forth on every request.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use shoal_logs::LogStore;
use shoal_proxy::{AccessLog, AccessRecord, SentFlags};

/// Records a thread's queue shard holds before its new ones are dropped (and
/// counted): what the one queue held before it was sharded, so a stalled task
/// loses no sooner than it did.
const QUEUE: usize = 64 * 1024;
/// How often the task takes what was queued while requests flow. Short, so each
/// batch is short too: a 20 ms batch at 25k requests/s was ~3 ms of work at
/// once, long enough to hold up the serving threads on a busy machine (p99).
const BUSY_TICK: Duration = Duration::from_millis(2);
/// How often it looks while nothing came (the most an access line, span or
/// error waits before it can be read).
const IDLE_TICK: Duration = Duration::from_millis(20);

/// Where access records go.
pub struct Sinks {
    pub logs: Arc<LogStore>,
    pub errors: Arc<shoal_errors::Errors>,
    pub traces: crate::traces::SpanSink,
}

/// Queue shards: each thread pushes into its own (the proxy's serving threads,
/// one per core, never share a lock or a cache line); more threads share.
const SHARDS: usize = 8;

/// One shard, on its own cache lines.
#[derive(Default)]
#[repr(align(128))]
struct Shard(Mutex<Vec<AccessRecord>>);

/// One taken batch: each shard's records, in their thread's order.
type Runs = [Vec<AccessRecord>; SHARDS];

/// Access records waiting for [`run`].
#[derive(Default)]
pub struct Queue {
    shards: [Shard; SHARDS],
}

impl Queue {
    /// Swaps what every shard holds into `runs` (one run per shard, each in
    /// the order its thread finished the requests). The runs come back empty,
    /// with their room, so a shard does not grow again.
    fn take(&self, runs: &mut Runs) {
        for (s, run) in self.shards.iter().zip(runs.iter_mut()) {
            let mut q = s.0.lock().unwrap_or_else(PoisonError::into_inner);
            if !q.is_empty() {
                std::mem::swap(&mut *q, run);
            }
        }
    }

    /// Queues `r` on the calling thread's shard; false when that shard is full.
    fn push(&self, r: AccessRecord) -> bool {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
        }
        let i = SHARD.with(|s| *s);
        let mut q = self.shards[i]
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if q.len() < QUEUE {
            q.push(r);
            true
        } else {
            false
        }
    }
}

/// The proxy's access-log hook (a push under a short lock) and the queue [`run`] takes from.
pub fn channel() -> (AccessLog, Arc<Queue>, Arc<AtomicU64>) {
    let queue = Arc::new(Queue::default());
    let dropped = Arc::new(AtomicU64::new(0));
    let (q, counter) = (queue.clone(), dropped.clone());
    let hook: AccessLog = Arc::new(move |r: AccessRecord| {
        if !q.push(r) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    (hook, queue, dropped)
}

/// Handles queued records every [`BUSY_TICK`] (every [`IDLE_TICK`] after an
/// empty take) until the proxy's hook is gone (then what is left is handled too).
pub async fn run(queue: Arc<Queue>, sinks: Sinks, dropped: Arc<AtomicU64>) {
    let mut runs: Runs = Default::default();
    let mut lines = Vec::with_capacity(STORE_CHUNK);
    let mut warned = (0u64, Instant::now());
    let mut wait = IDLE_TICK;
    loop {
        tokio::time::sleep(wait).await;
        // The hook holds the only other reference: once it is gone nothing more comes.
        let last = Arc::strong_count(&queue) == 1;
        queue.take(&mut runs);
        wait = if runs.iter().all(Vec::is_empty) {
            IDLE_TICK
        } else {
            BUSY_TICK
        };
        record_all(&sinks, merged(&mut runs), &mut lines);
        let d = dropped.load(Ordering::Relaxed);
        if d > warned.0 && warned.1.elapsed() > Duration::from_secs(10) {
            tracing::warn!(
                dropped = d,
                "access records dropped: the telemetry task fell behind the proxy"
            );
            warned = (d, Instant::now());
        }
        if last {
            return;
        }
    }
}

/// Access lines handed to the log store at once: one clock read and one lock
/// for each chunk, held for a bounded time (other appenders and queries wait).
const STORE_CHUNK: usize = 256;

/// The runs' records in the order the answers were ready, as one queue had
/// them: the runs are each in that order, so this merges them (taking the
/// earliest head, the first run's on a tie) instead of gathering and sorting.
fn merged(runs: &mut Runs) -> impl Iterator<Item = AccessRecord> + '_ {
    let mut heads: Vec<_> = runs
        .iter_mut()
        .filter(|r| !r.is_empty())
        .map(|r| r.drain(..).peekable())
        .collect();
    std::iter::from_fn(move || {
        let mut first: Option<(usize, SystemTime)> = None;
        for (i, h) in heads.iter_mut().enumerate() {
            if let Some(r) = h.peek() {
                let end = answered(r);
                if first.is_none_or(|(_, e)| end < e) {
                    first = Some((i, end));
                }
            }
        }
        heads.get_mut(first?.0)?.next()
    })
}

/// When `r`'s answer was ready.
fn answered(r: &AccessRecord) -> SystemTime {
    r.start.checked_add(r.duration).unwrap_or(r.start)
}

/// Hands the records to the sinks: each to the errors view and the span
/// exporter, then to the log store a chunk at a time.
fn record_all(
    s: &Sinks,
    records: impl Iterator<Item = AccessRecord>,
    lines: &mut Vec<Arc<AccessLine>>,
) {
    for r in records {
        let line = Arc::new(AccessLine(r));
        report(s, &line.0);
        lines.push(line);
        if lines.len() == STORE_CHUNK {
            store(s, lines);
        }
    }
    store(s, lines);
}

/// One record into the errors view (a 5xx) and to the span exporter.
fn report(s: &Sinks, r: &AccessRecord) {
    let t = r.texts();
    s.errors.record_http(shoal_errors::HttpError {
        // When the answer was ready, from the record: no clock read per request.
        time_ms: answered(r)
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        service: t.service,
        version: t.version,
        instance: t.instance,
        caller: t.caller,
        method: t.method,
        path: t.path,
        status: r.status,
        reason: r.reason,
        trace_id: t.trace_id,
        // Nanoseconds over 1e6: the float nearest the exact milliseconds
        // (`0.166927`, where `as_secs_f64() * 1000.0` gave `0.16692700000000002`).
        duration_ms: r.duration.as_nanos() as f64 / 1e6,
    });
    s.traces.record(r);
}

/// The access lines into the log store, in one batch.
fn store(s: &Sinks, lines: &mut Vec<Arc<AccessLine>>) {
    if lines.is_empty() {
        return;
    }
    s.logs.append_lazy_batch(lines.iter().map(|line| {
        let t = line.0.texts();
        let entry = shoal_logs::Entry {
            service: t.service,
            version: t.version,
            instance: "proxy",
            stream: shoal_logs::Stream::System,
            line: "",
            trace_id: Some(t.trace_id),
            fields: None,
        };
        (entry, line.clone() as Arc<dyn shoal_logs::LazyLine>)
    }));
    lines.clear();
}

/// When the request arrived, in unix microseconds.
pub(crate) fn start_us(r: &AccessRecord) -> u64 {
    r.start
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The access log line of a request: the record is kept, its text and fields
/// are made when read or written to disk (most lines are never read).
/// Its span is read from it too (`crate::traces::LogSpans`).
#[derive(Debug)]
pub(crate) struct AccessLine(pub(crate) AccessRecord);

/// The kind of line an access line is ([`shoal_logs::LazyLine::kind`]): on
/// disk it keeps its fields only, its text is made from them when read.
pub const ACCESS_KIND: &str = "access";

/// The line kinds whose text the log store makes from their fields (give them
/// to [`LogStore::open_with_kinds`]).
pub const LINE_KINDS: &[(&str, shoal_logs::TextOf)] = &[(ACCESS_KIND, access_text_of)];

/// What an access line's text says.
struct TextParts<'a> {
    method: &'a str,
    path: &'a str,
    status: u64,
    duration: Duration,
    caller: &'a str,
    instance: Option<&'a str>,
    trace_id: &'a str,
    span_id: &'a str,
    retries: u64,
    reason: Option<&'a str>,
    flags: Option<&'a str>,
}

impl TextParts<'_> {
    fn write(&self, out: &mut String) {
        // Milliseconds to one decimal, rounded half up, in integers.
        let tenths = u64::try_from((self.duration.as_micros() + 50) / 100).unwrap_or(u64::MAX);
        let mut n = itoa::Buffer::new();
        for part in ["access ", self.method, " ", self.path, " "] {
            out.push_str(part);
        }
        out.push_str(n.format(self.status));
        out.push(' ');
        out.push_str(n.format(tenths / 10));
        out.push('.');
        out.push_str(n.format(tenths % 10));
        for part in [
            "ms caller=",
            self.caller,
            " instance=",
            self.instance.unwrap_or("-"),
            " trace=",
            self.trace_id,
            " span=",
            self.span_id,
            " retries=",
        ] {
            out.push_str(part);
        }
        out.push_str(n.format(self.retries));
        if let Some(reason) = self.reason {
            out.push_str(" reason=");
            out.push_str(reason);
        }
        if let Some(flags) = self.flags.filter(|f| !f.is_empty()) {
            out.push_str(" flags=");
            out.push_str(flags);
        }
    }
}

/// An access line's fields as [`access_text_of`] reads them: borrowed from the
/// JSON text where no escape is in the way.
#[derive(serde::Deserialize)]
struct TextFields<'a> {
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow)]
    path: Cow<'a, str>,
    status: u64,
    duration_ms: f64,
    #[serde(borrow)]
    caller: Cow<'a, str>,
    #[serde(borrow)]
    instance: Option<Cow<'a, str>>,
    #[serde(borrow)]
    trace_id: Cow<'a, str>,
    #[serde(borrow)]
    span_id: Cow<'a, str>,
    retries: u64,
    #[serde(borrow)]
    reason: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    flags: Option<Cow<'a, str>>,
}

/// An access line's text made from its fields' JSON text (as read back from
/// disk): the text [`AccessLine`] writes from its record. `None` when a field
/// it needs is missing or of another type.
pub fn access_text_of(fields: &str) -> Option<String> {
    let f: TextFields<'_> = serde_json::from_str(fields).ok()?;
    let mut out = String::with_capacity(160);
    TextParts {
        method: &f.method,
        path: &f.path,
        status: f.status,
        // `duration_ms` is the duration's nanoseconds / 1e6, to f64 precision:
        // rounding gives the nanoseconds back (exactly, for any duration below
        // about two weeks).
        duration: Duration::from_nanos((f.duration_ms.max(0.0) * 1e6).round() as u64),
        caller: &f.caller,
        instance: f.instance.as_deref(),
        trace_id: &f.trace_id,
        span_id: &f.span_id,
        retries: f.retries,
        reason: f.reason.as_deref(),
        flags: f.flags.as_deref(),
    }
    .write(&mut out);
    Some(out)
}

impl shoal_logs::LazyLine for AccessLine {
    fn write_text(&self, out: &mut String) {
        let (r, t) = (&self.0, self.0.texts());
        TextParts {
            method: t.method,
            path: t.path,
            status: r.status.into(),
            duration: r.duration,
            caller: t.caller,
            instance: t.instance,
            trace_id: t.trace_id,
            span_id: t.span_id,
            retries: r.retries.into(),
            reason: r.reason,
            flags: r.flags.as_ref().map(SentFlags::as_str),
        }
        .write(out);
    }

    fn kind(&self) -> Option<&'static str> {
        Some(ACCESS_KIND)
    }

    /// Its own fields (but `start` and `duration`), `start_us`, `duration_ms`
    /// and `kind = "access"`, so `--field status=503` and the API can filter on
    /// them, and a span can be read back from them after a restart.
    fn write_fields(&self, out: &mut Vec<u8>) {
        let (r, t) = (&self.0, self.0.texts());
        let mut o = shoal_logs::JsonObject::new(out);
        o.str("caller", t.caller).millis("duration_ms", r.duration);
        // Only when the proxy has flags: no `"flags":null` on every line without.
        if let Some(flags) = r.flags.as_ref().map(SentFlags::as_str) {
            o.str("flags", flags);
        }
        o.opt_str("instance", t.instance)
            .str("kind", "access")
            .str("method", t.method)
            .opt_str("parent_span_id", t.parent_span_id)
            .str("path", t.path)
            .opt_str("reason", r.reason)
            .u64("retries", r.retries.into())
            .str("service", t.service)
            .str("span_id", t.span_id)
            .u64("start_us", start_us(r))
            .u64("status", r.status.into())
            .str("trace_id", t.trace_id)
            .str("version", t.version)
            .end();
    }

    fn bytes(&self) -> usize {
        // The record, and its texts' own allocation as the allocator rounds it.
        let flags = self
            .0
            .flags
            .as_ref()
            .map_or(0, |f| f.heap_bytes().div_ceil(16) * 16 + 16);
        std::mem::size_of::<Self>() + self.0.text_bytes().div_ceil(16) * 16 + 16 + flags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The access line reads as it did when it was formatted at once.
    #[test]
    fn the_access_line_is_made_when_read() {
        let mut r = AccessRecord::new(shoal_proxy::AccessTexts {
            method: "POST",
            path: "/a?b=1",
            caller: "gateway",
            service: "api",
            version: "2",
            instance: Some("api-1"),
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
            span_id: "00f067aa0ba902b7",
            parent_span_id: None,
        });
        (r.status, r.duration, r.retries) = (200, Duration::from_micros(1250), 2);
        let mut text = String::new();
        shoal_logs::LazyLine::write_text(&AccessLine(r.clone()), &mut text);
        assert_eq!(
            text,
            "access POST /a?b=1 200 1.3ms caller=gateway instance=api-1 \
             trace=4bf92f3577b34da6a3ce929d0e0e4736 span=00f067aa0ba902b7 retries=2"
        );
        r.reason = Some("timeout");
        let mut text = String::new();
        shoal_logs::LazyLine::write_text(&AccessLine(r), &mut text);
        assert!(text.ends_with(" retries=2 reason=timeout"), "{text}");
    }

    /// Records taken from several threads' runs come out in the order their
    /// answers were ready, a tie going to the earlier run, and the runs are
    /// left empty for the next take.
    #[test]
    fn runs_merge_in_answer_order() {
        let at = |path: &'static str, start_ms: u64, took_ms: u64| {
            let mut r = AccessRecord::new(shoal_proxy::AccessTexts {
                method: "GET",
                path,
                caller: "gateway",
                service: "api",
                version: "1",
                instance: None,
                trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
                span_id: "00f067aa0ba902b7",
                parent_span_id: None,
            });
            r.start = SystemTime::UNIX_EPOCH + Duration::from_millis(start_ms);
            r.duration = Duration::from_millis(took_ms);
            r
        };
        let mut runs: Runs = Default::default();
        runs[0] = vec![at("/a", 0, 5), at("/c", 1, 9), at("/e", 20, 0)];
        runs[3] = vec![at("/b", 4, 2), at("/d", 10, 0), at("/f", 30, 1)];
        runs[5] = vec![at("/b2", 6, 0)];
        let order: Vec<String> = merged(&mut runs)
            .map(|r| r.texts().path.to_owned())
            .collect();
        assert_eq!(order, ["/a", "/b", "/b2", "/c", "/d", "/e", "/f"]);
        assert!(runs.iter().all(Vec::is_empty));
    }

    /// The text made from an access line's fields (read back from disk) is
    /// the text its record makes, for every duration's rounding.
    #[test]
    fn the_access_text_is_made_again_from_the_fields() {
        let texts = |instance, parent| shoal_proxy::AccessTexts {
            method: "PUT",
            path: "/ü/x?y=\"1\"",
            caller: "web",
            service: "api",
            version: "2",
            instance,
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
            span_id: "00f067aa0ba902b7",
            parent_span_id: parent,
        };
        let mut nanos: Vec<u64> = vec![0, 1, 49_999, 50_000, 1_250_000, 999_999_999];
        // A spread of durations up to ten minutes (a fixed LCG: the same each run).
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            nanos.push((x >> 20) % 600_000_000_000);
            nanos.push(((x >> 20) % 600_000) * 1_000 + 50);
        }
        for (i, ns) in nanos.into_iter().enumerate() {
            let mut r = AccessRecord::new(texts(
                (i % 2 == 0).then_some("api-1"),
                (i % 3 == 0).then_some("00f067aa0ba902b8"),
            ));
            (r.status, r.duration, r.retries) = (503, Duration::from_nanos(ns), (i % 4) as u32);
            r.reason = (i % 5 == 0).then_some("timeout");
            let line = AccessLine(r);
            let mut want = String::new();
            shoal_logs::LazyLine::write_text(&line, &mut want);
            let mut json = Vec::new();
            shoal_logs::LazyLine::write_fields(&line, &mut json);
            let fields = std::str::from_utf8(&json).expect("fields");
            assert_eq!(
                access_text_of(fields).as_deref(),
                Some(want.as_str()),
                "{ns} ns"
            );
        }
        for bad in [r#"{"method":"GET"}"#, "[1]", "{", r#"{"status":"200"}"#] {
            assert_eq!(access_text_of(bad), None, "{bad}: no text");
        }
    }

    /// Every field of the record (but `start` and `duration`), `start_us`,
    /// `duration_ms` and `kind`, as JSON.
    #[test]
    fn access_fields_are_the_record_as_json() {
        let mut r = AccessRecord::new(shoal_proxy::AccessTexts {
            method: "GET",
            path: "/x?y=1",
            caller: "web",
            service: "api",
            version: "2",
            instance: None,
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
            span_id: "00f067aa0ba902b7",
            parent_span_id: Some("00f067aa0ba902b8"),
        });
        (r.status, r.duration, r.retries, r.reason) =
            (503, Duration::from_millis(12), 1, Some("timeout"));
        r.start = std::time::UNIX_EPOCH + Duration::from_micros(1_764_000_000_123_456);
        let want = serde_json::json!({
            "caller": "web", "duration_ms": 12.0, "instance": null, "kind": "access",
            "method": "GET", "parent_span_id": "00f067aa0ba902b8", "path": "/x?y=1",
            "reason": "timeout", "retries": 1, "service": "api",
            "span_id": "00f067aa0ba902b7", "start_us": 1_764_000_000_123_456u64, "status": 503,
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "version": "2",
        });
        let mut json = Vec::new();
        shoal_logs::LazyLine::write_fields(&AccessLine(r.clone()), &mut json);
        let got: serde_json::Value = serde_json::from_slice(&json).expect("parse");
        assert_eq!(got, want);
        // As the serde-derived fields were written before (the eager baseline).
        assert_eq!(
            json,
            serde_json::to_vec(&cost::AccessFields::of(&r)).expect("serde")
        );
    }
}

#[cfg(test)]
mod cost {
    use super::*;

    /// The access line's fields as serde wrote them before they were written by
    /// hand (the eager baseline's, and what the hand-written ones must equal).
    #[derive(serde::Serialize)]
    pub(super) struct AccessFields<'a> {
        caller: &'a str,
        duration_ms: f64,
        instance: Option<&'a str>,
        kind: &'static str,
        method: &'a str,
        parent_span_id: Option<&'a str>,
        path: &'a str,
        reason: Option<&'static str>,
        retries: u32,
        service: &'a str,
        span_id: &'a str,
        start_us: u64,
        status: u16,
        trace_id: &'a str,
        version: &'a str,
    }

    impl<'a> AccessFields<'a> {
        pub(super) fn of(r: &'a AccessRecord) -> Self {
            let t = r.texts();
            Self {
                caller: t.caller,
                duration_ms: r.duration.as_secs_f64() * 1000.0,
                instance: t.instance,
                kind: "access",
                method: t.method,
                parent_span_id: t.parent_span_id,
                path: t.path,
                reason: r.reason,
                retries: r.retries,
                service: t.service,
                span_id: t.span_id,
                start_us: start_us(r),
                status: r.status,
                trace_id: t.trace_id,
                version: t.version,
            }
        }
    }

    /// utime + stime of `/proc/<which>/stat`, in seconds (100 ticks a second).
    fn cpu(which: &str) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{which}/stat")).unwrap_or_default();
        let after = stat.rsplit_once(')').map_or("", |(_, a)| a);
        let f: Vec<&str> = after.split_whitespace().collect();
        let tick = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
        (tick(11) + tick(12)) / 100.0
    }

    fn rec(i: u64) -> AccessRecord {
        let trace = format!("{:032x}", (i as u128 + 1) * 0x9e3779b97f4a7c15);
        let span = format!("{:016x}", i + 1);
        let mut r = AccessRecord::new(shoal_proxy::AccessTexts {
            method: "GET",
            path: "/",
            caller: "gateway",
            service: "bench",
            version: "1",
            instance: Some("bench-1"),
            trace_id: &trace,
            span_id: &span,
            parent_span_id: None,
        });
        r.start = std::time::SystemTime::now();
        (r.status, r.duration) = (200, Duration::from_micros(480));
        r
    }

    /// The access line as it was kept before lines were lazy: formatted at
    /// once, its fields serialized at once (the baseline of the measurement).
    fn record_eager(s: &Sinks, r: AccessRecord) {
        let line = AccessLine(r);
        let t = line.0.texts();
        s.traces.record(&line.0);
        let mut text = String::new();
        shoal_logs::LazyLine::write_text(&line, &mut text);
        let entry = shoal_logs::Entry {
            service: t.service,
            version: t.version,
            instance: "proxy",
            stream: shoal_logs::Stream::System,
            line: &text,
            trace_id: Some(t.trace_id),
            fields: None,
        };
        s.logs.append_entry_json(entry, &AccessFields::of(&line.0));
    }

    /// CPU per record in steady state (stores full) and the lines the log keeps.
    fn measure(eager: bool) -> (f64, f64, usize) {
        let dir = tempfile::tempdir().expect("tmp");
        let logs = Arc::new(
            LogStore::open_with_kinds(
                shoal_logs::LogLimits::default(),
                dir.path(),
                shoal_logs::DiskLimits::default(),
                LINE_KINDS,
            )
            .expect("open"),
        );
        let traces = crate::traces::start(std::future::pending()).expect("traces");
        let sinks = Sinks {
            logs: logs.clone(),
            errors: Arc::new(shoal_errors::Errors::default()),
            traces: traces.sink(),
        };
        // Lazy lines go as the task takes them: in batches (of 64 here).
        let (mut batch, mut lines) = (Vec::new(), Vec::new());
        let mut one = |i| match eager {
            true => record_eager(&sinks, rec(i)),
            false => {
                batch.push(rec(i));
                if batch.len() == 64 {
                    record_all(&sinks, batch.drain(..), &mut lines);
                }
            }
        };
        let n = 400_000;
        (0..n).for_each(&mut one);
        let (t0, p0) = (cpu("thread-self"), cpu("self"));
        (n..2 * n).for_each(&mut one);
        logs.close();
        let (t1, p1) = (cpu("thread-self"), cpu("self"));
        let per = |d: f64| d * 1e6 / n as f64;
        (per(t1 - t0), per(p1 - p0), logs.stats().lines)
    }

    /// Lazy access lines against eager ones, alternating, 3 rounds each.
    #[test]
    #[ignore = "a measurement: cargo test --release -p shoal telemetry_cost -- --ignored --nocapture"]
    fn telemetry_cost() {
        for round in 1..=3 {
            for eager in [true, false] {
                let (thread, process, lines) = measure(eager);
                let mode = if eager { "eager" } else { "lazy" };
                println!(
                    "round {round} {mode:5}: {thread:.2} us/record on the telemetry thread, \
                     {process:.2} us/record in the process (disk writer too), \
                     {lines} access lines kept in the default ring"
                );
            }
        }
    }
}
