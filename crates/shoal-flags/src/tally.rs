//! [`Tally`]: how often each flag answered each value, for `shoal_flag_evaluations_total{flag,value}`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// One counter per (flag, value) pair of a [`crate::FlagSet`], bumped lock-free on the
/// request path (relaxed atomics: the counts are statistics, not synchronisation).
#[derive(Debug, Default)]
pub struct Tally {
    labels: Vec<(String, String)>,
    counts: Box<[AtomicU64]>,
}

impl Tally {
    /// Counters at zero for these (flag, value) pairs, in slot order.
    pub(crate) fn new(labels: Vec<(String, String)>) -> Self {
        let counts = labels.iter().map(|_| AtomicU64::new(0)).collect();
        Tally { labels, counts }
    }

    /// Counts one evaluation answering slot `slot`.
    pub(crate) fn bump(&self, slot: usize) {
        if let Some(c) = self.counts.get(slot) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every (flag, value, count), flags by name, values in their flag's order.
    pub fn snapshot(&self) -> Vec<(String, String, u64)> {
        self.labels
            .iter()
            .zip(self.counts.iter())
            .map(|((f, v), c)| (f.clone(), v.clone(), c.load(Ordering::Relaxed)))
            .collect()
    }

    /// The count of one (flag, value) pair; 0 when the set has no such pair.
    pub fn count(&self, flag: &str, value: &str) -> u64 {
        self.labels
            .iter()
            .position(|(f, v)| f == flag && v == value)
            .and_then(|i| self.counts.get(i))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Adds the counts of `previous` (the set this one replaces) for the pairs both have,
    /// so the counters keep rising across flag changes. Evaluations that still run on the
    /// previous set after this call are not carried.
    pub fn carry_from(&self, previous: &Tally) {
        let old: BTreeMap<(&str, &str), u64> = previous
            .labels
            .iter()
            .zip(previous.counts.iter())
            .map(|((f, v), c)| ((f.as_str(), v.as_str()), c.load(Ordering::Relaxed)))
            .collect();
        for ((f, v), c) in self.labels.iter().zip(self.counts.iter()) {
            if let Some(&n) = old.get(&(f.as_str(), v.as_str())) {
                c.fetch_add(n, Ordering::Relaxed);
            }
        }
    }
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
