//! Reading the disk log back: the newest lines at open, and, for queries, the
//! older lines the memory ring no longer holds (newest segment first).

use std::fs;
use std::path::Path;

use memchr::memmem;

use crate::disk::{segments, DiskLine};
use crate::kept::Kinds;
use crate::line::LogLine;

/// What a run left on disk to start the ring with.
#[derive(Debug, Default)]
pub(crate) struct Restored {
    /// The newest lines with consecutive sequence numbers, oldest first.
    pub lines: Vec<DiskLine>,
    /// The number the next line gets: one past the newest on disk (1 when none).
    pub next_seq: u64,
}

/// The newest lines on disk, oldest-first: at most about `budget` bytes of
/// text, none older than `oldest_ms`, and only a run of consecutive sequence
/// numbers (the ring finds a line by its number), so the ring and the disk
/// agree on every line's number and a query can go on below the ring's oldest.
/// Lines that do not parse (torn, not UTF-8) are skipped one by one; a line
/// written before numbers were kept on disk ends the run.
/// A line written without its text gets it made here (`kinds`).
pub(crate) fn load(dir: &Path, budget: usize, oldest_ms: u64, kinds: &Kinds) -> Restored {
    let mut out: Vec<DiskLine> = Vec::new();
    let mut next_seq = None;
    let mut used = 0usize;
    'segments: for seg in segments(dir).iter().rev() {
        let Ok(bytes) = fs::read(seg) else { continue };
        for raw in bytes.rsplit(|b| *b == b'\n') {
            let Ok(mut l) = serde_json::from_slice::<DiskLine>(raw) else {
                continue;
            };
            l.make_text(kinds);
            let Some(q) = l.q else { break 'segments };
            next_seq.get_or_insert(q.saturating_add(1));
            used += l.l.len() + 128;
            let follows = out.last().is_none_or(|newer| newer.q == q.checked_add(1));
            if used > budget || l.t < oldest_ms || !follows {
                break 'segments;
            }
            out.push(l);
        }
    }
    out.reverse();
    Restored {
        lines: out,
        next_seq: next_seq.unwrap_or(1),
    }
}

/// Cheap byte tests a raw disk line must pass before it is parsed: bytes it
/// must hold, and text its `l` must hold (for a line written without its
/// text, in the text made from its fields alone).
#[derive(Debug, Default)]
pub(crate) struct Needles {
    bytes: Vec<memmem::Finder<'static>>,
    text: Vec<memmem::Finder<'static>>,
    /// How texts of lines written without them are made.
    kinds: Kinds,
}

/// Where a line written without its text names its kind (`"k"` comes right
/// after `"st"`), and where its fields begin (they come last).
const KIND_KEY: &[u8] = b"\",\"k\":\"";
const FIELDS_KEY: &[u8] = b",\"f\":";

impl Needles {
    /// Needles testing the text of lines written without it as `kinds` make it.
    pub fn with_kinds(kinds: &Kinds) -> Self {
        Needles {
            kinds: kinds.clone(),
            ..Needles::default()
        }
    }

    /// Requires `"key":"value"` (the value as JSON writes it) in the raw line.
    pub fn field(&mut self, key: &str, value: &str) {
        let mut needle = Vec::with_capacity(key.len() + value.len() + 6);
        crate::json::JsonObject::new(&mut needle).str(key, value);
        // Without the object's opening brace (it is never closed).
        self.bytes
            .push(memmem::Finder::new(&needle[1..]).into_owned());
    }

