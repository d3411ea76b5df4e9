//! Making room in a full series table: the least recently updated series go first, in batches.
//!
//! Every table stamps a series with a sequence number each time it is updated. When a
//! new series finds the table full, one pass finds the stamp below which the oldest
//! [`batch`] series lie and removes them all: one O(n) pass per `n/16` new series, so
//! the cost per sample stays bounded and nothing is scanned on updates.

/// Why a series was evicted (the `reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Its table was full and it was among the least recently updated.
    Cap,
    /// It had no point left in the store's longest retention.
    Stale,
}

impl Reason {
    pub const ALL: [Reason; 2] = [Reason::Cap, Reason::Stale];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Cap => "cap",
            Reason::Stale => "stale",
        }
    }
}

/// Evictions counted by reason.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Evictions {
    pub cap: u64,
    pub stale: u64,
}

impl Evictions {
    pub fn add(&mut self, reason: Reason, n: u64) {
        match reason {
            Reason::Cap => self.cap += n,
            Reason::Stale => self.stale += n,
        }
    }

    pub fn get(&self, reason: Reason) -> u64 {
        match reason {
            Reason::Cap => self.cap,
            Reason::Stale => self.stale,
        }
    }
}

/// How many series one eviction removes from a table capped at `cap`.
pub fn batch(cap: usize) -> usize {
    (cap / 16).max(1)
}

/// The largest stamp among the `n` smallest of `stamps` (`None` when there are none):
/// removing every series stamped at or below it removes the `n` least recently
/// updated (stamps are unique).
pub fn threshold(mut stamps: Vec<u64>, n: usize) -> Option<u64> {
    if stamps.is_empty() || n == 0 {
        return None;
    }
    let i = n.min(stamps.len()) - 1;
    let (_, nth, _) = stamps.select_nth_unstable(i);
    Some(*nth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_picks_the_oldest() {
        assert_eq!(threshold(vec![9, 3, 7, 1, 5], 2), Some(3));
        assert_eq!(threshold(vec![9, 3, 7], 10), Some(9));
        assert_eq!(threshold(vec![4], 1), Some(4));
        assert_eq!(threshold(Vec::new(), 3), None);
        assert_eq!(threshold(vec![1, 2], 0), None);
    }

    #[test]
    fn batches_are_a_sixteenth_at_least_one() {
        assert_eq!((batch(0), batch(1), batch(50), batch(2000)), (1, 1, 3, 125));
    }

    #[test]
    fn counts_by_reason() {
        let mut e = Evictions::default();
        e.add(Reason::Cap, 3);
        e.add(Reason::Stale, 1);
        e.add(Reason::Cap, 2);
        assert_eq!((e.get(Reason::Cap), e.get(Reason::Stale)), (5, 1));
    }
}
