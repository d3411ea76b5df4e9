//! How the ring keeps a line: compact (shared labels, the trace id as a number,
//! a JSON line's fields parsed only when read, a lazy line's text and fields
//! made only when read) with an honest memory cost.

use std::borrow::Cow;
use std::collections::HashMap;
use std::num::NonZeroU128;
use std::sync::Arc;

use crate::line::{LogLine, Stream};
use crate::structure::Fields;

/// Service, version and instance of a line; shared by every line of an instance.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct Labels {
    pub service: Box<str>,
    pub version: Box<str>,
    pub instance: Box<str>,
}

/// Where a kept line's fields come from.
#[derive(Debug, Clone)]
pub(crate) enum KeptFields {
    None,
    /// The line is a JSON object: its fields are parsed from it when read.
    FromLine,
    /// Given by the writer, kept as compact JSON text.
    Json(Arc<str>),
    /// Made by the line's [`LazyLine`] when read.
    Lazy,
}

/// A line whose text and fields are made only when it is read or written to
/// disk: the proxy's access log, one line per request, most never read, keeps
/// its record (a fraction of the text and JSON it stands for) instead.
///
/// Its writer may read its own lines back as they are
/// ([`crate::LogStore::lines_of_trace`], [`crate::LogStore::recent_traces`]) and
/// downcast them (`&dyn LazyLine as &dyn Any`).
pub trait LazyLine: std::any::Any + Send + Sync + std::fmt::Debug {
    /// Appends the line's text.
    fn write_text(&self, out: &mut String);
    /// Appends the line's fields as the text of one JSON object.
    fn write_fields(&self, out: &mut Vec<u8>);
    /// Bytes it holds, its own size included (for the store's byte limit).
    fn bytes(&self) -> usize;
    /// The kind of line it is, when its text can be made again from its
    /// fields alone by a [`TextOf`] the store was opened with
    /// ([`crate::LogStore::open_with_kinds`]): the disk log then keeps its
    /// fields and kind, not its text (a third less to write for an access line).
    fn kind(&self) -> Option<&'static str> {
        None
    }
}

/// Makes a line's text from its fields, given as the text of one JSON object
/// (for a line of a [`LazyLine::kind`] read back from disk; it may read them
/// as it likes, e.g. borrowed into a struct of its own); `None` when they are
/// not what it needs.
pub type TextOf = fn(&str) -> Option<String>;

