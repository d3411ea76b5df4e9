//! The request pipeline, in DESIGN §8's order: resolve service and version →
//! feature flags → admission (rate limit, in-flight, caller priority) → body → circuit breaker →
//! balanced, timed, budgeted attempts → another version when the drawn one could not
//! serve → fallback answer; then the access log and metrics
//! records. Each stage is a function in `stages/`; `handle` runs them in order.

use std::ops::ControlFlow::{Break, Continue};

use tokio::time::Instant;

use crate::forward::{self, Outcome};
use crate::message::{Answer, ClientRequest};
use crate::observe::SentFlags;
use crate::pool::Pool;
use crate::server::Proxy;
use crate::stages::{admit, body, circuit, flags, reply, reroute, route, send};
use crate::trace::TraceContext;

impl Proxy {
    /// Handles one request that arrived on a listener whose caller is `caller`.
    /// `pool` is the upstream pool of the thread serving the connection.
    pub(crate) async fn handle(&self, pool: &Pool, caller: &str, req: ClientRequest) -> Answer {
        let mut table = self.table.load_full();
        let ClientRequest {
            method,
            uri,
            mut fields,
            body,
            upgrade,
        } = req;
        let pq = uri.path_and_query().map_or("/", |pq| pq.as_str());
        let start = Instant::now();
        let trace = TraceContext::from_headers(&fields, &mut rand::rng(), &self.config.sampler);
        let mut rep = self.report(start, &method, pq, caller, &trace);
        // Each stage gives the next one's input, or the request's end (then recorded).
        macro_rules! stage {
            ($step:expr) => {
                match $step {
                    Continue(next) => next,
                    Break(end) => return self.finish(rep, end),
                }
            };
        }
        if table.any_from_zero {
            match self.cold_start(table, &uri, pq, &fields).await {
                Ok(t) => table = t,
                Err(end) => return self.finish(rep, end),
            }
        }
        let target = stage!(route::target(&table, &uri, pq, &fields));
        rep.serve(&target);
        let gateway = caller == shoal_spec::GATEWAY_CALLER;
        let logged = self.hooks.access_log.is_some();
        let mut decided = flags::decide(&table.flags, &fields, pq, gateway, &trace, logged);
        // The access record's: what was decided here, or what a hop passed on.
        rep.flags = match decided.as_mut() {
            Some(d) => d.summary.take().map(SentFlags::new),
            None if logged && !table.flags.set.is_empty() => {
                flags::carried(&fields).map(SentFlags::new)
            }
            None => None,
        };
        let route = target.route;
        // The request's in-flight place, held until it is recorded (or by a tunnel).
        let mut admitted = Some(stage!(admit::admit(route, caller).await));
        let limit = self.config.max_body_bytes;
        let payload = match body::ready(body, route.h2c, limit) {
            Ok(step) => stage!(step),
            Err(unread) => stage!(body::collect(unread, limit).await),
        };
        let permit = stage!(circuit::permit(&route.state));
        let out = send::outgoing(
            route,
            &method,
            &mut fields,
            upgrade,
            payload.stream,
            rep.start,
        );
        let decisions = decided.as_ref().map(|d| d.lines.as_slice());
        let call = self.call(&target, &rep, &out, decisions, payload.bytes.clone());
        let mut outcome = forward::call(pool, route, target.endpoints, call, rep.start).await;
        let rerouted = reroute::other_version(&target, &method, &outcome.result);
        if let Some(other) = &rerouted {
            rep.serve(other);
            let call = self.call(other, &rep, &out, decisions, payload.bytes);
            let second = forward::call(pool, route, other.endpoints, call, rep.start).await;
            outcome = reroute::after(&outcome, second);
        }
        let Outcome {
            mut result,
            instance,
            retries,
            ended,
        } = outcome;
        rep.sent(instance, retries, ended);
        let ok = circuit::settle(&route.state, permit, &mut result);
        let end = reply::reply(&route.state, result, ok, &mut admitted);
        self.finish(rep, end)
    }
}
