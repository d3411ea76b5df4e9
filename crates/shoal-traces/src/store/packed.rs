//! How the store keeps a span: its ten texts in one allocation, so keeping a
//! span is one allocation and evicting it (cold memory by then) one free, not ten.

use crate::span::{Span, SpanRef};

/// The texts, in their order in [`Packed::text`].
#[derive(Clone, Copy)]
enum Text {
    TraceId,
    SpanId,
    Parent,
    Method,
    Path,
    Caller,
    Service,
    Version,
    Instance,
    Reason,
}
const TEXTS: usize = 10;

/// One kept span.
pub(super) struct Packed {
    text: Box<str>,
    /// Where each text ends in `text`; each starts where the one before ends.
    ends: [u32; TEXTS],
    /// Which of the optional texts (parent, instance, reason) are set, by bit.
    set: u16,
    start_us: u64,
    duration_us: u64,
    retries: u32,
    status: u16,
}

impl Packed {
    pub(super) fn new(s: &SpanRef<'_>) -> Self {
        let texts: [Option<&str>; TEXTS] = [
            Some(s.trace_id),
            Some(s.span_id),
            s.parent_span_id,
            Some(s.method),
            Some(s.path),
            Some(s.caller),
            Some(s.service),
            Some(s.version),
            s.instance,
            s.reason,
        ];
        let mut text = String::with_capacity(texts.iter().flatten().map(|t| t.len()).sum());
        let mut ends = [0u32; TEXTS];
        let mut set = 0u16;
        for (i, t) in texts.iter().enumerate() {
            if let Some(t) = t {
                text.push_str(t);
                set |= 1 << i;
            }
            // A span's texts come from one request's head, far below 4 GiB.
            ends[i] = u32::try_from(text.len()).unwrap_or(u32::MAX);
        }
        Packed {
            text: text.into_boxed_str(),
            ends,
            set,
            start_us: s.start_us,
            duration_us: s.duration_us,
            retries: s.retries,
            status: s.status,
        }
    }

    fn get(&self, t: Text) -> &str {
        let i = t as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.text.get(start..self.ends[i] as usize).unwrap_or("")
    }

    fn opt(&self, t: Text) -> Option<&str> {
        (self.set & (1 << t as usize) != 0).then(|| self.get(t))
    }

    pub(super) fn trace_id(&self) -> &str {
        self.get(Text::TraceId)
    }

    pub(super) fn end_us(&self) -> u64 {
        self.start_us.saturating_add(self.duration_us)
    }

    /// The span's texts borrowed from here.
    pub(super) fn view(&self) -> SpanRef<'_> {
        SpanRef {
            trace_id: self.get(Text::TraceId),
            span_id: self.get(Text::SpanId),
            parent_span_id: self.opt(Text::Parent),
            start_us: self.start_us,
            duration_us: self.duration_us,
            method: self.get(Text::Method),
            path: self.get(Text::Path),
            status: self.status,
            caller: self.get(Text::Caller),
            service: self.get(Text::Service),
            version: self.get(Text::Version),
            instance: self.opt(Text::Instance),
            retries: self.retries,
            reason: self.opt(Text::Reason),
        }
    }

    pub(super) fn unpack(&self) -> Span {
        self.view().to_span()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::test_span;

    #[test]
    fn a_span_comes_back_as_it_went_in() {
        let mut full = test_span(
            "0af7651916cd43dd8448eb211c80319c",
            "b7ad6b7169203331",
            Some("00f067aa0ba902b7"),
            5,
            7,
        );
        full.reason = Some("timeout".into());
        full.path = "/ü/x?y=1".into();
        let mut bare = test_span("not-hex", "", None, 1, 2);
        bare.instance = None;
        bare.method = String::new();
        for s in [full, bare] {
            let p = Packed::new(&s.as_ref());
            assert_eq!(p.unpack(), s);
            assert_eq!(p.trace_id(), s.trace_id);
            assert_eq!(p.end_us(), s.end_us());
            assert_eq!(p.view().approx_bytes(), s.approx_bytes());
        }
    }
}
