//! Stage: the request body within the size limit: read whole, or (HTTP/2 to an
//! h2c instance) passed on as it arrives; 413 `too-large` over the limit.

use std::ops::ControlFlow::{Break, Continue};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Body as _;

use crate::body::ReqBody;
use crate::client_h2::RequestStream;
use crate::respond::Reason;
use crate::stages::{End, Step};

/// The body to send: whole, or a stream (then `bytes` is empty).
pub(crate) struct Payload {
    pub bytes: Bytes,
    pub stream: Option<RequestStream>,
}

/// Reads `body` within `limit` bytes; `h2c`: the instances speak HTTP/2.
#[inline]
pub(crate) async fn read(body: ReqBody, h2c: bool, limit: usize) -> Step<Payload> {
    let bytes = match body {
        ReqBody::Read(b) => b,
        ReqBody::Incoming(b) if b.is_end_stream() => Bytes::new(),
        // An HTTP/2 stream to an HTTP/2 instance goes on as it arrives (gRPC
        // client and bidirectional streams), still bounded by the limit.
        ReqBody::Incoming(b) if h2c => {
            return Continue(Payload {
                bytes: Bytes::new(),
                stream: Some(RequestStream::new(Limited::new(b, limit))),
            })
        }
        ReqBody::Incoming(b) => match Limited::new(b, limit).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return too_large(limit, &e.to_string()),
        },
        ReqBody::TooLarge(Some(n)) => return too_large(limit, &format!("{n} bytes announced")),
        ReqBody::TooLarge(None) => return too_large(limit, "chunked body over the limit"),
    };
    Continue(Payload {
        bytes,
        stream: None,
    })
}

fn too_large<T>(limit: usize, why: &str) -> Step<T> {
    let detail = format!("request body refused (limit {limit} bytes): {why}");
    Break(End::shoal(Reason::TooLarge, &detail))
}
