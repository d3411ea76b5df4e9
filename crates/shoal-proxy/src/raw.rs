//! An instance's answer head kept as it arrived: an HTTP/1.1 client gets its
//! fields written as they are (minus hop-by-hop ones) without a header map being
//! built and taken apart per answer; an HTTP/2 client gets them merged into the map.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::headers::is_hop_by_hop;

/// Fields kept raw at most; answers with more get a header map.
const RAW_FIELDS: usize = 16;

/// Where a piece of a parsed head lies in its buffer: (start, length).
pub(crate) type Span = (usize, usize);

/// An answer's header fields as spans of its head's bytes.
#[derive(Debug, Clone)]
pub(crate) struct RawHead {
    bytes: Bytes,
    fields: [[u32; 4]; RAW_FIELDS],
    len: usize,
}

fn is_length(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"content-length")
}

impl RawHead {
    /// The fields `spans` locate in `bytes`; `None` when there are more than
    /// [`RAW_FIELDS`], the head is over 4 GiB, or `Connection` names other
    /// fields to drop (those answers take the header-map path).
    pub(crate) fn new(bytes: Bytes, spans: &[(Span, Span)]) -> Option<Self> {
        if spans.len() > RAW_FIELDS {
            return None;
        }
        let mut fields = [[0u32; 4]; RAW_FIELDS];
        for (slot, &((ns, nl), (vs, vl))) in fields.iter_mut().zip(spans) {
            *slot = [
                u32::try_from(ns).ok()?,
                u32::try_from(nl).ok()?,
                u32::try_from(vs).ok()?,
                u32::try_from(vl).ok()?,
            ];
        }
        let raw = Self {
            bytes,
            fields,
            len: spans.len(),
        };
        let lists_others = raw
            .fields()
            .filter(|(n, _)| n.eq_ignore_ascii_case(b"connection"))
            .flat_map(|(_, v)| v.split(|&b| b == b','))
            .map(<[u8]>::trim_ascii)
            .any(|t| {
                !t.is_empty()
                    && !t.eq_ignore_ascii_case(b"close")
                    && !t.eq_ignore_ascii_case(b"keep-alive")
            });
        (!lists_others).then_some(raw)
    }

    /// Every field, in order, as (name, value).
    pub(crate) fn fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.fields[..self.len].iter().map(|&[ns, nl, vs, vl]| {
            let (ns, nl, vs, vl) = (ns as usize, nl as usize, vs as usize, vl as usize);
            (&self.bytes[ns..ns + nl], &self.bytes[vs..vs + vl])
        })
    }

    /// Whether a field called `name` (any case) is present.
    pub(crate) fn has(&self, name: &[u8]) -> bool {
        self.get(name).is_some()
    }

    /// The value of the first field called `name` (any case).
    pub(crate) fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.fields()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Writes the fields that pass on (`name: value` lines); `Content-Length` too unless `skip_length`.
    pub(crate) fn write(&self, out: &mut Vec<u8>, skip_length: bool) {
        for (name, value) in self.fields() {
            if is_hop_by_hop(name) || (skip_length && is_length(name)) {
                continue;
            }
            out.extend_from_slice(name);
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
    }

    /// Adds the fields that pass on to `map` (for HTTP/2 clients).
    pub(crate) fn merge_into(&self, map: &mut HeaderMap) {
        for ((name, _), [_, _, vs, vl]) in self.fields().zip(self.fields) {
            if is_hop_by_hop(name) {
                continue;
            }
            let (vs, vl) = (vs as usize, vl as usize);
            let value = HeaderValue::from_maybe_shared(self.bytes.slice(vs..vs + vl));
            if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name), value) {
                map.append(name, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &'static str, spans: &[(Span, Span)]) -> Option<RawHead> {
        RawHead::new(Bytes::from_static(text.as_bytes()), spans)
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
    fn hop_by_hop_fields_do_not_pass_and_the_length_is_ours() {
        let raw = head(TEXT, &spans(TEXT)).expect("raw");
        assert!(raw.has(b"x-a") && raw.has(b"SERVER") && !raw.has(b"date"));
        let mut out = Vec::new();
        raw.write(&mut out, true);
        assert_eq!(out, b"Server: x\r\nX-A: 1\r\n");
        let mut out = Vec::new();
        raw.write(&mut out, false);
        assert_eq!(out, b"Server: x\r\nContent-Length: 2\r\nX-A: 1\r\n");
        let mut map = HeaderMap::new();
        raw.merge_into(&mut map);
        assert_eq!(map.len(), 3);
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
}
