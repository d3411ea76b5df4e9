//! The single writer: drains queued requests, applies them in one redb write transaction,
//! commits (fsync) once, then publishes the result to readers and watchers and acks each.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use redb::Database;
use tokio::sync::mpsc;

use crate::codec;
use crate::disk::{self, rev_key};
use crate::error::StoreError;
use crate::request::{drain, Ack, Request};
use crate::shared::Shared;
use crate::space::SpaceCheck;
use crate::txn::{self, Overlay};
use crate::types::{EventKind, KeyValue, LeaseId, Op, Revision, Txn, TxnResponse, WatchBatch};

/// What one batch changed, to publish after its commit.
#[derive(Default)]
struct Batch {
    acks: Vec<Ack>,
    changes: BTreeMap<String, Option<KeyValue>>,
    revisions: Vec<WatchBatch>,
    granted: Vec<(LeaseId, Duration)>,
    revoked: Vec<LeaseId>,
}

/// State owned by the writer: the authoritative counters and lease table. Readers see the
/// committed state through [`Shared`].
pub(crate) struct Writer {
    db: Arc<Database>,
    shared: Arc<Shared>,
    revision: Revision,
    compacted: Revision,
    next_lease: LeaseId,
    /// Live leases and the keys attached to each.
    leases: HashMap<LeaseId, BTreeSet<String>>,
    history: i64,
    max_batch: usize,
    /// The free-space check before each commit (`None`: held in memory).
    space: Option<SpaceCheck>,
    /// Writes are being refused for want of space (said once, and once when it ends).
    refusing: bool,
}

impl Writer {
    pub(crate) fn new(
        db: Arc<Database>,
        shared: Arc<Shared>,
        loaded: &disk::Loaded,
        history: u64,
        max_batch: usize,
    ) -> Self {
        let mut leases: HashMap<LeaseId, BTreeSet<String>> = loaded
            .leases
            .iter()
            .map(|&(id, _)| (id, BTreeSet::new()))
            .collect();
        for kv in loaded.kvs.values().filter(|kv| kv.lease != 0) {
            if let Some(keys) = leases.get_mut(&kv.lease) {
                keys.insert(kv.key.clone());
            }
        }
        Self {
            db,
            shared,
            revision: loaded.revision,
            compacted: loaded.compacted,
            next_lease: loaded.next_lease,
            leases,
            history: i64::try_from(history).unwrap_or(i64::MAX),
            max_batch: max_batch.max(1),
            space: None,
            refusing: false,
        }
    }

    /// Checks the disk under `file` for room before each commit.
    pub(crate) fn with_space_check(mut self, file: std::path::PathBuf) -> Self {
        self.space = Some(SpaceCheck { file });
        self
    }

    /// Runs until every request sender is gone, or a commit fails (then the store is closed).
    pub(crate) async fn run(mut self, mut rx: mpsc::Receiver<Request>) {
        while let Some(first) = rx.recv().await {
            let mut requests = vec![first];
            drain(&mut rx, &mut requests, self.max_batch);
            if requests.len() < self.max_batch {
                // Writers woken by the previous ack are usually about to send: let them,
                // so they join this commit instead of waiting for the next one.
                tokio::task::yield_now().await;
                drain(&mut rx, &mut requests, self.max_batch);
            }
            let n = requests.len();
            let shared = Arc::clone(&self.shared);
            let joined = tokio::task::spawn_blocking(move || {
                let result = self.commit(requests);
                (self, result)
            })
            .await;
            let (writer, (batch, result)) = match joined {
                Ok(done) => done,
                Err(err) => {
                    tracing::error!(error = %err, "store writer crashed; closing the store");
                    shared.mark_closed();
                    return;
                }
            };
            self = writer;
            if let Err(err) = result {
                tracing::error!(error = %err, requests = n, "store commit failed; closing the store");
                for ack in batch.acks {
                    ack.fail(err.clone());
                }
                self.shared.mark_closed();
                return;
            }
            tracing::trace!(
                requests = n,
                revision = self.revision,
                "store batch committed"
            );
            self.publish(batch);
        }
    }

    /// Applies `requests` in one write transaction and commits it (blocking, fsyncs).
    fn commit(&mut self, requests: Vec<Request>) -> (Batch, Result<(), StoreError>) {
        let mut batch = Batch::default();
        // A full disk refuses the batch before anything is applied: nothing changes,
        // the store stays open, and the next batch tries again.
        match self.space.as_ref().map(SpaceCheck::check) {
            Some(Err(full)) => {
                if !self.refusing {
                    tracing::error!(error = %full, "store writes refused until space is freed");
                    self.refusing = true;
                }
                batch.acks = requests.into_iter().map(|r| refuse(r, &full)).collect();
                return (batch, Ok(()));
            }
            Some(Ok(())) if self.refusing => {
                tracing::info!("space is back: store writes resume");
                self.refusing = false;
            }
            _ => {}
        }
        let before = (self.compacted, self.next_lease);
        {
            let shared = Arc::clone(&self.shared);
            let state = shared.read_kv();
            let mut view = Overlay::new(&state.map);
            for req in requests {
                let ack = match req {
                    Request::Txn(t, tx) => Ack::Txn(tx, self.apply(&mut view, &t, &mut batch)),
                    Request::LeaseGrant(ttl, tx) => {
                        let id = self.next_lease;
                        self.next_lease += 1;
                        self.leases.insert(id, BTreeSet::new());
                        batch.granted.push((id, ttl));
                        Ack::Lease(tx, Ok(id))
                    }
                    Request::LeaseRevoke(id, tx) => {
                        Ack::Unit(tx, self.revoke(&mut view, id, &mut batch))
                    }
                    Request::Compact(rev, tx) => Ack::Unit(tx, self.compact(rev)),
                };
                batch.acks.push(ack);
            }
            let auto = self.revision - self.history;
            if auto > self.compacted && auto - self.compacted >= (self.history / 16).max(1) {
                self.compacted = auto;
            }
            batch.changes = view.into_changes();
        }
        let result = self.write(&batch, before);
        (batch, result)
    }

