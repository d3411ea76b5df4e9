//! HTTP/2 without TLS (h2c, prior knowledge) to the instances of a service that
//! says `protocol = "h2c"` (gRPC servers): one multiplexed connection per
//! instance per pool, made on first use and again once it has closed or
//! failed. The answer's body streams through with its trailers (`grpc-status`,
//! ...). A request the instance did not take (the connection going away, a
//! refused stream) goes again at once on a new connection, whatever its method.

mod bodies;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use foldhash::HashMap;
use http::{HeaderMap, HeaderValue, Request, Uri};
use http_body_util::Full;
use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::time::Instant;

pub use bodies::H2Body;
use bodies::ReqBody;
pub(crate) use bodies::RequestStream;

use crate::body::Body;
use crate::fields::Fields;
use crate::forward::Call;
use crate::headers::{to_instance, Known};
use crate::message::Answer;
use crate::pool::{dial, SendError};

/// Pings an idle HTTP/2 connection this often; one that does not answer is closed.
const KEEP_ALIVE: Duration = Duration::from_secs(20);

/// The open HTTP/2 connection to each instance, with an id so that a failed
/// one is forgotten only if it is still the one kept.
#[derive(Debug, Default)]
pub(crate) struct H2Conns {
    conns: Mutex<HashMap<SocketAddr, (u64, SendRequest<ReqBody>)>>,
    next_id: AtomicU64,
}

/// Why one try on a connection got no answer.
enum Tried {
    /// The instance did not take the request (it can go again as it is).
    NotTaken(String),
    Failed(SendError),
}

impl H2Conns {
    /// The open connection to `addr`, if there is one.
    fn open(&self, addr: SocketAddr) -> Option<(u64, SendRequest<ReqBody>)> {
        let mut conns = self.conns.lock().ok()?;
        match conns.get(&addr) {
            Some((id, s)) if !s.is_closed() => Some((*id, s.clone())),
            Some(_) => {
                conns.remove(&addr);
                None
            }
            None => None,
        }
    }