    /// Requires `text` in the raw line when JSON writes it unchanged (no quote,
    /// backslash or control character); otherwise the parsed line is tested.
    pub fn text(&mut self, text: &str) {
        if !text.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
            self.text
                .push(memmem::Finder::new(text.as_bytes()).into_owned());
        }
    }

    /// Requires these bytes in the raw line.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.bytes.push(memmem::Finder::new(bytes).into_owned());
    }

    fn pass(&self, raw: &[u8]) -> bool {
        let has = |f: &memmem::Finder<'_>| f.find(raw).is_some();
        if !self.bytes.iter().all(has) {
            return false;
        }
        if self.text.is_empty() || self.text.iter().all(has) {
            return true;
        }
        // Not in the raw line: perhaps in the text made from its fields.
        let Some(at) = memmem::find(raw, KIND_KEY) else {
            return false;
        };
        match self.made_text(&raw[at + KIND_KEY.len()..]) {
            Some(text) => self.text.iter().all(|f| f.find(text.as_bytes()).is_some()),
            // Not taken apart here: the parsed line is tested.
            None => true,
        }
    }

    /// The text of a line written without it, made from its fields: `rest` is
    /// the line after `"k":"` (its kind, `"tr"`, then its fields, last).
    fn made_text(&self, rest: &[u8]) -> Option<String> {
        let kind = std::str::from_utf8(&rest[..memchr::memchr(b'"', rest)?]).ok()?;
        let from = memmem::find(rest, FIELDS_KEY)? + FIELDS_KEY.len();
        let fields = std::str::from_utf8(rest.get(from..rest.len().checked_sub(1)?)?).ok()?;
        Some(self.kinds.text(kind, Some(fields)))
    }
}

/// Which older lines a walk over the disk log wants.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Below {
    /// Only lines numbered below this (the ring's oldest kept line).
    pub seq: u64,
    /// The walk ends at a line numbered at or below this…
    pub after_seq: u64,
    /// …or one older than this (unix ms).
    pub since_ms: u64,
}

/// What a walk over the disk log meets, newest first.
pub(crate) enum Step {
    /// A line in the walk's range that passed the needles (parsed only now).
    Line(DiskLine),
    /// The end of a segment (the walk goes on into the next older one).
    SegmentEnd,
}

/// Walks the disk log's lines in `below`, newest first, one segment at a
/// time: `visit` gets each line that passes `needles`, then the segment's
/// end, and says whether to go on. Lines without a number (written before
/// numbers were kept) and torn lines are skipped.
pub(crate) fn walk_back(
    dir: &Path,
    below: Below,
    needles: &Needles,
    mut visit: impl FnMut(Step) -> bool,
) {
    // Numbers only go down as the walk goes back (a doctored file cannot
    // make it give a number twice or out of order).
    let mut ceiling = below.seq;
    for seg in segments(dir).iter().rev() {
        let Ok(bytes) = fs::read(seg) else { continue };
        let Some(end) = lines_back(&bytes, below, &mut ceiling, needles, &mut visit) else {
            return;
        };
        if !visit(Step::SegmentEnd) || end {
            return;
        }
    }
}

/// Visits segment `bytes`' lines in `below` numbered under `ceiling` that pass
/// `needles`, newest first, lowering `ceiling` to each line's number; `None`
/// when `visit` said stop, else whether the walk's end (`after_seq` or
/// `since_ms`) was met in this segment.
fn lines_back(
    bytes: &[u8],
    below: Below,
    ceiling: &mut u64,
    needles: &Needles,
    visit: &mut impl FnMut(Step) -> bool,
) -> Option<bool> {
    let outside = |t: u64, q: u64| q <= below.after_seq || t < below.since_ms;
    for raw in candidates(bytes, needles) {
        let Some((t, q)) = head(raw) else { continue };
        if q >= *ceiling {
            continue;
        }
        if outside(t, q) {
            return Some(true);
        }
        if !needles.pass(raw) {
            continue;
        }
        if let Ok(line) = serde_json::from_slice::<DiskLine>(raw) {
            if line.q != Some(q) {
                continue;
            }
            *ceiling = q;
            if !visit(Step::Line(line)) {
                return None;
            }
        }
    }
    // Only some lines were looked at: the end may lie in this segment still.
    let end = !needles.bytes.is_empty()
        && bytes
            .split(|b| *b == b'\n')
            .find_map(head)
            .is_some_and(|(t, q)| outside(t, q));
    Some(end)
}