    fn apply(
        &mut self,
        view: &mut Overlay<'_>,
        t: &Txn,
        batch: &mut Batch,
    ) -> Result<TxnResponse, StoreError> {
        let leases = &self.leases;
        let applied = txn::apply(view, self.revision, t, |id| leases.contains_key(&id))?;
        if !applied.events.is_empty() {
            self.revision += 1;
            for ev in &applied.events {
                if let Some(keys) = ev.prev.as_ref().and_then(|p| self.leases.get_mut(&p.lease)) {
                    keys.remove(&ev.kv.key);
                }
                if ev.kind == EventKind::Put {
                    if let Some(keys) = self.leases.get_mut(&ev.kv.lease) {
                        keys.insert(ev.kv.key.clone());
                    }
                }
            }
            batch.revisions.push(WatchBatch {
                revision: self.revision,
                events: applied.events,
            });
        }
        Ok(TxnResponse {
            succeeded: applied.succeeded,
            revision: self.revision,
            responses: applied.responses,
        })
    }

    fn revoke(
        &mut self,
        view: &mut Overlay<'_>,
        id: LeaseId,
        batch: &mut Batch,
    ) -> Result<(), StoreError> {
        let keys = self.leases.get(&id).ok_or(StoreError::LeaseNotFound(id))?;
        let deletes = Txn::new().and_then(keys.iter().map(Op::delete));
        self.apply(view, &deletes, batch)?;
        self.leases.remove(&id);
        batch.revoked.push(id);
        Ok(())
    }

    fn compact(&mut self, rev: Revision) -> Result<(), StoreError> {
        if rev > self.revision {
            return Err(StoreError::FutureRevision {
                requested: rev,
                current: self.revision,
            });
        }
        if rev <= self.compacted {
            return Err(StoreError::Compacted {
                requested: rev,
                compacted: self.compacted,
            });
        }
        self.compacted = rev;
        Ok(())
    }

    fn write(
        &self,
        batch: &Batch,
        (compacted_before, next_lease_before): (Revision, LeaseId),
    ) -> Result<(), StoreError> {
        let w = self.db.begin_write().map_err(StoreError::io)?;
        {
            let mut kv = w.open_table(disk::KV).map_err(StoreError::io)?;
            for (key, state) in &batch.changes {
                match state {
                    Some(state) => kv
                        .insert(key.as_str(), codec::encode_kv(state).as_slice())
                        .map(drop),
                    None => kv.remove(key.as_str()).map(drop),
                }
                .map_err(StoreError::io)?;
            }
            let mut log = w.open_table(disk::LOG).map_err(StoreError::io)?;
            for wb in &batch.revisions {
                log.insert(
                    rev_key(wb.revision),
                    codec::encode_events(&wb.events).as_slice(),
                )
                .map_err(StoreError::io)?;
            }
            if self.compacted > compacted_before {
                log.retain_in(..rev_key(self.compacted), |_, _| false)
                    .map_err(StoreError::io)?;
            }
            let mut leases = w.open_table(disk::LEASES).map_err(StoreError::io)?;
            for (id, ttl) in &batch.granted {
                let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
                leases.insert(*id, ms).map_err(StoreError::io)?;
            }
            for id in &batch.revoked {
                leases.remove(*id).map_err(StoreError::io)?;
            }
            let mut meta = w.open_table(disk::META).map_err(StoreError::io)?;
            meta.insert(disk::META_REVISION, self.revision)
                .map_err(StoreError::io)?;
            if self.compacted != compacted_before {
                meta.insert(disk::META_COMPACTED, self.compacted)
                    .map_err(StoreError::io)?;
            }
            if self.next_lease != next_lease_before {
                meta.insert(disk::META_NEXT_LEASE, self.next_lease)
                    .map_err(StoreError::io)?;
            }
        }
        w.commit().map_err(StoreError::io)
    }

    /// Makes a committed batch visible: readers first, then lease timers, watchers, callers.
    fn publish(&mut self, batch: Batch) {
        self.shared
            .apply_committed(batch.changes, self.revision, self.compacted);
        for (id, ttl) in batch.granted {
            self.shared.timers.start(id, ttl);
        }
        for id in batch.revoked {
            self.shared.timers.remove(id);
        }
        self.shared.broadcast(batch.revisions);
        for ack in batch.acks {
            ack.send();
        }
    }
}

/// The answer to a request refused before it was applied.
fn refuse(req: Request, err: &StoreError) -> Ack {
    match req {
        Request::Txn(_, tx) => Ack::Txn(tx, Err(err.clone())),
        Request::LeaseGrant(_, tx) => Ack::Lease(tx, Err(err.clone())),
        Request::LeaseRevoke(_, tx) | Request::Compact(_, tx) => Ack::Unit(tx, Err(err.clone())),
    }
}
