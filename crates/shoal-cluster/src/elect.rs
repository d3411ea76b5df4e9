//! Leader election with fencing: candidates race to create `shoal/leader/<role>` on a lease of
//! their own; the winner's fencing revision is the key's create revision, and every write it
//! makes as leader is conditioned on that revision ([`Leadership::guard`]).

use std::sync::Arc;
use std::time::Duration;

use shoal_catalog::leader_key;
use shoal_store::{
    CmpOp, Compare, EventKind, KeyValue, LeaseId, Op, OpResponse, Revision, Store, StoreError, Txn,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::lead::{self, StepDown};
use crate::task::{self, bounded, stopped, stopped_within, stopping, Backoff};

/// The leadership lease's TTL unless the caller chooses another: a dead leader is replaced
/// about this long after its last keepalive.
pub const DEFAULT_LEADER_TTL: Duration = Duration::from_secs(5);
/// Shortest TTL accepted; shorter ones are raised to it.
pub const MIN_LEADER_TTL: Duration = Duration::from_millis(300);

/// One node's leadership of a role, valid while the leadership key keeps `revision` as its
/// create revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leadership {
    /// The role led (`scheduler`, `deployer`, ...).
    pub role: String,
    /// The leading node.
    pub node: String,
    /// The leadership key, `shoal/leader/<role>`.
    pub key: String,
    /// The fencing revision: the leadership key's create revision.
    pub revision: Revision,
    /// The lease the key hangs on.
    pub lease: LeaseId,
}

impl Leadership {
    /// The compare to add to every transaction this leader makes: it holds only while the
    /// leadership key still exists with this create revision. Once the key was deleted (lease
    /// expired or revoked) it fails forever, even if the key was created again (by anyone,
    /// this node too), so a stale leader's writes fail in the store.
    pub fn guard(&self) -> Compare {
        Compare::create_revision(&self.key, CmpOp::Equal, self.revision)
    }

    /// `txn` with [`Self::guard`] added. If it fails, the failure branch cannot tell the
    /// guard from the txn's own compares; add `Op::get(&self.key)` to it to find out.
    pub fn fence(&self, txn: Txn) -> Txn {
        txn.when([self.guard()])
    }
}

/// The current leader of `role` and its fencing revision, if any (for `shoal status`).
pub async fn current_leader(
    store: &dyn Store,
    role: &str,
) -> Result<Option<(String, Revision)>, StoreError> {
    Ok(store.get(&leader_key(role)).await?.map(|kv| {
        (
            String::from_utf8_lossy(&kv.value).into_owned(),
            kv.create_revision,
        )
    }))
}

/// One node's candidacy for one role.
pub struct Election {
    store: Arc<dyn Store>,
    role: String,
    node: String,
    key: String,
    ttl: Duration,
}

/// A running [`Election`]: its leadership as it changes, and its task.
/// Dropping it resigns, like [`Campaign::resign`] without waiting.
pub struct Campaign {
    leadership: watch::Receiver<Option<Leadership>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Campaign {
    /// `Some` while this node leads; flips to `None` as soon as it steps down.
    pub fn leadership(&self) -> watch::Receiver<Option<Leadership>> {
        self.leadership.clone()
    }

    /// The leadership right now.
    pub fn current(&self) -> Option<Leadership> {
        self.leadership.borrow().clone()
    }

    /// Stops campaigning; a leader revokes its lease, so another candidate takes over at once.
    pub async fn resign(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }

    /// Ends the task without a word, as if the node died: a leader's key stays until its
    /// lease expires on the server. (The receivers keep their last value.)
    pub fn abort(&self) {
        self.task.abort();
    }
}

/// What ended one round of the election loop.
enum Round {
    Stopped,
    Again,
}

impl Election {
    /// `node`'s candidacy for `role`, with a leadership lease of `ttl` (at least
    /// [`MIN_LEADER_TTL`]; see [`DEFAULT_LEADER_TTL`]).
    pub fn new(store: Arc<dyn Store>, role: &str, node: &str, ttl: Duration) -> Self {
        Self {
            store,
            role: role.to_owned(),
            node: node.to_owned(),
            key: leader_key(role),
            ttl: ttl.max(MIN_LEADER_TTL),
        }
    }

    /// Runs [`Self::run`] in a task of its own.
    pub fn spawn(self) -> Campaign {
        let (stop, stop_rx) = watch::channel(false);
        let (out, leadership) = watch::channel(None);
        let task = tokio::spawn(self.run(stop_rx, out));
        Campaign {
            leadership,
            stop,
            task,
        }
    }

