//! Log store benchmark: lines/s appended (text and JSON lines, trace ids
//! extracted and indexed), then how fast the kept lines are searched, and the
//! memory used. Run by bench/logs.sh; prints `key=value` lines.
//!
//! `log_bench [LINES] [MAX_MIB] [DISK_DIR]` (defaults 2,000,000 lines into a 64 MiB
//! store; with DISK_DIR the store also writes its disk log there).

use std::time::Instant;

use shoal_logs::{LogLimits, LogQuery, LogStore, Stream};

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The trace of line `i`: 5 consecutive lines share one (a request's lines across services).
fn trace(i: u64) -> String {
    format!(
        "{:032x}",
        0x5151_0000_0000_0000_u128 + u128::from(i / 5) + 1
    )
}

fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(((v.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or(0.0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let lines: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let max_mib: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let limits = LogLimits {
        max_bytes: max_mib << 20,
        ..LogLimits::default()
    };
    // A third argument names a directory: the store also keeps a disk log there.
    let disk_dir = args.next();
    let store = match &disk_dir {
        Some(dir) => LogStore::open(
            limits,
            std::path::Path::new(dir),
            shoal_logs::DiskLimits::default(),
        )
        .unwrap_or_else(|e| panic!("cannot open a disk log in {dir}: {e}")),
        None => LogStore::new(limits),
    };
    let services = ["profile", "publications", "institution", "gateway"];
    // Pre-render the text so the timing is the store's, not format!'s: 1M
    // distinct lines (cycled), so at most 200k traces are kept.
    const DISTINCT: u64 = 1_000_000;
    let texts: Vec<String> = (0..DISTINCT.min(lines))
        .map(|i| {
            if i % 2 == 0 {
                format!(
                    r#"{{"level":"info","msg":"GET /profile/{i} answered","status":200,"duration_ms":{},"trace_id":"{}"}}"#,
                    i % 97,
                    trace(i)
                )
            } else {
                format!(
                    "2026-11-27T08:00:00Z INFO handled request {i} in {} ms trace={} user=ada",
                    i % 97,
                    trace(i)
                )
            }
        })
        .collect();
    let rss_before = rss_kb();
    let t = Instant::now();
    let mut bytes = 0u64;
    for i in 0..lines {
        let text = &texts[(i % DISTINCT.min(lines)) as usize];
        bytes += text.len() as u64;
        let svc = services[(i % 4) as usize];
        store.append(svc, "1", "profile-1", Stream::Stdout, text);
    }
    let secs = t.elapsed().as_secs_f64();
    store.close();
    let all_secs = t.elapsed().as_secs_f64();
    let stats = store.stats();
    println!(
        "ingest_with_disk_flush_lines_per_sec={:.0}",
        lines as f64 / all_secs
    );
    println!("lines={lines}");
    println!("ingest_lines_per_sec={:.0}", lines as f64 / secs);
    println!("ingest_mb_per_sec={:.1}", bytes as f64 / secs / 1e6);
    println!("kept_lines={}", stats.lines);
    println!("kept_bytes={}", stats.bytes);
    println!("indexed_traces={}", stats.traces);
    println!("rss_growth_kb={}", rss_kb().saturating_sub(rss_before));

    // Searchable: a trace's lines (index), text search over everything, a service tail.
    let newest = lines.saturating_sub(1);
    let mut trace_ms = Vec::new();
    let mut found = 0;
    for k in 0..200u64 {
        let back = k * 997 % (stats.lines.max(1) as u64);
        let i = newest.saturating_sub(back) % DISTINCT.min(lines);
        let t = Instant::now();
        found += store
            .query(&LogQuery {
                trace: Some(trace(i)),
                ..Default::default()
            })
            .len();
        trace_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let mut grep_ms = Vec::new();
    for k in 0..10 {
        let t = Instant::now();
        let n = store
            .query(&LogQuery {
                grep: Some(format!("request {} in", 9_000 + k)),
                ..Default::default()
            })
            .len();
        grep_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(n);
    }
    let mut tail_ms = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let n = store
            .query(&LogQuery {
                service: Some("institution".into()),
                limit: 100,
                ..Default::default()
            })
            .len();
        tail_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(n);
    }
    // A listing that looks at every kept trace (a filter nothing matches).
    let t = Instant::now();
    let mut visited = 0usize;
    store.recent_traces(|_| {
        visited += 1;
        true
    });
    let listing_ms = t.elapsed().as_secs_f64() * 1000.0;
    println!("trace_query_lines_avg={:.0}", found as f64 / 200.0);
    println!("trace_query_p50_ms={:.3}", pct(trace_ms.clone(), 0.5));
    println!("trace_query_p99_ms={:.3}", pct(trace_ms, 0.99));
    println!("grep_full_scan_p50_ms={:.1}", pct(grep_ms, 0.5));
    println!("service_tail100_p50_ms={:.3}", pct(tail_ms, 0.5));
    println!("trace_listing_all_ms={listing_ms:.1} (traces with spans visited: {visited})");
}
