//! Integration tests of `LogStore`: bounds under a flood, filters, ordering, live tail.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use shoal_logs::{Entry, LogLimits, LogQuery, LogStore, Stream};

#[test]
fn a_flood_of_a_million_lines_stays_within_one_mebibyte() {
    let limit = 1024 * 1024;
    let store = LogStore::new(LogLimits {
        max_bytes: limit,
        ..Default::default()
    });
    for i in 0..1_000_000u32 {
        store.append(
            "api",
            "1",
            "api-1",
            Stream::Stdout,
            &format!("request {i} ok"),
        );
        if i % 100_000 == 0 {
            assert!(store.stats().bytes <= limit);
        }
    }
    let stats = store.stats();
    assert!(stats.bytes <= limit, "{stats:?}");
    assert!(stats.lines > 1_000, "{stats:?}");
    assert_eq!(stats.dropped + stats.lines as u64, 1_000_000);
    let last = store.query(&LogQuery {
        limit: 1,
        ..Default::default()
    });
    assert_eq!(last[0].line, "request 999999 ok");
    assert_eq!(last[0].seq, 1_000_000);
}

#[test]
fn queries_filter_and_return_oldest_first() {
    let store = LogStore::default();
    store.append("api", "1", "api-1", Stream::Stdout, "GET /a");
    store.append("web", "2", "web-1", Stream::Stderr, "boom");
    store.append("api", "1", "api-2", Stream::Stdout, "GET /b");
    store.append("api", "1", "api-1", Stream::System, "exited");
    let api = store.query(&LogQuery {
        service: Some("api".into()),
        ..Default::default()
    });
    let texts: Vec<_> = api.iter().map(|l| l.line.as_str()).collect();
    assert_eq!(texts, ["GET /a", "GET /b", "exited"]);
    assert!(api.windows(2).all(|w| w[0].seq < w[1].seq));
    let grep = store.query(&LogQuery {
        grep: Some("GET".into()),
        instance: Some("api-2".into()),
        ..Default::default()
    });
    assert_eq!(grep.len(), 1);
    assert_eq!(grep[0].version, "1");
    assert_eq!(grep[0].stream, Stream::Stdout);
}

#[test]
fn lines_expire_by_age_with_an_injected_clock() {
    let now = Arc::new(AtomicU64::new(1_000_000));
    let clock_now = Arc::clone(&now);
    let store = LogStore::with_clock(
        LogLimits {
            max_age: Duration::from_secs(60),
            ..Default::default()
        },
        Arc::new(move || clock_now.load(Ordering::SeqCst)),
    );
    store.append("api", "1", "api-1", Stream::Stdout, "first");
    now.fetch_add(30_000, Ordering::SeqCst);
    store.append("api", "1", "api-1", Stream::Stdout, "second");
    let since = store.query(&LogQuery {
        since_ms: Some(1_010_000),
        ..Default::default()
    });
    assert_eq!(since.len(), 1);
    now.fetch_add(31_000, Ordering::SeqCst);
    let left = store.query(&LogQuery::default());
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].line, "second");
    assert_eq!(left[0].time_ms, 1_030_000);
    assert_eq!(store.stats().dropped, 1);
    assert_eq!(store.stats().oldest_ms, Some(1_030_000));
}

#[test]
fn lines_serialize_with_lowercase_streams() {
    let store = LogStore::default();
    store.append("api", "1", "api-1", Stream::Stderr, "oops");
    let line = &store.query(&LogQuery::default())[0];
    let json = serde_json::to_value(line).unwrap_or_default();
    assert_eq!(json["stream"], "stderr");
    assert_eq!(json["line"], "oops");
}

