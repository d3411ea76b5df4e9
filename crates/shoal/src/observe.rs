//! Shoal observing itself, wired as tasks: each proxied request into metrics, logs, errors and traces; the errors view fed and saved; StatsD and `/metrics`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use shoal_errors::Errors;
use shoal_events::EventLog;
use shoal_logs::LogStore;
use shoal_metrics::{Metrics, StatsdListeners};
use shoal_proxy::Hooks;
use shoal_store::Store;

use crate::tasks::Tasks;
use crate::traces::Traces;

/// Every request is an access line (read as its span by `shoal trace`, and
/// exported when SHOAL_OTLP_ENDPOINT is set) and, for a 5xx, an error: all
/// made by the `telemetry` task off the request path, which only queues the
/// record. Returns the proxy's hooks and the span exporter.
pub fn start_telemetry(
    tasks: &mut Tasks,
    logs: &Arc<LogStore>,
    errors: &Arc<Errors>,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<(Hooks, Traces)> {
    let traces = crate::traces::start(tasks.shutdown().stopped())?;
    let (access_hook, queue, dropped) = crate::telemetry::channel();
    let (logs, errors, spans) = (logs.clone(), errors.clone(), traces.sink());
    tasks.restart_until_aborted("telemetry", move |_| {
        let sinks = crate::telemetry::Sinks {
            logs: logs.clone(),
            errors: errors.clone(),
            traces: spans.clone(),
        };
        crate::telemetry::run(queue.clone(), sinks, dropped.clone())
    });
    let hooks = Hooks {
        observer: Some(metrics_observer(metrics)),
        access_log: Some(access_hook),
        wake: None,
    };
    Ok((hooks, traces))
}

/// The errors view: fed from the event stream and the instances' lines
/// (`errors-feed`), saved to `file` while it changes (`errors-keeper`).
pub fn start_errors(
    tasks: &mut Tasks,
    errors: &Arc<Errors>,
    file: &Path,
    events: &Arc<EventLog>,
    logs: &Arc<LogStore>,
) {
    let (e, events, logs) = (errors.clone(), events.clone(), logs.clone());
    tasks.restart("errors-feed", move |stop| {
        shoal_errors::run(
            e.clone(),
            events.subscribe(),
            // Instance lines only: the errors view skips the proxy's access lines,
            // and a full tail would copy (and re-parse) every one of them.
            logs.subscribe_instance_lines(),
            stop.receiver(),
        )
    });
    let (e, file) = (errors.clone(), file.to_path_buf());
    tasks.restart("errors-keeper", move |stop| {
        shoal_errors::keep(e.clone(), file.clone(), stop.receiver())
    });
}

/// StatsD on `statsd`, the flush loops and the instance sampler (`metrics`).
/// A restart binds the same address again.
pub fn start_metrics(
    tasks: &mut Tasks,
    metrics: &Arc<Metrics>,
    statsd: StatsdListeners,
    store: &Arc<dyn Store>,
) {
    let addr: SocketAddr = statsd.local_addr();
    let mut bound = Some(statsd);
    let (metrics, store) = (metrics.clone(), store.clone());
    tasks.restart("metrics", move |stop| {
        let bound = bound.take();
        let (metrics, store, stop) = (metrics.clone(), store.clone(), stop.receiver());
        async move {
            let listeners = match bound {
                Some(l) => l,
                None => StatsdListeners::bind(addr).await?,
            };
            shoal_metrics::run(metrics, listeners, store, stop).await;
            Ok::<(), shoal_metrics::BindError>(())
        }
    });
}

/// The errors view, with the groups a previous run saved at `path`. A file
/// that does not parse is set aside as `errors.json.bad` (with a warning) and
/// the view starts empty: the errors view is worth less than a start.
pub fn open_errors(path: &Path) -> Errors {
    let errors = Errors::default();
    match shoal_errors::load(path) {
        Ok(Some(saved)) => errors.restore(saved),
        Ok(None) => {}
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            let aside = path.with_extension("json.bad");
            let moved = std::fs::rename(path, &aside);
            tracing::warn!(error = %e, set_aside = moved.is_ok(), "the saved errors view does not read; starting empty");
        }
        // Unreadable (not damaged): left as it is; a save will say if it cannot write either.
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the saved errors view; starting empty");
        }
    }
    errors
}

/// Saves what the errors view gained since the last save (at stop, once nothing records).
pub async fn save_errors(errors: &Errors, path: &Path) {
    if let Err(e) = shoal_errors::save_changes(errors, path).await {
        tracing::warn!(path = %path.display(), error = %e, "cannot save the errors view");
    }
}

/// Reports every request the proxy answers to the metrics, and each one Shoal refused.
fn metrics_observer(metrics: &Arc<Metrics>) -> shoal_proxy::Observer {
    let m = metrics.clone();
    Arc::new(move |r: &shoal_proxy::RequestRecord<'_>| {
        m.observe_request(r.service, r.version, r.code, r.caller, r.duration);
        if let Some(reason @ ("shed" | "rate-limited" | "circuit-open")) = r.reason {
            m.protection.observe_shed(r.service, r.caller, reason);
        }
    })
}

/// Circuit and ejection changes as events; every snapshot's circuit states as a gauge.
pub fn proxy_change_sink(
    events: &Arc<EventLog>,
    metrics: &Arc<Metrics>,
) -> impl Fn(&shoal_proxy::ProxySnapshot, &[shoal_proxy::changes::Change]) + Send + 'static {
    use shoal_proxy::changes::Change;
    use shoal_proxy::CircuitState;
    let events = events.clone();
    let metrics = metrics.clone();
    move |snap, changes| {
        for (name, s) in &snap.services {
            let state = s.circuit.map(|c| match c {
                CircuitState::Closed => shoal_metrics::CIRCUIT_CLOSED,
                CircuitState::HalfOpen => shoal_metrics::CIRCUIT_HALF_OPEN,
                CircuitState::Open => shoal_metrics::CIRCUIT_OPEN,
            });
            metrics.protection.set_circuit(name, state);
        }
        for c in changes {
            let kind = match c {
                Change::Circuit { .. } => shoal_events::Kind::CircuitChanged,
                Change::Ejected { .. } | Change::Returned { .. } => {
                    shoal_events::Kind::InstanceEjected
                }
            };
            events.emit(
                kind,
                c.service(),
                c.instance().unwrap_or(""),
                c.message(),
                serde_json::to_value(c).unwrap_or_default(),
            );
        }
    }
}
