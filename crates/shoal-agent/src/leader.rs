//! The cluster leader's controller (cluster mode, one per cluster, while elected): the same
//! pure decision as the local controller (`decide`), read from every node's instances and
//! applied as placements: a new instance is a `shoal/placement/<node>/<id>` record on the
//! node the scheduler picks, a stopped one is its record deleted. Every placement and
//! deployment write is fenced by the leadership, so a leader that lost its key changes nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use shoal_catalog::{
    catalog_key, decode, encode, placement_key, Health, InstanceState, PlacementRecord,
    PLACEMENT_PREFIX,
};
use shoal_cluster::Leadership;
use shoal_fleet::FleetReader;
use shoal_schedule::{Constraint, Group, Node, NodeStatus, Placement, Resources};
use shoal_store::{Op, StoreError, Txn};
use tokio::sync::watch;

use crate::decide::{
    decide, deployments_of, newest_fingerprints, resolve_groups, Decision, Resolved,
};
use crate::desired::groups;
use crate::instance::InstanceCtx;
use crate::numbers::{numbers_key, signals_key, ClusterNumbers, NUMBERS_PREFIX};
use crate::plan::{Action, Observed};
use crate::rollout::{Announcer, Traffic, TrafficSource};

/// How long a pass waits for the fleet view to catch up with the store.
const CATCH_UP: Duration = Duration::from_secs(2);

/// What the leader's controller needs besides the store.
pub struct LeaderConfig {
    pub fleet: FleetReader,
    /// A node whose lease is gone is Lost after this: its instances are placed elsewhere.
    pub grace: Duration,
    pub announce_since_ms: u64,
}

pub struct Leader {
    ctx: Arc<InstanceCtx>,
    cfg: LeaderConfig,
    env_errors: HashMap<(String, String), String>,
    announcer: Announcer,
    wake_at_ms: Option<u64>,
    /// Since when (unix ms, this leader's clock) each node has been seen without its live
    /// record: the grace period runs from there, not from the node's last own write.
    missing_since: HashMap<String, u64>,
    /// The last reason each service could not be placed, so it is said once.
    unplaced: HashMap<String, String>,
    /// Every node's request numbers, read when a canary is to be judged.
    numbers: ClusterNumbers,
    /// Lost nodes whose published records this leader deleted.
    cleared: std::collections::HashSet<String>,
}

/// A placement as read, with the key it is at.
struct Placed {
    key: String,
    record: PlacementRecord,
}

impl Leader {
    pub fn new(ctx: Arc<InstanceCtx>, cfg: LeaderConfig) -> Self {
        let since = cfg.announce_since_ms;
        Self {
            ctx,
            cfg,
            env_errors: HashMap::new(),
            announcer: Announcer::new(since),
            wake_at_ms: None,
            missing_since: HashMap::new(),
            unplaced: HashMap::new(),
            numbers: ClusterNumbers::default(),
            cleared: std::collections::HashSet::new(),
        }
    }

    /// Plans while this node leads (`leadership` holds `Some`), on every change of the
    /// fleet, the nodes or the placements, and at least once a second; idles otherwise.
    pub async fn run(
        mut self,
        mut leadership: watch::Receiver<Option<Leadership>>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut fleet = self.cfg.fleet.subscribe();
        loop {
            let lead = leadership.borrow().clone();
            if let Some(lead) = &lead {
                if let Err(e) = self.pass(lead).await {
                    tracing::warn!(error = %e, "cluster controller pass failed");
                }
            }
            let wake = self.wake_at_ms.map_or(Duration::from_secs(1), |at| {
                Duration::from_millis(at.saturating_sub(crate::now_ms()).clamp(10, 1000))
            });
            let changed = self.ctx.changed.clone();
            tokio::select! {
                Ok(()) = fleet.changed() => {}
                Ok(()) = leadership.changed() => {}
                () = changed.notified() => {}
                () = tokio::time::sleep(wake) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                break;
            }
        }
    }

