//! Unit tests for the pure compare/apply logic in `txn.rs`.

use std::collections::BTreeMap;

use super::*;
use crate::types::{CmpOp, Compare, Op};

fn kv(key: &str, value: &str, create: i64, rev: i64, version: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value.into(),
        create_revision: create,
        mod_revision: rev,
        version,
        lease: 0,
    }
}

fn base() -> BTreeMap<String, KeyValue> {
    [
        kv("a", "1", 2, 4, 3),
        kv("a/x", "2", 3, 3, 1),
        kv("b", "3", 5, 5, 1),
    ]
    .into_iter()
    .map(|kv| (kv.key.clone(), kv))
    .collect()
}

fn run(map: &BTreeMap<String, KeyValue>, txn: &Txn) -> Result<Applied, StoreError> {
    apply(&mut Overlay::new(map), 5, txn, |id| id == 7)
}

#[test]
fn missing_key_compares_as_zero() {
    assert!(compare(None, &Compare::version("k", CmpOp::Equal, 0)));
    assert!(compare(
        None,
        &Compare::create_revision("k", CmpOp::Equal, 0)
    ));
    assert!(compare(None, &Compare::mod_revision("k", CmpOp::Less, 1)));
    assert!(!compare(None, &Compare::version("k", CmpOp::Greater, 0)));
}

#[test]
fn value_compare_on_missing_key_always_fails() {
    for op in [CmpOp::Equal, CmpOp::NotEqual, CmpOp::Greater, CmpOp::Less] {
        assert!(!compare(None, &Compare::value("k", op, "")));
    }
}

#[test]
fn compares_on_existing_key() {
    let k = kv("a", "m", 2, 4, 3);
    assert!(compare(Some(&k), &Compare::value("a", CmpOp::Equal, "m")));
    assert!(compare(Some(&k), &Compare::value("a", CmpOp::Greater, "a")));
    assert!(compare(Some(&k), &Compare::value("a", CmpOp::Less, "mm")));
    assert!(compare(
        Some(&k),
        &Compare::value("a", CmpOp::NotEqual, "x")
    ));
    assert!(compare(Some(&k), &Compare::version("a", CmpOp::Equal, 3)));
    assert!(compare(
        Some(&k),
        &Compare::create_revision("a", CmpOp::Equal, 2)
    ));
    assert!(compare(
        Some(&k),
        &Compare::mod_revision("a", CmpOp::Greater, 3)
    ));
    assert!(!compare(
        Some(&k),
        &Compare::mod_revision("a", CmpOp::NotEqual, 4)
    ));
}

#[test]
fn put_creates_then_updates() {
    let map = BTreeMap::new();
    let mut view = Overlay::new(&map);
    let t = Txn::new().and_then([Op::put("k", "v1")]);
    let first = apply(&mut view, 1, &t, |_| false).ok();
    assert_eq!(
        first.map(|a| a.events[0].kv.clone()),
        Some(kv("k", "v1", 2, 2, 1))
    );
    let t = Txn::new().and_then([Op::put("k", "v2")]);
    let second = apply(&mut view, 2, &t, |_| false).ok();
    let ev = second.map(|a| a.events[0].clone());
    assert_eq!(
        ev.as_ref().map(|e| e.kv.clone()),
        Some(kv("k", "v2", 2, 3, 2))
    );
    assert_eq!(ev.and_then(|e| e.prev), Some(kv("k", "v1", 2, 2, 1)));
}

#[test]
fn compares_choose_the_branch() {
    let map = base();
    let t = Txn::new()
        .when([
            Compare::version("a", CmpOp::Equal, 3),
            Compare::missing("zz"),
        ])
        .and_then([Op::get("a")])
        .or_else([Op::get("b")]);
    let a = run(&map, &t).ok();
    assert_eq!(a.as_ref().map(|a| a.succeeded), Some(true));
    assert_eq!(
        a.map(|a| a.responses),
        Some(vec![OpResponse::Get(Some(kv("a", "1", 2, 4, 3)))])
    );

    let t = Txn::new()
        .when([Compare::mod_revision("a", CmpOp::Equal, 3)])
        .or_else([Op::get("b")]);
    let a = run(&map, &t).ok();
    assert_eq!(a.as_ref().map(|a| a.succeeded), Some(false));
    assert_eq!(
        a.map(|a| a.responses),
        Some(vec![OpResponse::Get(Some(kv("b", "3", 5, 5, 1)))])
    );
}

