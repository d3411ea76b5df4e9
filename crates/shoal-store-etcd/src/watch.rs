//! Watches on etcd that outlive a member: a task per [`Watcher`] reads etcd's watch stream,
//! splits it into one batch per revision and, when the stream breaks, opens a new one from
//! the last revision delivered + 1 (on any member), so no revision is lost or repeated.

use std::time::Duration;

use etcd_client as etcd;
use shoal_store::{Revision, StoreError, WatchBatch, Watcher};
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout, timeout_at, Instant};
use tracing::{debug, warn};

use crate::error::{message, Failure, Kind};
use crate::store::{EtcdStore, Retry};

/// Batches buffered between the etcd stream and the consumer.
const CHANNEL: usize = 256;
/// Longest pause between two attempts to re-establish a broken watch.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How long to wait for etcd to report its compacted revision.
const COMPACTED_PROBE: Duration = Duration::from_secs(1);

/// Starts a watch of `prefix` from `start` (0 = from the next change).
pub(crate) async fn start(
    store: &EtcdStore,
    prefix: &str,
    start: Revision,
) -> Result<Watcher, StoreError> {
    if start > 0 {
        // etcd reports a compacted start only asynchronously on the stream; a read at that
        // revision answers now, so the caller gets the error from `watch` itself.
        check_not_compacted(store, start).await?;
    }
    let mut task = WatchTask {
        store: store.clone(),
        key: store.ns.key(prefix),
        next_rev: start,
    };
    let (stream, header_rev) = task.open().await?;
    if start == 0 {
        task.next_rev = header_rev + 1;
    }
    let (tx, rx) = mpsc::channel(CHANNEL);
    tokio::spawn(task.run(stream, tx));
    Ok(Watcher::from_channel(rx))
}

/// Fails with [`StoreError::Compacted`] if `revision` can no longer be read (it is older
/// than etcd's compacted revision); a future revision is fine.
async fn check_not_compacted(store: &EtcdStore, revision: Revision) -> Result<(), StoreError> {
    let k = store.ns.key("\0");
    let result = store
        .call(Retry::IfUnavailable, || {
            let mut kv = store.kv.clone();
            let k = k.clone();
            let opts = etcd::GetOptions::new()
                .with_revision(revision)
                .with_count_only();
            async move { kv.get(k, Some(opts)).await }
        })
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(f) if f.kind() == Kind::FutureRevision => Ok(()),
        Err(f) => Err(store.error(f, 0, revision).await),
    }
}

struct WatchTask {
    store: EtcdStore,
    /// The etcd key (namespace + prefix) watched as a prefix.
    key: Vec<u8>,
    /// The first revision not yet delivered.
    next_rev: Revision,
}

/// Why a stream stopped.
enum Stop {
    /// The consumer dropped the [`Watcher`].
    Dropped,
    /// The stream broke; open another.
    Broken(String),
    /// The watch cannot continue (history compacted past `next_rev`).
    Fatal(StoreError),
}

type Tx = mpsc::Sender<Result<WatchBatch, StoreError>>;

impl WatchTask {
    /// Opens an etcd watch from `next_rev` and waits for etcd to confirm it; returns the
    /// stream and the store revision at creation.
    async fn open(&self) -> Result<(etcd::WatchStream, Revision), StoreError> {
        let key = self.key.clone();
        let start = self.next_rev;
        let opened = self
            .store
            .call(Retry::IfUnavailable, || {
                let mut client = self.store.watch.clone();
                let opts = etcd::WatchOptions::new()
                    .with_prefix()
                    .with_start_revision(start)
                    .with_prev_key()
                    .with_progress_notify();
                let key = key.clone();
                async move {
                    let mut stream = client.watch(key, Some(opts)).await?;
                    let first = stream.message().await?;
                    Ok((stream, first))
                }
            })
            .await
            .map_err(|f| f.into_store_error(0))?;
        match opened {
            (stream, Some(resp)) if resp.created() && !resp.canceled() => Ok((
                stream,
                resp.header().map_or(0, etcd::ResponseHeader::revision),
            )),
            (_, Some(resp)) if resp.compact_revision() > 0 => Err(StoreError::Compacted {
                requested: start,
                compacted: resp.compact_revision(),
            }),
            (_, Some(resp)) => Err(StoreError::Io(format!(
                "etcd refused the watch: {}",
                resp.cancel_reason()
            ))),
            (_, None) => Err(StoreError::Io(
                "etcd closed the watch stream before confirming it".into(),
            )),
        }
    }

