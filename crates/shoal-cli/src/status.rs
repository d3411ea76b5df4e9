//! `shoal status` (one line per service, with its running deployment) and `shoal ps`
//! (one line per instance).

use serde_json::Value;
use shoal_deploy::Deployment;

use crate::client::{encode_query, Client, ClientError};
use crate::history;
use crate::table::{now_ms, Table};

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn uptime(started_ms: &Value) -> String {
    let Some(started) = started_ms.as_u64() else {
        return "-".into();
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let secs = now.saturating_sub(started) / 1000;
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m{}s", secs / 60, secs % 60),
        _ => format!("{}h{}m", secs / 3600, (secs % 3600) / 60),
    }
}

/// `shoal status [SERVICE]`.
pub async fn status(
    client: &Client,
    service: Option<&str>,
    json: bool,
) -> Result<String, ClientError> {
    if let Some(name) = service {
        let mut v: Value = client
            .get(&format!("/api/v1/services/{}", encode_query(name)))
            .await?;
        let deployment = current_deployment(client, name).await;
        if json {
            if let Some(d) = &deployment {
                v["deployment"] = serde_json::to_value(d).unwrap_or_default();
            }
            return Ok(format!("{v:#}\n"));
        }
        let proxy = proxy_state(client).await;
        let sum = &v["service"];
        let mut out = format!(
            "service {}  version {}  {}/{} healthy  {} desired  restarts {}{}\n\n",
            s(&sum["name"]),
            s(&sum["version"]),
            s(&sum["healthy"]),
            s(&sum["instances"]),
            s(&sum["desired"]),
            s(&sum["restarts"]),
            if sum["crash_loop"].as_bool() == Some(true) {
                "  CRASH LOOP"
            } else {
                ""
            },
        );
        let p = &proxy["services"][name];
        if !p.is_null() {
            out.push_str(&proxy_line(p));
        }
        if let Some(d) = &deployment {
            out.push_str(&history::status_section(d, now_ms()));
        }
        out.push_str(&autoscaler_section(&v["autoscaler"]));
        out.push_str(&instance_table(
            v["instances"].as_array().map_or(&[][..], |a| a),
            &proxy,
        ));
        return Ok(out);
    }
    let list: Value = client.get("/api/v1/services").await?;
    let proxy = proxy_state(client).await;
    if json {
        return Ok(format!("{list:#}\n"));
    }
    // An agent without deployments answers 404 here: no DEPLOY cells then.
    let deployments: Vec<Deployment> = client.get("/api/v1/deployments").await.unwrap_or_default();
    let mut t = Table::new(&[
        "SERVICE", "VERSION", "HEALTHY", "DESIRED", "SCALE", "RESTARTS", "STATE", "DEPLOY",
        "CIRCUIT", "EJECTED", "REFUSED", "ROUTES",
    ]);
    for svc in list.as_array().map_or(&[][..], |a| a) {
        let healthy = svc["healthy"].as_u64().unwrap_or(0);
        let desired = svc["desired"].as_u64().unwrap_or(0);
        let state = if svc["crash_loop"].as_bool() == Some(true) {
            "crash-loop"
        } else if svc["external"].as_bool() == Some(true) {
            "external"
        } else if healthy >= desired {
            "ok"
        } else {
            "degraded"
        };
        let routes: Vec<String> = svc["routes"]
            .as_array()
            .map_or_else(Vec::new, |a| a.iter().map(s).collect());
        t.row(vec![
            s(&svc["name"]),
            s(&svc["version"]),
            format!("{healthy}/{}", s(&svc["instances"])),
            desired.to_string(),
            s(&svc["scale"]),
            s(&svc["restarts"]),
            state.into(),
            history::deploy_cell(
                deployments
                    .iter()
                    .find(|d| svc["name"] == d.service.as_str()),
            ),
            circuit(&proxy["services"][s(&svc["name"])]),
            ejected_count(&proxy["services"][s(&svc["name"])]),
            refused(&proxy["services"][s(&svc["name"])]),
            if routes.is_empty() {
                "-".into()
            } else {
                routes.join(",")
            },
        ]);
    }
    Ok(format!(
        "{}{}{}",
        store_warning(client).await,
        t.render(),
        chaos_section(client).await
    ))
}

/// The chaos experiments in force, one line each ("" when none, or on an API
/// without chaos).
async fn chaos_section(client: &Client) -> String {
    let all: Value = client.get("/api/v1/chaos").await.unwrap_or_default();
    let list = all["experiments"].as_array().map_or(&[][..], |a| a);
    let mut out = String::new();
    for e in list.iter().filter(|e| e["active"] == true) {
        out.push_str(&format!(
            "CHAOS {}: {} on {}, {}s left\n",
            s(&e["id"]),
            s(&e["describe"]),
            s(&e["target"]),
            e["remaining_ms"].as_u64().unwrap_or(0).div_ceil(1000)
        ));
    }
    if !out.is_empty() {
        out.insert(0, '\n');
    }
    out
}

/// A line when this node cannot reach its store: it serves with the routes it had.
async fn store_warning(client: &Client) -> String {
    let agent: Value = client.get("/api/v1/agent").await.unwrap_or_default();
    let store = &agent["store"];
    if store["reachable"].as_bool() != Some(false) {
        return String::new();
    }
    format!(
        "WARNING: the store is unreachable ({}): this node serves with the routes it had at revision {}; changes wait until it returns\n\n",
        s(&store["error"]),
        s(&store["serving_from_revision"])
    )
}

