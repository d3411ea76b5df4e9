//! Stage: the circuit breaker: its permit before the call (open: the fallback, or
//! 503 `circuit-open`), and the call's outcome recorded after it.

use std::ops::ControlFlow::{Break, Continue};
use std::sync::Arc;

use crate::breaker::Permit;
use crate::forward::{self, Failure};
use crate::message::Answer;
use crate::respond::Reason;
use crate::stages::reply::fallback;
use crate::stages::{End, Step};
use crate::state::{Counters, ServiceState};

/// The breaker's permit for one call; an open circuit ends the request.
#[inline]
pub(crate) fn permit(state: &ServiceState) -> Step<Permit> {
    let permit = state.check_circuit();
    if permit != Permit::Reject {
        return Continue(permit);
    }
    Counters::bump(&state.counters.circuit_rejected);
    Break(
        fallback(state)
            .unwrap_or_else(|| End::shoal(Reason::CircuitOpen, "the service's circuit is open")),
    )
}

/// Records the call's outcome with the breaker and says whether it went well. A
/// gRPC answer whose status is in its trailers tells the breaker when they pass.
#[inline]
pub(crate) fn settle(
    state: &Arc<ServiceState>,
    permit: Permit,
    result: &mut Result<Answer, Failure>,
) -> bool {
    let ok = forward::succeeded(result);
    match result.as_mut().ok().and_then(|a| a.body.verdict_mut()) {
        Some(v) => v.circuit = Some((state.clone(), permit)),
        None => state.record_circuit(permit, ok),
    }
    ok
}
