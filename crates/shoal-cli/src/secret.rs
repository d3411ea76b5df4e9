//! `shoal secret put/get/rotate/list/delete`: encrypted credentials.

use serde_json::{json, Value};

use crate::client::{Client, ClientError};
use crate::table::Table;

fn path(name: &str) -> String {
    format!(
        "/api/v1/secrets/{}",
        name.split('/')
            .map(crate::client::encode_query)
            .collect::<Vec<_>>()
            .join("/")
    )
}

/// Stores a value (a new version when the secret exists); `None` generates a random one.
pub async fn secret_put(
    client: &Client,
    name: &str,
    value: Option<String>,
    json_out: bool,
) -> Result<String, ClientError> {
    let body = match value {
        Some(v) => json!({ "value": v }),
        None => json!({ "generate": true }),
    };
    let v: Value = client.put(&path(name), body).await?;
    Ok(if json_out {
        format!("{v}\n")
    } else {
        format!(
            "{name}: version {} stored; services that use it are rolled one instance at a time\n",
            v["version"]
        )
    })
}

pub async fn secret_get(
    client: &Client,
    name: &str,
    json_out: bool,
) -> Result<String, ClientError> {
    let v: Value = client.get(&path(name)).await?;
    Ok(if json_out {
        format!("{v}\n")
    } else {
        format!("{}\n", v["value"].as_str().unwrap_or(""))
    })
}

pub async fn secret_list(client: &Client, json_out: bool) -> Result<String, ClientError> {
    let v: Value = client.get("/api/v1/secrets").await?;
    if json_out {
        return Ok(format!("{v:#}\n"));
    }
    let mut t = Table::new(&["SECRET", "VERSION", "LIVE VERSIONS"]);
    for s in v.as_array().map_or(&[][..], |a| a) {
        let versions: Vec<String> = s["versions"]
            .as_array()
            .map_or_else(Vec::new, |a| a.iter().map(|n| n.to_string()).collect());
        t.row(vec![
            s["name"].as_str().unwrap_or("?").to_string(),
            s["version"].to_string(),
            versions.join(","),
        ]);
    }
    Ok(t.render())
}

pub async fn secret_delete(client: &Client, name: &str) -> Result<String, ClientError> {
    let _: Value = client.delete(&path(name)).await?;
    Ok(format!("{name}: deleted\n"))
}
