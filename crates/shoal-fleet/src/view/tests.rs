//! Tests of the view's loop on a fake store that fails on demand and whose watches are
//! channels fed by hand, on a paused clock: backoff, reading again, batching, shutdown.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shoal_catalog::{catalog_key, deploy_key, encode, spec_key, InstanceRecord};
use shoal_spec::{Command, ServiceSpec};
use shoal_store::{
    Event, EventKind, KeyValue, LeaseId, Op, OpResponse, RangeResult, Revision, Store, StoreError,
    Txn, TxnResponse, WatchBatch, Watcher,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{channel, run, run_publishing, Backoff};
use crate::fleet::Fleet;

type Feed = mpsc::Sender<Result<WatchBatch, StoreError>>;

/// Keys in a map at a revision; reads fail while `failing_reads` is above 0; every
/// watch is a channel the test feeds (or breaks) by hand.
#[derive(Default)]
struct Fake {
    data: Mutex<BTreeMap<String, Vec<u8>>>,
    revision: AtomicI64,
    failing_reads: AtomicUsize,
    /// Each watch opened: prefix, start revision, its feed.
    watches: Mutex<Vec<(String, Revision, Feed)>>,
}

impl Fake {
    fn set(&self, key: String, value: Vec<u8>) {
        self.data.lock().expect("data").insert(key, value);
        self.revision.fetch_add(1, Ordering::SeqCst);
    }

    fn watches(&self) -> usize {
        self.watches.lock().expect("watches").len()
    }

    /// The newest watch of `prefix`.
    fn feed(&self, prefix: &str) -> Feed {
        let watches = self.watches.lock().expect("watches");
        let found = watches.iter().rev().find(|(p, _, _)| p == prefix);
        found
            .map(|(_, _, f)| f.clone())
            .expect("a watch of the prefix")
    }

    fn range(&self, prefix: &str) -> Vec<KeyValue> {
        let data = self.data.lock().expect("data");
        data.range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(key, value)| kv(key.clone(), value.clone()))
            .collect()
    }
}

