//! One instance's lifecycle task: start the process, check its health, restart
//! it with backoff when it dies or stays unhealthy, stop it on request.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shoal_catalog::{Health, InstanceRecord, InstanceState};
use shoal_events::Kind;
use shoal_health::{CheckOutcome, HealthPolicy, HealthTracker};
use shoal_logs::{LogStore, Stream};
use shoal_store::Store;
use shoal_supervisor::{Backoff, LaunchSpec, Program, RestartTracker};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::desired::GroupSpec;
use crate::env::{platform_vars, InstanceIdentity, PlatformEnv};
pub use shoal_catalog::now_ms;

/// Orders sent to an instance task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Stop,
    Restart,
    /// SIGKILL the process, as a crash: it is restarted by the restart policy (chaos).
    Kill,
}

impl Order {
    /// The order a restart request asks for.
    pub fn of_request(req: &shoal_catalog::RestartRequest) -> Order {
        if req.kill {
            Order::Kill
        } else {
            Order::Restart
        }
    }
}

/// What instance tasks tell the catalog writer.
#[derive(Debug, Clone)]
pub enum Update {
    Upsert(Box<InstanceRecord>),
    Removed { service: String, id: String },
}

/// Everything an instance task needs from the agent.
pub struct InstanceCtx {
    pub store: Arc<dyn Store>,
    pub logs: Arc<LogStore>,
    pub pids: crate::pids::PidWriter,
    pub updates: mpsc::UnboundedSender<Update>,
    pub platform: PlatformEnv,
    pub cwd: PathBuf,
    pub node: String,
    pub address: IpAddr,
    pub keyring: Option<Arc<shoal_secrets::Keyring>>,
    pub events: Arc<shoal_events::EventLog>,
    /// Woken on every instance state change, so the controller can take the next rollout step.
    pub changed: Arc<tokio::sync::Notify>,
}

/// How long a stopping instance stays out of the routing tables before it gets
/// SIGTERM, so no new request is sent to a process that is going away.
const DEREGISTER_DELAY: Duration = Duration::from_millis(200);

/// Check interval while an instance has no health verdict yet.
const STARTUP_PROBE: Duration = Duration::from_millis(100);

/// How one run of the process ended.
enum RunEnd {
    Exited(String),
    Ordered(Order),
    Liveness,
}

/// A running instance task as the controller sees it.
pub struct Instance {
    pub group: GroupSpec,
    pub fingerprint: u64,
    pub record: Arc<Mutex<InstanceRecord>>,
    pub orders: mpsc::Sender<Order>,
    pub seq: u64,
    pub stopping: bool,
    pub task: tokio::task::JoinHandle<()>,
}

struct Task {
    ctx: Arc<InstanceCtx>,
    group: GroupSpec,
    /// The spec's env, resolved when the instance was created; kept across restarts.
    env: Vec<(String, String)>,
    record: Arc<Mutex<InstanceRecord>>,
}

impl Task {
    fn publish(&self, f: impl FnOnce(&mut InstanceRecord)) {
        let snapshot = {
            let mut r = match self.record.lock() {
                Ok(r) => r,
                Err(poisoned) => poisoned.into_inner(),
            };
            f(&mut r);
            r.clone()
        };
        let _ = self.ctx.updates.send(Update::Upsert(Box::new(snapshot)));
        self.ctx.changed.notify_one();
    }

    fn event(&self, kind: Kind, id: &str, message: String, fields: serde_json::Value) {
        self.ctx
            .events
            .emit(kind, &self.group.service, id, message, fields);
    }

    /// The instance's last few stderr lines, for exit events.
    fn stderr_tail(&self, id: &str) -> Vec<String> {
        let q = shoal_logs::LogQuery {
            instance: Some(id.to_string()),
            limit: 200,
            ..Default::default()
        };
        let mut lines: Vec<String> = self
            .ctx
            .logs
            // On the supervisor's task: the ring only, no walk of the disk log.
            .query_memory(&q)
            .into_iter()
            .filter(|l| l.stream == Stream::Stderr)
            .map(|l| l.line)
            .collect();
        lines.drain(..lines.len().saturating_sub(5));
        lines
    }

