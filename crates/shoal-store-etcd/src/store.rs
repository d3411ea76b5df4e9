//! [`EtcdStore`]: the [`Store`] trait on an etcd cluster, each store call one etcd request,
//! bounded by a timeout and retried on another member when it provably never arrived.

use std::future::Future;
use std::time::Duration;

use etcd_client as etcd;
use shoal_store::{
    KeyValue, LeaseId, Op, RangeResult, Revision, Store, StoreError, Txn, TxnResponse, Watcher,
};
use tokio::time::{sleep, timeout_at, Instant};
use tracing::debug;

use crate::convert::Namespace;
use crate::error::{Failure, Kind};
use crate::options::EtcdOptions;
use crate::url::parse_url;
use crate::{validate, watch};

/// Largest response accepted from etcd (a big range, a big watch batch).
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;
/// Longest pause between two attempts of one request.
const MAX_RETRY_PAUSE: Duration = Duration::from_millis(200);

/// Whether a failed request may be sent again.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Only if it provably never reached a member (writes).
    IfNotSent,
    /// Also after a broken connection or timeout (reads and other idempotent requests).
    IfUnavailable,
}

/// A [`Store`] backed by an etcd v3 cluster (etcd ≥ 3.4). Cheap to share behind an `Arc`;
/// every watch runs in its own task and re-establishes itself after a member fails.
#[derive(Clone)]
pub struct EtcdStore {
    pub(crate) kv: etcd::KvClient,
    pub(crate) lease: etcd::LeaseClient,
    pub(crate) watch: etcd::WatchClient,
    pub(crate) ns: Namespace,
    pub(crate) opts: EtcdOptions,
}

impl EtcdStore {
    /// Connects to the etcd members at `endpoints` (`http://host:port` or `host:port`);
    /// requests are balanced over them and fail over when one is down. Fails unless some
    /// member answers within `opts.request_timeout`, so a wrong address is reported now.
    pub async fn connect(endpoints: &[String], opts: EtcdOptions) -> Result<Self, StoreError> {
        if endpoints.is_empty() {
            return Err(StoreError::InvalidArgument(
                "no etcd endpoints given: name at least one member (host:port)".into(),
            ));
        }
        let connect = etcd::ConnectOptions::new()
            .with_connect_timeout(opts.connect_timeout)
            .with_keep_alive(opts.keepalive_interval, opts.keepalive_timeout)
            .with_keep_alive_while_idle(true)
            .with_require_leader(true);
        let client = etcd::Client::connect(endpoints, Some(connect))
            .await
            .map_err(|e| {
                StoreError::InvalidArgument(format!("etcd endpoints {endpoints:?}: {e}"))
            })?;
        let store = Self {
            kv: client
                .kv_client()
                .max_decoding_message_size(MAX_RESPONSE_BYTES),
            lease: client.lease_client(),
            watch: client
                .watch_client()
                .max_decoding_message_size(MAX_RESPONSE_BYTES),
            ns: Namespace::new(&opts.namespace),
            opts,
        };
        store.revision().await.map_err(|e| {
            StoreError::Io(format!("cannot reach etcd at {}: {e}", endpoints.join(",")))
        })?;
        Ok(store)
    }

    /// Connects to the members of an `etcd://h1:2379,h2:2379[/namespace]` URL; a namespace in
    /// the URL replaces `opts.namespace`.
    pub async fn connect_url(url: &str, mut opts: EtcdOptions) -> Result<Self, StoreError> {
        let url = parse_url(url).map_err(|e| StoreError::InvalidArgument(e.to_string()))?;
        if !url.namespace.is_empty() {
            opts.namespace = url.namespace;
        }
        Self::connect(&url.endpoints, opts).await
    }

