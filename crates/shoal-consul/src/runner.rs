//! The background side of the agent API: runs the HTTP, TCP, gRPC and H2PING checks of
//! registered services (one task per check, `probe::run` + `HealthTracker`), keeps alias
//! checks in step with what they alias, turns expired TTL checks critical, deregisters
//! services critical past DeregisterCriticalServiceAfter, keeps their catalog records (and
//! those of catalog-registered nodes) in step, and releases locks of expired sessions.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use shoal_catalog::{catalog_key, decode, encode, InstanceRecord, CATALOG_PREFIX};
use shoal_health::{Health, HealthPolicy, HealthTracker};
use shoal_store::{CmpOp, Compare, KeyValue, Op, Store, Txn};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::catalog_reg::ranges;
use crate::check_model::{CheckDef, CheckRecord, Status};
use crate::error::Result;
use crate::maintenance::affects_routing;
use crate::register::ServiceDef;
use crate::registry::{catalog_record, deregister_service, update_check};
use crate::state::{now_ms, service_key, ConsulState, CHECK_PREFIX, CONSUL_PREFIX, SERVICE_PREFIX};

/// Longest sleep between two passes when nothing changes.
const TICK: Duration = Duration::from_millis(500);

/// Runs until `shutdown` turns true: the check runner and the session reaper.
pub async fn run_checks(state: Arc<ConsulState>, shutdown: watch::Receiver<bool>) {
    let reaper = tokio::spawn(crate::session_end::reap(
        state.store.clone(),
        shutdown.clone(),
    ));
    if let Err(e) = run(&state, shutdown).await {
        tracing::error!(error = %e, "consul check runner stopped");
    }
    reaper.abort();
}

async fn run(st: &ConsulState, mut shutdown: watch::Receiver<bool>) -> Result<()> {
    let mut probes: HashMap<String, (CheckDef, JoinHandle<()>)> = HashMap::new();
    let mut changes = st.store.watch(CONSUL_PREFIX, 0).await?;
    let result = loop {
        if *shutdown.borrow() {
            break Ok(());
        }
        if let Err(e) = pass(st, &mut probes).await {
            tracing::warn!(error = %e, "consul check runner pass failed");
        }
        tokio::select! {
            c = changes.next() => if c.is_none() { break Ok(()) },
            _ = tokio::time::sleep(TICK) => {}
            _ = shutdown.changed() => {}
        }
    };
    for (_, (_, task)) in probes.drain() {
        task.abort();
    }
    result
}

