//! `shoal errors [ID]`: 5xx answers, crashes and error lines grouped by service and cause.

use serde_json::Value;

use crate::client::{encode_query, warn_missing, Client, ClientError};
use crate::logs::format_line;
use crate::table::{now_ms, Table};

pub struct ErrorsArgs<'a> {
    /// One group in detail instead of the list.
    pub id: Option<&'a str>,
    pub service: Option<&'a str>,
    pub source: Option<&'a str>,
    pub since: Option<&'a str>,
    pub limit: usize,
    pub json: bool,
}

pub async fn errors(client: &Client, args: ErrorsArgs<'_>) -> Result<(), ClientError> {
    if let Some(id) = args.id {
        let (g, missing): (Value, _) = client
            .get_gathered(&format!("/api/v1/errors/{}", encode_query(id)))
            .await?;
        if let Some(missing) = &missing {
            warn_missing(missing, "errors");
        }
        if args.json {
            println!("{g}");
        } else {
            print!("{}", render_group(&g, now_ms()));
        }
        return Ok(());
    }
    let mut q = vec![format!("limit={}", args.limit)];
    for (k, v) in [
        ("service", args.service),
        ("source", args.source),
        ("since", args.since),
    ] {
        if let Some(v) = v {
            q.push(format!("{k}={}", encode_query(v)));
        }
    }
    let (body, missing): (Value, _) = client
        .get_gathered(&format!("/api/v1/errors?{}", q.join("&")))
        .await?;
    if let Some(missing) = &missing {
        warn_missing(missing, "errors");
    }
    if args.json {
        println!("{body}");
        return Ok(());
    }
    let groups = body["groups"].as_array().map_or(&[][..], |a| a);
    if groups.is_empty() {
        println!("no errors seen");
        return Ok(());
    }
    print!("{}", render_list(groups, now_ms()));
    Ok(())
}

/// The list as a table, most recently seen first (as the server sorts it).
pub fn render_list(groups: &[Value], now_ms: u64) -> String {
    let mut t = Table::new(&["ID", "SERVICE", "SOURCE", "COUNT", "LAST SEEN", "CAUSE"]);
    for g in groups {
        t.row(vec![
            g["id"].as_str().unwrap_or("?").to_string(),
            g["service"].as_str().unwrap_or("?").to_string(),
            g["source"].as_str().unwrap_or("?").to_string(),
            g["count"].as_u64().unwrap_or(0).to_string(),
            ago(g["last_ms"].as_u64().unwrap_or(0), now_ms),
            g["cause"].as_str().unwrap_or("").to_string(),
        ]);
    }
    t.render()
}

/// One group: its counts, the latest example, and the log lines of that request.
pub fn render_group(g: &Value, now_ms: u64) -> String {
    let mut out = format!(
        "{} {} {}\n  seen {} times, first {} ago, last {} ago, on {}\n  latest:\n",
        g["service"].as_str().unwrap_or("?"),
        g["source"].as_str().unwrap_or("?"),
        g["cause"].as_str().unwrap_or(""),
        g["count"].as_u64().unwrap_or(0),
        ago(g["first_ms"].as_u64().unwrap_or(0), now_ms),
        ago(g["last_ms"].as_u64().unwrap_or(0), now_ms),
        g["instances"]
            .as_array()
            .map(|a| a
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default(),
    );
    if let Some(latest) = g["latest"].as_object() {
        for (k, v) in latest {
            match v {
                Value::Null => {}
                Value::Array(lines) => {
                    for l in lines {
                        out.push_str(&format!("    {k} | {}\n", l.as_str().unwrap_or("")));
                    }
                }
                Value::String(s) => out.push_str(&format!("    {k}: {s}\n")),
                other => out.push_str(&format!("    {k}: {other}\n")),
            }
        }
    }
    if let Some(lines) = g["trace_logs"].as_array().filter(|a| !a.is_empty()) {
        out.push_str("  log lines of that request:\n");
        for l in lines {
            out.push_str(&format!("    {}\n", format_line(l, false)));
        }
    }
    out
}

/// `5s`, `3m`, `2h`, `4d` since `then_ms`.
pub fn ago(then_ms: u64, now_ms: u64) -> String {
    let s = now_ms.saturating_sub(then_ms) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_list_is_a_table() {
        let g = json!([{ "id": "abc", "service": "web", "source": "http", "count": 3,
            "last_ms": 10_000, "cause": "HTTP 500 GET /x/*" }]);
        let out = render_list(g.as_array().map_or(&[][..], |a| a), 70_000);
        assert_eq!(
            out,
            "ID   SERVICE  SOURCE  COUNT  LAST SEEN  CAUSE\nabc  web      http    3      1m         HTTP 500 GET /x/*\n"
        );
    }

    #[test]
    fn a_group_shows_its_example_and_stderr_tail() {
        let g = json!({ "service": "web", "source": "crash", "cause": "exit code 1: boom",
            "count": 2, "first_ms": 0, "last_ms": 5_000, "instances": ["web-1"],
            "latest": { "exit": "exit code 1", "stderr_tail": ["boom"] } });
        let out = render_group(&g, 5_000);
        assert!(
            out.contains("seen 2 times, first 5s ago, last 0s ago, on web-1"),
            "{out}"
        );
        assert!(out.contains("stderr_tail | boom"), "{out}");
    }

    #[test]
    fn ages_read_in_the_largest_unit() {
        assert_eq!(ago(0, 59_000), "59s");
        assert_eq!(ago(0, 7_200_000), "2h");
        assert_eq!(ago(10, 0), "0s");
    }
}
