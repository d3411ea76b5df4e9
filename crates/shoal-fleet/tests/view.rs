//! The fleet view against a real embedded store on disk (a tempdir): the first snapshot,
//! puts and deletes of each kind, a burst of concurrent writes, transactions across the
//! prefixes, and revisions that only go forward.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use shoal_catalog::{catalog_key, deploy_key, encode, spec_key, InstanceRecord};
use shoal_fleet::Fleet;
use shoal_spec::{Command, ServiceSpec};
use shoal_store::{EmbeddedOptions, EmbeddedStore, Op, Store, Txn};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

fn spec(name: &str, version: &str) -> ServiceSpec {
    let mut s = ServiceSpec::new(name, Command::Argv(vec!["x".into()]));
    s.version = version.into();
    s
}

fn record(service: &str, id: &str, port: u16) -> InstanceRecord {
    InstanceRecord::new(id, service, "1", "n", "127.0.0.1", port)
}

/// A running deployment of `service` with `weights`, as the deployer writes it.
fn deployment(service: &str, weights: &[(&str, u32)]) -> Vec<u8> {
    let weights: BTreeMap<&str, u32> = weights.iter().copied().collect();
    let d = serde_json::json!({
        "id": 1, "service": service, "strategy": "canary", "from": null,
        "to": spec(service, "2"), "status": "running", "reason": "step 1",
        "weights": weights, "started_ms": 0, "updated_ms": 0, "deadline_ms": 0,
    });
    serde_json::to_vec(&d).expect("json")
}

struct Running {
    _dir: tempfile::TempDir,
    store: Arc<EmbeddedStore>,
    fleet: watch::Receiver<Arc<Fleet>>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

async fn open() -> (tempfile::TempDir, Arc<EmbeddedStore>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(&dir.path().join("store.redb"), EmbeddedOptions::default())
        .await
        .expect("store");
    (dir, store)
}

fn start(dir: tempfile::TempDir, store: Arc<EmbeddedStore>) -> Running {
    let (stop, stopped) = oneshot::channel::<()>();
    let dyn_store: Arc<dyn Store> = store.clone();
    let (fleet, view) = shoal_fleet::start(dyn_store, async {
        let _ = stopped.await;
    });
    let task = tokio::spawn(view);
    Running {
        _dir: dir,
        store,
        fleet: fleet.subscribe(),
        stop,
        task,
    }
}

impl Running {
    async fn put(&self, key: String, value: Vec<u8>) {
        self.store.put(&key, value, 0).await.expect("put");
    }

    async fn delete(&self, key: String) {
        self.store.delete(&key).await.expect("delete");
    }

    /// Waits until the published fleet satisfies `f`; returns it.
    async fn until(&mut self, what: &str, f: impl Fn(&Fleet) -> bool) -> Arc<Fleet> {
        let waited = tokio::time::timeout(Duration::from_secs(10), self.fleet.wait_for(|x| f(x)))
            .await
            .map(|got| got.map(|fleet| fleet.clone()));
        match waited {
            Ok(Ok(fleet)) => fleet,
            _ => panic!("timed out waiting for {what}: {:#?}", self.fleet.borrow()),
        }
    }

