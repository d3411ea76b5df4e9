//! Fuzz target: the log store on arbitrary lines: structure and trace id
//! extraction, trace lookups, eviction under a tiny budget, and every filter.
//! Any panic is a bug; the store never holds more than its budget.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal_logs::{LogLimits, LogQuery, LogStore, Stream};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let store = LogStore::new(LogLimits {
        max_bytes: 4096,
        max_line_bytes: 256,
        ..LogLimits::default()
    });
    let mut traces = Vec::new();
    for line in text.split('\n') {
        store.append("svc", "1", "svc-1", Stream::Stdout, line);
        if let Some(t) = shoal_logs::first_trace_id(line) {
            assert!(shoal_logs::is_trace_id(&t));
            traces.push(t);
        }
        assert!(store.stats().bytes <= 4096);
    }
    for t in traces {
        for l in store.query(&LogQuery { trace: Some(t.clone()), ..Default::default() }) {
            assert_eq!(l.trace_id.as_deref(), Some(t.as_str()));
        }
    }
    let _ = store.query(&LogQuery {
        fields: vec![("level".into(), "error".into())],
        grep: Some("a".into()),
        ..Default::default()
    });
});
