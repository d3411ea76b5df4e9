//! `shoal events [SERVICE] [-f]`: what happened to the fleet, in order.

use serde_json::Value;

use crate::client::{encode_query, Client, ClientError};

pub struct EventsArgs<'a> {
    pub service: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub limit: usize,
    pub follow: bool,
    pub json: bool,
}

fn format_event(e: &Value, json: bool) -> String {
    if json {
        return e.to_string();
    }
    let ms = e["time_ms"].as_u64().unwrap_or(0);
    let secs = ms / 1000;
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    // In a cluster each event says which node said it.
    let node = e["node"]
        .as_str()
        .map(|n| format!("@{n} "))
        .unwrap_or_default();
    let mut line = format!(
        "{h:02}:{m:02}:{s:02}.{:03} {node}{:<16} {:<12} {:<20} {}",
        ms % 1000,
        e["kind"].as_str().unwrap_or("?"),
        e["service"].as_str().unwrap_or(""),
        e["instance"].as_str().unwrap_or("-"),
        e["message"].as_str().unwrap_or("")
    );
    if let Some(tail) = e["fields"]["stderr_tail"].as_array() {
        for l in tail.iter().filter_map(Value::as_str) {
            line.push_str("\n    stderr | ");
            line.push_str(l);
        }
    }
    line
}

pub async fn events(client: &Client, args: EventsArgs<'_>) -> Result<(), ClientError> {
    let mut q = Vec::new();
    if let Some(s) = args.service {
        q.push(format!("service={}", encode_query(s)));
    }
    if let Some(k) = args.kind {
        q.push(format!("kind={}", encode_query(k)));
    }
    let filters = q.join("&");
    // The server reads limit=0 as "everything": ask for one event and print none.
    let (list, missing): (Value, _) = client
        .get_gathered(&format!(
            "/api/v1/events?{filters}&limit={}",
            args.limit.max(1)
        ))
        .await?;
    let list = list.as_array().map_or(&[][..], |a| a);
    let last = list.last().and_then(|e| e["seq"].as_u64()).unwrap_or(0);
    if args.limit > 0 {
        for e in list {
            println!("{}", format_event(e, args.json));
        }
    }
    if let Some(missing) = &missing {
        crate::client::warn_missing(missing, "events");
    }
    if !args.follow {
        return Ok(());
    }
    if missing.is_none() {
        return client
            .sse(
                &format!("/api/v1/events/stream?{filters}&after={last}"),
                |data| {
                    if let Ok(e) = serde_json::from_str::<Value>(data) {
                        println!("{}", format_event(&e, args.json));
                    }
                },
            )
            .await;
    }
    // A cluster: every node's own stream (the leader's decisions are on the leader's).
    let tail = crate::follow::Tail {
        list: "/api/v1/events",
        stream: "/api/v1/events/stream",
        filters: &filters,
        what: "events",
    };
    crate::follow::every_node(client, tail, list, |e| {
        println!("{}", format_event(e, args.json));
    })
    .await
}
