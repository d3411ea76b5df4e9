//! [`EmbeddedStore`]: the single-node, durable [`Store`] backend on a redb file.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redb::backends::InMemoryBackend;
use redb::Database;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::disk;
use crate::error::StoreError;
use crate::lease::{self, MAX_LEASE_TTL};
use crate::request::Request;
use crate::shared::Shared;
use crate::txn::{self, prefixed, Overlay};
use crate::types::{KeyValue, LeaseId, Op, OpResponse, RangeResult, Revision, Txn, TxnResponse};
use crate::watch::Watcher;
use crate::writer::Writer;
use crate::Store;

/// Name of the database file inside the directory given to [`EmbeddedStore::open`].
pub const DB_FILE: &str = "store.redb";

/// Tuning for [`EmbeddedStore`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbeddedOptions {
    /// Automatic compaction keeps at least this many revisions of watch history.
    pub history_revisions: u64,
    /// Most write requests committed together in one fsync (group commit).
    pub max_batch: usize,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            history_revisions: 10_000,
            max_batch: 1024,
        }
    }
}

/// The embedded store: reads are served from memory, writes go through one writer task that
/// group-commits them to redb with an fsync before acknowledging.
pub struct EmbeddedStore {
    shared: Arc<Shared>,
    requests: Mutex<Option<mpsc::Sender<Request>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store in directory `path` (file [`DB_FILE`] inside it).
    /// Lease TTLs restart from their full length.
    pub async fn open(path: &Path, opts: EmbeddedOptions) -> Result<Arc<Self>, StoreError> {
        let dir = path.to_owned();
        let db = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir).map_err(|e| {
                StoreError::Io(format!(
                    "cannot create store directory {}: {e}",
                    dir.display()
                ))
            })?;
            let file = dir.join(DB_FILE);
            let db = Database::create(&file)
                .map_err(|e| StoreError::Io(format!("cannot open {}: {e}", file.display())))?;
            // Make the file's directory entry durable too (it may have just been created).
            std::fs::File::open(&dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| {
                    StoreError::Io(format!("cannot sync directory {}: {e}", dir.display()))
                })?;
            Ok(db)
        })
        .await
        .map_err(StoreError::io)??;
        Self::start(db, opts, Some(path.join(DB_FILE))).await
    }

    /// Opens an empty store held in memory (for tests; nothing survives the process).
    pub async fn open_in_memory() -> Result<Arc<Self>, StoreError> {
        Self::open_in_memory_with(EmbeddedOptions::default()).await
    }

    /// [`Self::open_in_memory`] with options.
    pub async fn open_in_memory_with(opts: EmbeddedOptions) -> Result<Arc<Self>, StoreError> {
        let db = Database::builder()
            .create_with_backend(InMemoryBackend::new())
            .map_err(StoreError::io)?;
        Self::start(db, opts, None).await
    }

    /// Starts the writer and the lease expiry loop; `file` (the database's file, none in
    /// memory) gets the free-space check before each commit.
    async fn start(
        db: Database,
        opts: EmbeddedOptions,
        file: Option<std::path::PathBuf>,
    ) -> Result<Arc<Self>, StoreError> {
        let db = Arc::new(db);
        let loader = Arc::clone(&db);
        let loaded = tokio::task::spawn_blocking(move || disk::load(&loader))
            .await
            .map_err(StoreError::io)??;
        let shared = Arc::new(Shared::new(
            Arc::clone(&db),
            loaded.kvs.clone(),
            loaded.revision,
            loaded.compacted,
        ));
        for &(id, ttl_ms) in &loaded.leases {
            shared.timers.start(id, Duration::from_millis(ttl_ms));
        }
        let max_batch = opts.max_batch.max(1);
        let mut writer = Writer::new(
            db,
            Arc::clone(&shared),
            &loaded,
            opts.history_revisions,
            max_batch,
        );
        if let Some(file) = file {
            writer = writer.with_space_check(file);
        }
        let (tx, rx) = mpsc::channel(max_batch.saturating_mul(2));
        let tasks = vec![
            tokio::spawn(writer.run(rx)),
            tokio::spawn(lease::expiry_loop(
                Arc::clone(&shared.timers),
                tx.downgrade(),
            )),
        ];
        tracing::info!(
            revision = loaded.revision,
            keys = loaded.kvs.len(),
            leases = loaded.leases.len(),
            "store opened"
        );
        Ok(Arc::new(Self {
            shared,
            requests: Mutex::new(Some(tx)),
            tasks: Mutex::new(tasks),
        }))
    }

    /// Stops accepting requests, waits for queued writes to commit, stops background tasks,
    /// ends watchers and releases the database file. Idempotent.
    pub async fn close(&self) {
        self.shared.mark_closed();
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for task in tasks {
            let _ = task.await;
        }
        self.shared.release();
    }

    /// Time left on a lease, or `None` if it is unknown or expired.
    pub fn lease_time_to_live(&self, id: LeaseId) -> Option<Duration> {
        self.shared.timers.remaining(id)
    }

    /// The oldest revision still available to watches.
    pub fn compacted_revision(&self) -> Revision {
        self.shared.compacted()
    }

    async fn request<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Request,
    ) -> Result<T, StoreError> {
        self.shared.check_open()?;
        let tx = self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(StoreError::Closed)?;
        let (reply, done) = oneshot::channel();
        tx.send(make(reply)).await.map_err(|_| StoreError::Closed)?;
        drop(tx);
        done.await.map_err(|_| StoreError::Closed)?
    }

    async fn write(&self, t: Txn) -> Result<TxnResponse, StoreError> {
        txn::validate(&t)?;
        self.request(|reply| Request::Txn(t, reply)).await
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        // Without close(): stop taking work and end watchers; the writer finishes what is
        // queued, then exits and releases the file.
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        self.shared.release();
    }
}

