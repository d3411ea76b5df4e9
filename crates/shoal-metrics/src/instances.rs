//! The instance sampler: every second, the catalog's instances by state and each
//! running instance's process group CPU, memory, threads and file descriptors from `/proc`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use shoal_catalog::{decode, InstanceRecord, InstanceState, CATALOG_PREFIX};
use shoal_store::Store;
use shoal_supervisor::ProcStats;

use crate::ring::Point;
use crate::tsdb::{Sample, SeriesKey, SeriesKind};

/// Every instance state, so a (service, version) shows zeros rather than vanishing.
pub const STATES: [(InstanceState, &str); 4] = [
    (InstanceState::Running, "running"),
    (InstanceState::Backoff, "backoff"),
    (InstanceState::Stopping, "stopping"),
    (InstanceState::Failed, "failed"),
];

fn state_name(s: InstanceState) -> &'static str {
    STATES
        .iter()
        .find(|(st, _)| *st == s)
        .map_or("unknown", |(_, n)| n)
}

/// Process statistics of one running instance.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcSample {
    pub service: String,
    pub version: String,
    pub instance: String,
    pub stats: ProcStats,
}

/// The latest sample, shown by `/metrics`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InstanceView {
    /// (service, version, state) → instances.
    pub counts: BTreeMap<(String, String, &'static str), u64>,
    pub procs: Vec<ProcSample>,
}

/// Counts instances per (service, version, state), every state present (pure).
pub fn count_states(records: &[InstanceRecord]) -> BTreeMap<(String, String, &'static str), u64> {
    let mut out = BTreeMap::new();
    for r in records {
        for (_, name) in STATES {
            out.entry((r.service.clone(), r.version.clone(), name))
                .or_insert(0);
        }
        *out.entry((r.service.clone(), r.version.clone(), state_name(r.state)))
            .or_insert(0) += 1;
    }
    out
}

/// The sampler's memory: the latest view and each instance's previous CPU total.
#[derive(Default)]
pub struct InstanceMetrics {
    view: Mutex<InstanceView>,
    prev_cpu: Mutex<HashMap<String, f64>>,
}

impl InstanceMetrics {
    pub fn view(&self) -> InstanceView {
        self.view
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Reads the catalog and `/proc` once; returns the samples for the store.
    pub async fn sample(&self, store: &dyn Store) -> Vec<Sample> {
        let records: Vec<InstanceRecord> = match store.range(CATALOG_PREFIX).await {
            Ok(r) => r
                .kvs
                .iter()
                .filter_map(|kv| decode::<InstanceRecord>(&kv.key, &kv.value).ok())
                .collect(),
            Err(e) => {
                tracing::debug!(error = %e, "instance sampler cannot read the catalog");
                return Vec::new();
            }
        };
        let running: Vec<(String, String, String, u32)> = records
            .iter()
            .filter(|r| r.state == InstanceState::Running && !r.external)
            .filter_map(|r| Some((r.service.clone(), r.version.clone(), r.id.clone(), r.pid?)))
            .collect();
        let procs = tokio::task::spawn_blocking(move || {
            let pgids: Vec<u32> = running.iter().map(|r| r.3).collect();
            let mut all = shoal_supervisor::groups_stats(&pgids);
            running
                .into_iter()
                .filter_map(|(service, version, instance, pid)| {
                    let stats = all.remove(&pid)?;
                    Some(ProcSample {
                        service,
                        version,
                        instance,
                        stats,
                    })
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        let view = InstanceView {
            counts: count_states(&records),
            procs,
        };
        let samples = self.samples(&view);
        *self.view.lock().unwrap_or_else(PoisonError::into_inner) = view;
        samples
    }

    fn samples(&self, view: &InstanceView) -> Vec<Sample> {
        let gauge = |name: &str, labels: &[(&str, &str)], v: f64| Sample {
            key: SeriesKey::new(name, labels),
            kind: SeriesKind::Gauge,
            point: Point::one(v),
            quantiles: None,
        };
        let mut out = Vec::new();
        for ((service, version, state), n) in &view.counts {
            let labels = [
                ("service", service.as_str()),
                ("version", version.as_str()),
                ("state", *state),
            ];
            out.push(gauge("shoal_instances", &labels, *n as f64));
        }
        let mut prev = self.prev_cpu.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = HashMap::with_capacity(view.procs.len());
        for p in &view.procs {
            let labels = [
                ("service", p.service.as_str()),
                ("version", p.version.as_str()),
                ("instance", p.instance.as_str()),
            ];
            out.push(gauge(
                "shoal_instance_memory_bytes",
                &labels,
                p.stats.rss_bytes as f64,
            ));
            out.push(gauge(
                "shoal_instance_threads",
                &labels,
                f64::from(p.stats.threads),
            ));
            out.push(gauge("shoal_instance_fds", &labels, f64::from(p.stats.fds)));
            if let Some(before) = prev.get(&p.instance) {
                let inc = (p.stats.cpu_seconds - before).max(0.0);
                out.push(Sample {
                    kind: SeriesKind::Counter,
                    ..gauge("shoal_instance_cpu_seconds_total", &labels, inc)
                });
            }
            next.insert(p.instance.clone(), p.stats.cpu_seconds);
        }
        *prev = next;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(service: &str, id: &str, state: InstanceState) -> InstanceRecord {
        InstanceRecord {
            pid: Some(1),
            state,
            ..InstanceRecord::new(id, service, "1", "n", "127.0.0.1", 1)
        }
    }

    #[test]
    fn counts_every_state() {
        let c = count_states(&[
            rec("web", "web-1", InstanceState::Running),
            rec("web", "web-2", InstanceState::Running),
            rec("web", "web-3", InstanceState::Backoff),
        ]);
        let get = |s: &'static str| c.get(&("web".to_string(), "1".to_string(), s)).copied();
        assert_eq!(
            (get("running"), get("backoff"), get("failed")),
            (Some(2), Some(1), Some(0))
        );
        assert_eq!(c.len(), 4);
    }

    #[test]
    fn cpu_becomes_increments() {
        let m = InstanceMetrics::default();
        let stats = |cpu| ProcStats {
            cpu_seconds: cpu,
            rss_bytes: 100,
            threads: 1,
            fds: 3,
        };
        let view = |cpu| InstanceView {
            counts: BTreeMap::new(),
            procs: vec![ProcSample {
                service: "s".into(),
                version: "1".into(),
                instance: "s-1".into(),
                stats: stats(cpu),
            }],
        };
        assert!(!m
            .samples(&view(1.0))
            .iter()
            .any(|s| s.kind == SeriesKind::Counter));
        let out = m.samples(&view(1.5));
        let cpu = out
            .iter()
            .find(|s| s.kind == SeriesKind::Counter)
            .map(|s| s.point.sum);
        assert_eq!(cpu, Some(0.5));
    }
}
