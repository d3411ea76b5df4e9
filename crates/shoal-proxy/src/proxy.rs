//! The request pipeline, in DESIGN §8's order: resolve service and version →
//! admission (rate limit, in-flight, caller priority) → body → circuit breaker →
//! balanced, timed, budgeted attempts → fallback; then the access log and metrics
//! records. Each stage is a function in `stages/`; `handle` runs them in order.

use std::ops::ControlFlow::{Break, Continue};

use crate::forward::{self, Outcome};
use crate::message::{Answer, ClientRequest};
use crate::pool::Pool;
use crate::server::Proxy;
use crate::stages::{admit, body, circuit, reply, route, send};

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
        let pq = uri.path_and_query().map_or("/", |pq| pq.as_str());
        let mut rep = self.report(&method, pq, caller, &fields);
        // Each stage gives the next one's input, or the request's end (then recorded).
        macro_rules! stage {
            ($step:expr) => {
                match $step {
                    Continue(next) => next,
                    Break(end) => return self.finish(rep, end),
                }
            };
        }
        let target = stage!(route::target(&table, &uri, pq, &fields));
        rep.serve(&target);
        let route = target.route;
        // The request's in-flight place, held until it is recorded (or by a tunnel).
        let mut admitted = Some(stage!(admit::admit(route, caller)));
        let payload = stage!(body::read(body, route.h2c, self.config.max_body_bytes).await);
        let permit = stage!(circuit::permit(&route.state));
        let mut out = send::outgoing(route, &mut fields, upgrade, payload, rep.start);
        let call = self.call(&target, &rep, &method, &fields, &mut out);
        let Outcome {
            mut result,
            instance,
            retries,
            ended,
        } = forward::call(pool, route, target.endpoints, call, rep.start).await;
        rep.sent(instance, retries, ended);
        let ok = circuit::settle(&route.state, permit, &mut result);
        let end = reply::reply(&route.state, result, ok, &mut admitted);
        self.finish(rep, end)
    }
}
