//! Helpers shared by the cluster's background tasks: the stop signal, retry backoff, and
//! bounded best-effort lease revocation.

use std::time::Duration;

use shoal_store::{LeaseId, Store, StoreError};
use tokio::sync::watch;
use tracing::debug;

/// Whether the task was told to stop (true was sent, or every sender is gone).
pub(crate) fn stopping(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

/// Resolves once the task is told to stop. Cancel-safe.
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means every sender is gone: that is a stop too.
    let _ = stop.wait_for(|s| *s).await;
}

/// Sleeps `pause`; true if told to stop meanwhile.
pub(crate) async fn stopped_within(stop: &mut watch::Receiver<bool>, pause: Duration) -> bool {
    tokio::select! {
        _ = stopped(stop) => true,
        _ = tokio::time::sleep(pause) => false,
    }
}

/// Doubling pauses between failed attempts, from 100 ms up to `max`.
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

const FIRST_PAUSE: Duration = Duration::from_millis(100);

impl Backoff {
    pub(crate) fn new(max: Duration) -> Self {
        Self {
            next: FIRST_PAUSE,
            max: max.max(FIRST_PAUSE),
        }
    }

    pub(crate) fn pause(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(self.max);
        pause
    }

    pub(crate) fn reset(&mut self) {
        self.next = FIRST_PAUSE;
    }
}

/// `call`, failing with [`StoreError::Io`] if it takes longer than `within`: a store that
/// hangs (a cut network) must not keep a task from noticing its stop signal.
pub(crate) async fn bounded<T>(
    within: Duration,
    call: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(within, call)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Io(format!(
                "no answer from the store within {within:?}"
            )))
        })
}

/// Revokes `lease`, waiting at most `within`; failures are only logged (the lease then
/// expires on its own).
pub(crate) async fn revoke(store: &dyn Store, lease: LeaseId, within: Duration) {
    match tokio::time::timeout(within, store.lease_revoke(lease)).await {
        Ok(Ok(())) | Ok(Err(StoreError::LeaseNotFound(_))) => {}
        Ok(Err(e)) => debug!(lease, error = %e, "lease revoke failed; it will expire"),
        Err(_) => debug!(lease, ?within, "lease revoke timed out; it will expire"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_max_and_starts_over_after_a_reset() {
        let mut b = Backoff::new(Duration::from_millis(500));
        let pauses: Vec<u64> = (0..5).map(|_| b.pause().as_millis() as u64).collect();
        assert_eq!(pauses, [100, 200, 400, 500, 500]);
        b.reset();
        assert_eq!(b.pause(), FIRST_PAUSE);
    }

    #[tokio::test]
    async fn a_dropped_sender_is_a_stop() {
        let (tx, mut rx) = watch::channel(false);
        assert!(!stopping(&rx));
        drop(tx);
        assert!(stopping(&rx));
        stopped(&mut rx).await;
    }
}
