//! Queries that go on below the memory ring into the disk log: the same
//! lines, numbers and order as if memory had held them all, across reopens.

use std::path::Path;

use shoal_logs::{DiskLimits, Entry, LogLimits, LogQuery, LogStore, Stream, TraceLine};

/// A store on `dir` whose ring holds a few hundred lines (and lines of any
/// age, so hand-written ones at time 1 are kept).
fn small_store(dir: &Path) -> LogStore {
    let limits = LogLimits {
        max_bytes: 64 * 1024,
        max_age: std::time::Duration::MAX,
        ..LogLimits::default()
    };
    LogStore::open(limits, dir, DiskLimits::default()).expect("open")
}

/// A disk line numbered `q` with `text`, as the writer lays it out (time 1).
fn disk_line(q: u64, text: &str) -> String {
    format!(r#"{{"t":1,"q":{q},"s":"web","v":"1","i":"web-1","st":"stdout","l":"{text}"}}"#)
}

/// `bytes` as the one segment file of `dir`.
fn write_segment(dir: &Path, bytes: impl AsRef<[u8]>) {
    std::fs::write(dir.join("seg-000000000000001-000001.jsonl"), bytes).expect("write");
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// Lines `from..to`: `line I` of service web (even) or api (odd); lines 10
/// and 11 carry [`TRACE`], 11 with writer fields (an access line).
fn fill(store: &LogStore, from: u64, to: u64) {
    for i in from..to {
        let service = if i % 2 == 0 { "web" } else { "api" };
        let text = format!("line {i}");
        match i {
            10 => store.append(
                service,
                "1",
                "a-1",
                Stream::Stdout,
                &format!("{text} {TRACE}"),
            ),
            11 => {
                let mut fields = serde_json::Map::new();
                fields.insert("status".into(), 503.into());
                store.append_entry(Entry {
                    service,
                    version: "1",
                    instance: "proxy",
                    stream: Stream::System,
                    line: &text,
                    trace_id: Some(TRACE),
                    fields: Some(fields),
                })
            }
            _ => store.append(service, "1", "a-1", Stream::Stdout, &text),
        };
    }
}

fn texts(lines: &[shoal_logs::LogLine]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l.line.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect()
}

fn expected(range: impl Iterator<Item = u64>) -> Vec<String> {
    range.map(|i| format!("line {i}")).collect()
}

#[test]
fn queries_the_ring_cannot_fill_go_on_into_the_disk_log() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = small_store(dir.path());
    fill(&store, 0, 5_000);
    // Writes what is queued; queries still read the disk.
    store.close();
    let kept = store.stats().lines;
    assert!(kept < 1_000, "the ring holds {kept} lines");

    let all = store.query(&LogQuery::default());
    assert_eq!(texts(&all), expected(0..5_000), "every line once, in order");
    let seqs: Vec<u64> = all.iter().map(|l| l.seq).collect();
    assert_eq!(seqs, (1..=5_000).collect::<Vec<_>>());
    let memory = store.query_memory(&LogQuery::default());
    assert_eq!(memory.len(), kept, "the ring's lines only");
    assert_eq!(memory.last().map(|l| l.seq), Some(5_000));

    let web = store.query(&LogQuery {
        service: Some("web".into()),
        limit: 1_000,
        ..Default::default()
    });
    assert_eq!(texts(&web), expected((3_000..5_000).step_by(2)));

    let after = store.query(&LogQuery {
        after_seq: Some(4_000),
        limit: 0,
        ..Default::default()
    });
    assert_eq!(texts(&after), expected(4_000..5_000));
    let web_after = store.query(&LogQuery {
        service: Some("web".into()),
        after_seq: Some(4_000),
        limit: 0,
        ..Default::default()
    });
    assert_eq!(texts(&web_after), expected((4_000..5_000).step_by(2)));

    let grep = store.query(&LogQuery {
        grep: Some("line 12".into()),
        limit: 0,
        ..Default::default()
    });
    assert_eq!(grep.len(), 1 + 10 + 100, "line 12, 120-129, 1200-1299");

    let traced = store.query(&LogQuery {
        trace: Some(TRACE.into()),
        ..Default::default()
    });
    assert_eq!(texts(&traced), expected(10..12));
    assert_eq!(traced[1].field("status"), Some(&503.into()));
    assert_eq!(traced[0].trace_id.as_deref(), Some(TRACE));

    // The trace's access line comes back as its fields, for its span.
    let spans = store.lines_of_trace(TRACE);
    assert!(
        matches!(&spans[..], [TraceLine::Fields { json, .. }] if json.contains("503")),
        "{spans:?}"
    );
}

#[test]
fn numbers_go_on_after_a_reopen_and_older_lines_stay_reachable() {
    let dir = tempfile::tempdir().expect("tmp");
    {
        let store = small_store(dir.path());
        fill(&store, 0, 3_000);
        store.close();
    }
    let store = small_store(dir.path());
    assert_eq!(
        store.append("web", "1", "a-1", Stream::Stdout, "line 3000"),
        3_001
    );
    store.close();
    let all = store.query(&LogQuery {
        limit: 0,
        ..Default::default()
    });
    assert_eq!(texts(&all), expected(0..3_001));
    assert!(all.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
    assert_eq!(
        store
            .query(&LogQuery {
                trace: Some(TRACE.into()),
                ..Default::default()
            })
            .len(),
        2
    );
}

#[test]
fn a_gap_on_disk_starts_the_ring_after_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let text: String = [1, 2, 3, 5, 6]
        .map(|q| disk_line(q, &format!("line {q}")) + "\n")
        .concat();
    write_segment(dir.path(), text);
    let store = small_store(dir.path());
    assert_eq!(store.stats().lines, 2, "5 and 6 are consecutive, 3 is not");
    assert_eq!(
        store.append("web", "1", "web-1", Stream::Stdout, "line 7"),
        7
    );
    store.close();
    let seqs: Vec<u64> = store
        .query(&LogQuery::default())
        .iter()
        .map(|l| l.seq)
        .collect();
    assert_eq!(seqs, [1, 2, 3, 5, 6, 7]);
}

#[test]
fn a_trace_listing_goes_on_into_the_disk_log_newest_first() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = small_store(dir.path());
    for i in 0..3_000u64 {
        let trace = format!("{:032x}", i + 1);
        let mut fields = serde_json::Map::new();
        fields.insert("n".into(), i.into());
        store.append_entry(Entry {
            service: "web",
            version: "1",
            instance: "proxy",
            stream: Stream::System,
            line: "access",
            trace_id: Some(&trace),
            fields: Some(fields),
        });
    }
    store.close();
    assert!(store.stats().lines < 1_000);
    let mut got = Vec::new();
    store.recent_traces(|lines| {
        if let [TraceLine::Fields { json, .. }] = lines {
            let v: serde_json::Value = serde_json::from_str(json).expect("json");
            got.push(v["n"].as_u64().unwrap_or(u64::MAX));
        }
        true
    });
    assert_eq!(
        got,
        (0..3_000).rev().collect::<Vec<_>>(),
        "each trace once, newest first"
    );
    let mut first = 0;
    store.recent_traces(|_| {
        first += 1;
        first < 5
    });
    assert_eq!(first, 5, "the walk stops when told");
}