/// A segment's lines newest first: every line, or, with needles, only the
/// lines holding the first (found in the whole segment at once, not line by line).
fn candidates<'a>(
    bytes: &'a [u8],
    needles: &'a Needles,
) -> Box<dyn Iterator<Item = &'a [u8]> + 'a> {
    let Some(first) = needles.bytes.first() else {
        return Box::new(bytes.rsplit(|b| *b == b'\n'));
    };
    // Where the last line given starts: a later hit in it is skipped.
    let mut given_from = bytes.len() + 1;
    Box::new(
        memmem::rfind_iter(bytes, first.needle()).filter_map(move |at| {
            if at >= given_from {
                return None;
            }
            let start = memchr::memrchr(b'\n', &bytes[..at]).map_or(0, |i| i + 1);
            let end = memchr::memchr(b'\n', &bytes[at..]).map_or(bytes.len(), |i| at + i);
            given_from = start;
            Some(&bytes[start..end])
        }),
    )
}

/// The time and sequence number at the head of a raw disk line
/// (`{"t":T,"q":N,…`), read without parsing the line.
fn head(raw: &[u8]) -> Option<(u64, u64)> {
    let rest = raw.strip_prefix(b"{\"t\":")?;
    let (t, rest) = number(rest)?;
    let (q, _) = number(rest.strip_prefix(b",\"q\":")?)?;
    Some((t, q))
}

/// The decimal number `s` starts with, and what follows it.
fn number(s: &[u8]) -> Option<(u64, &[u8])> {
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    let n = std::str::from_utf8(&s[..digits]).ok()?.parse().ok()?;
    Some((n, &s[digits..]))
}

impl DiskLine {
    /// The line as the store gives it out; `None` without a sequence number.
    pub(crate) fn into_log_line(self) -> Option<LogLine> {
        let fields = match &self.f {
            Some(f) => serde_json::from_str(f).ok().map(Box::new),
            None => crate::structure::json_fields(&self.l).map(Box::new),
        };
        Some(LogLine {
            seq: self.q?,
            time_ms: self.t,
            service: self.s,
            version: self.v,
            instance: self.i,
            stream: self.st,
            line: self.l,
            trace_id: self.tr,
            fields,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_and_number_are_read_from_the_head_of_a_line() {
        assert_eq!(
            head(br#"{"t":1700000000000,"q":42,"s":"web"}"#),
            Some((1_700_000_000_000, 42))
        );
        assert_eq!(head(br#"{"t":1,"s":"web","q":42}"#), None);
        assert_eq!(head(br#"{"t":,"q":1}"#), None);
        assert_eq!(head(b""), None);
    }

    #[test]
    fn needles_look_for_fields_as_json_writes_them() {
        let mut n = Needles::default();
        n.field("s", "we\"b");
        n.text("GET /a");
        assert!(n.pass(br#"{"s":"we\"b","l":"GET /a 200"}"#));
        assert!(!n.pass(br#"{"s":"web","l":"GET /a 200"}"#));
        // A line written without its text is tested on the text its fields make.
        fn text_of(fields: &str) -> Option<String> {
            let f = crate::structure::json_fields(fields)?;
            Some(format!("access GET /{}", f.get("n")?.as_u64()?))
        }
        let mut n = Needles::with_kinds(&Kinds::new(&[("access", text_of)]));
        n.text("GET /7");
        let kind = |k: &str, f: &str| format!(r#"{{"t":1,"q":1,"st":"system","k":"{k}","f":{f}}}"#);
        assert!(n.pass(kind("access", r#"{"n":7}"#).as_bytes()));
        assert!(!n.pass(kind("access", r#"{"n":8}"#).as_bytes()));
        assert!(
            !n.pass(br#"{"t":1,"q":1,"l":"GET /8"}"#),
            "a line with its text"
        );
        // An unknown kind's text is its fields' JSON; fields it cannot read, likewise.
        assert!(!n.pass(kind("other", r#"{"n":7}"#).as_bytes()));
        assert!(n.pass(kind("other", r#"{"m":"GET /7"}"#).as_bytes()));
        assert!(n.pass(kind("access", r#"{"m":"GET /7"}"#).as_bytes()));
        let no_fields = br#"{"t":1,"st":"system","k":"access"}"#;
        assert!(
            n.pass(no_fields),
            "not taken apart: left to the parsed line"
        );
        let mut quoted = Needles::default();
        quoted.text("say \"hi\"");
        assert!(quoted.pass(b"anything"), "left to the parsed line's test");
    }
}
