//! Sending one request to a service: pick an instance, attempt with a timeout,
//! retry on ANOTHER instance when allowed (idempotent, or never reached an instance)
//! and the retry budget has room; every attempt feeds load and outlier state.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use tokio::time::Instant;

use crate::balance::{pick, EndpointStats};
use crate::body::Body;
use crate::client_h2::H2Body;
use crate::fields::Fields;
use crate::headers::{Known, Stamp};
use crate::message::Answer;
use crate::pool::{Pool, SendError};
use crate::state::{Counters, ServiceState};
use crate::table::ServiceRoute;
use crate::verdict::{is_grpc, Endpoint, Verdict};

/// Why a call produced no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("the version has no healthy instance")]
    NoInstance,
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("the instance did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the instance's connection failed: {0}")]
    Transport(String),
    #[error("request body refused: {0}")]
    TooLarge(String),
    /// The instance failed its health check or was ejected while the request was
    /// in flight; an idempotent request is retried elsewhere at once.
    #[error("the instance left service (failed its health check or was ejected) before answering")]
    Left,
}

/// The result of a call after retries.
#[derive(Debug)]
pub(crate) struct Outcome<'r> {
    pub result: Result<Answer, Failure>,
    /// The instance tried last.
    pub instance: Option<&'r str>,
    pub retries: u32,
    /// When the last attempt ended.
    pub ended: Instant,
}

/// One request to send: the client's fields (those that pass to an instance are
/// written; `Host` from the address when missing) and what Shoal adds.
pub(crate) struct Call<'a> {
    pub method: &'a Method,
    pub fields: &'a Fields,
    pub stamp: Option<Stamp<'a>>,
    /// The protocol a client asked to switch to: sent on; a `101` answer then
    /// hands over the connection ([`crate::body::Body::Upgraded`]).
    pub upgrade: Option<&'a [u8]>,
    pub path: &'a str,
    pub body: Bytes,
    pub timeout: Duration,
    /// The instances speak HTTP/2 (h2c), not HTTP/1.1.
    pub h2c: bool,
    /// The instances speak HTTPS (`[services.X.tls]`).
    pub tls: Option<&'a crate::upstream::UpstreamTls>,
    /// The client accepts trailers (`TE: trailers`, passed on to HTTP/2 instances).
    pub trailers: bool,
    /// A request body passed on as it arrives (HTTP/2 to an h2c instance) instead
    /// of `body`; the first attempt that sends takes it, so a later one cannot.
    pub stream: Option<&'a crate::client_h2::RequestStream>,
    /// Chaos experiments on the service and the caller they are rolled for.
    pub chaos: Option<(&'a [shoal_chaos::Experiment], &'a str)>,
}

/// Methods that may be sent twice (RFC 9110 idempotent, minus TRACE).
pub fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    )
}

/// Whether an attempt went well for the instance (and the breaker): an answer
/// under 500, or a request the client got wrong (its body over the limit).
pub(crate) fn succeeded(result: &Result<Answer, Failure>) -> bool {
    match result {
        Ok(r) => r.status.as_u16() < 500 && !grpc_failed(r.fields.known(Known::GrpcStatus)),
        Err(f) => matches!(f, Failure::TooLarge(_)),
    }
}

/// Whether a gRPC status in an answer's head (a trailers-only answer, how gRPC
/// servers send an error before any message) says the server failed: UNKNOWN,
/// DEADLINE_EXCEEDED, INTERNAL, UNAVAILABLE or DATA_LOSS, the codes gRPC maps
/// to HTTP 5xx (but UNIMPLEMENTED: the caller asked for what is not there).
/// Such an answer counts against the instance and the breaker as a 5xx does;
/// so does such a status in trailers after messages, when they pass
/// (`client_h2::H2Body`, `verdict.rs`).
pub(crate) fn grpc_failed(status: Option<&[u8]>) -> bool {
    matches!(status, Some(b"2" | b"4" | b"13" | b"14" | b"15"))
}

/// The body of a gRPC answer whose status is still to come (HTTP 200 from an
/// h2c instance, no `grpc-status` in the head, more to read).
fn grpc_stream(result: &mut Result<Answer, Failure>) -> Option<&mut H2Body> {
    let a = result.as_mut().ok()?;
    // The body's kind first: answers over HTTP/1.1 stop here.
    let Body::H2(b) = &mut a.body else {
        return None;
    };
    let grpc = a.status == http::StatusCode::OK
        && !a.fields.has(Known::GrpcStatus)
        && is_grpc(&a.fields)
        && !b.is_end_stream();
    grpc.then_some(&mut **b)
}

/// Feeds outlier ejection with one attempt's outcome; logs and counts an ejection.
pub(crate) fn record_outcome(
    stats: &EndpointStats,
    state: &ServiceState,
    service: &str,
    instance: &str,
    ok: bool,
    now: Instant,
) {
    if let Some(d) = stats.record(ok, now) {
        stats.interrupt();
        Counters::bump(&state.counters.ejections);
        tracing::warn!(service = %service, instance = %instance, seconds = d.as_secs_f64(), "instance ejected after consecutive failures");
    }
}

