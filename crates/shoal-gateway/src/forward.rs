//! Forwarding one request to an instance, retrying another instance when the
//! connection could not be made (the request never reached anyone).

use std::time::Duration;

use http::{header, HeaderMap, HeaderName, HeaderValue, Request, Response, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};

use crate::respond::{full, shoal_answer, Body, Reason};
use crate::table::ServiceRoute;

pub type UpstreamClient = Client<HttpConnector, Body>;

/// Headers that describe one hop and must not be forwarded.
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "transfer-encoding",
];

pub fn client() -> UpstreamClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(256)
        .build(connector)
}

/// Sends `req` to the route's instances in round-robin order.
pub async fn forward(
    client: &UpstreamClient,
    route: &ServiceRoute,
    req: Request<Incoming>,
    timeout: Duration,
) -> Response<Body> {
    if route.backends.is_empty() {
        return shoal_answer(
            Reason::NoHealthyInstance,
            "the service has no healthy instance",
        );
    }
    let (mut parts, body) = req.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    if let Ok(v) = HeaderValue::from_str(&route.version) {
        parts.headers.insert("x-version", v);
    }
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_string();
    // A request without a body can be replayed on another instance if the connection fails.
    let replayable = !has_body(&parts.headers);
    let mut body = Some(body.boxed());
    let mut last_error = String::from("no instance tried");
    for backend in route.rotation() {
        let uri: Uri = match format!("http://{}{}", backend.addr, path).parse() {
            Ok(u) => u,
            Err(e) => return shoal_answer(Reason::UpstreamError, &format!("bad path: {e}")),
        };
        let attempt_body = match body.take() {
            Some(b) => b,
            None if replayable => full(bytes::Bytes::new()),
            None => break,
        };
        let mut builder = Request::builder()
            .method(parts.method.clone())
            .uri(uri)
            .version(http::Version::HTTP_11);
        if let Some(h) = builder.headers_mut() {
            h.clone_from(&parts.headers);
        }
        let upstream = match builder.body(attempt_body) {
            Ok(r) => r,
            Err(e) => return shoal_answer(Reason::UpstreamError, &e.to_string()),
        };
        match tokio::time::timeout(timeout, client.request(upstream)).await {
            Err(_) => return shoal_answer(Reason::Timeout, "the instance did not answer in time"),
            Ok(Ok(resp)) => {
                let (mut rparts, rbody) = resp.into_parts();
                strip_hop_by_hop(&mut rparts.headers);
                return Response::from_parts(rparts, rbody.boxed());
            }
            Ok(Err(e)) if e.is_connect() => {
                tracing::debug!(instance = %backend.instance, error = %e, "connect failed, trying next instance");
                last_error = format!("connect to {} failed: {e}", backend.instance);
                if !replayable {
                    break;
                }
            }
            Ok(Err(e)) => {
                return shoal_answer(Reason::UpstreamError, &format!("{}: {e}", backend.instance))
            }
        }
    }
    shoal_answer(Reason::NoHealthyInstance, &last_error)
}

fn has_body(headers: &HeaderMap) -> bool {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return true;
    }
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > 0)
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("x-keep", HeaderValue::from_static("1"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        strip_hop_by_hop(&mut h);
        assert!(h.get("x-secret").is_none());
        assert!(h.get(header::CONNECTION).is_none());
        assert!(h.get(header::TRANSFER_ENCODING).is_none());
        assert!(h.get("x-keep").is_some());
    }

    #[test]
    fn body_detection() {
        let mut h = HeaderMap::new();
        assert!(!has_body(&h));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        assert!(!has_body(&h));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("12"));
        assert!(has_body(&h));
    }
}
