//! The autoscaler's loop: [`run`] calls [`Autoscaler::pass`] once a second; a pass
//! measures every scaled service, decides, and writes a changed count (with the
//! memory) the way `shoal scale` does.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use shoal_catalog::{autoscale_key, decode, encode, scale_key, ScaleOverride};
use shoal_events::{EventLog, Kind};
use shoal_fleet::FleetReader;
use shoal_metrics::Metrics;
use shoal_scale::{decide, State};
use shoal_store::{CmpOp, Compare, Op, Store, Txn};

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
}

impl Autoscaler {
    pub fn new(src: Sources) -> Self {
        Autoscaler {
            src,
            counters: Counters::default(),
            memories: HashMap::new(),
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
        for (service, spec_count, scale) in scaled {
            let total = total_requests(&self.src.metrics, &service);
            let inflight = (self.src.inflight)(&service);
            self.counters.record(&service, total, inflight, now_ms);
            let over = fleet.overrides.get(&service);
            if over.is_some_and(|o| !o.auto_allowed(now_ms)) {
                continue; // held off by `shoal scale` (its pause, or until --auto)
            }
            let current = over.map_or(spec_count, |o| o.instances);
            let signals = measure(
                &self.src.metrics,
                &self.counters,
                &scale,
                &service,
                fleet.instances_of(&service),
                wakes.contains(&service),
                now_ms,
            );
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
                    .write(&service, Some(d.desired), &memory, scale_rev)
                    .await;
                if written {
                    tracing::info!(service = %service, from = current, to = d.desired, "{}", d.reason);
                    self.src.events.emit(
                        Kind::Scaled,
                        &service,
                        "",
                        format!("autoscaler: {}", d.reason),
                        serde_json::json!({
                            "from": current,
                            "to": d.desired,
                            "signals": signals,
                            "recommendations": d.recommendations,
                            "held_by": d.held_by,
                        }),
                    );
                    self.memories.insert(service, (memory, now_ms));
                }
                // Not written: a count changed meanwhile; the next pass reads it.
                continue;
            }
            let saved = if now_ms.saturating_sub(saved) >= SAVE_EVERY_MS {
                if self.write(&service, None, &memory, scale_rev).await {
                    now_ms
                } else {
                    saved
                }
            } else {
                saved
            };
            self.memories.insert(service, (memory, saved));
        }
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
    ) -> bool {
        let mut ops = vec![Op::put(autoscale_key(service), encode(memory))];
        if let Some(n) = desired {
            ops.push(Op::put(scale_key(service), encode(&ScaleOverride::auto(n))));
        }
        let txn = Txn::new()
            .when([Compare::mod_revision(
                scale_key(service),
                CmpOp::Equal,
                scale_rev,
            )])
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
