//! The chaos monkey's loop: kills an instance of a service under a kill experiment
//! when one is due (a kill request in the store, carried out by the instance's agent
//! as a crash), and ends every experiment whose time is up, each with an event.
//! The decisions are `shoal_chaos::{due, victim}`; this is the thin I/O around them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use shoal_catalog::{chaos_key, encode, now_ms, restart_key, RestartRequest};
use shoal_chaos::{Experiment, Fault};
use shoal_events::{EventLog, Kind};
use shoal_fleet::{Fleet, FleetReader};
use shoal_store::{Store, StoreError};
use tokio::sync::watch;

/// How often the monkey looks at the clock between fleet changes.
const TICK: Duration = Duration::from_millis(100);

/// Runs until `stop` turns true.
pub async fn run_monkey(
    store: Arc<dyn Store>,
    fleet: FleetReader,
    events: Arc<EventLog>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), StoreError> {
    // When each kill experiment last killed (or found the service at its floor).
    let mut last: HashMap<String, u64> = HashMap::new();
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let snap = fleet.current();
        pass(store.as_ref(), &snap, &events, &mut last).await?;
        last.retain(|id, _| snap.chaos.contains_key(id));
        tokio::select! {
            () = tokio::time::sleep(TICK) => {}
            _ = stop.changed() => {}
        }
    }
}

async fn pass(
    store: &dyn Store,
    snap: &Fleet,
    events: &EventLog,
    last: &mut HashMap<String, u64>,
) -> Result<(), StoreError> {
    let now = now_ms();
    for e in snap.chaos.values() {
        if !e.active(now) {
            end(store, events, e).await?;
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
        store.put(&restart_key(victim), encode(&req), 0).await?;
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
async fn end(store: &dyn Store, events: &EventLog, e: &Experiment) -> Result<(), StoreError> {
    if store.delete(&chaos_key(&e.id)).await?.is_some() {
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
