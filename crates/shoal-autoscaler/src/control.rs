//! The autoscaler's loop: [`run`] calls [`Autoscaler::pass`] once a second; a pass
//! measures every scaled service, decides, and writes a changed count (with the
//! memory) the way `shoal scale` does. In a cluster every node publishes what it
//! measured and the leader decides on every node's (`cluster.rs`).

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use shoal_catalog::{autoscale_key, decode, encode, scale_key, InstanceState, ScaleOverride};
use shoal_cluster::Leadership;
use shoal_events::{EventLog, Kind};
use shoal_fleet::FleetReader;
use shoal_metrics::Metrics;
use shoal_scale::{decide, Signals, State};
use shoal_spec::{MetricKind, ScaleSpec};
use shoal_store::{CmpOp, Compare, Op, Store, Txn};

use crate::cluster::{signals_key, ClusterSignals, NodeSignals, SIGNALS_PREFIX};
use crate::measure::{measure, total_requests, Counters};
use crate::memory::{Last, Memory};
use crate::wakes::Wakes;

/// The memory is written at least this often while nothing changes (every pass
/// would be a disk write a second per service).
const SAVE_EVERY_MS: u64 = 10_000;

/// In-flight requests of a service at the proxy now; `None` when it has no route.
pub type Inflight = Arc<dyn Fn(&str) -> Option<u32> + Send + Sync>;

/// What the autoscaler reads and writes.
pub struct Sources {
    pub store: Arc<dyn Store>,
    pub fleet: FleetReader,
    pub metrics: Arc<Metrics>,
    pub events: Arc<EventLog>,
    pub inflight: Inflight,
    pub wakes: Wakes,
}

/// The loop's state between passes: request counts of the window and each
/// service's memory as last read or written (with when it was saved).
pub struct Autoscaler {
    src: Sources,
    counters: Counters,
    memories: HashMap<String, (Memory, u64)>,
    cluster: Option<Clustered>,
}

/// Cluster mode: this node publishes what it measures; it decides, on every node's
/// signals, only while it leads.
struct Clustered {
    node: String,
    leadership: watch::Receiver<Option<Leadership>>,
    signals: ClusterSignals,
    seq: u64,
    /// When (unix ms) a request held here last asked to wake each service: published
    /// for [`WAKE_HELD_MS`], so the leader's pass cannot miss it between two writes.
    woken: HashMap<String, u64>,
    /// The last write said no service is scaled: the next such pass writes nothing.
    said_nothing: bool,
}

/// How long a node keeps saying a held request asked to wake a service.
const WAKE_HELD_MS: u64 = 3_000;

/// One scaled service as measured this pass.
struct Measured {
    service: String,
    spec_count: u32,
    scale: ScaleSpec,
    signals: Signals,
    /// Nodes whose signals in `signals` are stale (cluster mode).
    stale: Vec<String>,
}

impl Autoscaler {
    pub fn new(src: Sources) -> Self {
        Autoscaler {
            src,
            counters: Counters::default(),
            memories: HashMap::new(),
            cluster: None,
        }
    }

    /// The autoscaler of cluster node `node`: it publishes its signals every pass and
    /// decides for the cluster while `leadership` says it leads (writes fenced by it).
    pub fn clustered(
        src: Sources,
        node: String,
        leadership: watch::Receiver<Option<Leadership>>,
    ) -> Self {
        Autoscaler {
            cluster: Some(Clustered {
                node,
                leadership,
                signals: ClusterSignals::default(),
                seq: 0,
                woken: HashMap::new(),
                said_nothing: false,
            }),
            ..Self::new(src)
        }
    }

