//! `shoal up`: wires the store, the agent, the API and the gateway on this
//! machine, runs until Ctrl-C or SIGTERM, then stops every instance.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use arc_swap::ArcSwap;
use shoal_agent::{Agent, AgentConfig, PlatformEnv};
use shoal_logs::{LogLimits, LogStore};
use shoal_proxy::{Hooks, Proxy, ProxyConfig, RouteTable};
use shoal_spec::Spec;
use shoal_store::{EmbeddedOptions, EmbeddedStore, Store};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use crate::cli::UpArgs;

/// Tables whose behaviour is parsed and validated but not yet enforced.
const NOT_YET: &[(&str, &str)] = &[
    (
        ".deploy",
        "canary and blue-green are not enforced yet (config changes roll one instance at a time; drain is used when stopping)",
    ),
    (
        ".scale",
        "the autoscaler does not exist yet (min/max bound `shoal scale`)",
    ),
    ("flags.", "feature flags are not evaluated yet"),
];

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
    match up(spec, &args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SHOAL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

fn warn_unimplemented(spec: &Spec) {
    for section in &spec.sections {
        let note = NOT_YET
            .iter()
            .find(|(needle, _)| section.path.contains(needle) || section.path.starts_with(needle));
        if let Some((_, note)) = note {
            eprintln!(
                "warning: {}:{}:{}: [{}] is parsed but {note}",
                section.location.file, section.location.line, section.location.column, section.path
            );
        }
    }
}

fn refuse_open_public_api(addr: SocketAddr, tokens: &shoal_api::Tokens) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() && !tokens.enabled() {
        bail!(
            "platform.http = {addr} is not a loopback address; Shoal refuses to serve its API beyond this machine without tokens (add [platform.tokens.<name>] with env and rights)"
        );
    }
    Ok(())
}

/// Reads every configured token's value from its environment variable.
fn load_tokens(spec: &Spec) -> anyhow::Result<shoal_api::Tokens> {
    let mut tokens = Vec::new();
    for (name, t) in &spec.platform.tokens {
        let value = std::env::var(&t.env).unwrap_or_default();
        if value.trim().len() < 16 {
            bail!(
                "token `{name}`: environment variable {} must hold the token (at least 16 characters)",
                t.env
            );
        }
        tokens.push(shoal_api::Token {
            name: name.clone(),
            value: value.trim().to_string(),
            rights: t.rights.clone(),
        });
    }
    Ok(shoal_api::Tokens::new(tokens))
}

async fn bind(name: &str, addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on platform.{name} = {addr} (is another shoal or program using it?)")
    })
}

