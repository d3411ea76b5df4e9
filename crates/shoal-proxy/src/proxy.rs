//! The request pipeline, in DESIGN §8's order: resolve service and version →
//! admission (rate limit, in-flight, caller priority) → circuit breaker → balanced,
//! timed, budgeted attempts → fallback; then the access log and metrics records.

use std::time::SystemTime;

use bytes::Bytes;
use http::Method;
use http_body_util::{BodyExt, Limited};
use hyper::body::Body as _;
use tokio::time::Instant;

use crate::admission::Refusal;
use crate::body::ReqBody;
use crate::breaker::Permit;
use crate::client_h2::{accepts_trailers, RequestStream};
use crate::fields::Fields;
use crate::forward::{self, Call, Failure, Outcome};
use crate::headers::{strip_hop_by_hop, Known, Stamp};
use crate::message::{Answer, ClientRequest};
use crate::observe::{AccessRecord, AccessTexts, RequestRecord};
use crate::pool::Pool;
use crate::respond::{self, shoal_answer, Reason};
use crate::server::Proxy;
use crate::state::Counters;
use crate::trace::TraceContext;

/// What the records of one request are made of (borrowed from the request and the table).
struct Report<'a> {
    start: Instant,
    /// When the instance's answer (or the last failure) came; read at the end when not set.
    end: Option<Instant>,
    /// Wall-clock start; only read when an access log is set.
    wall: Option<SystemTime>,
    method: Method,
    /// Path and query (borrowed from the request: copied only into the access record).
    path: &'a str,
    caller: &'a str,
    service: &'a str,
    version: &'a str,
    trace: TraceContext,
    instance: Option<&'a str>,
    retries: u32,
}

