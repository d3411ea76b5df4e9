//! `shoal scale SERVICE N [--pause D]` (holding an autoscaler off), `shoal scale SERVICE
//! --auto` (handing the count back), with a progress bar while waiting for healthy instances.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use crate::client::{encode_query, Client, ClientError};

pub struct ScaleArgs<'a> {
    pub service: &'a str,
    pub instances: u32,
    /// How long the count holds an autoscaler off (`"10m"`, `"until-auto"`); `None`: the
    /// API's default (10 minutes).
    pub pause: Option<&'a str>,
    pub wait: bool,
    pub timeout: Duration,
    pub json: bool,
}

/// Hands `service`'s count back to its autoscaler.
pub async fn scale_auto(client: &Client, service: &str, json: bool) -> Result<String, ClientError> {
    let path = format!("/api/v1/services/{}/scale", encode_query(service));
    let answer: Value = client.post(&path, json!({ "auto": true })).await?;
    Ok(if json {
        format!("{answer}\n")
    } else {
        format!(
            "{service}: the autoscaler sets the count again (now {})\n",
            answer["instances"]
        )
    })
}

/// Sets the count; with `wait`, shows a bar until exactly N instances are healthy.
pub async fn scale(client: &Client, args: ScaleArgs<'_>) -> Result<String, ClientError> {
    let path = format!("/api/v1/services/{}", encode_query(args.service));
    let mut body = json!({ "instances": args.instances });
    if let Some(p) = args.pause {
        body["pause"] = json!(p);
    }
    let answer: Value = client.post(&format!("{path}/scale"), body).await?;
    if !args.wait {
        return Ok(if args.json {
            format!("{answer}\n")
        } else {
            let paused = match answer["autoscaler_paused_until_ms"].as_u64() {
                Some(until) => {
                    let secs = until.saturating_sub(shoal_catalog::now_ms()) / 1000;
                    format!(
                        " (autoscaler paused for {}; `--auto` hands it back)",
                        humantime::format_duration(Duration::from_secs(secs))
                    )
                }
                None if answer["autoscaler_paused"] == json!(true) => {
                    " (autoscaler paused until `shoal scale SERVICE --auto`)".to_string()
                }
                None => String::new(),
            };
            format!(
                "{}: instance count set to {}{paused}\n",
                args.service, args.instances
            )
        });
    }
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(u64::from(args.instances))
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} healthy ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(format!("scaling {}", args.service));
    let deadline = Instant::now() + args.timeout;
    loop {
        let v: Value = client.get(&path).await?;
        let healthy = v["service"]["healthy"].as_u64().unwrap_or(0);
        let total = v["service"]["instances"].as_u64().unwrap_or(0);
        bar.set_position(healthy.min(u64::from(args.instances)));
        if healthy == u64::from(args.instances) && total == u64::from(args.instances) {
            bar.finish_and_clear();
            return Ok(if args.json {
                format!(
                    "{}\n",
                    json!({ "service": args.service, "instances": args.instances, "healthy": healthy })
                )
            } else {
                format!(
                    "{}: {healthy}/{} instances healthy\n",
                    args.service, args.instances
                )
            });
        }
        if Instant::now() > deadline {
            bar.abandon();
            return Err(ClientError::Api {
                status: http::StatusCode::REQUEST_TIMEOUT,
                error: format!(
                    "timed out: {healthy} of {} instances healthy ({total} running)",
                    args.instances
                ),
                detail: Some(format!("see `shoal status {}`", args.service)),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
