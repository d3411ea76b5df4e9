//! The view's loop: read at a revision, watch the store from the next one, apply what
//! arrives, publish a snapshot per burst; on a failure back off and read again. It
//! ends only on shutdown. Also the two ends of its channel.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use shoal_store::{Revision, Store, StoreError, WatchBatch};
use tokio::sync::watch;

use crate::error::FleetError;
use crate::fleet::Fleet;
use crate::read::{read, read_state};
use crate::state::State;

/// Most watch batches applied before a snapshot is published, so a steady flood of
/// changes still publishes.
const MAX_BATCHES_PER_PUBLISH: usize = 1024;

/// The view's sending side: snapshots, and how far it has followed the store. Give
/// [`run`] a clone on each start, so readers outlive a restarted view.
#[derive(Debug, Clone)]
pub struct Publisher {
    fleet: watch::Sender<Arc<Fleet>>,
    through: watch::Sender<Revision>,
}

/// What readers hold (cheap to clone): the newest snapshot, a subscription to the
/// next ones, and waits for the view to catch up with a write.
#[derive(Debug, Clone)]
pub struct FleetReader {
    fleet: watch::Receiver<Arc<Fleet>>,
    through: watch::Receiver<Revision>,
}

impl FleetReader {
    /// Snapshots as they are published, for a reader that rebuilds on every change.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Fleet>> {
        self.fleet.clone()
    }

    /// The newest snapshot.
    pub fn current(&self) -> Arc<Fleet> {
        self.fleet.borrow().clone()
    }

    /// Every store change up to this revision is in [`FleetReader::current`] (0
    /// before the first read). Writes to keys the view does not follow move it too.
    pub fn through(&self) -> Revision {
        *self.through.borrow()
    }

    /// The newest snapshot once the view has applied every change up to `revision`,
    /// or `None` if that takes longer than `timeout` (or the view is gone).
    pub async fn at(&self, revision: Revision, timeout: Duration) -> Option<Arc<Fleet>> {
        let mut through = self.through.clone();
        let caught_up = tokio::time::timeout(timeout, through.wait_for(|r| *r >= revision)).await;
        match caught_up {
            Ok(Ok(_)) => Some(self.current()),
            _ => None,
        }
    }

    /// A snapshot holding every write the store had acknowledged when this was called
    /// (read-your-writes for an API answering after its own write): the view's, once
    /// it has passed the store's revision; if it does not within `timeout`, a read of
    /// the store itself.
    pub async fn fresh(
        &self,
        store: &dyn Store,
        timeout: Duration,
    ) -> Result<Arc<Fleet>, StoreError> {
        let revision = store.revision().await?;
        if let Some(fleet) = self.at(revision, timeout).await {
            return Ok(fleet);
        }
        tracing::warn!(
            revision,
            through = self.through(),
            "fleet view is behind the store; reading the store instead"
        );
        Ok(Arc::new(read(store).await?))
    }
}

/// A channel holding the empty fleet (revision 0) until the view's first read. Make it
/// once and give [`run`] a clone of the publisher on each start, so readers outlive a
/// restarted view.
pub fn channel() -> (Publisher, FleetReader) {
    let (fleet_tx, fleet_rx) = watch::channel(Arc::new(Fleet::default()));
    let (through_tx, through_rx) = watch::channel(0);
    (
        Publisher {
            fleet: fleet_tx,
            through: through_tx,
        },
        FleetReader {
            fleet: fleet_rx,
            through: through_rx,
        },
    )
}

