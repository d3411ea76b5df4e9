//! Tests of one shard: aggregation by type, the series cap (least recently updated
//! evicted first) and the refusal of values that would make an aggregate infinite.

use super::*;

fn shard(packet: &str) -> Shard {
    let mut s = Shard::new(100, 100);
    s.ingest(packet.as_bytes());
    s
}

fn get<'a>(s: &'a Shard, key: &str) -> &'a Agg {
    match s.map.get(key.as_bytes()) {
        Some(slot) => &slot.agg,
        None => panic!("no series {key}: {:?}", s.map.keys()),
    }
}

fn keys(s: &Shard) -> Vec<String> {
    let mut k: Vec<String> = s
        .map
        .keys()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect();
    k.sort();
    k
}

#[test]
fn counters_sum_with_sample_rates() {
    let s = shard("a:1|c\na:2|c|@0.5\nbad\na:1:1|c");
    assert!(matches!(get(&s, "a|c|"), Agg::Counter(v) if (*v - 7.0).abs() < 1e-9));
    assert_eq!(
        s.stats,
        ShardStats {
            lines: 4,
            bad_lines: 1,
            ..ShardStats::default()
        }
    );
}

#[test]
fn gauges_set_then_delta() {
    let s = shard("g:10|g\ng:+5|g\ng:-2|g\nd:+3|g");
    assert!(
        matches!(get(&s, "g|g|"), Agg::Gauge { base: Some(b), delta } if *b == 10.0 && *delta == 3.0)
    );
    assert!(matches!(get(&s, "d|g|"), Agg::Gauge { base: None, delta } if *delta == 3.0));
}

#[test]
fn summaries_and_sets() {
    let mut s = Shard::new(100, 2);
    let mut p = String::new();
    for i in 1..=100 {
        p.push_str(&format!("t:{i}|ms|#x:1\n"));
    }
    p.push_str("u:ada|s\nu:bob|s\nu:ada|s\nu:eve|s\n");
    s.ingest(p.as_bytes());
    let Agg::Summary(t) = get(&s, "t|ms|x:1") else {
        panic!("not a summary")
    };
    assert_eq!((t.count, t.min, t.max, t.sum), (100.0, 1.0, 100.0, 5050.0));
    assert!(
        (t.quantile(0.95) - 95.0).abs() <= 1.0,
        "{}",
        t.quantile(0.95)
    );
    // Sets are capped at max_set members per interval.
    assert!(matches!(get(&s, "u|s|"), Agg::Set(m) if m.len() == 2));
}

#[test]
fn a_full_shard_evicts_the_least_recently_updated() {
    // Cap 2, batches of 1: `a` is updated after `b`, so `b` makes room for `c`.
    let mut s = Shard::new(2, 10);
    s.ingest(b"a:1|c\nb:1|c\na:1|c\nc:1|c");
    assert_eq!(keys(&s), ["a|c|", "c|c|"]);
    assert_eq!(s.stats.evicted_series, 1);
    // `a` is now the oldest: `d` replaces it, and `c` keeps its value.
    s.ingest(b"d:5|c");
    assert_eq!(keys(&s), ["c|c|", "d|c|"]);
    assert!(matches!(get(&s, "c|c|"), Agg::Counter(v) if *v == 1.0));
    let (map, stats) = s.take();
    assert_eq!((map.len(), stats.lines, stats.evicted_series), (2, 5, 2));
    assert!(s.map.is_empty());
    assert_eq!(split_key(b"a.b|ms|k:v,x"), Some(("a.b", "k:v,x")));
}

#[test]
fn a_burst_of_new_names_does_not_lock_out_later_ones() {
    let mut s = Shard::new(50, 10);
    s.ingest(b"steady:1|c");
    for i in 0..1000 {
        s.ingest(format!("burst.{i}:1|c\nsteady:1|c").as_bytes());
    }
    s.ingest(b"after.burst:1|c");
    assert!(s.map.len() <= 50);
    assert!(s.map.contains_key(&b"after.burst|c|"[..]));
    // Updated all along, the steady series was never the oldest.
    assert!(matches!(get(&s, "steady|c|"), Agg::Counter(v) if *v == 1001.0));
    assert!(s.stats.evicted_series >= 950, "{:?}", s.stats);
}