#[tokio::test]
async fn subscribers_see_new_lines_in_order() {
    let store = Arc::new(LogStore::default());
    store.append("api", "1", "api-1", Stream::Stdout, "before");
    let mut tail = store.subscribe();
    let writer = Arc::clone(&store);
    let task = tokio::spawn(async move {
        for i in 0..100 {
            writer.append("api", "1", "api-1", Stream::Stdout, &format!("live {i}"));
        }
    });
    for i in 0..100 {
        let line = tokio::time::timeout(Duration::from_secs(5), tail.recv()).await;
        let line = line
            .map_err(|_| "timed out")
            .and_then(|r| r.map_err(|_| "closed"));
        assert_eq!(line.map(|l| l.line), Ok(format!("live {i}")));
    }
    task.await.ok();
}

#[tokio::test]
async fn the_instance_tail_skips_system_lines_and_the_full_tail_keeps_them() {
    let store = LogStore::default();
    let mut instances = store.subscribe_instance_lines();
    let mut all = store.subscribe();
    store.append("proxy", "", "proxy", Stream::System, "access GET / 200");
    store.append("api", "1", "api-1", Stream::Stderr, "oops");
    let next = |rx: &mut tokio::sync::broadcast::Receiver<shoal_logs::LogLine>| {
        rx.try_recv().map(|l| l.line).unwrap_or_default()
    };
    assert_eq!(next(&mut instances), "oops");
    assert_eq!(
        next(&mut instances),
        "",
        "nothing more for the instance tail"
    );
    assert_eq!(next(&mut all), "access GET / 200");
    assert_eq!(next(&mut all), "oops");
}

#[test]
fn lines_survive_a_reopen_with_their_fields_and_trace_index() {
    use shoal_logs::DiskLimits;
    let dir = tempfile::tempdir().expect("tmp");
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    {
        let store =
            LogStore::open(LogLimits::default(), dir.path(), DiskLimits::default()).expect("open");
        store.append("web", "1", "web-1", Stream::Stdout, "plain line");
        store.append(
            "web",
            "1",
            "web-1",
            Stream::Stdout,
            &format!(r#"{{"level":"error","msg":"boom","trace_id":"{trace}"}}"#),
        );
        let mut fields = serde_json::Map::new();
        fields.insert("status".into(), 503.into());
        store.append_entry(Entry {
            service: "web",
            version: "1",
            instance: "proxy",
            stream: Stream::System,
            line: "access GET / 503",
            trace_id: Some(trace),
            fields: Some(fields),
        });
        store.close();
    }
    let again =
        LogStore::open(LogLimits::default(), dir.path(), DiskLimits::default()).expect("reopen");
    let all = again.query(&LogQuery::default());
    let texts: Vec<&str> = all.iter().map(|l| l.line.as_str()).collect();
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert_eq!(texts[0], "plain line");
    let traced = again.query(&LogQuery {
        trace: Some(trace.into()),
        ..Default::default()
    });
    assert_eq!(traced.len(), 2);
    assert_eq!(
        traced[0].field("msg").and_then(|v| v.as_str()),
        Some("boom")
    );
    assert_eq!(
        traced[1].field("status").and_then(|v| v.as_u64()),
        Some(503)
    );
    assert!(again.stats().disk_bytes > 0);
    again.close();
}

/// A line made when read: the proxy's access log keeps its record, not the text.
#[derive(Debug)]
struct Access {
    status: u16,
}

impl shoal_logs::LazyLine for Access {
    fn write_text(&self, out: &mut String) {
        out.push_str(&format!("access GET / {}", self.status));
    }
    fn write_fields(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(
            format!(r#"{{"status":{},"kind":"access"}}"#, self.status).as_bytes(),
        );
    }
    fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
    }
}

/// A proxy line of service `web` carrying `trace_id`, for a lazy line.
fn proxy_entry(trace_id: Option<&str>) -> Entry<'_> {
    Entry {
        service: "web",
        version: "1",
        instance: "proxy",
        stream: Stream::System,
        line: "",
        trace_id,
        fields: None,
    }
}

