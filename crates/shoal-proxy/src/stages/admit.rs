//! Stage: admission by the service's rate limit, in-flight cap and caller shares;
//! 429 `rate-limited` (with `Retry-After`) or 503 `shed` when refused (after waiting
//! in the service's queue, when it has one).

use std::ops::ControlFlow::{Break, Continue};

use crate::admission::{AdmitGuard, Refusal};
use crate::respond::{self, Reason};
use crate::stages::{End, Step};
use crate::table::ServiceRoute;

/// Admits a request from `caller`; the guard holds its in-flight place. A service
/// with a `queue` lets a request that would be shed wait for a place first.
#[inline]
pub(crate) async fn admit(route: &ServiceRoute, caller: &str) -> Step<AdmitGuard> {
    let admission = &route.state.admission;
    let admitted = if admission.queues() {
        admission.admit_waiting(caller).await
    } else {
        admission.admit(caller)
    };
    match admitted {
        Ok(guard) => Continue(guard),
        Err(Refusal::RateLimited { retry_after }) => Break(End::by(
            respond::rate_limited(retry_after),
            Reason::RateLimited,
        )),
        Err(Refusal::Shed(why)) => {
            tracing::debug!(service = %route.name, caller, why, "request shed");
            Break(End::shoal(Reason::Shed, why))
        }
    }
}
