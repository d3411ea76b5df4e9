//! Tests of StatsD aggregation across shards and flushes (time is the interval given).

use std::time::Duration;

use super::*;

const TEN: Duration = Duration::from_secs(10);

fn find(out: &[(SeriesId, Flushed)], kind: Kind, name: &str) -> Flushed {
    match out
        .iter()
        .find(|(id, _)| id.kind == kind && id.name == name)
    {
        Some((_, f)) => *f,
        None => panic!("{name} not flushed: {out:?}"),
    }
}

#[test]
fn counter_rate_and_total_across_flushes() {
    let s = Statsd::new(2, 100, 100);
    s.ingest(0, b"hits:5|c\nhits:5|c|@0.5");
    s.ingest(1, b"hits:5|c");
    let out = s.flush(TEN);
    assert_eq!(
        find(&out, Kind::Counter, "hits"),
        Flushed::Counter {
            count: 20.0,
            rate: 2.0
        }
    );
    s.ingest(1, b"hits:1|c");
    s.flush(TEN);
    let total = s.with_state(|st| st.series.values().next().copied());
    assert_eq!(total, Some(Exposed::Counter(21.0)));
    // An interval without lines flushes nothing and keeps the totals.
    assert!(s.flush(TEN).is_empty());
    s.with_state(|st| assert_eq!((st.lines, st.flushes), (4, 3)));
}

#[test]
fn gauge_deltas_apply_to_the_previous_interval() {
    let s = Statsd::new(1, 100, 100);
    s.ingest(0, b"g:10|g");
    assert_eq!(find(&s.flush(TEN), Kind::Gauge, "g"), Flushed::Gauge(10.0));
    s.ingest(0, b"g:+5|g\ng:-1|g");
    assert_eq!(find(&s.flush(TEN), Kind::Gauge, "g"), Flushed::Gauge(14.0));
    s.ingest(0, b"g:3|g\ng:+1|g");
    assert_eq!(find(&s.flush(TEN), Kind::Gauge, "g"), Flushed::Gauge(4.0));
    s.ingest(0, b"fresh:-2|g");
    assert_eq!(
        find(&s.flush(TEN), Kind::Gauge, "fresh"),
        Flushed::Gauge(-2.0)
    );
}

#[test]
fn timers_give_percentiles() {
    let s = Statsd::new(2, 100, 100);
    for i in 1..=1000 {
        s.ingest(i % 2, format!("lat:{i}|ms|#route:/a").as_bytes());
    }
    let Flushed::Summary(t) = find(&s.flush(TEN), Kind::Timer, "lat") else {
        panic!("not a summary")
    };
    assert_eq!((t.count, t.min, t.max), (1000.0, 1.0, 1000.0));
    assert!((t.mean - 500.5).abs() < 1e-9);
    for (got, want) in [
        (t.p50, 500.0),
        (t.p90, 900.0),
        (t.p95, 950.0),
        (t.p99, 990.0),
    ] {
        assert!((got - want).abs() / want < 0.02, "{got} vs {want}");
    }
}

#[test]
fn sampled_timer_counts_are_scaled() {
    let s = Statsd::new(1, 100, 100);
    s.ingest(0, b"t:10|ms|@0.1\nt:20|ms|@0.1");
    let Flushed::Summary(t) = find(&s.flush(TEN), Kind::Timer, "t") else {
        panic!("not a summary")
    };
    assert!((t.count - 20.0).abs() < 1e-9);
}

#[test]
fn sets_count_distinct_members_across_shards() {
    let s = Statsd::new(2, 100, 100);
    s.ingest(0, b"u:ada|s\nu:bob|s");
    s.ingest(1, b"u:ada|s\nu:eve|s");
    assert_eq!(find(&s.flush(TEN), Kind::Set, "u"), Flushed::Set(3));
}

#[test]
fn tag_order_does_not_split_a_series() {
    let s = Statsd::new(2, 100, 100);
    s.ingest(0, b"c:1|c|#b:2,a:1");
    s.ingest(1, b"c:1|c|#a:1,b:2");
    let out = s.flush(TEN);
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].0.tags,
        vec![("a".into(), "1".into()), ("b".into(), "2".into())]
    );
}

#[test]
fn state_is_bounded() {
    let s = Statsd::new(1, 2, 100);
    s.ingest(0, b"a:1|c\nb:1|c\nc:1|c\nbad line");
    s.flush(TEN);
    s.with_state(|st| {
        assert_eq!(st.series.len(), 2);
        assert_eq!((st.dropped_series, st.bad_lines, st.lines), (1, 1, 4));
    });
}
