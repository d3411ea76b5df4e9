//! Queries that go on below the ring's oldest line, into the disk log: the
//! lines a query still wants, the older lines of a trace, older traces.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU128;
use std::path::Path;
use std::sync::Arc;

use crate::kept::{trace_number, Kinds, TraceLine};
use crate::limits::LogQuery;
use crate::line::LogLine;
use crate::reader::{walk_back, Below, Needles, Step};

/// Up to `want` lines on disk in `below` matching `q` (and its range), the
/// most recent ones, oldest first. A trace's lines come close together: a
/// walk for one stops at the first segment without any once some were found
/// (`found`: the ring already holds some). Lines written without their text
/// get it made (`kinds`) before they are matched.
pub(crate) fn query(
    dir: &Path,
    below: Below,
    q: &LogQuery,
    want: usize,
    mut found: bool,
    kinds: &Kinds,
) -> Vec<LogLine> {
    let below = Below {
        after_seq: q.after_seq.unwrap_or(0),
        since_ms: below.since_ms.max(q.since_ms.unwrap_or(0)),
        ..below
    };
    let mut needles = Needles::with_kinds(kinds);
    for (key, value) in [("s", &q.service), ("i", &q.instance), ("tr", &q.trace)] {
        if let Some(v) = value {
            needles.field(key, v);
        }
    }
    if let Some(g) = &q.grep {
        needles.text(g);
    }
    let (mut out, mut matched) = (Vec::new(), false);
    walk_back(dir, below, &needles, |step| match step {
        Step::Line(mut l) => {
            l.make_text(kinds);
            if let Some(l) = l.into_log_line().filter(|l| q.matches(l)) {
                out.push(l);
                matched = true;
            }
            out.len() < want
        }
        Step::SegmentEnd => {
            let ended_trace = q.trace.is_some() && found && !matched;
            found |= std::mem::take(&mut matched);
            !ended_trace
        }
    });
    out.reverse();
    out
}

/// Trace `trace_id`'s lines on disk in `below` that carry writer-given
/// fields (the proxy's access lines), oldest first, as
/// [`crate::LogStore::lines_of_trace`] gives them.
pub(crate) fn trace_lines(
    dir: &Path,
    below: Below,
    trace_id: &str,
    mut found: bool,
) -> Vec<TraceLine> {
    let mut needles = Needles::default();
    needles.field("tr", trace_id);
    let (mut out, mut matched) = (Vec::new(), false);
    walk_back(dir, below, &needles, |step| match step {
        Step::Line(l) => {
            if l.tr.as_deref() == Some(trace_id) {
                matched = true;
                if let Some(json) = l.f {
                    out.push(TraceLine::Fields {
                        time_ms: l.t,
                        json: Arc::from(json),
                    });
                }
            }
            true
        }
        Step::SegmentEnd => {
            let go_on = !found || matched;
            found |= std::mem::take(&mut matched);
            go_on
        }
    });
    out.reverse();
    out
}

/// Traces on disk in `below` not in `seen`, the one with the newest line
/// first, each visited once with its lines in the segment where its newest
/// line is (oldest first), as [`crate::LogStore::recent_traces`] gives them;
/// until `visit` returns false or [`crate::DEEP_MAX`] lines were read.
pub(crate) fn recent_traces(
    dir: &Path,
    below: Below,
    seen: &mut HashSet<NonZeroU128, foldhash::fast::RandomState>,
    visit: &mut impl FnMut(&[TraceLine]) -> bool,
) {
    let mut needles = Needles::default();
    needles.raw(b",\"f\":{");
    let mut read = 0usize;
    // A segment's traces → their lines, newest first; traces in the order met.
    let mut order = Vec::new();
    let mut by_trace: HashMap<NonZeroU128, Vec<TraceLine>> = HashMap::new();
    walk_back(dir, below, &needles, |step| match step {
        Step::Line(l) => {
            read += 1;
            let trace = l.tr.as_deref().and_then(trace_number);
            if let (Some(t), Some(json)) = (trace.filter(|t| !seen.contains(t)), l.f) {
                by_trace
                    .entry(t)
                    .or_insert_with(|| {
                        order.push(t);
                        Vec::new()
                    })
                    .push(TraceLine::Fields {
                        time_ms: l.t,
                        json: Arc::from(json),
                    });
            }
            // The segment's traces are visited at its end, so each has its lines.
            true
        }
        Step::SegmentEnd => {
            for t in order.drain(..) {
                seen.insert(t);
                let Some(mut lines) = by_trace.remove(&t) else {
                    continue;
                };
                lines.reverse();
                if !visit(&lines) {
                    return false;
                }
            }
            read < crate::DEEP_MAX
        }
    });
}
