//! Lease deadlines (kept in memory, on tokio's clock) and the background task that revokes
//! expired leases through the writer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Notify};
use tokio::time::Instant;

use crate::error::StoreError;
use crate::request::Request;
use crate::types::LeaseId;

/// Longest accepted lease TTL.
pub const MAX_LEASE_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

#[derive(Debug, Clone, Copy)]
struct Timer {
    ttl: Duration,
    deadline: Instant,
}

/// When each live lease expires. A lease whose deadline has passed can no longer be kept
/// alive; the expiry task revokes it.
#[derive(Debug, Default)]
pub(crate) struct LeaseTimers {
    timers: Mutex<HashMap<LeaseId, Timer>>,
    changed: Notify,
    closed: AtomicBool,
}

impl LeaseTimers {
    fn lock(&self) -> MutexGuard<'_, HashMap<LeaseId, Timer>> {
        self.timers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts (or restarts) the lease's full TTL from now.
    pub(crate) fn start(&self, id: LeaseId, ttl: Duration) {
        let deadline = deadline_after(ttl);
        self.lock().insert(id, Timer { ttl, deadline });
        self.changed.notify_one();
    }

    pub(crate) fn remove(&self, id: LeaseId) {
        self.lock().remove(&id);
    }

    /// Resets the TTL of a live lease and returns it.
    pub(crate) fn keepalive(&self, id: LeaseId) -> Result<Duration, StoreError> {
        let now = Instant::now();
        let mut timers = self.lock();
        match timers.get_mut(&id) {
            Some(t) if t.deadline > now => {
                t.deadline = deadline_after(t.ttl);
                Ok(t.ttl)
            }
            _ => Err(StoreError::LeaseNotFound(id)),
        }
    }

    /// Time left before the lease expires (None if it is unknown or expired).
    pub(crate) fn remaining(&self, id: LeaseId) -> Option<Duration> {
        let now = Instant::now();
        self.lock()
            .get(&id)
            .and_then(|t| t.deadline.checked_duration_since(now))
            .filter(|d| !d.is_zero())
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.lock().values().map(|t| t.deadline).min()
    }

    fn expired(&self, now: Instant) -> Vec<LeaseId> {
        let mut ids: Vec<LeaseId> = self
            .lock()
            .iter()
            .filter(|(_, t)| t.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Stops the expiry task.
    pub(crate) fn shutdown(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.changed.notify_one();
    }
}

fn deadline_after(ttl: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(ttl).unwrap_or(now + MAX_LEASE_TTL)
}

/// Sleeps until the earliest lease deadline, then revokes every expired lease (one revision
/// each, deleting its keys). Holds the writer's channel only weakly so the store can shut down.
pub(crate) async fn expiry_loop(timers: Arc<LeaseTimers>, requests: mpsc::WeakSender<Request>) {
    loop {
        if timers.closed.load(Ordering::SeqCst) {
            return;
        }
        let changed = timers.changed.notified();
        match timers.next_deadline() {
            None => changed.await,
            Some(deadline) => {
                tokio::select! {
                    _ = changed => {}
                    _ = tokio::time::sleep_until(deadline) => {}
                }
            }
        }
        for id in timers.expired(Instant::now()) {
            if timers.closed.load(Ordering::SeqCst) {
                return;
            }
            let Some(tx) = requests.upgrade() else { return };
            let (ack, done) = oneshot::channel();
            if tx.send(Request::LeaseRevoke(id, ack)).await.is_err() {
                return;
            }
            drop(tx);
            match done.await {
                Ok(Ok(())) => tracing::debug!(lease = id, "lease expired and was revoked"),
                Ok(Err(StoreError::LeaseNotFound(_))) => {}
                Ok(Err(err)) => {
                    tracing::warn!(lease = id, error = %err, "revoking an expired lease failed")
                }
                Err(_) => return,
            }
            timers.remove(id);
        }
    }
}
