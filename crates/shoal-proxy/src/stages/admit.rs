//! Stage: admission by the service's rate limit, in-flight cap and caller shares;
//! 429 `rate-limited` (with `Retry-After`) or 503 `shed` when refused.

use std::ops::ControlFlow::{Break, Continue};

use crate::admission::{AdmitGuard, Refusal};
use crate::respond::{self, Reason};
use crate::stages::{End, Step};
use crate::table::ServiceRoute;

/// Admits a request from `caller`; the guard holds its in-flight place.
#[inline]
pub(crate) fn admit(route: &ServiceRoute, caller: &str) -> Step<AdmitGuard> {
    match route.state.admission.admit(caller) {
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
