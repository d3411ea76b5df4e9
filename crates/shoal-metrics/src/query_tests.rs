//! Tests of the store's rollups and of query evaluation (time is injected).

use std::time::Duration;

use crate::query::{parse_duration, parse_matchers, Agg, Query, QueryError};
use crate::ring::Point;
use crate::tsdb::{Caps, Origin, Sample, SeriesKey, SeriesKind, Tsdb};

const T0: u64 = 1_700_000_000;

fn point(v: f32) -> Point {
    Point {
        n: 1.0,
        sum: v,
        min: v,
        max: v,
        last: v,
    }
}

fn sample(name: &str, labels: &[(&str, &str)], kind: SeriesKind, v: f32) -> Sample {
    Sample {
        key: SeriesKey::new(name, labels),
        kind,
        point: point(v),
        quantiles: (kind == SeriesKind::Summary).then_some([v, v, v * 2.0, v * 3.0]),
    }
}

fn query(name: &str, labels: &str, since: &str, step: &str, agg: &str) -> Query {
    let parse = || -> Result<Query, QueryError> {
        Ok(Query {
            name: name.to_string(),
            matchers: parse_matchers(labels)?,
            since: parse_duration(since)?,
            step: parse_duration(step)?,
            agg: agg.parse()?,
            by: Vec::new(),
        })
    };
    match parse() {
        Ok(q) => q,
        Err(e) => panic!("{e}"),
    }
}

/// Two services' request counters, one increment per second for 60 s.
fn store() -> Tsdb {
    let db = Tsdb::new(Caps {
        platform: 100,
        application: 100,
    });
    for i in 0..60 {
        db.record(
            T0 + i,
            Origin::Platform,
            vec![
                sample(
                    "req",
                    &[("service", "a"), ("code", "200")],
                    SeriesKind::Counter,
                    2.0,
                ),
                sample(
                    "req",
                    &[("service", "a"), ("code", "500")],
                    SeriesKind::Counter,
                    1.0,
                ),
                sample(
                    "req",
                    &[("service", "b"), ("code", "200")],
                    SeriesKind::Counter,
                    10.0,
                ),
                sample("mem", &[("instance", "a-1")], SeriesKind::Gauge, i as f32),
                sample("lat", &[("service", "a")], SeriesKind::Summary, 0.1),
            ],
        );
    }
    db
}

fn values(db: &Tsdb, q: &Query) -> Vec<Option<f64>> {
    match db.query(q, T0 + 59) {
        Ok(r) => r
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .collect(),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn rate_of_a_counter_by_label() {
    let db = store();
    let q = query("req", "service=a", "10s", "5s", "rate");
    let v = values(&db, &q);
    assert_eq!(v.len(), 2);
    assert!(v.iter().all(|x| *x == Some(3.0)), "{v:?}");
    let q = query("req", "service!=b,code=200", "10s", "10s", "sum");
    assert_eq!(values(&db, &q), vec![Some(20.0)]);
}

#[test]
fn group_by_gives_one_series_per_value() {
    let db = store();
    let mut q = query("req", "", "5s", "5s", "rate");
    q.by = vec!["service".into()];
    let r = db.query(&q, T0 + 59).unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<(String, Option<f64>)> = r
        .series
        .iter()
        .map(|s| (s.labels["service"].clone(), s.points[0].1))
        .collect();
    assert_eq!(got, vec![("a".into(), Some(3.0)), ("b".into(), Some(10.0))]);
}

#[test]
fn gauges_and_the_coarse_tier() {
    let db = store();
    // A step of 10 s or a range beyond 1 h reads the 10 s rollups.
    let r = db
        .query(&query("mem", "", "1m", "10s", "max"), T0 + 59)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.resolution, 10);
    let maxes: Vec<Option<f64>> = r.series[0].points.iter().map(|p| p.1).collect();
    assert_eq!(maxes.last(), Some(&Some(59.0)));
    let avg = values(&db, &query("mem", "", "2s", "2s", "avg"));
    assert_eq!(avg.last(), Some(&Some(58.5)));
    assert_eq!(
        values(&db, &query("mem", "", "1s", "1s", "last")),
        vec![Some(59.0)]
    );
}

#[test]
fn summary_percentiles_and_counts() {
    let db = store();
    let v = values(&db, &query("lat", "", "10s", "10s", "p95"));
    assert!(
        v.iter().all(|x| x.is_some_and(|x| (x - 0.2).abs() < 1e-6)),
        "{v:?}"
    );
    assert_eq!(
        values(&db, &query("lat", "", "10s", "10s", "count")),
        vec![Some(10.0)]
    );
    let v = values(&db, &query("lat", "", "10s", "10s", "avg"));
    assert!(v[0].is_some_and(|x| (x - 0.1).abs() < 1e-6));
    // Percentiles of a counter are not defined.
    assert_eq!(
        values(&db, &query("req", "", "10s", "10s", "p95")),
        vec![None]
    );
}

#[test]
fn missing_data_is_null_and_errors_are_explained() {
    let db = store();
    let r = db
        .query(&query("req", "", "5s", "1s", "sum"), T0 + 100)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(r.series[0].points.iter().all(|p| p.1.is_none()));
    assert!(matches!(
        db.query(&query("nope", "", "5s", "1s", "sum"), T0),
        Err(QueryError::UnknownName(_))
    ));
    assert!(parse_matchers("novalue").is_err());
    assert!(parse_duration("5 parsecs").is_err());
    assert!("median".parse::<Agg>().is_err());
    assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
}