#[tokio::test]
async fn lazy_lines_read_filter_tail_and_survive_a_reopen_as_text() {
    use shoal_logs::DiskLimits;
    let dir = tempfile::tempdir().expect("tmp");
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    {
        let store =
            LogStore::open(LogLimits::default(), dir.path(), DiskLimits::default()).expect("open");
        let mut tail = store.subscribe();
        store.append_lazy(proxy_entry(Some(trace)), Arc::new(Access { status: 503 }));
        store.append_lazy(proxy_entry(None), Arc::new(Access { status: 200 }));
        let first = tail.recv().await.expect("tail");
        assert_eq!(first.line, "access GET / 503");
        assert_eq!(first.field("kind").and_then(|v| v.as_str()), Some("access"));
        let q =
            |q: LogQuery| -> Vec<String> { store.query(&q).into_iter().map(|l| l.line).collect() };
        assert_eq!(
            q(LogQuery::default()),
            ["access GET / 503", "access GET / 200"]
        );
        let grep = LogQuery {
            grep: Some("200".into()),
            ..Default::default()
        };
        assert_eq!(q(grep), ["access GET / 200"]);
        let field = LogQuery {
            fields: vec![("status".into(), "503".into())],
            ..Default::default()
        };
        assert_eq!(q(field), ["access GET / 503"]);
        let traced = LogQuery {
            trace: Some(trace.into()),
            ..Default::default()
        };
        assert_eq!(q(traced), ["access GET / 503"]);
        store.close();
    }
    let again =
        LogStore::open(LogLimits::default(), dir.path(), DiskLimits::default()).expect("reopen");
    let all = again.query(&LogQuery::default());
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].line, "access GET / 503");
    assert_eq!(all[0].trace_id.as_deref(), Some(trace));
    assert_eq!(all[1].field("status").and_then(|v| v.as_u64()), Some(200));
    again.close();
}

/// Lazy lines appended in a batch are numbered in order with the lines around
/// them, reach the tail in that order and are on disk in it after a reopen.
#[tokio::test]
async fn a_batch_of_lazy_lines_keeps_its_place_in_memory_the_tail_and_on_disk() {
    use shoal_logs::DiskLimits;
    let dir = tempfile::tempdir().expect("tmp");
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let want = [
        "before",
        "access GET / 200",
        "access GET / 201",
        "access GET / 202",
        "after",
    ];
    {
        let store =
            LogStore::open(LogLimits::default(), dir.path(), DiskLimits::default()).expect("open");
        let mut tail = store.subscribe();
        store.append("web", "1", "web-1", Stream::Stdout, "before");
        store.append_lazy_batch((200..203).map(|status| {
            let line: Arc<dyn shoal_logs::LazyLine> = Arc::new(Access { status });
            (proxy_entry(Some(trace)), line)
        }));
        store.append("web", "1", "web-1", Stream::Stdout, "after");
        let mut tailed = Vec::new();
        for _ in 0..want.len() {
            let l = tail.recv().await.expect("tail");
            tailed.push((l.seq, l.line));
        }
        let numbered: Vec<(u64, String)> = (1..).zip(want.map(String::from)).collect();
        assert_eq!(tailed, numbered);
        let traced = LogQuery {
            trace: Some(trace.into()),
            ..Default::default()
        };
        assert_eq!(store.query(&traced).len(), 3);
        store.close();
    }
    let again =
        LogStore::open(LogLimits::default(), dir.path(), DiskLimits::default()).expect("reopen");
    let back: Vec<(u64, String)> = again
        .query(&LogQuery::default())
        .into_iter()
        .map(|l| (l.seq, l.line))
        .collect();
    let numbered: Vec<(u64, String)> = (1..).zip(want.map(String::from)).collect();
    assert_eq!(back, numbered);
    again.close();
}

