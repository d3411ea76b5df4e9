//! HTTP/2 without TLS (h2c, prior knowledge) to the instances of a service that
//! says `protocol = "h2c"` (gRPC servers): one multiplexed connection per
//! instance per pool, made on first use and again once it has closed. The
//! answer's body streams through with its trailers (`grpc-status`, ...).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use foldhash::HashMap;
use http::{HeaderMap, HeaderValue, Request, Uri};
use http_body::Body as _;
use http_body_util::{Full, Limited};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use crate::body::Body;
use crate::conn_io::expired;
use crate::fields::Fields;
use crate::forward::Call;
use crate::headers::{to_instance, Known};
use crate::message::Answer;
use crate::pool::SendError;

/// Pings an idle HTTP/2 connection this often; one that does not answer is closed.
const KEEP_ALIVE: Duration = Duration::from_secs(20);

/// The open HTTP/2 connection to each instance.
#[derive(Debug, Default)]
pub(crate) struct H2Conns {
    conns: Mutex<HashMap<SocketAddr, SendRequest<ReqBody>>>,
}

/// A client's HTTP/2 request body passed on as it arrives, bounded by the
/// proxy's body limit; taken by the attempt that sends it.
#[derive(Debug)]
pub(crate) struct RequestStream {
    body: Mutex<Option<Limited<Incoming>>>,
    /// Set when the body passed the limit (the send then fails for that reason).
    over: Arc<AtomicBool>,
}

impl RequestStream {
    pub(crate) fn new(body: Limited<Incoming>) -> Self {
        Self {
            body: Mutex::new(Some(body)),
            over: Arc::default(),
        }
    }

    fn take(&self) -> Option<ReqBody> {
        let body = self.body.lock().ok()?.take()?;
        Some(ReqBody::Stream(body, self.over.clone()))
    }

    fn passed_limit(&self) -> bool {
        self.over.load(Ordering::Relaxed)
    }
}

/// What goes to an HTTP/2 instance as a request body.
enum ReqBody {
    Whole(Full<Bytes>),
    /// With the flag [`RequestStream::passed_limit`] reads.
    Stream(Limited<Incoming>, Arc<AtomicBool>),
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl http_body::Body for ReqBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ReqBody::Whole(b) => Pin::new(b).poll_frame(cx).map_err(|e| match e {}),
            ReqBody::Stream(b, over) => {
                let frame = Pin::new(b).poll_frame(cx);
                if let Poll::Ready(Some(Err(e))) = &frame {
                    if e.is::<http_body_util::LengthLimitError>() {
                        over.store(true, Ordering::Relaxed);
                    }
                }
                frame
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReqBody::Whole(b) => b.is_end_stream(),
            ReqBody::Stream(b, _) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReqBody::Whole(b) => b.size_hint(),
            ReqBody::Stream(b, _) => b.size_hint(),
        }
    }
}

impl H2Conns {
    /// The open connection to `addr`, if there is one.
    fn open(&self, addr: SocketAddr) -> Option<SendRequest<ReqBody>> {
        let mut conns = self.conns.lock().ok()?;
        match conns.get(&addr) {
            Some(s) if !s.is_closed() => Some(s.clone()),
            Some(_) => {
                conns.remove(&addr);
                None
            }
            None => None,
        }
    }

    fn keep(&self, addr: SocketAddr, sender: &SendRequest<ReqBody>) {
        if let Ok(mut conns) = self.conns.lock() {
            conns.insert(addr, sender.clone());
        }
    }

    /// Sends `c` to `addr` over HTTP/2; answers with the head by `deadline`
    /// (the body streams after it).
    pub(crate) async fn send(
        &self,
        addr: SocketAddr,
        c: &Call<'_>,
        connect_timeout: Duration,
        deadline: Instant,
    ) -> Result<Answer, SendError> {
        let (mut sender, reused) = match self.open(addr) {
            Some(s) => (s, true),
            None => {
                let s = connect(addr, connect_timeout, deadline).await?;
                self.keep(addr, &s);
                (s, false)
            }
        };
        let ready = tokio::time::timeout_at(deadline, sender.ready());
        match ready.await {
            Err(_) => return Err(SendError::Timeout),
            // The connection went away before the request left: nothing was sent.
            Ok(Err(e)) if reused => return Err(SendError::Stale(e.to_string())),
            Ok(Err(e)) => return Err(SendError::Transport(e.to_string())),
            Ok(Ok(())) => {}
        }
        // Built once the connection can take it: a streamed body is taken here.
        let req = request(addr, c)?;
        let answer = tokio::time::timeout_at(deadline, sender.send_request(req));
        let resp = match answer.await {
            Err(_) => return Err(SendError::Timeout),
            // Refused or cut before any answer (GOAWAY, a reset stream): the
            // instance did not process it, as with a stale HTTP/1.1 connection.
            Ok(Err(e)) if c.stream.is_some_and(RequestStream::passed_limit) => {
                let limit = "the streamed body passed the limit";
                return Err(SendError::TooLarge(format!("{limit} ({e})")));
            }
            Ok(Err(e)) if reused && (e.is_canceled() || e.is_closed()) => {
                return Err(SendError::Stale(e.to_string()))
            }
            Ok(Err(e)) => return Err(SendError::Transport(e.to_string())),
            Ok(Ok(r)) => r,
        };
        let (parts, body) = resp.into_parts();
        Ok(Answer::new(
            parts.status,
            Fields::map(parts.headers),
            Body::H2(Box::new(H2Body::new(body, c.timeout))),
        ))
    }
}