/// One reconcile pass over every registered service and check.
async fn pass(
    st: &ConsulState,
    probes: &mut HashMap<String, (CheckDef, JoinHandle<()>)>,
) -> Result<()> {
    let store = st.store.as_ref();
    // One read: this agent's registrations, the Shoal catalog, and the catalog
    // registrations whose mirrors are kept in it.
    let [reg_nodes, reg_services, reg_checks] = crate::catalog_reg::PREFIXES.map(Op::range);
    let resp = store
        .txn(Txn::new().and_then([
            Op::range(SERVICE_PREFIX),
            Op::range(CHECK_PREFIX),
            Op::range(CATALOG_PREFIX),
            reg_nodes,
            reg_services,
            reg_checks,
        ]))
        .await?;
    let mut r = ranges(resp.responses).into_iter();
    let [services, checks, catalog, reg_nodes, reg_services, reg_checks] =
        [(); 6].map(|()| r.next().unwrap_or_default());
    let registered = [&reg_nodes[..], &reg_services[..], &reg_checks[..]];
    crate::catalog_reg::sync_mirrors(st, registered, &catalog).await?;
    let services: Vec<(KeyValue, ServiceDef)> = services
        .into_iter()
        .filter_map(|kv| decode(&kv.key, &kv.value).ok().map(|d| (kv, d)))
        .collect();
    let checks: Vec<CheckRecord> = checks
        .iter()
        .filter_map(|kv| decode(&kv.key, &kv.value).ok())
        .collect();
    let now = now_ms();

    // Probe tasks: one per HTTP/TCP/gRPC/H2PING check, restarted when its definition changes.
    probes.retain(|id, (def, task)| {
        let keep = checks.iter().any(|c| &c.def.id == id && &c.def == def);
        if !keep {
            task.abort();
        }
        keep
    });
    for c in checks.iter().filter(|c| c.def.kind.is_probed()) {
        if !probes.contains_key(&c.def.id) {
            let task = tokio::spawn(probe(st.store.clone(), c.def.clone()));
            probes.insert(c.def.id.clone(), (c.def.clone(), task));
        }
    }

    for c in checks.iter().filter(|c| c.ttl_expired(now)) {
        update_check(store, &c.def.id, |rec| {
            let expired = rec.ttl_expired(now_ms());
            if expired {
                rec.set(Status::Critical, "TTL expired".into(), now_ms());
            }
            Ok(expired)
        })
        .await?;
        tracing::info!(check = %c.def.id, "consul TTL check expired");
    }

    crate::alias::refresh(st, &checks).await?;

    let mut gone: Vec<&str> = Vec::new();
    for (_, def) in &services {
        if checks
            .iter()
            .any(|c| c.def.service_id == def.id && c.deregister_due(now))
        {
            tracing::warn!(service = %def.name, id = %def.id, "deregistering a service critical past DeregisterCriticalServiceAfter");
            deregister_service(store, &def.id).await?;
            gone.push(&def.id);
        }
    }

    // Catalog mirror: exactly one external record per registered service, health up to date.
    let current: HashMap<String, (&KeyValue, InstanceRecord)> = catalog
        .iter()
        .filter_map(|kv| {
            decode::<InstanceRecord>(&kv.key, &kv.value)
                .ok()
                .map(|r| (kv.key.clone(), (kv, r)))
        })
        // This node's: other nodes' are catalog registrations (`catalog_reg`).
        .filter(|(_, (_, r))| r.external && r.node == st.node)
        .collect();
    let addr = st.address.to_string();
    for (kv, def) in services
        .iter()
        .filter(|(_, d)| !gone.contains(&d.id.as_str()))
    {
        let mine: Vec<&CheckRecord> = checks
            .iter()
            .filter(|c| affects_routing(c, &def.id))
            .collect();
        let want = catalog_record(def, &mine, &st.node, &addr);
        let key = catalog_key(&def.name, &def.id);
        if current.get(&key).is_some_and(|(_, r)| *r == want) {
            continue;
        }
        let guard = Compare::mod_revision(service_key(&def.id), CmpOp::Equal, kv.mod_revision);
        store
            .txn(
                Txn::new()
                    .when([guard])
                    .and_then([Op::put(key, encode(&want))]),
            )
            .await?;
    }
    for (key, (kv, r)) in &current {
        let registered = services
            .iter()
            .any(|(_, d)| d.id == r.id && catalog_key(&d.name, &d.id) == *key);
        if !registered {
            // Guarded by the record's own revision: a registration since our read rewrote it.
            let guard = Compare::mod_revision(key.clone(), CmpOp::Equal, kv.mod_revision);
            store
                .txn(Txn::new().when([guard]).and_then([Op::delete(key.clone())]))
                .await?;
        }
    }
    Ok(())
}

/// Probes one HTTP/TCP/gRPC/H2PING check every interval, writing its status when it changes.
async fn probe(store: Arc<dyn Store>, def: CheckDef) {
    let policy = HealthPolicy {
        healthy_threshold: def.success_before_passing.max(1),
        unhealthy_threshold: def.failures_before_critical.max(1),
        grace: Duration::ZERO,
        restart_after: None,
    };
    let mut tracker = HealthTracker::new(policy, tokio::time::Instant::now());
    let mut ticks = tokio::time::interval(Duration::from_millis(def.interval_ms.max(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let timeout = Duration::from_millis(def.timeout_ms.max(1));
    loop {
        ticks.tick().await;
        let (outcome, output) = crate::probe::run(&def, timeout).await;
        tracker.observe(&outcome, tokio::time::Instant::now());
        let status = match tracker.health() {
            Health::Starting => continue,
            Health::Passing => Status::Passing,
            Health::Warning => Status::Warning,
            Health::Critical => Status::Critical,
        };
        let written = update_check(store.as_ref(), &def.id, |rec| {
            if rec.def != def || (rec.status == status && rec.output == output) {
                return Ok(false);
            }
            rec.set(status, output.clone(), now_ms());
            Ok(true)
        })
        .await;
        match written {
            Ok(Some(rec)) if rec.def == def => {}
            Ok(_) => return, // deregistered or redefined: the runner starts a new probe
            Err(e) => tracing::warn!(check = %def.id, error = %e, "writing a check status failed"),
        }
    }
}
