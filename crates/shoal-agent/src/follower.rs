//! A node's side of cluster mode: runs exactly the instances the leader placed on this
//! node (`shoal/placement/<node>/`), each under its placed id, and stops any instance whose
//! placement is gone. Health, restarts and the catalog record are the instance task's, as
//! with `shoal up`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use shoal_catalog::{decode, placement_node_prefix, PlacementRecord, RESTART_PREFIX};
use shoal_spec::ServiceSpec;
use shoal_store::StoreError;
use shoal_supervisor::PortAllocator;
use tokio::sync::watch;

use crate::desired::{groups, GroupSpec};
use crate::instance::{self, Instance, InstanceCtx, Order};

pub struct Follower {
    ctx: Arc<InstanceCtx>,
    instances: HashMap<String, Instance>,
    ports: PortAllocator,
    seq: u64,
    /// The last start error per placement, so a persisting one is logged once.
    errors: HashMap<String, String>,
}

impl Follower {
    pub fn new(ctx: Arc<InstanceCtx>, ports: PortAllocator) -> Self {
        Self {
            ctx,
            instances: HashMap::new(),
            ports,
            seq: 0,
            errors: HashMap::new(),
        }
    }

    /// Follows this node's placements until `shutdown` turns true; then stops every
    /// instance and waits for them.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> Result<(), StoreError> {
        let store = self.ctx.store.clone();
        let prefix = placement_node_prefix(&self.ctx.node);
        let mut placements = store.watch(&prefix, 0).await?;
        let mut restarts = store.watch(RESTART_PREFIX, 0).await?;
        loop {
            if let Err(e) = self.pass(&prefix).await {
                tracing::warn!(error = %e, "placement pass failed");
            }
            tokio::select! {
                _ = instance::next_change(&mut placements) => {}
                _ = instance::next_change(&mut restarts) => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                break;
            }
        }
        instance::stop_all(&mut self.instances).await;
        Ok(())
    }

    async fn pass(&mut self, prefix: &str) -> Result<(), StoreError> {
        instance::collect_finished(&mut self.instances, &mut self.ports);
        let store = self.ctx.store.clone();
        for kv in store.range(RESTART_PREFIX).await?.kvs {
            let id = kv.key.trim_start_matches(RESTART_PREFIX);
            if let Some(inst) = self.instances.get(id) {
                let order = decode(&kv.key, &kv.value)
                    .map_or(Order::Restart, |req| Order::of_request(&req));
                let _ = inst.orders.try_send(order);
                store.delete(&kv.key).await?;
            }
        }
        let mut wanted: BTreeMap<String, PlacementRecord> = BTreeMap::new();
        for kv in store.range(prefix).await?.kvs {
            match decode::<PlacementRecord>(&kv.key, &kv.value) {
                Ok(p) => {
                    wanted.insert(p.id.clone(), p);
                }
                Err(e) => tracing::warn!(error = %e, "skipping a placement that does not decode"),
            }
        }
        for (id, inst) in self.instances.iter_mut() {
            if !inst.stopping && !wanted.contains_key(id) {
                inst.stopping = true;
                let _ = inst.orders.try_send(Order::Stop);
                tracing::info!(instance = %id, "stopping instance: its placement is gone");
                self.ctx.events.emit(
                    shoal_events::Kind::Scaled,
                    &inst.group.service,
                    id,
                    "stopping: no longer placed on this node",
                    serde_json::json!({ "version": inst.group.version, "node": self.ctx.node }),
                );
            }
        }
        for (id, p) in wanted {
            if self.instances.contains_key(&id) {
                continue;
            }
            match self.start(&p).await {
                Ok(()) => {
                    self.errors.remove(&id);
                }
                Err(msg) => {
                    if self.errors.get(&id) != Some(&msg) {
                        tracing::warn!(instance = %id, error = %msg, "cannot start a placed instance");
                        self.ctx.logs.append(
                            &p.service,
                            &p.version,
                            &id,
                            shoal_logs::Stream::System,
                            &format!("cannot start: {msg}"),
                        );
                        self.errors.insert(id, msg);
                    }
                }
            }
        }
        Ok(())
    }

    async fn start(&mut self, p: &PlacementRecord) -> Result<(), String> {
        let group = group_of(p)?;
        let env = crate::env::resolve(
            &group.env,
            self.ctx.store.as_ref(),
            self.ctx.keyring.as_deref(),
        )
        .await
        .map_err(|e| e.to_string())?;
        let port = self
            .ports
            .allocate()
            .ok_or_else(|| "no free port left in port_range".to_string())?;
        self.seq += 1;
        tracing::info!(instance = %p.id, port, "starting placed instance");
        let inst = instance::start(self.ctx.clone(), group, env, p.id.clone(), port, self.seq);
        self.ctx.events.emit(
            shoal_events::Kind::Scaled,
            &p.service,
            &p.id,
            "starting: placed on this node",
            serde_json::json!({ "version": p.version, "node": self.ctx.node, "deployment": p.deployment }),
        );
        self.instances.insert(p.id.clone(), inst);
        Ok(())
    }
}

/// The group a placement runs: its service spec's main line or the side version it names,
/// with the leader's fingerprint and deployment (so every node's catalog agrees).
fn group_of(p: &PlacementRecord) -> Result<GroupSpec, String> {
    let spec: ServiceSpec = serde_json::from_value(p.spec.clone())
        .map_err(|e| format!("placement {} holds no valid spec: {e}", p.id))?;
    let services = BTreeMap::from([(p.service.clone(), spec)]);
    let mut group = groups(&services, &BTreeMap::new())
        .into_iter()
        .find(|g| g.group == p.group)
        .ok_or_else(|| format!("the spec of {} has no version {:?}", p.service, p.group))?;
    group.fingerprint = p.fingerprint;
    group.deployment = p.deployment;
    Ok(group)
}
