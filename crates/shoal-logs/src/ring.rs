//! The pure ring of kept lines: append, evict and query with the current time passed in.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet, VecDeque};
use std::num::NonZeroU128;
use std::sync::Arc;

use crate::kept::{trace_number, Kept, KeptFields, LabelCache, LazyLine, Text, TraceLine};
use crate::limits::{LogLimits, LogQuery, LogStats, TRUNCATION_MARKER};
use crate::line::{LogLine, Stream};
use crate::structure::Fields;
use crate::trace_keys::TraceKeys;

/// The labels and text of a line being appended, with what was read from it.
#[derive(Debug, Clone)]
pub(crate) struct NewLine<'a> {
    pub service: &'a str,
    pub version: &'a str,
    pub instance: &'a str,
    pub stream: Stream,
    pub line: &'a str,
    /// The line's trace id as a number (read before the store's lock is taken).
    pub trace: Option<NonZeroU128>,
    /// Where the fields come from: the line itself (JSON) or the writer (as JSON text).
    pub fields: NewFields<'a>,
    /// A line made when read; `line` and `fields` are then unused. Not cut to
    /// `max_line_bytes` (its writer bounds it).
    pub lazy: Option<Arc<dyn LazyLine>>,
}

/// A new line's fields.
#[derive(Debug, Clone)]
pub(crate) enum NewFields<'a> {
    None,
    /// The line is a JSON object; its fields, already parsed (kept only in a tail copy).
    FromLine(Fields),
    /// Given by the writer, serialized (JSON object text).
    Json(&'a str),
}

/// Lines oldest-first plus the accounting the limits need. No locking, no clock.
#[derive(Debug)]
pub(crate) struct Ring {
    limits: LogLimits,
    lines: VecDeque<Kept>,
    labels: LabelCache,
    bytes: usize,
    dropped: u64,
    next_seq: u64,
    last_time_ms: u64,
    /// Each kept line's trace key, in step with `lines` (see `trace_keys.rs`).
    trace_keys: TraceKeys,
}

/// The oldest kept line's number and time (the next line's, when none is kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Floor {
    pub seq: u64,
    pub time_ms: u64,
}

impl Ring {
    pub(crate) fn new(limits: LogLimits) -> Self {
        Ring {
            limits,
            lines: VecDeque::new(),
            labels: LabelCache::default(),
            bytes: 0,
            dropped: 0,
            next_seq: 1,
            last_time_ms: 0,
            trace_keys: TraceKeys::default(),
        }
    }

    /// Stores a line appended at `now_ms`; returns its sequence number and, when
    /// `want_copy`, a copy of the stored record (for live tail subscribers).
    ///
    /// Time is clamped so it never goes backwards: ordering by `seq` is ordering by time.
    pub(crate) fn push(
        &mut self,
        now_ms: u64,
        new: NewLine<'_>,
        want_copy: bool,
    ) -> (u64, Option<LogLine>) {
        let time_ms = now_ms.max(self.last_time_ms);
        self.last_time_ms = time_ms;
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        let (line, fields, parsed) = match new.lazy {
            Some(lazy) => (Text::Lazy(lazy), KeptFields::Lazy, None),
            None => {
                let line = truncate(new.line, self.limits.max_line_bytes);
                // A cut JSON line is no longer JSON.
                let (fields, parsed) = match new.fields {
                    NewFields::FromLine(f) if line.len() == new.line.len() => {
                        (KeptFields::FromLine, Some(f))
                    }
                    NewFields::Json(j) => (KeptFields::Json(Arc::from(j)), None),
                    _ => (KeptFields::None, None),
                };
                (Text::Stored(Arc::from(line)), fields, parsed)
            }
        };
        let record = Kept {
            seq,
            time_ms,
            labels: self.labels.get(new.service, new.version, new.instance),
            stream: new.stream,
            line,
            trace: new.trace,
            fields,
        };
        // The tail copy reuses the fields parsed before the lock, not a second parse.
        let copy = want_copy.then(|| match parsed {
            Some(f) => LogLine {
                fields: Some(Box::new(f)),
                ..record.read_bare()
            },
            None => record.read(),
        });
        self.bytes += record.cost();
        self.trace_keys.push_back(record.trace);
        self.lines.push_back(record);
        self.evict(time_ms);
        (seq, copy)
    }