#[test]
fn infinities_are_refused_and_counted() {
    let s = shard(concat!(
        "x:1|c|@1e-320\n",
        "x:1|c|@0\n",
        "x:1|c|@1.5\n",
        "x:1|c|@-1\n",
        "x:inf|g\n",
        "x:NaN|ms\n",
        "x:1e308|c\n",
        "x:1e308|c\n",
    ));
    // The first 1e308 is kept; the second would overflow and leaves it as it was.
    assert!(matches!(get(&s, "x|c|"), Agg::Counter(v) if *v == 1e308));
    assert!(!s.map.contains_key(&b"x|g|"[..]) && !s.map.contains_key(&b"x|ms|"[..]));
    let r = s.stats.refused;
    assert_eq!((r.bad_rate, r.non_finite, r.overflow), (4, 2, 1));
    assert_eq!(s.stats.bad_lines, 6);
}

#[test]
fn overflow_is_refused_for_every_type() {
    let s = shard(concat!(
        // A value divided by a tiny rate overflows: refused before the series exists.
        "big:1e300|c|@1e-10\n",
        // Gauge deltas: the +1e308 twice overflows, the set value stays.
        "g:1e308|g\ng:+1e308|g\ng:-1e308|g\n",
        "d:+1e308|g\nd:+1e308|g\n",
        // Summaries: the sum, or the count (weight 1e300 twice), would overflow.
        "t:1e308|ms\nt:1e308|ms\nt:5|ms\n",
        "h:1|h|@1e-308\nh:1|h|@1e-308\n",
        // A multi-value line is refused whole.
        "m:1e308:1e308|d\nm:1|d\n",
        "u:ada|s\nu:1e999|s\n",
    ));
    assert!(!s.map.contains_key(&b"big|c|"[..]));
    assert!(
        matches!(get(&s, "g|g|"), Agg::Gauge { base: Some(b), delta } if *b == 1e308 && *delta == -1e308)
    );
    assert!(matches!(get(&s, "d|g|"), Agg::Gauge { delta, .. } if *delta == 1e308));
    let Agg::Summary(t) = get(&s, "t|ms|") else {
        panic!("not a summary")
    };
    assert_eq!((t.count, t.sum, t.max), (2.0, 1e308 + 5.0, 1e308));
    let Agg::Summary(h) = get(&s, "h|h|") else {
        panic!("not a summary")
    };
    assert!(h.count.is_finite() && h.sum.is_finite());
    let Agg::Summary(m) = get(&s, "m|d|") else {
        panic!("not a summary")
    };
    assert_eq!((m.count, m.sum), (1.0, 1.0));
    // Set members are opaque: `1e999` is a member, not a number.
    assert!(matches!(get(&s, "u|s|"), Agg::Set(m) if m.len() == 2));
    assert_eq!(s.stats.refused.overflow, 6);
    assert_eq!(s.stats.bad_lines, 0);
}

#[test]
fn merging_shards_refuses_overflow() {
    let mut a = Agg::Counter(1e308);
    assert_eq!(a.merge(Agg::Counter(1e308)), Err(Refusal::Overflow));
    assert!(matches!(a, Agg::Counter(v) if v == 1e308));
    let mut g = Agg::Gauge {
        base: None,
        delta: 1e308,
    };
    let more = Agg::Gauge {
        base: None,
        delta: 1e308,
    };
    assert_eq!(g.merge(more), Err(Refusal::Overflow));
    let mut s = Summary::new();
    assert_eq!(s.record_all(|| [1e308].into_iter(), 1.0), Ok(()));
    let mut t = s.clone();
    assert_eq!(t.merge(&s), Err(Refusal::Overflow));
    assert_eq!((t.count, t.sum), (1.0, 1e308));
}
