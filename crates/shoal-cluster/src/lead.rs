//! The leader's side of an election: keep the lease alive, watch the leadership key, and step
//! down at the first sign of trouble, before the lease can have expired on the server.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use shoal_store::{EventKind, Store, StoreError};
use tokio::sync::watch;
use tokio::time::{sleep_until, timeout_at, Instant};
use tracing::{info, warn};

use crate::elect::Leadership;
use crate::keepalive::{self, Kept};
use crate::task::stopped;

/// Why a leader stopped leading.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum StepDown {
    /// Told to stop.
    Resigned,
    /// No keepalive succeeded in time: the lease may be about to expire on the server.
    Expired,
    /// The lease no longer exists.
    LeaseLost,
    /// The leadership key was deleted or recreated.
    KeyChanged,
    /// The key could no longer be watched.
    Watch(StoreError),
}

impl fmt::Display for StepDown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepDown::Resigned => f.write_str("resigned"),
            StepDown::Expired => f.write_str("no keepalive succeeded before the local deadline"),
            StepDown::LeaseLost => f.write_str("the lease expired or was revoked"),
            StepDown::KeyChanged => f.write_str("the leadership key was deleted or replaced"),
            StepDown::Watch(e) => write!(f, "the leadership key cannot be watched: {e}"),
        }
    }
}

/// The part of the TTL given up so that a leader steps down before its lease can expire.
pub(crate) fn margin(ttl: Duration) -> Duration {
    ttl / 5
}

/// Leads until a reason to step down, publishing `Some(leadership)` in `out` once the key is
/// watched. Local deadline: the send time of the last successful keepalive (at first, of the
/// grant) plus the TTL minus [`margin`]; the server cannot expire the lease earlier.
pub(crate) async fn hold(
    store: &Arc<dyn Store>,
    l: &Leadership,
    ttl: Duration,
    granted_at: Instant,
    stop: &mut watch::Receiver<bool>,
    out: &watch::Sender<Option<Leadership>>,
) -> StepDown {
    let margin = margin(ttl);
    let mut deadline = granted_at + ttl - margin;
    let mut watch = match timeout_at(deadline, store.watch(&l.key, l.revision + 1)).await {
        Ok(Ok(w)) => w,
        Ok(Err(e)) => return StepDown::Watch(e),
        Err(_) => return StepDown::Expired,
    };
    let mut keeper = keepalive::keep(Arc::clone(store), l.lease, ttl / 3);
    if Instant::now() >= deadline {
        return StepDown::Expired;
    }
    info!(role = %l.role, node = %l.node, revision = l.revision, lease = l.lease, "elected leader");
    out.send_replace(Some(l.clone()));
    let mut failing = false;
    loop {
        tokio::select! {
            biased;
            _ = stopped(stop) => return StepDown::Resigned,
            _ = sleep_until(deadline) => return StepDown::Expired,
            kept = keeper.results.recv() => match kept {
                Some(Kept::Alive { sent_at, ttl: granted }) => {
                    deadline = sent_at + granted.min(ttl) - margin;
                    if std::mem::take(&mut failing) {
                        info!(role = %l.role, node = %l.node, "leader keepalive works again");
                    }
                }
                Some(Kept::Gone) | None => return StepDown::LeaseLost,
                Some(Kept::Failed(e)) => {
                    if !std::mem::replace(&mut failing, true) {
                        warn!(role = %l.role, node = %l.node, error = %e,
                            "leader keepalive failed; leading until the local deadline");
                    }
                }
            },
            batch = watch.next() => match batch {
                Some(Ok(b)) => {
                    let changed = b.events.iter().any(|e| e.kv.key == l.key
                        && (e.kind == EventKind::Delete || e.kv.create_revision != l.revision));
                    if changed {
                        return StepDown::KeyChanged;
                    }
                }
                Some(Err(e)) => return StepDown::Watch(e),
                None => return StepDown::Watch(StoreError::Closed),
            },
        }
    }
}
