//! The node's registration: its [`NodeRecord`] on a lease of its own, kept alive, written
//! again on a new lease whenever the lease is lost; its [`NodeSeen`] record refreshed on a
//! slow cadence and when it leaves.

use std::sync::Arc;
use std::time::Duration;

use shoal_catalog::{node_key, node_seen_key};
use shoal_store::{CmpOp, Compare, KeyValue, LeaseId, Op, Store, StoreError, Txn};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};
use tracing::{debug, info, warn};

use crate::error::ClusterError;
use crate::keepalive::{self, Kept};
use crate::nodes::{decode, encode, read_node, NodeRecord, NodeSeen};
use crate::task::{self, bounded, stopped, stopped_within, stopping, Backoff};

/// The node lease's TTL unless the caller chooses another.
pub const DEFAULT_NODE_TTL: Duration = Duration::from_secs(5);
/// How often the last-seen record is refreshed unless the caller chooses otherwise.
pub const DEFAULT_SEEN_EVERY: Duration = Duration::from_secs(10);
/// Shortest node TTL accepted; shorter ones are raised to it.
pub const MIN_NODE_TTL: Duration = Duration::from_millis(300);
/// Registration attempts when the records change between reading and writing them.
const CAS_ATTEMPTS: usize = 5;

/// The wall clock, in ms since the Unix epoch (injectable for tests on a paused clock).
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// One node's registration, ready to run.
pub struct Registration {
    store: Arc<dyn Store>,
    record: NodeRecord,
    ttl: Duration,
    seen_every: Duration,
    clock: Clock,
}

/// A running [`Registration`]. Dropping it deregisters, like [`Registered::deregister`]
/// without waiting.
pub struct Registered {
    lease: watch::Receiver<Option<LeaseId>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Registered {
    /// The lease the node's record hangs on (records of the node's instances can hang on it
    /// too); `None` while not registered. Changes when the node registers again.
    pub fn lease(&self) -> watch::Receiver<Option<LeaseId>> {
        self.lease.clone()
    }

    /// The lease right now.
    pub fn current(&self) -> Option<LeaseId> {
        *self.lease.borrow()
    }

    /// Leaves the cluster: refreshes the last-seen record, then revokes the lease.
    pub async fn deregister(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }

    /// Ends the task without a word, as if the node died: its record stays until the lease
    /// expires on the server.
    pub fn abort(&self) {
        self.task.abort();
    }
}

/// Why a registration ended.
enum Held {
    Stopped,
    Lost(&'static str),
}

impl Registration {
    /// Registers `record` on a lease of `ttl` (at least [`MIN_NODE_TTL`]), refreshing the
    /// last-seen record every [`DEFAULT_SEEN_EVERY`].
    pub fn new(store: Arc<dyn Store>, record: NodeRecord, ttl: Duration) -> Self {
        Self {
            store,
            record,
            ttl: ttl.max(MIN_NODE_TTL),
            seen_every: DEFAULT_SEEN_EVERY,
            clock: Arc::new(shoal_catalog::now_ms),
        }
    }

    /// Refreshes the last-seen record every `every` instead.
    pub fn seen_every(mut self, every: Duration) -> Self {
        self.seen_every = every.max(Duration::from_millis(1));
        self
    }

    /// Reads the wall clock from `clock` instead of the system's.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Runs [`Self::run`] in a task of its own.
    pub fn spawn(self) -> Registered {
        let (stop, stop_rx) = watch::channel(false);
        let (out, lease) = watch::channel(None);
        let task = tokio::spawn(self.run(stop_rx, out));
        Registered { lease, stop, task }
    }

    /// Registers, keeps the lease alive (every TTL/3) and publishes it in `out`; registers
    /// again on a new lease when it is lost; on `stop`, deregisters.
    pub async fn run(self, mut stop: watch::Receiver<bool>, out: watch::Sender<Option<LeaseId>>) {
        let name = self.record.name.clone();
        let mut backoff = Backoff::new(self.ttl);
        let mut first = true;
        while !stopping(&stop) {
            let lease = match self.register().await {
                Ok(lease) => lease,
                Err(e) => {
                    let pause = backoff.pause();
                    warn!(node = %name, error = %e, ?pause, "node registration failed; retrying");
                    if stopped_within(&mut stop, pause).await {
                        break;
                    }
                    continue;
                }
            };
            backoff.reset();
            if std::mem::take(&mut first) {
                info!(node = %name, lease, "node registered");
            } else {
                warn!(node = %name, lease, "node registered again, on a new lease");
            }
            out.send_replace(Some(lease));
            let held = self.hold(lease, &mut stop).await;
            out.send_replace(None);
            match held {
                Held::Stopped => {
                    self.leave(lease).await;
                    break;
                }
                Held::Lost(why) => {
                    warn!(node = %name, lease, reason = why, "node registration lost; registering again");
                    task::revoke(&*self.store, lease, self.ttl).await;
                }
            }
        }
        out.send_replace(None);
    }

