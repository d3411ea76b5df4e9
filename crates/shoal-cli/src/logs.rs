//! `shoal logs [SERVICE] [-f] [--since] [--grep] [--instance] [--trace ID] [--field K=V]...`.

use serde_json::Value;

use crate::client::{encode_query, Client, ClientError};

pub struct LogsArgs<'a> {
    pub service: Option<&'a str>,
    pub instance: Option<&'a str>,
    pub since: Option<&'a str>,
    pub grep: Option<&'a str>,
    pub trace: Option<&'a str>,
    /// `KEY=VALUE` filters, each must match.
    pub fields: &'a [String],
    pub limit: usize,
    pub follow: bool,
    pub json: bool,
}

pub(crate) fn format_line(l: &Value, json: bool) -> String {
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
    let text = match l.get("fields").and_then(Value::as_object) {
        Some(f) if l["instance"] != "proxy" => structured_text(f),
        _ => l["line"].as_str().unwrap_or("").to_string(),
    };
    // In cluster mode each gathered line says which node keeps it.
    let node = l["node"]
        .as_str()
        .map(|n| format!("@{n}"))
        .unwrap_or_default();
    format!(
        "{h:02}:{m:02}:{s:02}.{:03} {} {}{node}{stream} | {text}",
        ms % 1000,
        l["service"].as_str().unwrap_or("?"),
        l["instance"].as_str().unwrap_or("?"),
    )
}

/// Keys that name a structured line's level and message, most common first.
const LEVEL_KEYS: [&str; 3] = ["level", "severity", "lvl"];
const MESSAGE_KEYS: [&str; 3] = ["msg", "message", "event"];

/// A JSON line as `LEVEL message key=value …`, the way logfmt readers expect it.
pub fn structured_text(f: &serde_json::Map<String, Value>) -> String {
    let level = pick(f, &LEVEL_KEYS);
    let msg = pick(f, &MESSAGE_KEYS);
    let mut out = String::new();
    if let Some((_, v)) = level {
        out.push_str(&text_of(v).to_uppercase());
        out.push(' ');
    }
    if let Some((_, v)) = msg {
        out.push_str(&text_of(v));
    }
    for (k, v) in f {
        if level.is_some_and(|(lk, _)| lk == k) || msg.is_some_and(|(mk, _)| mk == k) {
            continue;
        }
        let v = text_of(v);
        if v.contains(' ') || v.is_empty() {
            out.push_str(&format!(" {k}={v:?}"));
        } else {
            out.push_str(&format!(" {k}={v}"));
        }
    }
    out.trim_start().to_string()
}

