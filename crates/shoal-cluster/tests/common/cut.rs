//! [`Cuttable`]: a store wrapper whose calls hang while it is cut off, like a blackholed
//! network (watches already open keep running).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use shoal_store::{
    KeyValue, LeaseId, RangeResult, Revision, Store, StoreError, Txn, TxnResponse, Watcher,
};

pub struct Cuttable {
    inner: Arc<dyn Store>,
    cut: AtomicBool,
}

impl Cuttable {
    pub fn new(inner: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            cut: AtomicBool::new(false),
        })
    }

    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }

    async fn gate(&self) {
        if self.cut.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
    }
}

#[async_trait::async_trait]
impl Store for Cuttable {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        self.gate().await;
        self.inner.get(key).await
    }
    async fn range(&self, prefix: &str) -> Result<RangeResult, StoreError> {
        self.gate().await;
        self.inner.range(prefix).await
    }
    async fn put(&self, key: &str, value: Vec<u8>, lease: LeaseId) -> Result<Revision, StoreError> {
        self.gate().await;
        self.inner.put(key, value, lease).await
    }
    async fn delete(&self, key: &str) -> Result<Option<Revision>, StoreError> {
        self.gate().await;
        self.inner.delete(key).await
    }
    async fn delete_prefix(&self, prefix: &str) -> Result<usize, StoreError> {
        self.gate().await;
        self.inner.delete_prefix(prefix).await
    }
    async fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError> {
        self.gate().await;
        self.inner.txn(txn).await
    }
    async fn watch(&self, prefix: &str, start: Revision) -> Result<Watcher, StoreError> {
        self.gate().await;
        self.inner.watch(prefix, start).await
    }
    async fn lease_grant(&self, ttl: Duration) -> Result<LeaseId, StoreError> {
        self.gate().await;
        self.inner.lease_grant(ttl).await
    }
    async fn lease_keepalive(&self, id: LeaseId) -> Result<Duration, StoreError> {
        self.gate().await;
        self.inner.lease_keepalive(id).await
    }
    async fn lease_revoke(&self, id: LeaseId) -> Result<(), StoreError> {
        self.gate().await;
        self.inner.lease_revoke(id).await
    }
    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        self.gate().await;
        self.inner.compact(revision).await
    }
    async fn revision(&self) -> Result<Revision, StoreError> {
        self.gate().await;
        self.inner.revision().await
    }
}
