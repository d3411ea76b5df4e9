//! The supervisor controller: a level-triggered loop that reads desired state
//! from the fleet view (specs, deployments, scale overrides), plans, and starts or
//! stops instance tasks.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use shoal_catalog::{KV_PREFIX, RESTART_PREFIX};
use shoal_deploy::Deployment;
use shoal_fleet::FleetReader;
use shoal_secrets::SECRET_PREFIX;
use shoal_spec::ServiceSpec;
use shoal_store::StoreError;
use shoal_supervisor::PortAllocator;
use tokio::sync::watch;

use crate::decide::{
    decide, deployments_of, newest_fingerprints, resolve_groups, Decision, Resolved,
};
use crate::desired::{groups, GroupSpec};
use crate::instance::{self, Instance, InstanceCtx, Order};
use crate::plan::{Action, Observed};
use crate::rollout::{Announcer, TrafficSource};

/// How long a pass waits for the fleet view to catch up with the store (its own
/// last write included) before it reads the store itself.
const CATCH_UP: Duration = Duration::from_secs(2);

pub struct Controller {
    ctx: Arc<InstanceCtx>,
    fleet: FleetReader,
    traffic: Option<TrafficSource>,
    /// Plan again by then (unix ms), as the last plan asked.
    wake_at_ms: Option<u64>,
    /// Which deployments' step lines are in the event stream.
    announcer: Announcer,
    instances: HashMap<String, Instance>,
    ports: PortAllocator,
    seq: u64,
    /// The last env error per group, so a persisting error is reported once.
    env_errors: HashMap<(String, String), String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl Controller {
    pub fn new(
        ctx: Arc<InstanceCtx>,
        fleet: FleetReader,
        ports: PortAllocator,
        traffic: Option<TrafficSource>,
        announce_since_ms: u64,
    ) -> Self {
        Self {
            ctx,
            fleet,
            traffic,
            wake_at_ms: None,
            announcer: Announcer::new(announce_since_ms),
            instances: HashMap::new(),
            ports,
            seq: 0,
            env_errors: HashMap::new(),
        }
    }

    /// Reconciles on every change of the fleet view (specs, deployments, scale
    /// overrides, the catalog), of kv keys, secrets or restart requests (and once a
    /// second to collect finished tasks) until `shutdown` turns true; then stops every
    /// instance and waits for them.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> Result<(), ControllerError> {
        let store = self.ctx.store.clone();
        let mut fleet = self.fleet.subscribe();
        let mut restarts = store.watch(RESTART_PREFIX, 0).await?;
        let mut kv = store.watch(KV_PREFIX, 0).await?;
        let mut secrets = store.watch(SECRET_PREFIX, 0).await?;
        let changed = self.ctx.changed.clone();
        loop {
            if let Err(e) = self.reconcile().await {
                tracing::error!(error = %e, "reconcile failed");
            }
            // At least once a second (finished tasks are collected), sooner when a plan asked.
            let wake = self.wake_at_ms.map_or(Duration::from_secs(1), |at| {
                Duration::from_millis(at.saturating_sub(crate::now_ms()).clamp(10, 1000))
            });
            tokio::select! {
                // A view that is gone leaves the once-a-second pass (which reads the store).
                Ok(()) = fleet.changed() => {}
                () = tokio::time::sleep(wake) => {}
                _ = instance::next_change(&mut restarts) => {}
                _ = instance::next_change(&mut kv) => {}
                _ = instance::next_change(&mut secrets) => {}
                () = changed.notified() => {}
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
        }
        self.stop_all().await;
        Ok(())
    }

    async fn desired(
        &mut self,
        services: &BTreeMap<String, ServiceSpec>,
        overrides: &BTreeMap<String, u32>,
        deployments: &BTreeMap<String, (Deployment, i64)>,
    ) -> Result<Vec<Resolved>, ControllerError> {
        let newest: HashMap<(String, String), u64> = newest_fingerprints(
            self.instances
                .values()
                .filter(|i| !i.stopping)
                .map(|i| (i.group.key(), i.seq, i.fingerprint)),
        );
        Ok(resolve_groups(
            groups(services, overrides),
            deployments,
            &newest,
            &self.ctx,
            &mut self.env_errors,
        )
        .await)
    }

    async fn reconcile(&mut self) -> Result<(), ControllerError> {
        instance::collect_finished(&mut self.instances, &mut self.ports);
        self.handle_restart_requests().await?;
        // Every write acknowledged so far, this controller's own deployment writes
        // included: planning from a snapshot without them would undo them.
        let fleet = self.fleet.fresh(self.ctx.store.as_ref(), CATCH_UP).await?;
        let services = &fleet.specs;
        let deployments = deployments_of(&fleet);
        self.announcer.announce(&self.ctx.events, &deployments);
        let resolved = self
            .desired(services, &fleet.counts(), &deployments)
            .await?;
        let now = crate::now_ms();
        let observed = self.observed();
        let Decision {
            actions,
            writes,
            wake_at_ms,
        } = decide(
            services,
            &deployments,
            &resolved,
            observed,
            self.traffic.as_ref(),
            now,
        );
        self.wake_at_ms = wake_at_ms;
        self.announcer
            .write_all(self.ctx.store.as_ref(), &self.ctx.events, writes, None)
            .await;
        self.apply(actions, &resolved);
        Ok(())
    }

    fn observed(&self) -> Vec<Observed> {
        self.instances
            .iter()
            .map(|(id, inst)| {
                let (state, health, since) = inst
                    .record
                    .lock()
                    .map(|r| (r.state, r.health, r.healthy_since_ms))
                    .unwrap_or((
                        shoal_catalog::InstanceState::Failed,
                        shoal_catalog::Health::Critical,
                        None,
                    ));
                Observed {
                    id: id.clone(),
                    service: inst.group.service.clone(),
                    group: inst.group.group.clone(),
                    version: inst.group.version.clone(),
                    state,
                    health,
                    healthy_since_ms: since,
                    seq: inst.seq,
                    stopping: inst.stopping,
                    fingerprint: inst.fingerprint,
                }
            })
            .collect()
    }

    fn apply(&mut self, actions: Vec<Action>, resolved: &[Resolved]) {
        for action in actions {
            match action {
                Action::Start { service, group } => {
                    let Some(r) = resolved
                        .iter()
                        .find(|r| r.group.service == service && r.group.group == group)
                    else {
                        continue;
                    };
                    let Some(env) = &r.env else { continue };
                    let rollout = self.instances.values().any(|i| {
                        i.group.key() == r.group.key()
                            && !i.stopping
                            && i.fingerprint != r.group.fingerprint
                    });
                    let (kind, why) = if rollout {
                        (
                            shoal_events::Kind::Rollout,
                            "new spec: starting an instance of it",
                        )
                    } else {
                        (
                            shoal_events::Kind::Scaled,
                            "starting to reach the desired count",
                        )
                    };
                    if let Some(id) = self.start(r.group.clone(), env.clone()) {
                        self.ctx.events.emit(
                            kind,
                            &service,
                            &id,
                            why,
                            serde_json::json!({ "version": r.group.version, "desired": r.group.count, "deployment": r.group.deployment }),
                        );
                    }
                }
                Action::Stop { id, reason } => {
                    if let Some(inst) = self.instances.get_mut(&id) {
                        inst.stopping = true;
                        let _ = inst.orders.try_send(Order::Stop);
                        tracing::info!(instance = %id, reason, "stopping instance");
                        let kind =
                            if reason == crate::plan::SURPLUS || reason == crate::plan::REMOVED {
                                shoal_events::Kind::Scaled
                            } else {
                                shoal_events::Kind::Rollout
                            };
                        self.ctx.events.emit(
                            kind,
                            &inst.group.service,
                            &id,
                            reason,
                            serde_json::json!({ "version": inst.group.version }),
                        );
                    }
                }
            }
        }
    }

    fn start(&mut self, group: GroupSpec, env: Vec<(String, String)>) -> Option<String> {
        let Some(port) = self.ports.allocate() else {
            tracing::error!(service = %group.service, "no free port left in port_range");
            return None;
        };
        self.seq += 1;
        let id = loop {
            let id = instance_id(&group.service, &group.version);
            if !self.instances.contains_key(&id) {
                break id;
            }
        };
        tracing::info!(instance = %id, port, "starting instance");
        let inst = instance::start(self.ctx.clone(), group, env, id.clone(), port, self.seq);
        self.instances.insert(id.clone(), inst);
        Some(id)
    }

    async fn handle_restart_requests(&mut self) -> Result<(), ControllerError> {
        let store = self.ctx.store.clone();
        for kv in store.range(RESTART_PREFIX).await?.kvs {
            let id = kv.key.trim_start_matches(RESTART_PREFIX);
            if let Some(inst) = self.instances.get(id) {
                let order = shoal_catalog::decode(&kv.key, &kv.value)
                    .map_or(Order::Restart, |req| Order::of_request(&req));
                let _ = inst.orders.try_send(order);
            }
            store.delete(&kv.key).await?;
        }
        Ok(())
    }

    async fn stop_all(&mut self) {
        instance::stop_all(&mut self.instances).await;
    }
}

pub(crate) fn instance_id(service: &str, version: &str) -> String {
    let tag: u32 = rand::random::<u32>() & 0xff_ffff;
    format!("{service}-{version}-{tag:06x}")
}