/// `autoscaler  auto 1..10  target rps 200  now 3` and the last decision, for
/// `shoal status SERVICE` ("" without a `[scale]`).
fn autoscaler_section(a: &Value) -> String {
    if a.is_null() {
        return String::new();
    }
    let targets: Vec<String> = a["target"]
        .as_object()
        .map(|t| {
            t.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| match k.as_str() {
                    "metric" => format!("{} {}", s(&v["name"]), s(&v["per_instance"])),
                    _ => format!("{k} {}", s(v)),
                })
                .collect()
        })
        .unwrap_or_default();
    let held = match (a["held"].as_bool(), a["held_until_ms"].as_u64()) {
        (Some(true), Some(until)) => format!(
            "  held by `shoal scale` for {}s more",
            until.saturating_sub(now_ms()) / 1000
        ),
        (Some(true), None) => "  held by `shoal scale` until --auto".to_string(),
        _ => String::new(),
    };
    let mut out = format!(
        "autoscaler  {}..{}  target {}  now {}{held}\n",
        s(&a["min"]),
        s(&a["max"]),
        if targets.is_empty() {
            "-".to_string()
        } else {
            targets.join(", ")
        },
        s(&a["current"]),
    );
    let last = &a["last"];
    if !last.is_null() {
        let ago = now_ms().saturating_sub(last["at_ms"].as_u64().unwrap_or(0)) / 1000;
        out.push_str(&format!(
            "  last decision {ago}s ago: {}\n",
            s(&last["reason"])
        ));
    }
    out.push('\n');
    out
}

/// The service's current deployment record, if it has one.
async fn current_deployment(client: &Client, name: &str) -> Option<Deployment> {
    client
        .get(&format!("/api/v1/deployments/{}", encode_query(name)))
        .await
        .ok()
}

/// The proxy's state (`/api/v1/proxy`), or `null` when this node runs no proxy.
async fn proxy_state(client: &Client) -> Value {
    client.get("/api/v1/proxy").await.unwrap_or(Value::Null)
}

/// `closed` / `open` / `half-open`, `-` without a breaker configured or a proxy.
fn circuit(p: &Value) -> String {
    p["circuit"].as_str().unwrap_or("-").to_string()
}

/// Instances of the service ejected from load balancing right now.
fn ejected_count(p: &Value) -> String {
    match p["instances"].as_array() {
        Some(a) => a
            .iter()
            .filter(|i| !i["ejected_ms"].is_null())
            .count()
            .to_string(),
        None => "-".into(),
    }
}

/// Requests Shoal refused to protect the service: shed, rate-limited, circuit-open.
fn refused(p: &Value) -> String {
    if p.is_null() {
        return "-".into();
    }
    let n = |k: &str| p[k].as_u64().unwrap_or(0);
    (n("shed") + n("rate_limited") + n("circuit_rejected")).to_string()
}

/// One line of the proxy's counters for `shoal status SERVICE`.
fn proxy_line(p: &Value) -> String {
    let n = |k: &str| p[k].as_u64().unwrap_or(0);
    format!(
        "proxy: circuit {}  in flight {}  requests {}  retries {}  timeouts {}  shed {}  rate-limited {}  circuit-rejected {}  fallbacks {}  ejections {}\n\n",
        circuit(p),
        n("inflight"),
        n("requests"),
        n("retries"),
        n("timeouts"),
        n("shed"),
        n("rate_limited"),
        n("circuit_rejected"),
        n("fallbacks"),
        n("ejections"),
    )
}

/// How the proxy sees an instance (`p`: its service's proxy state): ejected
/// (time left) or its latency average and in-flight requests.
fn balancing(instance: &Value, p: &Value) -> String {
    let Some(i) = p["instances"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["id"] == instance["id"]))
    else {
        return "-".into();
    };
    match i["ejected_ms"].as_u64() {
        Some(ms) => format!("ejected {:.1}s", ms as f64 / 1000.0),
        None => format!(
            "{:.1}ms, {} in flight",
            i["latency_ewma_ms"].as_f64().unwrap_or(0.0),
            i["inflight"].as_u64().unwrap_or(0)
        ),
    }
}

fn instance_table(instances: &[Value], proxy: &Value) -> String {
    let mut t = Table::new(&[
        "INSTANCE",
        "SERVICE",
        "VERSION",
        "PID",
        "ADDRESS",
        "STATE",
        "HEALTH",
        "RESTARTS",
        "UPTIME",
        "PROXY",
        "LAST EXIT",
    ]);
    for i in instances {
        let running = i["state"].as_str() == Some("running");
        t.row(vec![
            s(&i["id"]),
            s(&i["service"]),
            s(&i["version"]),
            s(&i["pid"]),
            format!("{}:{}", s(&i["address"]), s(&i["port"])),
            if i["crash_loop"].as_bool() == Some(true) {
                format!("{} (crash loop)", s(&i["state"]))
            } else {
                s(&i["state"])
            },
            s(&i["health"]),
            s(&i["restarts"]),
            if running {
                uptime(&i["started_ms"])
            } else {
                "-".into()
            },
            balancing(i, &proxy["services"][s(&i["service"])]),
            s(&i["last_exit"]),
        ]);
    }
    t.render()
}

/// `shoal ps`.
pub async fn ps(client: &Client, json: bool) -> Result<String, ClientError> {
    let list: Value = client.get("/api/v1/instances").await?;
    if json {
        return Ok(format!("{list:#}\n"));
    }
    let proxy = proxy_state(client).await;
    Ok(instance_table(
        list.as_array().map_or(&[][..], |a| a),
        &proxy,
    ))
}