/// Retries of an idempotent request whose connection broke before any answer,
/// whatever the service's `retries`.
const BROKEN_RETRIES: u32 = 2;

/// Whether this attempt's result may be retried on another instance.
fn retryable(result: &Result<Answer, Failure>, idempotent: bool) -> bool {
    match result {
        Err(Failure::Connect(_)) => true,
        Err(Failure::TooLarge(_)) => false,
        Err(_) => idempotent,
        Ok(r) => idempotent && matches!(r.status.as_u16(), 502..=504),
    }
}

/// Sends `c` to one of `endpoints` (instances of `route`), starting at `now`.
pub(crate) async fn call<'r>(
    pool: &Pool,
    route: &'r ServiceRoute,
    endpoints: &'r [crate::balance::Endpoint],
    c: Call<'_>,
    mut now: Instant,
) -> Outcome<'r> {
    let state = &route.state;
    let idem = idempotent(c.method);
    let mut tried = Tried::default();
    let mut out = Outcome {
        result: Err(Failure::NoInstance),
        instance: None,
        retries: 0,
        ended: now,
    };
    loop {
        let Some(i) = pick(
            endpoints,
            tried.as_slice(),
            route.strategy,
            &route.rr,
            now,
            &mut rand::rng(),
        ) else {
            return out;
        };
        tried.push(i);
        let ep = &endpoints[i];
        let tried_at = attempt(pool, ep.addr, &c, &ep.stats, now).await;
        now = Instant::now();
        out.ended = now;
        let mut result = tried_at.answer;
        let ok = succeeded(&result);
        // Latency feeds the peak-EWMA tiebreak; the outcome, outlier ejection
        // (a gRPC answer's once its trailers bring the status).
        let rtt = now.saturating_duration_since(tried_at.started);
        ep.stats.observe_latency(rtt, now);
        match grpc_stream(&mut result).filter(|_| ok) {
            Some(body) => body.defer(Verdict {
                endpoint: Endpoint {
                    stats: ep.stats.clone(),
                    state: state.clone(),
                    service: route.name.clone(),
                    instance: ep.instance.clone(),
                },
                circuit: None,
            }),
            None => record_outcome(&ep.stats, state, &route.name, &ep.instance, ok, now),
        }
        if matches!(result, Err(Failure::Timeout(_))) {
            Counters::bump(&state.counters.timeouts);
        }
        let again = retryable(&result, idem);
        out.result = result;
        out.instance = Some(&ep.instance);
        // Connect failures are retried across every instance; an idempotent
        // request whose connection broke before any answer goes to up to two more
        // instances even without `retries` (nginx's default `proxy_next_upstream
        // error` tries every one): a host dying kills its instances one after
        // another, so the first retry can land on a dying sibling, and two bound a
        // request that breaks whatever serves it to three instances. The rest up
        // to `attempts`.
        let limit = match &out.result {
            Err(Failure::Connect(_)) => state.max_retries().max(endpoints.len() as u32),
            Err(Failure::Transport(_) | Failure::Left) if idem => {
                state.max_retries().max(BROKEN_RETRIES)
            }
            _ => state.max_retries(),
        };
        if ok
            || !again
            || out.retries >= limit
            || tried.as_slice().len() >= endpoints.len()
            || !state.withdraw()
        {
            return out;
        }
        out.retries += 1;
        Counters::bump(&state.counters.retries);
        tracing::debug!(service = %route.name, instance = %ep.instance, retry = out.retries, "retrying on another instance");
    }
}

/// The instances a call tried: the first kept inline, a list only once a retry
/// happens (most calls make one attempt and allocate nothing).
#[derive(Default)]
struct Tried {
    first: Option<usize>,
    all: Vec<usize>,
}

impl Tried {
    fn as_slice(&self) -> &[usize] {
        match &self.first {
            None => &[],
            Some(f) if self.all.is_empty() => std::slice::from_ref(f),
            Some(_) => &self.all,
        }
    }

    fn push(&mut self, i: usize) {
        match self.first {
            None => self.first = Some(i),
            Some(f) => {
                if self.all.is_empty() {
                    self.all.push(f);
                }
                self.all.push(i);
            }
        }
    }
}

/// One attempt's answer and when it started.
struct Attempt {
    answer: Result<Answer, Failure>,
    started: Instant,
}

