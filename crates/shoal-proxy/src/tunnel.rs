//! A switched-protocol connection (WebSocket or any other `Upgrade`): after the
//! instance's `101 Switching Protocols`, bytes are copied both ways between the
//! client and the instance until either side closes, neither sends anything for
//! the idle timeout, or the proxy stops.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::Instant;

use crate::body::Upgraded;

/// Joins `client` (which sent `early` after its request head) to the instance's
/// connection `up` until one side closes, `idle` passes without a byte either
/// way, or `stopping` resolves.
pub(crate) async fn join<C: AsyncRead + AsyncWrite + Unpin>(
    client: &mut C,
    early: &[u8],
    up: Upgraded,
    idle: Duration,
    stopping: Pin<&mut (dyn Future<Output = ()> + Send)>,
) {
    // The request's in-flight place and instance load are given back when the tunnel ends.
    let Upgraded {
        stream: mut upstream,
        read,
        admitted: _admitted,
        load: _load,
    } = up;
    // What either side sent before the switch goes first.
    if !early.is_empty()
        && (upstream.write_all(early).await.is_err() || upstream.flush().await.is_err())
    {
        return;
    }
    if !read.is_empty() && (client.write_all(&read).await.is_err() || client.flush().await.is_err())
    {
        return;
    }
    let start = Instant::now();
    let last = AtomicU64::new(0);
    let mut a = Watched {
        inner: client,
        start,
        last: &last,
    };
    let mut b = Watched {
        inner: &mut upstream,
        start,
        last: &last,
    };
    let copy = tokio::io::copy_bidirectional(&mut a, &mut b);
    tokio::pin!(copy);
    let check = tokio::time::sleep(idle);
    tokio::pin!(check);
    let mut stopping = stopping;
    loop {
        tokio::select! {
            done = &mut copy => {
                if let Err(e) = done {
                    tracing::debug!(error = %e, "switched-protocol connection ended with an error");
                }
                return;
            }
            () = check.as_mut() => {
                let due = start + Duration::from_millis(last.load(Ordering::Relaxed)) + idle;
                if Instant::now() >= due {
                    tracing::debug!(?idle, "switched-protocol connection idle: closed");
                    return;
                }
                check.as_mut().reset(due);
            }
            () = stopping.as_mut() => return,
        }
    }
}

/// A stream that notes when it last moved bytes (milliseconds since `start`).
struct Watched<'a, S> {
    inner: &'a mut S,
    start: Instant,
    last: &'a AtomicU64,
}

impl<S> Watched<'_, S> {
    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<'_, S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut *self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<'_, S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut *self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;
    use tokio::net::TcpStream;

    /// Two ends of a loopback TCP connection.
    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let (a, b) = tokio::join!(TcpStream::connect(addr), l.accept());
        (a.expect("connect"), b.expect("accept").0)
    }

    async fn read_exactly(s: &mut TcpStream, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        s.read_exact(&mut buf).await.expect("read");
        buf
    }

    #[tokio::test]
    async fn bytes_flow_both_ways_until_the_connection_idles() {
        let (mut client, mut client_end) = pair().await;
        let (upstream_end, mut instance) = pair().await;
        let up = Upgraded {
            stream: crate::upstream::Upstream::Tcp(upstream_end),
            read: Bytes::from_static(b"first"),
            admitted: None,
            load: None,
        };
        let idle = Duration::from_millis(200);
        let joined = tokio::spawn(async move {
            let mut never: Pin<Box<dyn Future<Output = ()> + Send>> =
                Box::pin(std::future::pending());
            join(&mut client_end, b"early", up, idle, never.as_mut()).await;
        });
        assert_eq!(read_exactly(&mut instance, 5).await, b"early");
        assert_eq!(read_exactly(&mut client, 5).await, b"first");
        for _ in 0..3 {
            client.write_all(b"ping").await.expect("write");
            assert_eq!(read_exactly(&mut instance, 4).await, b"ping");
            instance.write_all(b"pong").await.expect("write");
            assert_eq!(read_exactly(&mut client, 4).await, b"pong");
            tokio::time::sleep(idle / 2).await;
        }
        // Traffic kept it open past the idle time; silence closes it.
        let ended = tokio::time::timeout(Duration::from_secs(5), joined).await;
        assert!(ended.is_ok(), "an idle joined connection stayed open");
        let mut rest = Vec::new();
        let _ = client.read_to_end(&mut rest).await;
        assert!(rest.is_empty());
    }
}
