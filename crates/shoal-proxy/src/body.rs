//! Message bodies on the proxy's path: a request body as the listener read it, and
//! a response body that is whole (most answers: written with the head in one
//! write) or streamed from an instance's connection.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};

use crate::client::Streamed;

/// A request body as it reached [`crate::server::Proxy::handle`].
#[derive(Debug)]
pub(crate) enum ReqBody {
    /// Read whole by the HTTP/1.1 listener.
    Read(Bytes),
    /// Longer than the body limit (the length announced, if one was); not read whole.
    TooLarge(Option<u64>),
    /// An HTTP/2 stream's body, read by the pipeline.
    Incoming(Incoming),
}

/// A response body.
#[derive(Debug)]
pub enum Body {
    /// The whole body (taken once sent).
    Full(Option<Bytes>),
    /// Read from the instance as it is sent on (boxed: answers move through
    /// several layers, and most are whole).
    Stream(Box<Streamed>),
    /// A `101 Switching Protocols` answer's connection to the instance, to be
    /// joined to the client's (`h1.rs`); no body.
    Upgraded(Box<Upgraded>),
    /// An answer read from an instance over HTTP/2 (`client_h2.rs`): data, then
    /// any trailers (passed on to HTTP/2 clients; HTTP/1.1 clients get the data).
    H2(Box<crate::client_h2::H2Body>),
}

/// An instance's connection after it switched protocols.
#[derive(Debug)]
pub struct Upgraded {
    pub(crate) stream: crate::upstream::Upstream,
    /// What the instance sent after its `101` head.
    pub(crate) read: Bytes,
    /// The request's place in its service's in-flight limit, held until the
    /// tunnel closes (a switched connection is one long request).
    pub(crate) admitted: Option<crate::admission::AdmitGuard>,
    /// Its count in the instance's load (least-loaded balancing), likewise.
    pub(crate) load: Option<crate::balance::InflightGuard>,
}

impl Body {
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        Body::Full(Some(bytes.into()))
    }

    /// The outcome still to be recorded when its trailers pass (a gRPC answer
    /// from an h2c instance), if there is one.
    pub(crate) fn verdict_mut(&mut self) -> Option<&mut crate::verdict::Verdict> {
        match self {
            Body::H2(b) => b.verdict_mut(),
            _ => None,
        }
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(
                b.take()
                    .filter(|b| !b.is_empty())
                    .map(|b| Ok(Frame::data(b))),
            ),
            Body::Stream(s) => s.poll_data(cx).map(|d| d.map(|r| r.map(Frame::data))),
            Body::Upgraded(_) => Poll::Ready(None),
            Body::H2(b) => b.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Full(b) => b.as_ref().is_none_or(Bytes::is_empty),
            Body::Stream(s) => s.is_end(),
            Body::Upgraded(_) => true,
            Body::H2(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Stream(s) => s.size_hint(),
            Body::Upgraded(_) => SizeHint::with_exact(0),
            Body::H2(b) => b.size_hint(),
        }
    }
}
