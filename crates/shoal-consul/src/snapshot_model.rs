//! The snapshot archive of `/v1/snapshot` and `shoal snapshot`: which keys it holds and
//! its bytes. Pure: encoding, decoding and checking, no store.
//!
//! A snapshot is the platform's state, not its running processes: the KV store, Consul
//! registrations, sessions and events, flags, secrets (as stored, encrypted), the
//! desired state (service specs, scale, deploys and their history, chaos experiments).
//! Instance records, placements, node leases and leadership are what running processes
//! report: they are neither saved nor touched by a restore, and the fleet converges to
//! the restored desired state.
//!
//! The archive is gzip (whose CRC-32 covers every byte) of JSON lines: a header
//! `{"format":"shoal-snapshot","version":1,"revision":R,"created_ms":T,"entries":N}`,
//! then one `{"key":K,"value":BASE64,"leased":bool}` per key, in key order.

use std::io::{Read, Write};

use base64::Engine;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde::{Deserialize, Serialize};

/// The key prefixes a snapshot saves and a restore replaces.
pub const SAVED_PREFIXES: &[&str] = &[
    "kv/",
    "shoal/kvmeta/",
    "shoal/consul/",
    "shoal/flags/",
    "shoal/secret/",
    "shoal/spec/",
    "shoal/scale/",
    "shoal/autoscale/",
    "shoal/deploy/",
    "shoal/history/",
    "shoal/chaos/",
    "shoal/applied/",
];

/// The format name in the header.
const FORMAT: &str = "shoal-snapshot";
/// The one version written and read.
const VERSION: u32 = 1;
/// The most bytes a snapshot may unpack to (a bound on what a restore reads).
pub const MAX_UNPACKED: u64 = 1 << 30;

/// Whether `key` belongs in a snapshot.
pub fn saved(key: &str) -> bool {
    SAVED_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// The first line of an archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub version: u32,
    /// The store revision it was taken at.
    pub revision: i64,
    pub created_ms: u64,
    /// How many entry lines follow.
    pub entries: usize,
}

/// One saved key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: Vec<u8>,
    /// Held by a store lease when saved (a session with a TTL): a restore gives it a
    /// new lease.
    pub leased: bool,
}

#[derive(Serialize, Deserialize)]
struct Line {
    key: String,
    value: String,
    #[serde(default)]
    leased: bool,
}

/// Why an archive was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SnapshotError {
    #[error("not a Shoal snapshot (gzip of JSON lines expected): {0}")]
    NotAnArchive(String),
    #[error("line {line}: {what}")]
    Line { line: usize, what: String },
    #[error(
        "the header says {said} entries but the archive holds {found}: it was cut short or altered"
    )]
    Count { said: usize, found: usize },
    #[error("unsupported snapshot {format:?} version {version} (this Shoal reads {FORMAT:?} version {VERSION})")]
    Version { format: String, version: u32 },
    #[error("key {0:?} is outside what a snapshot holds")]
    Scope(String),
}

/// The archive of `entries` (sorted by key here), taken at `revision`.
pub fn encode(mut entries: Vec<Entry>, revision: i64, created_ms: u64) -> Vec<u8> {
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    let header = Header {
        format: FORMAT.into(),
        version: VERSION,
        revision,
        created_ms,
        entries: entries.len(),
    };
    let mut text = Vec::new();
    push_line(&mut text, &header);
    for e in entries {
        push_line(
            &mut text,
            &Line {
                key: e.key,
                value: base64::engine::general_purpose::STANDARD.encode(&e.value),
                leased: e.leased,
            },
        );
    }
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    // Writing to a Vec cannot fail.
    let _ = gz.write_all(&text);
    gz.finish().unwrap_or_default()
}

/// Appends `v` as one JSON line (these types always serialise).
fn push_line<T: Serialize>(text: &mut Vec<u8>, v: &T) {
    if serde_json::to_writer(&mut *text, v).is_ok() {
        text.push(b'\n');
    }
}