/// The writer of lazy lines reads its own records back by trace: one trace's
/// oldest first, and every kept trace with the most recently active first;
/// after a reopen, the same lines come back as their fields.
#[test]
fn lazy_lines_are_read_back_as_records_by_trace_and_as_fields_after_a_reopen() {
    use shoal_logs::{DiskLimits, TraceLine};
    let dir = tempfile::tempdir().expect("tmp");
    let store =
        LogStore::open(LogLimits::default(), dir.path(), DiskLimits::default()).expect("open");
    let (a, b) = (
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "0af7651916cd43dd8448eb211c80319c",
    );
    // A record's status, or a reloaded line's fields' status (negated).
    let status = |l: &TraceLine| -> i64 {
        match l {
            TraceLine::Lazy(l) => {
                let any: &dyn std::any::Any = l.as_ref();
                any.downcast_ref::<Access>()
                    .map_or(0, |a| i64::from(a.status))
            }
            TraceLine::Fields { json, time_ms } => {
                assert!(*time_ms > 0);
                let v: serde_json::Value = serde_json::from_str(json).expect("json");
                -v["status"].as_i64().unwrap_or(0)
            }
        }
    };
    store.append_lazy(proxy_entry(Some(a)), Arc::new(Access { status: 200 }));
    store.append_lazy(proxy_entry(Some(b)), Arc::new(Access { status: 201 }));
    // An instance line of trace `a` is in its chain but has neither.
    store.append(
        "web",
        "1",
        "web-1",
        Stream::Stdout,
        &format!("work trace={a}"),
    );
    store.append_lazy(proxy_entry(Some(a)), Arc::new(Access { status: 202 }));
    store.append_lazy(proxy_entry(None), Arc::new(Access { status: 203 }));
    store.append(
        "api",
        "1",
        "api-1",
        Stream::Stdout,
        "trace=0af7651916cd43dd8448eb211c80319d",
    );

    let of =
        |s: &LogStore, t: &str| -> Vec<i64> { s.lines_of_trace(t).iter().map(status).collect() };
    assert_eq!(of(&store, a), [200, 202]);
    assert_eq!(of(&store, &a.to_uppercase()), [200, 202]);
    assert_eq!(of(&store, b), [201]);
    assert!(of(&store, "not-a-trace").is_empty());

    let recent = |s: &LogStore| {
        let mut seen = Vec::new();
        s.recent_traces(|lines| {
            seen.push(lines.iter().map(status).collect::<Vec<_>>());
            true
        });
        seen
    };
    assert_eq!(recent(&store), [vec![200, 202], vec![201]]);
    let mut visits = 0;
    store.recent_traces(|_| {
        visits += 1;
        false
    });
    assert_eq!(visits, 1, "stops when told");
    store.close();

    let again =
        LogStore::open(LogLimits::default(), dir.path(), DiskLimits::default()).expect("reopen");
    assert_eq!(of(&again, a), [-200, -202]);
    assert_eq!(recent(&again), [vec![-200, -202], vec![-201]]);
    again.close();
}

/// Traces are gathered a step at a time and visited outside the store's
/// lock: a visitor may use the store, and every trace comes once, newest first.
#[test]
fn recent_traces_are_visited_outside_the_lock_in_steps() {
    use shoal_logs::TraceLine;
    let store = LogStore::default();
    let n = 700u16;
    for i in 0..n {
        let trace = format!("{:032x}", u128::from(i) + 1);
        store.append_lazy(proxy_entry(Some(&trace)), Arc::new(Access { status: i }));
    }
    let mut seen = Vec::new();
    store.recent_traces(|lines| {
        // Would deadlock if the lock were held here.
        store.append("web", "1", "web-1", Stream::Stdout, "visited");
        if let [TraceLine::Lazy(l)] = lines {
            let any: &dyn std::any::Any = l.as_ref();
            seen.extend(any.downcast_ref::<Access>().map(|a| a.status));
        }
        true
    });
    let want: Vec<u16> = (0..n).rev().collect();
    assert_eq!(seen, want);
    let visited = store.query(&LogQuery {
        grep: Some("visited".into()),
        ..Default::default()
    });
    assert_eq!(visited.len(), usize::from(n));
}

