//! The store's index: kept spans in arrival order, each slot linked to the next kept
//! span with the same key, and each key's first and last slot in a map.
//!
//! A trace's key is its id parsed as 32 hex digits, else a hash of the id; keys may
//! collide (a hash, or ids differing only in case), so every read compares the id.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;

use foldhash::fast::RandomState;

use super::packed::Packed;
use super::{TraceLimits, TraceStats};
use crate::span::{Span, SpanRef};
use crate::summary::{summarize, TraceQuery, TraceSummary};

/// The high half of a hashed id's key; a parsed id has it only when its first 16 hex
/// digits are all `f` (W3C ids are random; 64-bit ids padded to 128 start with zeros).
const HASHED: u128 = (u64::MAX as u128) << 64;

/// The first and last kept span of a key, by sequence number.
#[derive(Debug, Clone, Copy)]
struct Chain {
    first: u64,
    last: u64,
}

/// One kept span.
struct Slot {
    span: Packed,
    key: u128,
    /// The next kept span with the same key.
    next: Option<u64>,
    /// The oldest kept span with this trace id (where listings place the trace).
    opens: bool,
}

/// Slots in arrival order; sequence numbers are consecutive from `front`.
#[derive(Default)]
struct Slots {
    q: VecDeque<Slot>,
    front: u64,
}

impl Slots {
    fn index(&self, seq: u64) -> Option<usize> {
        usize::try_from(seq.checked_sub(self.front)?).ok()
    }

    fn get(&self, seq: u64) -> Option<&Slot> {
        self.q.get(self.index(seq)?)
    }

    fn get_mut(&mut self, seq: u64) -> Option<&mut Slot> {
        let i = self.index(seq)?;
        self.q.get_mut(i)
    }

    /// The slots linked from `from` on, with their sequence numbers.
    fn chain(&self, from: Option<u64>) -> impl Iterator<Item = (u64, &Slot)> + '_ {
        let start = from.and_then(|s| Some((s, self.get(s)?)));
        std::iter::successors(start, |(_, slot)| {
            let n = slot.next?;
            Some((n, self.get(n)?))
        })
    }

    /// The first slot linked from `from` on whose span has `trace_id`.
    fn find(&self, from: Option<u64>, trace_id: &str) -> Option<u64> {
        self.chain(from)
            .find(|(_, s)| s.span.trace_id() == trace_id)
            .map(|(seq, _)| seq)
    }
}

/// The store's spans and index; the store's mutex guards it.
#[derive(Default)]
pub(super) struct Inner {
    slots: Slots,
    chains: HashMap<u128, Chain, RandomState>,
    /// Seeds the keys of ids that are not 32 hex digits.
    hasher: RandomState,
    /// Distinct trace ids kept: slots that open their trace.
    traces: usize,
    stats: TraceStats,
}

impl Inner {
    fn key(&self, trace_id: &str) -> u128 {
        parse_hex(trace_id).unwrap_or_else(|| HASHED | u128::from(self.hasher.hash_one(trace_id)))
    }

    pub(super) fn stats(&self) -> TraceStats {
        TraceStats {
            spans: self.slots.q.len(),
            traces: self.traces,
            ..self.stats
        }
    }

    pub(super) fn push(&mut self, span: &SpanRef<'_>) {
        let key = self.key(span.trace_id);
        self.stats.bytes += span.approx_bytes();
        let slots = &mut self.slots;
        let seq = slots.front + slots.q.len() as u64;
        let opens = match self.chains.entry(key) {
            Entry::Vacant(e) => {
                e.insert(Chain {
                    first: seq,
                    last: seq,
                });
                true
            }
            Entry::Occupied(mut e) => {
                let chain = e.get_mut();
                let opens = slots.find(Some(chain.first), span.trace_id).is_none();
                if let Some(last) = slots.get_mut(chain.last) {
                    last.next = Some(seq);
                }
                chain.last = seq;
                opens
            }
        };
        self.traces += usize::from(opens);
        slots.q.push_back(Slot {
            span: Packed::new(span),
            key,
            next: None,
            opens,
        });
    }