/// The header and entries of an archive, checked: gzip intact (its CRC), a known
/// format and version, every line readable, as many entries as the header says, every
/// key one a snapshot holds.
pub fn decode(bytes: &[u8]) -> Result<(Header, Vec<Entry>), SnapshotError> {
    let mut text = Vec::new();
    GzDecoder::new(bytes)
        .take(MAX_UNPACKED + 1)
        .read_to_end(&mut text)
        .map_err(|e| SnapshotError::NotAnArchive(e.to_string()))?;
    if text.len() as u64 > MAX_UNPACKED {
        return Err(SnapshotError::NotAnArchive(format!(
            "it unpacks to more than {MAX_UNPACKED} bytes"
        )));
    }
    let mut lines = text.split(|b| *b == b'\n').filter(|l| !l.is_empty());
    let header: Header = lines
        .next()
        .ok_or_else(|| SnapshotError::NotAnArchive("it is empty".into()))
        .and_then(|l| {
            serde_json::from_slice(l).map_err(|e| SnapshotError::Line {
                line: 1,
                what: format!("the header: {e}"),
            })
        })?;
    if header.format != FORMAT || header.version != VERSION {
        return Err(SnapshotError::Version {
            format: header.format,
            version: header.version,
        });
    }
    let mut entries = Vec::with_capacity(header.entries.min(1 << 20));
    for (i, l) in lines.enumerate() {
        let at = |what: String| SnapshotError::Line { line: i + 2, what };
        let line: Line = serde_json::from_slice(l).map_err(|e| at(e.to_string()))?;
        let value = base64::engine::general_purpose::STANDARD
            .decode(line.value.as_bytes())
            .map_err(|e| at(format!("value of {:?}: {e}", line.key)))?;
        if !saved(&line.key) {
            return Err(SnapshotError::Scope(line.key));
        }
        entries.push(Entry {
            key: line.key,
            value,
            leased: line.leased,
        });
    }
    if entries.len() != header.entries {
        return Err(SnapshotError::Count {
            said: header.entries,
            found: entries.len(),
        });
    }
    Ok((header, entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, value: &[u8], leased: bool) -> Entry {
        Entry {
            key: key.into(),
            value: value.to_vec(),
            leased,
        }
    }

    #[test]
    fn an_archive_reads_back_what_was_written_in_key_order() {
        let entries = vec![
            entry("shoal/flags/beta", b"{}", false),
            entry("kv/app/x", &[0, 159, 255], false),
            entry("shoal/consul/sessions/abc", b"{\"ttl\":\"30s\"}", true),
        ];
        let bytes = encode(entries.clone(), 42, 7);
        let (header, back) = decode(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (header.revision, header.created_ms, header.entries),
            (42, 7, 3)
        );
        let keys: Vec<&str> = back.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            ["kv/app/x", "shoal/consul/sessions/abc", "shoal/flags/beta"]
        );
        assert_eq!(back[0].value, [0, 159, 255]);
        assert!(back[1].leased && !back[0].leased);
    }

    #[test]
    fn runtime_state_is_not_saved() {
        for key in [
            "shoal/catalog/web/web-1",
            "shoal/placement/n1/web-1",
            "shoal/nodes/n1",
            "shoal/leader/x",
        ] {
            assert!(!saved(key), "{key}");
        }
        assert!(saved("kv/a") && saved("shoal/spec/web") && saved("shoal/consul/events/1"));
    }

    #[test]
    fn damaged_or_foreign_archives_are_refused() {
        let good = encode(vec![entry("kv/a", b"1", false)], 1, 1);
        // Not gzip at all.
        assert!(matches!(
            decode(b"hello"),
            Err(SnapshotError::NotAnArchive(_))
        ));
        // A flipped byte in the middle: gzip's CRC (or inflate) catches it.
        let mut flipped = good.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0x55;
        assert!(decode(&flipped).is_err());
        // Cut short.
        assert!(decode(&good[..good.len() - 6]).is_err());
        // Valid gzip, wrong contents.
        let gz = |text: &str| {
            let mut e = GzEncoder::new(Vec::new(), Compression::default());
            let _ = e.write_all(text.as_bytes());
            e.finish().unwrap_or_default()
        };
        let header =
            r#"{"format":"shoal-snapshot","version":1,"revision":1,"created_ms":0,"entries":2}"#;
        let one = r#"{"key":"kv/a","value":"MQ=="}"#;
        assert_eq!(
            decode(&gz(&format!("{header}\n{one}\n"))),
            Err(SnapshotError::Count { said: 2, found: 1 })
        );
        assert!(matches!(
            decode(&gz(&format!("{header}\n{one}\nnot json\n"))),
            Err(SnapshotError::Line { line: 3, .. })
        ));
        let outside = r#"{"key":"shoal/catalog/web/1","value":""}"#;
        assert_eq!(
            decode(&gz(&format!("{header}\n{one}\n{outside}\n"))),
            Err(SnapshotError::Scope("shoal/catalog/web/1".into()))
        );
        let v2 =
            r#"{"format":"shoal-snapshot","version":2,"revision":1,"created_ms":0,"entries":0}"#;
        assert!(matches!(
            decode(&gz(v2)),
            Err(SnapshotError::Version { version: 2, .. })
        ));
        assert!(matches!(
            decode(&gz("")),
            Err(SnapshotError::NotAnArchive(_))
        ));
    }
}