    fn log(&self, id: &str, line: &str) {
        self.ctx.logs.append(
            &self.group.service,
            &self.group.version,
            id,
            Stream::System,
            line,
        );
    }
}

/// Starts the task of a new instance with its resolved env.
pub fn start(
    ctx: Arc<InstanceCtx>,
    group: GroupSpec,
    env: Vec<(String, String)>,
    id: String,
    port: u16,
    seq: u64,
) -> Instance {
    let fingerprint = group.fingerprint;
    let record = Arc::new(Mutex::new(InstanceRecord {
        state: InstanceState::Backoff,
        health: Health::Starting,
        started_ms: now_ms(),
        group: group.group.clone(),
        fingerprint,
        deployment: group.deployment,
        ..InstanceRecord::new(
            id.clone(),
            group.service.clone(),
            group.version.clone(),
            ctx.node.clone(),
            ctx.address.to_string(),
            port,
        )
    }));
    let (orders, rx) = mpsc::channel(8);
    let task = Task {
        ctx,
        group: group.clone(),
        env,
        record: record.clone(),
    };
    let handle = tokio::spawn(task.run(id, port, rx));
    Instance {
        group,
        fingerprint,
        record,
        orders,
        seq,
        stopping: false,
        task: handle,
    }
}

impl Task {
    async fn run(self, id: String, port: u16, mut orders: mpsc::Receiver<Order>) {
        let backoff = Backoff::new(self.group.restart.initial, self.group.restart.max);
        let mut restarts = RestartTracker::new(backoff);
        let mut delay = Duration::ZERO;
        let mut first = true;
        loop {
            if !delay.is_zero() {
                self.publish(|r| {
                    r.state = InstanceState::Backoff;
                    r.pid = None;
                });
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    order = orders.recv() => match order {
                        Some(Order::Restart | Order::Kill) => {}
                        Some(Order::Stop) | None => break,
                    },
                }
            }
            if !first {
                self.publish(|r| r.restarts += 1);
            }
            first = false;
            let end = self.run_once(&id, port, &mut orders, &mut restarts).await;
            match end {
                RunEnd::Ordered(Order::Stop) => break,
                RunEnd::Ordered(Order::Restart | Order::Kill) => {
                    self.log(&id, "restart requested");
                    delay = Duration::ZERO;
                }
                RunEnd::Liveness | RunEnd::Exited(_) => {
                    let jitter: f64 = rand::random();
                    delay = restarts.on_exit(Instant::now(), jitter);
                    let looping = restarts.crash_looping();
                    let failures = restarts.consecutive_failures();
                    self.publish(|r| {
                        r.consecutive_failures = failures;
                        r.crash_loop = looping;
                    });
                    self.log(&id, &format!("restarting in {delay:?}"));
                    self.event(
                        Kind::Restart,
                        &id,
                        format!("restarting in {} ms", delay.as_millis()),
                        serde_json::json!({ "delay_ms": delay.as_millis() as u64, "consecutive_failures": failures, "crash_loop": looping }),
                    );
                }
            }
        }
        let _ = self.ctx.updates.send(Update::Removed {
            service: self.group.service.clone(),
            id,
        });
        self.ctx.changed.notify_one();
    }

    /// Spawns the process once and watches it until it ends or is ordered away.
    async fn run_once(
        &self,
        id: &str,
        port: u16,
        orders: &mut mpsc::Receiver<Order>,
        restarts: &mut RestartTracker,
    ) -> RunEnd {
        let spec = self.launch_spec(id, port);
        let logs = self.ctx.logs.clone();
        let (svc, ver, inst) = (
            self.group.service.clone(),
            self.group.version.clone(),
            id.to_string(),
        );
        let sink = move |stream: shoal_supervisor::Stream, line: &str| {
            logs.append(&svc, &ver, &inst, stream, line);
        };
        let mut proc = match shoal_supervisor::spawn(&spec, std::sync::Arc::new(sink)).await {
            Ok(p) => p,
            Err(e) => return self.spawn_failed(id, &e.to_string()),
        };
        self.track_pid(id, Some((proc.pid, proc.start_time_ticks)));
        let started = Instant::now();
        restarts.on_start(started);
        let has_check = self.group.health.is_some();
        self.publish(|r| {
            r.state = InstanceState::Running;
            r.pid = Some(proc.pid);
            r.started_ms = now_ms();
            r.health = if has_check {
                Health::Starting
            } else {
                Health::Passing
            };
            r.healthy_since_ms = (!has_check).then(now_ms);
            r.health_output.clear();
        });
        self.log(id, &format!("started pid {} on port {port}", proc.pid));
        self.event(
            Kind::InstanceStarted,
            id,
            format!("started pid {} on port {port}", proc.pid),
            serde_json::json!({ "pid": proc.pid, "port": port, "version": self.group.version }),
        );

        let end = self
            .watch(id, port, &mut proc, orders, restarts, started)
            .await;
        let exit = match &end {
            RunEnd::Exited(exit) => exit.clone(),
            RunEnd::Ordered(_) | RunEnd::Liveness => {
                let was_serving = self.with_record(|r| r.is_routable());
                self.publish(|r| r.state = InstanceState::Stopping);
                if was_serving {
                    tokio::time::sleep(DEREGISTER_DELAY.min(self.group.drain)).await;
                }
                proc.stop(self.group.drain).await.to_string()
            }
        };
        self.track_pid(id, None);
        self.log(id, &format!("process {} ended: {exit}", proc.pid));
        match &end {
            RunEnd::Exited(_) => self.event(
                Kind::InstanceExited,
                id,
                format!("process {} exited unexpectedly: {exit}", proc.pid),
                serde_json::json!({ "pid": proc.pid, "exit": exit, "stderr_tail": self.stderr_tail(id) }),
            ),
            RunEnd::Liveness => self.event(
                Kind::InstanceStopped,
                id,
                format!("process {} stopped for liveness: {exit}", proc.pid),
                serde_json::json!({ "pid": proc.pid, "exit": exit, "reason": "liveness" }),
            ),
            RunEnd::Ordered(order) => self.event(
                Kind::InstanceStopped,
                id,
                format!("process {} stopped: {exit}", proc.pid),
                serde_json::json!({ "pid": proc.pid, "exit": exit, "reason": format!("{order:?}").to_lowercase() }),
            ),
        }
        self.publish(|r| {
            r.last_exit = Some(exit.clone());
            r.pid = None;
            r.healthy_since_ms = None;
            r.health = Health::Critical;
            r.state = InstanceState::Backoff;
        });
        end
    }

    async fn watch(
        &self,
        id: &str,
        port: u16,
        proc: &mut shoal_supervisor::RunningProcess,
        orders: &mut mpsc::Receiver<Order>,
        restarts: &mut RestartTracker,
        started: Instant,
    ) -> RunEnd {
        let addr = SocketAddr::new(self.ctx.address, port);
        let mut tracker = self.group.health.as_ref().map(|h| {
            HealthTracker::new(
                HealthPolicy {
                    healthy_threshold: h.healthy_threshold,
                    unhealthy_threshold: h.unhealthy_threshold,
                    grace: h.grace,
                    restart_after: h.restart_after,
                },
                started,
            )
        });
        let interval = self
            .group
            .health
            .as_ref()
            .map_or(Duration::from_secs(1), |h| h.interval);
        // The first check runs soon after start so a fast app is healthy fast.
        let mut next_check = started + interval.min(Duration::from_millis(50));
        let mut check: Option<futures::future::BoxFuture<'static, CheckOutcome>> = None;
        let mut healthy_since: Option<Instant> = self.group.health.is_none().then_some(started);
        let mut reset_timer = Instant::now() + Duration::from_secs(1);
        loop {
            tokio::select! {
                exit = proc.wait() => return RunEnd::Exited(exit.to_string()),
                order = orders.recv() => match order {
                    // Killed as a crash would: `proc.wait` then sees it exit.
                    Some(Order::Kill) => {
                        self.log(id, "killed by chaos (SIGKILL)");
                        if let Err(e) = shoal_supervisor::signal_group(proc.pid, shoal_supervisor::Signal::SIGKILL) {
                            tracing::warn!(instance = %id, error = %e, "chaos kill failed");
                        }
                    }
                    other => return RunEnd::Ordered(other.unwrap_or(Order::Stop)),
                },
                () = tokio::time::sleep_until(next_check), if check.is_none() && tracker.is_some() => {
                    // Until the first verdict, probe often so a fast app serves fast
                    // (like a startup probe); then at the configured interval.
                    let starting = tracker.as_ref().is_some_and(|t| t.health() == Health::Starting);
                    next_check = Instant::now() + if starting { interval.min(STARTUP_PROBE) } else { interval };
                    check = self.group.health.as_ref().map(|h| self.check_future(h, addr));
                }
                outcome = async { match check.as_mut() { Some(f) => f.await, None => std::future::pending().await } }, if check.is_some() => {
                    check = None;
                    let now = Instant::now();
                    if let Some(t) = tracker.as_mut() {
                        let change = t.observe(&outcome, now);
                        let output = t.last_output().to_string();
                        let health = t.health();
                        if let Some((old, new)) = change {
                            self.log(id, &format!("health {old:?} -> {new:?}: {output}"));
                            self.event(
                                Kind::HealthChanged,
                                id,
                                format!("health {} -> {}", old.as_str(), new.as_str()),
                                serde_json::json!({ "from": old.as_str(), "to": new.as_str(), "output": output }),
                            );
                        }
                        healthy_since = match (health.serves_traffic(), healthy_since) {
                            (true, None) => Some(now),
                            (true, s) => s,
                            (false, _) => None,
                        };
                        self.publish_health(health, output, healthy_since.is_some());
                        if t.should_restart(now) {
                            self.log(id, "unhealthy longer than restart_after: restarting (liveness)");
                            return RunEnd::Liveness;
                        }
                    }
                }
                () = tokio::time::sleep_until(reset_timer) => {
                    reset_timer += Duration::from_secs(1);
                    if let Some(since) = healthy_since {
                        restarts.on_healthy_for(now_since(since));
                        let (failures, looping) = (restarts.consecutive_failures(), restarts.crash_looping());
                        let changed = self.with_record(|r| r.consecutive_failures != failures || r.crash_loop != looping);
                        if changed {
                            self.publish(|r| { r.consecutive_failures = failures; r.crash_loop = looping; });
                        }
                    }
                }
            }
        }
    }

    fn with_record<T>(&self, f: impl FnOnce(&InstanceRecord) -> T) -> T {
        match self.record.lock() {
            Ok(r) => f(&r),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }

    /// Publishes a check's verdict; `serving` stamps (or clears) since when it serves.
    fn publish_health(&self, health: Health, output: String, serving: bool) {
        let changed = self.with_record(|r| {
            r.health != health
                || r.health_output != output
                || r.healthy_since_ms.is_some() != serving
        });
        if changed {
            self.publish(|r| {
                r.health = health;
                r.health_output = output;
                if !serving {
                    r.healthy_since_ms = None;
                } else if r.healthy_since_ms.is_none() {
                    r.healthy_since_ms = Some(now_ms());
                }
            });
        }
    }

    fn check_future(
        &self,
        h: &shoal_spec::HealthSpec,
        addr: SocketAddr,
    ) -> futures::future::BoxFuture<'static, CheckOutcome> {
        let kind = h.check.clone();
        let timeout = h.timeout;
        if let (Some(tls), shoal_spec::CheckKind::Http { path }) = (&self.group.tls, &kind) {
            let probe = https_check(&self.group.service, tls, addr, path);
            return Box::pin(async move {
                match probe {
                    Ok(p) => shoal_health::run_probe(&p, timeout).await.outcome,
                    Err(e) => CheckOutcome::Critical(e),
                }
            });
        }
        let cwd = self.ctx.cwd.clone();
        let env = vec![("PORT".to_string(), addr.port().to_string())];
        Box::pin(async move { shoal_health::run_check(&kind, addr, timeout, &env, &cwd).await })
    }

    fn spawn_failed(&self, id: &str, error: &str) -> RunEnd {
        self.log(id, &format!("could not start: {error}"));
        self.event(
            Kind::StartFailed,
            id,
            format!("could not start: {error}"),
            serde_json::Value::Null,
        );
        self.publish(|r| {
            r.state = InstanceState::Failed;
            r.health = Health::Critical;
            r.last_exit = Some(format!("could not start: {error}"));
        });
        RunEnd::Exited(format!("could not start: {error}"))
    }

    fn track_pid(&self, id: &str, pid: Option<(u32, u64)>) {
        self.ctx.pids.record(id, pid);
    }

    fn launch_spec(&self, id: &str, port: u16) -> LaunchSpec {
        let identity = InstanceIdentity {
            service: &self.group.service,
            version: &self.group.version,
            instance: id,
            port,
        };
        let mut env = platform_vars(&self.ctx.platform, &identity);
        env.extend(self.env.iter().cloned());
        let program = match &self.group.command {
            shoal_spec::Command::Argv(argv) => Program::Argv(argv.clone()),
            shoal_spec::Command::Shell(s) => Program::Shell(s.clone()),
        };
        LaunchSpec {
            program,
            env,
            cwd: self.ctx.cwd.clone(),
            instance_id: id.to_string(),
        }
    }
}

