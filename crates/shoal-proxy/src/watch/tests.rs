//! Tests of the route table follower: tables built from fleet snapshots (weights from
//! deployments, live state carried over), a rebuild per snapshot, and its ends. The
//! store side (reads, watches, backoff) is tested in `shoal-fleet`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use shoal_catalog::InstanceRecord;
use shoal_fleet::Fleet;
use shoal_spec::{Command, ServiceSpec};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::{build, follow};
use crate::table::RouteTable;

fn spec(name: &str, version: &str) -> ServiceSpec {
    let mut s = ServiceSpec::new(name, Command::Argv(vec!["x".into()]));
    s.version = version.into();
    s
}

/// Service `svc` at version 1 with one instance of version 1 and one of 2, at `revision`,
/// its deployment weighing `weights` (none: no deployment).
fn fleet(revision: i64, weights: &[(&str, u32)]) -> Fleet {
    let mut f = Fleet {
        revision,
        ..Fleet::default()
    };
    f.specs.insert("svc".into(), spec("svc", "1"));
    for (id, version, port) in [("a", "1", 1), ("b", "2", 2)] {
        let r = InstanceRecord::new(id, "svc", version, "n", "127.0.0.1", port);
        f.instances.push(r);
    }
    if !weights.is_empty() {
        let weights: BTreeMap<&str, u32> = weights.iter().copied().collect();
        let d = serde_json::json!({
            "id": 1, "service": "svc", "strategy": "canary", "from": null,
            "to": spec("svc", "2"), "status": "running", "reason": "step 1",
            "weights": weights, "started_ms": 0, "updated_ms": 0, "deadline_ms": 0,
        });
        let d = serde_json::from_value(d).expect("a deployment");
        f.deployments.insert("svc".into(), d);
    }
    f
}

fn weighted(t: &RouteTable) -> Vec<(String, u32)> {
    t.services
        .get("svc")
        .map(|s| s.weighted.clone())
        .unwrap_or_default()
}

struct Running {
    fleet: watch::Sender<Arc<Fleet>>,
    table: Arc<ArcSwap<RouteTable>>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

fn start(first: Fleet) -> Running {
    let (fleet, rx) = watch::channel(Arc::new(first));
    let table = Arc::new(ArcSwap::from_pointee(RouteTable::default()));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(follow(rx, table.clone(), vec!["shoal".into()], async {
        let _ = stopped.await;
    }));
    Running {
        fleet,
        table,
        stop,
        task,
    }
}

impl Running {
    /// Waits (on the paused clock) until the table satisfies `f`.
    async fn until(&self, what: &str, f: impl Fn(&RouteTable) -> bool) {
        for _ in 0..10_000 {
            if f(&self.table.load()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("timed out waiting for {what}");
    }
}

async fn ended(task: JoinHandle<()>) {
    let ended = tokio::time::timeout(Duration::from_secs(1), task).await;
    assert!(matches!(ended, Ok(Ok(()))), "{ended:?}");
}

#[test]
fn deployment_weights_reach_the_table() {
    let t = build(
        &fleet(3, &[("1", 90), ("2", 10)]),
        &[],
        &RouteTable::default(),
    );
    assert_eq!(weighted(&t), [("1".into(), 90), ("2".into(), 100)]);
    assert_eq!(t.services["svc"].current, "1");
    let t = build(&fleet(3, &[]), &[], &t);
    assert!(
        weighted(&t).is_empty(),
        "no deployment: the current version"
    );
}

#[tokio::test(start_paused = true)]
async fn the_table_follows_each_snapshot_and_keeps_live_state() {
    let r = start(fleet(2, &[]));
    r.until("the first table", |t| t.services.contains_key("svc"))
        .await;
    let state = r.table.load().services["svc"].state.clone();

    r.fleet
        .send_replace(Arc::new(fleet(3, &[("1", 50), ("2", 50)])));
    r.until("the weights", |t| !weighted(t).is_empty()).await;
    assert!(
        Arc::ptr_eq(&state, &r.table.load().services["svc"].state),
        "breakers, limits and load carry over"
    );

    r.fleet.send_replace(Arc::new(Fleet {
        revision: 4,
        ..Fleet::default()
    }));
    r.until("svc gone", |t| t.services.is_empty()).await;
    let _ = r.stop.send(());
    ended(r.task).await;
}

#[tokio::test(start_paused = true)]
async fn the_follower_ends_when_the_view_is_gone() {
    let r = start(fleet(2, &[]));
    r.until("the first table", |t| t.services.contains_key("svc"))
        .await;
    drop(r.fleet);
    ended(r.task).await;
    assert!(
        r.table.load().services.contains_key("svc"),
        "the last table stays"
    );
}
