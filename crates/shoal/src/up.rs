//! `shoal up`: wires the store, the agent, the API and the gateway on this
//! machine, runs until Ctrl-C or SIGTERM (or a fatal task failure), then
//! stops every instance.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use shoal_agent::{Agent, AgentConfig, PlatformEnv};
use shoal_logs::{LogLimits, LogStore};
use shoal_spec::Spec;
use shoal_store::{EmbeddedOptions, EmbeddedStore, Store};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

use crate::banner::Endpoints;
use crate::cli::{AgentArgs, UpArgs};
use crate::tasks::Tasks;

pub async fn run(args: UpArgs) -> ExitCode {
    let spec = match shoal_spec::parse_file(&args.file) {
        Ok(spec) => spec,
        Err(errors) => {
            eprint!("{errors}");
            eprintln!(
                "error: {} refused, nothing was started",
                args.file.display()
            );
            return ExitCode::from(2);
        }
    };
    init_tracing();
    match up(spec, &args.file, args.logs, None).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// `shoal agent`: this machine as one node of a cluster on etcd.
pub async fn run_agent(args: AgentArgs) -> ExitCode {
    let parsed = match &args.file {
        Some(file) => shoal_spec::parse_file(file),
        None => shoal_spec::parse_str("", "(defaults)", Path::new(".")),
    };
    let spec = match parsed {
        Ok(spec) => spec,
        Err(errors) => {
            eprint!("{errors}");
            eprintln!("error: the platform file was refused, nothing was started");
            return ExitCode::from(2);
        }
    };
    if !spec.services.is_empty() {
        eprintln!(
            "note: `shoal agent` takes [platform] from the file; deploy its {} service(s) with `shoal deploy`",
            spec.services.len()
        );
    }
    // The command line first, then the environment (clap), then `[platform]`.
    let p = &spec.platform;
    let Some(store) = args.store.clone().or_else(|| p.store.clone()) else {
        eprintln!("error: no cluster store: pass --store etcd://HOST:PORT,... (or SHOAL_STORE, or `store` in [platform])");
        return ExitCode::from(2);
    };
    let Some(advertise) = args.advertise.or(p.advertise) else {
        eprintln!("error: no address to advertise: pass --advertise IP (or SHOAL_ADVERTISE, or `advertise` in [platform]): other nodes reach this node's instances there");
        return ExitCode::from(2);
    };
    let mut labels: Vec<(String, String)> = p.labels.clone().into_iter().collect();
    labels.extend(args.labels.iter().cloned());
    let args = AgentArgs {
        store: Some(store),
        node: args.node.clone().or_else(|| p.node.clone()),
        advertise: Some(advertise),
        labels,
        ..args
    };
    init_tracing();
    let file = args.file.clone().unwrap_or_else(|| "(defaults)".into());
    match up(spec, &file, args.logs, Some(&args)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_env("SHOAL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let stderr = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // The same events, to Consul's `agent/monitor` while one listens.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(stderr)
        .with(crate::log_tap::LogTap)
        .try_init();
}

async fn bind(name: &str, addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on platform.{name} = {addr} (is another shoal or program using it?)")
    })
}

/// What is opened differently in cluster mode: the store (etcd), the node's name and its
/// registration and campaign.
struct Membership {
    registered: shoal_cluster::Registered,
    campaign: shoal_cluster::Campaign,
}

async fn up(
    spec: Spec,
    file: &Path,
    echo_logs: bool,
    cluster: Option<&AgentArgs>,
) -> anyhow::Result<()> {
    let p = spec.platform.clone();
    let tokens = crate::preflight::load_tokens(&spec)?;
    let tls = p.tls.as_ref().map(crate::tls::load).transpose()?;
    crate::tls::check_services(&spec)?;
    let api_tls = tls.as_ref().and_then(|t| t.api.clone());
    crate::preflight::refuse_open_public_api(
        p.http,
        &tokens,
        api_tls.is_some(),
        p.allow_plaintext_api,
    )?;

    std::fs::create_dir_all(&p.data_dir)
        .with_context(|| format!("cannot create data_dir {}", p.data_dir.display()))?;
    let pid_file = p.data_dir.join("instances.json");
    let reaped = shoal_supervisor::reap_orphans(&pid_file, Duration::from_secs(5))
        .await
        .with_context(|| format!("cannot read {}", pid_file.display()))?;
    if !reaped.is_empty() {
        tracing::warn!(
            count = reaped.len(),
            "stopped instances left running by a previous shoal that did not exit cleanly"
        );
    }

    let (embedded, dyn_store): (Option<Arc<EmbeddedStore>>, Arc<dyn Store>) = match cluster {
        None => {
            let store = open_store(&p.data_dir.join("store")).await?;
            (Some(store.clone()), store)
        }
        Some(a) => {
            let url = a.store.clone().unwrap_or_default();
            let etcd = shoal_store_etcd::EtcdStore::connect_url(
                &url,
                shoal_store_etcd::EtcdOptions::default(),
            )
            .await
            .with_context(|| format!("cannot use the cluster store {url}"))?;
            (None, Arc::new(etcd))
        }
    };
    let keyring = Arc::new(shoal_secrets::Keyring::load_or_create(&p.data_dir)?);
    if cluster.is_some() {
        crate::keycheck::check(dyn_store.as_ref(), &keyring).await?;
    }
    let node = cluster
        .and_then(|a| a.node.clone())
        .unwrap_or_else(node_name);
    // This node's instances of an earlier run are gone (reaped above): their
    // catalog records too. Services registered from outside stay.
    crate::reset::clear_node_records(dyn_store.as_ref(), &node).await?;
    if let Err(e) = shoal_agent::check_references(&spec, dyn_store.as_ref()).await {
        eprintln!("warning: {e}; the service starts once it is set");
    }
    let applied_ms = shoal_catalog::now_ms();
    // A cluster's services come from `shoal deploy`; `shoal up` deploys its file.
    let applied = if cluster.is_none() {
        crate::applied::apply_up_file(dyn_store.as_ref(), &spec.services).await?
    } else {
        None
    };
    match applied {
        None => tracing::info!("the store's state goes on"),
        Some(s) => {
            for d in &s.deployments {
                tracing::info!(service = %d.service, deployment = d.id, strategy = ?d.strategy, "deployment started");
            }
        }
    }

    let api_listener = bind("http", p.http).await?;
    let gw_listener = bind("gateway", p.gateway).await?;
    let redirect_listener = match p.tls.as_ref().and_then(|t| t.redirect) {
        Some(addr) => Some(bind("tls.redirect", addr).await?),
        None => None,
    };
    let (dns_udp, dns_tcp) = shoal_dns::bind(p.dns).await?;
    let statsd = shoal_metrics::StatsdListeners::bind(p.statsd).await?;
    let at = Endpoints {
        http: api_listener.local_addr()?,
        gateway: gw_listener.local_addr()?,
        dns: dns_udp.local_addr()?,
        statsd: statsd.local_addr(),
        redirect: match &redirect_listener {
            Some(l) => Some(l.local_addr()?),
            None => None,
        },
    };
    let metrics = shoal_metrics::Metrics::new(shoal_metrics::MetricsConfig::from_env());
    let logs = open_logs(&p.data_dir.join("logs"))?;
    if echo_logs {
        crate::banner::echo_logs(&logs);
    }
    let errors_file = p.data_dir.join("errors.json");
    let errors = Arc::new(crate::observe::open_errors(&errors_file));
    // The event stream, kept in `data_dir/events.jsonl` too (read back here).
    let events_file = p.data_dir.join("events.jsonl");
    let events = Arc::new(
        shoal_events::EventLog::open(&events_file, shoal_events::CAPACITY).with_context(|| {
            format!(
                "cannot open the event stream file {}",
                events_file.display()
            )
        })?,
    );

    // Profiles of this node's instances, kept in `data_dir/profiles`.
    let profiles_dir = p.data_dir.join("profiles");
    let profiler = shoal_profile::Profiler::open(&profiles_dir).with_context(|| {
        format!(
            "cannot open the profiles directory {}",
            profiles_dir.display()
        )
    })?;

    // Flags follow the file's `[flags.*]`; a flag unchanged in the file keeps
    // what `shoal flag set` made of it.
    if cluster.is_none() {
        shoal_api::seed_flags(dyn_store.as_ref(), &spec.flags, &events).await?;
    }

    let mut tasks = Tasks::default();
    let (mut hooks, traces) =
        crate::observe::start_telemetry(&mut tasks, &logs, &errors, &metrics)?;
    // A request held for a service at zero asks the autoscaler for an instance.
    let wakes = shoal_autoscaler::Wakes::default();
    let w = wakes.clone();
    hooks.wake = Some(Arc::new(move |service: &str| w.wake(service)));
    let plane = crate::plane::start_proxy(
        &mut tasks,
        &spec,
        &dyn_store,
        hooks,
        crate::plane::Gateway {
            listener: gw_listener,
            transport: match &tls {
                Some(t) => shoal_proxy::Transport::Tls(t.gateway.clone()),
                None => shoal_proxy::Transport::Plain,
            },
        },
        &events,
        &metrics,
    )?;
    if let Some(t) = &tls {
        crate::tls::start_reload(&mut tasks, &t.certs, &events);
    }
    if let Some(listener) = redirect_listener {
        let https_port = at.gateway.port();
        tasks.fatal("redirect", move |stop| {
            shoal_proxy::serve_redirect(listener, https_port, stop.stopped())
        });
    }
    crate::observe::start_errors(&mut tasks, &errors, &errors_file, &events, &logs);
    let proxy = plane.proxy.clone();
    let last_minute = metrics.clone();
    let api_state = Arc::new(shoal_api::ApiState {
        fleet: plane.fleet.clone(),
        flag_counts: Some(Arc::new(move || last_minute.flags.last_minute())),
        store: dyn_store.clone(),
        logs: logs.clone(),
        node: node.clone(),
        http: at.http,
        gateway: at.gateway,
        started: Instant::now(),
        keyring: keyring.clone(),
        tokens,
        events: events.clone(),
        metrics: Some(metrics.clone()),
        traces: Some(Arc::new(crate::traces::LogSpans(logs.clone()))),
        errors: Some(errors.clone()),
        base_dir: spec.base_dir.clone(),
        cluster_grace: cluster.map(|a| a.grace),
        chaos: spec.platform.chaos,
        script_checks: spec.platform.enable_script_checks,
        profiler: Some(Arc::new(profiler)),
        proxy: Some(Arc::new(move || {
            serde_json::to_value(proxy.snapshot()).unwrap_or_default()
        })),
    });
    // It owns its listener: if it ends, shoal stops.
    tasks.fatal("api", move |stop| {
        shoal_api::serve_with(api_listener, api_state, api_tls, stop.stopped())
    });
    let agent = shoal_dns::AgentNode {
        node: node.clone(),
        address: at.http.ip(),
    };
    crate::plane::start_dns(&mut tasks, &spec, &plane.fleet, agent, (dns_udp, dns_tcp));
    if cluster.is_none() {
        crate::plane::start_autoscaler(
            &mut tasks,
            &dyn_store,
            &plane,
            &metrics,
            &events,
            wakes.clone(),
            None,
        );
        crate::plane::start_monkey(&mut tasks, &dyn_store, &plane, &events, None);
    }
    // Checks of services registered through the Consul agent API, and session expiry.
    let consul = Arc::new(shoal_consul::ConsulState::new(
        dyn_store.clone(),
        node.clone(),
        at.http,
    ));
    tasks.restart("consul-checks", move |stop| {
        shoal_consul::run_checks(consul.clone(), stop.receiver())
    });
    crate::observe::start_metrics(&mut tasks, &metrics, statsd, &dyn_store);

    let membership = match cluster {
        None => None,
        Some(a) => {
            let record = shoal_cluster::NodeRecord::local(
                &node,
                a.advertise.unwrap_or(at.http.ip()),
                at.http,
                at.gateway,
                a.labels.iter().cloned().collect(),
            );
            let registered = shoal_cluster::Registration::new(
                dyn_store.clone(),
                record,
                shoal_cluster::DEFAULT_NODE_TTL,
            )
            .spawn();
            let campaign = shoal_cluster::Election::new(
                dyn_store.clone(),
                "controller",
                &node,
                shoal_cluster::DEFAULT_LEADER_TTL,
            )
            .spawn();
            Some(Membership {
                registered,
                campaign,
            })
        }
    };
    if let Some(m) = &membership {
        // Every node runs a monkey; the leader's acts.
        let leader = Some(m.campaign.leadership());
        crate::plane::start_monkey(&mut tasks, &dyn_store, &plane, &events, leader);
        // Every node measures and publishes; the leader decides on every node's signals.
        let leading = (node.clone(), m.campaign.leadership());
        crate::plane::start_autoscaler(
            &mut tasks,
            &dyn_store,
            &plane,
            &metrics,
            &events,
            wakes,
            Some(leading),
        );
    }
    let mode = match (&membership, cluster) {
        (Some(m), Some(a)) => Some(shoal_agent::ClusterMode {
            leadership: m.campaign.leadership(),
            grace: a.grace,
        }),
        _ => None,
    };
    let agent = Agent::start_mode(
        AgentConfig {
            node,
            address: cluster.and_then(|a| a.advertise).unwrap_or(at.http.ip()),
            cwd: spec.base_dir.clone(),
            platform: PlatformEnv {
                http: at.http,
                gateway: at.gateway,
                statsd: at.statsd,
                outbound: plane.outbound,
            },
            port_range: (p.port_range.start, p.port_range.end),
            pid_file,
            keyring: Some(keyring.clone()),
            events: events.clone(),
            fleet: plane.fleet.clone(),
            traffic: Some(traffic_source(&metrics)),
            announce_since_ms: applied_ms,
        },
        dyn_store.clone(),
        logs.clone(),
        mode,
    )?;

    let endpoints = p.data_dir.join("endpoints.json");
    at.write(&endpoints)?;
    crate::banner::print(&spec, file, &at, &p.data_dir);
    // A start-up report that ends by itself: not supervised.
    let progress = tokio::spawn(crate::progress::report(
        Arc::new(spec.clone()),
        dyn_store.clone(),
        Duration::from_secs(120),
    ));
    let failure = tokio::select! {
        () = wait_for_signal() => None,
        f = tasks.failed() => Some(f),
    };
    progress.abort();
    // Streams that would hold the API open: they end now.
    shoal_consul::monitor::end_all();
    if let Some(f) = &failure {
        eprintln!("shoal: {f}; stopping");
    }
    eprintln!(
        "shoal: stopping every instance (SIGTERM, then SIGKILL after each service's drain)..."
    );
    agent.shutdown().await;
    if let Some(m) = membership {
        // The next leader takes over at once; this node's records go now, not at expiry.
        m.campaign.resign().await;
        m.registered.deregister().await;
    }
    // The instances' last lines are in; write what the disk log has queued.
    logs.close();
    // Every task stops and is awaited; telemetry is aborted last (records still
    // queued die with the in-memory stores they were going to).
    tasks.stop().await;
    traces.finish().await;
    crate::observe::save_errors(&errors, &errors_file).await;
    if let Some(store) = embedded {
        store.close().await;
    }
    let _ = std::fs::remove_file(&endpoints);
    eprintln!("shoal: stopped");
    match failure {
        None => Ok(()),
        Some(f) => Err(anyhow::anyhow!("{f} (every instance was stopped)")),
    }
}

async fn open_store(path: &Path) -> anyhow::Result<Arc<EmbeddedStore>> {
    EmbeddedStore::open(path, EmbeddedOptions::default())
        .await
        .with_context(|| {
            format!(
                "cannot open the store at {} (is another shoal using this data_dir?)",
                path.display()
            )
        })
}

fn open_logs(dir: &Path) -> anyhow::Result<Arc<LogStore>> {
    let logs = LogStore::open_with_kinds(
        LogLimits::from_env()?,
        dir,
        shoal_logs::DiskLimits::from_env()?,
        crate::telemetry::LINE_KINDS,
    )
    .with_context(|| format!("cannot open the log directory {}", dir.display()))?;
    Ok(Arc::new(logs))
}

async fn wait_for_signal() {
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn node_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "local".to_string())
}

/// The proxy's per-version request totals, as canary judgement reads them.
fn traffic_source(metrics: &Arc<shoal_metrics::Metrics>) -> shoal_agent::TrafficSource {
    let metrics = metrics.clone();
    Arc::new(move |service: &str| shoal_agent::Traffic {
        totals: metrics
            .version_totals(service)
            .into_iter()
            .map(|(version, requests, errors, buckets)| {
                let totals = shoal_deploy::Totals {
                    requests,
                    errors,
                    buckets,
                };
                (version, totals)
            })
            .collect(),
        stale: Vec::new(),
    })
}
