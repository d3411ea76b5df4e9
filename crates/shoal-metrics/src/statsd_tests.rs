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
    let total = s.with_state(|st| st.series.values().next().map(|k| k.value));
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

fn names(s: &Statsd) -> Vec<String> {
    s.with_state(|st| st.series.keys().map(|id| id.name.clone()).collect())
}

#[test]
fn state_is_bounded_and_evicts_the_least_recently_updated() {
    let s = Statsd::new(1, 2, 100);
    s.ingest(0, b"a:1|c\nb:1|c\nbad line");
    s.flush(TEN);
    s.ingest(0, b"a:1|c");
    s.flush(TEN);
    // `b` was updated longest ago: it makes room for `c`; `a` keeps its total.
    s.ingest(0, b"c:1|c");
    s.flush(TEN);
    assert_eq!(names(&s), ["a", "c"]);
    s.with_state(|st| {
        assert_eq!((st.evicted_series, st.bad_lines, st.lines), (1, 1, 5));
        let a = st.series.values().next().map(|k| k.value);
        assert_eq!(a, Some(Exposed::Counter(2.0)));
    });
}

#[test]
fn a_name_arriving_with_the_tail_of_a_burst_is_kept_though_it_sorts_first() {
    // A cap of 50 evicts 3 at a time: 50 new names in one interval over 50 old ones
    // take 17 evictions, one more series than the old ones.
    let s = Statsd::new(1, 50, 100);
    let old: Vec<String> = (0..50).map(|i| format!("m.{i}:1|c")).collect();
    s.ingest(0, old.join("\n").as_bytes());
    s.flush(TEN);
    // One interval: the new name, then the burst's tail (names that sort after it).
    let mut tail = vec!["a.new:1|c".to_string()];
    tail.extend((0..49).map(|i| format!("z.{i}:1|c")));
    s.ingest(0, tail.join("\n").as_bytes());
    s.flush(TEN);
    let kept = names(&s);
    assert!(kept.contains(&"a.new".to_string()), "{kept:?}");
    assert!(kept.len() <= 50, "{kept:?}");
}

#[test]
fn new_names_get_in_after_a_burst() {
    let s = Statsd::new(2, 50, 100);
    for i in 0..500 {
        s.ingest(i % 2, format!("burst.{i}:1|c").as_bytes());
    }
    s.flush(TEN);
    s.ingest(0, b"after.burst:1|c|#k:v");
    let out = s.flush(TEN);
    assert_eq!(
        find(&out, Kind::Counter, "after.burst"),
        Flushed::Counter {
            count: 1.0,
            rate: 0.1
        }
    );
    let kept = names(&s);
    assert!(
        kept.len() <= 50 && kept.contains(&"after.burst".to_string()),
        "{kept:?}"
    );
    // Evicted in the shards (cap 50 each) and in the state across flushes.
    s.with_state(|st| assert!(st.evicted_series >= 450, "{}", st.evicted_series));
}

#[test]
fn totals_that_would_overflow_keep_the_old_value() {
    let s = Statsd::new(2, 100, 100);
    s.ingest(0, b"x:1e308|c\ng:1e308|g\nt:1e308|ms");
    s.flush(TEN);
    // In later intervals each is finite alone, but the running value would not be.
    s.ingest(0, b"x:1e308|c\ng:+1e308|g\nt:1e308|ms");
    let out = s.flush(TEN);
    assert!(out.is_empty(), "{out:?}");
    // Two shards each fine, their sum not.
    s.ingest(0, b"y:1e308|c");
    s.ingest(1, b"y:1e308|c");
    let out = s.flush(TEN);
    assert_eq!(
        find(&out, Kind::Counter, "y"),
        Flushed::Counter {
            count: 1e308,
            rate: 1e307
        }
    );
    // A short interval makes the rate of a huge count overflow: it saturates, the count is kept.
    s.ingest(0, b"z:1e308|c");
    let out = s.flush(Duration::from_millis(300));
    assert_eq!(
        find(&out, Kind::Counter, "z"),
        Flushed::Counter {
            count: 1e308,
            rate: f64::MAX
        }
    );
    s.with_state(|st| {
        assert_eq!(st.refused.overflow, 4);
        for (id, k) in &st.series {
            let v = match k.value {
                Exposed::Counter(v) | Exposed::Gauge(v) => v,
                Exposed::Summary { count, sum, .. } => count + sum,
                Exposed::Set(n) => n as f64,
            };
            assert!(v.is_finite(), "{id:?} = {v}");
        }
        let x = st
            .series
            .iter()
            .find(|(id, _)| id.name == "x")
            .map(|(_, k)| k.value);
        assert_eq!(x, Some(Exposed::Counter(1e308)));
    });
}

#[test]
fn refused_lines_are_counted_by_reason() {
    let s = Statsd::new(1, 100, 100);
    for line in [
        "x:1|c|@1e-320",
        "x:1e308|c",
        "x:1e308|c",
        "x:inf|g",
        "x:NaN|ms",
        "x:1|c|@0",
        "x:1|c|@1.5",
        "x:1|c|@-1",
    ] {
        s.ingest(0, line.as_bytes());
    }
    let out = s.flush(TEN);
    assert_eq!(out.len(), 1, "{out:?}");
    s.with_state(|st| {
        let r = st.refused;
        assert_eq!((r.non_finite, r.bad_rate, r.overflow), (2, 4, 1));
        assert_eq!(st.bad_lines, 6);
    });
}