#[test]
fn garbage_in_a_segment_is_skipped_not_fatal() {
    let dir = tempfile::tempdir().expect("tmp");
    let good = |q: u64| disk_line(q, &format!("line {q}"));
    let text = [
        good(1),
        "\u{0}\u{1}binary".into(),
        r#"{"t":1,"q":2,"s":"web","#.into(),
        r#"{"t":1,"q":99999999999999999999999,"s":"web"}"#.into(),
        r#"{"t":"x","q":3}"#.into(),
        good(2),
        String::new(),
        good(3),
    ]
    .join("\n");
    write_segment(dir.path(), text);
    let store = small_store(dir.path());
    // Enough new lines that the three good ones are on disk only.
    for i in 0..2_000 {
        store.append("web", "1", "web-1", Stream::Stdout, &format!("other {i}"));
    }
    store.close();
    let all = store.query(&LogQuery {
        grep: Some("line ".into()),
        ..Default::default()
    });
    assert_eq!(texts(&all), expected(1..4));
    let everything = store.query(&LogQuery::default());
    assert_eq!(everything.len(), 3 + 2_000);
    assert_eq!(
        everything[3].seq, 4,
        "numbering went on after the newest line on disk"
    );
}

/// Found by fuzzing (fuzz/fuzz_targets/log_segment.rs): a line that is not
/// UTF-8 stopped the restore's reading, so numbers on disk were given again.
/// Numbers out of order on disk (a doctored file) come back in order, once.
#[test]
fn unreadable_and_out_of_order_lines_never_give_a_number_twice() {
    let dir = tempfile::tempdir().expect("tmp");
    let line = |q: u64| disk_line(q, &format!("old {q}")).into_bytes();
    let mut bytes = Vec::new();
    for part in [
        line(1),
        line(6),
        b"{\"t\":1,\"q\":2,\"s\":\"w\xff\xfe\"}".to_vec(),
        line(3),
        line(4),
    ] {
        bytes.extend_from_slice(&part);
        bytes.push(b'\n');
    }
    write_segment(dir.path(), bytes);
    let store = small_store(dir.path());
    assert_eq!(store.append("web", "1", "web-1", Stream::Stdout, "new"), 5);
    for i in 0..1_000 {
        store.append("web", "1", "web-1", Stream::Stdout, &format!("new {i}"));
    }
    store.close();
    let seqs: Vec<u64> = store
        .query(&LogQuery::default())
        .iter()
        .map(|l| l.seq)
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{:?}", &seqs[..10]);
    assert_eq!(
        &seqs[..3],
        &[1, 3, 4],
        "the unreadable line is skipped, 6 is out of order"
    );
}