fn deleted(resp: TxnResponse) -> Vec<KeyValue> {
    resp.responses
        .into_iter()
        .flat_map(|r| match r {
            OpResponse::Delete { deleted } => deleted,
            _ => Vec::new(),
        })
        .collect()
}

#[async_trait::async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        self.shared.check_open()?;
        Ok(self.shared.read_kv().map.get(key).cloned())
    }

    async fn range(&self, prefix: &str) -> Result<RangeResult, StoreError> {
        self.shared.check_open()?;
        let state = self.shared.read_kv();
        let kvs = prefixed(&state.map, prefix)
            .map(|(_, kv)| kv.clone())
            .collect();
        Ok(RangeResult {
            kvs,
            revision: state.revision,
        })
    }

    async fn put(&self, key: &str, value: Vec<u8>, lease: LeaseId) -> Result<Revision, StoreError> {
        let resp = self
            .write(Txn::new().and_then([Op::Put {
                key: key.to_owned(),
                value,
                lease,
            }]))
            .await?;
        Ok(resp.revision)
    }

    async fn delete(&self, key: &str) -> Result<Option<Revision>, StoreError> {
        let resp = self.write(Txn::new().and_then([Op::delete(key)])).await?;
        let revision = resp.revision;
        Ok((!deleted(resp).is_empty()).then_some(revision))
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<usize, StoreError> {
        let resp = self
            .write(Txn::new().and_then([Op::delete_prefix(prefix)]))
            .await?;
        Ok(deleted(resp).len())
    }

    async fn txn(&self, t: Txn) -> Result<TxnResponse, StoreError> {
        if !t.is_read_only() {
            return self.write(t).await;
        }
        // Reads only: answer from memory, never queue behind writes.
        self.shared.check_open()?;
        let state = self.shared.read_kv();
        let mut view = Overlay::new(&state.map);
        let applied = txn::apply(&mut view, state.revision, &t, |_| true)?;
        Ok(TxnResponse {
            succeeded: applied.succeeded,
            revision: state.revision,
            responses: applied.responses,
        })
    }

    async fn watch(&self, prefix: &str, start_revision: Revision) -> Result<Watcher, StoreError> {
        self.shared.check_open()?;
        Watcher::embedded(Arc::clone(&self.shared), prefix, start_revision)
    }

    async fn lease_grant(&self, ttl: Duration) -> Result<LeaseId, StoreError> {
        if ttl.as_millis() == 0 || ttl > MAX_LEASE_TTL {
            return Err(StoreError::InvalidArgument(format!(
                "lease TTL {ttl:?} is out of range: use between 1ms and {} days",
                MAX_LEASE_TTL.as_secs() / 86_400
            )));
        }
        self.request(|reply| Request::LeaseGrant(ttl, reply)).await
    }

    async fn lease_keepalive(&self, id: LeaseId) -> Result<Duration, StoreError> {
        self.shared.check_open()?;
        self.shared.timers.keepalive(id)
    }

    async fn lease_revoke(&self, id: LeaseId) -> Result<(), StoreError> {
        self.request(|reply| Request::LeaseRevoke(id, reply)).await
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        self.request(|reply| Request::Compact(revision, reply))
            .await
    }

    async fn revision(&self) -> Result<Revision, StoreError> {
        self.shared.check_open()?;
        Ok(self.shared.committed())
    }
}
