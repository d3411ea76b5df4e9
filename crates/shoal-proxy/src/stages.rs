//! The request pipeline's stages, one file each, run in order by `Proxy::handle`
//! (`proxy.rs`): a stage takes what the one before gave and either continues with
//! the next one's input or ends the request with an answer ([`End`]).
//!
//! - `route.rs`: the service and version (no match: 404 `no-route`).
//! - `wake.rs`: a request to a service at zero instances waits while one starts.
//! - `flags.rs`: the feature flags, decided at the request's first hop.
//! - `admit.rs`: admission: rate limit (429), in-flight and caller shares (503 `shed`).
//! - `body.rs`: the request body, read whole or streamed on, within the limit (413).
//! - `circuit.rs`: the breaker's permit (open: fallback or 503 `circuit-open`) and
//!   what the call's outcome tells it.
//! - `send.rs`: the call to the version's instances (`forward.rs` makes it: balancing,
//!   attempts, retries).
//! - `reroute.rs`: unpinned traffic no instance of its version could serve goes
//!   once more, to another version's instances.
//! - `reply.rs`: the client's answer from the outcome (fallback on failure).
//! - `finish.rs`: the request's report: metrics and access records, trace id.
//!
//! Stages are plain functions (no boxing, no dynamic dispatch, no allocation of their
//! own) that `handle` calls inline, so its future keeps the hand-written layout: a
//! new stage (feature flags, canary analysis) is a file and a line in `handle`.

pub(crate) mod admit;
pub(crate) mod body;
pub(crate) mod circuit;
pub(crate) mod finish;
pub(crate) mod flags;
pub(crate) mod reply;
pub(crate) mod reroute;
pub(crate) mod route;
pub(crate) mod send;
pub(crate) mod wake;

use std::ops::ControlFlow;

use crate::message::Answer;
use crate::respond::{shoal_answer, Reason};

/// How a request ends: its answer and, when Shoal made it, why.
pub(crate) struct End {
    pub answer: Answer,
    pub reason: Option<Reason>,
}

impl End {
    /// Shoal's own `{error, detail}` answer for `reason`.
    pub(crate) fn shoal(reason: Reason, detail: &str) -> Self {
        Self::by(shoal_answer(reason, detail), reason)
    }

    /// An answer Shoal made for `reason`.
    pub(crate) fn by(answer: Answer, reason: Reason) -> Self {
        Self {
            answer,
            reason: Some(reason),
        }
    }
}

/// A stage's result: the next stage's input, or the request's end.
pub(crate) type Step<T> = ControlFlow<End, T>;
