//! The lease keeper: a task that keeps one lease alive at a fixed interval and reports every
//! attempt, so its owner can keep a local deadline without ever waiting on the store.

use std::sync::Arc;
use std::time::Duration;

use shoal_store::{LeaseId, Store, StoreError};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

/// The outcome of one keepalive.
#[derive(Debug)]
pub(crate) enum Kept {
    /// The server reset the lease to `ttl` at some moment after `sent_at`, so the lease lives
    /// at least until `sent_at + ttl`.
    Alive { sent_at: Instant, ttl: Duration },
    /// The lease no longer exists (expired or revoked). The keeper stops.
    Gone,
    /// No answer in time, or the store failed: the lease may or may not still be alive.
    Failed(StoreError),
}

/// The running keeper; aborts its task when dropped.
pub(crate) struct Keeper {
    task: JoinHandle<()>,
    pub(crate) results: mpsc::Receiver<Kept>,
}

impl Drop for Keeper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Keeps `lease` alive every `every` (the first time `every` from now); each attempt may take
/// at most `every`, so one slow member cannot hold the next attempts back.
pub(crate) fn keep(store: Arc<dyn Store>, lease: LeaseId, every: Duration) -> Keeper {
    let every = every.max(Duration::from_millis(1));
    let (tx, results) = mpsc::channel(4);
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(Instant::now() + every, every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let sent_at = Instant::now();
            let kept = match tokio::time::timeout(every, store.lease_keepalive(lease)).await {
                Ok(Ok(ttl)) => Kept::Alive { sent_at, ttl },
                Ok(Err(StoreError::LeaseNotFound(_))) => Kept::Gone,
                Ok(Err(e)) => Kept::Failed(e),
                Err(_) => Kept::Failed(StoreError::Io(format!(
                    "no keepalive answer within {every:?}"
                ))),
            };
            let gone = matches!(kept, Kept::Gone);
            if tx.send(kept).await.is_err() || gone {
                return;
            }
        }
    });
    Keeper { task, results }
}
