//! Logs on disk, so they survive a restart: JSON-lines segment files under
//! `data_dir/logs/`, written by one thread, bounded by total size and age.
//!
//! Appends never wait for the disk: each line is written as its JSON text into
//! a bounded byte queue (counted as dropped when it is full) while its record
//! is still hot in the appender's cache; the writer takes the queue whole every
//! 10 ms or when 256 KiB wait and hands it to the file in a few large writes.
//! It rotates segments at `segment_bytes` (after the line that reaches it) and
//! deletes the oldest segments while over `max_bytes` or older than the store's
//! `max_age`. At open, the newest lines (up to the memory budget) are read back;
//! a torn last line from a crash is skipped.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::json::JsonObject;
use crate::kept::{Kept, KeptFields, Kinds, Text, TraceHex};
use crate::line::Stream;
use crate::numbers::Reserve;

/// How much of the log is kept on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskLimits {
    /// Total bytes of all segments; the oldest segment goes first. 0 disables the disk log.
    pub max_bytes: u64,
    /// A segment is closed and a new one started past this size.
    pub segment_bytes: u64,
}

impl Default for DiskLimits {
    fn default() -> Self {
        DiskLimits {
            max_bytes: 256 << 20,
            segment_bytes: 16 << 20,
        }
    }
}

/// One line as stored on disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct DiskLine {
    pub t: u64,
    /// The store's sequence number (lines written before it was kept have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<u64>,
    pub s: String,
    pub v: String,
    pub i: String,
    pub st: Stream,
    /// The text; left out for a line of a kind whose text is made from its
    /// fields (`k`), filled in by [`DiskLine::make_text`] when read.
    #[serde(default)]
    pub l: String,
    /// The kind of a line written without its text ([`crate::LazyLine::kind`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tr: Option<String>,
    /// Fields given by the writer (the proxy's access lines): written as a JSON
    /// object, read as its text. (Older files hold the text as a JSON string;
    /// both read the same.)
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "fields_text"
    )]
    pub f: Option<String>,
}

/// `f` of a line read back: an object's text, or (older files) a string holding
/// one. Anything else is dropped, so only JSON object text reaches the store.
fn fields_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let Some(raw) = Option::<Box<RawValue>>::deserialize(d)? else {
        return Ok(None);
    };
    let text = match raw.get().as_bytes().first() {
        Some(b'{') => raw.get().to_string(),
        Some(b'"') => {
            serde_json::from_str::<String>(raw.get()).map_err(serde::de::Error::custom)?
        }
        _ => return Ok(None),
    };
    let object =
        text.starts_with('{') && serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok();
    Ok(object.then_some(text))
}

impl DiskLine {
    /// Fills in the text of a line written without it (of kind `k`).
    pub(crate) fn make_text(&mut self, kinds: &Kinds) {
        if let Some(k) = &self.k {
            if self.l.is_empty() {
                self.l = kinds.text(k, self.f.as_deref());
            }
        }
    }
}

/// Appends `k` as one JSON line (with its newline) to `buf`, in [`DiskLine`]'s
/// shape: the fields given by the writer are already JSON object text and go
/// in as they are, not re-escaped as a string. A lazy line of a `kind` the
/// store makes texts of goes without its text (`"k"` instead of `"l"`).
/// `text` is scratch space for a lazy line's text.
fn write_line(buf: &mut Vec<u8>, text: &mut String, k: &Kept, kind: Option<&str>) {
    let mut o = JsonObject::new(buf);
    o.u64("t", k.time_ms)
        .u64("q", k.seq)
        .str("s", &k.labels.service)
        .str("v", &k.labels.version)
        .str("i", &k.labels.instance)
        .str("st", k.stream.as_str());
    match (&k.line, kind) {
        (Text::Stored(t), _) => o.str("l", t),
        (Text::Lazy(_), Some(kind)) => o.str("k", kind),
        (Text::Lazy(z), None) => {
            text.clear();
            z.write_text(text);
            o.str("l", text)
        }
    };
    if let Some(t) = k.trace {
        o.str("tr", TraceHex::of(t).as_str());
    }
    // The fields go in last, as the JSON object they are.
    let end = buf.len();
    buf.extend_from_slice(b",\"f\":");
    let at = buf.len();
    match (&k.fields, &k.line) {
        (KeptFields::Json(j), _) => buf.extend_from_slice(j.as_bytes()),
        (KeptFields::Lazy, Text::Lazy(l)) => l.write_fields(buf),
        _ => {}
    }
    // No fields, or not an object after all: the line goes without them.
    if buf.get(at) != Some(&b'{') {
        buf.truncate(end);
    }
    buf.extend_from_slice(b"}\n");
}