impl Proxy {
    /// Handles one request that arrived on a listener whose caller is `caller`.
    /// `pool` is the upstream pool of the thread serving the connection.
    pub(crate) async fn handle(&self, pool: &Pool, caller: &str, req: ClientRequest) -> Answer {
        let table = self.table.load_full();
        let ClientRequest {
            method,
            uri,
            mut fields,
            body,
            upgrade,
        } = req;
        let host = fields
            .known(Known::Host)
            .and_then(|h| std::str::from_utf8(h).ok())
            .or_else(|| uri.host());
        let pq = uri.path_and_query().map_or("/", |pq| pq.as_str());
        let mut rep = Report {
            start: Instant::now(),
            end: None,
            wall: self.hooks.access_log.as_ref().map(|_| SystemTime::now()),
            method: method.clone(),
            path: pq,
            caller,
            service: "",
            version: "",
            trace: TraceContext::from_headers(&fields, &mut rand::rng(), &self.config.sampler),
            instance: None,
            retries: 0,
        };
        let Some(target) = table.resolve(host, pq, &fields) else {
            let detail = format!(
                "no service matches Host `{}` or path `{}`",
                host.unwrap_or(""),
                uri.path()
            );
            return self.finish(
                rep,
                shoal_answer(Reason::NoRoute, &detail),
                Some(Reason::NoRoute),
            );
        };
        let route = target.route;
        rep.service = &route.name;
        rep.version = target.version;
        let state = &route.state;

        let admitted = match state.admission.admit(caller) {
            Ok(guard) => guard,
            Err(Refusal::RateLimited { retry_after }) => {
                return self.finish(
                    rep,
                    respond::rate_limited(retry_after),
                    Some(Reason::RateLimited),
                );
            }
            Err(Refusal::Shed(why)) => {
                tracing::debug!(service = %rep.service, caller, why, "request shed");
                return self.finish(rep, shoal_answer(Reason::Shed, why), Some(Reason::Shed));
            }
        };
        let limit = self.config.max_body_bytes;
        let mut streamed = None;
        let body = match body {
            ReqBody::Read(b) => b,
            ReqBody::Incoming(b) if b.is_end_stream() => Bytes::new(),
            // An HTTP/2 stream to an HTTP/2 instance goes on as it arrives (gRPC
            // client and bidirectional streams), still bounded by the limit.
            ReqBody::Incoming(b) if route.h2c => {
                streamed = Some(RequestStream::new(Limited::new(b, limit)));
                Bytes::new()
            }
            ReqBody::Incoming(b) => match Limited::new(b, limit).collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => return self.too_large(rep, &e.to_string()),
            },
            ReqBody::TooLarge(Some(n)) => {
                return self.too_large(rep, &format!("{n} bytes announced"))
            }
            ReqBody::TooLarge(None) => return self.too_large(rep, "chunked body over the limit"),
        };
        let permit = state.check_circuit();
        if permit == Permit::Reject {
            Counters::bump(&state.counters.circuit_rejected);
            if let Some(fb) = &state.spec.fallback {
                Counters::bump(&state.counters.fallbacks);
                return self.finish(rep, respond::fallback(fb), Some(Reason::Fallback));
            }
            return self.finish(
                rep,
                shoal_answer(Reason::CircuitOpen, "the service's circuit is open"),
                Some(Reason::CircuitOpen),
            );
        }
        // The protocol a client asks to switch to, kept before hop-by-hop fields go.
        let upgrade = upgrade
            .then(|| fields.known(Known::Upgrade).map(Bytes::copy_from_slice))
            .flatten();
        let trailers = route.h2c && fields.known(Known::Te).is_some_and(accepts_trailers);
        // Raw fields are filtered as they are written; a map is stripped here.
        if let Fields::Map(map) = &mut fields {
            strip_hop_by_hop(map);
        }
        state.deposit(rep.start);
        let timeout = state.spec.timeout.unwrap_or(self.config.default_timeout);
        let call = Call {
            method: &method,
            fields: &fields,
            stamp: Some(Stamp {
                version: target.version,
                trace: &rep.trace,
                caller,
            }),
            upgrade: upgrade.as_deref(),
            path: &target.path,
            body,
            timeout,
            h2c: route.h2c,
            trailers,
            stream: streamed.as_ref(),
        };
        let Outcome {
            mut result,
            instance,
            retries,
            ended,
        } = forward::call(pool, route, target.endpoints, call, rep.start).await;
        rep.instance = instance;
        rep.retries = retries;
        rep.end = Some(ended);
        let ok = forward::succeeded(&result);
        // A gRPC answer whose status is in its trailers tells the breaker then.
        match result.as_mut().ok().and_then(|a| a.body.verdict_mut()) {
            Some(v) => v.circuit = Some((route.state.clone(), permit)),
            None => state.record_circuit(permit, ok),
        }
        if !ok {
            if let Some(fb) = &state.spec.fallback {
                Counters::bump(&state.counters.fallbacks);
                return self.finish(rep, respond::fallback(fb), Some(Reason::Fallback));
            }
        }
        match result {
            Ok(mut answer) => {
                // The tunnel holds the request's in-flight place until it closes.
                if let crate::body::Body::Upgraded(up) = &mut answer.body {
                    up.admitted = Some(admitted);
                }
                self.finish(rep, answer, None)
            }
            Err(f) => {
                let reason = match f {
                    Failure::NoInstance | Failure::Connect(_) => Reason::NoHealthyInstance,
                    Failure::Timeout(_) => Reason::Timeout,
                    Failure::Transport(_) => Reason::UpstreamError,
                    Failure::TooLarge(_) => Reason::TooLarge,
                };
                self.finish(rep, shoal_answer(reason, &f.to_string()), Some(reason))
            }
        }
    }

    fn too_large(&self, rep: Report<'_>, why: &str) -> Answer {
        let limit = self.config.max_body_bytes;
        let detail = format!("request body refused (limit {limit} bytes): {why}");
        let answer = shoal_answer(Reason::TooLarge, &detail);
        self.finish(rep, answer, Some(Reason::TooLarge))
    }

    fn finish(&self, rep: Report<'_>, mut resp: Answer, reason: Option<Reason>) -> Answer {
        resp.trace_id = Some(rep.trace.trace_id_digits());
        let status = resp.status.as_u16();
        let end = rep.end.unwrap_or_else(Instant::now);
        let duration = end.saturating_duration_since(rep.start);
        let reason = reason.map(Reason::as_str);
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
            (r.status, r.duration, r.retries, r.reason) = (status, duration, rep.retries, reason);
            log(r);
        }
        resp
    }
}
