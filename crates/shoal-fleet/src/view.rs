//! The view's loop: read at a revision, watch the three prefixes from the next one,
//! apply what arrives, publish a snapshot per burst; on a failure back off and read
//! again. It ends only on shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use shoal_catalog::{CATALOG_PREFIX, DEPLOY_PREFIX, SPEC_PREFIX};
use shoal_store::{Revision, Store, StoreError, WatchBatch, Watcher};
use tokio::sync::watch;

use crate::error::FleetError;
use crate::fleet::Fleet;
use crate::read::read_state;
use crate::state::State;

/// Most watch batches applied before a snapshot is published, so a steady flood of
/// changes still publishes.
const MAX_BATCHES_PER_PUBLISH: usize = 1024;

/// A channel holding the empty fleet (revision 0) until the view's first read. Make it
/// once and give [`run`] a clone of the sender on each start, so subscribers outlive a
/// restarted view.
pub fn channel() -> (watch::Sender<Arc<Fleet>>, watch::Receiver<Arc<Fleet>>) {
    watch::channel(Arc::new(Fleet::default()))
}

/// A new channel and the view that feeds it: spawn (or supervise) the future; it ends
/// when `shutdown` completes.
pub fn start(
    store: Arc<dyn Store>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> (
    watch::Receiver<Arc<Fleet>>,
    impl Future<Output = ()> + Send + 'static,
) {
    let (tx, rx) = channel();
    (rx, run(store, tx, shutdown))
}

/// Keeps `fleet` current until `shutdown` completes: one consistent read, then watches
/// of the three prefixes from the revision after it, every change that is ready applied
/// before one publish. A failed read or watch, or a watch that ends, is logged and
/// followed by a fresh read after a backoff (100 ms doubling to 5 s, back to 100 ms once
/// a watch delivers); subscribers keep the last snapshot meanwhile.
pub async fn run(
    store: Arc<dyn Store>,
    fleet: watch::Sender<Arc<Fleet>>,
    shutdown: impl Future<Output = ()>,
) {
    let publish = |next: Fleet| {
        fleet.send_replace(Arc::new(next));
    };
    run_publishing(store, publish, shutdown).await;
}

/// [`run`] with each snapshot given to `publish`.
async fn run_publishing(
    store: Arc<dyn Store>,
    mut publish: impl FnMut(Fleet),
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

/// Reads, publishes, then applies and publishes changes until a read or a watch fails.
async fn follow(
    store: &dyn Store,
    publish: &mut impl FnMut(Fleet),
    published: &mut Revision,
    backoff: &mut Backoff,
) -> Result<Infallible, FleetError> {
    let mut state = read_state(store).await.map_err(FleetError::Read)?;
    let mut watches = Watches::open(store, state.revision + 1).await?;
    let mut send = |state: &State| {
        let next = state.fleet();
        tracing::debug!(
            revision = next.revision,
            specs = next.specs.len(),
            deployments = next.deployments.len(),
            instances = next.instances.len(),
            "fleet view published"
        );
        *published = next.revision;
        publish(next);
    };
    send(&state);
    loop {
        let batch = watches.next().await?;
        backoff.reset();
        state.apply(&batch);
        for _ in 1..MAX_BATCHES_PER_PUBLISH {
            match watches.ready()? {
                Some(batch) => state.apply(&batch),
                None => break,
            }
        }
        send(&state);
    }
}

/// The watches of the three prefixes.
struct Watches {
    specs: Watcher,
    deployments: Watcher,
    catalog: Watcher,
}

impl Watches {
    /// Watches from `from` on (the revision after the read: nothing missed, nothing twice).
    async fn open(store: &dyn Store, from: Revision) -> Result<Self, FleetError> {
        let open = |prefix: &'static str| async move {
            store
                .watch(prefix, from)
                .await
                .map_err(|source| FleetError::Watch { prefix, source })
        };
        Ok(Self {
            specs: open(SPEC_PREFIX).await?,
            deployments: open(DEPLOY_PREFIX).await?,
            catalog: open(CATALOG_PREFIX).await?,
        })
    }

    /// The next batch of any of them.
    async fn next(&mut self) -> Result<WatchBatch, FleetError> {
        // Every arm is cancel-safe (`Watcher::next`).
        let (prefix, next) = tokio::select! {
            n = self.specs.next() => (SPEC_PREFIX, n),
            n = self.deployments.next() => (DEPLOY_PREFIX, n),
            n = self.catalog.next() => (CATALOG_PREFIX, n),
        };
        delivered(prefix, next)
    }

    /// A batch one of them has ready now, without waiting.
    fn ready(&mut self) -> Result<Option<WatchBatch>, FleetError> {
        for (prefix, w) in [
            (SPEC_PREFIX, &mut self.specs),
            (DEPLOY_PREFIX, &mut self.deployments),
            (CATALOG_PREFIX, &mut self.catalog),
        ] {
            // Unconstrained: a batch that is there must not look pending because the
            // task spent its cooperative budget.
            if let Some(next) = tokio::task::unconstrained(w.next()).now_or_never() {
                return delivered(prefix, next).map(Some);
            }
        }
        Ok(None)
    }
}

fn delivered(
    prefix: &'static str,
    next: Option<Result<WatchBatch, StoreError>>,
) -> Result<WatchBatch, FleetError> {
    match next {
        Some(Ok(batch)) => Ok(batch),
        Some(Err(source)) => Err(FleetError::Watch { prefix, source }),
        None => Err(FleetError::WatchEnded { prefix }),
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