async fn up(spec: Spec, args: &UpArgs) -> anyhow::Result<()> {
    let p = spec.platform.clone();
    let tokens = load_tokens(&spec)?;
    refuse_open_public_api(p.http, &tokens)?;
    warn_unimplemented(&spec);

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

    let store_path = p.data_dir.join("store");
    let store = EmbeddedStore::open(&store_path, EmbeddedOptions::default())
        .await
        .with_context(|| {
            format!(
                "cannot open the store at {} (is another shoal using this data_dir?)",
                store_path.display()
            )
        })?;
    let dyn_store: Arc<dyn Store> = store.clone();
    let keyring = Arc::new(shoal_secrets::Keyring::load_or_create(&p.data_dir)?);
    // Instances of an earlier run are gone (reaped above): their catalog entries too.
    dyn_store
        .delete_prefix(shoal_catalog::CATALOG_PREFIX)
        .await?;
    if let Err(e) = shoal_agent::check_references(&spec, dyn_store.as_ref()).await {
        eprintln!("warning: {e}; the service starts once it is set");
    }
    shoal_agent::apply_spec(&spec, dyn_store.as_ref()).await?;

    let api_listener = bind("http", p.http).await?;
    let gw_listener = bind("gateway", p.gateway).await?;
    let http_addr = api_listener.local_addr()?;
    let gw_addr = gw_listener.local_addr()?;
    let (dns_udp, dns_tcp) = shoal_dns::bind(p.dns).await?;
    let dns_addr = dns_udp.local_addr()?;
    let statsd = shoal_metrics::StatsdListeners::bind(p.statsd).await?;
    let statsd_addr = statsd.local_addr();
    let metrics = shoal_metrics::Metrics::new(shoal_metrics::MetricsConfig::from_env());

    let logs_dir = p.data_dir.join("logs");
    let logs = Arc::new(
        LogStore::open_with_kinds(
            LogLimits::from_env()?,
            &logs_dir,
            shoal_logs::DiskLimits::from_env()?,
            crate::telemetry::LINE_KINDS,
        )
        .with_context(|| format!("cannot open the log directory {}", logs_dir.display()))?,
    );
    if args.logs {
        echo_logs(&logs);
    }
    let errors_file = p.data_dir.join("errors.json");
    let errors = Arc::new(open_errors(&errors_file));
    let table = Arc::new(ArcSwap::from_pointee(RouteTable::default()));
    let (stop_tx, stop_rx) = watch::channel(false);

    // The data plane: its routing table follows the catalog; one engine serves
    // the gateway and every service's outbound listener.
    let routes = tokio::spawn(shoal_proxy::watch::run(
        dyn_store.clone(),
        table.clone(),
        vec![p.domain.clone(), "consul".to_string()],
        stop_rx.clone(),
    ));
    // Every request is an access line (read as its span by `shoal trace`, and
    // exported when SHOAL_OTLP_ENDPOINT is set) and, for a 5xx, an error: all
    // made by one task off the request path, which only queues the record.
    let traces = crate::traces::start(wait_for(stop_rx.clone()))?;
    let (access_hook, access_rx, access_dropped) = crate::telemetry::channel();
    let telemetry = tokio::spawn(crate::telemetry::run(
        access_rx,
        crate::telemetry::Sinks {
            logs: logs.clone(),
            errors: errors.clone(),
            traces: traces.sink(),
        },
        access_dropped,
    ));
    let hooks = Hooks {
        observer: Some(metrics_observer(&metrics)),
        access_log: Some(access_hook),
    };
    let config = ProxyConfig {
        sampler: crate::traces::sampler_from_env(),
        ..ProxyConfig::default()
    };
    let proxy = Proxy::new(table.clone(), config, hooks);
    let mut outbound = std::collections::BTreeMap::new();
    for name in spec.services.keys() {
        let addr = proxy
            .bind_outbound(name)
            .with_context(|| format!("cannot open the outbound proxy listener of {name}"))?;
        outbound.insert(name.clone(), addr);
    }
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
    let errors_feed = tokio::spawn(shoal_errors::run(
        errors.clone(),
        events.subscribe(),
        // Instance lines only: the errors view skips the proxy's access lines,
        // and a full tail would copy (and re-parse) every one of them.
        logs.subscribe_instance_lines(),
        stop_rx.clone(),
    ));
    let errors_keeper = tokio::spawn(shoal_errors::keep(
        errors.clone(),
        errors_file.clone(),
        stop_rx.clone(),
    ));
    // Circuit and ejection changes into the event stream, circuit states into `/metrics`.
    let proxy_changes = tokio::spawn(shoal_proxy::changes::watch_changes(
        proxy.clone(),
        Duration::from_millis(250),
        proxy_change_sink(&events, &metrics),
        stop_rx.clone(),
    ));
    let api_state = Arc::new(shoal_api::ApiState {
        store: dyn_store.clone(),
        logs: logs.clone(),
        node: node_name(),
        http: http_addr,
        gateway: gw_addr,
        started: Instant::now(),
        keyring: keyring.clone(),
        tokens,
        events: events.clone(),
        metrics: Some(metrics.clone()),
        traces: Some(Arc::new(crate::traces::LogSpans(logs.clone()))),
        errors: Some(errors.clone()),
        proxy: Some({
            let proxy = proxy.clone();
            Arc::new(move || serde_json::to_value(proxy.snapshot()).unwrap_or_default())
        }),
    });
    let api = tokio::spawn(shoal_api::serve(
        api_listener,
        api_state,
        wait_for(stop_rx.clone()),
    ));
    let gateway = tokio::spawn(proxy.clone().serve_until(
        gw_listener,
        shoal_spec::GATEWAY_CALLER.into(),
        wait_for(stop_rx.clone()),
    ));
    let dns_cfg = shoal_dns::DnsConfig::for_domain(&p.domain);
    let dns_table = Arc::new(ArcSwap::from_pointee(shoal_dns::DnsTable::empty(&dns_cfg)));
    let dns = tokio::spawn(shoal_dns::serve(
        dns_udp,
        dns_tcp,
        dns_table.clone(),
        wait_for(stop_rx.clone()),
    ));
    let dns_updater = tokio::spawn(shoal_dns::run_table_updater(
        dyn_store.clone(),
        dns_table,
        dns_cfg,
        wait_for(stop_rx.clone()),
    ));
    // Checks of services registered through the Consul agent API, and session expiry.
    let consul_checks = tokio::spawn(shoal_consul::run_checks(
        Arc::new(shoal_consul::ConsulState::new(
            dyn_store.clone(),
            node_name(),
            http_addr,
        )),
        stop_rx.clone(),
    ));
    let metrics_task = tokio::spawn(shoal_metrics::run(
        metrics.clone(),
        statsd,
        dyn_store.clone(),
        stop_rx.clone(),
    ));

    let agent = Agent::start(
        AgentConfig {
            node: node_name(),
            address: http_addr.ip(),
            cwd: spec.base_dir.clone(),
            platform: PlatformEnv {
                http: http_addr,
                gateway: gw_addr,
                statsd: statsd_addr,
                outbound,
            },
            port_range: (p.port_range.start, p.port_range.end),
            pid_file,
            keyring: Some(keyring.clone()),
            events: events.clone(),
        },
        dyn_store.clone(),
        logs.clone(),
    )?;

    let endpoints = p.data_dir.join("endpoints.json");
    write_endpoints(&endpoints, http_addr, gw_addr, dns_addr, statsd_addr)?;
    print_banner(
        &spec,
        &args.file,
        http_addr,
        gw_addr,
        dns_addr,
        statsd_addr,
        &p.data_dir,
    );
    let progress = tokio::spawn(crate::progress::report(
        Arc::new(spec.clone()),
        dyn_store.clone(),
        Duration::from_secs(120),
    ));
    wait_for_signal().await;
    progress.abort();
    eprintln!(
        "shoal: stopping every instance (SIGTERM, then SIGKILL after each service's drain)..."
    );
    agent.shutdown().await;
    // The instances' last lines are in; write what the disk log has queued.
    logs.close();
    let _ = stop_tx.send(true);
    let _ = api.await;
    let _ = gateway.await;
    let _ = routes.await;
    let _ = dns.await;
    let _ = dns_updater.await;
    let _ = consul_checks.await;
    let _ = metrics_task.await;
    // Records still queued die with the in-memory stores they were going to.
    telemetry.abort();
    traces.finish().await;
    let _ = errors_feed.await;
    let _ = errors_keeper.await;
    if let Err(e) = shoal_errors::save_changes(&errors, &errors_file).await {
        tracing::warn!(path = %errors_file.display(), error = %e, "cannot save the errors view");
    }
    let _ = proxy_changes.await;
    store.close().await;
    let _ = std::fs::remove_file(&endpoints);
    eprintln!("shoal: stopped");
    Ok(())
}

