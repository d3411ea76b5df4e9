//! Stage: the request body within the size limit: read whole, or (HTTP/2 to an
//! h2c instance) passed on as it arrives; 413 `too-large` over the limit.
//!
//! Split in two so the common case costs no future of its own: [`ready`] settles
//! every body already at hand (HTTP/1.1 reads it whole with the head);
//! [`collect`] reads the rest (an HTTP/2 body to send whole).

use std::ops::ControlFlow::{Break, Continue};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body as _, Incoming};

use crate::body::ReqBody;
use crate::client_h2::RequestStream;
use crate::respond::Reason;
use crate::stages::{End, Step};

/// The body to send: whole, or a stream (then `bytes` is empty).
pub(crate) struct Payload {
    pub bytes: Bytes,
    pub stream: Option<RequestStream>,
}

/// The body when it is at hand (`h2c`: the instances speak HTTP/2), or (`Err`) the
/// stream still to [`collect`] within `limit` bytes.
#[inline]
pub(crate) fn ready(
    body: ReqBody,
    h2c: bool,
    limit: usize,
) -> Result<Step<Payload>, Limited<Incoming>> {
    let bytes = match body {
        ReqBody::Read(b) => b,
        ReqBody::Incoming(b) if b.is_end_stream() => Bytes::new(),
        // An HTTP/2 stream to an HTTP/2 instance goes on as it arrives (gRPC
        // client and bidirectional streams), still bounded by the limit.
        ReqBody::Incoming(b) if h2c => {
            return Ok(Continue(Payload {
                bytes: Bytes::new(),
                stream: Some(RequestStream::new(Limited::new(b, limit))),
            }))
        }
        ReqBody::Incoming(b) => return Err(Limited::new(b, limit)),
        ReqBody::TooLarge(Some(n)) => return Ok(too_large(limit, &format!("{n} bytes announced"))),
        ReqBody::TooLarge(None) => return Ok(too_large(limit, "chunked body over the limit")),
    };
    Ok(Continue(Payload {
        bytes,
        stream: None,
    }))
}

/// Reads a body whole (`limit`: the one it is bounded by).
pub(crate) async fn collect(body: Limited<Incoming>, limit: usize) -> Step<Payload> {
    match body.collect().await {
        Ok(b) => Continue(Payload {
            bytes: b.to_bytes(),
            stream: None,
        }),
        Err(e) => too_large(limit, &e.to_string()),
    }
}

fn too_large<T>(limit: usize, why: &str) -> Step<T> {
    let detail = format!("request body refused (limit {limit} bytes): {why}");
    Break(End::shoal(Reason::TooLarge, &detail))
}
