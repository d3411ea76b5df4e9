//! A message's header fields as the proxy carries them: kept raw as they arrived
//! (HTTP/1.1 heads, the usual case) or in a header map (HTTP/2 clients, Shoal's
//! own answers, heads that cannot be kept raw); read and written the same way.

use http::{HeaderMap, HeaderValue};

use crate::headers::Known;
use crate::raw::RawHead;

/// Looking up a header field by its lower-case name (routing and trace context
/// read requests through this, whichever form their fields are in).
pub trait HeaderLookup {
    /// The value of the first field called `name` (lower case).
    fn header(&self, name: &str) -> Option<&[u8]>;
}

impl HeaderLookup for HeaderMap {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.get(name).map(HeaderValue::as_bytes)
    }
}

/// Header fields, raw or in a map (both boxed inside: fields move through
/// several layers of the pipeline).
#[derive(Debug)]
pub(crate) enum Fields {
    Raw(RawHead),
    Map(Box<HeaderMap>),
}

impl Default for Fields {
    fn default() -> Self {
        Fields::map(HeaderMap::new())
    }
}

impl HeaderLookup for Fields {
    fn header(&self, name: &str) -> Option<&[u8]> {
        match self {
            Fields::Raw(raw) => raw.get(name.as_bytes()),
            Fields::Map(map) => map.header(name),
        }
    }
}

impl Fields {
    pub(crate) fn map(map: HeaderMap) -> Self {
        Fields::Map(Box::new(map))
    }

    /// The value of the first field of `kind` (not [`Known::Other`]).
    pub(crate) fn known(&self, kind: Known) -> Option<&[u8]> {
        match self {
            Fields::Raw(raw) => raw.known(kind),
            Fields::Map(map) => map.header(kind.name()),
        }
    }

    /// Whether a field of `kind` (not [`Known::Other`]) is present.
    pub(crate) fn has(&self, kind: Known) -> bool {
        self.known(kind).is_some()
    }

    /// Calls `f` with every field, in order, as (name, value).
    pub(crate) fn each(&self, mut f: impl FnMut(&[u8], &[u8])) {
        match self {
            Fields::Raw(raw) => raw.fields().for_each(|(n, v)| f(n, v)),
            Fields::Map(map) => map
                .iter()
                .for_each(|(n, v)| f(n.as_str().as_bytes(), v.as_bytes())),
        }
    }

    /// Writes the fields whose kinds `keep` accepts as `name: value` lines.
    pub(crate) fn write(&self, out: &mut Vec<u8>, keep: impl Fn(Known) -> bool) {
        match self {
            Fields::Raw(raw) => raw.write(out, keep),
            Fields::Map(map) => {
                for (name, value) in map.iter() {
                    let name = name.as_str().as_bytes();
                    if keep(Known::of(name)) {
                        out.extend_from_slice(name);
                        out.extend_from_slice(b": ");
                        out.extend_from_slice(value.as_bytes());
                        out.extend_from_slice(b"\r\n");
                    }
                }
            }
        }
    }

    /// The fields in a map, hop-by-hop ones left out of raw fields (a map is taken as it is).
    pub(crate) fn into_map(self) -> HeaderMap {
        match self {
            Fields::Map(map) => *map,
            Fields::Raw(raw) => {
                let mut map = HeaderMap::new();
                raw.merge_into(&mut map, |k| !k.is_hop_by_hop());
                map
            }
        }
    }

    /// Adds the fields whose kinds `keep` accepts to `map` (raw values are
    /// shared, not copied; a map's are cloned).
    pub(crate) fn merge_into(&self, map: &mut HeaderMap, keep: impl Fn(Known) -> bool) {
        match self {
            Fields::Raw(raw) => raw.merge_into(map, keep),
            Fields::Map(m) => {
                for (name, value) in m.iter() {
                    if keep(Known::of(name.as_str().as_bytes())) {
                        map.append(name.clone(), value.clone());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn raw_and_map_fields_read_and_write_alike() {
        let text = "HTTP/1.1 200 OK\r\nX-A: 1\r\nConnection: keep-alive\r\n\r\n";
        let spans = [((17, 3), (22, 1)), ((25, 10), (37, 10))];
        let layout = crate::raw::Layout::of_spans(text.as_bytes(), &spans).expect("layout");
        let raw = RawHead::new(Bytes::from_static(text.as_bytes()), layout);
        let fields = Fields::Raw(raw);
        assert_eq!(fields.header("x-a"), Some(&b"1"[..]));
        assert!(fields.has(Known::Connection) && !fields.has(Known::Date));
        let mut out = Vec::new();
        fields.write(&mut out, |k| k != Known::Connection);
        assert_eq!(out, b"X-A: 1\r\n");
        let map = fields.into_map();
        assert_eq!(map["x-a"], "1");
        assert!(
            map.get("connection").is_none(),
            "hop-by-hop fields stay behind"
        );
    }
}