/// Lines and bytes queued for the writer before appends start dropping (counted).
const QUEUE: usize = 16 * 1024;
const QUEUE_BYTES: usize = 16 << 20;
/// The writer wakes this often, or when this many bytes wait. Small batches:
/// each is a burst of work on a core the proxy's serving threads could use,
/// and short bursts hold them up less.
const FLUSH_EVERY: Duration = Duration::from_millis(10);
const WAKE_AT_BYTES: usize = 256 * 1024;
/// How often segments are checked against the age limit (the size limit is
/// checked whenever a segment is full).
const AGE_CHECK_EVERY: Duration = Duration::from_secs(1);

/// Lines waiting for the writer, as the JSON text they are written as.
#[derive(Debug, Default)]
struct Queued {
    bytes: Vec<u8>,
    lines: usize,
    /// Scratch space for a lazy line's text.
    text: String,
}

/// What appends and the writer thread share: the queued lines and the stop flag.
#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<Queued>,
    stop: AtomicBool,
}

/// The writer thread and the queue to it. Appends only format into the queue
/// under a short lock; the writer takes the whole queue at once, so there is
/// no wake-up per line.
#[derive(Debug)]
pub(crate) struct DiskWriter {
    shared: Arc<Shared>,
    /// Numbers reserved in `next-seq`, renewed by the writer thread.
    reserve: Arc<Reserve>,
    thread: Option<JoinHandle<()>>,
    pub dropped: Arc<AtomicU64>,
    pub bytes: Arc<AtomicU64>,
}

impl DiskWriter {
    /// A writer into `dir`, whose reservation of numbers starts at `reserved`
    /// (already in `next-seq`; see [`crate::numbers`]).
    pub fn start(
        dir: PathBuf,
        limits: DiskLimits,
        max_age: Duration,
        reserved: u64,
    ) -> io::Result<DiskWriter> {
        fs::create_dir_all(&dir)?;
        let shared = Arc::new(Shared::default());
        let reserve = Arc::new(Reserve::new(reserved));
        let bytes = Arc::new(AtomicU64::new(total_bytes(&dir)));
        let (sh, b, r) = (shared.clone(), bytes.clone(), reserve.clone());
        let thread = std::thread::Builder::new()
            .name("shoal-log-disk".into())
            .spawn(move || {
                if let Err(e) = write_loop(&dir, limits, max_age, &sh, &b, &r) {
                    tracing::error!(error = %e, dir = %dir.display(), "the disk log stopped; logs are kept in memory only");
                }
            })?;
        Ok(DiskWriter {
            shared,
            reserve,
            thread: Some(thread),
            dropped: Arc::new(AtomicU64::new(0)),
            bytes,
        })
    }

    /// Notes that line `seq` was numbered: past half the reservation, the
    /// writer is woken to renew it.
    pub fn numbered(&self, seq: u64) {
        if self.reserve.used(seq) {
            if let Some(t) = &self.thread {
                t.thread().unpark();
            }
        }
    }

    /// Queues a line (as its JSON text; without its text when it is a lazy
    /// line of `kind`, see [`write_line`]); never blocks on the disk.
    pub fn send(&self, line: &Kept, kind: Option<&str>) {
        let mut q = self.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
        if q.lines >= QUEUE || q.bytes.len() >= QUEUE_BYTES || self.thread.is_none() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let before = q.bytes.len();
        let Queued { bytes, text, .. } = &mut *q;
        write_line(bytes, text, line, kind);
        q.lines += 1;
        if before < WAKE_AT_BYTES && q.bytes.len() >= WAKE_AT_BYTES {
            if let Some(t) = &self.thread {
                t.thread().unpark();
            }
        }
    }

