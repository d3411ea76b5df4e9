//! HTTP/2 on a listener (h2c with prior knowledge): the connection, with the bytes
//! the HTTP/1.1 loop already read put back in front, goes to hyper's HTTP/2 server.
//! Its activity (streams in flight, writes waiting) is watched beside it
//! (`shoal-listen`): idle for the idle timeout, or a client that takes nothing
//! for the body timeout, closes it; so does a reclaim while idle.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use shoal_listen::{Activity, Admission, Guarded, Timeouts, Watched, Why};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;

use crate::body::ReqBody;
use crate::conn_io::ClientIo;
use crate::fields::Fields;
use crate::message::ClientRequest;
use crate::pool::Pool;
use crate::server::Proxy;

/// What a client speaking HTTP/2 with prior knowledge sends first.
pub(crate) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// After a timeout or a reclaim, how long the connection may take to finish (GOAWAY, flush).
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Serves one HTTP/2 connection until it ends, a deadline or a reclaim ends it,
/// or the proxy shuts down (then gracefully).
pub(crate) async fn serve<S: ClientIo>(
    proxy: Arc<Proxy>,
    stream: S,
    read: Bytes,
    caller: Arc<str>,
    pool: Pool,
    mut stop: watch::Receiver<bool>,
    admission: Admission,
) {
    let timeouts = Timeouts {
        head: proxy.config.head_timeout,
        body: proxy.config.body_timeout,
        idle: proxy.config.idle_timeout,
    };
    let activity = Activity::new(admission.slot().clone(), timeouts);
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(proxy.config.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(Some(proxy.config.idle_timeout))
        .max_concurrent_streams(256);
    let streams = activity.clone();
    let svc = service_fn(move |req: Request<Incoming>| {
        let (proxy, who, pool) = (proxy.clone(), caller.clone(), pool.clone());
        let in_flight = streams.begin();
        async move {
            let (parts, body) = req.into_parts();
            let req = ClientRequest {
                method: parts.method,
                uri: parts.uri,
                fields: Fields::map(parts.headers),
                body: ReqBody::Incoming(body),
                upgrade: false,
            };
            // An instance's fields kept raw go into the map HTTP/2 needs.
            let answer = proxy.handle(&pool, &who, req).await;
            Ok::<_, Infallible>(
                answer
                    .into_response()
                    .map(|body| Guarded::new(body, in_flight)),
            )
        }
    });
    let io = Rewind {
        read,
        inner: stream,
    };
    let io = Watched::new(io, activity.clone());
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "HTTP/2 connection ended with error");
            }
        }
        why = shoal_listen::watch(&activity) => {
            tracing::debug!(?why, "HTTP/2 connection closed");
            if why != Why::Stalled {
                conn.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(CLOSE_GRACE, conn.as_mut()).await;
            }
        }
        () = async { drop(stop.wait_for(|s| *s).await) } => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
    drop(admission);
}

/// A stream that first yields bytes already read from it.
struct Rewind<S> {
    read: Bytes,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.read.is_empty() {
            let n = self.read.len().min(buf.remaining());
            buf.put_slice(&self.read[..n]);
            self.read.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
