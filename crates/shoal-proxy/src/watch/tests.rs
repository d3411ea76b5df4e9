//! Tests of the route watcher on a fake store that fails on demand, on a paused clock.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use shoal_catalog::{catalog_key, deploy_key, encode, spec_key, InstanceRecord};
use shoal_spec::{Command, ServiceSpec};
use shoal_store::{
    KeyValue, LeaseId, RangeResult, Revision, Store, StoreError, Txn, TxnResponse, WatchBatch,
    Watcher,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{run, snapshot, Backoff};
use crate::table::RouteTable;

type Feed = mpsc::Sender<Result<WatchBatch, StoreError>>;

/// Keys in a map; reads fail while `failing_reads` is above 0; every watch is a
/// channel the test feeds (or breaks) by hand.
#[derive(Default)]
struct Fake {
    data: Mutex<BTreeMap<String, Vec<u8>>>,
    failing_reads: AtomicUsize,
    feeds: Mutex<Vec<(String, Feed)>>,
    watches: AtomicUsize,
}

impl Fake {
    fn set(&self, key: String, value: Vec<u8>) {
        self.data.lock().expect("data").insert(key, value);
    }

    fn watches(&self) -> usize {
        self.watches.load(Ordering::SeqCst)
    }

    /// The newest watch of `prefix`.
    fn feed(&self, prefix: &str) -> Feed {
        let feeds = self.feeds.lock().expect("feeds");
        let found = feeds.iter().rev().find(|(p, _)| p == prefix);
        found
            .map(|(_, f)| f.clone())
            .expect("a watch of the prefix")
    }
}

fn unsupported<T>() -> Result<T, StoreError> {
    Err(StoreError::InvalidArgument("not in this fake".into()))
}

#[async_trait::async_trait]
impl Store for Fake {
    async fn get(&self, _key: &str) -> Result<Option<KeyValue>, StoreError> {
        unsupported()
    }

    async fn range(&self, prefix: &str) -> Result<RangeResult, StoreError> {
        let failing = self.failing_reads.load(Ordering::SeqCst);
        if failing > 0 {
            self.failing_reads.store(failing - 1, Ordering::SeqCst);
            return Err(StoreError::Io("disk unplugged".into()));
        }
        let data = self.data.lock().expect("data");
        let kvs = data
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(key, value)| KeyValue {
                key: key.clone(),
                value: value.clone(),
                create_revision: 1,
                mod_revision: 1,
                version: 1,
                lease: 0,
            })
            .collect();
        Ok(RangeResult { kvs, revision: 1 })
    }

    async fn put(&self, _: &str, _: Vec<u8>, _: LeaseId) -> Result<Revision, StoreError> {
        unsupported()
    }

    async fn delete(&self, _key: &str) -> Result<Option<Revision>, StoreError> {
        unsupported()
    }

    async fn delete_prefix(&self, _prefix: &str) -> Result<usize, StoreError> {
        unsupported()
    }

    async fn txn(&self, _txn: Txn) -> Result<TxnResponse, StoreError> {
        unsupported()
    }

    async fn watch(&self, prefix: &str, _start: Revision) -> Result<Watcher, StoreError> {
        self.watches.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = mpsc::channel(4);
        self.feeds
            .lock()
            .expect("feeds")
            .push((prefix.to_owned(), tx));
        Ok(Watcher::from_channel(rx))
    }

    async fn lease_grant(&self, _ttl: Duration) -> Result<LeaseId, StoreError> {
        unsupported()
    }

    async fn lease_keepalive(&self, _id: LeaseId) -> Result<Duration, StoreError> {
        unsupported()
    }

    async fn lease_revoke(&self, _id: LeaseId) -> Result<(), StoreError> {
        unsupported()
    }

    async fn compact(&self, _revision: Revision) -> Result<(), StoreError> {
        unsupported()
    }

    async fn revision(&self) -> Result<Revision, StoreError> {
        Ok(1)
    }
}

fn spec(name: &str, version: &str) -> ServiceSpec {
    let mut s = ServiceSpec::new(name, Command::Argv(vec!["x".into()]));
    s.version = version.into();
    s
}

/// A running canary deployment's record with `weights`, as the deployer writes it.
fn deployment(service: &str, weights: &[(&str, u32)]) -> Vec<u8> {
    let weights: BTreeMap<&str, u32> = weights.iter().copied().collect();
    let d = serde_json::json!({
        "id": 1, "service": service, "strategy": "canary", "from": null,
        "to": spec(service, "2"), "status": "running", "reason": "step 1",
        "weights": weights, "started_ms": 0, "updated_ms": 0, "deadline_ms": 0,
    });
    serde_json::to_vec(&d).expect("json")
}