    /// Writes both records, the live one on a new lease, keeping the draining mark the node
    /// already had (an operator's drain outlives a restart).
    async fn register(&self) -> Result<LeaseId, ClusterError> {
        let name = &self.record.name;
        for _ in 0..CAS_ATTEMPTS {
            let (live, seen) = bounded(self.ttl, read_node(&*self.store, name)).await?;
            let mut record = self.record.clone();
            record.draining = match (&live, &seen) {
                (Some(kv), _) => decode::<NodeRecord>(kv).is_ok_and(|r| r.draining),
                (None, Some(kv)) => decode::<NodeSeen>(kv).is_ok_and(|s| s.record.draining),
                (None, None) => false,
            };
            let value = encode(name, &record)?;
            let last = encode(name, &self.seen(record))?;
            let lease = bounded(self.ttl, self.store.lease_grant(self.ttl)).await?;
            let txn = Txn::new()
                .when([
                    unchanged(node_key(name), &live),
                    unchanged(node_seen_key(name), &seen),
                ])
                .and_then([
                    Op::put_with_lease(node_key(name), value, lease),
                    Op::put(node_seen_key(name), last),
                ]);
            let result = bounded(self.ttl, self.store.txn(txn)).await;
            if matches!(result, Ok(ref r) if r.succeeded) {
                return Ok(lease);
            }
            task::revoke(&*self.store, lease, self.ttl).await;
            result?;
        }
        Err(ClusterError::Contended {
            name: name.clone(),
            attempts: CAS_ATTEMPTS,
        })
    }

    /// Keeps the lease alive and the last-seen record fresh until stopped or the lease is lost.
    async fn hold(&self, lease: LeaseId, stop: &mut watch::Receiver<bool>) -> Held {
        let name = &self.record.name;
        let mut keeper = keepalive::keep(Arc::clone(&self.store), lease, self.ttl / 3);
        let mut refresh =
            tokio::time::interval_at(Instant::now() + self.seen_every, self.seen_every);
        let mut failing = false;
        loop {
            tokio::select! {
                biased;
                _ = stopped(stop) => return Held::Stopped,
                kept = keeper.results.recv() => match kept {
                    Some(Kept::Alive { .. }) => {
                        if std::mem::take(&mut failing) {
                            info!(node = %name, lease, "node keepalive works again");
                        }
                    }
                    Some(Kept::Gone) | None => return Held::Lost("the lease expired or was revoked"),
                    Some(Kept::Failed(e)) => {
                        if !std::mem::replace(&mut failing, true) {
                            warn!(node = %name, lease, error = %e, "node keepalive failed; retrying");
                        }
                    }
                },
                _ = refresh.tick() => match timeout(self.ttl, self.refresh_seen(lease)).await {
                    Ok(Ok(true)) => {}
                    Ok(Ok(false)) => return Held::Lost("its record was deleted"),
                    Ok(Err(e)) => debug!(node = %name, error = %e, "last-seen refresh failed"),
                    Err(_) => debug!(node = %name, "last-seen refresh timed out"),
                },
            }
        }
    }

    /// Copies the live record into the last-seen record with the time now, unless the live
    /// record changed meanwhile. False if the live record is gone.
    async fn refresh_seen(&self, lease: LeaseId) -> Result<bool, ClusterError> {
        let name = &self.record.name;
        let Some(kv) = self.store.get(&node_key(name)).await? else {
            return Ok(false);
        };
        if kv.lease != lease {
            warn!(node = %name, lease, other_lease = kv.lease,
                "another process registered this node name; node names must be unique");
            return Ok(true);
        }
        let record: NodeRecord = decode(&kv)?;
        let txn = Txn::new()
            .when([Compare::mod_revision(
                &kv.key,
                CmpOp::Equal,
                kv.mod_revision,
            )])
            .and_then([Op::put(
                node_seen_key(name),
                encode(name, &self.seen(record))?,
            )]);
        match self.store.txn(txn).await {
            Ok(_) | Err(StoreError::LeaseNotFound(_)) => Ok(true),
            Err(e) => Err(e.into()),
        }
    }

    /// Marks the node seen now, then revokes its lease (its live record goes at once).
    async fn leave(&self, lease: LeaseId) {
        if !matches!(timeout(self.ttl, self.refresh_seen(lease)).await, Ok(Ok(_))) {
            debug!(node = %self.record.name, "could not mark the node seen on leaving");
        }
        task::revoke(&*self.store, lease, self.ttl).await;
        info!(node = %self.record.name, "node deregistered");
    }

    fn seen(&self, record: NodeRecord) -> NodeSeen {
        NodeSeen {
            record,
            last_seen_ms: (self.clock)(),
        }
    }
}

/// Holds while `key` still has the mod revision read (0: still missing).
fn unchanged(key: String, read: &Option<KeyValue>) -> Compare {
    Compare::mod_revision(
        key,
        CmpOp::Equal,
        read.as_ref().map_or(0, |kv| kv.mod_revision),
    )
}
