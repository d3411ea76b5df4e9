//! Cluster fan-out: a query asked of one node is asked of every other node's API too
//! (with `local=true`, so no node asks further), concurrently, each within [`TIMEOUT`];
//! a node that does not answer is named with the reason. With `shoal up` nothing is asked.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use bytes::Bytes;
use futures::future::join_all;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use shoal_schedule::NodeStatus;

pub use crate::fanout_merge::{Missing, NodesReport};
use crate::state::ApiState;

/// The query parameter that asks a node for its own data only.
pub const LOCAL: &str = "local";
/// The answer header that says which nodes' data an answer holds (a [`NodesReport`]).
pub const NODES_HEADER: &str = "x-shoal-nodes";
/// How long each other node has to answer.
pub const TIMEOUT: Duration = Duration::from_secs(2);
/// The largest answer read from another node (a `limit=0` log query can be large).
const MAX_ANSWER: usize = 256 << 20;

/// `local=true`: this node's data only (what a node asks the others).
#[derive(Debug, serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LocalParam {
    #[serde(default)]
    pub local: bool,
}

/// One node's 2xx or 404 answer.
pub struct Reply {
    pub node: String,
    pub status: StatusCode,
    pub body: Bytes,
}

/// What the other nodes said; this node counts as answered.
pub struct Gathered {
    pub replies: Vec<Reply>,
    pub report: NodesReport,
}

impl Gathered {
    /// Each reply as `T`: a 2xx answer decoded, a 404 as `None` when `not_found_is_empty`
    /// (a show of something that node does not hold), else the node is missing with the
    /// answer's error.
    pub fn decode<T: DeserializeOwned>(
        self,
        not_found_is_empty: bool,
    ) -> (Vec<(String, Option<T>)>, NodesReport) {
        let mut report = self.report;
        let mut out = Vec::new();
        for r in self.replies {
            let decoded = match r.status {
                s if s.is_success() => serde_json::from_slice::<T>(&r.body)
                    .map(Some)
                    .map_err(|e| format!("answered something unreadable: {e}")),
                StatusCode::NOT_FOUND if not_found_is_empty => Ok(None),
                s => Err(format!("answered {s}: {}", error_text(&r.body))),
            };
            match decoded {
                Ok(v) => {
                    report.answered.push(r.node.clone());
                    out.push((r.node, v));
                }
                Err(error) => report.missing.push(Missing {
                    node: r.node,
                    error,
                }),
            }
        }
        report.answered.sort();
        report.missing.sort_by(|a, b| a.node.cmp(&b.node));
        (out, report)
    }
}

/// The `error` (and `detail`) of an API error body.
fn error_text(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    match (v["error"].as_str(), v["detail"].as_str()) {
        (Some(e), Some(d)) => format!("{e}: {d}"),
        (Some(e), None) => e.to_string(),
        _ => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    }
}

/// In cluster mode, `path` with the caller's query asked of every other node (the
/// caller's `Authorization` passed on); `None` with `shoal up`.
pub async fn gather(
    st: &ApiState,
    path: &str,
    raw_query: Option<&str>,
    headers: &HeaderMap,
) -> Option<Gathered> {
    let grace = st.cluster_grace?;
    let mut report = NodesReport {
        answered: vec![st.node.clone()],
        missing: Vec::new(),
    };
    let nodes = match shoal_cluster::read_nodes(st.store.as_ref()).await {
        Ok(n) => n,
        Err(e) => {
            report.missing.push(Missing {
                node: "(other nodes)".into(),
                error: format!("the node list could not be read: {e}"),
            });
            return Some(Gathered {
                replies: Vec::new(),
                report,
            });
        }
    };
    let mut peers = Vec::new();
    for n in nodes.statuses(shoal_catalog::now_ms(), grace) {
        if n.name == st.node {
            continue;
        }
        let record = nodes.records.iter().find(|r| r.name == n.name).or_else(|| {
            nodes
                .seen
                .iter()
                .map(|s| &s.record)
                .find(|r| r.name == n.name)
        });
        match (n.status, record) {
            (NodeStatus::Lost, _) => report.missing.push(Missing {
                node: n.name,
                error: "lost: no lease for longer than the grace period".into(),
            }),
            (_, Some(r)) => match api_to_ask(r.api, r.address) {
                Ok(api) => peers.push((n.name, api)),
                Err(error) => report.missing.push(Missing {
                    node: n.name,
                    error,
                }),
            },
            (_, None) => {}
        }
    }
    let query = match raw_query.filter(|q| !q.is_empty()) {
        Some(q) => format!("{q}&{LOCAL}=true"),
        None => format!("{LOCAL}=true"),
    };
    let auth = headers.get(header::AUTHORIZATION).cloned();
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let asks = peers.into_iter().map(|(node, api)| {
        let uri = format!("http://{api}{path}?{query}");
        let (client, auth) = (client.clone(), auth.clone());
        async move {
            let answer = tokio::time::timeout(TIMEOUT, ask(&client, &uri, auth)).await;
            match answer {
                Ok(Ok((status, body))) => Ok(Reply { node, status, body }),
                Ok(Err(error)) => Err(Missing { node, error }),
                Err(_) => Err(Missing {
                    node,
                    error: format!("timed out after {}s", TIMEOUT.as_secs()),
                }),
            }
        }
    });
    let mut replies = Vec::new();
    for answer in join_all(asks).await {
        match answer {
            Ok(r) => replies.push(r),
            Err(m) => {
                tracing::warn!(node = %m.node, error = %m.error, path, "a node did not answer a gathered query");
                report.missing.push(m);
            }
        }
    }
    Some(Gathered { replies, report })
}

