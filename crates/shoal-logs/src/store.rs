//! `LogStore`: the shared, locked front of the ring, with a clock and a live tail.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

use crate::disk::{DiskLimits, DiskWriter};
use crate::kept::{trace_number, Kinds, LazyLine, Text, TextOf, TraceHex, TraceLine};
use crate::limits::{LogLimits, LogQuery, LogStats};
use crate::line::{LogLine, Stream};
use crate::numbers;
use crate::reader::Below;
use crate::ring::{Floor, NewFields, NewLine, Ring};
use crate::structure::Fields;

/// A line with its structure given, for [`LogStore::append_entry`].
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub service: &'a str,
    pub version: &'a str,
    pub instance: &'a str,
    pub stream: Stream,
    pub line: &'a str,
    pub trace_id: Option<&'a str>,
    pub fields: Option<Fields>,
}

/// Lines a query with no limit takes from disk at most (besides the ring's).
pub const DEEP_MAX: usize = 100_000;

/// How far from the ring's oldest line a trace's oldest kept line must be
/// for its lookup to skip the disk: a trace's lines come close together.
const TRACE_REACH_MS: u64 = 10_000;

/// Whether a trace whose oldest kept line is at `start` (none kept: `None`)
/// may have older lines on disk, below the ring's `floor`.
fn trace_may_reach(start: Option<u64>, floor: Floor) -> bool {
    start.is_none_or(|s| s < floor.time_ms.saturating_add(TRACE_REACH_MS))
}

/// Lines a live-tail subscriber may fall behind before it sees `RecvError::Lagged`.
pub const TAIL_CAPACITY: usize = 4096;

/// Where the store reads "now" (unix epoch ms); injectable for tests.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The central log store. Share it with `Arc<LogStore>`; all methods take `&self`.
pub struct LogStore {
    ring: Mutex<Ring>,
    tail: broadcast::Sender<LogLine>,
    /// The tail of instance lines only (not `Stream::System`, e.g. the proxy's
    /// access lines): a subscriber here costs nothing per access line.
    instance_tail: broadcast::Sender<LogLine>,
    clock: Clock,
    /// The disk log, when the store was opened on a directory.
    disk: Mutex<Option<DiskWriter>>,
    /// Where the disk log is, for queries that reach below the ring's oldest line.
    dir: Option<PathBuf>,
    /// The age limit, which lines read from disk keep to as well.
    max_age_ms: u64,
    /// Kinds of lazy lines whose text is made from their fields when read
    /// back from disk (the disk keeps only their fields).
    kinds: Kinds,
    /// Numbers the previous run may have given to lines that never reached
    /// the disk (it was killed first); see [`LogStore::lost`].
    lost: Option<std::ops::Range<u64>>,
}

impl std::fmt::Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Which live tails have subscribers (read once per append or batch).
#[derive(Debug, Clone, Copy)]
struct Tails {
    all: bool,
    instances: bool,
}

impl Tails {
    fn of(store: &LogStore) -> Self {
        Tails {
            all: store.tail.receiver_count() > 0,
            instances: store.instance_tail.receiver_count() > 0,
        }
    }
}