/// An answer body from an HTTP/2 instance, frame by frame (data, then any
/// trailers). An instance that sends nothing more for the call's timeout fails
/// it, as a stalled HTTP/1.1 body does (the client's stream is then reset or
/// its connection cut).
#[derive(Debug)]
pub struct H2Body {
    body: Incoming,
    /// The longest wait for the next frame.
    patience: Duration,
    deadline: Instant,
    timer: Pin<Box<Sleep>>,
    failed: bool,
}

impl H2Body {
    fn new(body: Incoming, patience: Duration) -> Self {
        let deadline = Instant::now() + patience;
        Self {
            body,
            patience,
            deadline,
            timer: Box::pin(tokio::time::sleep_until(deadline)),
            failed: false,
        }
    }

    pub(crate) fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        if self.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.body).poll_frame(cx) {
            Poll::Ready(frame) => {
                self.deadline = Instant::now() + self.patience;
                Poll::Ready(frame.map(|r| r.map_err(io::Error::other)))
            }
            Poll::Pending if !expired(self.timer.as_mut(), self.deadline, cx) => Poll::Pending,
            Poll::Pending => {
                self.failed = true;
                let why = format!("no more of the answer body for {:?}", self.patience);
                Poll::Ready(Some(Err(io::Error::new(io::ErrorKind::TimedOut, why))))
            }
        }
    }

    pub(crate) fn is_end_stream(&self) -> bool {
        self.failed || self.body.is_end_stream()
    }

    pub(crate) fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A new HTTP/2 connection to `addr`; its driver runs as a task of this thread.
async fn connect(
    addr: SocketAddr,
    connect_timeout: Duration,
    deadline: Instant,
) -> Result<SendRequest<ReqBody>, SendError> {
    let tcp = tokio::time::timeout(connect_timeout, TcpStream::connect(addr));
    let stream = match tokio::time::timeout_at(deadline, tcp).await {
        Err(_) => return Err(SendError::Timeout),
        Ok(Err(_)) => {
            return Err(SendError::Connect(format!(
                "{addr}: timed out after {connect_timeout:?}"
            )))
        }
        Ok(Ok(Err(e))) => return Err(SendError::Connect(format!("{addr}: {e}"))),
        Ok(Ok(Ok(s))) => s,
    };
    let _ = stream.set_nodelay(true);
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .keep_alive_interval(KEEP_ALIVE)
        .keep_alive_while_idle(true);
    let handshake = builder.handshake(TokioIo::new(stream));
    let (sender, conn) = match tokio::time::timeout_at(deadline, handshake).await {
        Err(_) => return Err(SendError::Timeout),
        Ok(Err(e)) => {
            return Err(SendError::Connect(format!(
                "{addr}: HTTP/2 handshake failed: {e}"
            )))
        }
        Ok(Ok(pair)) => pair,
    };
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(%addr, error = %e, "HTTP/2 connection to an instance ended");
        }
    });
    Ok(sender)
}

/// The request for the instance: the client's fields that pass to an instance
/// (`Host` becomes the authority), `te: trailers` when the client accepts
/// trailers (gRPC servers require it), and Shoal's stamp.
fn request(addr: SocketAddr, c: &Call<'_>) -> Result<Request<ReqBody>, SendError> {
    let host = c.fields.known(Known::Host).and_then(|h| {
        let h = std::str::from_utf8(h).ok()?;
        h.parse::<http::uri::Authority>().ok()
    });
    let authority = match host {
        Some(a) => a,
        None => addr
            .to_string()
            .parse()
            .map_err(|e| SendError::Transport(format!("{addr}: {e}")))?,
    };
    let uri = Uri::builder()
        .scheme("http")
        .authority(authority)
        .path_and_query(c.path)
        .build()
        .map_err(|e| SendError::Transport(format!("request path {:?}: {e}", c.path)))?;
    let mut headers = HeaderMap::new();
    let mut pass = |name: &[u8], value: &[u8]| {
        let kind = Known::of(name);
        if !to_instance(kind) || kind == Known::Host {
            return;
        }
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name),
            HeaderValue::from_bytes(value),
        ) {
            headers.append(n, v);
        }
    };
    match c.fields {
        Fields::Raw(raw) => raw.fields().for_each(|(n, v)| pass(n, v)),
        Fields::Map(map) => map
            .iter()
            .for_each(|(n, v)| pass(n.as_str().as_bytes(), v.as_bytes())),
    }
    if c.trailers {
        headers.insert(http::header::TE, HeaderValue::from_static("trailers"));
    }
    if let Some(stamp) = &c.stamp {
        stamp.insert_into(&mut headers);
    }
    let body = match c.stream {
        None => ReqBody::Whole(Full::new(c.body.clone())),
        Some(s) => match s.take() {
            Some(b) => b,
            None => {
                return Err(SendError::Transport(
                    "the request body was streamed to an earlier attempt".into(),
                ))
            }
        },
    };
    let mut req = Request::new(body);
    *req.method_mut() = c.method.clone();
    *req.uri_mut() = uri;
    *req.version_mut() = http::Version::HTTP_2;
    *req.headers_mut() = headers;
    Ok(req)
}

/// Whether a `TE` value lists `trailers`.
pub(crate) fn accepts_trailers(te: &[u8]) -> bool {
    te.split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"trailers"))
}

#[cfg(test)]
mod tests {
    use super::accepts_trailers;

    #[test]
    fn te_lists_trailers() {
        assert!(accepts_trailers(b"trailers"));
        assert!(accepts_trailers(b"gzip, Trailers"));
        assert!(!accepts_trailers(b"gzip"));
        assert!(!accepts_trailers(b"trailersx"));
    }
}