    async fn pass(&mut self, lead: &Leadership) -> Result<(), StoreError> {
        let store = self.ctx.store.clone();
        let fleet = self.cfg.fleet.fresh(store.as_ref(), CATCH_UP).await?;
        let now = crate::now_ms();
        let mut nodes = shoal_cluster::read_nodes(store.as_ref())
            .await?
            .statuses(now, self.cfg.grace);
        self.hold_grace(&mut nodes, now);
        let mut placed = read_placements(store.as_ref()).await?;

        // Instances on lost (or unknown) nodes are gone: their placements go, and the
        // plans below place what is missing on the nodes that are left.
        let status: BTreeMap<&str, NodeStatus> =
            nodes.iter().map(|n| (n.name.as_str(), n.status)).collect();
        let (gone, kept): (Vec<Placed>, Vec<Placed>) = placed.drain(..).partition(|p| {
            matches!(
                status.get(p.record.node.as_str()),
                None | Some(NodeStatus::Lost)
            )
        });
        if !gone.is_empty() {
            // Its catalog records go too: no gateway sends traffic there any more.
            let ops = gone
                .iter()
                .flat_map(|p| {
                    [
                        Op::delete(&p.key),
                        Op::delete(catalog_key(&p.record.service, &p.record.id)),
                    ]
                })
                .collect();
            if fenced(store.as_ref(), lead, ops).await? {
                for p in &gone {
                    self.ctx.events.emit(
                        shoal_events::Kind::Scaled,
                        &p.record.service,
                        &p.record.id,
                        format!(
                            "node {} is lost: the instance is placed elsewhere",
                            p.record.node
                        ),
                        serde_json::json!({ "node": p.record.node, "version": p.record.version }),
                    );
                }
            }
        }
        let placed = kept;
        // A lost node's published numbers and scale signals go, once (until then its
        // numbers count as stale, last totals; the autoscaler leaves a node without a
        // lease out).
        let lost: Vec<&str> = nodes
            .iter()
            .filter(|n| n.status == NodeStatus::Lost && !self.cleared.contains(&n.name))
            .map(|n| n.name.as_str())
            .collect();
        if !lost.is_empty() {
            let ops = lost
                .iter()
                .flat_map(|n| [Op::delete(numbers_key(n)), Op::delete(signals_key(n))])
                .collect();
            if fenced(store.as_ref(), lead, ops).await? {
                self.cleared.extend(lost.iter().map(|n| (*n).to_owned()));
            }
        }
        // A node back (or a new one of that name) may be lost again later.
        self.cleared.retain(|n| {
            nodes
                .iter()
                .any(|x| &x.name == n && x.status == NodeStatus::Lost)
        });

        let deployments = deployments_of(&fleet);
        let traffic = self.cluster_traffic(&deployments).await?;
        self.announcer.announce(&self.ctx.events, &deployments);
        let mut observed = observe(&placed, &fleet.instances);
        // A draining node's instances count as going: the plans place their replacements
        // elsewhere, and they are unplaced below once their group is whole without them.
        let draining: Vec<&str> = nodes
            .iter()
            .filter(|n| n.status == NodeStatus::Draining)
            .map(|n| n.name.as_str())
            .collect();
        let on_draining: Vec<String> = placed
            .iter()
            .filter(|p| draining.contains(&p.record.node.as_str()))
            .map(|p| p.record.id.clone())
            .collect();
        for o in observed.iter_mut() {
            if on_draining.contains(&o.id) {
                o.stopping = true;
            }
        }
        let serving_elsewhere = serving_by_group(&observed);
        let newest = newest_fingerprints(
            observed
                .iter()
                .map(|o| ((o.service.clone(), o.group.clone()), o.seq, o.fingerprint)),
        );
        let resolved = resolve_groups(
            groups(&fleet.specs, &fleet.counts()),
            &deployments,
            &newest,
            &self.ctx,
            &mut self.env_errors,
        )
        .await;
        let Decision {
            actions,
            writes,
            wake_at_ms,
        } = decide(
            &fleet.specs,
            &deployments,
            &resolved,
            observed,
            traffic.as_ref(),
            now,
        );
        self.wake_at_ms = wake_at_ms;
        let drained: Vec<String> = placed
            .iter()
            .filter(|p| on_draining.contains(&p.record.id))
            .filter(|p| {
                let key = (p.record.service.clone(), p.record.group.clone());
                let want = resolved
                    .iter()
                    .find(|r| r.group.key() == key)
                    .map_or(0, |r| r.group.count as usize);
                serving_elsewhere.get(&key).copied().unwrap_or(0) >= want
            })
            .map(|p| p.key.clone())
            .collect();
        if !drained.is_empty() {
            tracing::info!(
                count = drained.len(),
                "unplacing instances of draining nodes: their groups serve elsewhere"
            );
            fenced(
                store.as_ref(),
                lead,
                drained.iter().map(Op::delete).collect(),
            )
            .await?;
        }
        self.apply(lead, actions, &resolved, &fleet.specs, &nodes, placed)
            .await?;
        // Deployment records are fenced like placements: a stale leader's plan is not written.
        self.announcer
            .write_all(
                store.as_ref(),
                &self.ctx.events,
                writes,
                Some(&lead.guard()),
            )
            .await;
        Ok(())
    }