/// The first of `keys` present in `f`, with its value.
fn pick<'a>(
    f: &'a serde_json::Map<String, Value>,
    keys: &[&'static str],
) -> Option<(&'static str, &'a Value)> {
    keys.iter().find_map(|k| f.get(*k).map(|v| (*k, v)))
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Prints matching lines; with `follow`, keeps printing new ones until interrupted.
pub async fn logs(client: &Client, args: LogsArgs<'_>) -> Result<(), ClientError> {
    let mut q = Vec::new();
    for (k, v) in [
        ("service", args.service),
        ("instance", args.instance),
        ("since", args.since),
        ("grep", args.grep),
        ("trace", args.trace),
    ] {
        if let Some(v) = v {
            q.push(format!("{k}={}", encode_query(v)));
        }
    }
    for f in args.fields {
        q.push(format!("field={}", encode_query(f)));
    }
    let filters = q.join("&");
    // The server reads limit=0 as "everything": ask for one line and print none.
    let (lines, missing): (Value, _) = client
        .get_gathered(&format!(
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
    if let Some(missing) = &missing {
        crate::client::warn_missing(missing, "logs");
    }
    if !args.follow {
        return Ok(());
    }
    if missing.is_none() {
        // One node: its own stream, after the last line shown.
        return client
            .sse(
                &format!("/api/v1/logs/stream?{filters}&after={last_seq}"),
                |data| {
                    if let Ok(l) = serde_json::from_str::<Value>(data) {
                        println!("{}", format_line(&l, args.json));
                    }
                },
            )
            .await;
    }
    follow_every_node(client, &filters, lines, args.json).await
}

/// How long a node's live tail that ended waits before it is opened again.
const REOPEN: std::time::Duration = std::time::Duration::from_secs(2);

/// Cluster mode: every node's own live tail at once (sequence numbers are each node's),
/// each resuming after the last of its lines shown, its lines marked with the node. A
/// tail that ends or cannot be opened is said on stderr and opened again until
/// interrupted, after the last line it showed.
async fn follow_every_node(
    client: &Client,
    filters: &str,
    shown: &[Value],
    json: bool,
) -> Result<(), ClientError> {
    let v: Value = client.get("/api/v1/nodes").await?;
    let tails = v["nodes"].as_array().into_iter().flatten().filter_map(|n| {
        let name = n["name"].as_str()?.to_owned();
        if n["status"] == "lost" {
            eprintln!("warning: node {name} is lost: its new lines are not shown");
            return None;
        }
        let api = ask_at(n["api"].as_str()?, n["address"].as_str())?;
        let last = shown
            .iter()
            .rev()
            .find(|l| l["node"].as_str() == Some(name.as_str()))
            .and_then(|l| l["seq"].as_u64());
        Some(follow_node(client, name, api, filters, last, json))
    });
    futures::future::join_all(tails).await;
    Ok(())
}

/// Where a node's API is asked from here: its address, or, when it listens on every
/// address, the node's advertised one.
fn ask_at(api: &str, address: Option<&str>) -> Option<String> {
    let at: std::net::SocketAddr = api.parse().ok()?;
    match (at.ip().is_unspecified(), address) {
        (true, Some(a)) => Some(format!("{a}:{}", at.port())),
        _ => Some(at.to_string()),
    }
}

/// One node's live tail, marked with `node`, after its line `last` (none shown: after
/// its newest matching line), opened again whenever it ends.
async fn follow_node(
    asked: &Client,
    node: String,
    api: String,
    filters: &str,
    mut last: Option<u64>,
    json: bool,
) {
    let Ok(c) = asked.at(&format!("http://{api}")) else {
        eprintln!(
            "warning: node {node}'s API address {api} is not usable: its new lines are not shown"
        );
        return;
    };
    loop {
        let after = match last {
            Some(seq) => Ok(seq),
            None => newest_seq(&c, filters).await,
        };
        let ended = match after {
            Ok(after) => {
                last = Some(after);
                c.sse(
                    &format!("/api/v1/logs/stream?{filters}&after={after}"),
                    |data| {
                        if let Ok(mut l) = serde_json::from_str::<Value>(data) {
                            last = l["seq"].as_u64().or(last);
                            l["node"] = Value::from(node.as_str());
                            println!("{}", format_line(&l, json));
                        }
                    },
                )
                .await
            }
            Err(e) => Err(e),
        };
        match ended {
            Ok(()) => eprintln!("shoal: node {node}'s live tail ended; opening it again"),
            Err(e) => eprintln!(
                "warning: node {node}'s live tail: {e}; trying again in {}s",
                REOPEN.as_secs()
            ),
        }
        tokio::time::sleep(REOPEN).await;
    }
}

/// The sequence number of a node's newest matching line (0: none yet).
async fn newest_seq(c: &Client, filters: &str) -> Result<u64, ClientError> {
    let latest: Value = c
        .get(&format!("/api/v1/logs?{filters}&limit=1&local=true"))
        .await?;
    Ok(latest[0]["seq"].as_u64().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structured_lines_read_as_level_message_and_fields() {
        let v: Value = serde_json::json!({"level":"error","msg":"db down","retry":3,"who":"a b"});
        let f = v.as_object().cloned().unwrap_or_default();
        assert_eq!(structured_text(&f), r#"ERROR db down retry=3 who="a b""#);
    }

    #[test]
    fn lines_show_service_instance_and_text() {
        let l = serde_json::json!({"time_ms": 3_723_004u64, "service": "web", "instance": "web-1",
            "stream": "stderr", "line": "boom"});
        assert_eq!(format_line(&l, false), "01:02:03.004 web web-1 ERR | boom");
        let mut gathered = l;
        gathered["node"] = "b".into();
        assert_eq!(
            format_line(&gathered, false),
            "01:02:03.004 web web-1@b ERR | boom"
        );
    }
}
