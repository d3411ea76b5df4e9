//! Command-line definition (clap) and dispatch to the client commands or `up`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use shoal_cli::{Client, LogsArgs, Order, ScaleArgs};

/// Shoal runs a fleet of services on your machines: deploy, run, connect, observe.
#[derive(Parser, Debug)]
#[command(name = "shoal", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command that talks to a running Shoal.
#[derive(Args, Debug, Clone)]
pub struct Remote {
    /// Address of Shoal's HTTP API.
    #[arg(
        long,
        env = "SHOAL_ADDR",
        default_value = "http://127.0.0.1:8500",
        global = true
    )]
    pub addr: String,
    /// API token (sent as `Authorization: Bearer`).
    #[arg(long, env = "SHOAL_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// CA certificate file (PEM) to check an https:// API's certificate with,
    /// as CONSUL_CACERT; without it, the system's trusted roots.
    #[arg(long, env = "SHOAL_CACERT", global = true)]
    pub cacert: Option<PathBuf>,
    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start the whole platform in the foreground and run the services of FILE.
    Up(UpArgs),
    /// Run this machine as one node of a cluster whose state is in etcd: it registers
    /// itself, runs the instances placed on it, serves the gateway, DNS and API for the
    /// whole cluster, and plans for every node while elected leader. Deploy with
    /// `shoal deploy FILE` against any node.
    Agent(AgentArgs),
    /// Check a service file and print every problem with FILE:LINE:COLUMN; starts nothing.
    Validate {
        /// The service file.
        #[arg(default_value = "shoal.toml")]
        file: PathBuf,
    },
    /// Services with their versions, healthy instances and restarts; or one service in detail.
    Status {
        /// Show this service and its instances.
        service: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Apply a new spec: each changed service is rolled out by its strategy;
    /// `--dry-run` prints the plan. `--promote/--abort SERVICE` steers a running deployment.
    #[command(group(clap::ArgGroup::new("what").args(["file", "promote", "abort"]).required(true)))]
    Deploy {
        /// The service file (checked here first; every problem is printed with FILE:LINE:COLUMN).
        file: Option<PathBuf>,
        /// Deploy only this service of the file.
        #[arg(long, conflicts_with_all = ["promote", "abort"])]
        service: Option<String>,
        /// Print what would change (like `nomad job plan`); write nothing.
        #[arg(long, conflicts_with_all = ["promote", "abort"])]
        dry_run: bool,
        /// Wait (a progress bar per service) until every deployment ends; exit 1 unless all succeed.
        #[arg(long, conflicts_with = "dry_run")]
        wait: bool,
        /// Skip the remaining canary steps of SERVICE's running deployment: all traffic to the new version.
        #[arg(long, value_name = "SERVICE", conflicts_with_all = ["file", "abort"])]
        promote: Option<String>,
        /// Stop SERVICE's running deployment and return to the previous spec.
        #[arg(long, value_name = "SERVICE", conflicts_with_all = ["file", "promote"])]
        abort: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Feature flags: list them, show one, change rollout and targeting, delete.
    #[command(after_help = shoal_cli::FLAG_EXAMPLES)]
    Flag {
        #[command(subcommand)]
        command: shoal_cli::FlagCommand,
        #[command(flatten)]
        remote: Remote,
    },
    /// A CPU profile of an instance (or a service's busiest): its top functions, flame graph, pprof.
    #[command(after_help = shoal_cli::PROFILE_EXAMPLES)]
    Profile {
        #[command(flatten)]
        args: shoal_cli::ProfileArgs,
        #[command(flatten)]
        remote: Remote,
    },
    /// Chaos on purpose: kill instances, inject latency, errors, resets or a bandwidth cap.
    #[command(after_help = shoal_cli::CHAOS_EXAMPLES)]
    Chaos {
        #[command(subcommand)]
        command: shoal_cli::ChaosCommand,
        #[command(flatten)]
        remote: Remote,
    },
    /// Return a service to its previous spec (a traffic switch while the old version is kept warm).
    Rollback {
        service: String,
        /// Return to the spec of this deployment (an ID of `shoal history SERVICE`).
        #[arg(long, value_name = "ID")]
        to: Option<u64>,
        /// Wait (with a progress bar) until the rollback ends; exit 1 unless it succeeds.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Past deployments of a service: strategy, versions, status, duration, reason; the newest one's steps.
    History {
        service: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Every instance: pid, address, state, health, restarts, uptime.
    Ps {
        #[command(flatten)]
        remote: Remote,
    },
    /// The cluster's nodes: status (ready, draining, suspect, lost), instances, capacity,
    /// labels, and which one leads.
    Nodes {
        #[command(flatten)]
        remote: Remote,
    },
    /// Drain a node (its instances move to the others, new healthy before old stops) or
    /// let it take instances again.
    Node {
        #[command(subcommand)]
        command: NodeCommand,
        #[command(flatten)]
        remote: Remote,
    },
    /// Set the number of instances of a service's current version.
    Scale {
        service: String,
        /// The instance count (within `[services.X.scale]` bounds).
        #[arg(required_unless_present = "auto")]
        instances: Option<u32>,
        /// With an autoscaler: hold it off this long (default 10m; `until-auto` until
        /// `--auto`).
        #[arg(long, value_name = "DURATION", conflicts_with = "auto")]
        pause: Option<String>,
        /// Hand the count back to the service's autoscaler.
        #[arg(long, conflicts_with_all = ["wait"])]
        auto: bool,
        /// Wait (with a progress bar) until that many instances are healthy.
        #[arg(long)]
        wait: bool,
        /// How long --wait waits.
        #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
        timeout: Duration,
        #[command(flatten)]
        remote: Remote,
    },
    /// Configuration keys (the Consul KV view); services using a changed key are rolled.
    Kv {
        #[command(subcommand)]
        command: KvCommand,
        #[command(flatten)]
        remote: Remote,
    },
    /// Save the platform's state to a file, or restore it (KV, Consul registrations and
    /// sessions, flags, secrets, the desired state of services; not running processes).
    Snapshot {
        #[command(subcommand)]
        command: SnapshotCommand,
        #[command(flatten)]
        remote: Remote,
    },
    /// Credentials, encrypted at rest; services using a changed secret are rolled.
    Secret {
        #[command(subcommand)]
        command: SecretCommand,
        #[command(flatten)]
        remote: Remote,
    },
    /// One request across services: its spans as a waterfall (caller→service, version, instance, status, time).
    Trace {
        /// The trace id (32 hex digits; the X-Trace-Id header of an answer).
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Recent traces, newest first.
    Traces {
        /// Only traces in which this service answered.
        #[arg(long)]
        service: Option<String>,
        /// Only traces with a 5xx or an answer Shoal gave itself.
        #[arg(long)]
        errors: bool,
        /// Only traces at least this many milliseconds long.
        #[arg(long, value_name = "MS")]
        min_ms: Option<u64>,
        /// At most this many traces.
        #[arg(short = 'n', long, default_value_t = 20)]
        limit: usize,
        #[command(flatten)]
        remote: Remote,
    },
    /// What happened: starts, exits (with the last stderr lines), health changes, restarts, scaling, rollouts.
    Events {
        /// Only this service.
        service: Option<String>,
        /// Keep printing new events as they happen.
        #[arg(short, long)]
        follow: bool,
        /// Only this kind (instance_started, instance_exited, health_changed, restart, scaled, rollout, ...).
        #[arg(long)]
        kind: Option<String>,
        /// At most this many past events.
        #[arg(short = 'n', long, default_value_t = 100)]
        lines: usize,
        #[command(flatten)]
        remote: Remote,
    },
    /// A live view of every service: req/s, error rate, p50/p99, instances, CPU, memory.
    Top {
        /// Seconds between refreshes.
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        interval: Duration,
        /// Print one view and exit (for scripts; with --json, one JSON object).
        #[arg(long)]
        once: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Errors grouped by service and cause: 5xx answers, crashes, error-level JSON log lines.
    Errors {
        /// Show this group in detail: counts, the latest example and its request's log lines.
        id: Option<String>,
        /// Only this service.
        #[arg(long)]
        service: Option<String>,
        /// Only this source: http, crash or log.
        #[arg(long)]
        source: Option<String>,
        /// Only groups seen within this long (e.g. 10m, 1h).
        #[arg(long)]
        since: Option<String>,
        /// At most this many groups.
        #[arg(short = 'n', long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        remote: Remote,
    },
    /// Lines the instances wrote (and Shoal's own notes about them).
    Logs {
        /// Only this service (all services when absent).
        service: Option<String>,
        /// Keep printing new lines as they arrive.
        #[arg(short, long)]
        follow: bool,
        /// Only lines newer than this (e.g. 5m, 1h).
        #[arg(long)]
        since: Option<String>,
        /// Only lines containing this text.
        #[arg(long)]
        grep: Option<String>,
        /// Only this instance.
        #[arg(long)]
        instance: Option<String>,
        /// Only lines of this request (W3C trace id), from every service and the proxy.
        #[arg(long, value_name = "ID")]
        trace: Option<String>,
        /// Only JSON lines whose field KEY has VALUE (e.g. --field level=error);
        /// repeat for several, each must match.
        #[arg(long, value_name = "KEY=VALUE")]
        field: Vec<String>,
        /// At most this many past lines.
        #[arg(short = 'n', long, default_value_t = 200)]
        lines: usize,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Subcommand, Debug)]
pub enum SnapshotCommand {
    /// Write a snapshot to FILE (`GET /v1/snapshot`: gzip'd JSON lines).
    Save { file: std::path::PathBuf },
    /// Replace the saved state with FILE's (`PUT /v1/snapshot`); checked whole first.
    Restore { file: std::path::PathBuf },
}

#[derive(Subcommand, Debug)]
pub enum KvCommand {
    /// Print a key's value.
    Get { key: String },
    /// Set a key (VALUE, or standard input when VALUE is `-`). Services that use it roll.
    Put { key: String, value: String },
    /// Delete a key (or every key under it with --recurse).
    Delete {
        key: String,
        #[arg(long)]
        recurse: bool,
    },
    /// List keys under a prefix.
    List {
        #[arg(default_value = "")]
        prefix: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum SecretCommand {
    /// Store a secret; the value is read from standard input unless given (keeps it out of shell history).
    Put { name: String, value: Option<String> },
    /// Print a secret's current value.
    Get { name: String },
    /// Replace a secret with VALUE or a generated random one; the old version stays readable for 10 minutes.
    Rotate { name: String, value: Option<String> },
    /// Secrets with their versions (never values).
    List,
    /// Delete a secret and all its versions.
    Delete { name: String },
}

#[derive(Subcommand, Debug)]
pub enum NodeCommand {
    /// Move the node's instances elsewhere; it takes no new ones.
    Drain { name: String },
    /// Let the node take instances again.
    Undrain { name: String },
}

#[derive(Args, Debug)]
pub struct AgentArgs {
    /// A service file whose `[platform]` this node uses (ports, data_dir, tokens); its
    /// services are not deployed by this (use `shoal deploy`).
    pub file: Option<PathBuf>,
    /// The etcd members: `etcd://h1:2379,h2:2379,h3:2379` (a path adds a key namespace);
    /// else `[platform] store`.
    #[arg(long, env = "SHOAL_STORE")]
    pub store: Option<String>,
    /// This node's name in the cluster (else `[platform] node`, else the hostname).
    #[arg(long, env = "SHOAL_NODE")]
    pub node: Option<String>,
    /// The address other nodes reach this node's instances at (else `[platform] advertise`).
    #[arg(long, env = "SHOAL_ADVERTISE")]
    pub advertise: Option<std::net::IpAddr>,
    /// A node whose lease is gone this long is lost: its instances are placed elsewhere.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub grace: std::time::Duration,
    /// A label for placement constraints, `key=value` (repeat for more; added to
    /// `[platform] labels`).
    #[arg(long = "label", value_parser = parse_label)]
    pub labels: Vec<(String, String)>,
    /// Also print every instance's output lines here (they always go to `shoal logs`).
    #[arg(long)]
    pub logs: bool,
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not key=value")),
    }
}

#[derive(Args, Debug)]
pub struct UpArgs {
    /// The service file.
    #[arg(default_value = "shoal.toml")]
    pub file: PathBuf,
    /// Also print every instance's output lines here (they always go to `shoal logs`).
    #[arg(long)]
    pub logs: bool,
}

fn client(remote: &Remote) -> Result<Client, ExitCode> {
    Client::with_ca(&remote.addr, remote.token.clone(), remote.cacert.clone()).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

fn print(result: Result<String, shoal_cli::ClientError>) -> ExitCode {
    match result {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn read_stdin() -> Result<String, ExitCode> {
    let mut s = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| {
        eprintln!("error: cannot read standard input: {e}");
        ExitCode::from(2)
    })?;
    Ok(s.strip_suffix('\n').unwrap_or(&s).to_string())
}

async fn kv(c: &Client, cmd: KvCommand, json: bool) -> ExitCode {
    let result = match cmd {
        KvCommand::Get { key } => match shoal_cli::kv_get(c, &key).await {
            Ok(v) => {
                use std::io::Write;
                let mut out = std::io::stdout();
                let _ = out.write_all(&v);
                if !v.ends_with(b"\n") {
                    let _ = out.write_all(b"\n");
                }
                return ExitCode::SUCCESS;
            }
            Err(e) => Err(e),
        },
        KvCommand::Put { key, value } => {
            let value = if value == "-" {
                match read_stdin() {
                    Ok(v) => v,
                    Err(code) => return code,
                }
            } else {
                value
            };
            shoal_cli::kv_put(c, &key, value.into_bytes()).await
        }
        KvCommand::Delete { key, recurse } => shoal_cli::kv_delete(c, &key, recurse).await,
        KvCommand::List { prefix } => shoal_cli::kv_list(c, &prefix, json).await,
    };
    print(result)
}

async fn secret(c: &Client, cmd: SecretCommand, json: bool) -> ExitCode {
    let result = match cmd {
        SecretCommand::Put { name, value } => {
            let value = match value {
                Some(v) => v,
                None => match read_stdin() {
                    Ok(v) => v,
                    Err(code) => return code,
                },
            };
            shoal_cli::secret_put(c, &name, Some(value), json).await
        }
        SecretCommand::Rotate { name, value } => shoal_cli::secret_put(c, &name, value, json).await,
        SecretCommand::Get { name } => shoal_cli::secret_get(c, &name, json).await,
        SecretCommand::List => shoal_cli::secret_list(c, json).await,
        SecretCommand::Delete { name } => shoal_cli::secret_delete(c, &name).await,
    };
    print(result)
}

pub async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Top {
            interval,
            once,
            remote,
        } => match client(&remote) {
            Ok(c) => {
                let args = shoal_cli::TopArgs {
                    interval,
                    once,
                    json: remote.json,
                };
                finish(shoal_cli::top(&c, args).await)
            }
            Err(code) => code,
        },
        Command::Errors {
            id,
            service,
            source,
            since,
            limit,
            remote,
        } => match client(&remote) {
            Ok(c) => {
                let args = shoal_cli::ErrorsArgs {
                    id: id.as_deref(),
                    service: service.as_deref(),
                    source: source.as_deref(),
                    since: since.as_deref(),
                    limit,
                    json: remote.json,
                };
                finish(shoal_cli::errors(&c, args).await)
            }
            Err(code) => code,
        },
        Command::Events {
            service,
            follow,
            kind,
            lines,
            remote,
        } => match client(&remote) {
            Ok(c) => {
                let args = shoal_cli::EventsArgs {
                    service: service.as_deref(),
                    kind: kind.as_deref(),
                    limit: lines,
                    follow,
                    json: remote.json,
                };
                finish(shoal_cli::events(&c, args).await)
            }
            Err(code) => code,
        },
        Command::Trace { id, remote } => match client(&remote) {
            Ok(c) => print(shoal_cli::trace(&c, &id, remote.json).await),
            Err(code) => code,
        },
        Command::Traces {
            service,
            errors,
            min_ms,
            limit,
            remote,
        } => match client(&remote) {
            Ok(c) => {
                let args = shoal_cli::TracesArgs {
                    service: service.as_deref(),
                    errors,
                    min_ms,
                    limit,
                    json: remote.json,
                };
                print(shoal_cli::traces(&c, args).await)
            }
            Err(code) => code,
        },
        Command::Kv { command, remote } => match client(&remote) {
            Ok(c) => kv(&c, command, remote.json).await,
            Err(code) => code,
        },
        Command::Snapshot { command, remote } => match client(&remote) {
            Ok(c) => print(match command {
                SnapshotCommand::Save { file } => {
                    shoal_cli::snapshot_save(&c, &file, remote.json).await
                }
                SnapshotCommand::Restore { file } => {
                    shoal_cli::snapshot_restore(&c, &file, remote.json).await
                }
            }),
            Err(code) => code,
        },
        Command::Secret { command, remote } => match client(&remote) {
            Ok(c) => secret(&c, command, remote.json).await,
            Err(code) => code,
        },
        Command::Up(args) => crate::up::run(args).await,
        Command::Agent(args) => crate::up::run_agent(args).await,
        Command::Validate { file } => match shoal_spec::parse_file(&file) {
            Ok(spec) => {
                println!("{}: ok, {} service(s)", file.display(), spec.services.len());
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprint!("{errors}");
                ExitCode::from(2)
            }
        },
        Command::Status { service, remote } => match client(&remote) {
            Ok(c) => print(shoal_cli::status(&c, service.as_deref(), remote.json).await),
            Err(code) => code,
        },
        Command::Deploy {
            file,
            service,
            dry_run,
            wait,
            promote,
            abort,
            remote,
        } => {
            let c = match client(&remote) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let steer = promote
                .map(|s| (s, Order::Promote))
                .or(abort.map(|s| (s, Order::Abort)));
            match (steer, file) {
                (Some((service, order)), _) => {
                    report(shoal_cli::order(&c, &service, order, wait, remote.json).await)
                }
                (None, Some(file)) => {
                    let Ok(toml) = checked_file(&file) else {
                        return ExitCode::from(2);
                    };
                    let args = shoal_cli::DeployArgs {
                        file: &file.display().to_string(),
                        toml,
                        service: service.as_deref(),
                        dry_run,
                        wait,
                        json: remote.json,
                    };
                    report(shoal_cli::deploy(&c, args).await)
                }
                // clap requires one of FILE, --promote, --abort.
                (None, None) => ExitCode::from(2),
            }
        }
        Command::Flag { command, remote } => match client(&remote) {
            Ok(c) => printed(
                shoal_cli::flag(&c, &command, remote.json).await,
                shoal_cli::FlagCliError::exit_code,
            ),
            Err(code) => code,
        },
        Command::Profile { args, remote } => match client(&remote) {
            Ok(c) => printed(
                shoal_cli::profile(&c, &args, remote.json).await,
                shoal_cli::ProfileCliError::exit_code,
            ),
            Err(code) => code,
        },
        Command::Chaos { command, remote } => match client(&remote) {
            Ok(c) => printed(
                shoal_cli::chaos(&c, &command, remote.json).await,
                shoal_cli::ChaosCliError::exit_code,
            ),
            Err(code) => code,
        },
        Command::Rollback {
            service,
            to,
            wait,
            remote,
        } => match client(&remote) {
            Ok(c) => report(shoal_cli::rollback(&c, &service, to, wait, remote.json).await),
            Err(code) => code,
        },
        Command::History { service, remote } => match client(&remote) {
            Ok(c) => print(shoal_cli::history(&c, &service, remote.json).await),
            Err(code) => code,
        },
        Command::Nodes { remote } => match client(&remote) {
            Ok(c) => print(shoal_cli::nodes(&c, remote.json).await),
            Err(code) => code,
        },
        Command::Node { command, remote } => match client(&remote) {
            Ok(c) => {
                let (name, drain) = match &command {
                    NodeCommand::Drain { name } => (name, true),
                    NodeCommand::Undrain { name } => (name, false),
                };
                print(shoal_cli::node_drain(&c, name, drain).await)
            }
            Err(code) => code,
        },
        Command::Ps { remote } => match client(&remote) {
            Ok(c) => print(shoal_cli::ps(&c, remote.json).await),
            Err(code) => code,
        },
        Command::Scale {
            service,
            instances,
            pause,
            auto,
            wait,
            timeout,
            remote,
        } => match client(&remote) {
            Ok(c) if auto => print(shoal_cli::scale_auto(&c, &service, remote.json).await),
            Ok(c) => {
                let args = ScaleArgs {
                    service: &service,
                    // clap requires it unless --auto.
                    instances: instances.unwrap_or_default(),
                    pause: pause.as_deref(),
                    wait,
                    timeout,
                    json: remote.json,
                };
                print(shoal_cli::scale(&c, args).await)
            }
            Err(code) => code,
        },
        Command::Logs {
            service,
            follow,
            since,
            grep,
            instance,
            trace,
            field,
            lines,
            remote,
        } => match client(&remote) {
            Ok(c) => {
                let args = LogsArgs {
                    service: service.as_deref(),
                    instance: instance.as_deref(),
                    since: since.as_deref(),
                    grep: grep.as_deref(),
                    trace: trace.as_deref(),
                    fields: &field,
                    limit: lines,
                    follow,
                    json: remote.json,
                };
                finish(shoal_cli::logs(&c, args).await)
            }
            Err(code) => code,
        },
    }
}

/// Reads and checks a service file as `shoal validate` does; a refused file's
/// problems are printed (the caller exits 2). Returns the text to submit.
fn checked_file(file: &Path) -> Result<String, ()> {
    if let Err(errors) = shoal_spec::parse_file(file) {
        eprintln!("{errors}");
        eprintln!("error: {} refused, nothing was deployed", file.display());
        return Err(());
    }
    std::fs::read_to_string(file).map_err(|e| {
        eprintln!("error: cannot read {}: {e}", file.display());
    })
}

/// Prints a deploy command's report: 0 when every deployment it waited for
/// succeeded, 1 (with a line each) when one did not or the API refused.
/// Prints a command's text, or its error with the exit code the command gives it.
fn printed<E: std::fmt::Display>(r: Result<String, E>, code: impl Fn(&E) -> u8) -> ExitCode {
    match r {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(code(&e))
        }
    }
}

fn report(r: Result<shoal_cli::Report, shoal_cli::ClientError>) -> ExitCode {
    match r {
        Ok(report) => {
            print!("{}", report.out);
            for f in &report.failures {
                eprintln!("{f}");
            }
            if report.failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// The exit code of a finished client command; errors are printed.
fn finish(r: Result<(), shoal_cli::ClientError>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
