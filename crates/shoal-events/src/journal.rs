//! The event stream on disk (`data_dir/events.jsonl`), so it survives a
//! restart: one JSON line per event, written before the event is seen by
//! anyone (a `kill -9` loses none that was queried or tailed), compacted to
//! the kept events when it holds twice as many lines.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::Event;

/// The open file and how many lines it holds.
#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
    file: File,
    lines: usize,
    /// Lines it may hold before it is compacted to the kept events.
    max_lines: usize,
    /// Scratch space for one line.
    buf: Vec<u8>,
}

/// The newest `capacity` events of the file at `path`, oldest first. Lines
/// that do not parse (a torn last line after a crash) and numbers that do
/// not increase (a doctored file) are skipped. No file: none.
pub(crate) fn read_back(path: &Path, capacity: usize) -> io::Result<Vec<Event>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut events: Vec<Event> = Vec::new();
    for raw in bytes.split(|b| *b == b'\n') {
        let Ok(e) = serde_json::from_slice::<Event>(raw) else {
            continue;
        };
        if events.last().is_none_or(|last| e.seq > last.seq) {
            events.push(e);
        }
    }
    let extra = events.len().saturating_sub(capacity);
    events.drain(..extra);
    Ok(events)
}

impl Journal {
    /// Rewrites the file at `path` to hold just `events` and opens it for
    /// appending; it is compacted again when it holds `2 * capacity` lines.
    pub fn open<'a>(
        path: &Path,
        events: impl ExactSizeIterator<Item = &'a Event>,
        capacity: usize,
    ) -> io::Result<Journal> {
        let lines = events.len();
        Ok(Journal {
            path: path.to_path_buf(),
            file: rewrite(path, lines, events)?,
            lines,
            max_lines: capacity.saturating_mul(2).max(2),
            buf: Vec::new(),
        })
    }

    /// Appends `e` as one line (one write, so a crash tears at most this line).
    pub fn append(&mut self, e: &Event) -> io::Result<()> {
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, e)?;
        self.buf.push(b'\n');
        self.file.write_all(&self.buf)?;
        self.lines += 1;
        Ok(())
    }

    /// Whether the file holds enough lines to be compacted.
    pub fn full(&self) -> bool {
        self.lines >= self.max_lines
    }

    /// Rewrites the file to hold just `kept`.
    pub fn compact<'a>(
        &mut self,
        kept: impl ExactSizeIterator<Item = &'a Event>,
    ) -> io::Result<()> {
        let n = kept.len();
        self.file = rewrite(&self.path, n, kept)?;
        self.lines = n;
        Ok(())
    }
}

/// Replaces the file at `path` with `events` ([`shoal_durable::replace`]: a
/// crash or power loss leaves the old file or the new) and returns it open
/// for appending.
fn rewrite<'a>(path: &Path, n: usize, events: impl Iterator<Item = &'a Event>) -> io::Result<File> {
    let mut out = Vec::with_capacity(n * 256);
    for e in events {
        serde_json::to_writer(&mut out, e)?;
        out.push(b'\n');
    }
    shoal_durable::replace(path, &out)?;
    OpenOptions::new().append(true).open(path)
}
