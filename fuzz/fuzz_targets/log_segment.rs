//! Fuzz target: the disk log read back from an arbitrary segment file: the
//! restore at open, then queries, trace lookups and a trace listing that walk
//! the segment below the ring. Any panic is a bug; what comes back is numbered
//! in order. Lines of kind `"k":"access"` get their text made from their fields.
#![no_main]

use std::sync::atomic::{AtomicU64, Ordering};

use libfuzzer_sys::fuzz_target;
use shoal_logs::{DiskLimits, LogLimits, LogQuery, LogStore, Stream, TextOf};

static RUN: AtomicU64 = AtomicU64::new(0);

/// A text made of two of the fields (or none, when they are missing).
fn text_of(fields: &str) -> Option<String> {
    let f = shoal_logs::json_fields(fields)?;
    Some(format!("access {} {}", f.get("path")?.as_str()?, f.get("status")?.as_u64()?))
}

const KINDS: &[(&str, TextOf)] = &[("access", text_of)];

fuzz_target!(|data: &[u8]| {
    let run = RUN.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("shoal-fuzz-seg-{}-{run}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    if std::fs::create_dir_all(&dir).is_err()
        || std::fs::write(dir.join("seg-000000000000001-000001.jsonl"), data).is_err()
    {
        return;
    }
    let limits = LogLimits {
        max_bytes: 64 * 1024,
        max_age: std::time::Duration::MAX,
        ..LogLimits::default()
    };
    if let Ok(store) = LogStore::open_with_kinds(limits, &dir, DiskLimits::default(), KINDS) {
        // Push what was restored out of the ring, so queries walk the segment.
        for i in 0..600 {
            store.append("svc", "1", "svc-1", Stream::Stdout, &format!("new line {i}"));
        }
        store.close();
        for q in [
            LogQuery::default(),
            LogQuery { grep: Some("a".into()), limit: 10, ..Default::default() },
            LogQuery { service: Some("web".into()), ..Default::default() },
            LogQuery { trace: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()), ..Default::default() },
            LogQuery { after_seq: Some(2), since_ms: Some(1), ..Default::default() },
        ] {
            let lines = store.query(&q);
            assert!(lines.windows(2).all(|w| w[0].seq < w[1].seq), "{q:?}");
        }
        let _ = store.lines_of_trace("4bf92f3577b34da6a3ce929d0e0e4736");
        store.recent_traces(|_| true);
    }
    let _ = std::fs::remove_dir_all(&dir);
});
