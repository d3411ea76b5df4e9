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
    let tail = crate::follow::Tail {
        list: "/api/v1/logs",
        stream: "/api/v1/logs/stream",
        filters: &filters,
        what: "logs",
    };
    crate::follow::every_node(client, tail, lines, |l| {
        println!("{}", format_line(l, args.json));
    })
    .await
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