/// A new channel and the view that feeds it: spawn (or supervise) the future; it ends
/// when `shutdown` completes.
pub fn start(
    store: Arc<dyn Store>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> (FleetReader, impl Future<Output = ()> + Send + 'static) {
    let (tx, rx) = channel();
    (rx, run(store, tx, shutdown))
}

/// Keeps `publisher` current until `shutdown` completes: one consistent read, then one
/// watch of the whole store from the revision after it (one watch delivers in revision
/// order, so "applied through revision R" is exact), every change that is ready
/// applied before one publish; a burst that touched no followed key only moves
/// [`FleetReader::through`]. A failed read or watch, or a watch that ends, is logged
/// and followed by a fresh read after a backoff (100 ms doubling to 5 s, back to
/// 100 ms once the watch delivers); readers keep the last snapshot meanwhile.
pub async fn run(store: Arc<dyn Store>, publisher: Publisher, shutdown: impl Future<Output = ()>) {
    let publish = |next: Option<Fleet>, through: Revision| {
        if let Some(next) = next {
            publisher.fleet.send_replace(Arc::new(next));
        }
        // After the snapshot: a reader that sees `through` finds the snapshot too.
        publisher.through.send_if_modified(|r| {
            let moved = through > *r;
            *r = (*r).max(through);
            moved
        });
    };
    run_publishing(store, publish, shutdown).await;
}

/// [`run`] with each snapshot (when the followed keys changed) and the revision it
/// has applied through given to `publish`.
async fn run_publishing(
    store: Arc<dyn Store>,
    mut publish: impl FnMut(Option<Fleet>, Revision),
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut backoff = Backoff::default();
    let mut published: Revision = 0;
    loop {
        let error = tokio::select! {
            biased;
            () = &mut shutdown => return,
            followed = follow(store.as_ref(), &mut publish, &mut published, &mut backoff) => {
                let Err(error) = followed;
                error
            }
        };
        let wait = backoff.fail();
        tracing::error!(
            error = %error,
            retry_in = ?wait,
            revision = published,
            "fleet view cannot follow the store; keeping the last snapshot until it can"
        );
        tokio::select! {
            biased;
            () = &mut shutdown => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Reads, publishes, then applies and publishes changes until a read or the watch fails.
async fn follow(
    store: &dyn Store,
    publish: &mut impl FnMut(Option<Fleet>, Revision),
    published: &mut Revision,
    backoff: &mut Backoff,
) -> Result<Infallible, FleetError> {
    let mut state = read_state(store).await.map_err(FleetError::Read)?;
    let mut through = state.revision;
    let mut watch = store
        .watch("", state.revision + 1)
        .await
        .map_err(FleetError::Watch)?;
    let mut send = |state: Option<&State>, through: Revision| {
        let next = state.map(|state| {
            let next = state.fleet();
            tracing::debug!(
                revision = next.revision,
                specs = next.specs.len(),
                deployments = next.deployments.len(),
                instances = next.instances.len(),
                "fleet view published"
            );
            *published = next.revision;
            next
        });
        publish(next, through);
    };
    send(Some(&state), through);
    loop {
        let batch = delivered(watch.next().await)?;
        backoff.reset();
        let mut changed = state.apply(&batch);
        through = through.max(batch.revision);
        for _ in 1..MAX_BATCHES_PER_PUBLISH {
            // Unconstrained: a batch that is there must not look pending because the
            // task spent its cooperative budget.
            let Some(next) = tokio::task::unconstrained(watch.next()).now_or_never() else {
                break;
            };
            let batch = delivered(next)?;
            changed |= state.apply(&batch);
            through = through.max(batch.revision);
        }
        send(changed.then_some(&state), through);
    }
}

fn delivered(next: Option<Result<WatchBatch, StoreError>>) -> Result<WatchBatch, FleetError> {
    match next {
        Some(Ok(batch)) => Ok(batch),
        Some(Err(source)) => Err(FleetError::Watch(source)),
        None => Err(FleetError::WatchEnded),
    }
}

/// The wait after consecutive failures: 100 ms, doubling up to 5 s; back to 100 ms once
/// a watch delivers again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub(crate) const FIRST: Duration = Duration::from_millis(100);
    pub(crate) const MAX: Duration = Duration::from_secs(5);

    /// The wait before the next attempt after one more failure.
    pub(crate) fn fail(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        wait
    }

    /// Forgets past failures.
    pub(crate) fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: Self::FIRST }
    }
}

#[cfg(test)]
mod tests;
