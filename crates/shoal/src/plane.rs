//! The data plane, wired as tasks: the fleet view (specs, deployments and the catalog, decoded once and watched), a routing table and a DNS table that follow it, one proxy engine for the gateway and every service's outbound listener, and DNS.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use shoal_events::EventLog;
use shoal_fleet::FleetReader;
use shoal_metrics::Metrics;
use shoal_proxy::{Hooks, Proxy, ProxyConfig, RouteTable};
use shoal_spec::Spec;
use shoal_store::Store;
use tokio::net::{TcpListener, UdpSocket};

use crate::tasks::Tasks;

/// The running proxy, each service's outbound listener, and the fleet view
/// they follow.
pub struct Plane {
    pub proxy: Arc<Proxy>,
    /// A service's outbound listener, opened when its first instance on this node
    /// starts (those of the file's services are open from the start).
    pub outbound: shoal_agent::Outbound,
    /// The `fleet` task's snapshots, for every other reader (DNS, the API, the
    /// controller).
    pub fleet: FleetReader,
}

/// Starts the fleet view as the task `name` (restarted on failure; its channel,
/// made here once, outlives restarts) and returns its reader.
pub fn start_fleet(tasks: &mut Tasks, name: &'static str, store: &Arc<dyn Store>) -> FleetReader {
    let (tx, rx) = shoal_fleet::channel();
    let store = store.clone();
    tasks.restart(name, move |stop| {
        shoal_fleet::run(store.clone(), tx.clone(), stop.stopped())
    });
    rx
}

/// The gateway's bound listener and how its connections arrive (HTTP or HTTPS).
pub struct Gateway {
    pub listener: TcpListener,
    pub transport: shoal_proxy::Transport,
}

