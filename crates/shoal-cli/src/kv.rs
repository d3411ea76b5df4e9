//! `shoal kv get/put/delete/list`: the configuration key/value store (Consul KV view).

use bytes::Bytes;
use http::Method;
use serde_json::Value;

use crate::client::{Client, ClientError};

/// Keys keep their slashes; other reserved characters are percent-encoded.
fn key_path(key: &str) -> String {
    key.split('/')
        .map(crate::client::encode_query)
        .collect::<Vec<_>>()
        .join("/")
}

pub async fn kv_get(client: &Client, key: &str) -> Result<Bytes, ClientError> {
    client
        .raw(Method::GET, &format!("/v1/kv/{}?raw", key_path(key)), None)
        .await
}

pub async fn kv_put(client: &Client, key: &str, value: Vec<u8>) -> Result<String, ClientError> {
    let out = client
        .raw(
            Method::PUT,
            &format!("/v1/kv/{}", key_path(key)),
            Some(Bytes::from(value)),
        )
        .await?;
    match serde_json::from_slice::<Value>(&out) {
        Ok(Value::Bool(true)) => Ok(format!("{key}: stored\n")),
        _ => Err(ClientError::Decode(format!(
            "the store refused the write: {}",
            String::from_utf8_lossy(&out)
        ))),
    }
}

pub async fn kv_delete(client: &Client, key: &str, recurse: bool) -> Result<String, ClientError> {
    let q = if recurse { "?recurse" } else { "" };
    client
        .raw(
            Method::DELETE,
            &format!("/v1/kv/{}{q}", key_path(key)),
            None,
        )
        .await?;
    Ok(format!("{key}: deleted\n"))
}

pub async fn kv_list(client: &Client, prefix: &str, json: bool) -> Result<String, ClientError> {
    let keys: Vec<String> = match client
        .get(&format!("/v1/kv/{}?keys", key_path(prefix)))
        .await
    {
        Ok(k) => k,
        Err(ClientError::Api { status, .. }) if status == http::StatusCode::NOT_FOUND => Vec::new(),
        Err(e) => return Err(e),
    };
    if json {
        return Ok(format!("{}\n", serde_json::json!(keys)));
    }
    Ok(keys.iter().map(|k| format!("{k}\n")).collect())
}
