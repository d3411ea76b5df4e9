//! HTTP check: `GET http://addr/path` over one HTTP/1.1 connection, body read bounded.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{HOST, USER_AGENT};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::{snippet, MAX_OUTPUT_BYTES};
use crate::outcome::CheckOutcome;

/// The request target: `path` with a leading `/` added when missing.
pub(crate) fn normalize(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}

/// Passing for 2xx, warning for 429 (Consul's convention), critical otherwise.
pub(crate) fn classify(status: StatusCode, message: String) -> CheckOutcome {
    if status.is_success() {
        CheckOutcome::Passing
    } else if status == StatusCode::TOO_MANY_REQUESTS {
        CheckOutcome::Warning(message)
    } else {
        CheckOutcome::Critical(message)
    }
}

/// Checks `http://addr<path>`; `path` is already normalized.
pub(crate) async fn check(addr: SocketAddr, path: &str) -> CheckOutcome {
    let target = format!("http://{addr}{path}");
    match get(addr, path).await {
        Ok((status, body)) => {
            let mut message = format!("HTTP GET {target}: {status}");
            if !body.is_empty() {
                message.push_str(" Output: ");
                message.push_str(&body);
            }
            classify(status, message)
        }
        Err(reason) => CheckOutcome::Critical(format!("HTTP GET {target}: {reason}")),
    }
}

/// Status and the first [`MAX_OUTPUT_BYTES`] of the body, or why the request failed.
async fn get(addr: SocketAddr, path: &str) -> Result<(StatusCode, String), String> {
    let request = Request::get(path)
        .header(HOST, addr.to_string())
        .header(USER_AGENT, "shoal-health")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("invalid check path: {e}"))?;
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect failed: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake failed: {e}"))?;
    let driver = AbortOnDrop(tokio::spawn(connection));
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status();
    let mut body = response.into_body();
    let mut read = Vec::new();
    while read.len() < MAX_OUTPUT_BYTES {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    read.extend_from_slice(data);
                }
            }
            // A body cut short still tells us the status; keep what arrived.
            Some(Err(_)) | None => break,
        }
    }
    drop(driver);
    Ok((status, snippet(&read)))
}

/// Stops the connection task when the check finishes or is cancelled by its timeout
/// (shared with the Consul probes in `probe/http.rs`).
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<Result<(), hyper::Error>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_consul() {
        let ok = |code: u16| {
            StatusCode::from_u16(code)
                .map(|s| classify(s, String::new()))
                .ok()
        };
        assert_eq!(ok(200), Some(CheckOutcome::Passing));
        assert_eq!(ok(204), Some(CheckOutcome::Passing));
        assert_eq!(ok(429), Some(CheckOutcome::Warning(String::new())));
        for code in [301, 404, 500, 503] {
            assert_eq!(ok(code), Some(CheckOutcome::Critical(String::new())));
        }
    }

    #[test]
    fn paths_get_a_leading_slash() {
        assert_eq!(normalize("health"), "/health");
        assert_eq!(normalize("/h?x=1"), "/h?x=1");
    }
}