/// Starts `fleet` (the view of specs, deployments and the catalog, see
/// [`Plane::fleet`]), `routes` (the table follows it), the `gateway` on
/// `gateway`, an outbound listener per service, and `proxy-changes` (circuit
/// and ejection changes into the event stream, circuit states into `/metrics`).
pub fn start_proxy(
    tasks: &mut Tasks,
    spec: &Spec,
    store: &Arc<dyn Store>,
    hooks: Hooks,
    gateway: Gateway,
    events: &Arc<EventLog>,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<Plane> {
    let fleet = start_fleet(tasks, "fleet", store);
    let table = Arc::new(ArcSwap::from_pointee(RouteTable::default()));
    let domains = vec![spec.platform.domain.clone(), "consul".to_string()];
    let (f, t) = (fleet.subscribe(), table.clone());
    tasks.restart("routes", move |stop| {
        shoal_proxy::watch::follow(f.clone(), t.clone(), domains.clone(), stop.stopped())
    });
    let config = ProxyConfig {
        sampler: crate::traces::sampler_from_env(),
        ..ProxyConfig::default()
    };
    let proxy = Proxy::new(table.clone(), config, hooks);
    // The flags' evaluation counters, read once a second into `/metrics`.
    metrics
        .flags
        .set_source(Arc::new(move || table.load().flags.set.tally().snapshot()));
    for name in spec.services.keys() {
        proxy
            .bind_outbound(name)
            .with_context(|| format!("cannot open the outbound proxy listener of {name}"))?;
    }
    let p = proxy.clone();
    let outbound = shoal_agent::Outbound::new(move |service| match p.bind_outbound(service) {
        Ok(addr) => Some(addr),
        Err(e) => {
            tracing::warn!(%service, error = %e, "cannot open the service's outbound listener; its instances call through the gateway");
            None
        }
    });
    let (p, events, metrics) = (proxy.clone(), events.clone(), metrics.clone());
    tasks.restart("proxy-changes", move |stop| {
        shoal_proxy::changes::watch_changes(
            p.clone(),
            Duration::from_millis(250),
            crate::observe::proxy_change_sink(&events, &metrics),
            stop.receiver(),
        )
    });
    // It owns its listener: if it ends, shoal stops.
    let p = proxy.clone();
    tasks.fatal("gateway", move |stop| {
        p.serve_until_with(
            gateway.listener,
            shoal_spec::GATEWAY_CALLER.into(),
            gateway.transport,
            stop.stopped(),
        )
    });
    Ok(Plane {
        proxy,
        outbound,
        fleet,
    })
}

/// Starts `dns` on the bound sockets (it owns them: if it ends, shoal stops)
/// and `dns-table`, which rebuilds its answers from each snapshot of `fleet`.
/// `agent` is this node, answered as Consul's `consul` service.
pub fn start_dns(
    tasks: &mut Tasks,
    spec: &Spec,
    fleet: &FleetReader,
    agent: shoal_dns::AgentNode,
    (udp, tcp): (UdpSocket, TcpListener),
) {
    let cfg = shoal_dns::DnsConfig {
        agent: Some(agent),
        ..shoal_dns::DnsConfig::for_domain(&spec.platform.domain)
    };
    let table = Arc::new(ArcSwap::from_pointee(shoal_dns::DnsTable::empty(&cfg)));
    let t = table.clone();
    tasks.fatal("dns", move |stop| {
        shoal_dns::serve(udp, tcp, t, stop.stopped())
    });
    let fleet = fleet.subscribe();
    tasks.restart("dns-table", move |stop| {
        shoal_dns::follow_fleet(fleet.clone(), table.clone(), cfg.clone(), stop.stopped())
    });
}

/// A cluster node's name and the controller leadership it campaigns for.
pub type Leading = (
    String,
    tokio::sync::watch::Receiver<Option<shoal_cluster::Leadership>>,
);

/// Starts `autoscaler`: once a second, every service with a `[scale]` target (or
/// `min = 0`) measured and scaled (`shoal-autoscaler`), woken by requests held for it.
/// On a cluster node (`leading`) it publishes what it measured and scales the cluster's
/// services, on every node's signals, while the node leads.
pub fn start_autoscaler(
    tasks: &mut Tasks,
    store: &Arc<dyn Store>,
    plane: &Plane,
    metrics: &Arc<Metrics>,
    events: &Arc<EventLog>,
    wakes: shoal_autoscaler::Wakes,
    leading: Option<Leading>,
) {
    let table = plane.proxy.table().clone();
    // In flight at the proxy: the sum over the service's instances.
    let inflight: shoal_autoscaler::Inflight = Arc::new(move |service: &str| {
        let t = table.load();
        let route = t.services.get(service)?;
        let n: usize = route
            .versions
            .values()
            .flatten()
            .map(|e| e.stats.inflight())
            .sum();
        Some(u32::try_from(n).unwrap_or(u32::MAX))
    });
    let (store, fleet, metrics, events) = (
        store.clone(),
        plane.fleet.clone(),
        metrics.clone(),
        events.clone(),
    );
    tasks.restart("autoscaler", move |stop| {
        let src = shoal_autoscaler::Sources {
            store: store.clone(),
            fleet: fleet.clone(),
            metrics: metrics.clone(),
            events: events.clone(),
            inflight: inflight.clone(),
            wakes: wakes.clone(),
        };
        let a = match &leading {
            None => shoal_autoscaler::Autoscaler::new(src),
            Some((node, leadership)) => {
                shoal_autoscaler::Autoscaler::clustered(src, node.clone(), leadership.clone())
            }
        };
        shoal_autoscaler::run(a, stop.stopped())
    });
}

/// The chaos monkey: kills for kill experiments, and the end of every experiment;
/// in a cluster (`leading`), only while this node leads.
pub fn start_monkey(
    tasks: &mut Tasks,
    store: &Arc<dyn Store>,
    plane: &Plane,
    events: &Arc<EventLog>,
    leading: Option<tokio::sync::watch::Receiver<Option<shoal_cluster::Leadership>>>,
) {
    let (store, fleet, events) = (store.clone(), plane.fleet.clone(), events.clone());
    tasks.restart("chaos-monkey", move |stop| {
        shoal_agent::monkey::run_monkey(
            store.clone(),
            fleet.clone(),
            events.clone(),
            leading.clone(),
            stop.receiver(),
        )
    });
}