    /// Every node's request numbers, read now when a canary runs (`None` otherwise:
    /// only a canary is judged on numbers).
    async fn cluster_traffic(
        &mut self,
        deployments: &BTreeMap<String, (shoal_deploy::Deployment, i64)>,
    ) -> Result<Option<TrafficSource>, StoreError> {
        let canary = deployments.values().any(|(d, _)| d.judged_on_numbers());
        if !canary {
            return Ok(None);
        }
        let read = self.ctx.store.range(NUMBERS_PREFIX).await?;
        let now = tokio::time::Instant::now();
        self.numbers.update(&read.kvs, now);
        let services: BTreeMap<String, Traffic> = deployments
            .keys()
            .map(|s| (s.clone(), self.numbers.traffic(s, now)))
            .collect();
        Ok(Some(Arc::new(move |service: &str| {
            services.get(service).cloned().unwrap_or_default()
        })))
    }

    async fn apply(
        &mut self,
        lead: &Leadership,
        actions: Vec<Action>,
        resolved: &[Resolved],
        specs: &BTreeMap<String, shoal_spec::ServiceSpec>,
        nodes: &[Node],
        placed: Vec<Placed>,
    ) -> Result<(), StoreError> {
        let mut current: Vec<Placement> = placed.iter().map(|p| as_placement(&p.record)).collect();
        let by_id: HashMap<&str, &Placed> =
            placed.iter().map(|p| (p.record.id.as_str(), p)).collect();
        let mut ops = Vec::new();
        for action in actions {
            match action {
                Action::Start { service, group } => {
                    let Some(r) = resolved
                        .iter()
                        .find(|r| r.group.service == service && r.group.group == group)
                    else {
                        continue;
                    };
                    let Some(spec) = specs.get(&service) else {
                        continue;
                    };
                    let want = Group {
                        service: service.clone(),
                        version: r.group.version.clone(),
                        count: 0,
                        request: request_of(specs, &service),
                        constraints: spec
                            .constraints
                            .iter()
                            .map(|(label, value)| Constraint::Equals {
                                label: label.clone(),
                                value: value.clone(),
                            })
                            .collect(),
                    };
                    let node = match shoal_schedule::place_one(&want, nodes, &current, |s, _| {
                        request_of(specs, s)
                    }) {
                        Ok(node) => node,
                        Err(why) => {
                            if self.unplaced.get(&service) != Some(&why) {
                                tracing::warn!(service = %service, reason = %why, "cannot place an instance");
                                self.ctx.events.emit(
                                    shoal_events::Kind::Scaled,
                                    &service,
                                    "",
                                    format!("cannot place an instance: {why}"),
                                    serde_json::json!({ "version": r.group.version }),
                                );
                                self.unplaced.insert(service.clone(), why);
                            }
                            continue;
                        }
                    };
                    self.unplaced.remove(&service);
                    let record = PlacementRecord {
                        id: crate::controller::instance_id(&service, &r.group.version),
                        service: service.clone(),
                        group: group.clone(),
                        version: r.group.version.clone(),
                        node: node.clone(),
                        deployment: r.group.deployment,
                        spec: serde_json::to_value(spec).unwrap_or_default(),
                        fingerprint: r.group.fingerprint,
                        placed_ms: crate::now_ms(),
                    };
                    current.push(as_placement(&record));
                    tracing::info!(instance = %record.id, node = %node, "placing instance");
                    ops.push(Op::put(placement_key(&node, &record.id), encode(&record)));
                }
                Action::Stop { id, reason } => {
                    if let Some(p) = by_id.get(id.as_str()) {
                        tracing::info!(instance = %id, node = %p.record.node, reason, "unplacing instance");
                        ops.push(Op::delete(&p.key));
                    }
                }
            }
        }
        for chunk in ops.chunks(shoal_store::PORTABLE_TXN_OPS - 1) {
            if !fenced(self.ctx.store.as_ref(), lead, chunk.to_vec()).await? {
                tracing::warn!("placements not written: this node no longer leads");
                break;
            }
        }
        Ok(())
    }