    /// One pass at unix ms `now_ms`: every service whose scale has a target or
    /// `min = 0`.
    pub async fn pass(&mut self, now_ms: u64) {
        let fleet = self.src.fleet.current();
        let wakes = self.src.wakes.take();
        let scaled: Vec<(String, u32, shoal_spec::ScaleSpec)> = fleet
            .specs
            .iter()
            .filter_map(|(name, s)| {
                let scale = s.scale.as_ref()?;
                (scale.target.is_some() || scale.min == 0)
                    .then(|| (name.clone(), s.instances, scale.clone()))
            })
            .collect();
        let names: BTreeSet<String> = scaled.iter().map(|(n, _, _)| n.clone()).collect();
        self.counters.retain(&names);
        self.memories.retain(|s, _| names.contains(s));
        let mut measured = Vec::with_capacity(scaled.len());
        for (service, spec_count, scale) in scaled {
            let total = total_requests(&self.src.metrics, &service);
            let inflight = (self.src.inflight)(&service);
            self.counters.record(&service, total, inflight, now_ms);
            let signals = measure(
                &self.src.metrics,
                &self.counters,
                &scale,
                &service,
                fleet.instances_of(&service),
                wakes.contains(&service),
                now_ms,
            );
            measured.push(Measured {
                service,
                spec_count,
                scale,
                signals,
                stale: Vec::new(),
            });
        }
        let guard = match self.cluster.as_mut() {
            None => None,
            Some(c) => {
                c.publish(self.src.store.as_ref(), &measured, now_ms).await;
                let Some(lead) = c.leadership.borrow().clone() else {
                    // Another node decides; a memory kept here would be stale when this
                    // node leads again.
                    self.memories.clear();
                    c.signals.clear();
                    return;
                };
                if !c
                    .combine(self.src.store.as_ref(), &fleet, &mut measured)
                    .await
                {
                    return;
                }
                Some(lead.guard())
            }
        };
        for m in measured {
            self.decide_one(&fleet, m, guard.as_ref(), now_ms).await;
        }
    }

    /// Decides one service's count on `m` and writes a change (fenced by `guard`).
    async fn decide_one(
        &mut self,
        fleet: &shoal_fleet::Fleet,
        m: Measured,
        guard: Option<&Compare>,
        now_ms: u64,
    ) {
        let Measured {
            service,
            spec_count,
            scale,
            signals,
            stale,
        } = m;
        let over = fleet.overrides.get(&service);
        if over.is_some_and(|o| !o.auto_allowed(now_ms)) {
            return; // held off by `shoal scale` (its pause, or until --auto)
        }
        let current = over.map_or(spec_count, |o| o.instances);
        let (mut memory, saved) = match self.memories.remove(&service) {
            Some(m) => m,
            None => (self.load(&service, current).await, 0),
        };
        // The store's count is the truth (`shoal scale`, a deploy, another node).
        memory.state.desired = current;
        let d = decide(&scale, &signals, &memory.state, now_ms);
        memory.state = d.next.clone();
        memory.last = Some(Last::of(&d, &signals, now_ms));
        let scale_rev = fleet.mod_revision(&scale_key(&service));
        if d.desired != current {
            let written = self
                .write(&service, Some(d.desired), &memory, scale_rev, guard)
                .await;
            if written {
                let stale_note = match stale.as_slice() {
                    [] => String::new(),
                    nodes => format!(
                        " (the signals of node {} are stale: their last ones are counted)",
                        nodes.join(", ")
                    ),
                };
                tracing::info!(service = %service, from = current, to = d.desired, "{}{stale_note}", d.reason);
                self.src.events.emit(
                    Kind::Scaled,
                    &service,
                    "",
                    format!("autoscaler: {}{stale_note}", d.reason),
                    serde_json::json!({
                        "from": current,
                        "to": d.desired,
                        "signals": signals,
                        "recommendations": d.recommendations,
                        "held_by": d.held_by,
                        "stale_nodes": stale,
                    }),
                );
                self.memories.insert(service, (memory, now_ms));
            }
            // Not written: a count changed meanwhile; the next pass reads it.
            return;
        }
        let saved = if now_ms.saturating_sub(saved) >= SAVE_EVERY_MS {
            if self.write(&service, None, &memory, scale_rev, guard).await {
                now_ms
            } else {
                saved
            }
        } else {
            saved
        };
        self.memories.insert(service, (memory, saved));
    }