    /// Writes what is queued and stops the writer.
    pub fn close(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

impl Drop for DiskWriter {
    fn drop(&mut self) {
        self.close();
    }
}

/// Segments oldest-first (names sort by creation time).
pub(crate) fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("seg-") && n.ends_with(".jsonl"))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn total_bytes(dir: &Path) -> u64 {
    segments(dir)
        .iter()
        .filter_map(|p| fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

fn new_segment(dir: &Path, n: &mut u64) -> io::Result<(PathBuf, File)> {
    let ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    *n += 1;
    let path = dir.join(format!("seg-{ms:015}-{n:06}.jsonl"));
    let f = OpenOptions::new().create(true).append(true).open(&path)?;
    Ok((path, f))
}

/// How much of `batch` (whole lines) goes into a segment that has `room` bytes
/// left: all of it, or up to the end of the line that fills the segment.
fn cut(batch: &[u8], room: u64) -> usize {
    let room = usize::try_from(room).unwrap_or(usize::MAX);
    if batch.len() < room {
        return batch.len();
    }
    let from = room.saturating_sub(1);
    memchr::memchr(b'\n', &batch[from..]).map_or(batch.len(), |i| from + i + 1)
}

fn write_loop(
    dir: &Path,
    limits: DiskLimits,
    max_age: Duration,
    shared: &Shared,
    total: &AtomicU64,
    reserve: &Reserve,
) -> io::Result<()> {
    let mut n = 0;
    let (mut path, mut out) = new_segment(dir, &mut n)?;
    let mut seg_bytes = 0u64;
    // Swapped with the queue's bytes each time, so both keep their capacity.
    let mut batch = Vec::new();
    let mut age_checked = std::time::Instant::now();
    let mut failing = false;
    loop {
        std::thread::park_timeout(FLUSH_EVERY);
        let stopping = shared.stop.load(Ordering::Acquire);
        {
            let mut q = shared.queue.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::swap(&mut q.bytes, &mut batch);
            q.lines = 0;
        }
        // After a failed write (a full disk), lines go to a new segment: the old
        // one may end in part of a line, which readers skip.
        if failing && !batch.is_empty() {
            if let Ok((p, f)) = new_segment(dir, &mut n) {
                (path, out, seg_bytes) = (p, f, 0);
            }
        }
        let mut rest = &batch[..];
        let written: io::Result<()> = (|| {
            while !rest.is_empty() {
                let len = cut(rest, limits.segment_bytes.saturating_sub(seg_bytes));
                out.write_all(&rest[..len])?;
                rest = &rest[len..];
                seg_bytes += len as u64;
                total.fetch_add(len as u64, Ordering::Relaxed);
                if seg_bytes >= limits.segment_bytes {
                    (path, out) = new_segment(dir, &mut n)?;
                    seg_bytes = 0;
                    // Within a large batch too, the oldest go before the next segment fills.
                    enforce(dir, &path, limits, max_age, total);
                }
            }
            Ok(())
        })();
        // A failed write (a full disk) loses this batch on disk only (the lines stay
        // in memory); the writer keeps going and writes again once space returns.
        match (written, failing) {
            (Err(e), false) => {
                failing = true;
                tracing::error!(error = %e, dir = %dir.display(), "cannot write the disk log; lines are kept in memory only until writing works again");
            }
            (Ok(()), true) if !batch.is_empty() => {
                failing = false;
                tracing::info!(dir = %dir.display(), "the disk log is written again");
            }
            _ => {}
        }
        batch.clear();
        if let Err(e) = reserve.renew(dir) {
            tracing::warn!(error = %e, dir = %dir.display(), "cannot reserve log sequence numbers on disk");
        }
        if age_checked.elapsed() >= AGE_CHECK_EVERY || stopping {
            enforce(dir, &path, limits, max_age, total);
            age_checked = std::time::Instant::now();
        }
        if stopping {
            return Ok(());
        }
    }
}

/// Deletes the oldest segments (never `current`) while over the size or age limit.
fn enforce(dir: &Path, current: &Path, limits: DiskLimits, max_age: Duration, total: &AtomicU64) {
    let now = SystemTime::now();
    let segs = segments(dir);
    let mut sizes: Vec<(PathBuf, u64, SystemTime)> = segs
        .into_iter()
        .filter_map(|p| {
            let m = fs::metadata(&p).ok()?;
            Some((p, m.len(), m.modified().unwrap_or(now)))
        })
        .collect();
    let mut sum: u64 = sizes.iter().map(|s| s.1).sum();
    sizes.retain(|s| s.0 != current);
    for (p, len, modified) in sizes {
        let too_old = now.duration_since(modified).is_ok_and(|age| age > max_age);
        if sum <= limits.max_bytes && !too_old {
            break;
        }
        if fs::remove_file(&p).is_ok() {
            sum = sum.saturating_sub(len);
        }
    }
    total.store(sum, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::load;

    fn kept(i: u64) -> Kept {
        let l = line(i);
        Kept {
            seq: i + 1,
            time_ms: l.t,
            labels: std::sync::Arc::new(crate::kept::Labels {
                service: l.s.into(),
                version: l.v.into(),
                instance: l.i.into(),
            }),
            stream: l.st,
            line: Text::Stored(l.l.into()),
            trace: None,
            fields: KeptFields::None,
        }
    }

    fn line(i: u64) -> DiskLine {
        DiskLine {
            t: 1_000 + i,
            q: Some(i + 1),
            s: "web".into(),
            v: "1".into(),
            i: "web-1".into(),
            st: Stream::Stdout,
            l: format!("line {i} {}", "x".repeat(100)),
            tr: None,
            k: None,
            f: None,
        }
    }

    /// A writer into `dir` keeping lines up to an hour old.
    fn writer(dir: &Path, limits: DiskLimits) -> DiskWriter {
        DiskWriter::start(dir.into(), limits, Duration::from_secs(3600), 0).expect("start")
    }

    #[test]
    fn lines_written_are_read_back_newest_within_the_budget() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut w = writer(dir.path(), DiskLimits::default());
        for i in 0..1000 {
            w.send(&kept(i), None);
        }
        w.close();
        let all = load(dir.path(), usize::MAX, 0, &Kinds::default());
        assert_eq!((all.lines.len(), all.next_seq), (1000, 1001));
        assert_eq!(all.lines[0], line(0));
        let some = load(dir.path(), 10 * 240, 0, &Kinds::default()).lines;
        assert_eq!(some.len(), 10);
        assert_eq!(some[9], line(999), "the newest are kept, oldest-first");
        assert!(
            load(dir.path(), usize::MAX, 1_000 + 990, &Kinds::default())
                .lines
                .len()
                == 10,
            "older than oldest_ms are left"
        );
    }

    /// Writer fields go to disk as a JSON object (not a string of escaped JSON)
    /// and come back as the same text; files written before (a string) read
    /// the same; anything but an object's text is dropped, the line kept.
    #[test]
    fn fields_are_written_as_an_object_and_older_string_form_still_reads() {
        let dir = tempfile::tempdir().expect("tmp");
        let fields = r#"{"kind":"access","path":"/a\"b","status":200}"#;
        let mut w = writer(dir.path(), DiskLimits::default());
        w.send(
            &Kept {
                fields: KeptFields::Json(fields.into()),
                ..kept(0)
            },
            None,
        );
        w.close();
        let seg = segments(dir.path()).pop().expect("a segment");
        let text = fs::read_to_string(&seg).expect("read");
        assert!(text.contains(&format!(r#","f":{fields}}}"#)), "{text}");
        let old = |q: u64, f: &str| {
            format!(
                r#"{{"t":1001,"q":{q},"s":"web","v":"1","i":"web-1","st":"stdout","l":"x","f":{f}}}"#
            )
        };
        let mut more = OpenOptions::new().append(true).open(&seg).expect("open");
        for (q, f) in (2..).zip([
            serde_json::to_string(fields).expect("string form"),
            r#""not json""#.to_string(),
            "[1,2]".to_string(),
        ]) {
            writeln!(more, "{}", old(q, &f)).expect("write");
        }
        let back = load(dir.path(), usize::MAX, 0, &Kinds::default()).lines;
        let got: Vec<Option<&str>> = back.iter().map(|l| l.f.as_deref()).collect();
        assert_eq!(got, [Some(fields), Some(fields), None, None]);
    }

    #[test]
    fn trace_ids_are_written_as_their_32_hex_digits() {
        for id in [
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "00000000000000000000000000000001",
        ] {
            let t = crate::kept::trace_number(id).expect("id");
            assert_eq!(TraceHex::of(t).as_str(), id);
        }
    }

    #[test]
    fn disk_use_stays_within_the_limit() {
        let dir = tempfile::tempdir().expect("tmp");
        let limits = DiskLimits {
            max_bytes: 64 * 1024,
            segment_bytes: 8 * 1024,
        };
        let mut w = writer(dir.path(), limits);
        for i in 0..5_000 {
            w.send(&kept(i), None);
        }
        w.close();
        let on_disk = total_bytes(dir.path());
        assert!(
            on_disk <= 64 * 1024 + 8 * 1024 + 512,
            "{on_disk} bytes on disk"
        );
        let kept = load(dir.path(), usize::MAX, 0, &Kinds::default()).lines;
        assert_eq!(kept.last(), Some(&line(4_999)));
        assert!(kept.len() < 5_000);
    }

    #[test]
    fn a_batch_is_cut_after_the_line_that_fills_the_segment() {
        let batch = b"aaa\nbbbb\ncc\n";
        assert_eq!(cut(batch, 100), batch.len(), "all fits");
        assert_eq!(cut(batch, 1), 4, "the first line reaches the limit");
        assert_eq!(cut(batch, 4), 4, "ends exactly at the limit");
        assert_eq!(cut(batch, 5), 9, "the second line crosses it");
        assert_eq!(cut(batch, 0), 4, "a full segment still takes one line");
        assert_eq!(cut(b"no newline", 3), 10, "a batch holds whole lines");
    }

    #[test]
    fn a_torn_last_line_is_skipped() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut w = writer(dir.path(), DiskLimits::default());
        w.send(&kept(1), None);
        w.close();
        let seg = segments(dir.path()).pop().expect("a segment");
        let mut f = OpenOptions::new().append(true).open(seg).expect("open");
        f.write_all(br#"{"t":5,"s":"web","#).expect("write");
        assert_eq!(
            load(dir.path(), usize::MAX, 0, &Kinds::default()).lines,
            vec![line(1)]
        );
    }
}