    async fn run(mut self, mut stream: etcd::WatchStream, tx: Tx) {
        loop {
            let why = self.follow(&mut stream, &tx).await;
            match why {
                Stop::Dropped => return,
                Stop::Fatal(err) => {
                    let _ = tx.send(Err(err)).await;
                    return;
                }
                Stop::Broken(reason) => {
                    warn!(next_revision = self.next_rev, %reason, "etcd watch broke; re-establishing");
                }
            }
            match self.reopen(&tx).await {
                Some(s) => stream = s,
                None => return,
            }
        }
    }

    /// Delivers batches from `stream` until it breaks or the consumer goes away.
    async fn follow(&mut self, stream: &mut etcd::WatchStream, tx: &Tx) -> Stop {
        loop {
            let msg = tokio::select! {
                _ = tx.closed() => return Stop::Dropped,
                msg = stream.message() => msg,
            };
            let resp = match msg {
                Ok(Some(resp)) => resp,
                Ok(None) => return Stop::Broken("etcd ended the stream".into()),
                Err(e) => return Stop::Broken(message(&e)),
            };
            if resp.canceled() {
                if resp.compact_revision() > 0 {
                    return Stop::Fatal(StoreError::Compacted {
                        requested: self.next_rev,
                        compacted: resp.compact_revision(),
                    });
                }
                return Stop::Broken(format!("etcd canceled the watch: {}", resp.cancel_reason()));
            }
            if resp.events().is_empty() && !resp.created() {
                // A progress notification: every revision up to the header's has been sent.
                let rev = resp.header().map_or(0, etcd::ResponseHeader::revision);
                self.next_rev = self.next_rev.max(rev + 1);
                continue;
            }
            for batch in self.store.ns.batches(resp.events()) {
                if batch.revision < self.next_rev {
                    continue;
                }
                self.next_rev = batch.revision + 1;
                if tx.send(Ok(batch)).await.is_err() {
                    return Stop::Dropped;
                }
            }
        }
    }

    /// Opens a new stream from `next_rev`, retrying with backoff until it works, the history
    /// is gone (the consumer gets [`StoreError::Compacted`]) or the consumer goes away.
    async fn reopen(&self, tx: &Tx) -> Option<etcd::WatchStream> {
        let mut pause = Duration::from_millis(50);
        loop {
            let attempt = tokio::select! {
                _ = tx.closed() => return None,
                r = self.open() => r,
            };
            match attempt {
                Ok((stream, _)) => {
                    debug!(next_revision = self.next_rev, "etcd watch re-established");
                    return Some(stream);
                }
                Err(err @ StoreError::Compacted { .. }) => {
                    let _ = tx.send(Err(err)).await;
                    return None;
                }
                Err(err) => {
                    warn!(next_revision = self.next_rev, error = %err, ?pause, "etcd watch not re-established yet");
                }
            }
            tokio::select! {
                _ = tx.closed() => return None,
                _ = sleep(pause) => {}
            }
            pause = (pause * 2).min(MAX_BACKOFF);
        }
    }
}

/// etcd's compacted revision, which it tells only a watch that starts before it: watches a
/// key that is never written from revision 1. `fallback` if etcd says nothing in time
/// (history compacted at revision 1 only).
pub(crate) async fn compacted_revision(store: &EtcdStore, fallback: Revision) -> Revision {
    let probe = async {
        let mut client = store.watch.clone();
        let opts = etcd::WatchOptions::new().with_start_revision(1);
        let mut stream = client.watch(store.ns.key("\0"), Some(opts)).await?;
        let deadline = Instant::now() + COMPACTED_PROBE;
        loop {
            match timeout_at(deadline, stream.message()).await {
                Ok(Ok(Some(resp))) if resp.compact_revision() > 0 => {
                    return Ok(resp.compact_revision())
                }
                Ok(Ok(Some(_))) => {}
                Ok(Ok(None)) | Err(_) => break,
                Ok(Err(e)) => return Err(e),
            }
        }
        Ok::<_, etcd::Error>(fallback)
    };
    match timeout(store.opts.request_timeout, probe).await {
        Ok(Ok(rev)) => rev,
        Ok(Err(e)) => {
            debug!(error = %Failure::Etcd(e).into_store_error(0), "compacted revision probe failed");
            fallback
        }
        Err(_) => fallback,
    }
}
