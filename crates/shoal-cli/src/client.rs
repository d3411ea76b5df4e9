//! A small HTTP/1.1 JSON client for Shoal's API, with tokens and JSON errors,
//! over plain HTTP or HTTPS (trusting `SHOAL_CACERT`'s CA file, or the system's roots).

use bytes::Bytes;
use http::{header, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use std::path::PathBuf;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::{connect::HttpConnector, Client as HyperClient};
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid address `{0}` (expected http://HOST:PORT or https://HOST:PORT)")]
    BadAddr(String),
    #[error("cannot set up TLS for {addr}: {detail}")]
    Tls { addr: String, detail: String },
    #[error(
        "cannot reach Shoal at {addr}: {detail} (is `shoal up` running? set --addr or SHOAL_ADDR)"
    )]
    Unreachable { addr: String, detail: String },
    #[error("{status}: {error}{}", detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Api {
        status: StatusCode,
        error: String,
        detail: Option<String>,
    },
    #[error("unexpected answer: {0}")]
    Decode(String),
}

/// The answer header naming the nodes a gathered answer holds and lacks.
const NODES_HEADER: &str = "x-shoal-nodes";

/// A node whose data an answer lacks, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingNode {
    pub node: String,
    pub error: String,
}

/// The `missing` of a nodes report (`{"answered": [..], "missing": [{"node", "error"}]}`).
pub fn missing_nodes(report: &Value) -> Vec<MissingNode> {
    report["missing"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .map(|m| MissingNode {
            node: m["node"].as_str().unwrap_or("?").to_string(),
            error: m["error"].as_str().unwrap_or("no reason given").to_string(),
        })
        .collect()
}

/// Tells standard error about each node whose `what` (logs, traces, errors) are not shown.
pub fn warn_missing(missing: &[MissingNode], what: &str) {
    for line in missing_warnings(missing, what) {
        eprintln!("{line}");
    }
}

/// The warning lines of [`warn_missing`].
pub fn missing_warnings(missing: &[MissingNode], what: &str) -> Vec<String> {
    missing
        .iter()
        .map(|m| {
            format!(
                "warning: node {} did not answer: {}; its {what} are not shown",
                m.node, m.error
            )
        })
        .collect()
}

/// `detail` of a failed request, with what to do about the usual TLS mistakes.
fn with_hint(detail: String, scheme: &str) -> String {
    let hint = match scheme {
        "https" if detail.contains("certificate") => {
            "; set SHOAL_CACERT (or --cacert) to the CA file that signed the API's certificate"
        }
        "http" if detail.contains("invalid HTTP version") => {
            "; the API may speak HTTPS: use https:// in SHOAL_ADDR"
        }
        _ => "",
    };
    detail + hint
}

/// The API client used by every CLI command.
#[derive(Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    /// The CA file HTTPS answers are checked against (`SHOAL_CACERT`).
    ca: Option<PathBuf>,
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    Plain(HyperClient<HttpConnector, Full<Bytes>>),
    Tls(HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>),
}

impl Client {
    pub fn new(addr: &str, token: Option<String>) -> Result<Self, ClientError> {
        Self::with_ca(addr, token, None)
    }

    /// A client of `addr` (`http://` or `https://`); HTTPS trusts the certificates
    /// in `ca` (PEM), or the system's roots without one.
    pub fn with_ca(
        addr: &str,
        token: Option<String>,
        ca: Option<PathBuf>,
    ) -> Result<Self, ClientError> {
        let base = addr.trim_end_matches('/').to_string();
        let uri: Uri = base
            .parse()
            .map_err(|_| ClientError::BadAddr(addr.to_string()))?;
        if uri.host().is_none() {
            return Err(ClientError::BadAddr(addr.to_string()));
        }
        let inner = match uri.scheme_str() {
            Some("http") => {
                Inner::Plain(HyperClient::builder(TokioExecutor::new()).build(HttpConnector::new()))
            }
            Some("https") => {
                let config =
                    shoal_tls::client_config(ca.as_deref(), &[]).map_err(|e| ClientError::Tls {
                        addr: base.clone(),
                        detail: e.to_string(),
                    })?;
                let https = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config((*config).clone())
                    .https_only()
                    .enable_http1()
                    .build();
                Inner::Tls(HyperClient::builder(TokioExecutor::new()).build(https))
            }
            _ => return Err(ClientError::BadAddr(addr.to_string())),
        };
        Ok(Self {
            base,
            token,
            ca,
            inner,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// `https` or `http`, as this client speaks to the API.
    pub fn scheme(&self) -> &'static str {
        match self.inner {
            Inner::Plain(_) => "http",
            Inner::Tls(_) => "https",
        }
    }

    /// A client of another address with the same token and CA (another node's API).
    pub fn at(&self, addr: &str) -> Result<Self, ClientError> {
        Self::with_ca(addr, self.token.clone(), self.ca.clone())
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, ClientError> {
        let uri = format!("{}{}", self.base, path);
        let mut builder = Request::builder().method(method).uri(&uri);
        if let Some(t) = &self.token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let bytes = match body {
            Some(b) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                b
            }
            None => Bytes::new(),
        };
        let req = builder
            .body(Full::new(bytes))
            .map_err(|e| ClientError::BadAddr(format!("{uri}: {e}")))?;
        let sent = match &self.inner {
            Inner::Plain(c) => c.request(req).await,
            Inner::Tls(c) => c.request(req).await,
        };
        sent.map_err(|e| ClientError::Unreachable {
            addr: self.base.clone(),
            detail: with_hint(shoal_api::fanout::error_chain(&e), self.scheme()),
        })
    }

    /// Sends a request with a raw body; returns the raw body of a 2xx answer
    /// and turns any other answer into [`ClientError::Api`].
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Bytes, ClientError> {
        Ok(self.raw_with_headers(method, path, body).await?.1)
    }

    /// [`Client::raw`] with the answer's headers.
    async fn raw_with_headers(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<(http::HeaderMap, Bytes), ClientError> {
        let resp = self.send(method, path, body).await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Decode(e.to_string()))?
            .to_bytes();
        if !status.is_success() {
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Err(ClientError::Api {
                status,
                error: v["error"].as_str().map_or_else(
                    || match status {
                        StatusCode::NOT_FOUND => "not found".to_string(),
                        _ => "request failed".to_string(),
                    },
                    str::to_string,
                ),
                detail: match &v["detail"] {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                },
            });
        }
        Ok((headers, bytes))
    }

    /// A GET of a query the API gathers from every node in cluster mode: the answer and
    /// the nodes whose data it lacks, with why (from `X-Shoal-Nodes`; `None` when the
    /// answer is one node's alone, as with `shoal up`).
    pub async fn get_gathered<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<(T, Option<Vec<MissingNode>>), ClientError> {
        let (headers, bytes) = self.raw_with_headers(Method::GET, path, None).await?;
        let answer =
            serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))?;
        let missing = headers
            .get(NODES_HEADER)
            .and_then(|v| serde_json::from_slice::<Value>(v.as_bytes()).ok())
            .map(|report| missing_nodes(&report));
        Ok((answer, missing))
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, ClientError> {
        let bytes = self
            .raw(method, path, body.map(|v| Bytes::from(v.to_string())))
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.json(Method::GET, path, None).await
    }

    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Value,
    ) -> Result<T, ClientError> {
        self.json(Method::POST, path, Some(body)).await
    }

