//! `shoal logs SERVICE [-f] [--since] [--grep] [--instance]`.

use serde_json::Value;

use crate::client::{encode_query, Client, ClientError};

pub struct LogsArgs<'a> {
    pub service: Option<&'a str>,
    pub instance: Option<&'a str>,
    pub since: Option<&'a str>,
    pub grep: Option<&'a str>,
    pub limit: usize,
    pub follow: bool,
    pub json: bool,
}

fn format_line(l: &Value, json: bool) -> String {
    if json {
        return l.to_string();
    }
    let ms = l["time_ms"].as_u64().unwrap_or(0);
    let secs = ms / 1000;
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    let stream = match l["stream"].as_str() {
        Some("stderr") => " ERR",
        Some("system") => " ---",
        _ => "",
    };
    format!(
        "{h:02}:{m:02}:{s:02}.{:03} {}{stream} | {}",
        ms % 1000,
        l["instance"].as_str().unwrap_or("?"),
        l["line"].as_str().unwrap_or("")
    )
}

/// Prints matching lines; with `follow`, keeps printing new ones until interrupted.
pub async fn logs(client: &Client, args: LogsArgs<'_>) -> Result<(), ClientError> {
    let mut q = Vec::new();
    for (k, v) in [
        ("service", args.service),
        ("instance", args.instance),
        ("since", args.since),
        ("grep", args.grep),
    ] {
        if let Some(v) = v {
            q.push(format!("{k}={}", encode_query(v)));
        }
    }
    let filters = q.join("&");
    // The server reads limit=0 as "everything": ask for one line and print none.
    let lines: Value = client
        .get(&format!(
            "/api/v1/logs?{filters}&limit={}",
            args.limit.max(1)
        ))
        .await?;
    let lines = lines.as_array().map_or(&[][..], |a| a);
    let last_seq = lines.last().and_then(|l| l["seq"].as_u64()).unwrap_or(0);
    if args.limit > 0 {
        for l in lines {
            println!("{}", format_line(l, args.json));
        }
    }
    if !args.follow {
        return Ok(());
    }
    client
        .sse(
            &format!("/api/v1/logs/stream?{filters}&after={last_seq}"),
            |data| {
                if let Ok(l) = serde_json::from_str::<Value>(data) {
                    println!("{}", format_line(&l, args.json));
                }
            },
        )
        .await
}