    /// Drops the oldest lines while over `max_bytes` or older than `max_age` at `now_ms`.
    pub(crate) fn evict(&mut self, now_ms: u64) {
        let max_age_ms = u64::try_from(self.limits.max_age.as_millis()).unwrap_or(u64::MAX);
        let oldest_allowed = now_ms.saturating_sub(max_age_ms);
        while let Some(front) = self.lines.front() {
            if self.bytes <= self.limits.max_bytes && front.time_ms >= oldest_allowed {
                break;
            }
            self.bytes -= front.cost();
            self.dropped += 1;
            self.lines.pop_front();
            self.trace_keys.pop_front();
        }
    }

    /// The most recent `q.limit` lines matching `q`, oldest-first. Evicts expired lines first.
    pub(crate) fn query(&mut self, now_ms: u64, q: &LogQuery) -> Vec<LogLine> {
        self.evict(now_ms);
        let limit = if q.limit == 0 { usize::MAX } else { q.limit };
        if let Some(t) = &q.trace {
            return match trace_number(t) {
                Some(t) => self.query_trace(t, q, limit),
                None => Vec::new(),
            };
        }
        // Newest-first scan: lines are ordered by seq and by time, so the scan
        // stops at the first line older than `since_ms` or not after `after_seq`.
        collect(self.lines.iter().rev(), q, limit)
    }

    /// A trace's lines from the index, newest-first scan, then the other filters.
    fn query_trace(&self, trace: NonZeroU128, q: &LogQuery, limit: usize) -> Vec<LogLine> {
        let lines: Vec<&Kept> = self.chain_of(trace).collect();
        collect(lines.into_iter().rev(), q, limit)
    }

    /// The records and writer-given fields of trace `t`'s lines, oldest
    /// first, and the time of its oldest kept line of any kind (what
    /// [`Ring::trace_start`] gives), from one scan of the trace keys.
    pub(crate) fn lines_of_trace(&self, t: NonZeroU128) -> (Vec<TraceLine>, Option<u64>) {
        let mut start = None;
        let lines = self
            .chain_of(t)
            .inspect(|k| {
                start.get_or_insert(k.time_ms);
            })
            .filter_map(Kept::trace_line)
            .collect();
        (lines, start)
    }

    /// Up to `max` more traces' records and writer-given fields (each oldest
    /// first) into `out`, the trace with the newest line first, looking at
    /// lines older than `before` (a sequence number) whose trace is not in
    /// `seen`. Returns where to go on from, or `None` when every kept line
    /// was looked at.
    ///
    /// The traces are picked walking back from `before`, then their lines
    /// gathered in one pass over the ring (a trace's other lines may be
    /// anywhere in it): a step costs one walk of the ring, not one per trace.
    pub(crate) fn traces_before(
        &self,
        before: u64,
        seen: &mut HashSet<NonZeroU128, foldhash::fast::RandomState>,
        max: usize,
        out: &mut Vec<Vec<TraceLine>>,
    ) -> Option<u64> {
        let first = self.lines.front()?.seq;
        let end = usize::try_from(before.saturating_sub(first))
            .unwrap_or(usize::MAX)
            .min(self.lines.len());
        let mut picked: HashMap<NonZeroU128, usize, foldhash::fast::RandomState> =
            HashMap::default();
        let mut resume = None;
        for k in self.lines.range(..end).rev() {
            let Some(t) = k.trace else { continue };
            if !seen.insert(t) {
                continue;
            }
            picked.insert(t, picked.len());
            if picked.len() >= max {
                resume = Some(k.seq);
                break;
            }
        }
        let mut found: Vec<Vec<TraceLine>> = (0..picked.len()).map(|_| Vec::new()).collect();
        if !picked.is_empty() {
            for k in &self.lines {
                if let Some(lines) = k
                    .trace
                    .and_then(|t| picked.get(&t))
                    .and_then(|&i| found.get_mut(i))
                {
                    lines.extend(k.trace_line());
                }
            }
        }
        // Traces with no record or fields (plain lines that carry a trace id) are skipped.
        out.extend(found.into_iter().filter(|lines| !lines.is_empty()));
        resume
    }