#[test]
fn reads_only_produce_no_events() {
    let a = run(
        &base(),
        &Txn::new().and_then([Op::range("a"), Op::get("nope")]),
    )
    .ok();
    assert_eq!(a.as_ref().map(|a| a.events.len()), Some(0));
    let resp = a.map(|a| a.responses).unwrap_or_default();
    assert_eq!(
        resp[0],
        OpResponse::Range(vec![kv("a", "1", 2, 4, 3), kv("a/x", "2", 3, 3, 1)])
    );
    assert_eq!(resp[1], OpResponse::Get(None));
}

#[test]
fn delete_of_missing_key_writes_nothing() {
    let a = run(
        &base(),
        &Txn::new().and_then([Op::delete("nope"), Op::delete_prefix("zz")]),
    )
    .ok();
    assert_eq!(a.as_ref().map(|a| a.events.is_empty()), Some(true));
    assert_eq!(
        a.map(|a| a.responses),
        Some(vec![
            OpResponse::Delete { deleted: vec![] },
            OpResponse::Delete { deleted: vec![] }
        ])
    );
}

#[test]
fn delete_prefix_deletes_all_under_prefix_in_one_revision() {
    let map = base();
    let mut view = Overlay::new(&map);
    let a = apply(
        &mut view,
        5,
        &Txn::new().and_then([Op::delete_prefix("a")]),
        |_| false,
    )
    .ok();
    let events = a.map(|a| a.events).unwrap_or_default();
    assert_eq!(events.len(), 2);
    assert!(events
        .iter()
        .all(|e| e.kind == EventKind::Delete && e.kv.mod_revision == 6));
    assert_eq!(events[0].kv, tombstone("a", 6));
    assert_eq!(view.range(""), vec![kv("b", "3", 5, 5, 1)]);
    let changes = view.into_changes();
    assert_eq!(changes.get("a"), Some(&None));
}

#[test]
fn later_ops_see_earlier_writes() {
    let t = Txn::new().and_then([
        Op::delete("a"),
        Op::get("a"),
        Op::put("a", "new"),
        Op::range("a"),
    ]);
    let resp = run(&base(), &t).map(|a| a.responses).unwrap_or_default();
    assert_eq!(resp[1], OpResponse::Get(None));
    // Re-created after the delete: a fresh create revision and version 1.
    assert_eq!(
        resp[3],
        OpResponse::Range(vec![kv("a", "new", 6, 6, 1), kv("a/x", "2", 3, 3, 1)])
    );
}

#[test]
fn unknown_lease_fails_before_any_change() {
    let map = base();
    let mut view = Overlay::new(&map);
    let t = Txn::new().and_then([Op::delete("b"), Op::put_with_lease("k", "v", 9)]);
    assert_eq!(
        apply(&mut view, 5, &t, |id| id == 7),
        Err(StoreError::LeaseNotFound(9))
    );
    assert!(view.into_changes().is_empty());
    let t = Txn::new().and_then([Op::put_with_lease("k", "v", 7)]);
    assert!(run(&map, &t).is_ok());
    // The lease only matters in the branch that runs.
    let t = Txn::new()
        .when([Compare::missing("a")])
        .and_then([Op::put_with_lease("k", "v", 9)]);
    assert!(run(&map, &t).is_ok());
}

#[test]
fn invalid_keys_are_rejected() {
    let map = base();
    assert!(matches!(
        run(&map, &Txn::new().and_then([Op::put("", "v")])),
        Err(StoreError::InvalidArgument(_))
    ));
    let long = "k".repeat(MAX_KEY_LEN + 1);
    assert!(matches!(
        run(&map, &Txn::new().and_then([Op::get(long)])),
        Err(StoreError::InvalidArgument(_))
    ));
    assert!(matches!(
        run(&map, &Txn::new().when([Compare::missing("")])),
        Err(StoreError::InvalidArgument(_))
    ));
}

#[test]
fn overlay_range_merges_changes() {
    let map = base();
    let mut view = Overlay::new(&map);
    view.set(kv("a/y", "new", 6, 6, 1));
    view.remove("a/x");
    view.set(kv("c", "c", 6, 6, 1));
    let keys: Vec<_> = view.range("a").into_iter().map(|kv| kv.key).collect();
    assert_eq!(keys, ["a", "a/y"]);
    let all: Vec<_> = view.range("").into_iter().map(|kv| kv.key).collect();
    assert_eq!(all, ["a", "a/y", "b", "c"]);
}
