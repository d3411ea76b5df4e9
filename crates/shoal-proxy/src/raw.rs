//! A message head's fields kept as they arrived (spans of its bytes, each field's
//! [`Known`] kind noted once): a request goes to the instance, and an instance's
//! answer to an HTTP/1.1 client, written from them (runs of passing fields copied
//! as they are) without a header map being built and taken apart per message;
//! HTTP/2 clients get them merged into a map.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::headers::Known;

/// Fields kept raw at most; heads with more get a header map.
const RAW_FIELDS: usize = 24;

/// Where a piece of a parsed head lies in its buffer: (start, length).
pub(crate) type Span = (usize, usize);

/// Where a head's fields lie in its bytes and what they are.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// Name start, name length, value start, value length.
    spans: [[u16; 4]; RAW_FIELDS],
    kinds: [Known; RAW_FIELDS],
    /// One more than the index of the first field of each kind (0: none).
    first: [u8; Known::COUNT],
    len: u8,
}

/// Where `part`, a slice of `base`, lies in it.
pub(crate) fn span(base: &[u8], part: &[u8]) -> Span {
    (part.as_ptr() as usize - base.as_ptr() as usize, part.len())
}

impl Layout {
    fn empty() -> Self {
        Self {
            spans: [[0; 4]; RAW_FIELDS],
            kinds: [Known::Other; RAW_FIELDS],
            first: [0; Known::COUNT],
            len: 0,
        }
    }

    /// The layout of the fields httparse found in `base`; `None` when they cannot
    /// be kept raw: more than [`RAW_FIELDS`], a head of 64 KiB or more, or a
    /// `Connection` naming other fields to drop (those take the header-map path).
    pub(crate) fn of(base: &[u8], parsed: &[httparse::Header<'_>]) -> Option<Box<Self>> {
        if parsed.len() > RAW_FIELDS {
            return None;
        }
        let mut layout = Box::new(Self::empty());
        for h in parsed {
            let name = h.name.as_bytes();
            layout.push(span(base, name), span(base, h.value), name, h.value)?;
        }
        Some(layout)
    }

    /// [`Layout::of`] from spans of `base`.
    #[cfg(test)]
    pub(crate) fn of_spans(base: &[u8], spans: &[(Span, Span)]) -> Option<Box<Self>> {
        if spans.len() > RAW_FIELDS {
            return None;
        }
        let mut layout = Box::new(Self::empty());
        for &((ns, nl), (vs, vl)) in spans {
            let (name, value) = (base.get(ns..ns + nl)?, base.get(vs..vs + vl)?);
            layout.push((ns, nl), (vs, vl), name, value)?;
        }
        Some(layout)
    }

    fn push(&mut self, n: Span, v: Span, name: &[u8], value: &[u8]) -> Option<()> {
        let i = usize::from(self.len);
        let kind = Known::of(name);
        if kind == Known::Connection && names_other_fields(value) {
            return None;
        }
        self.spans[i] = [
            u16::try_from(n.0).ok()?,
            u16::try_from(n.1).ok()?,
            u16::try_from(v.0).ok()?,
            u16::try_from(v.1).ok()?,
        ];
        self.kinds[i] = kind;
        let first = &mut self.first[kind as usize];
        if *first == 0 {
            *first = self.len + 1;
        }
        self.len += 1;
        Some(())
    }
}

/// Whether a `Connection` value lists fields besides `close`, `keep-alive` and
/// `upgrade` (hop-by-hop anyway).
fn names_other_fields(value: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .any(|t| {
            !t.is_empty()
                && !t.eq_ignore_ascii_case(b"close")
                && !t.eq_ignore_ascii_case(b"keep-alive")
                && !t.eq_ignore_ascii_case(b"upgrade")
        })
}

/// A head's fields: its bytes and their [`Layout`] (boxed: heads move through
/// several layers of the pipeline, and a box moves in 8 bytes).
#[derive(Debug, Clone)]
pub(crate) struct RawHead {
    bytes: Bytes,
    layout: Box<Layout>,
}

impl RawHead {
    /// The fields `layout` locates in `bytes` (the head it was made from).
    pub(crate) fn new(bytes: Bytes, layout: Box<Layout>) -> Self {
        Self { bytes, layout }
    }

    fn at(&self, i: usize) -> (&[u8], &[u8]) {
        let [ns, nl, vs, vl] = self.layout.spans[i].map(usize::from);
        (&self.bytes[ns..ns + nl], &self.bytes[vs..vs + vl])
    }

    fn count(&self) -> usize {
        usize::from(self.layout.len)
    }

    /// Every field, in order, as (name, value).
    pub(crate) fn fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        (0..self.count()).map(|i| self.at(i))
    }

    /// Calls `f` with the kind and value of every field that is not [`Known::Other`], in order.
    pub(crate) fn each_known(&self, mut f: impl FnMut(Known, &[u8])) {
        for i in 0..self.count() {
            let kind = self.layout.kinds[i];
            if kind != Known::Other {
                f(kind, self.at(i).1);
            }
        }
    }

    /// The value of the first field of `kind` (not [`Known::Other`]).
    pub(crate) fn known(&self, kind: Known) -> Option<&[u8]> {
        match self.layout.first[kind as usize] {
            0 => None,
            i => Some(self.at(usize::from(i) - 1).1),
        }
    }