    /// Runs one request: bounded by the request timeout, retried (with a growing pause) while
    /// `retry` allows and time is left.
    pub(crate) async fn call<T, F, Fut>(&self, retry: Retry, mut request: F) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, etcd::Error>>,
    {
        let deadline = Instant::now() + self.opts.request_timeout;
        let mut pause = Duration::from_millis(10);
        loop {
            let err = match timeout_at(deadline, request()).await {
                Err(_) => return Err(Failure::Timeout(self.opts.request_timeout)),
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) => e,
            };
            let kind = crate::error::kind(&err);
            let again = kind == Kind::NotSent
                || (retry == Retry::IfUnavailable && kind == Kind::Unavailable);
            if !again {
                return Err(Failure::Etcd(err));
            }
            if Instant::now() + pause >= deadline {
                return Err(Failure::GaveUp(self.opts.request_timeout, err));
            }
            debug!(error = %err, ?pause, "etcd request failed; retrying");
            sleep(pause).await;
            pause = (pause * 2).min(MAX_RETRY_PAUSE);
        }
    }

    /// The caller's error for a failure, asking etcd for the numbers a compaction or future
    /// revision error carries.
    pub(crate) async fn error(
        &self,
        f: Failure,
        lease: LeaseId,
        requested: Revision,
    ) -> StoreError {
        match f.kind() {
            Kind::Compacted => StoreError::Compacted {
                requested,
                compacted: watch::compacted_revision(self, requested).await,
            },
            Kind::FutureRevision => StoreError::FutureRevision {
                requested,
                current: self.revision().await.unwrap_or(0),
            },
            _ => f.into_store_error(lease),
        }
    }
}

fn header_revision(h: Option<&etcd::ResponseHeader>) -> Revision {
    h.map_or(0, etcd::ResponseHeader::revision)
}

/// The lease a failing write named, for [`StoreError::LeaseNotFound`].
fn lease_of(t: &Txn) -> LeaseId {
    t.success
        .iter()
        .chain(&t.failure)
        .find_map(|op| match op {
            Op::Put { lease, .. } if *lease != 0 => Some(*lease),
            _ => None,
        })
        .unwrap_or(0)
}

