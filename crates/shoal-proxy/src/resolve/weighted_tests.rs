//! Tests of the weighted choice of version for unpinned requests (canary and blue-green).

use std::collections::BTreeMap;

use http::{HeaderMap, HeaderValue};
use rand::rngs::StdRng;
use rand::SeedableRng;
use shoal_spec::{Command, ServiceSpec, VersionSpec};

use super::tests::record;
use crate::table::RouteTable;

/// Service `svc`, current version 1, with an instance of 1 and of 2, and version 3
/// declared without instances; unpinned traffic split by `weights`.
fn table(weights: &[(&str, u32)]) -> RouteTable {
    let mut s = ServiceSpec::new("svc", Command::Argv(vec!["x".into()]));
    s.version = "1".into();
    for v in ["2", "3"] {
        let declared = VersionSpec {
            command: None,
            instances: Some(0),
            env: BTreeMap::new(),
        };
        s.versions.insert(v.into(), declared);
    }
    let specs = BTreeMap::from([("svc".to_owned(), s)]);
    let records = [record("svc", "i1", "1", 1), record("svc", "i2", "2", 2)];
    let split = weights.iter().map(|(v, w)| ((*v).to_owned(), *w)).collect();
    let weights = BTreeMap::from([("svc".to_owned(), split)]);
    RouteTable::build_weighted(&specs, &records, &[], &weights, &RouteTable::default())
}

/// The version and instance `n` requests to `svc` with `headers` reach, counted.
fn spread(
    t: &RouteTable,
    path: &str,
    headers: &[(&'static str, &'static str)],
    n: usize,
) -> BTreeMap<(String, String), usize> {
    let mut h = HeaderMap::new();
    for (k, v) in headers {
        h.insert(*k, HeaderValue::from_static(v));
    }
    let mut rng = StdRng::seed_from_u64(23);
    let mut seen = BTreeMap::new();
    for _ in 0..n {
        let r = &mut rng;
        let target = t.resolve_with(Some("svc"), path, &h, move || r);
        let target = target.expect("svc resolves");
        let instance = target.endpoints.first().map(|e| e.instance.clone());
        let key = (target.version.to_owned(), instance.unwrap_or_default());
        *seen.entry(key).or_default() += 1;
    }
    seen
}

fn only(version: &str, instance: &str, n: usize) -> BTreeMap<(String, String), usize> {
    BTreeMap::from([((version.to_owned(), instance.to_owned()), n)])
}

#[test]
fn weights_split_unpinned_traffic_by_share() {
    let t = table(&[("1", 90), ("2", 10)]);
    assert_eq!(
        t.services["svc"].weighted,
        [("1".to_owned(), 90), ("2".to_owned(), 100)]
    );
    let seen = spread(&t, "/", &[], 10_000);
    let to_2 = seen.get(&("2".into(), "i2".into())).copied().unwrap_or(0);
    let to_1 = seen.get(&("1".into(), "i1".into())).copied().unwrap_or(0);
    assert_eq!(to_1 + to_2, 10_000, "{seen:?}");
    assert!(
        (800..=1200).contains(&to_2),
        "10 % ± 2 to version 2: {to_2}"
    );
}

#[test]
fn all_weight_on_a_version_sends_all_unpinned_traffic_there() {
    let t = table(&[("2", 100)]);
    assert_eq!(t.services["svc"].current, "1");
    assert_eq!(spread(&t, "/", &[], 1000), only("2", "i2", 1000));
    // Zero weights count for nothing.
    let t = table(&[("1", 0), ("2", 5)]);
    assert_eq!(spread(&t, "/", &[], 100), only("2", "i2", 100));
}

#[test]
fn pinned_requests_win_over_weights() {
    let t = table(&[("2", 100)]);
    assert_eq!(
        spread(&t, "/", &[("x-version", "1")], 100),
        only("1", "i1", 100)
    );
    assert_eq!(spread(&t, "/v1/a", &[], 100), only("1", "i1", 100));
    assert_eq!(spread(&t, "/a?version=1", &[], 100), only("1", "i1", 100));
    let accept = [("accept", "application/vnd.shoal.svc.v1+json")];
    assert_eq!(spread(&t, "/", &accept, 100), only("1", "i1", 100));
}

#[test]
fn a_pinned_version_that_does_not_run_is_drawn_by_weight() {
    let t = table(&[("2", 100)]);
    // 3 is declared without instances; 9 is unknown.
    assert_eq!(spread(&t, "/v3/a", &[], 50), only("2", "i2", 50));
    assert_eq!(
        spread(&t, "/", &[("x-version", "9")], 50),
        only("2", "i2", 50)
    );
}

#[test]
fn weighted_versions_without_instances_are_skipped() {
    let t = table(&[("3", 50), ("2", 50), ("7", 10)]);
    assert_eq!(t.services["svc"].weighted, [("2".to_owned(), 50)]);
    assert_eq!(spread(&t, "/", &[], 100), only("2", "i2", 100));
    // None of them runs: all to the current version, as without weights.
    let t = table(&[("3", 100)]);
    assert!(t.services["svc"].weighted.is_empty());
    assert_eq!(spread(&t, "/", &[], 100), only("1", "i1", 100));
}

#[test]
fn without_weights_nothing_is_drawn() {
    let no_rng = || -> StdRng { panic!("no random draw without weights") };
    for t in [table(&[]), table(&[("1", 100)])] {
        let route = &t.services["svc"];
        assert!(route.weighted.is_empty());
        assert_eq!(route.serving_with(None, no_rng).0, "1");
        assert_eq!(route.serving_with(Some("2"), no_rng).0, "2");
        assert_eq!(route.serving_with(Some("3"), no_rng).0, "1");
        let h = HeaderMap::new();
        let target = t.resolve_with(Some("svc"), "/", &h, no_rng);
        assert_eq!(target.map(|t| t.version), Some("1"));
    }
    // `build` is `build_weighted` without weights.
    let specs = BTreeMap::from([("svc".to_owned(), {
        let mut s = ServiceSpec::new("svc", Command::Argv(vec!["x".into()]));
        s.version = "1".into();
        s
    })]);
    let records = [record("svc", "i1", "1", 1), record("svc", "i2", "2", 2)];
    let t = RouteTable::build(&specs, &records, &[], &RouteTable::default());
    assert!(t.services["svc"].weighted.is_empty());
}