/// Where another node's API is asked: its listening address, with the node's advertised
/// address when it listens on every address (`0.0.0.0`, which would reach this machine).
/// A node on another host whose API listens on loopback alone cannot be asked: its
/// loopback address here is this machine's.
pub fn api_to_ask(api: SocketAddr, advertised: IpAddr) -> Result<SocketAddr, String> {
    if api.ip().is_unspecified() {
        return Ok(SocketAddr::new(advertised, api.port()));
    }
    if api.ip().is_loopback() && !advertised.is_loopback() {
        return Err(format!(
            "its API listens on {api} only, which other hosts cannot reach (listen on {advertised} or 0.0.0.0)"
        ));
    }
    Ok(api)
}

/// One GET, its status and whole body.
async fn ask(
    client: &Client<HttpConnector, Full<Bytes>>,
    uri: &str,
    auth: Option<HeaderValue>,
) -> Result<(StatusCode, Bytes), String> {
    let mut req = axum::http::Request::get(uri);
    if let Some(a) = auth {
        req = req.header(header::AUTHORIZATION, a);
    }
    let req = req
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let resp = client
        .request(req)
        .await
        .map_err(|e| format!("unreachable: {}", error_chain(&e)))?;
    let status = resp.status();
    let body = Limited::new(resp.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| format!("the answer broke off or was over {MAX_ANSWER} bytes: {e}"))?
        .to_bytes();
    Ok((status, body))
}

/// An error with every source after it (`a: b: c`), as a person reads it.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

/// `X-Shoal-Nodes` with `report`.
pub fn headers(report: &NodesReport) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Some(v) = header_value(report) {
        h.insert(NODES_HEADER, v);
    }
    h
}

/// The report as the [`NODES_HEADER`] value.
pub fn header_value(report: &NodesReport) -> Option<HeaderValue> {
    HeaderValue::from_str(&serde_json::to_string(report).ok()?).ok()
}

/// The OpenAPI declaration of [`LOCAL`].
pub fn openapi_local() -> serde_json::Value {
    crate::openapi::query_param(
        LOCAL,
        serde_json::json!({ "type": "boolean" }),
        "cluster mode: this node's data only (what a node asks the other nodes); \
         without it the other nodes are asked too, each within 2 s",
    )
}

/// The OpenAPI declaration of the [`NODES_HEADER`] answer header.
pub fn openapi_header() -> serde_json::Value {
    serde_json::json!({ "X-Shoal-Nodes": { "schema": { "type": "string" },
        "description": "cluster mode, without `local`: JSON {\"answered\": [node], \"missing\": \
            [{\"node\", \"error\"}]}, the nodes whose data the answer holds and those it lacks" } })
}

/// `answer` (an OpenAPI response) with the [`NODES_HEADER`] declared.
pub fn openapi_with_header(mut answer: serde_json::Value) -> serde_json::Value {
    answer["headers"] = openapi_header();
    answer
}

/// The OpenAPI schema of the `nodes` field of a gathered answer.
pub fn openapi_report() -> serde_json::Value {
    serde_json::json!({ "type": "object", "required": ["answered", "missing"],
        "description": "cluster mode: the nodes whose data this holds, and those it lacks with why",
        "properties": { "answered": { "type": "array", "items": { "type": "string" } },
            "missing": { "type": "array", "items": { "type": "object", "required": ["node", "error"],
                "properties": { "node": { "type": "string" }, "error": { "type": "string" } } } } } })
}

#[cfg(test)]
mod tests {
    use super::api_to_ask;

    #[test]
    fn a_node_is_asked_where_other_nodes_reach_it() {
        let at = |s: &str| s.parse::<std::net::SocketAddr>().expect("address");
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
        assert_eq!(
            api_to_ask(at("10.0.0.2:7070"), ip("10.0.0.2")),
            Ok(at("10.0.0.2:7070"))
        );
        assert_eq!(
            api_to_ask(at("0.0.0.0:7070"), ip("10.0.0.2")),
            Ok(at("10.0.0.2:7070"))
        );
        assert_eq!(
            api_to_ask(at("[::]:7070"), ip("10.0.0.2")),
            Ok(at("10.0.0.2:7070"))
        );
        assert_eq!(
            api_to_ask(at("127.0.0.1:7071"), ip("127.0.0.1")),
            Ok(at("127.0.0.1:7071"))
        );
        let refused = api_to_ask(at("127.0.0.1:7070"), ip("10.0.0.2"));
        assert!(refused.is_err_and(|e| e.contains("other hosts cannot reach")));
    }

    #[test]
    fn every_gathered_query_declares_local() {
        let doc = crate::openapi::spec();
        for path in [
            "/api/v1/logs",
            "/api/v1/traces",
            "/api/v1/traces/{id}",
            "/api/v1/errors",
            "/api/v1/errors/{id}",
            "/api/v1/metrics/query",
            "/api/v1/events",
        ] {
            let op = &doc["paths"][path]["get"];
            let params = op["parameters"].as_array().map_or(&[][..], Vec::as_slice);
            assert!(
                params
                    .iter()
                    .any(|p| p["name"] == super::LOCAL && p["in"] == "query"),
                "{path}: `local` is not declared"
            );
            assert!(
                op["responses"]["200"]["headers"]["X-Shoal-Nodes"].is_object(),
                "{path}: X-Shoal-Nodes is not declared"
            );
        }
    }
}
