//! Request bodies are read whole before any handler runs: one place for every
//! body-taking extractor (native, OFREP, Consul), so a body over [`MAX_BODY`] is
//! a JSON 413 and a body that stops arriving is a JSON 408, never a 400.

use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use http_body_util::BodyExt;

use crate::error::ApiError;
use crate::MAX_BODY;

/// An oversized body up to this size is read and dropped before the 413, so
/// the client, still sending, is not reset before it reads the answer; a
/// larger one gets the 413 at once and the connection closes.
const DRAIN_BYTES: u64 = 8 * MAX_BODY as u64;

/// The middleware: reads the body (each piece within the body timeout) and hands
/// the handler a complete one.
pub async fn read_whole(req: Request, next: Next) -> Response {
    let wait = crate::listen::timeouts().body;
    let (parts, body) = req.into_parts();
    let max = limit_for(parts.uri.path());
    let hint = body.size_hint();
    if hint.exact() == Some(0) {
        return next.run(Request::from_parts(parts, body)).await;
    }
    // `Expect: 100-continue`: the client waits for a word before sending; it is not asked for.
    let expects = parts.headers.contains_key(header::EXPECT);
    if hint.lower() > max as u64 {
        let drained = !expects && hint.lower() <= DRAIN_BYTES && drain(body, wait).await;
        return too_large(max, drained);
    }
    let mut body = body;
    let mut whole = BytesMut::new();
    loop {
        let frame = match tokio::time::timeout(wait, body.frame()).await {
            Err(_) => return closing(ApiError::body_timeout(wait).into_response()),
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                let e =
                    ApiError::bad_request("could not read the request body").detail(e.to_string());
                return closing(e.into_response());
            }
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if whole.len() + data.len() > max {
                return too_large(max, drain(body, wait).await);
            }
            whole.extend_from_slice(&data);
        }
    }
    next.run(Request::from_parts(parts, Body::from(whole.freeze())))
        .await
}

/// Reads and drops the rest of `body`, up to [`DRAIN_BYTES`]: whether it ended.
async fn drain(mut body: Body, wait: Duration) -> bool {
    let mut read = 0u64;
    while read <= DRAIN_BYTES {
        match tokio::time::timeout(wait, body.frame()).await {
            Ok(None) => return true,
            Ok(Some(Ok(frame))) => {
                read += frame.data_ref().map_or(0, |d| d.len() as u64);
            }
            Ok(Some(Err(_))) | Err(_) => return false,
        }
    }
    false
}

/// The largest body a path takes: [`MAX_BODY`], or [`crate::MAX_SNAPSHOT`] for a
/// snapshot restore.
fn limit_for(path: &str) -> usize {
    if path == "/v1/snapshot" {
        crate::MAX_SNAPSHOT
    } else {
        MAX_BODY
    }
}

fn too_large(max: usize, drained: bool) -> Response {
    let answer = ApiError::too_large(max).into_response();
    if drained {
        answer
    } else {
        closing(answer)
    }
}

/// The answer, with the connection closed after it (the body was not read whole).
fn closing(mut answer: Response) -> Response {
    answer
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    answer
}