    /// Keeps a new connection to `addr` (and drops any kept one that has
    /// closed, e.g. to an instance that is gone, so the map does not grow).
    fn keep(&self, addr: SocketAddr, sender: &SendRequest<ReqBody>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut conns) = self.conns.lock() {
            conns.retain(|_, (_, s)| !s.is_closed());
            conns.insert(addr, (id, sender.clone()));
        }
        id
    }

    /// Drops the kept connection to `addr` if it is still connection `id`.
    fn forget(&self, addr: SocketAddr, id: u64) {
        if let Ok(mut conns) = self.conns.lock() {
            if conns.get(&addr).is_some_and(|(kept, _)| *kept == id) {
                conns.remove(&addr);
            }
        }
    }

    /// Sends `c` to `addr` over HTTP/2; answers with the head by `deadline`
    /// (the body streams after it). A request the instance did not take goes
    /// once more, on a new connection.
    pub(crate) async fn send(
        &self,
        addr: SocketAddr,
        c: &Call<'_>,
        connect_timeout: Duration,
        deadline: Instant,
    ) -> Result<Answer, SendError> {
        let mut fresh = false;
        loop {
            let (id, sender) = match self.open(addr).filter(|_| !fresh) {
                Some(kept) => kept,
                None => {
                    let s = connect(addr, connect_timeout, deadline).await?;
                    fresh = true;
                    (self.keep(addr, &s), s)
                }
            };
            match self.try_once(addr, id, sender, c, deadline).await {
                Ok(answer) => return Ok(answer),
                Err(Tried::Failed(e)) => return Err(e),
                // Even a new connection did not take it: the instance is not
                // accepting requests, which is what a failed connect means
                // (another instance may be tried, whatever the method).
                Err(Tried::NotTaken(e)) if fresh => {
                    return Err(SendError::Connect(format!(
                        "{addr}: request not taken: {e}"
                    )))
                }
                Err(Tried::NotTaken(e)) => {
                    tracing::debug!(%addr, error = %e, "request not taken by an HTTP/2 connection; again on a new one");
                    fresh = true;
                }
            }
        }
    }

    /// One request on connection `id`.
    async fn try_once(
        &self,
        addr: SocketAddr,
        id: u64,
        mut sender: SendRequest<ReqBody>,
        c: &Call<'_>,
        deadline: Instant,
    ) -> Result<Answer, Tried> {
        let ready = tokio::time::timeout_at(deadline, sender.ready());
        match ready.await {
            Err(_) => return Err(Tried::Failed(SendError::Timeout)),
            // The connection went away before the request left.
            Ok(Err(e)) => {
                self.forget(addr, id);
                return Err(Tried::NotTaken(describe(&e)));
            }
            Ok(Ok(())) => {}
        }
        let req = request(addr, c).map_err(Tried::Failed)?;
        let answer = tokio::time::timeout_at(deadline, sender.try_send_request(req));
        let mut e = match answer.await {
            Err(_) => return Err(Tried::Failed(SendError::Timeout)),
            Ok(Ok(resp)) => {
                let (parts, body) = resp.into_parts();
                return Ok(Answer::new(
                    parts.status,
                    Fields::map(parts.headers),
                    Body::H2(Box::new(H2Body::new(body, c.timeout))),
                ));
            }
            Ok(Err(e)) => e,
        };
        let returned = e.take_message().is_some();
        let why = e.into_error();
        // A reset of this one stream leaves the connection to others; anything
        // else (it was not ready, went away, failed) ends its use.
        if returned || !stream_only(&why) {
            self.forget(addr, id);
        }
        let body_lost = c.stream.is_some_and(|s| !s.replayable());
        if c.stream.is_some_and(RequestStream::passed_limit) {
            let why = format!("the streamed body passed the limit ({})", describe(&why));
            return Err(Tried::Failed(SendError::TooLarge(why)));
        }
        if (returned || not_processed(&why)) && !body_lost {
            return Err(Tried::NotTaken(describe(&why)));
        }
        Err(Tried::Failed(SendError::Transport(describe(&why))))
    }
}

/// `e` with its causes (hyper's own text is only "http2 error").
fn describe(e: &hyper::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Whether `e` is a reset of one stream (the connection carries on).
fn stream_only(e: &hyper::Error) -> bool {
    h2_cause(e).is_some_and(h2::Error::is_reset)
}

/// The HTTP/2 error behind `e`, if it is one.
fn h2_cause(e: &hyper::Error) -> Option<&h2::Error> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(h2) = c.downcast_ref::<h2::Error>() {
            return Some(h2);
        }
        cause = c.source();
    }
    None
}

/// Whether the instance said it did not process the stream: refused it, or
/// went away with the stream past the last one it takes (RFC 9113 §8.7).
fn not_processed(e: &hyper::Error) -> bool {
    h2_cause(e).is_some_and(|h2| {
        h2.is_remote() && (h2.is_go_away() || h2.reason() == Some(h2::Reason::REFUSED_STREAM))
    })
}

/// A new HTTP/2 connection to `addr`; its driver runs as a task of this thread.
async fn connect(
    addr: SocketAddr,
    connect_timeout: Duration,
    deadline: Instant,
) -> Result<SendRequest<ReqBody>, SendError> {
    let stream = dial(addr, connect_timeout, deadline).await?;
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
    c.fields.merge_into(&mut headers, |k| {
        let kept = c.stamp.as_ref().map_or(to_instance(k), |s| s.keeps(k));
        kept && k != Known::Host
    });
    if c.trailers {
        headers.insert(http::header::TE, HeaderValue::from_static("trailers"));
    }
    if let Some(stamp) = &c.stamp {
        stamp.insert_into(&mut headers);
    }
    let body = match c.stream {
        None => ReqBody::Whole(Full::new(c.body.clone())),
        Some(s) => s.handle().ok_or_else(|| {
            SendError::Transport("the request body was streamed to an earlier attempt".into())
        })?,
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