    pub(super) fn evict(&mut self, limits: &TraceLimits, now_us: u64) {
        let oldest_end = now_us.saturating_sub(limits.max_age.as_micros() as u64);
        while let Some(front) = self.slots.q.front() {
            if self.slots.q.len() > limits.max_spans || self.stats.bytes > limits.max_bytes {
                self.stats.dropped += 1;
            } else if front.span.end_us() < oldest_end {
                self.stats.expired += 1;
            } else {
                break;
            }
            self.pop_front();
        }
    }

    /// Drops the oldest span, which is the first of its key's chain and opens its trace.
    fn pop_front(&mut self) {
        let Some(slot) = self.slots.q.pop_front() else {
            return;
        };
        self.slots.front += 1;
        let bytes = slot.span.view().approx_bytes();
        self.stats.bytes = self.stats.bytes.saturating_sub(bytes);
        if let Entry::Occupied(mut e) = self.chains.entry(slot.key) {
            match slot.next {
                Some(next) => e.get_mut().first = next,
                None => {
                    e.remove();
                }
            }
        }
        match self.slots.find(slot.next, slot.span.trace_id()) {
            Some(seq) => {
                if let Some(s) = self.slots.get_mut(seq) {
                    s.opens = true;
                }
            }
            None => self.traces = self.traces.saturating_sub(1),
        }
    }

    /// The kept spans of `trace_id`, oldest first.
    pub(super) fn spans_of<'a>(&'a self, trace_id: &'a str) -> impl Iterator<Item = Span> + 'a {
        let first = self.chains.get(&self.key(trace_id)).map(|c| c.first);
        self.slots
            .chain(first)
            .map(|(_, s)| &s.span)
            .filter(move |s| s.trace_id() == trace_id)
            .map(Packed::unpack)
    }

    /// Summaries of traces matching `q`, by their oldest kept span, newest first,
    /// at most `q.limit` (0: all).
    pub(super) fn list(&self, q: &TraceQuery) -> Vec<TraceSummary> {
        let mut out = Vec::new();
        let front = self.slots.front;
        for (i, slot) in self.slots.q.iter().enumerate().rev() {
            if !slot.opens {
                continue;
            }
            let id = slot.span.trace_id();
            let spans: Vec<Span> = self
                .slots
                .chain(Some(front + i as u64))
                .map(|(_, s)| &s.span)
                .filter(|s| s.trace_id() == id)
                .map(Packed::unpack)
                .collect();
            match summarize(spans.iter()) {
                Some(s) if q.matches(&s) => out.push(s),
                _ => {}
            }
            if q.limit > 0 && out.len() >= q.limit {
                break;
            }
        }
        out
    }
}

/// `s` as a 128-bit number when it is exactly 32 hex digits (either case).
fn parse_hex(s: &str) -> Option<u128> {
    if s.len() != 32 {
        return None;
    }
    s.bytes().try_fold(0u128, |acc, b| {
        let digit = char::from(b).to_digit(16)?;
        Some(acc << 4 | u128::from(digit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ids_parse_in_either_case_and_others_are_hashed() {
        let lower = "0af7651916cd43dd8448eb211c80319c";
        assert_eq!(parse_hex(lower), Some(0x0af7651916cd43dd8448eb211c80319c));
        assert_eq!(parse_hex(&lower.to_ascii_uppercase()), parse_hex(lower));
        for bad in [
            "",
            "abc",
            "+af7651916cd43dd8448eb211c80319c",
            &"g".repeat(32),
        ] {
            assert_eq!(parse_hex(bad), None, "{bad}");
        }
        let inner = Inner::default();
        let k = inner.key("not-a-hex-id");
        assert_eq!(k & HASHED, HASHED);
        assert_eq!(k, inner.key("not-a-hex-id"));
    }
}
