//! The upstream connection pool: HTTP/1.1 connections to instances on hyper's
//! `client::conn::http1`, idle ones kept per instance address and reused last in, first out.
//!
//! A request leases a connection ([`Pool::send`]) and gives it back with
//! [`Lease::release`] once it has read the answer's body; a lease dropped earlier
//! (a streamed body) returns the connection from a small task when it is ready again.
//! A request that a reused connection never sent (the instance closed it while idle)
//! is sent again on another one. Idle connections older than [`IDLE_TIMEOUT`] are closed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// How long a connection may stay idle in the pool.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

type Sender = SendRequest<Full<Bytes>>;

/// Why a request got no answer head from the instance.
#[derive(Debug)]
pub enum SendError {
    /// No connection could be made (nothing was sent).
    Connect(String),
    /// The connection failed while the request was sent or answered.
    Transport(String),
    /// A reused idle connection was closed by the instance with no answer: the
    /// race of an instance closing an idle connection as a request is written.
    /// Safe to send again when the request is idempotent.
    Stale(String),
}

/// Whether `e` says the connection closed before any answer came (not a
/// failure in the middle of an answer).
fn closed_before_answer(e: &hyper::Error) -> bool {
    if e.is_incomplete_message() || e.is_canceled() {
        return true;
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionAborted
            );
        }
        source = s.source();
    }
    false
}

/// Pooled HTTP/1.1 connections to every instance, shared by all requests.
#[derive(Debug, Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    connect_timeout: Duration,
    max_idle: usize,
    idle: Mutex<HashMap<SocketAddr, Vec<Idle>>>,
    reaper: AtomicBool,
}

#[derive(Debug)]
struct Idle {
    tx: Sender,
    since: Instant,
}

/// One connection lent to one request.
#[derive(Debug)]
pub struct Lease {
    conn: Option<(SocketAddr, Sender)>,
    pool: Arc<Inner>,
}

impl Pool {
    /// A pool keeping at most `max_idle` idle connections per instance.
    pub fn new(connect_timeout: Duration, max_idle: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                connect_timeout,
                max_idle,
                idle: Mutex::new(HashMap::new()),
                reaper: AtomicBool::new(false),
            }),
        }
    }

    /// Sends `req` (origin-form URI, `Host` set) to `addr` on an idle connection or a new one.
    pub async fn send(
        &self,
        addr: SocketAddr,
        mut req: Request<Full<Bytes>>,
    ) -> Result<(Response<Incoming>, Lease), SendError> {
        loop {
            let (mut tx, reused) = match self.inner.take(addr) {
                Some(tx) => (tx, true),
                None => (self.inner.connect(addr).await?, false),
            };
            if let Err(e) = tx.ready().await {
                if reused {
                    continue;
                }
                return Err(SendError::Connect(format!("{addr}: {e}")));
            }
            match tx.try_send_request(req).await {
                Ok(resp) => {
                    let lease = Lease {
                        conn: Some((addr, tx)),
                        pool: self.inner.clone(),
                    };
                    return Ok((resp, lease));
                }
                Err(mut e) => match e.take_message() {
                    // Never written: the reused connection was closed under us; try another.
                    Some(back) if reused => req = back,
                    _ => {
                        let err = e.into_error();
                        if reused && closed_before_answer(&err) {
                            return Err(SendError::Stale(format!("{err:?}")));
                        }
                        return Err(SendError::Transport(format!("{err:?}")));
                    }
                },
            }
        }
    }
}

impl Inner {
    /// The most recently used idle connection to `addr` that is still open.
    fn take(&self, addr: SocketAddr) -> Option<Sender> {
        let mut idle = self.idle.lock().ok()?;
        let list = idle.get_mut(&addr)?;
        while let Some(c) = list.pop() {
            if !c.tx.is_closed() && c.since.elapsed() < IDLE_TIMEOUT {
                return Some(c.tx);
            }
        }
        None
    }

    async fn connect(self: &Arc<Self>, addr: SocketAddr) -> Result<Sender, SendError> {
        let connect = tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr));
        let stream = match connect.await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(SendError::Connect(format!("{addr}: {e}"))),
            Err(_) => {
                let t = self.connect_timeout;
                return Err(SendError::Connect(format!("{addr}: timed out after {t:?}")));
            }
        };
        let _ = stream.set_nodelay(true);
        let stream = crate::quickack::QuickAck(stream);
        let (tx, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| SendError::Connect(format!("{addr}: {e}")))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream connection ended with error");
            }
        });
        self.start_reaper();
        Ok(tx)
    }

    /// Puts an open connection back as the most recently used one.
    fn put(&self, addr: SocketAddr, tx: Sender) {
        if tx.is_closed() {
            return;
        }
        let Ok(mut idle) = self.idle.lock() else {
            return;
        };
        let list = idle.entry(addr).or_default();
        if list.len() >= self.max_idle {
            list.remove(0);
        }
        list.push(Idle {
            tx,
            since: Instant::now(),
        });
    }

    /// Closes idle connections past [`IDLE_TIMEOUT`] (or closed), every [`IDLE_TIMEOUT`].
    fn start_reaper(self: &Arc<Self>) {
        if self.reaper.swap(true, Ordering::Relaxed) {
            return;
        }
        let weak: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(IDLE_TIMEOUT).await;
                let Some(me) = weak.upgrade() else { return };
                me.reap();
            }
        });
    }

    fn reap(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            for list in idle.values_mut() {
                list.retain(|c| !c.tx.is_closed() && c.since.elapsed() < IDLE_TIMEOUT);
            }
            idle.retain(|_, list| !list.is_empty());
        }
    }
}

impl Lease {
    /// The answer's body was read to its end: the connection is idle again.
    pub fn release(mut self) {
        if let Some((addr, tx)) = self.conn.take() {
            self.pool.put(addr, tx);
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some((addr, mut tx)) = self.conn.take() else {
            return;
        };
        if tx.is_closed() {
            return;
        }
        if tx.is_ready() {
            return self.pool.put(addr, tx);
        }
        // The body is still being read (or drained): return the connection once it is done.
        let pool = self.pool.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if tx.ready().await.is_ok() {
                    pool.put(addr, tx);
                }
            });
        }
    }
}

#[cfg(test)]
mod tests;
