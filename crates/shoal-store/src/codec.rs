//! Stable on-disk encoding of key/values and event lists: a version byte, then little-endian
//! integers and length-prefixed byte strings. Decoding checks every bound.

use crate::error::StoreError;
use crate::types::{Event, EventKind, KeyValue};

const FORMAT: u8 = 1;

/// Encodes a key's state without the key itself (the key is the table key).
pub(crate) fn encode_kv(kv: &KeyValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 36 + kv.value.len());
    out.push(FORMAT);
    put_meta(&mut out, kv);
    put_bytes(&mut out, &kv.value);
    out
}

pub(crate) fn decode_kv(key: &str, bytes: &[u8]) -> Result<KeyValue, StoreError> {
    let mut r = Reader::new(bytes);
    r.format()?;
    let kv = r.kv(key.to_owned())?;
    r.end()?;
    Ok(kv)
}

/// Encodes the events of one revision.
pub(crate) fn encode_events(events: &[Event]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + events.len() * 64);
    out.push(FORMAT);
    out.extend_from_slice(&(events.len() as u32).to_le_bytes());
    for ev in events {
        out.push(match ev.kind {
            EventKind::Put => 0,
            EventKind::Delete => 1,
        });
        put_bytes(&mut out, ev.kv.key.as_bytes());
        put_meta(&mut out, &ev.kv);
        put_bytes(&mut out, &ev.kv.value);
        match &ev.prev {
            None => out.push(0),
            Some(prev) => {
                out.push(1);
                put_meta(&mut out, prev);
                put_bytes(&mut out, &prev.value);
            }
        }
    }
    out
}

pub(crate) fn decode_events(bytes: &[u8]) -> Result<Vec<Event>, StoreError> {
    let mut r = Reader::new(bytes);
    r.format()?;
    let n = r.u32()? as usize;
    let mut events = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let kind = match r.u8()? {
            0 => EventKind::Put,
            1 => EventKind::Delete,
            other => return Err(corrupt(format!("unknown event kind {other}"))),
        };
        let key =
            String::from_utf8(r.bytes()?.to_vec()).map_err(|_| corrupt("key is not UTF-8"))?;
        let kv = r.kv(key.clone())?;
        let prev = match r.u8()? {
            0 => None,
            1 => Some(r.kv(key)?),
            other => return Err(corrupt(format!("bad prev flag {other}"))),
        };
        events.push(Event { kind, kv, prev });
    }
    r.end()?;
    Ok(events)
}

fn put_meta(out: &mut Vec<u8>, kv: &KeyValue) {
    for n in [kv.create_revision, kv.mod_revision, kv.version, kv.lease] {
        out.extend_from_slice(&n.to_le_bytes());
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Io(format!("corrupt record on disk: {what}"))
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if self.buf.len() < n {
            return Err(corrupt("record is truncated"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], StoreError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, StoreError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, StoreError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, StoreError> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    fn bytes(&mut self) -> Result<&'a [u8], StoreError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn format(&mut self) -> Result<(), StoreError> {
        match self.u8()? {
            FORMAT => Ok(()),
            other => Err(corrupt(format!("unknown format version {other}"))),
        }
    }

    fn kv(&mut self, key: String) -> Result<KeyValue, StoreError> {
        Ok(KeyValue {
            key,
            create_revision: self.i64()?,
            mod_revision: self.i64()?,
            version: self.i64()?,
            lease: self.i64()?,
            value: self.bytes()?.to_vec(),
        })
    }

    fn end(&self) -> Result<(), StoreError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(corrupt("trailing bytes"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::tombstone;

    fn kv(key: &str, value: &[u8], rev: i64) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: value.into(),
            create_revision: 2,
            mod_revision: rev,
            version: 3,
            lease: 7,
        }
    }

    #[test]
    fn kv_round_trips() {
        let kv = kv("a/b", b"hello", 9);
        assert_eq!(decode_kv("a/b", &encode_kv(&kv)).ok(), Some(kv));
    }

    #[test]
    fn events_round_trip() {
        let events = vec![
            Event {
                kind: EventKind::Put,
                kv: kv("k", b"v2", 5),
                prev: Some(kv("k", b"v1", 4)),
            },
            Event {
                kind: EventKind::Put,
                kv: kv("n", b"", 5),
                prev: None,
            },
            Event {
                kind: EventKind::Delete,
                kv: tombstone("x", 5),
                prev: Some(kv("x", b"old", 3)),
            },
        ];
        assert_eq!(decode_events(&encode_events(&events)).ok(), Some(events));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let good = encode_events(&[Event {
            kind: EventKind::Put,
            kv: kv("k", b"v", 2),
            prev: None,
        }]);
        for cut in 0..good.len() {
            assert!(decode_events(&good[..cut]).is_err());
        }
        assert!(decode_kv("k", &[1, 255, 255]).is_err());
        assert!(decode_kv("k", &[]).is_err());
        let mut extra = encode_kv(&kv("k", b"v", 2));
        extra.push(0);
        assert!(decode_kv("k", &extra).is_err());
    }
}