    /// Waits until the view has caught up with every write, and checks it holds
    /// what a fresh read of the store holds.
    async fn caught_up(&mut self) -> Arc<Fleet> {
        let head = self.store.revision().await.expect("revision");
        let seen = self
            .until("the store's revision", |f| f.revision >= head)
            .await;
        let fresh = shoal_fleet::read(self.store.as_ref()).await.expect("read");
        assert_eq!(*seen, fresh, "the view is what a fresh read decodes");
        seen
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let ended = tokio::time::timeout(Duration::from_secs(5), self.task).await;
        assert!(matches!(ended, Ok(Ok(()))), "{ended:?}");
        self.store.close().await;
    }
}

fn ids(f: &Fleet) -> Vec<String> {
    f.instances
        .iter()
        .map(|r| format!("{}/{}", r.service, r.id))
        .collect()
}

#[tokio::test]
async fn the_first_snapshot_is_the_store_at_one_revision_without_unreadable_records() {
    let (dir, store) = open().await;
    for (key, value) in [
        (spec_key("web"), encode(&spec("web", "1"))),
        (spec_key("api"), encode(&spec("api", "7"))),
        (spec_key("broken"), b"{not json".to_vec()),
        (
            deploy_key("web"),
            deployment("web", &[("1", 90), ("2", 10)]),
        ),
        (deploy_key("broken"), b"[]".to_vec()),
        (catalog_key("web", "w2"), encode(&record("web", "w2", 2))),
        (catalog_key("web", "w1"), encode(&record("web", "w1", 1))),
        (catalog_key("api", "a1"), encode(&record("api", "a1", 3))),
        (catalog_key("web", "garbled"), b"\xff".to_vec()),
        ("shoal/scale/web".to_string(), b"{}".to_vec()),
    ] {
        store.put(&key, value, 0).await.expect("put");
    }
    let mut r = start(dir, store);
    let first = r.caught_up().await;
    assert_eq!(first.revision, 11, "ten writes on an empty store at 1");
    assert_eq!(first.specs.keys().collect::<Vec<_>>(), ["api", "web"]);
    assert_eq!(first.specs["api"].version, "7");
    assert_eq!(first.deployments.keys().collect::<Vec<_>>(), ["web"]);
    assert_eq!(first.weights()["web"]["2"], 10);
    assert_eq!(ids(&first), ["api/a1", "web/w1", "web/w2"]);
    assert_eq!(first.instances_of("web").len(), 2);
    r.stop().await;
}

#[tokio::test]
async fn puts_and_deletes_of_each_kind_show_up() {
    let (dir, store) = open().await;
    let mut r = start(dir, store);
    let empty = r.until("the first read", |f| f.revision > 0).await;
    assert_eq!(
        *empty,
        Fleet {
            revision: 1,
            ..Fleet::default()
        }
    );

    r.put(spec_key("web"), encode(&spec("web", "1"))).await;
    r.until("the spec", |f| f.specs.contains_key("web")).await;
    r.put(spec_key("web"), encode(&spec("web", "2"))).await;
    r.until("the spec replaced", |f| f.specs["web"].version == "2")
        .await;

    r.put(deploy_key("web"), deployment("web", &[("2", 1)]))
        .await;
    r.until("the deployment", |f| f.deployments.contains_key("web"))
        .await;

    r.put(catalog_key("web", "a"), encode(&record("web", "a", 1)))
        .await;
    r.put(catalog_key("web", "b"), encode(&record("web", "b", 2)))
        .await;
    r.until("two instances", |f| f.instances.len() == 2).await;
    r.put(catalog_key("web", "a"), encode(&record("web", "a", 9)))
        .await;
    r.until("a replaced", |f| f.instances[0].port == 9).await;
    // A record that stops decoding leaves the view.
    r.put(catalog_key("web", "b"), b"{".to_vec()).await;
    r.until("b unreadable", |f| ids(f) == ["web/a"]).await;
    r.caught_up().await;

    r.delete(catalog_key("web", "a")).await;
    r.until("a gone", |f| f.instances.is_empty()).await;
    r.delete(deploy_key("web")).await;
    r.until("the deployment gone", |f| f.deployments.is_empty())
        .await;
    r.delete(spec_key("web")).await;
    r.until("the spec gone", |f| f.specs.is_empty()).await;
    let last = r.caught_up().await;
    assert_eq!(ids(&last), Vec::<String>::new());
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_writes_ends_in_the_stores_state_through_increasing_revisions() {
    let (dir, store) = open().await;
    let mut r = start(dir, store.clone());
    r.until("the first read", |f| f.revision > 0).await;

    // Every revision a subscriber is shown is newer than the one before.
    let mut sub = r.fleet.clone();
    let seen = tokio::spawn(async move {
        let mut revisions = vec![sub.borrow_and_update().revision];
        while sub.changed().await.is_ok() {
            revisions.push(sub.borrow_and_update().revision);
        }
        revisions
    });

    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..150u16 {
                    let svc = format!("s{}", i % 5);
                    let id = format!("w{w}-{}", i % 7);
                    let key = catalog_key(&svc, &id);
                    match i % 6 {
                        0 => store.delete(&key).await.map(|_| 0),
                        1 => {
                            store
                                .put(&spec_key(&svc), encode(&spec(&svc, &i.to_string())), 0)
                                .await
                        }
                        2 => {
                            store
                                .put(&deploy_key(&svc), deployment(&svc, &[("1", i.into())]), 0)
                                .await
                        }
                        3 if i % 4 == 3 => store.delete(&deploy_key(&svc)).await.map(|_| 0),
                        _ => store.put(&key, encode(&record(&svc, &id, i)), 0).await,
                    }
                    .expect("write");
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer");
    }
    let last = r.caught_up().await;
    assert!(!last.instances.is_empty() && !last.specs.is_empty());
    r.stop().await;

    let revisions = seen.await.expect("subscriber");
    assert!(revisions.len() > 1, "{revisions:?}");
    assert!(
        revisions.windows(2).all(|w| w[0] < w[1]),
        "revisions only increase: {revisions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_across_prefixes_is_published_in_one_snapshot() {
    let (dir, store) = open().await;
    let mut r = start(dir, store.clone());
    r.until("the first read", |f| f.revision > 0).await;

    // Every snapshot shown has the spec and the deployment of one transaction.
    let mut sub = r.fleet.clone();
    let checked = tokio::spawn(async move {
        let mut torn = Vec::new();
        let mut snapshots = 0;
        while sub.changed().await.is_ok() {
            let f = sub.borrow_and_update().clone();
            snapshots += 1;
            let version = f.specs.get("web").map(|s| s.version.clone());
            let weighted = f
                .weights()
                .get("web")
                .and_then(|w| w.keys().next().cloned());
            if version != weighted {
                torn.push((f.revision, version, weighted));
            }
        }
        (snapshots, torn)
    });
    for n in 1..=40u32 {
        let v = n.to_string();
        let txn = Txn::new().and_then([
            Op::put(spec_key("web"), encode(&spec("web", &v))),
            Op::put(deploy_key("web"), deployment("web", &[(&v, 1)])),
        ]);
        store.txn(txn).await.expect("txn");
    }
    let last = r.caught_up().await;
    assert_eq!(last.specs["web"].version, "40");
    r.stop().await;
    let (snapshots, torn) = checked.await.expect("subscriber");
    assert!(snapshots > 0);
    assert!(torn.is_empty(), "torn snapshots: {torn:?}");
}