    /// Trace `t`'s kept lines, oldest first, from a scan of the trace keys.
    fn chain_of(&self, t: NonZeroU128) -> impl Iterator<Item = &Kept> + '_ {
        self.trace_keys
            .candidates(t)
            .filter_map(|i| self.lines.get(i))
            .filter(move |k| k.trace == Some(t))
    }

    /// Where the kept lines begin: what is older is on disk only, if anywhere.
    pub(crate) fn floor(&self) -> Floor {
        match self.lines.front() {
            Some(k) => Floor {
                seq: k.seq,
                time_ms: k.time_ms,
            },
            None => Floor {
                seq: self.next_seq,
                time_ms: self.last_time_ms,
            },
        }
    }

    /// The time of trace `t`'s oldest kept line, if any is kept.
    pub(crate) fn trace_start(&self, t: NonZeroU128) -> Option<u64> {
        self.chain_of(t).next().map(|k| k.time_ms)
    }

    /// Numbers the next line `seq` (on an empty ring, before lines restored
    /// from disk are pushed with the numbers they had).
    pub(crate) fn number_from(&mut self, seq: u64) {
        debug_assert!(self.lines.is_empty());
        self.next_seq = seq.max(1);
    }

    /// Numbers the next line `seq` on an empty ring, whose lines before it
    /// (on disk only) are older than `time_ms`: the ring's floor reads so,
    /// and a query going back past it goes on into the disk.
    pub(crate) fn resume_after_gap(&mut self, seq: u64, time_ms: u64) {
        self.number_from(seq);
        self.last_time_ms = time_ms;
    }

    /// The number the next line gets.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The line appended last, if it is still kept.
    pub(crate) fn newest(&self) -> Option<&Kept> {
        self.lines.back()
    }

    pub(crate) fn limits(&self) -> &LogLimits {
        &self.limits
    }

    pub(crate) fn stats(&self) -> LogStats {
        LogStats {
            lines: self.lines.len(),
            bytes: self.bytes,
            oldest_ms: self.lines.front().map(|l| l.time_ms),
            dropped: self.dropped,
            traces: self.trace_keys.distinct(),
            disk_bytes: 0,
            disk_dropped: 0,
        }
    }
}

/// Up to `limit` lines of `newest_first` that pass `q`, returned oldest-first;
/// stops at the first line outside `q`'s range (`after_seq`, `since_ms`).
fn collect<'a>(
    newest_first: impl Iterator<Item = &'a Kept>,
    q: &LogQuery,
    limit: usize,
) -> Vec<LogLine> {
    let mut out = Vec::new();
    for line in newest_first {
        if out.len() >= limit
            || q.after_seq.is_some_and(|after| line.seq <= after)
            || q.since_ms.is_some_and(|since| line.time_ms < since)
        {
            break;
        }
        if let Some(l) = pick(line, q) {
            out.push(l);
        }
    }
    out.reverse();
    out
}

/// The public record of `k` when it passes `q`'s filters (not the range filters).
///
/// Cheap filters run on the kept record first; fields are parsed only for lines
/// that pass them (and for a `fields` filter, only structured lines).
fn pick(k: &Kept, q: &LogQuery) -> Option<LogLine> {
    let labels_ok = q.service.as_deref().is_none_or(|s| s == &*k.labels.service)
        && q.instance
            .as_deref()
            .is_none_or(|i| i == &*k.labels.instance)
        && q.grep.as_deref().is_none_or(|g| k.line.get().contains(g))
        && (q.fields.is_empty() || !matches!(k.fields, KeptFields::None));
    if !labels_ok {
        return None;
    }
    let line = k.read();
    q.matches(&line).then_some(line)
}

