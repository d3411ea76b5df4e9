//! The leader's sum of every node's numbers: fresh and stale nodes, records gone.

use std::collections::BTreeMap;
use std::time::Duration;

use shoal_deploy::Totals;
use shoal_store::KeyValue;
use tokio::time::Instant;

use super::*;

fn totals(requests: u64, errors: u64, buckets: &[u64]) -> Totals {
    Totals {
        requests,
        errors,
        buckets: buckets.to_vec(),
    }
}

/// `node`'s record at `revision`: web's totals by version.
fn record(node: &str, revision: i64, web: &[(&str, Totals)]) -> KeyValue {
    let by_version: BTreeMap<String, Totals> = web
        .iter()
        .map(|(v, t)| ((*v).to_owned(), t.clone()))
        .collect();
    let numbers = NodeNumbers {
        seq: revision as u64,
        services: BTreeMap::from([("web".to_owned(), by_version)]),
    };
    KeyValue {
        key: numbers_key(node),
        value: serde_json::to_vec(&numbers).unwrap_or_default(),
        create_revision: 1,
        mod_revision: revision,
        version: 1,
        lease: 0,
    }
}

#[test]
fn every_node_s_totals_are_summed_by_version_and_bucket() {
    let t0 = Instant::now();
    let mut n = ClusterNumbers::default();
    n.update(
        &[
            record(
                "a",
                5,
                &[("1", totals(10, 1, &[4, 6])), ("2", totals(3, 0, &[3]))],
            ),
            record("b", 6, &[("1", totals(20, 2, &[10, 9, 1]))]),
        ],
        t0,
    );
    let t = n.traffic("web", t0);
    assert_eq!(t.totals["1"], totals(30, 3, &[14, 15, 1]));
    assert_eq!(t.totals["2"], totals(3, 0, &[3]));
    assert!(t.stale.is_empty());
    assert!(n.traffic("other", t0).totals.is_empty());
}

#[test]
fn a_node_that_stops_publishing_is_named_stale_and_still_counted() {
    let t0 = Instant::now();
    let mut n = ClusterNumbers::default();
    n.update(
        &[
            record("a", 5, &[("1", totals(10, 0, &[]))]),
            record("b", 6, &[("1", totals(7, 0, &[]))]),
        ],
        t0,
    );
    // a goes on publishing; b's record stays at revision 6.
    let later = t0 + STALE + Duration::from_millis(1);
    n.update(
        &[
            record("a", 9, &[("1", totals(12, 0, &[]))]),
            record("b", 6, &[("1", totals(7, 0, &[]))]),
        ],
        later,
    );
    let t = n.traffic("web", later);
    assert_eq!(t.stale, ["b"]);
    assert_eq!(
        t.totals["1"].requests, 19,
        "b's last totals count, not zero"
    );
    // b publishes again: fresh.
    n.update(
        &[
            record("a", 10, &[("1", totals(12, 0, &[]))]),
            record("b", 11, &[("1", totals(8, 0, &[]))]),
        ],
        later,
    );
    assert!(n.traffic("web", later).stale.is_empty());
}

#[test]
fn a_stale_node_without_the_service_is_not_named() {
    let t0 = Instant::now();
    let mut n = ClusterNumbers::default();
    let empty = KeyValue {
        key: numbers_key("idle"),
        value: serde_json::to_vec(&NodeNumbers::default()).unwrap_or_default(),
        create_revision: 1,
        mod_revision: 2,
        version: 1,
        lease: 0,
    };
    n.update(&[empty, record("a", 3, &[("1", totals(5, 0, &[]))])], t0);
    let later = t0 + STALE + Duration::from_millis(1);
    let t = n.traffic("web", later);
    assert_eq!(t.stale, ["a"], "the idle node served nothing of web");
}