#[async_trait::async_trait]
impl Store for EtcdStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        if key.is_empty() {
            return Ok(None);
        }
        let k = self.ns.key(key);
        let resp = self
            .call(Retry::IfUnavailable, || {
                let mut kv = self.kv.clone();
                let k = k.clone();
                async move { kv.get(k, None).await }
            })
            .await
            .map_err(|f| f.into_store_error(0))?;
        Ok(resp.kvs().first().map(|kv| self.ns.kv(kv)))
    }

    async fn range(&self, prefix: &str) -> Result<RangeResult, StoreError> {
        let k = self.ns.key(prefix);
        let resp = self
            .call(Retry::IfUnavailable, || {
                let mut kv = self.kv.clone();
                let k = k.clone();
                async move { kv.get(k, Some(etcd::GetOptions::new().with_prefix())).await }
            })
            .await
            .map_err(|f| f.into_store_error(0))?;
        Ok(RangeResult {
            kvs: self.ns.kvs(resp.kvs()),
            revision: header_revision(resp.header()),
        })
    }

    async fn put(&self, key: &str, value: Vec<u8>, lease: LeaseId) -> Result<Revision, StoreError> {
        validate::txn(&Txn::new().and_then([Op::put_with_lease(key, value.clone(), lease)]))?;
        let k = self.ns.key(key);
        let mut opts = etcd::PutOptions::new();
        if lease != 0 {
            opts = opts.with_lease(lease);
        }
        let resp = self
            .call(Retry::IfNotSent, || {
                let mut kv = self.kv.clone();
                let (k, v, o) = (k.clone(), value.clone(), opts.clone());
                async move { kv.put(k, v, Some(o)).await }
            })
            .await
            .map_err(|f| f.into_store_error(lease))?;
        Ok(header_revision(resp.header()))
    }

    async fn delete(&self, key: &str) -> Result<Option<Revision>, StoreError> {
        validate::key(key)?;
        let k = self.ns.key(key);
        let resp = self
            .call(Retry::IfNotSent, || {
                let mut kv = self.kv.clone();
                let k = k.clone();
                async move { kv.delete(k, None).await }
            })
            .await
            .map_err(|f| f.into_store_error(0))?;
        Ok((resp.deleted() > 0).then(|| header_revision(resp.header())))
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<usize, StoreError> {
        let k = self.ns.key(prefix);
        let resp = self
            .call(Retry::IfNotSent, || {
                let mut kv = self.kv.clone();
                let k = k.clone();
                let opts = etcd::DeleteOptions::new().with_prefix();
                async move { kv.delete(k, Some(opts)).await }
            })
            .await
            .map_err(|f| f.into_store_error(0))?;
        Ok(usize::try_from(resp.deleted()).unwrap_or(0))
    }

    async fn txn(&self, t: Txn) -> Result<TxnResponse, StoreError> {
        validate::txn(&t)?;
        let retry = if t.is_read_only() {
            Retry::IfUnavailable
        } else {
            Retry::IfNotSent
        };
        let resp = self
            .call(retry, || {
                let mut kv = self.kv.clone();
                let txn = self.ns.txn(&t);
                async move { kv.txn(txn).await }
            })
            .await
            .map_err(|f| f.into_store_error(lease_of(&t)))?;
        let branch = if resp.succeeded() {
            &t.success
        } else {
            &t.failure
        };
        let responses = branch
            .iter()
            .zip(resp.op_responses().iter())
            .map(|(op, r)| self.ns.op_response(op, r))
            .collect();
        Ok(TxnResponse {
            succeeded: resp.succeeded(),
            revision: header_revision(resp.header()),
            responses,
        })
    }

    async fn watch(&self, prefix: &str, start_revision: Revision) -> Result<Watcher, StoreError> {
        validate::start_revision(start_revision)?;
        watch::start(self, prefix, start_revision).await
    }

    async fn lease_grant(&self, ttl: Duration) -> Result<LeaseId, StoreError> {
        let secs = validate::ttl_secs(ttl)?;
        let resp = self
            .call(Retry::IfNotSent, || {
                let mut lease = self.lease.clone();
                async move { lease.grant(secs, None).await }
            })
            .await
            .map_err(|f| f.into_store_error(0))?;
        Ok(resp.id())
    }

    async fn lease_keepalive(&self, id: LeaseId) -> Result<Duration, StoreError> {
        let ttl = self
            .call(Retry::IfUnavailable, || {
                let mut lease = self.lease.clone();
                async move {
                    // etcd-client sends one keepalive and drops its answer; a second one on
                    // the same stream tells the TTL.
                    let (mut keeper, mut stream) = lease.keep_alive(id).await?;
                    keeper.keep_alive().await?;
                    Ok(stream.message().await?.map_or(0, |r| r.ttl()))
                }
            })
            .await
            .map_err(|f| f.into_store_error(id))?;
        if ttl <= 0 {
            return Err(StoreError::LeaseNotFound(id));
        }
        Ok(Duration::from_secs(ttl.unsigned_abs()))
    }

    async fn lease_revoke(&self, id: LeaseId) -> Result<(), StoreError> {
        self.call(Retry::IfNotSent, || {
            let mut lease = self.lease.clone();
            async move { lease.revoke(id).await }
        })
        .await
        .map_err(|f| f.into_store_error(id))?;
        Ok(())
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let result = self
            .call(Retry::IfNotSent, || {
                let mut kv = self.kv.clone();
                async move { kv.compact(revision, None).await }
            })
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(f) => Err(self.error(f, 0, revision).await),
        }
    }

    async fn revision(&self) -> Result<Revision, StoreError> {
        // Any read answers with the store revision; this key is never written.
        let k = self.ns.key("\0");
        let resp = self
            .call(Retry::IfUnavailable, || {
                let mut kv = self.kv.clone();
                let k = k.clone();
                let opts = etcd::GetOptions::new().with_keys_only().with_limit(1);
                async move { kv.get(k, Some(opts)).await }
            })
            .await
            .map_err(|f| f.into_store_error(0))?;
        Ok(header_revision(resp.header()))
    }
}
