//! `PUT /v1/agent/reload` and `PUT /v1/agent/leave`: Shoal's configuration is the service
//! file, applied by `shoal deploy`, so a reload has nothing to re-read (200); and an API call
//! does not stop the platform (501 saying how to stop it).

use axum::extract::RawQuery;
use axum::http::StatusCode;

use crate::error::{ConsulError, Result};
use crate::query::Endpoint;

const RELOAD: Endpoint = Endpoint::plain("PUT /v1/agent/reload", &[]);
const LEAVE: Endpoint = Endpoint::plain("PUT /v1/agent/leave", &[]);

pub async fn reload(RawQuery(q): RawQuery) -> Result<StatusCode> {
    RELOAD.params(q.as_deref())?;
    Ok(StatusCode::OK)
}

pub async fn leave(RawQuery(q): RawQuery) -> Result<StatusCode> {
    LEAVE.params(q.as_deref())?;
    Err(ConsulError::Unsupported(
        "Shoal does not leave or shut down through the API: stop `shoal up` with SIGTERM \
         (Ctrl-C), or in a cluster stop that node's `shoal agent`; it deregisters its \
         instances as it stops"
            .into(),
    ))
}
