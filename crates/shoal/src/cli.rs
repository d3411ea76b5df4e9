//! Command-line definition (clap) and dispatch to the client commands or `up`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use shoal_cli::{Client, LogsArgs, ScaleArgs};

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
    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start the whole platform in the foreground and run the services of FILE.
    Up(UpArgs),
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
    /// Every instance: pid, address, state, health, restarts, uptime.
    Ps {
        #[command(flatten)]
        remote: Remote,
    },
    /// Set the number of instances of a service's current version.
    Scale {
        service: String,
        instances: u32,
        /// Wait (with a progress bar) until that many instances are healthy.
        #[arg(long)]
        wait: bool,
        /// How long --wait waits.
        #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
        timeout: Duration,
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
        /// At most this many past lines.
        #[arg(short = 'n', long, default_value_t = 200)]
        lines: usize,
        #[command(flatten)]
        remote: Remote,
    },
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
    Client::new(&remote.addr, remote.token.clone()).map_err(|e| {
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

pub async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Up(args) => crate::up::run(args).await,
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
        Command::Ps { remote } => match client(&remote) {
            Ok(c) => print(shoal_cli::ps(&c, remote.json).await),
            Err(code) => code,
        },
        Command::Scale {
            service,
            instances,
            wait,
            timeout,
            remote,
        } => match client(&remote) {
            Ok(c) => {
                let args = ScaleArgs {
                    service: &service,
                    instances,
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
            lines,
            remote,
        } => match client(&remote) {
            Ok(c) => {
                let args = LogsArgs {
                    service: service.as_deref(),
                    instance: instance.as_deref(),
                    since: since.as_deref(),
                    grep: grep.as_deref(),
                    limit: lines,
                    follow,
                    json: remote.json,
                };
                match shoal_cli::logs(&c, args).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("error: {e}");
                        ExitCode::from(1)
                    }
                }
            }
            Err(code) => code,
        },
    }
}