    /// A node turns Lost only after `grace` of this leader seeing it without its live
    /// record (a new leader waits a whole grace again: it cannot know better).
    fn hold_grace(&mut self, nodes: &mut [Node], now: u64) {
        let grace = self.cfg.grace.as_millis() as u64;
        for n in nodes.iter_mut() {
            match n.status {
                NodeStatus::Ready | NodeStatus::Draining => {
                    self.missing_since.remove(&n.name);
                }
                NodeStatus::Suspect | NodeStatus::Lost => {
                    let since = *self.missing_since.entry(n.name.clone()).or_insert(now);
                    n.status = if now.saturating_sub(since) >= grace {
                        NodeStatus::Lost
                    } else {
                        NodeStatus::Suspect
                    };
                }
            }
        }
    }
}

/// Runs `ops` only while `lead` holds; `false` when the leadership guard failed.
async fn fenced(
    store: &dyn shoal_store::Store,
    lead: &Leadership,
    ops: Vec<Op>,
) -> Result<bool, StoreError> {
    let txn = lead.fence(Txn {
        compare: Vec::new(),
        success: ops,
        failure: Vec::new(),
    });
    Ok(store.txn(txn).await?.succeeded)
}

async fn read_placements(store: &dyn shoal_store::Store) -> Result<Vec<Placed>, StoreError> {
    let mut out = Vec::new();
    for kv in store.range(PLACEMENT_PREFIX).await?.kvs {
        match decode::<PlacementRecord>(&kv.key, &kv.value) {
            Ok(record) => out.push(Placed {
                key: kv.key,
                record,
            }),
            Err(e) => tracing::warn!(error = %e, "skipping a placement that does not decode"),
        }
    }
    Ok(out)
}

/// Serving instances per (service, group) that are not going away.
fn serving_by_group(observed: &[Observed]) -> HashMap<(String, String), usize> {
    let mut out = HashMap::new();
    for o in observed.iter().filter(|o| !o.stopping) {
        if o.state == InstanceState::Running && o.health.serves_traffic() {
            *out.entry((o.service.clone(), o.group.clone())).or_insert(0) += 1;
        }
    }
    out
}

/// What one instance of `service` requests of a node (its spec's `resources`).
fn request_of(specs: &BTreeMap<String, shoal_spec::ServiceSpec>, service: &str) -> Resources {
    specs.get(service).map_or_else(Resources::default, |s| {
        Resources::new(s.resources.cpu_millis, s.resources.memory_mb)
    })
}

fn as_placement(r: &PlacementRecord) -> Placement {
    Placement {
        id: r.id.clone(),
        service: r.service.clone(),
        version: r.version.clone(),
        node: r.node.clone(),
        healthy: false,
    }
}

/// Every placed instance as the plans read it: its state and health from its catalog
/// record (starting until the node's agent writes one), its fingerprint the placement's.
fn observe(placed: &[Placed], catalog: &[shoal_catalog::InstanceRecord]) -> Vec<Observed> {
    let records: HashMap<&str, &shoal_catalog::InstanceRecord> =
        catalog.iter().map(|r| (r.id.as_str(), r)).collect();
    placed
        .iter()
        .map(|p| {
            let r = records.get(p.record.id.as_str());
            Observed {
                id: p.record.id.clone(),
                service: p.record.service.clone(),
                group: p.record.group.clone(),
                version: p.record.version.clone(),
                state: r.map_or(InstanceState::Backoff, |r| r.state),
                health: r.map_or(Health::Starting, |r| r.health),
                healthy_since_ms: r.and_then(|r| r.healthy_since_ms),
                seq: p.record.placed_ms,
                stopping: false,
                fingerprint: p.record.fingerprint,
            }
        })
        .collect()
}
