//! Tests of the store's room: caps per origin, least recently updated evicted first,
//! platform series never evicted for application ones, stale series swept.

use super::room::STALE_AFTER_S;
use super::*;
use crate::query::Agg;

const T0: u64 = 1_700_000_000;

fn gauge(name: &str, i: usize) -> Sample {
    Sample {
        key: SeriesKey::new(name, &[("i", &i.to_string())]),
        kind: SeriesKind::Gauge,
        point: Point::one(i as f64),
        quantiles: None,
    }
}

fn db(platform: usize, application: usize) -> Tsdb {
    Tsdb::new(Caps {
        platform,
        application,
    })
}

/// The `i` labels of the series named `name`, sorted.
fn held(db: &Tsdb, name: &str) -> Vec<usize> {
    let q = Query {
        name: name.to_string(),
        matchers: Vec::new(),
        since: std::time::Duration::from_secs(3600),
        step: std::time::Duration::from_secs(1),
        agg: Agg::Last,
        by: vec!["i".to_string()],
    };
    let Ok(r) = db.query(&q, T0 + 1000) else {
        return Vec::new();
    };
    let mut out: Vec<usize> = r
        .series
        .iter()
        .filter_map(|s| s.labels.get("i")?.parse().ok())
        .collect();
    out.sort_unstable();
    out
}

fn usage_of(db: &Tsdb, o: Origin) -> OriginUsage {
    match db.usage().origins.into_iter().find(|u| u.origin == o) {
        Some(u) => u,
        None => panic!("no usage for {o:?}"),
    }
}

#[test]
fn a_full_origin_evicts_its_least_recently_updated_series() {
    let db = db(10, 4);
    db.record(
        T0,
        Origin::Application,
        (0..4).map(|i| gauge("app", i)).collect(),
    );
    // 0 and 2 are updated again: 1 then 3 are now the oldest.
    db.record(
        T0 + 1,
        Origin::Application,
        vec![gauge("app", 0), gauge("app", 2)],
    );
    db.record(T0 + 2, Origin::Application, vec![gauge("app", 4)]);
    assert_eq!(held(&db, "app"), [0, 2, 3, 4]);
    db.record(T0 + 3, Origin::Application, vec![gauge("app", 5)]);
    assert_eq!(held(&db, "app"), [0, 2, 4, 5]);
    let u = usage_of(&db, Origin::Application);
    assert_eq!(
        (u.series, u.cap, u.evicted.cap, u.evicted.stale),
        (4, 4, 2, 0)
    );
    assert_eq!(db.names()[0].series, 4);
}

#[test]
fn the_first_series_of_a_batch_is_kept_when_the_batch_fills_the_cap() {
    // A cap of 50 evicts 3 at a time: 50 new series in one batch over 50 old ones take
    // 17 evictions, one more series than the old ones; the batch's first must stay.
    let db = db(10, 50);
    db.record(
        T0,
        Origin::Application,
        (0..50).map(|i| gauge("old", i)).collect(),
    );
    let mut batch = vec![gauge("a_new", 0)];
    batch.extend((0..49).map(|i| gauge("z", i)));
    db.record(T0 + 1, Origin::Application, batch);
    assert_eq!(held(&db, "a_new"), [0]);
    assert!(usage_of(&db, Origin::Application).series <= 50);
}

#[test]
fn platform_series_are_never_evicted_for_application_ones() {
    let db = db(8, 50);
    let instances: Vec<Sample> = (0..8).map(|i| gauge("shoal_instances", i)).collect();
    db.record(T0, Origin::Platform, instances);
    for burst in 0..20 {
        let names = (0..100).map(|i| gauge(&format!("statsd_burst_{burst}_{i}"), i));
        db.record(T0 + 1 + burst as u64, Origin::Application, names.collect());
    }
    db.record(T0 + 30, Origin::Application, vec![gauge("statsd_after", 1)]);
    assert_eq!(held(&db, "shoal_instances"), (0..8).collect::<Vec<_>>());
    assert_eq!(held(&db, "statsd_after"), [1]);
    let (p, a) = (
        usage_of(&db, Origin::Platform),
        usage_of(&db, Origin::Application),
    );
    assert_eq!((p.series, p.evicted.cap), (8, 0));
    assert!(a.series <= 50 && a.evicted.cap >= 1950, "{a:?}");
    // Evicted names are gone from the name index too.
    assert!(db.names().len() <= 51, "{}", db.names().len());
}

#[test]
fn a_new_instance_gets_in_when_the_platform_room_is_full() {
    // Instances 0..4 are sampled every second; 4 stopped long ago.
    let db = db(5, 5);
    db.record(
        T0,
        Origin::Platform,
        (0..5).map(|i| gauge("mem", i)).collect(),
    );
    for t in 1..5 {
        db.record(
            T0 + t,
            Origin::Platform,
            (0..4).map(|i| gauge("mem", i)).collect(),
        );
    }
    db.record(
        T0 + 5,
        Origin::Platform,
        (0..4).chain([9]).map(|i| gauge("mem", i)).collect(),
    );
    assert_eq!(held(&db, "mem"), [0, 1, 2, 3, 9]);
}

#[test]
fn series_without_a_point_in_24h_are_swept_as_stale() {
    let db = db(10, 10);
    db.record(
        T0,
        Origin::Application,
        vec![gauge("old", 1), gauge("kept", 1)],
    );
    db.record(
        T0 + STALE_AFTER_S / 2,
        Origin::Application,
        vec![gauge("kept", 1)],
    );
    db.record(
        T0 + STALE_AFTER_S + 100,
        Origin::Platform,
        vec![gauge("p", 1)],
    );
    let names: Vec<String> = db.names().into_iter().map(|n| n.name).collect();
    assert_eq!(names, ["kept", "p"]);
    let u = usage_of(&db, Origin::Application);
    assert_eq!((u.series, u.evicted.stale, u.evicted.cap), (1, 1, 0));
    assert_eq!(db.usage().series, 2);
}

#[test]
fn values_beyond_f32_stay_finite_in_the_store() {
    let db = db(10, 10);
    let s = |v: f64| Sample {
        key: SeriesKey::new("big", &[]),
        kind: SeriesKind::Counter,
        point: Point::one(v),
        quantiles: None,
    };
    db.record(T0, Origin::Application, vec![s(1e308), s(1e308)]);
    let q = Query {
        name: "big".into(),
        matchers: Vec::new(),
        since: std::time::Duration::from_secs(60),
        step: std::time::Duration::from_secs(10),
        agg: Agg::Sum,
        by: Vec::new(),
    };
    let r = db.query(&q, T0 + 5).map_err(|e| e.to_string());
    let values: Vec<f64> = match r {
        Ok(r) => r
            .series
            .iter()
            .flat_map(|s| s.points.iter().filter_map(|p| p.1))
            .collect(),
        Err(e) => panic!("{e}"),
    };
    assert!(
        !values.is_empty() && values.iter().all(|v| v.is_finite()),
        "{values:?}"
    );
}