fn now_since(since: Instant) -> Duration {
    Instant::now().saturating_duration_since(since)
}

/// Removes the instances whose task has ended, releasing their ports.
pub(crate) fn collect_finished(
    instances: &mut std::collections::HashMap<String, Instance>,
    ports: &mut shoal_supervisor::PortAllocator,
) {
    let done: Vec<String> = instances
        .iter()
        .filter(|(_, i)| i.task.is_finished())
        .map(|(id, _)| id.clone())
        .collect();
    for id in done {
        if let Some(inst) = instances.remove(&id) {
            if let Ok(r) = inst.record.lock() {
                ports.release(r.port);
            }
        }
    }
}

/// Tells every instance to stop, then waits for each to end.
pub(crate) async fn stop_all(instances: &mut std::collections::HashMap<String, Instance>) {
    for inst in instances.values() {
        let _ = inst.orders.send(Order::Stop).await;
    }
    for (_, inst) in instances.drain() {
        let _ = inst.task.await;
    }
}

/// The next change a watch brings; a closed watch waits forever (it must not spin a loop).
pub(crate) async fn next_change(w: &mut shoal_store::Watcher) {
    match w.next().await {
        Some(_) => {}
        None => std::future::pending::<()>().await,
    }
}

/// The HTTPS probe of a `[services.X.tls]` service's HTTP check: verified as the
/// proxy verifies (the CA, or skip-verify; the server name, or the service's).
fn https_check(
    service: &str,
    tls: &shoal_spec::ServiceTls,
    addr: SocketAddr,
    path: &str,
) -> Result<shoal_health::Probe, String> {
    let roots = match (&tls.ca, tls.skip_verify) {
        (Some(ca), false) => {
            Some(shoal_tls::read_ca(ca).map_err(|e| format!("{}: {e}", tls.location))?)
        }
        _ => None,
    };
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    Ok(shoal_health::Probe::Http(shoal_health::HttpProbe {
        method: String::new(),
        url: format!("https://{addr}{path}"),
        headers: Vec::new(),
        body: String::new(),
        tls: shoal_health::TlsOptions {
            skip_verify: tls.skip_verify,
            server_name: tls
                .server_name
                .clone()
                .unwrap_or_else(|| service.to_owned()),
            roots,
        },
    }))
}