/// `line` cut to at most `max` bytes on a character boundary, marked when cut.
pub(crate) fn truncate(line: &str, max: usize) -> Cow<'_, str> {
    if line.len() <= max {
        return Cow::Borrowed(line);
    }
    let mut end = max;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + TRUNCATION_MARKER.len());
    out.push_str(&line[..end]);
    out.push_str(TRUNCATION_MARKER);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn line<'a>(service: &'a str, instance: &'a str, text: &'a str) -> NewLine<'a> {
        NewLine {
            service,
            version: "1",
            instance,
            stream: Stream::Stdout,
            line: text,
            trace: None,
            fields: NewFields::None,
            lazy: None,
        }
    }

    fn traced<'a>(text: &'a str, trace: &str) -> NewLine<'a> {
        NewLine {
            trace: trace_number(&format!("{trace:0>32}")),
            ..line("a", "a-1", text)
        }
    }

    fn limits(max_bytes: usize, max_age_s: u64, max_line_bytes: usize) -> LogLimits {
        LogLimits {
            max_bytes,
            max_age: Duration::from_secs(max_age_s),
            max_line_bytes,
        }
    }

    #[test]
    fn sequence_numbers_start_at_one_and_increase() {
        let mut ring = Ring::new(LogLimits::default());
        assert_eq!(ring.push(10, line("a", "a-1", "x"), false).0, 1);
        assert_eq!(ring.push(10, line("a", "a-1", "y"), false).0, 2);
    }

    #[test]
    fn time_never_goes_backwards() {
        let mut ring = Ring::new(LogLimits::default());
        ring.push(1_000, line("a", "a-1", "x"), false);
        let (_, copy) = ring.push(500, line("a", "a-1", "y"), true);
        assert_eq!(copy.map(|l| l.time_ms), Some(1_000));
    }

    #[test]
    fn long_lines_are_cut_on_a_char_boundary_and_marked() {
        let mut ring = Ring::new(limits(1 << 20, 60, 5));
        let (_, copy) = ring.push(0, line("a", "a-1", "ééééé"), true);
        let text = copy.map(|l| l.line).unwrap_or_default();
        assert_eq!(text, format!("éé{TRUNCATION_MARKER}"));
        let (_, copy) = ring.push(0, line("a", "a-1", "abcde"), true);
        assert_eq!(copy.map(|l| l.line).as_deref(), Some("abcde"));
    }

    #[test]
    fn bytes_stay_under_the_limit_and_oldest_go_first() {
        let mut ring = Ring::new(limits(10_000, 3600, 1024));
        for i in 0..1_000 {
            ring.push(i, line("a", "a-1", &format!("line {i}")), false);
            assert!(ring.stats().bytes <= 10_000);
        }
        let stats = ring.stats();
        assert!(stats.lines > 0);
        assert_eq!(stats.dropped + stats.lines as u64, 1_000);
        let all = ring.query(1_000, &LogQuery::default());
        assert_eq!(all.last().map(|l| l.line.as_str()), Some("line 999"));
        assert_eq!(
            all.first().map(|l| l.seq),
            Some(1_000 - stats.lines as u64 + 1)
        );
    }

    #[test]
    fn a_line_larger_than_the_store_is_not_kept() {
        let mut ring = Ring::new(limits(10, 3600, 1024));
        let (seq, _) = ring.push(0, line("a", "a-1", "hello"), false);
        assert_eq!(seq, 1);
        assert_eq!(ring.stats().lines, 0);
        assert_eq!(ring.stats().bytes, 0);
    }

    #[test]
    fn old_lines_expire_on_append_and_on_query() {
        let mut ring = Ring::new(limits(1 << 20, 10, 1024));
        ring.push(0, line("a", "a-1", "old"), false);
        ring.push(5_000, line("a", "a-1", "mid"), false);
        ring.push(10_500, line("a", "a-1", "new"), false);
        assert_eq!(ring.stats().lines, 2, "`old` expired on append");
        assert_eq!(ring.stats().oldest_ms, Some(5_000));
        let left = ring.query(15_001, &LogQuery::default());
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].line, "new");
        assert_eq!(ring.stats().dropped, 2);
    }

    #[test]
    fn query_filters_and_limit_keep_the_most_recent_oldest_first() {
        let mut ring = Ring::new(LogLimits::default());
        for i in 0..10u64 {
            let (svc, inst) = if i % 2 == 0 {
                ("a", "a-1")
            } else {
                ("b", "b-1")
            };
            ring.push(i * 100, line(svc, inst, &format!("msg {i} {svc}")), false);
        }
        let texts = |q: &LogQuery, ring: &mut Ring| -> Vec<String> {
            ring.query(1_000, q).into_iter().map(|l| l.line).collect()
        };
        let q = LogQuery {
            service: Some("a".into()),
            limit: 2,
            ..Default::default()
        };
        assert_eq!(texts(&q, &mut ring), ["msg 6 a", "msg 8 a"]);
        let q = LogQuery {
            instance: Some("b-1".into()),
            since_ms: Some(500),
            ..Default::default()
        };
        assert_eq!(texts(&q, &mut ring), ["msg 5 b", "msg 7 b", "msg 9 b"]);
        let q = LogQuery {
            after_seq: Some(8),
            ..Default::default()
        };
        assert_eq!(texts(&q, &mut ring), ["msg 8 a", "msg 9 b"]);
        let q = LogQuery {
            grep: Some("3".into()),
            ..Default::default()
        };
        assert_eq!(texts(&q, &mut ring), ["msg 3 b"]);
        let q = LogQuery {
            service: Some("none".into()),
            ..Default::default()
        };
        assert!(texts(&q, &mut ring).is_empty());
    }

    #[test]
    fn a_trace_lookup_finds_its_lines_and_forgets_evicted_ones() {
        let mut ring = Ring::new(limits(2_000, 3600, 1024));
        ring.push(0, traced("t1 first", "e1"), false);
        ring.push(0, line("a", "a-1", "untraced"), false);
        ring.push(0, traced("t2 only", "e2"), false);
        ring.push(0, traced("t1 second", "e1"), false);
        let q = |t: &str| LogQuery {
            trace: Some(format!("{t:0>32}")),
            ..Default::default()
        };
        let texts = |ring: &mut Ring, t: &str| -> Vec<String> {
            ring.query(0, &q(t)).into_iter().map(|l| l.line).collect()
        };
        assert_eq!(texts(&mut ring, "e1"), ["t1 first", "t1 second"]);
        assert_eq!(texts(&mut ring, "e2"), ["t2 only"]);
        assert!(texts(&mut ring, "e3").is_empty());
        assert_eq!(ring.stats().traces, 2);
        // Flood with untraced lines until every traced one is evicted.
        for i in 0..1_000 {
            ring.push(0, line("a", "a-1", &format!("flood {i}")), false);
        }
        assert!(texts(&mut ring, "e1").is_empty());
        assert_eq!(ring.stats().traces, 0, "no evicted trace is counted");
    }

    /// A trace whose oldest lines are evicted keeps its newer ones, in order,
    /// and one that comes back after all its lines went is indexed afresh.
    #[test]
    fn a_trace_loses_its_oldest_lines_first() {
        let mut ring = Ring::new(LogLimits::default());
        ring.push(0, traced("t1 a", "e1"), false);
        let cost = ring.newest().map_or(0, Kept::cost);
        // Room for three lines of this size.
        ring.limits.max_bytes = cost * 3 + cost / 2;
        ring.push(0, traced("t2 a", "e2"), false);
        ring.push(0, traced("t1 b", "e1"), false);
        ring.push(0, traced("t1 c", "e1"), false);
        let texts = |ring: &mut Ring, t: &str| -> Vec<String> {
            let q = LogQuery {
                trace: Some(format!("{t:0>32}")),
                ..Default::default()
            };
            ring.query(0, &q).into_iter().map(|l| l.line).collect()
        };
        assert_eq!(texts(&mut ring, "e1"), ["t1 b", "t1 c"]);
        assert_eq!(texts(&mut ring, "e2"), ["t2 a"]);
        ring.push(0, traced("t1 d", "e1"), false);
        assert_eq!(texts(&mut ring, "e1"), ["t1 b", "t1 c", "t1 d"]);
        assert!(texts(&mut ring, "e2").is_empty());
        ring.push(0, traced("t2 b", "e2"), false);
        assert_eq!(texts(&mut ring, "e2"), ["t2 b"]);
        assert_eq!(texts(&mut ring, "e1"), ["t1 c", "t1 d"]);
        assert_eq!(ring.stats().traces, 2);
    }

    /// A step picks traces walking back from `before`, newest first, and
    /// gathers every kept line of each, also the ones after `before`.
    #[test]
    fn traces_before_gathers_whole_traces_a_step_at_a_time() {
        let mut ring = Ring::new(LogLimits::default());
        let structured = |text: &'static str, trace: &str| NewLine {
            fields: NewFields::Json(r#"{"x":1}"#),
            ..traced(text, trace)
        };
        for (text, trace) in [
            ("1", "e1"),
            ("2", "e2"),
            ("3", "e1"),
            ("4", "e3"),
            ("5", "e2"),
        ] {
            ring.push(0, structured(text, trace), false);
        }
        let mut seen = HashSet::default();
        let mut out = Vec::new();
        // Lines older than seq 5: e3 (4), then e1 (3); e1's first line too.
        let next = ring.traces_before(5, &mut seen, 2, &mut out);
        let count: Vec<usize> = out.iter().map(Vec::len).collect();
        assert_eq!(count, [1, 2], "e3 then e1, whole");
        assert_eq!(next, Some(3));
        out.clear();
        // On from seq 3: e2 (2), with its line 5 that is newer than the walk.
        assert_eq!(ring.traces_before(3, &mut seen, 2, &mut out), None);
        assert_eq!(out.iter().map(Vec::len).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn field_filters_match_structured_lines_only() {
        let mut ring = Ring::new(LogLimits::default());
        let text = r#"{"level":"error","msg":"boom","code":7}"#;
        ring.push(
            0,
            NewLine {
                fields: NewFields::FromLine(
                    crate::structure::json_fields(text).unwrap_or_default(),
                ),
                ..line("a", "a-1", text)
            },
            false,
        );
        ring.push(0, line("a", "a-1", "level=error plain"), false);
        let q = LogQuery {
            fields: vec![
                ("level".into(), "error".into()),
                ("code".into(), "7".into()),
            ],
            ..Default::default()
        };
        let got = ring.query(0, &q);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].field("msg").and_then(|v| v.as_str()), Some("boom"));
    }
}
