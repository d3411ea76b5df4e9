//! The store: bounds, files, reading back.

use proptest::prelude::*;

use super::*;
use crate::folded::Folded;
use crate::record::{new_id, Overhead};
use crate::sampler::{Language, Sampler};

fn profile(t: u64, stacks: &str) -> Profile {
    Profile {
        id: new_id(t, 0),
        service: "publications".into(),
        version: "3".into(),
        instance: "publications-1".into(),
        node: "local".into(),
        pid: 42,
        language: Language::Native,
        sampler: Sampler::Perf,
        event: "cpu-clock".into(),
        note: None,
        started_ms: t,
        duration_ms: 1000,
        seconds: 1,
        rate_hz: 99,
        samples: 3,
        req_per_s: Some(12.5),
        p99_ms: None,
        overhead: Overhead::default(),
        stacks: Folded::parse(stacks),
    }
}

#[test]
fn the_oldest_go_first_and_the_newest_always_stays() {
    let l = |count, bytes| Limits { count, bytes };
    assert_eq!(to_drop(&[10, 10, 10], l(2, 100)), 1);
    assert_eq!(to_drop(&[10, 10, 10], l(5, 15)), 2);
    assert_eq!(
        to_drop(&[10, 10, 500], l(5, 15)),
        2,
        "the newest is kept whatever its size"
    );
    assert_eq!(to_drop(&[10, 10], l(5, 100)), 0);
    assert_eq!(to_drop(&[], l(5, 100)), 0);
    assert_eq!(to_drop(&[1, 1], l(0, 100)), 2);
}

proptest! {
    #[test]
    fn what_is_left_fits(sizes in proptest::collection::vec(1usize..100, 0..30), count in 1usize..10, bytes in 1usize..500) {
        let n = to_drop(&sizes, Limits { count, bytes });
        let left = &sizes[n..];
        prop_assert!(left.len() <= count);
        prop_assert!(left.len() <= 1 || left.iter().sum::<usize>() <= bytes);
        // Nothing more than needed was dropped.
        if n > 0 {
            let one_more = &sizes[n - 1..];
            prop_assert!(one_more.len() > count || one_more.iter().sum::<usize>() > bytes);
        }
    }
}

#[test]
fn profiles_are_kept_on_disk_bounded_and_read_back_newest_first() {
    let dir = tempfile::tempdir().expect("tmp");
    let limits = Limits {
        count: 2,
        bytes: 1 << 20,
    };
    let store = ProfileStore::open(dir.path(), limits).expect("open");
    for t in 1..=3 {
        store.put(profile(t * 1000, "main;rank 3\n")).expect("put");
    }
    let ids: Vec<String> = store.list().iter().map(|p| p.id.clone()).collect();
    assert_eq!(ids, [new_id(3000, 0), new_id(2000, 0)]);
    assert!(store.get(&new_id(1000, 0)).is_none());
    let files = std::fs::read_dir(dir.path()).expect("dir").count();
    assert_eq!(files, 2, "the evicted profile's file is gone");
    drop(store);
    // A stray file and a damaged one are skipped, not fatal.
    std::fs::write(dir.path().join("notes.txt"), "hi").expect("write");
    std::fs::write(dir.path().join(format!("{}.json", new_id(9000, 0))), "{").expect("write");
    let again = ProfileStore::open(dir.path(), limits).expect("reopen");
    let back = again.get(&new_id(3000, 0)).map(|p| (*p).clone());
    assert_eq!(back, Some(profile(3000, "main;rank 3\n")));
    assert_eq!(again.list().len(), 2);
    assert!(again.bytes() > 0);
}

#[test]
fn reopening_with_smaller_limits_removes_the_excess() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = ProfileStore::open(dir.path(), Limits::default()).expect("open");
    for t in 1..=4 {
        store.put(profile(t, "a;b 1\n")).expect("put");
    }
    drop(store);
    let small = ProfileStore::open(
        dir.path(),
        Limits {
            count: 1,
            bytes: 1 << 20,
        },
    )
    .expect("reopen");
    assert_eq!(small.list().len(), 1);
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
}