/// The kinds of lines whose text a store makes from their fields.
#[derive(Debug, Clone, Default)]
pub(crate) struct Kinds(Vec<(&'static str, TextOf)>);

impl Kinds {
    pub fn new(kinds: &[(&'static str, TextOf)]) -> Self {
        Kinds(kinds.to_vec())
    }

    /// `kind`, when the store knows how to make its lines' text.
    pub fn known(&self, kind: &str) -> Option<&'static str> {
        self.0.iter().find(|(k, _)| *k == kind).map(|(k, _)| *k)
    }

    /// The text of a line of `kind` with `fields` (JSON object text). When the
    /// kind is unknown here or its fields do not make a text, the fields' JSON
    /// text stands in: nothing of the line is lost, and `grep` still finds it.
    pub fn text(&self, kind: &str, fields: Option<&str>) -> String {
        let made = self
            .0
            .iter()
            .find(|(k, _)| *k == kind)
            .and_then(|(_, text_of)| text_of(fields?));
        made.unwrap_or_else(|| fields.unwrap_or_default().to_owned())
    }
}

/// A kept line of a trace as its writer gave it, for the writer to read back
/// ([`crate::LogStore::lines_of_trace`], [`crate::LogStore::recent_traces`]).
#[derive(Debug, Clone)]
pub enum TraceLine {
    /// A lazy line's record (downcast it: `&dyn LazyLine as &dyn Any`).
    Lazy(Arc<dyn LazyLine>),
    /// Fields given as JSON text: appended so, or a lazy line reloaded from
    /// disk after a restart; with the line's time (unix ms).
    Fields { time_ms: u64, json: Arc<str> },
}

impl Kept {
    /// The line as a [`TraceLine`], if its writer gave it a record or fields.
    pub fn trace_line(&self) -> Option<TraceLine> {
        match (&self.line, &self.fields) {
            (Text::Lazy(l), _) => Some(TraceLine::Lazy(l.clone())),
            (_, KeptFields::Json(j)) => Some(TraceLine::Fields {
                time_ms: self.time_ms,
                json: j.clone(),
            }),
            _ => None,
        }
    }
}

/// A kept line's text: stored, or made when read.
#[derive(Debug, Clone)]
pub(crate) enum Text {
    Stored(Arc<str>),
    Lazy(Arc<dyn LazyLine>),
}

impl Text {
    pub fn get(&self) -> Cow<'_, str> {
        match self {
            Text::Stored(t) => Cow::Borrowed(t),
            Text::Lazy(l) => {
                let mut out = String::new();
                l.write_text(&mut out);
                Cow::Owned(out)
            }
        }
    }
}

/// One kept line.
#[derive(Debug, Clone)]
pub(crate) struct Kept {
    pub seq: u64,
    pub time_ms: u64,
    pub labels: Arc<Labels>,
    pub stream: Stream,
    pub line: Text,
    pub trace: Option<NonZeroU128>,
    pub fields: KeptFields,
}

/// The counts in front of an `Arc<str>`'s text (texts are shared with the disk writer's queue).
const SHARED: usize = 16;

/// What the allocator really hands out for `n` bytes: rounded up, plus its header.
fn alloc(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        n.div_ceil(16) * 16 + 16
    }
}

impl Kept {
    /// Memory this line holds in the store: the record, its text and fields,
    /// and its trace key. Labels are shared and not counted per line.
    pub fn cost(&self) -> usize {
        const TRACE_KEY: usize = 8;
        std::mem::size_of::<Kept>()
            + match &self.line {
                Text::Stored(t) => alloc(SHARED + t.len()),
                Text::Lazy(l) => alloc(SHARED + l.bytes()),
            }
            + match &self.fields {
                KeptFields::Json(j) => alloc(SHARED + j.len()),
                _ => 0,
            }
            + TRACE_KEY
    }

    pub fn fields(&self) -> Option<Fields> {
        match &self.fields {
            KeptFields::None => None,
            KeptFields::FromLine => crate::structure::json_fields(&self.line.get()),
            KeptFields::Json(j) => crate::structure::json_fields(j),
            KeptFields::Lazy => match &self.line {
                Text::Lazy(l) => {
                    let mut json = Vec::new();
                    l.write_fields(&mut json);
                    std::str::from_utf8(&json)
                        .ok()
                        .and_then(crate::structure::json_fields)
                }
                Text::Stored(_) => None,
            },
        }
    }

    /// The public record, with fields parsed.
    pub fn read(&self) -> LogLine {
        LogLine {
            fields: self.fields().map(Box::new),
            ..self.read_bare()
        }
    }

    /// The public record without fields (enough for every filter but `fields`).
    pub fn read_bare(&self) -> LogLine {
        LogLine {
            seq: self.seq,
            time_ms: self.time_ms,
            service: self.labels.service.to_string(),
            version: self.labels.version.to_string(),
            instance: self.labels.instance.to_string(),
            stream: self.stream,
            line: self.line.get().into_owned(),
            trace_id: self.trace.map(trace_hex),
            fields: None,
        }
    }
}

/// A W3C trace id as a number (32 hex digits, either case, not all zero), read
/// in one pass (once per access line).
pub(crate) fn trace_number(id: &str) -> Option<NonZeroU128> {
    let (hi, lo) = id.as_bytes().split_at_checked(16)?;
    if lo.len() != 16 {
        return None;
    }
    NonZeroU128::new(u128::from(hex_u64(hi)?) << 64 | u128::from(hex_u64(lo)?))
}

/// What each byte is worth as a hex digit; [`NOT_HEX`] if it is not one.
const HEX_DIGITS: [u8; 256] = {
    let mut t = [NOT_HEX; 256];
    let mut i = 0;
    while i < 16 {
        t[b"0123456789abcdef"[i] as usize] = i as u8;
        t[b"0123456789ABCDEF"[i] as usize] = i as u8;
        i += 1;
    }
    t
};
const NOT_HEX: u8 = 0x80;

/// Up to 16 hex digits as a number: a table lookup per digit and one test
/// for a bad digit at the end, not a branch per digit.
fn hex_u64(digits: &[u8]) -> Option<u64> {
    let (mut n, mut bad) = (0u64, 0u8);
    for &c in digits {
        let d = HEX_DIGITS[usize::from(c)];
        bad |= d;
        n = n << 4 | u64::from(d & 0xf);
    }
    (bad & NOT_HEX == 0).then_some(n)
}

pub(crate) fn trace_hex(t: NonZeroU128) -> String {
    TraceHex::of(t).as_str().to_owned()
}

/// A trace id's 32 lower-case hex digits, made without allocating (the disk
/// writer writes one per line).
pub(crate) struct TraceHex([u8; 32]);

impl TraceHex {
    pub fn of(t: NonZeroU128) -> Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 32];
        for (i, d) in out.iter_mut().enumerate() {
            *d = DIGITS[(t.get() >> (124 - 4 * i) & 0xf) as usize];
        }
        TraceHex(out)
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// Shares one `Labels` per (service, version, instance). Bounded: when it holds
/// too many, it starts over (lines keep the labels they have).
#[derive(Debug, Default)]
pub(crate) struct LabelCache {
    /// service → instance → labels (whose version is checked on every hit).
    map: HashMap<Box<str>, HashMap<Box<str>, Arc<Labels>>>,
    len: usize,
    /// The labels given last: runs of lines with the same labels (the proxy's
    /// access lines, a chatty instance) skip the two hash lookups.
    last: Option<Arc<Labels>>,
}

const MAX_LABEL_SETS: usize = 4096;

impl LabelCache {
    pub fn get(&mut self, service: &str, version: &str, instance: &str) -> Arc<Labels> {
        if let Some(l) = &self.last {
            if &*l.service == service && &*l.instance == instance && &*l.version == version {
                return l.clone();
            }
        }
        let labels = self.lookup(service, version, instance);
        self.last = Some(labels.clone());
        labels
    }

    fn lookup(&mut self, service: &str, version: &str, instance: &str) -> Arc<Labels> {
        if let Some(l) = self.map.get(service).and_then(|m| m.get(instance)) {
            if &*l.version == version {
                return l.clone();
            }
        }
        if self.len >= MAX_LABEL_SETS {
            self.map.clear();
            self.len = 0;
        }
        let labels = Arc::new(Labels {
            service: service.into(),
            version: version.into(),
            instance: instance.into(),
        });
        let by_instance = self.map.entry(service.into()).or_default();
        if by_instance
            .insert(instance.into(), labels.clone())
            .is_none()
        {
            self.len += 1;
        }
        labels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_round_trip_through_numbers() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(trace_number(id).map(trace_hex).as_deref(), Some(id));
        let padded = "00000000000000000000000000000001";
        assert_eq!(trace_number(padded).map(trace_hex).as_deref(), Some(padded));
        assert_eq!(trace_number("00000000000000000000000000000000"), None);
        assert_eq!(trace_number("xyz"), None);
        let upper = id.to_ascii_uppercase();
        assert_eq!(trace_number(&upper), trace_number(id));
        // Exactly what `is_trace_id` accepts, as a number.
        for bad in [
            "+bf92f3577b34da6a3ce929d0e0e4736",
            "4bf92f3577b34da6a3ce929d0e0e473",
            "4bf92f3577b34da6a3ce929d0e0e4736a",
            "4bf92f3577b34da6a3ce929d0e0e473g",
            "4bf92f3577b34da6a3ce929d0e0e473é",
        ] {
            assert!(!crate::structure::is_trace_id(bad), "{bad}");
            assert_eq!(trace_number(bad), None, "{bad}");
        }
    }

    /// Every byte value in every place: a hex digit of either case reads as
    /// its value, anything else makes the id no id (as a per-digit match did).
    #[test]
    fn trace_numbers_read_every_digit_and_refuse_every_other_byte() {
        let id = *b"4bf92f3577b34da6a3ce929d0e0e4736";
        let expect = |pos: usize, b: u8| {
            let d = (b as char).to_digit(16)?;
            let mut n = u128::from_str_radix("4bf92f3577b34da6a3ce929d0e0e4736", 16).ok()?;
            let shift = 4 * (31 - pos);
            n = n & !(0xf << shift) | u128::from(d) << shift;
            NonZeroU128::new(n)
        };
        for pos in 0..32 {
            for b in 0..=255u8 {
                let mut bytes = id;
                bytes[pos] = b;
                let got = std::str::from_utf8(&bytes).ok().and_then(trace_number);
                let want = std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(|_| expect(pos, b));
                assert_eq!(got, want, "byte {b:#x} at {pos}");
            }
        }
    }

    #[test]
    fn labels_are_shared() {
        let mut c = LabelCache::default();
        let a = c.get("web", "1", "web-1");
        let b = c.get("web", "1", "web-1");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c.get("web", "1", "web-2")));
        // Back from other labels: the same shared ones again, not the last given.
        assert!(Arc::ptr_eq(&a, &c.get("web", "1", "web-1")));
        let v2 = c.get("web", "2", "web-1");
        assert_eq!((&*v2.version, &*v2.instance), ("2", "web-1"));
        assert_eq!(&*c.get("web", "1", "web-1").version, "1");
    }
}
