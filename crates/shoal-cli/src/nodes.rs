//! `shoal nodes` (every node, its status, instances, capacity and labels, and the leader)
//! and `shoal node drain|undrain NAME`.

use serde_json::Value;

use crate::client::{encode_query, Client, ClientError};
use crate::table::{now_ms, Table};

/// `shoal nodes`.
pub async fn nodes(client: &Client, json: bool) -> Result<String, ClientError> {
    let v: Value = client.get("/api/v1/nodes").await?;
    if json {
        return Ok(format!("{v:#}\n"));
    }
    let leader = v["leader"]["node"].as_str().unwrap_or("");
    let mut t = Table::new(&[
        "NODE",
        "STATUS",
        "ADDRESS",
        "INSTANCES",
        "CPU",
        "MEMORY",
        "LABELS",
        "UP",
    ]);
    for n in v["nodes"].as_array().into_iter().flatten() {
        let name = n["name"].as_str().unwrap_or("?");
        let mark = if name == leader { " (leader)" } else { "" };
        let labels: Vec<String> = n["labels"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect();
        let up = n["started_ms"]
            .as_u64()
            .map(|s| format!("{}s", now_ms().saturating_sub(s) / 1000))
            .unwrap_or_else(|| "-".into());
        t.row(vec![
            format!("{name}{mark}"),
            n["status"].as_str().unwrap_or("?").to_string(),
            n["address"]
                .as_str()
                .or(n["api"].as_str())
                .unwrap_or("-")
                .to_string(),
            format!(
                "{}/{}",
                n["healthy"].as_u64().unwrap_or(0),
                n["instances"].as_u64().unwrap_or(0)
            ),
            n["capacity"]["cpu_millis"]
                .as_u64()
                .map_or("-".into(), |m| format!("{:.1}", m as f64 / 1000.0)),
            n["capacity"]["memory_mb"]
                .as_u64()
                .map_or("-".into(), |m| format!("{m} MiB")),
            if labels.is_empty() {
                "-".into()
            } else {
                labels.join(",")
            },
            up,
        ]);
    }
    let mut out = t.render();
    if v["mode"] == "single" {
        out.push_str("one machine (`shoal up`); `shoal agent --store etcd://...` on each machine makes a cluster\n");
    } else if leader.is_empty() {
        out.push_str("no leader elected: nothing is placed or moved until one is\n");
    }
    Ok(out)
}

/// `shoal node drain NAME` / `shoal node undrain NAME`.
pub async fn drain(client: &Client, name: &str, drain: bool) -> Result<String, ClientError> {
    let verb = if drain { "drain" } else { "undrain" };
    let _: Value = client
        .post(
            &format!("/api/v1/nodes/{}/{verb}", encode_query(name)),
            serde_json::json!({}),
        )
        .await?;
    Ok(if drain {
        format!("{name}: draining; its instances move to other nodes, each new one healthy before an old one stops (`shoal nodes`, `shoal ps`)\n")
    } else {
        format!("{name}: takes instances again (nothing moves back by itself)\n")
    })
}