async fn wait_for(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
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

fn echo_logs(logs: &Arc<LogStore>) {
    let mut rx = logs.subscribe();
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(l) => println!("{} | {}", l.instance, l.line),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    println!("... {n} lines skipped")
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
}

/// Where this run listens, for scripts and tests that bind `127.0.0.1:0`.
fn write_endpoints(
    path: &Path,
    http: SocketAddr,
    gateway: SocketAddr,
    dns: SocketAddr,
    statsd: SocketAddr,
) -> anyhow::Result<()> {
    let body = serde_json::json!({
        "pid": std::process::id(),
        "http": http.to_string(),
        "gateway": gateway.to_string(),
        "dns": dns.to_string(),
        "statsd": statsd.to_string(),
    });
    shoal_durable::replace(path, body.to_string().as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The errors view, with the groups a previous run saved at `path`. A file
/// that does not parse is set aside as `errors.json.bad` (with a warning) and
/// the view starts empty: the errors view is worth less than a start.
fn open_errors(path: &std::path::Path) -> shoal_errors::Errors {
    let errors = shoal_errors::Errors::default();
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

fn node_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "local".to_string())
}

fn print_banner(
    spec: &Spec,
    file: &Path,
    http: SocketAddr,
    gateway: SocketAddr,
    dns: SocketAddr,
    statsd: SocketAddr,
    data_dir: &Path,
) {
    let names: Vec<&str> = spec.services.keys().map(String::as_str).collect();
    eprintln!(
        "shoal: running {} ({} service(s): {})",
        file.display(),
        names.len(),
        names.join(", ")
    );
    eprintln!("  api + consul api   http://{http}   (shoal status, shoal ps, shoal logs)");
    eprintln!("  gateway            http://{gateway}   (Host: <service>)");
    eprintln!(
        "  dns (udp + tcp)    {dns}   (dig @{} -p {} <service>.service.{})",
        dns.ip(),
        dns.port(),
        spec.platform.domain
    );
    eprintln!("  data               {}", data_dir.display());
    eprintln!("  statsd (udp + tcp) {statsd}   (/metrics on the api)");
    eprintln!("  press Ctrl-C to stop");
}

/// Reports every request the proxy answers to the metrics, and each one Shoal refused.
fn metrics_observer(metrics: &Arc<shoal_metrics::Metrics>) -> shoal_proxy::Observer {
    let m = metrics.clone();
    Arc::new(move |r: &shoal_proxy::RequestRecord<'_>| {
        m.observe_request(r.service, r.version, r.code, r.caller, r.duration);
        if let Some(reason @ ("shed" | "rate-limited" | "circuit-open")) = r.reason {
            m.protection.observe_shed(r.service, r.caller, reason);
        }
    })
}

/// Circuit and ejection changes as events; every snapshot's circuit states as a gauge.
fn proxy_change_sink(
    events: &Arc<shoal_events::EventLog>,
    metrics: &Arc<shoal_metrics::Metrics>,
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