    pub async fn put<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Value,
    ) -> Result<T, ClientError> {
        self.json(Method::PUT, path, Some(body)).await
    }

    pub async fn patch<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Value,
    ) -> Result<T, ClientError> {
        self.json(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.json(Method::DELETE, path, None).await
    }

    /// Opens a server-sent-events stream and calls `on_data` with each
    /// message's `data:` payload; the server's notices (an `event:` name such
    /// as `lagged` or `lost`) go to standard error instead.
    pub async fn sse(&self, path: &str, mut on_data: impl FnMut(&str)) -> Result<(), ClientError> {
        let resp = self.send(Method::GET, path, None).await?;
        if !resp.status().is_success() {
            return Err(ClientError::Api {
                status: resp.status(),
                error: "stream refused".into(),
                detail: None,
            });
        }
        let mut body = resp.into_body();
        let mut buf = String::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ClientError::Decode(e.to_string()))?;
            if let Some(data) = frame.data_ref() {
                buf.push_str(&String::from_utf8_lossy(data));
                while let Some(end) = buf.find("\n\n") {
                    let event: String = buf.drain(..end + 2).collect();
                    let (name, data) = sse_message(&event);
                    match name {
                        None => data.iter().for_each(|d| on_data(d)),
                        Some(name) => eprintln!("shoal: {}", notice(name, &data.join("\n"))),
                    }
                }
            }
        }
        Ok(())
    }
}

/// One server-sent-events message: its `event:` name, if any, and its `data:` lines.
fn sse_message(event: &str) -> (Option<&str>, Vec<&str>) {
    let mut name = None;
    let mut data = Vec::new();
    for line in event.lines() {
        if let Some(d) = line.strip_prefix("data:") {
            data.push(d.trim_start());
        } else if let Some(n) = line.strip_prefix("event:") {
            name = Some(n.trim());
        }
    }
    (name, data)
}

/// A stream's notice, said for a person.
fn notice(name: &str, data: &str) -> String {
    match name {
        "lagged" => format!("{data} skipped: this tail fell behind the stream"),
        "lost" => {
            let range: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
            format!(
                "lines numbered {} to {} may be missing: shoal was killed before they reached the disk",
                range["from"],
                range["until"].as_u64().map_or(0, |u| u.saturating_sub(1))
            )
        }
        _ => format!("{name}: {data}"),
    }
}

/// Percent-encodes a query value.
pub fn encode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod sse_tests {
    use super::*;

    #[test]
    fn notices_are_told_apart_from_data() {
        assert_eq!(
            sse_message("data: {\"seq\":1}\n\n"),
            (None, vec!["{\"seq\":1}"])
        );
        assert_eq!(
            sse_message("event: lagged\ndata: 12\n\n"),
            (Some("lagged"), vec!["12"])
        );
        assert_eq!(
            notice("lost", r#"{"from":5,"until":9}"#),
            "lines numbered 5 to 8 may be missing: shoal was killed before they reached the disk"
        );
        assert!(notice("lagged", "12").starts_with("12 skipped"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_node_is_one_warning_line() {
        let report = serde_json::json!({ "answered": ["a", "b"],
            "missing": [{ "node": "c", "error": "timed out after 2s" }] });
        let missing = missing_nodes(&report);
        assert_eq!(
            missing_warnings(&missing, "logs"),
            ["warning: node c did not answer: timed out after 2s; its logs are not shown"]
        );
        assert!(missing_nodes(&serde_json::json!({ "answered": ["a"], "missing": [] })).is_empty());
    }
}
