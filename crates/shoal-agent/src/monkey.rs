//! The chaos monkey's loop: kills an instance of a service under a kill experiment
//! when one is due (a kill request in the store, carried out by the instance's agent
//! as a crash), and ends every experiment whose time is up, each with an event.
//! The decisions are `shoal_chaos::{due, victim}`; this is the thin I/O around them.
//! In a cluster it runs on every node and acts only while its node leads, with
//! its writes fenced by the leadership (a stale leader kills nobody).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use shoal_catalog::{chaos_key, encode, now_ms, restart_key, RestartRequest};
use shoal_chaos::{Experiment, Fault};
use shoal_cluster::Leadership;
use shoal_events::{EventLog, Kind};
use shoal_fleet::{Fleet, FleetReader};
use shoal_store::{Op, OpResponse, Store, StoreError, Txn};
use tokio::sync::watch;

/// How often the monkey looks at the clock between fleet changes.
const TICK: Duration = Duration::from_millis(100);

/// Runs until `stop` turns true. With `leading` (cluster mode), it acts only while
/// that says this node leads.
pub async fn run_monkey(
    store: Arc<dyn Store>,
    fleet: FleetReader,
    events: Arc<EventLog>,
    leading: Option<watch::Receiver<Option<Leadership>>>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), StoreError> {
    // When each kill experiment last killed (or found the service at its floor).
    let mut last: HashMap<String, u64> = HashMap::new();
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let snap = fleet.current();
        // One node: plain writes. A cluster: fenced writes while this node leads;
        // while another node leads, its monkey acts.
        let lead = leading.as_ref().map(|l| l.borrow().clone());
        match &lead {
            None => pass(store.as_ref(), &snap, &events, &mut last, Writer(None)).await?,
            Some(Some(l)) => {
                pass(store.as_ref(), &snap, &events, &mut last, Writer(Some(l))).await?
            }
            Some(None) => last.clear(),
        }
        last.retain(|id, _| snap.chaos.contains_key(id));
        tokio::select! {
            () = tokio::time::sleep(TICK) => {}
            _ = stop.changed() => {}
        }
    }
}

/// How the monkey writes: plainly on one node, fenced by the leadership in a cluster.
struct Writer<'a>(Option<&'a Leadership>);

impl Writer<'_> {
    /// Runs `op` (fenced in a cluster); its response, or `None` when the guard failed.
    async fn run(&self, store: &dyn Store, op: Op) -> Result<Option<OpResponse>, StoreError> {
        let txn = Txn {
            compare: Vec::new(),
            success: vec![op],
            failure: Vec::new(),
        };
        let txn = match self.0 {
            Some(lead) => lead.fence(txn),
            None => txn,
        };
        let r = store.txn(txn).await?;
        Ok(r.succeeded
            .then(|| r.responses.into_iter().next())
            .flatten())
    }
}

async fn pass(
    store: &dyn Store,
    snap: &Fleet,
    events: &EventLog,
    last: &mut HashMap<String, u64>,
    w: Writer<'_>,
) -> Result<(), StoreError> {
    let now = now_ms();
    for e in snap.chaos.values() {
        if !e.active(now) {
            end(store, events, e, &w).await?;
            continue;
        }
        let Fault::Kill { floor, .. } = e.fault else {
            continue;
        };
        if !shoal_chaos::due(e, last.get(&e.id).copied(), now) {
            continue;
        }
        last.insert(e.id.clone(), now);
        let serving: Vec<&str> = snap
            .instances_of(&e.service)
            .iter()
            .filter(|r| !r.external && r.is_routable() && snap.node_is_live(&r.node))
            .map(|r| r.id.as_str())
            .collect();
        let Some(victim) = shoal_chaos::victim(&serving, floor, &mut rand::rng()) else {
            tracing::debug!(experiment = %e.id, service = %e.service, serving = serving.len(), floor, "chaos: at the floor, nobody killed");
            continue;
        };
        let req = RestartRequest {
            requested_ms: now,
            kill: true,
        };
        if w.run(store, Op::put(restart_key(victim), encode(&req)))
            .await?
            .is_none()
        {
            tracing::debug!(experiment = %e.id, "chaos: no longer leading, nobody killed");
            return Ok(());
        }
        tracing::info!(experiment = %e.id, instance = %victim, "chaos: killing an instance");
        events.emit(
            Kind::Chaos,
            &e.service,
            victim,
            format!("chaos {} killed {victim} ({})", e.id, e.fault.describe()),
            serde_json::json!({ "experiment": e.id, "action": "kill", "serving": serving.len(), "floor": floor }),
        );
    }
    Ok(())
}

/// Deletes an ended experiment; the one whose delete removed it says so.
async fn end(
    store: &dyn Store,
    events: &EventLog,
    e: &Experiment,
    w: &Writer<'_>,
) -> Result<(), StoreError> {
    let removed = matches!(
        w.run(store, Op::delete(chaos_key(&e.id))).await?,
        Some(OpResponse::Delete { deleted }) if !deleted.is_empty()
    );
    if removed {
        tracing::info!(experiment = %e.id, "chaos experiment ended");
        events.emit(
            Kind::Chaos,
            &e.service,
            "",
            format!("chaos {} ended: {} on {}", e.id, e.fault.describe(), e.target()),
            serde_json::json!({ "experiment": e.id, "action": "end", "fault": e.fault, "caller": e.caller }),
        );
    }
    Ok(())
}
