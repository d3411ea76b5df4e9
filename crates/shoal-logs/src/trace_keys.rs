//! The ring's trace lookup: one 8-byte key per kept line, in the lines' order,
//! scanned when a trace is asked for.
//!
//! It replaced a hash map from trace id to a chain of lines. The map cost every
//! append an insert and every eviction a removal, each a random access into a
//! table as large as the ring (0.3–0.45 µs of the 1.4–1.7 µs the telemetry
//! thread spent per proxied request); appending a key to this array costs a
//! store next to the previous one. A lookup scans the keys instead (0.15 ms
//! for a 64 MiB ring of 255k lines), and lookups are rare: a person asking
//! for a trace.

use std::collections::VecDeque;
use std::num::NonZeroU128;

/// A trace id's key: its halves folded; 0 is a line with no trace. Equal keys
/// are only candidates (the line's own trace id decides), so a caller choosing
/// trace ids can make lookups no slower than the scan they always are.
pub(crate) fn key_of(trace: Option<NonZeroU128>) -> u64 {
    match trace {
        None => 0,
        Some(t) => {
            let t = t.get();
            ((t as u64) ^ ((t >> 64) as u64)).max(1)
        }
    }
}

/// The keys of the kept lines, oldest first (kept in step with the ring's lines).
#[derive(Debug, Default)]
pub(crate) struct TraceKeys(VecDeque<u64>);

impl TraceKeys {
    pub(crate) fn push_back(&mut self, trace: Option<NonZeroU128>) {
        self.0.push_back(key_of(trace));
    }

    pub(crate) fn pop_front(&mut self) {
        self.0.pop_front();
    }

    /// Positions (from the oldest kept line) whose key is `trace`'s, oldest first.
    pub(crate) fn candidates(&self, trace: NonZeroU128) -> impl Iterator<Item = usize> + '_ {
        let key = key_of(Some(trace));
        let (a, b) = self.0.as_slices();
        a.iter()
            .chain(b)
            .enumerate()
            .filter_map(move |(i, k)| (*k == key).then_some(i))
    }

    /// How many distinct trace keys are kept (a count of traces, up to key collisions).
    pub(crate) fn distinct(&self) -> usize {
        let mut keys: Vec<u64> = self.0.iter().copied().filter(|k| *k != 0).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u128) -> Option<NonZeroU128> {
        NonZeroU128::new(n)
    }

    #[test]
    fn candidates_are_the_positions_of_a_traces_key_oldest_first() {
        let mut keys = TraceKeys::default();
        for trace in [t(7), None, t(9), t(7), t(1 << 64 | 7)] {
            keys.push_back(trace);
        }
        let seven = t(7).expect("nonzero");
        // The last one folds to another key (7 ^ 1 = 6): not a candidate.
        assert_eq!(keys.candidates(seven).collect::<Vec<_>>(), vec![0, 3]);
        keys.pop_front();
        assert_eq!(keys.candidates(seven).collect::<Vec<_>>(), vec![2]);
        assert_eq!(keys.distinct(), 3);
    }

    #[test]
    fn a_trace_whose_halves_cancel_still_has_a_key() {
        let same = (5u128 << 64) | 5;
        assert_eq!(key_of(t(same)), 1);
        assert_eq!(key_of(None), 0);
    }
}
