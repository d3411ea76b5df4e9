//! Stage: the request's report, filled in as it goes and recorded at its end:
//! the metrics observer, the access log (one span of the trace) and `X-Trace-Id`.

use std::time::SystemTime;

use http::Method;
use tokio::time::Instant;

use crate::message::Answer;
use crate::observe::{AccessRecord, AccessTexts, RequestRecord, SentFlags};
use crate::resolve::Target;
use crate::server::Proxy;
use crate::stages::End;
use crate::trace::TraceContext;

/// What the records of one request are made of (borrowed from the request and the table).
pub(crate) struct Report<'a> {
    pub start: Instant,
    /// When the instance's answer (or the last failure) came; read at the end when not set.
    end: Option<Instant>,
    /// Wall-clock start; only read when an access log is set.
    wall: Option<SystemTime>,
    method: Method,
    /// Path and query (borrowed from the request: copied only into the access record).
    path: &'a str,
    pub caller: &'a str,
    service: &'a str,
    version: &'a str,
    /// The request's trace context (made at its start: `handle` keeps it in place).
    pub trace: &'a TraceContext,
    instance: Option<&'a str>,
    retries: u32,
    /// The flags the request was sent on with, for the access record (set only
    /// when there is an access log and the proxy has flags).
    pub flags: Option<SentFlags>,
}

impl<'a> Report<'a> {
    /// The request reached `target`'s service and version.
    #[inline]
    pub(crate) fn serve(&mut self, target: &Target<'a>) {
        self.service = &target.route.name;
        self.version = target.version;
    }

    /// The call ended at `ended` on `instance` (the last tried), after `retries`.
    #[inline]
    pub(crate) fn sent(&mut self, instance: Option<&'a str>, retries: u32, ended: Instant) {
        self.instance = instance;
        self.retries = retries;
        self.end = Some(ended);
    }
}

impl Proxy {
    /// Starts the report of a request that arrived at `start`, in `trace`.
    #[inline]
    pub(crate) fn report<'a>(
        &self,
        start: Instant,
        method: &Method,
        path: &'a str,
        caller: &'a str,
        trace: &'a TraceContext,
    ) -> Report<'a> {
        Report {
            start,
            end: None,
            wall: self.hooks.access_log.as_ref().map(|_| SystemTime::now()),
            method: method.clone(),
            path,
            caller,
            service: "",
            version: "",
            trace,
            instance: None,
            retries: 0,
            flags: None,
        }
    }

    /// Records the request and gives its answer, with its trace id.
    #[inline]
    pub(crate) fn finish(&self, rep: Report<'_>, mut end: End) -> Answer {
        end.answer.trace_id = Some(rep.trace.trace_id_digits());
        let status = end.answer.status.as_u16();
        let ended = rep.end.unwrap_or_else(Instant::now);
        let duration = ended.saturating_duration_since(rep.start);
        let reason = end.reason.map(crate::respond::Reason::as_str);
        if let Some(obs) = &self.hooks.observer {
            obs(&RequestRecord {
                service: rep.service,
                version: rep.version,
                code: status,
                caller: rep.caller,
                duration,
                reason,
            });
        }
        if let Some(log) = &self.hooks.access_log {
            let mut r = AccessRecord::new(AccessTexts {
                method: rep.method.as_str(),
                path: rep.path,
                caller: rep.caller,
                service: rep.service,
                version: rep.version,
                instance: rep.instance,
                trace_id: rep.trace.trace_id(),
                span_id: rep.trace.span_id(),
                parent_span_id: rep.trace.parent_span_id(),
            });
            r.start = rep.wall.unwrap_or_else(SystemTime::now);
            r.sampled = rep.trace.sampled();
            r.flags = rep.flags;
            (r.status, r.duration, r.retries, r.reason) = (status, duration, rep.retries, reason);
            log(r);
        }
        end.answer
    }
}