    /// The value of the first field called `name` (any case).
    pub(crate) fn get(&self, name: &[u8]) -> Option<&[u8]> {
        match Known::of(name) {
            Known::Other => self
                .fields()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v),
            kind => self.known(kind),
        }
    }

    /// Writes the fields whose kinds `keep` accepts as `name: value` lines;
    /// neighbouring kept fields are copied as they arrived, in one piece.
    pub(crate) fn write(&self, out: &mut Vec<u8>, keep: impl Fn(Known) -> bool) {
        // The run of kept fields being gathered: from a name's start to a value's end.
        let mut run: Option<(usize, usize)> = None;
        let flush = |out: &mut Vec<u8>, (from, to): (usize, usize)| {
            out.extend_from_slice(&self.bytes[from..to]);
            out.extend_from_slice(b"\r\n");
        };
        for i in 0..self.count() {
            if !keep(self.layout.kinds[i]) {
                if let Some(r) = run.take() {
                    flush(out, r);
                }
                continue;
            }
            let [ns, _, vs, vl] = self.layout.spans[i].map(usize::from);
            run = match run {
                Some((from, to)) if self.bytes.get(to..ns) == Some(&b"\r\n"[..]) => {
                    Some((from, vs + vl))
                }
                Some(r) => {
                    flush(out, r);
                    Some((ns, vs + vl))
                }
                None => Some((ns, vs + vl)),
            };
        }
        if let Some(r) = run {
            flush(out, r);
        }
    }

    /// Adds the fields that pass on (not hop-by-hop) to `map` (for HTTP/2 clients).
    pub(crate) fn merge_into(&self, map: &mut HeaderMap, keep: impl Fn(Known) -> bool) {
        for i in 0..self.count() {
            if !keep(self.layout.kinds[i]) {
                continue;
            }
            let [ns, nl, vs, vl] = self.layout.spans[i].map(usize::from);
            let name = HeaderName::from_bytes(&self.bytes[ns..ns + nl]);
            let value = HeaderValue::from_maybe_shared(self.bytes.slice(vs..vs + vl));
            if let (Ok(name), Ok(value)) = (name, value) {
                map.append(name, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &'static str, spans: &[(Span, Span)]) -> Option<RawHead> {
        let layout = Layout::of_spans(text.as_bytes(), spans)?;
        Some(RawHead::new(Bytes::from_static(text.as_bytes()), layout))
    }

    /// Spans of `name: value` lines after the status line of `text`.
    fn spans(text: &str) -> Vec<(Span, Span)> {
        let mut out = Vec::new();
        let mut at = text.find("\r\n").map_or(0, |i| i + 2);
        for line in text[at..].split("\r\n").take_while(|l| !l.is_empty()) {
            let colon = line.find(':').unwrap_or(0);
            let value_at =
                colon + 1 + (line.len() - colon - 1 - line[colon + 1..].trim_start().len());
            out.push(((at, colon), (at + value_at, line.len() - value_at)));
            at += line.len() + 2;
        }
        out
    }

    const TEXT: &str = "HTTP/1.1 200 OK\r\nServer: x\r\nConnection: keep-alive\r\nContent-Length: 2\r\nX-A: 1\r\n\r\n";

    #[test]
    fn fields_are_found_in_any_case_and_hop_by_hop_ones_stay_out_of_maps() {
        let raw = head(TEXT, &spans(TEXT)).expect("raw");
        assert_eq!(raw.get(b"x-a"), Some(&b"1"[..]));
        assert_eq!(raw.get(b"SERVER"), Some(&b"x"[..]));
        assert_eq!(raw.get(b"date"), None);
        assert_eq!(raw.known(Known::ContentLength), Some(&b"2"[..]));
        let mut map = HeaderMap::new();
        raw.merge_into(&mut map, |k| !k.is_hop_by_hop());
        assert_eq!(map.len(), 3);
        assert_eq!(map["content-length"], "2");
        assert_eq!(map["x-a"], "1");
        assert!(map.get("connection").is_none());
    }

    #[test]
    fn a_connection_naming_other_fields_takes_the_map_path() {
        const OTHER: &str = "HTTP/1.1 200 OK\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\n\r\n";
        assert!(head(OTHER, &spans(OTHER)).is_none());
        let many: Vec<(Span, Span)> = (0..=RAW_FIELDS).map(|_| ((17, 6), (25, 1))).collect();
        assert!(head(TEXT, &many).is_none());
    }

    #[test]
    fn kept_fields_are_written_in_runs_as_they_arrived() {
        const ODD: &str =
            "HTTP/1.1 200 OK\r\nA:1\r\nB:  2\r\nConnection: close\r\nC: 3\r\nD: 4\r\n\r\n";
        let raw = head(ODD, &spans(ODD)).expect("raw");
        let mut out = Vec::new();
        raw.write(&mut out, |k| !k.is_hop_by_hop());
        assert_eq!(out, b"A:1\r\nB:  2\r\nC: 3\r\nD: 4\r\n");
        out.clear();
        raw.write(&mut out, |k| k == Known::Other);
        assert_eq!(out, b"A:1\r\nB:  2\r\nC: 3\r\nD: 4\r\n");
        out.clear();
        raw.write(&mut out, |_| false);
        assert!(out.is_empty());
    }
}