/// One attempt on one instance, within the call's timeout from `started`.
async fn attempt(
    pool: &Pool,
    addr: SocketAddr,
    c: &Call<'_>,
    stats: &std::sync::Arc<EndpointStats>,
    started: Instant,
) -> Attempt {
    let inflight = stats.start();
    let deadline = started + c.timeout;
    let injection = match c.chaos {
        Some((rules, caller)) => {
            let now_ms = shoal_catalog::now_ms();
            shoal_chaos::roll(rules, caller, now_ms, &mut rand::rng())
        }
        None => shoal_chaos::Injection::default(),
    };
    if let Some(answer) = inject_before(&injection, c.timeout, deadline).await {
        return Attempt { answer, started };
    }
    // An idempotent request that can be sent again gives up on an instance that
    // leaves service mid-request (a hung process failing its health check) instead
    // of waiting out the timeout; the caller retries it elsewhere.
    let resendable = idempotent(c.method) && c.stream.is_none() && c.upgrade.is_none();
    let mut res = if resendable {
        tokio::select! {
            biased;
            res = send_once(pool, addr, c, started, deadline) => res,
            () = stats.left() => Err(Sent::Failed(Failure::Left)),
        }
    } else {
        send_once(pool, addr, c, started, deadline).await
    };
    // The instance closed a pooled connection just as the request went out: an
    // idempotent request goes again at once (on another or a new connection);
    // this is not a retry, nothing was answered.
    if matches!(res, Err(Sent::Stale(_))) && idempotent(c.method) {
        res = send_once(pool, addr, c, started, deadline).await;
    }
    let mut answer = res.map_err(|f| match f {
        Sent::Stale(e) => Failure::Transport(e),
        Sent::Failed(f) => f,
    });
    if let (Some(rate), Ok(a)) = (injection.bytes_per_sec, &answer) {
        throttle(a, rate).await;
    }
    // A switched connection stays in the instance's load until it closes.
    if let Ok(Answer {
        body: crate::body::Body::Upgraded(up),
        ..
    }) = &mut answer
    {
        up.load = Some(inflight);
    }
    Attempt { answer, started }
}

/// What a chaos experiment does before an attempt is sent: holds it (a hold past
/// the deadline is the attempt's timeout), or answers in the instance's place.
async fn inject_before(
    i: &shoal_chaos::Injection,
    timeout: Duration,
    deadline: Instant,
) -> Option<Result<Answer, Failure>> {
    if i.is_none() {
        return None;
    }
    if !i.delay.is_zero() {
        let until = Instant::now() + i.delay;
        if until >= deadline {
            tokio::time::sleep_until(deadline).await;
            return Some(Err(Failure::Timeout(timeout)));
        }
        tokio::time::sleep_until(until).await;
    }
    if let Some(status) = i.error {
        return Some(Ok(crate::respond::injected(status)));
    }
    if i.reset {
        return Some(Err(Failure::Transport(
            "connection reset by peer (injected by a chaos experiment)".into(),
        )));
    }
    None
}

/// Holds an answer as long as its body would take at `bytes_per_sec` (its
/// `Content-Length`, or the whole body's size; a streamed body of unknown
/// length passes unthrottled), at most [`shoal_chaos::MAX_DELAY`].
async fn throttle(a: &Answer, bytes_per_sec: u64) {
    let len = a
        .fields
        .known(Known::ContentLength)
        .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok())
        .or(match &a.body {
            Body::Full(Some(b)) => Some(b.len() as u64),
            _ => None,
        });
    if let Some(len) = len {
        let hold = shoal_chaos::transfer_time(len, bytes_per_sec).min(shoal_chaos::MAX_DELAY);
        tokio::time::sleep(hold).await;
    }
}

/// Why one send failed: a stale pooled connection, or a failure to report.
enum Sent {
    Stale(String),
    Failed(Failure),
}

/// One send at `now` of the request `c` describes, on a pooled or new
/// connection, answered by `deadline`.
async fn send_once(
    pool: &Pool,
    addr: SocketAddr,
    c: &Call<'_>,
    now: Instant,
    deadline: Instant,
) -> Result<Answer, Sent> {
    match pool.send(addr, c, now, deadline).await {
        Ok(answer) => Ok(answer),
        Err(SendError::Timeout) => Err(Sent::Failed(Failure::Timeout(c.timeout))),
        Err(SendError::Connect(e)) => Err(Sent::Failed(Failure::Connect(e))),
        Err(SendError::Transport(e)) => Err(Sent::Failed(Failure::Transport(e))),
        Err(SendError::Stale(e)) => Err(Sent::Stale(e)),
        Err(SendError::TooLarge(e)) => Err(Sent::Failed(Failure::TooLarge(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::grpc_failed;

    #[test]
    fn server_side_grpc_statuses_are_failures() {
        for code in ["2", "4", "13", "14", "15"] {
            assert!(grpc_failed(Some(code.as_bytes())), "{code}");
        }
        for code in ["0", "1", "3", "5", "8", "12", "16", "140", ""] {
            assert!(!grpc_failed(Some(code.as_bytes())), "{code}");
        }
        assert!(!grpc_failed(None));
    }
}
