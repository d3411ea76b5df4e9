//! State shared between the writer, readers and watchers: the committed key map and
//! revision, the event broadcast, the database handle and the lease timers.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use redb::Database;
use tokio::sync::broadcast;

use crate::error::StoreError;
use crate::lease::LeaseTimers;
use crate::types::{KeyValue, Revision, WatchBatch};

/// The committed key map and the revision it reflects, always updated together.
pub(crate) struct KvState {
    pub map: BTreeMap<String, KeyValue>,
    pub revision: Revision,
}

pub(crate) struct Shared {
    kv: RwLock<KvState>,
    /// Same as `kv.revision`, readable without the lock.
    committed: AtomicI64,
    compacted: AtomicI64,
    db: RwLock<Option<Arc<Database>>>,
    events: Mutex<Option<broadcast::Sender<Arc<WatchBatch>>>>,
    closed: AtomicBool,
    pub timers: Arc<LeaseTimers>,
}

/// Committed revisions a live watcher may fall behind before it re-reads history from disk.
const BROADCAST_CAPACITY: usize = 4096;

impl Shared {
    pub(crate) fn new(
        db: Arc<Database>,
        map: BTreeMap<String, KeyValue>,
        revision: Revision,
        compacted: Revision,
    ) -> Self {
        let (events, _) = broadcast::channel(BROADCAST_CAPACITY);
        Self {
            kv: RwLock::new(KvState { map, revision }),
            committed: AtomicI64::new(revision),
            compacted: AtomicI64::new(compacted),
            db: RwLock::new(Some(db)),
            events: Mutex::new(Some(events)),
            closed: AtomicBool::new(false),
            timers: Arc::new(LeaseTimers::default()),
        }
    }

    pub(crate) fn read_kv(&self) -> RwLockReadGuard<'_, KvState> {
        self.kv.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn committed(&self) -> Revision {
        self.committed.load(Ordering::SeqCst)
    }

    pub(crate) fn compacted(&self) -> Revision {
        self.compacted.load(Ordering::SeqCst)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    pub(crate) fn check_open(&self) -> Result<(), StoreError> {
        if self.is_closed() {
            Err(StoreError::Closed)
        } else {
            Ok(())
        }
    }

    pub(crate) fn db(&self) -> Result<Arc<Database>, StoreError> {
        self.db
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(StoreError::Closed)
    }

    /// Subscribes to committed batches (before reading the revision, so nothing is missed).
    pub(crate) fn subscribe(&self) -> Result<broadcast::Receiver<Arc<WatchBatch>>, StoreError> {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        events
            .as_ref()
            .map(broadcast::Sender::subscribe)
            .ok_or(StoreError::Closed)
    }

    /// Applies a committed batch's key changes and moves the revision forward.
    pub(crate) fn apply_committed(
        &self,
        changes: BTreeMap<String, Option<KeyValue>>,
        revision: Revision,
        compacted: Revision,
    ) {
        let mut kv = self.kv.write().unwrap_or_else(|e| e.into_inner());
        for (key, state) in changes {
            match state {
                Some(state) => kv.map.insert(key, state),
                None => kv.map.remove(&key),
            };
        }
        kv.revision = revision;
        self.committed.store(revision, Ordering::SeqCst);
        self.compacted.store(compacted, Ordering::SeqCst);
    }

    pub(crate) fn broadcast(&self, batches: Vec<WatchBatch>) {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = events.as_ref() {
            for batch in batches {
                // No receivers is fine: nobody watches.
                let _ = tx.send(Arc::new(batch));
            }
        }
    }

    /// Rejects new operations; the writer keeps draining what was queued.
    pub(crate) fn mark_closed(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.timers.shutdown();
    }

    /// Ends every watcher and releases the database file.
    pub(crate) fn release(&self) {
        self.mark_closed();
        self.events.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.db.write().unwrap_or_else(|e| e.into_inner()).take();
    }
}