/// Service `svc` at version 1 with one instance of version 1 and one of 2.
fn fleet() -> Arc<Fake> {
    let fake = Arc::new(Fake::default());
    fake.set(spec_key("svc"), encode(&spec("svc", "1")));
    for (id, version, port) in [("a", "1", 1), ("b", "2", 2)] {
        let r = InstanceRecord::new(id, "svc", version, "n", "127.0.0.1", port);
        fake.set(catalog_key("svc", id), encode(&r));
    }
    fake
}

struct Running {
    table: Arc<ArcSwap<RouteTable>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), StoreError>>,
}

fn start(fake: &Arc<Fake>) -> Running {
    let table = Arc::new(ArcSwap::from_pointee(RouteTable::default()));
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(run(fake.clone(), table.clone(), vec![], stop_rx));
    Running { table, stop, task }
}

impl Running {
    /// Waits (on the paused clock) until the table satisfies `f`.
    async fn until(&self, what: &str, f: impl Fn(&RouteTable) -> bool) {
        for _ in 0..60_000 {
            if f(&self.table.load()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("timed out waiting for {what}");
    }

    async fn stop(self) {
        self.stop.send_replace(true);
        let ended = tokio::time::timeout(Duration::from_secs(1), self.task).await;
        assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
    }
}

fn has_svc(t: &RouteTable) -> bool {
    t.services.contains_key("svc")
}

fn weighted(t: &RouteTable) -> Vec<(String, u32)> {
    t.services
        .get("svc")
        .map(|s| s.weighted.clone())
        .unwrap_or_default()
}

#[test]
fn backoff_doubles_to_five_seconds_and_starts_over_after_a_reset() {
    let mut b = Backoff::default();
    let waits: Vec<u64> = (0..9).map(|_| b.fail().as_millis() as u64).collect();
    assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
    b.reset();
    assert_eq!(b.fail(), Duration::from_millis(100));
}

#[tokio::test]
async fn deployment_weights_reach_the_table_and_unreadable_ones_are_skipped() {
    let fake = fleet();
    fake.set(
        deploy_key("svc"),
        deployment("svc", &[("1", 90), ("2", 10)]),
    );
    fake.set(deploy_key("bad"), b"{not json".to_vec());
    let t = snapshot(fake.as_ref(), &[], &RouteTable::default())
        .await
        .expect("snapshot");
    assert_eq!(weighted(&t), [("1".into(), 90), ("2".into(), 100)]);
    assert_eq!(t.services["svc"].current, "1");
}

#[tokio::test(start_paused = true)]
async fn failing_reads_are_retried_with_backoff_until_the_store_answers() {
    let fake = fleet();
    fake.failing_reads.store(3, Ordering::SeqCst);
    let began = Instant::now();
    let r = start(&fake);
    r.until("the table built", has_svc).await;
    let waited = began.elapsed();
    // 100 + 200 + 400 ms of backoff, then the read that works.
    assert!(
        waited >= Duration::from_millis(700) && waited < Duration::from_millis(750),
        "{waited:?}"
    );
    assert_eq!(fake.watches(), 4 * 3, "fresh watches for every attempt");
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_broken_watch_is_opened_again_and_the_table_rebuilt() {
    let fake = fleet();
    let r = start(&fake);
    r.until("the table built", has_svc).await;
    assert_eq!(fake.watches(), 3);
    assert!(weighted(&r.table.load()).is_empty());

    // A deployment is written while the catalog watch breaks: it is read after the backoff.
    fake.set(
        deploy_key("svc"),
        deployment("svc", &[("1", 50), ("2", 50)]),
    );
    let broke = Instant::now();
    let feed = fake.feed(shoal_catalog::CATALOG_PREFIX);
    feed.send(Err(StoreError::Io("watch lost".into())))
        .await
        .expect("send");
    r.until("the weights", |t| !weighted(t).is_empty()).await;
    assert!(broke.elapsed() >= Backoff::FIRST, "{:?}", broke.elapsed());
    assert_eq!(fake.watches(), 6);

    // The new watches deliver changes.
    fake.set(deploy_key("svc"), deployment("svc", &[("2", 1)]));
    let batch = WatchBatch {
        revision: 2,
        events: vec![],
    };
    let feed = fake.feed(shoal_catalog::DEPLOY_PREFIX);
    feed.send(Ok(batch)).await.expect("send");
    r.until("all on 2", |t| weighted(t) == [("2".into(), 1)])
        .await;
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_watch_that_ends_is_opened_again() {
    let fake = fleet();
    let r = start(&fake);
    r.until("the table built", has_svc).await;
    fake.feeds.lock().expect("feeds").clear();
    let ended = Instant::now();
    for _ in 0..1000 {
        if fake.watches() == 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(fake.watches(), 6);
    assert!(ended.elapsed() >= Backoff::FIRST);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_ends_the_watcher_while_it_backs_off() {
    let fake = fleet();
    fake.failing_reads.store(usize::MAX, Ordering::SeqCst);
    let r = start(&fake);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(!has_svc(&r.table.load()));
    assert!(fake.watches() > 3);
    r.stop().await;
}