fn kv(key: String, value: Vec<u8>) -> KeyValue {
    KeyValue {
        key,
        value,
        create_revision: 1,
        mod_revision: 1,
        version: 1,
        lease: 0,
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

    async fn range(&self, _prefix: &str) -> Result<RangeResult, StoreError> {
        unsupported()
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

    /// Read-only transactions of ranges only.
    async fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError> {
        let failing = self.failing_reads.load(Ordering::SeqCst);
        if failing > 0 {
            self.failing_reads.store(failing - 1, Ordering::SeqCst);
            return Err(StoreError::Io("disk unplugged".into()));
        }
        let mut responses = Vec::new();
        for op in &txn.success {
            match op {
                Op::Range { prefix } => responses.push(OpResponse::Range(self.range(prefix))),
                _ => return unsupported(),
            }
        }
        Ok(TxnResponse {
            succeeded: true,
            revision: self.revision.load(Ordering::SeqCst),
            responses,
        })
    }

    async fn watch(&self, prefix: &str, start: Revision) -> Result<Watcher, StoreError> {
        let (tx, rx) = mpsc::channel(4);
        self.watches
            .lock()
            .expect("watches")
            .push((prefix.to_owned(), start, tx));
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
        Ok(self.revision.load(Ordering::SeqCst))
    }
}

fn spec(name: &str, version: &str) -> ServiceSpec {
    let mut s = ServiceSpec::new(name, Command::Argv(vec!["x".into()]));
    s.version = version.into();
    s
}

fn record(id: &str) -> InstanceRecord {
    InstanceRecord::new(id, "svc", "1", "n", "127.0.0.1", 1)
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

fn put(revision: Revision, key: String, value: Vec<u8>) -> Result<WatchBatch, StoreError> {
    Ok(WatchBatch {
        revision,
        events: vec![Event {
            kind: EventKind::Put,
            kv: kv(key, value),
            prev: None,
        }],
    })
}

/// Service `svc` at version 1 with instance `a`, at revision 2.
fn fleet() -> Arc<Fake> {
    let fake = Arc::new(Fake::default());
    fake.set(spec_key("svc"), encode(&spec("svc", "1")));
    fake.set(catalog_key("svc", "a"), encode(&record("a")));
    fake
}

struct Running {
    reader: crate::FleetReader,
    fleet: watch::Receiver<Arc<Fleet>>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

fn start(fake: &Arc<Fake>) -> Running {
    let (tx, reader) = channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(run(fake.clone(), tx, async {
        let _ = stopped.await;
    }));
    let fleet = reader.subscribe();
    Running {
        reader,
        fleet,
        stop,
        task,
    }
}

impl Running {
    /// Waits (on the paused clock) until the published fleet satisfies `f`.
    async fn until(&self, what: &str, f: impl Fn(&Fleet) -> bool) {
        for _ in 0..60_000 {
            if f(&self.fleet.borrow()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("timed out waiting for {what}");
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let ended = tokio::time::timeout(Duration::from_secs(1), self.task).await;
        assert!(matches!(ended, Ok(Ok(()))), "{ended:?}");
    }
}

fn read(f: &Fleet) -> bool {
    f.revision > 0
}

fn ids(f: &Fleet) -> Vec<String> {
    f.instances.iter().map(|r| r.id.clone()).collect()
}

#[test]
fn backoff_doubles_to_five_seconds_and_starts_over_after_a_reset() {
    let mut b = Backoff::default();
    let waits: Vec<u64> = (0..9).map(|_| b.fail().as_millis() as u64).collect();
    assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
    b.reset();
    assert_eq!(b.fail(), Duration::from_millis(100));
}

#[tokio::test(start_paused = true)]
async fn the_view_watches_the_store_from_the_revision_after_its_read() {
    let fake = fleet();
    let r = start(&fake);
    r.until("the first read", read).await;
    assert_eq!(r.fleet.borrow().revision, 2);
    assert_eq!(ids(&r.fleet.borrow()), ["a"]);
    let opened: Vec<(String, Revision)> = fake
        .watches
        .lock()
        .expect("watches")
        .iter()
        .map(|(p, rev, _)| (p.clone(), *rev))
        .collect();
    assert_eq!(opened, [(String::new(), 3)], "one watch of everything");
    r.stop().await;
}

/// The view on `fake`, each snapshot it publishes recorded in order.
fn start_recording(fake: &Arc<Fake>) -> (Arc<Mutex<Vec<Fleet>>>, oneshot::Sender<()>) {
    let published = Arc::new(Mutex::new(Vec::new()));
    let (stop, stopped) = oneshot::channel::<()>();
    let record = published.clone();
    let publish = move |f: Option<Fleet>, _through: Revision| {
        record.lock().expect("published").extend(f);
    };
    tokio::spawn(run_publishing(fake.clone(), publish, async {
        let _ = stopped.await;
    }));
    (published, stop)
}

/// Revisions published so far, once the view has nothing left to do.
async fn revisions(published: &Mutex<Vec<Fleet>>) -> Vec<Revision> {
    tokio::time::sleep(Duration::from_millis(10)).await;
    let published = published.lock().expect("published");
    published.iter().map(|f| f.revision).collect()
}

#[tokio::test(start_paused = true)]
async fn changes_ready_together_are_applied_before_one_publish() {
    let fake = fleet();
    let (published, _stop) = start_recording(&fake);
    assert_eq!(revisions(&published).await, [2], "the first read");

    // Sent without yielding: the view finds all three ready when it next runs.
    let catalog = fake.feed("");
    catalog
        .try_send(put(3, catalog_key("svc", "b"), encode(&record("b"))))
        .expect("send");
    catalog
        .try_send(put(4, catalog_key("svc", "c"), encode(&record("c"))))
        .expect("send");
    fake.feed("")
        .try_send(put(5, deploy_key("svc"), deployment("svc", &[("1", 1)])))
        .expect("send");
    assert_eq!(revisions(&published).await, [2, 5], "one publish");
    let last = published.lock().expect("published").last().cloned();
    let last = last.expect("a snapshot");
    assert_eq!(ids(&last), ["a", "b", "c"]);
    assert_eq!(last.weights()["svc"]["1"], 1);

    // Changes that arrive apart are published apart.
    for (rev, id) in [(6, "d"), (7, "e")] {
        catalog
            .try_send(put(rev, catalog_key("svc", id), encode(&record(id))))
            .expect("send");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(revisions(&published).await, [2, 5, 6, 7]);
}

#[tokio::test(start_paused = true)]
async fn failing_reads_are_retried_with_backoff_until_the_store_answers() {
    let fake = fleet();
    fake.failing_reads.store(3, Ordering::SeqCst);
    let began = Instant::now();
    let r = start(&fake);
    r.until("the first read", read).await;
    let waited = began.elapsed();
    // 100 + 200 + 400 ms of backoff, then the read that works.
    assert!(
        waited >= Duration::from_millis(700) && waited < Duration::from_millis(750),
        "{waited:?}"
    );
    assert_eq!(
        fake.watches(),
        1,
        "watches are opened after a read that works"
    );
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_broken_watch_is_followed_by_a_fresh_read_and_fresh_watches() {
    let fake = fleet();
    let r = start(&fake);
    r.until("the first read", read).await;
    assert_eq!(fake.watches(), 1);
    assert!(r.fleet.borrow().weights().is_empty());

    // A deployment is written while the catalog watch breaks: the read after the backoff has it.
    fake.set(
        deploy_key("svc"),
        deployment("svc", &[("1", 50), ("2", 50)]),
    );
    let broke = Instant::now();
    let feed = fake.feed("");
    feed.send(Err(StoreError::Io("watch lost".into())))
        .await
        .expect("send");
    r.until("the weights", |f| !f.weights().is_empty()).await;
    assert!(broke.elapsed() >= Backoff::FIRST, "{:?}", broke.elapsed());
    assert_eq!(r.fleet.borrow().revision, 3);
    assert_eq!(fake.watches(), 2);

    // The new watches deliver changes.
    let feed = fake.feed("");
    feed.send(put(4, deploy_key("svc"), deployment("svc", &[("2", 1)])))
        .await
        .expect("send");
    r.until("all on 2", |f| f.weights()["svc"].keys().eq(["2"]))
        .await;
    assert_eq!(r.fleet.borrow().revision, 4);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_watch_that_ends_is_opened_again() {
    let fake = fleet();
    let r = start(&fake);
    r.until("the first read", read).await;
    // Dropping every feed ends the watches.
    fake.watches.lock().expect("watches").clear();
    let ended = Instant::now();
    for _ in 0..1000 {
        if fake.watches() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(fake.watches(), 1);
    assert!(ended.elapsed() >= Backoff::FIRST);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_last_snapshot_stays_while_the_store_fails_and_shutdown_ends_the_backoff() {
    let fake = fleet();
    let r = start(&fake);
    r.until("the first read", read).await;
    let before = r.fleet.borrow().clone();
    fake.failing_reads.store(usize::MAX, Ordering::SeqCst);
    fake.feed("")
        .send(Err(StoreError::Closed))
        .await
        .expect("send");
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(
        Arc::ptr_eq(&before, &r.fleet.borrow()),
        "no publish while failing"
    );
    assert_eq!(fake.watches(), 1, "no watch without a read");
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn changes_to_other_keys_move_through_without_a_publish() {
    let fake = fleet();
    let r = start(&fake);
    r.until("the first read", read).await;
    let before = r.fleet.borrow().clone();
    assert_eq!(r.reader.through(), 2);
    let feed = fake.feed("");
    feed.send(put(3, "kv/app/colour".into(), b"blue".to_vec()))
        .await
        .expect("send");
    let seen = r.reader.at(3, Duration::from_secs(1)).await;
    let seen = seen.expect("through 3");
    assert!(
        Arc::ptr_eq(&before, &seen),
        "no new snapshot for a kv write"
    );
    assert_eq!(r.reader.through(), 3);

    // A followed key: a snapshot, published before `through` reaches its revision.
    feed.send(put(4, catalog_key("svc", "b"), encode(&record("b"))))
        .await
        .expect("send");
    let seen = r.reader.at(4, Duration::from_secs(1)).await;
    assert_eq!(ids(&seen.expect("through 4")), ["a", "b"]);
    assert_eq!(r.fleet.borrow().revision, 4);

    // A revision the view never reaches: `at` gives up after its timeout.
    assert!(r.reader.at(9, Duration::from_millis(50)).await.is_none());
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn fresh_waits_for_the_store_revision_or_reads_the_store() {
    let fake = fleet();
    let r = start(&fake);
    r.until("the first read", read).await;
    // The store moves to revision 3 and the view has not seen it: `fresh` reads it.
    fake.set(catalog_key("svc", "z"), encode(&record("z")));
    let f = r
        .reader
        .fresh(fake.as_ref(), Duration::from_millis(50))
        .await
        .expect("fresh");
    assert_eq!(ids(&f), ["a", "z"]);
    assert_eq!(f.revision, 3);
    // Once the view has it, `fresh` answers from the view.
    fake.feed("")
        .send(put(3, catalog_key("svc", "z"), encode(&record("z"))))
        .await
        .expect("send");
    let f = r
        .reader
        .fresh(fake.as_ref(), Duration::from_secs(1))
        .await
        .expect("fresh");
    assert!(Arc::ptr_eq(&f, &r.fleet.borrow()));
    r.stop().await;
}
