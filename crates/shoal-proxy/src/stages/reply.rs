//! Stage: the client's answer from the call's outcome: the instance's, the
//! service's fallback when the call failed, or Shoal's own for the failure.

use crate::admission::AdmitGuard;
use crate::body::Body;
use crate::forward::Failure;
use crate::message::Answer;
use crate::respond::{self, Reason};
use crate::stages::End;
use crate::state::{Counters, ServiceState};

/// The answer to send for `result`; `ok`: the call went well. A switched
/// connection (tunnel) takes the request's `admitted` place until it closes.
#[inline]
pub(crate) fn reply(
    state: &ServiceState,
    result: Result<Answer, Failure>,
    ok: bool,
    admitted: &mut Option<AdmitGuard>,
) -> End {
    if !ok {
        if let Some(end) = fallback(state) {
            return end;
        }
    }
    match result {
        Ok(mut answer) => {
            if let Body::Upgraded(up) = &mut answer.body {
                up.admitted = admitted.take();
            }
            End {
                answer,
                reason: None,
            }
        }
        Err(f) => {
            let reason = match f {
                Failure::NoInstance | Failure::Connect(_) => Reason::NoHealthyInstance,
                Failure::Timeout(_) => Reason::Timeout,
                Failure::Transport(_) | Failure::Left => Reason::UpstreamError,
                Failure::TooLarge(_) => Reason::TooLarge,
            };
            End::shoal(reason, &f.to_string())
        }
    }
}

/// The service's fallback answer (counted), when it has one.
pub(crate) fn fallback(state: &ServiceState) -> Option<End> {
    let fb = state.spec.fallback.as_ref()?;
    Counters::bump(&state.counters.fallbacks);
    Some(End::by(respond::fallback(fb), Reason::Fallback))
}