    /// Campaigns until `stop`: wins when the key is free, then holds it (keepalive every
    /// TTL/3) and publishes `Some` in `out`; publishes `None` as soon as leadership may be
    /// lost, before the lease can have expired on the server; then campaigns again. On stop,
    /// a leader revokes its lease.
    pub async fn run(
        self,
        mut stop: watch::Receiver<bool>,
        out: watch::Sender<Option<Leadership>>,
    ) {
        let mut backoff = Backoff::new(self.ttl);
        while !stopping(&stop) {
            match self.round(&mut stop, &out).await {
                Ok(Round::Stopped) => break,
                Ok(Round::Again) => backoff.reset(),
                Err(e) => {
                    let pause = backoff.pause();
                    warn!(role = %self.role, node = %self.node, error = %e, ?pause,
                        "leader election failed; trying again");
                    if stopped_within(&mut stop, pause).await {
                        break;
                    }
                }
            }
        }
        out.send_replace(None);
    }

    /// Follows the current leader until its key is gone, or campaigns and leads.
    async fn round(
        &self,
        stop: &mut watch::Receiver<bool>,
        out: &watch::Sender<Option<Leadership>>,
    ) -> Result<Round, StoreError> {
        let (current, revision) = self.read().await?;
        if let Some(kv) = current {
            return self.follow(&kv, revision + 1, stop).await;
        }
        let granted_at = Instant::now();
        let lease = bounded(self.ttl, self.store.lease_grant(self.ttl)).await?;
        let txn = Txn::new()
            .when([Compare::create_revision(&self.key, CmpOp::Equal, 0)])
            .and_then([Op::put_with_lease(&self.key, self.node.as_bytes(), lease)])
            .or_else([Op::get(&self.key)]);
        let resp = match bounded(self.ttl, self.store.txn(txn)).await {
            Ok(resp) => resp,
            Err(e) => {
                // The put may have been applied: revoking deletes the key then.
                task::revoke(&*self.store, lease, self.ttl).await;
                return Err(e);
            }
        };
        if !resp.succeeded {
            task::revoke(&*self.store, lease, self.ttl).await;
            return match resp.responses.into_iter().next() {
                Some(OpResponse::Get(Some(kv))) => self.follow(&kv, resp.revision + 1, stop).await,
                _ => Ok(Round::Again),
            };
        }
        let leadership = Leadership {
            role: self.role.clone(),
            node: self.node.clone(),
            key: self.key.clone(),
            revision: resp.revision,
            lease,
        };
        let why = lead::hold(&self.store, &leadership, self.ttl, granted_at, stop, out).await;
        out.send_replace(None);
        task::revoke(&*self.store, lease, self.ttl).await;
        if why == StepDown::Resigned {
            info!(role = %self.role, node = %self.node, revision = leadership.revision, "resigned leadership");
            return Ok(Round::Stopped);
        }
        warn!(role = %self.role, node = %self.node, revision = leadership.revision, reason = %why,
            "stepped down as leader");
        Ok(Round::Again)
    }

    /// The leadership key and the revision it was read at.
    async fn read(&self) -> Result<(Option<KeyValue>, Revision), StoreError> {
        let resp = bounded(
            self.ttl,
            self.store.txn(Txn::new().and_then([Op::get(&self.key)])),
        )
        .await?;
        let kv = match resp.responses.into_iter().next() {
            Some(OpResponse::Get(kv)) => kv,
            _ => None,
        };
        Ok((kv, resp.revision))
    }

    /// Waits until the leader's key is deleted (watching from `from`, re-reading every TTL in
    /// case a watch missed it).
    async fn follow(
        &self,
        leader: &KeyValue,
        from: Revision,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Round, StoreError> {
        debug!(role = %self.role, node = %self.node, leader = %String::from_utf8_lossy(&leader.value),
            revision = leader.create_revision, "following the leader");
        let mut watch = bounded(self.ttl, self.store.watch(&self.key, from)).await?;
        let mut recheck = tokio::time::interval_at(Instant::now() + self.ttl, self.ttl);
        loop {
            tokio::select! {
                _ = stopped(stop) => return Ok(Round::Stopped),
                batch = watch.next() => match batch {
                    None => return Ok(Round::Again),
                    Some(Err(e)) => return Err(e),
                    Some(Ok(b)) => {
                        let deleted = b.events.iter()
                            .any(|e| e.kv.key == self.key && e.kind == EventKind::Delete);
                        if deleted {
                            return Ok(Round::Again);
                        }
                    }
                },
                _ = recheck.tick() => {
                    if bounded(self.ttl, self.store.get(&self.key)).await?.is_none() {
                        return Ok(Round::Again);
                    }
                }
            }
        }
    }
}