thread_local! {
    /// Where [`LogStore::append_entry_json`] serializes fields before they are
    /// copied into the store once (no growing `String` per line).
    static JSON_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl LogStore {
    /// A store reading the system clock.
    pub fn new(limits: LogLimits) -> Self {
        Self::with_clock(limits, Arc::new(system_now_ms))
    }

    /// A store reading `clock` for every append and query.
    pub fn with_clock(limits: LogLimits, clock: Clock) -> Self {
        let (tail, _) = broadcast::channel(TAIL_CAPACITY);
        let (instance_tail, _) = broadcast::channel(TAIL_CAPACITY);
        let max_age_ms = u64::try_from(limits.max_age.as_millis()).unwrap_or(u64::MAX);
        LogStore {
            max_age_ms,
            instance_tail,
            ring: Mutex::new(Ring::new(limits)),
            tail,
            clock,
            disk: Mutex::new(None),
            dir: None,
            kinds: Kinds::default(),
            lost: None,
        }
    }

    /// A store that also keeps its lines on disk under `dir` (bounded by `disk`),
    /// starting with the newest lines a previous run left there (up to the
    /// memory budget and not older than `max_age`) and numbering on from them.
    /// Queries the ring cannot fill go on to the older lines on disk.
    pub fn open(limits: LogLimits, dir: &Path, disk: DiskLimits) -> std::io::Result<Self> {
        Self::open_with_kinds(limits, dir, disk, &[])
    }

    /// [`LogStore::open`] knowing how to make the text of lazy lines of
    /// `kinds` ([`LazyLine::kind`]) from their fields: such lines go to disk
    /// with their fields and kind only, and get their text back when read.
    pub fn open_with_kinds(
        limits: LogLimits,
        dir: &Path,
        disk: DiskLimits,
        kinds: &[(&'static str, TextOf)],
    ) -> std::io::Result<Self> {
        let mut store = Self::new(limits.clone());
        store.kinds = Kinds::new(kinds);
        if disk.max_bytes == 0 {
            return Ok(store);
        }
        let oldest = system_now_ms().saturating_sub(store.max_age_ms);
        let restored = crate::reader::load(dir, limits.max_bytes, oldest, &store.kinds);
        let (start, lost) = numbers::start(restored.next_seq, numbers::read(dir));
        if lost {
            // Numbers up to `start` may have been handed out: none is given
            // again. The ring starts empty; the lines on disk are read from there.
            tracing::warn!(
                next_seq = start,
                "the log store last stopped before its newest lines reached the disk; numbering goes on after every number it may have given"
            );
            store.lock().resume_after_gap(start, system_now_ms());
            store.lost = Some(restored.next_seq..start);
        } else {
            let mut ring = store.lock();
            let first = restored.lines.first().and_then(|l| l.q);
            ring.number_from(first.unwrap_or(restored.next_seq));
            for l in &restored.lines {
                let fields = match &l.f {
                    Some(f) => NewFields::Json(f),
                    None => crate::structure::json_fields(&l.l)
                        .map_or(NewFields::None, NewFields::FromLine),
                };
                let new = NewLine {
                    service: &l.s,
                    version: &l.v,
                    instance: &l.i,
                    stream: l.st,
                    line: &l.l,
                    trace: l.tr.as_deref().and_then(trace_number),
                    fields,
                    lazy: None,
                };
                ring.push(l.t, new, false);
            }
        }
        std::fs::create_dir_all(dir)?;
        let reserved = start.saturating_add(numbers::BLOCK);
        numbers::write(dir, reserved)?;
        let writer = DiskWriter::start(dir.to_path_buf(), disk, limits.max_age, reserved)?;
        *store.disk_lock() = Some(writer);
        store.dir = Some(dir.to_path_buf());
        Ok(store)
    }

    /// Writes what the disk log has queued and stops it (at shutdown), then
    /// writes down the next sequence number (a clean stop).
    pub fn close(&self) {
        let Some(mut w) = self.disk_lock().take() else {
            return;
        };
        w.close();
        let next = self.lock().next_seq();
        if let Some(dir) = &self.dir {
            if let Err(e) = numbers::write(dir, next) {
                tracing::warn!(error = %e, "cannot write the log's next sequence number");
            }
        }
    }

    /// The numbers the previous run may have given to lines that never
    /// reached the disk (it was killed before its queue was written): no line
    /// has them now. `None` after a clean stop. Most of the range was only
    /// reserved, never given: a reader resuming `after` a number below its end
    /// is told lines *may* be missing, not that they are.
    pub fn lost(&self) -> Option<std::ops::Range<u64>> {
        self.lost.clone()
    }

    fn disk_lock(&self) -> MutexGuard<'_, Option<DiskWriter>> {
        self.disk.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores one line (without its terminator) and returns its sequence number.
    ///
    /// A JSON object line is kept as text and read back with its fields; the
    /// trace id it carries (a JSON field or an id in the text) is indexed.
    /// Parsing happens before the lock is taken.
    pub fn append(
        &self,
        service: &str,
        version: &str,
        instance: &str,
        stream: Stream,
        line: &str,
    ) -> u64 {
        let fields = crate::structure::json_fields(line);
        let trace = crate::structure::trace_id(line, fields.as_ref())
            .as_deref()
            .and_then(trace_number);
        self.push(NewLine {
            service,
            version,
            instance,
            stream,
            line,
            trace,
            fields: fields.map_or(NewFields::None, NewFields::FromLine),
            lazy: None,
        })
    }

    /// [`LogStore::append_entry`] with the fields as a value that serializes to
    /// a JSON object (the entry's own `fields` are ignored): it is written
    /// straight to JSON text, no `serde_json::Value` is built and taken apart
    /// per line. A value that is not an object, or fails to serialize, gives
    /// the line no fields.
    pub fn append_entry_json(&self, entry: Entry<'_>, fields: &impl serde::Serialize) -> u64 {
        JSON_BUF.with_borrow_mut(|buf| {
            buf.clear();
            let json = match serde_json::to_writer(&mut *buf, fields) {
                Ok(()) if buf.first() == Some(&b'{') => std::str::from_utf8(buf).ok(),
                _ => None,
            };
            self.push_entry(entry, json.map_or(NewFields::None, NewFields::Json))
        })
    }

    /// Stores a line whose fields and trace id the caller already knows (the proxy's access log).
    pub fn append_entry(&self, mut entry: Entry<'_>) -> u64 {
        let json = entry
            .fields
            .take()
            .map(|f| serde_json::Value::Object(f).to_string());
        self.push_entry(
            entry,
            json.as_deref().map_or(NewFields::None, NewFields::Json),
        )
    }

    /// Stores a line whose text and fields `lazy` makes when it is read or
    /// written to disk (the entry's own `line` and `fields` are ignored).
    pub fn append_lazy(&self, entry: Entry<'_>, lazy: Arc<dyn LazyLine>) -> u64 {
        self.push(lazy_line(entry, lazy))
    }

    /// [`LogStore::append_lazy`] for many lines at once (the proxy's access
    /// lines, taken in batches): one clock read and one lock for all of them.
    pub fn append_lazy_batch<'a>(
        &self,
        lines: impl IntoIterator<Item = (Entry<'a>, Arc<dyn LazyLine>)>,
    ) {
        let now = (self.clock)();
        let tails = Tails::of(self);
        let mut ring = self.lock();
        let disk = self.disk_lock();
        for (entry, lazy) in lines {
            self.push_locked(&mut ring, disk.as_ref(), now, lazy_line(entry, lazy), tails);
        }
    }

    fn push_entry(&self, entry: Entry<'_>, fields: NewFields<'_>) -> u64 {
        self.push(new_line(entry, fields))
    }

    fn push(&self, new: NewLine<'_>) -> u64 {
        let now = (self.clock)();
        let tails = Tails::of(self);
        let mut ring = self.lock();
        let disk = self.disk_lock();
        self.push_locked(&mut ring, disk.as_ref(), now, new, tails)
    }

    /// Appends under the ring's lock, so the disk and the tail subscribers
    /// have the lines in `seq` order.
    fn push_locked(
        &self,
        ring: &mut Ring,
        disk: Option<&DiskWriter>,
        now: u64,
        new: NewLine<'_>,
        tails: Tails,
    ) -> u64 {
        let to_instances = tails.instances && new.stream != Stream::System;
        let (seq, copy) = ring.push(now, new, tails.all || to_instances);
        if let Some(w) = disk {
            w.numbered(seq);
            // (A line larger than the whole store was not kept: nothing to write.)
            if let Some(kept) = ring.newest().filter(|k| k.seq == seq) {
                let kind = match &kept.line {
                    Text::Lazy(l) => l.kind().and_then(|k| self.kinds.known(k)),
                    Text::Stored(_) => None,
                };
                w.send(kept, kind);
            }
        }
        if let Some(copy) = copy {
            // An error only means every subscriber left meanwhile.
            if to_instances {
                let _ = self.instance_tail.send(copy.clone());
            }
            if tails.all {
                let _ = self.tail.send(copy);
            }
        }
        seq
    }

    /// The most recent `q.limit` lines matching `q`, oldest-first: from the
    /// ring, and when it holds too few, from the older lines on disk (read
    /// without the store's lock; at most [`DEEP_MAX`] of them when `q.limit`
    /// is 0).
    pub fn query(&self, q: &LogQuery) -> Vec<LogLine> {
        let now = (self.clock)();
        let trace = q.trace.as_deref().and_then(trace_number);
        let (lines, floor, trace_start) = {
            let mut ring = self.lock();
            let lines = ring.query(now, q);
            let start = trace.and_then(|t| ring.trace_start(t));
            (lines, ring.floor(), start)
        };
        let want = match q.limit {
            0 => DEEP_MAX,
            n => n.saturating_sub(lines.len()),
        };
        let reaches = q.after_seq.is_none_or(|a| a.saturating_add(1) < floor.seq)
            && q.since_ms.is_none_or(|s| s <= floor.time_ms)
            && match (&q.trace, trace) {
                (None, _) => true,
                (Some(_), Some(_)) => trace_may_reach(trace_start, floor),
                // Not a trace id: no line carries it.
                (Some(_), None) => false,
            };
        match self.deep_below(floor, now) {
            Some((dir, below)) if want > 0 && reaches => {
                let mut older =
                    crate::deep::query(dir, below, q, want, trace_start.is_some(), &self.kinds);
                older.extend(lines);
                older
            }
            _ => lines,
        }
    }

    /// [`LogStore::query`] of the lines in memory only: never reads the disk,
    /// for callers on an async task that want recent lines (an instance's
    /// last stderr lines when it exits).
    pub fn query_memory(&self, q: &LogQuery) -> Vec<LogLine> {
        let now = (self.clock)();
        self.lock().query(now, q)
    }

    /// Where the disk log is and which of its lines are older than the ring's,
    /// when there are any (not older than the age limit at `now`).
    fn deep_below(&self, floor: Floor, now: u64) -> Option<(&Path, Below)> {
        let dir = self.dir.as_deref().filter(|_| floor.seq > 1)?;
        Some((
            dir,
            Below {
                seq: floor.seq,
                after_seq: 0,
                since_ms: now.saturating_sub(self.max_age_ms),
            },
        ))
    }

    /// A trace's (given as 32 hex digits) kept lines that have a lazy record
    /// or writer-given fields, oldest first (a scan of the trace keys): what their
    /// writer appended, as it appended it (or its fields, after a restart).
    pub fn lines_of_trace(&self, trace_id: &str) -> Vec<TraceLine> {
        let Some(t) = trace_number(trace_id) else {
            return Vec::new();
        };
        let now = (self.clock)();
        let ((lines, start), floor) = {
            let mut ring = self.lock();
            ring.evict(now);
            (ring.lines_of_trace(t), ring.floor())
        };
        match self.deep_below(floor, now) {
            Some((dir, below)) if trace_may_reach(start, floor) => {
                let hex = TraceHex::of(t);
                let mut older = crate::deep::trace_lines(dir, below, hex.as_str(), start.is_some());
                older.extend(lines);
                older
            }
            _ => lines,
        }
    }

    /// Kept traces, the one with the newest line first: `visit` gets each
    /// trace's lines as [`LogStore::lines_of_trace`] gives them (traces with
    /// none are skipped), until it returns false. The lines are gathered in
    /// steps under the store's lock (256 traces, then twice as many each
    /// step, up to 65,536) and visited outside it, so appends wait at most
    /// for one step: a walk back over that many traces and one pass over the
    /// ring. Past the ring's oldest
    /// line the walk goes on into the disk log (at most [`DEEP_MAX`] lines
    /// read there; a trace cut by the ring's edge is visited with its lines
    /// in the ring only).
    pub fn recent_traces(&self, mut visit: impl FnMut(&[TraceLine]) -> bool) {
        // A step walks the whole ring once to gather its traces' lines, so
        // steps double (a listing of every trace is a few walks, not one per
        // 256 traces); the first is small, as most listings stop early.
        const FIRST_STEP: usize = 256;
        const MAX_STEP: usize = 1 << 16;
        let mut seen = std::collections::HashSet::default();
        let mut step = FIRST_STEP;
        let (mut before, mut batch) = (u64::MAX, Vec::with_capacity(FIRST_STEP));
        loop {
            let (next, floor, now) = {
                let now = (self.clock)();
                let mut ring = self.lock();
                ring.evict(now);
                let next = ring.traces_before(before, &mut seen, step, &mut batch);
                (next, ring.floor(), now)
            };
            step = (step * 2).min(MAX_STEP);
            for lines in batch.drain(..) {
                if !visit(&lines) {
                    return;
                }
            }
            match next {
                Some(seq) => before = seq,
                None => {
                    if let Some((dir, below)) = self.deep_below(floor, now) {
                        crate::deep::recent_traces(dir, below, &mut seen, &mut visit);
                    }
                    return;
                }
            }
        }
    }

    /// Every line appended from now on. A subscriber more than [`TAIL_CAPACITY`]
    /// lines behind gets `Lagged` and may catch up with `query(after_seq)`.
    pub fn subscribe(&self) -> broadcast::Receiver<LogLine> {
        self.tail.subscribe()
    }

    /// [`LogStore::subscribe`] to instance lines only (no `Stream::System` lines,
    /// such as the proxy's access lines, which are not copied for it).
    pub fn subscribe_instance_lines(&self) -> broadcast::Receiver<LogLine> {
        self.instance_tail.subscribe()
    }

    pub fn stats(&self) -> LogStats {
        let mut stats = self.lock().stats();
        if let Some(w) = self.disk_lock().as_ref() {
            stats.disk_bytes = w.bytes.load(Ordering::Relaxed);
            stats.disk_dropped = w.dropped.load(Ordering::Relaxed);
        }
        stats
    }

    /// The retention limits the store enforces.
    pub fn limits(&self) -> LogLimits {
        self.lock().limits().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        // A panic while holding the lock cannot leave the ring inconsistent in a
        // way that matters more than losing logs; keep serving.
        self.ring
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Default for LogStore {
    fn default() -> Self {
        LogStore::new(LogLimits::default())
    }
}

/// The line `entry` with `fields`, its trace id read as a number.
fn new_line<'a>(entry: Entry<'a>, fields: NewFields<'a>) -> NewLine<'a> {
    NewLine {
        service: entry.service,
        version: entry.version,
        instance: entry.instance,
        stream: entry.stream,
        line: entry.line,
        trace: entry.trace_id.and_then(trace_number),
        fields,
        lazy: None,
    }
}

/// The line `entry` made by `lazy` when read (the entry's own `line` and
/// `fields` are not used).
fn lazy_line<'a>(entry: Entry<'a>, lazy: Arc<dyn LazyLine>) -> NewLine<'a> {
    NewLine {
        line: "",
        lazy: Some(lazy),
        ..new_line(entry, NewFields::None)
    }
}

fn system_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
