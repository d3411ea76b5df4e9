//! [`Tally`]: how often each flag answered each value, for `shoal_flag_evaluations_total{flag,value}`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Counter shards: each serving thread bumps its own, so two cores never write the
/// same cache line (one shared array cost more than the rest of evaluation).
const SHARDS: usize = 8;

/// One counter per (flag, value) pair of a [`crate::FlagSet`], bumped lock-free on the
/// request path (relaxed atomics: the counts are statistics, not synchronisation), in
/// per-thread shards that reads add up.
#[derive(Debug, Default)]
pub struct Tally {
    labels: Vec<(String, String)>,
    /// `SHARDS` arrays of `labels.len()` counters, each array on cache lines of its own.
    shards: Vec<Shard>,
}

/// One thread's counters, padded to whole cache lines.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard(Box<[AtomicU64]>);

impl Tally {
    /// Counters at zero for these (flag, value) pairs, in slot order.
    pub(crate) fn new(labels: Vec<(String, String)>) -> Self {
        // Rounded up to 16 counters (128 bytes): the next shard's array starts on a
        // line of its own.
        let len = labels.len().div_ceil(16) * 16;
        let shards = (0..SHARDS)
            .map(|_| Shard((0..len).map(|_| AtomicU64::new(0)).collect()))
            .collect();
        Tally { labels, shards }
    }

    /// Counts one evaluation answering slot `slot`.
    pub(crate) fn bump(&self, slot: usize) {
        self.counters().bump(slot);
    }

    /// The calling thread's counters, looked up once for many bumps.
    pub(crate) fn counters(&self) -> Counters<'_> {
        Counters {
            live: self.labels.len(),
            shard: self.shards.get(shard()).map_or(&[], |s| &s.0[..]),
        }
    }

    /// The count of slot `i`, all shards added.
    fn total(&self, i: usize) -> u64 {
        self.shards
            .iter()
            .filter_map(|s| s.0.get(i))
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// Every (flag, value, count), flags by name, values in their flag's order.
    pub fn snapshot(&self) -> Vec<(String, String, u64)> {
        self.labels
            .iter()
            .enumerate()
            .map(|(i, (f, v))| (f.clone(), v.clone(), self.total(i)))
            .collect()
    }

    /// The count of one (flag, value) pair; 0 when the set has no such pair.
    pub fn count(&self, flag: &str, value: &str) -> u64 {
        self.labels
            .iter()
            .position(|(f, v)| f == flag && v == value)
            .map_or(0, |i| self.total(i))
    }

    /// Adds the counts of `previous` (the set this one replaces) for the pairs both have,
    /// so the counters keep rising across flag changes. Evaluations that still run on the
    /// previous set after this call are not carried.
    pub fn carry_from(&self, previous: &Tally) {
        let old: BTreeMap<(&str, &str), u64> = previous
            .labels
            .iter()
            .enumerate()
            .map(|(i, (f, v))| ((f.as_str(), v.as_str()), previous.total(i)))
            .collect();
        let Some(first) = self.shards.first() else {
            return;
        };
        for (i, (f, v)) in self.labels.iter().enumerate() {
            if let (Some(&n), Some(c)) = (old.get(&(f.as_str(), v.as_str())), first.0.get(i)) {
                c.fetch_add(n, Ordering::Relaxed);
            }
        }
    }
}

/// One thread's shard of a [`Tally`].
pub(crate) struct Counters<'a> {
    /// Slots at or past this are padding.
    live: usize,
    shard: &'a [AtomicU64],
}

impl Counters<'_> {
    /// Counts one evaluation answering slot `slot`.
    #[inline]
    pub(crate) fn bump(&self, slot: usize) {
        if slot < self.live {
            if let Some(c) = self.shard.get(slot) {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The calling thread's shard.
fn shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(f, v)| ((*f).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn counts_and_carries_over() {
        let old = Tally::new(labels(&[("a", "1"), ("a", "0"), ("gone", "1")]));
        old.bump(0);
        old.bump(0);
        old.bump(2);
        old.bump(99); // out of range: ignored
        let new = Tally::new(labels(&[("a", "1"), ("a", "0"), ("b", "1")]));
        new.bump(1);
        new.carry_from(&old);
        assert_eq!(
            new.snapshot(),
            [
                ("a".to_owned(), "1".to_owned(), 2),
                ("a".to_owned(), "0".to_owned(), 1),
                ("b".to_owned(), "1".to_owned(), 0),
            ]
        );
        assert_eq!(new.count("a", "1"), 2);
        assert_eq!(new.count("gone", "1"), 0);
    }
}
