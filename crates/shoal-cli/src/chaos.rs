//! `shoal chaos`: start, list and stop chaos experiments through `/api/v1/chaos`.
//! The request is built and checked here first (the same checks as the API's), so a
//! typo exits 2 and sends nothing.

use clap::{Args, Subcommand};
use serde_json::{json, Value};
use shoal_chaos::{ExperimentRequest, FaultRequest};

use crate::client::{Client, ClientError};
use crate::table::Table;

/// Examples shown by `shoal chaos --help`.
pub const CHAOS_EXAMPLES: &str = "\
Examples:
  shoal chaos kill publications --every 5s --floor 1 --for 2m
  shoal chaos error publications --percent 50 --for 1m          # answer 503 to half the calls
  shoal chaos latency publications --delay 300ms --jitter 100ms --from profile --for 30s
  shoal chaos reset institution --percent 10 --for 1m
  shoal chaos bandwidth publications --rate 16KiB --for 1m
  shoal chaos list
  shoal chaos stop chaos-1a2b3c4d        # or: shoal chaos stop --all

Chaos is off unless the service file says `chaos = true` in [platform]; with tokens, starting
and stopping need a token with the `chaos` right. Every experiment ends by itself after --for;
each start, end and kill is in `shoal events --kind chaos`.";

/// Where and how long, shared by every fault.
#[derive(Args, Debug, Clone)]
pub struct Scope {
    /// The service whose calls (or instances) suffer.
    pub service: String,
    /// Only calls from this service (or `gateway` for calls from outside).
    #[arg(long, value_name = "CALLER")]
    pub from: Option<String>,
    /// How long the experiment runs (required; at most 24h): 30s, 5m.
    #[arg(long = "for", value_name = "DURATION")]
    pub duration: String,
}

/// `shoal chaos ...`.
#[derive(Subcommand, Debug, Clone)]
pub enum ChaosCommand {
    /// Kill (SIGKILL) a random serving instance every DURATION, never below --floor.
    Kill {
        #[command(flatten)]
        scope: Scope,
        #[arg(long, value_name = "DURATION")]
        every: String,
        /// Instances that always stay up.
        #[arg(long, default_value_t = 1)]
        floor: u32,
    },
    /// Hold each call DELAY (plus up to JITTER) before it is sent.
    Latency {
        #[command(flatten)]
        scope: Scope,
        #[arg(long, value_name = "DURATION")]
        delay: String,
        #[arg(long, value_name = "DURATION")]
        jitter: Option<String>,
    },
    /// Answer PERCENT % of calls with STATUS (default 503) without reaching an instance.
    Error {
        #[command(flatten)]
        scope: Scope,
        #[arg(long)]
        percent: f64,
        #[arg(long)]
        status: Option<u16>,
    },
    /// Fail PERCENT % of calls as a connection reset.
    Reset {
        #[command(flatten)]
        scope: Scope,
        #[arg(long)]
        percent: f64,
    },
    /// Deliver answers no faster than RATE (bytes per second: 16384, 16KiB, 1MB).
    Bandwidth {
        #[command(flatten)]
        scope: Scope,
        #[arg(long)]
        rate: String,
    },
    /// Every experiment, with the time it has left.
    List,
    /// End an experiment now (or every one with --all).
    Stop {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        #[arg(long)]
        all: bool,
    },
}

/// Why `shoal chaos` failed.
#[derive(Debug, thiserror::Error)]
pub enum ChaosCliError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Client(#[from] ClientError),
}

impl ChaosCliError {
    /// 2 for a request refused here, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            ChaosCliError::Invalid(_) => 2,
            ChaosCliError::Client(_) => 1,
        }
    }
}

/// The request a start command sends, checked here first.
pub fn chaos_request(cmd: &ChaosCommand) -> Option<Result<ExperimentRequest, ChaosCliError>> {
    let (scope, fault) = match cmd.clone() {
        ChaosCommand::Kill {
            scope,
            every,
            floor,
        } => (
            scope,
            FaultRequest::Kill {
                every,
                floor: Some(floor),
            },
        ),
        ChaosCommand::Latency {
            scope,
            delay,
            jitter,
        } => (scope, FaultRequest::Latency { delay, jitter }),
        ChaosCommand::Error {
            scope,
            percent,
            status,
        } => (scope, FaultRequest::Error { percent, status }),
        ChaosCommand::Reset { scope, percent } => (scope, FaultRequest::Reset { percent }),
        ChaosCommand::Bandwidth { scope, rate } => (
            scope,
            FaultRequest::Bandwidth {
                rate: Value::String(rate),
            },
        ),
        ChaosCommand::List | ChaosCommand::Stop { .. } => return None,
    };
    let req = ExperimentRequest {
        service: scope.service,
        caller: scope.from,
        fault,
        duration: scope.duration,
    };
    Some(
        req.check(String::new(), 0)
            .map(|_| req.clone())
            .map_err(|e| ChaosCliError::Invalid(e.0)),
    )
}

fn seconds(ms: u64) -> String {
    format!("{}s", ms.div_ceil(1000))
}

fn render(list: &[Value]) -> String {
    if list.is_empty() {
        return "no chaos experiments\n".into();
    }
    let mut t = Table::new(&["ID", "TARGET", "FAULT", "LEFT"]);
    for e in list {
        let text = |k: &str| e[k].as_str().unwrap_or("").to_owned();
        t.row(vec![
            text("id"),
            text("target"),
            text("describe"),
            seconds(e["remaining_ms"].as_u64().unwrap_or(0)),
        ]);
    }
    t.render()
}

/// Runs `shoal chaos ...`; the text to print.
pub async fn chaos(
    client: &Client,
    cmd: &ChaosCommand,
    json: bool,
) -> Result<String, ChaosCliError> {
    let pretty = |v: &Value| format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_default());
    if let Some(req) = chaos_request(cmd) {
        let body = serde_json::to_value(req?).unwrap_or_default();
        let e: Value = client.post("/api/v1/chaos", body).await?;
        return Ok(if json {
            pretty(&e)
        } else {
            format!(
                "started {}: {} on {} for {}\n",
                e["id"].as_str().unwrap_or("?"),
                e["describe"].as_str().unwrap_or("?"),
                e["target"].as_str().unwrap_or("?"),
                seconds(e["remaining_ms"].as_u64().unwrap_or(0))
            )
        });
    }
    match cmd {
        ChaosCommand::Stop { id, all } => {
            let out: Value = match (id, all) {
                (Some(id), _) => client.delete(&format!("/api/v1/chaos/{id}")).await?,
                (None, _) => client.delete("/api/v1/chaos").await?,
            };
            Ok(if json {
                pretty(&out)
            } else {
                let ids: Vec<&str> = out["stopped"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                match ids.is_empty() {
                    true => "nothing to stop\n".into(),
                    false => format!("stopped {}\n", ids.join(", ")),
                }
            })
        }
        _ => {
            let all: Value = client.get("/api/v1/chaos").await?;
            let list = all["experiments"].as_array().cloned().unwrap_or_default();
            Ok(if json {
                pretty(&all)
            } else {
                let mut out = render(&list);
                if all["enabled"] == json!(false) {
                    out.push_str("chaos is off here: set `chaos = true` in [platform] to allow experiments\n");
                }
                out
            })
        }
    }
}
