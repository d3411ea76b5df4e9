//! The outcome of a gRPC answer whose status comes in its trailers, after its
//! messages: kept with the answer's body and recorded, for outlier ejection
//! and the breaker, when the trailers arrive (or the stream ends or fails
//! without them), not when the head did.

use std::sync::Arc;

use tokio::time::Instant;

use crate::balance::EndpointStats;
use crate::breaker::Permit;
use crate::fields::{Fields, HeaderLookup};
use crate::state::ServiceState;

/// What is left to record about one answer.
#[derive(Debug)]
pub(crate) struct Verdict {
    /// The instance that answered (set by `forward::call`).
    pub endpoint: Endpoint,
    /// The breaker's permit (set by the proxy, which asked for it).
    pub circuit: Option<(Arc<ServiceState>, Permit)>,
}

/// The instance an outcome counts for.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub stats: Arc<EndpointStats>,
    pub state: Arc<ServiceState>,
    pub service: String,
    pub instance: String,
}

impl Verdict {
    pub fn settle(self, ok: bool) {
        let e = &self.endpoint;
        crate::forward::record_outcome(
            &e.stats,
            &e.state,
            &e.service,
            &e.instance,
            ok,
            Instant::now(),
        );
        if let Some((state, permit)) = self.circuit {
            state.record_circuit(permit, ok);
        }
    }
}

/// Whether an answer's head says gRPC (`content-type: application/grpc...`).
pub(crate) fn is_grpc(fields: &Fields) -> bool {
    fields
        .header("content-type")
        .and_then(|v| v.get(..16))
        .is_some_and(|v| v.eq_ignore_ascii_case(b"application/grpc"))
}
