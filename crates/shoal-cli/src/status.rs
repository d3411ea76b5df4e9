//! `shoal status` (one line per service) and `shoal ps` (one line per instance).

use serde_json::Value;

use crate::client::{encode_query, Client, ClientError};
use crate::table::Table;

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
        let v: Value = client
            .get(&format!("/api/v1/services/{}", encode_query(name)))
            .await?;
        if json {
            return Ok(format!("{v:#}\n"));
        }
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
        out.push_str(&instance_table(
            v["instances"].as_array().map_or(&[][..], |a| a),
        ));
        return Ok(out);
    }
    let list: Value = client.get("/api/v1/services").await?;
    if json {
        return Ok(format!("{list:#}\n"));
    }
    let mut t = Table::new(&[
        "SERVICE", "VERSION", "HEALTHY", "DESIRED", "RESTARTS", "STATE", "ROUTES",
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
            s(&svc["restarts"]),
            state.into(),
            if routes.is_empty() {
                "-".into()
            } else {
                routes.join(",")
            },
        ]);
    }
    Ok(t.render())
}

fn instance_table(instances: &[Value]) -> String {
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
    Ok(instance_table(list.as_array().map_or(&[][..], |a| a)))
}