    /// The service's memory from the store, or a new one at `current`.
    async fn load(&self, service: &str, current: u32) -> Memory {
        let key = autoscale_key(service);
        match self.src.store.get(&key).await {
            Ok(Some(kv)) => match decode::<Memory>(&key, &kv.value) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(service, error = %e, "autoscaler: unreadable memory; starting anew");
                    fresh(current)
                }
            },
            Ok(None) => fresh(current),
            Err(e) => {
                tracing::warn!(service, error = %e, "autoscaler: cannot read its memory");
                fresh(current)
            }
        }
    }

    /// Writes the memory, and the count when `desired` is set, if the count is
    /// unchanged since the fleet snapshot (mod revision `scale_rev`). Whether it did.
    async fn write(
        &self,
        service: &str,
        desired: Option<u32>,
        memory: &Memory,
        scale_rev: i64,
        guard: Option<&Compare>,
    ) -> bool {
        let mut ops = vec![Op::put(autoscale_key(service), encode(memory))];
        if let Some(n) = desired {
            ops.push(Op::put(scale_key(service), encode(&ScaleOverride::auto(n))));
        }
        let unchanged = Compare::mod_revision(scale_key(service), CmpOp::Equal, scale_rev);
        let txn = Txn::new()
            .when(std::iter::once(unchanged).chain(guard.cloned()))
            .and_then(ops);
        match self.src.store.txn(txn).await {
            Ok(r) => r.succeeded,
            Err(e) => {
                tracing::warn!(service, error = %e, "autoscaler: cannot write");
                false
            }
        }
    }
}

impl Clustered {
    /// Writes this node's signals of every measured service; a failure is logged (the
    /// leader then names this node stale).
    async fn publish(&mut self, store: &dyn Store, measured: &[Measured], now_ms: u64) {
        // No scaled service: said once, not every second.
        if measured.is_empty() && self.said_nothing {
            return;
        }
        self.seq += 1;
        for m in measured.iter().filter(|m| m.signals.wake) {
            self.woken.insert(m.service.clone(), now_ms);
        }
        self.woken
            .retain(|_, at| now_ms.saturating_sub(*at) < WAKE_HELD_MS);
        let record = NodeSignals {
            seq: self.seq,
            services: measured
                .iter()
                .map(|m| {
                    let mut signals = m.signals.clone();
                    signals.wake |= self.woken.contains_key(&m.service);
                    (m.service.clone(), signals)
                })
                .collect(),
        };
        let value = serde_json::to_vec(&record).unwrap_or_default();
        match store.put(&signals_key(&self.node), value, 0).await {
            Ok(_) => self.said_nothing = measured.is_empty(),
            Err(e) => tracing::warn!(error = %e, "autoscaler: cannot publish this node's signals"),
        }
    }

    /// Replaces each service's signals with every node's combined (the instance counts
    /// stay the fleet's, which spans the cluster); false when they cannot be read.
    async fn combine(
        &mut self,
        store: &dyn Store,
        fleet: &shoal_fleet::Fleet,
        measured: &mut [Measured],
    ) -> bool {
        let read = match store.range(SIGNALS_PREFIX).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "autoscaler: cannot read the nodes' signals; no decision this pass");
                return false;
            }
        };
        let now = tokio::time::Instant::now();
        self.signals.update(&read.kvs, now);
        for m in measured.iter_mut() {
            let gauge = m
                .scale
                .target
                .as_ref()
                .and_then(|t| t.metric.as_ref())
                .is_some_and(|metric| metric.kind == MetricKind::Gauge);
            let on = |node: &str| {
                let n = fleet
                    .instances_of(&m.service)
                    .iter()
                    .filter(|r| r.node == node && r.state == InstanceState::Running)
                    .count();
                u32::try_from(n).unwrap_or(u32::MAX)
            };
            let live = |node: &str| fleet.node_is_live(node);
            let (mut all, stale) = self.signals.combined(&m.service, gauge, on, live, now);
            all.ready = m.signals.ready;
            all.starting = m.signals.starting;
            m.signals = all;
            m.stale = stale;
        }
        true
    }
}

fn fresh(current: u32) -> Memory {
    Memory {
        state: State::new(current),
        last: None,
    }
}

/// Runs a pass every second until `shutdown` completes.
pub async fn run(mut a: Autoscaler, shutdown: impl Future<Output = ()>) {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => return,
            _ = tick.tick() => a.pass(shoal_catalog::now_ms()).await,
        }
    }
}