/// A lazy line whose text the store can make from its fields.
#[derive(Debug)]
struct Kinded(u16);

impl shoal_logs::LazyLine for Kinded {
    fn write_text(&self, out: &mut String) {
        out.push_str(&format!("access GET /{} {}", self.0, self.0 % 7));
    }
    fn write_fields(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(format!(r#"{{"n":{},"kind":"access"}}"#, self.0).as_bytes());
    }
    fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
    }
    fn kind(&self) -> Option<&'static str> {
        Some("access")
    }
}

fn kinded_text(fields: &str) -> Option<String> {
    let f: serde_json::Value = serde_json::from_str(fields).ok()?;
    let n = f.get("n")?.as_u64()?;
    Some(format!("access GET /{n} {}", n % 7))
}

/// A lazy line of a kind the store makes texts of goes to disk without its
/// text (its fields and kind only) and reads back with the same text: when
/// the store reopens, and in queries below the ring (`grep` included). A
/// store that does not know the kind writes the text; one that cannot make
/// it reads the fields' JSON as the text.
#[test]
fn lines_of_a_kind_are_kept_on_disk_without_their_text_and_read_back_with_it() {
    use shoal_logs::{DiskLimits, TextOf};
    const KINDS: &[(&str, TextOf)] = &[("access", kinded_text)];
    let dir = tempfile::tempdir().expect("tmp");
    // A small ring: most lines are on disk only.
    let limits = LogLimits {
        max_bytes: 4 * 1024,
        ..Default::default()
    };
    let open = |kinds: &[(&'static str, TextOf)]| {
        LogStore::open_with_kinds(limits.clone(), dir.path(), DiskLimits::default(), kinds)
            .expect("open")
    };
    let store = open(KINDS);
    for n in 0..300u16 {
        store.append_lazy(proxy_entry(None), Arc::new(Kinded(n)));
    }
    store.append("web", "1", "web-1", Stream::Stdout, "plain GET /7");
    store.close();
    let disk: String = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("read"))
        .collect();
    assert_eq!(disk.matches(r#","k":"access","#).count(), 300, "{disk}");
    assert_eq!(
        disk.matches(r#""l":"#).count(),
        1,
        "only the plain line has its text"
    );

    let all = LogQuery::default();
    let want: Vec<String> = (0..300u16)
        .map(|n| format!("access GET /{n} {}", n % 7))
        .chain(["plain GET /7".to_string()])
        .collect();
    let again = open(KINDS);
    assert!(again.stats().lines < 100, "{:?}", again.stats());
    let texts = |s: &LogStore, q: &LogQuery| -> Vec<String> {
        s.query(q).into_iter().map(|l| l.line).collect()
    };
    assert_eq!(texts(&again, &all), want);
    let grep = LogQuery {
        grep: Some("GET /7".into()),
        ..Default::default()
    };
    let sevens: Vec<String> = want
        .iter()
        .filter(|t| t.contains("GET /7"))
        .cloned()
        .collect();
    assert_eq!(texts(&again, &grep), sevens, "grep reads made texts");
    let oldest = again.query(&all);
    assert_eq!(
        oldest[0].field("n"),
        Some(&serde_json::json!(0)),
        "fields too"
    );
    again.close();

    // Without the kind's text maker, the fields stand in for the text.
    let unknown = open(&[]);
    assert_eq!(
        texts(&unknown, &all).first().map(String::as_str),
        Some(r#"{"n":0,"kind":"access"}"#)
    );
    // …and a store that cannot make the text back writes it.
    unknown.append_lazy(proxy_entry(None), Arc::new(Kinded(9)));
    unknown.close();
    let disk: String = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("read"))
        .collect();
    assert!(disk.contains(r#""l":"access GET /9 2""#), "{disk}");
}
