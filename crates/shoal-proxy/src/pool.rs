//! The upstream connection pool: HTTP/1.1 connections to instances (spoken by
//! `client.rs`), idle ones kept per instance address and reused last in, first out;
//! for h2c services, one HTTP/2 connection per instance (`client_h2.rs`).
//!
//! [`Pool::send`] takes an idle connection (or makes one) and runs one exchange on
//! it; the connection comes back when the answer was read (at once for small
//! answers, at the end of a streamed body). A request that a reused connection
//! could not carry (the instance had closed it) goes on another one. Idle
//! connections older than [`IDLE_TIMEOUT`] are closed.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use foldhash::HashMap;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::client::{self, Conn, Exchange};
use crate::client_h2::H2Conns;
use crate::forward::Call;
use crate::message::Answer;
use crate::upstream::{Upstream, UpstreamTls};

/// How long a connection may stay idle in the pool.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

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
    /// No answer head (and small body) by the deadline.
    Timeout,
    /// The client's streamed request body passed the body limit (the instance
    /// is not at fault).
    TooLarge(String),
}

/// Pooled HTTP/1.1 connections to every instance.
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
    /// Instances spoken to over HTTP/2 (`protocol = "h2c"`).
    h2: H2Conns,
}

#[derive(Debug)]
struct Idle {
    conn: Conn,
    since: Instant,
}

impl Pool {
    /// A pool keeping at most `max_idle` idle connections per instance.
    pub fn new(connect_timeout: Duration, max_idle: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                connect_timeout,
                max_idle,
                idle: Mutex::new(HashMap::default()),
                reaper: AtomicBool::new(false),
                h2: H2Conns::default(),
            }),
        }
    }

    /// Sends `c` to `addr` on an idle connection or a new one; answers with the
    /// head read (and a small body) by `deadline`.
    /// `now` is when the attempt started (it dates the connection's last use).
    pub(crate) async fn send(
        &self,
        addr: SocketAddr,
        c: &Call<'_>,
        now: Instant,
        deadline: Instant,
    ) -> Result<Answer, SendError> {
        if c.h2c {
            let t = self.inner.connect_timeout;
            // Boxed: its state would otherwise enlarge every HTTP/1.1 request's future.
            return Box::pin(self.inner.h2.send(addr, c, t, deadline)).await;
        }
        loop {
            let (conn, reused) = match self.inner.take(addr, now) {
                Some(conn) => (conn, true),
                None => (self.connect(addr, c.tls, deadline).await?, false),
            };
            match client::exchange(conn, c, self, now, deadline).await {
                Ok(resp) => return Ok(resp),
                Err(Exchange::TimedOut) => return Err(SendError::Timeout),
                // Never written whole on a reused connection: try another.
                Err(Exchange::NotSent(_)) if reused => continue,
                Err(Exchange::NoAnswer(e)) if reused => return Err(SendError::Stale(e)),
                Err(Exchange::NotSent(e) | Exchange::NoAnswer(e) | Exchange::Failed(e)) => {
                    return Err(SendError::Transport(e))
                }
            }
        }
    }

    /// A new connection to `addr`: TCP, then the TLS handshake for a service with `tls`
    /// (by `deadline`; a failed handshake is a failed connect: nothing was sent).
    async fn connect(
        &self,
        addr: SocketAddr,
        tls: Option<&UpstreamTls>,
        deadline: Instant,
    ) -> Result<Conn, SendError> {
        let tcp = dial(addr, self.inner.connect_timeout, deadline).await?;
        let stream = match tls {
            None => Upstream::Tcp(tcp),
            Some(t) => match tokio::time::timeout_at(deadline, t.connect(tcp)).await {
                Err(_) => return Err(SendError::Timeout),
                Ok(Err(e)) => return Err(SendError::Connect(format!("{addr}: {e}"))),
                Ok(Ok(s)) => s,
            },
        };
        self.inner.start_reaper();
        Ok(Conn::new(stream, addr, deadline))
    }

    /// Puts a connection whose last answer was read whole back as the most
    /// recently used (idle since it last carried a request).
    pub(crate) fn put(&self, conn: Conn) {
        let Ok(mut idle) = self.inner.idle.lock() else {
            return;
        };
        let list = idle.entry(conn.addr).or_default();
        if list.len() >= self.inner.max_idle {
            list.remove(0);
        }
        list.push(Idle {
            since: conn.used,
            conn,
        });
    }
}

/// A TCP connection to `addr` (`TCP_NODELAY`), within `connect_timeout` and
/// by `deadline` (the attempt's: past it, a timeout rather than a connect failure).
pub(crate) async fn dial(
    addr: SocketAddr,
    connect_timeout: Duration,
    deadline: Instant,
) -> Result<TcpStream, SendError> {
    let t = connect_timeout;
    let connect =
        tokio::time::timeout_at(deadline, tokio::time::timeout(t, TcpStream::connect(addr)));
    let stream = match connect.await {
        Err(_) => return Err(SendError::Timeout),
        Ok(Ok(Ok(s))) => s,
        Ok(Ok(Err(e))) => return Err(SendError::Connect(format!("{addr}: {e}"))),
        Ok(Err(_)) => return Err(SendError::Connect(format!("{addr}: timed out after {t:?}"))),
    };
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

impl Inner {
    /// The most recently used idle connection to `addr` that is still open at `now`.
    fn take(&self, addr: SocketAddr, now: Instant) -> Option<Conn> {
        let mut idle = self.idle.lock().ok()?;
        let list = idle.get_mut(&addr)?;
        while let Some(mut c) = list.pop() {
            if now.saturating_duration_since(c.since) < IDLE_TIMEOUT && c.conn.is_open() {
                return Some(c.conn);
            }
        }
        None
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
                list.retain_mut(|c| c.since.elapsed() < IDLE_TIMEOUT && c.conn.is_open());
            }
            idle.retain(|_, list| !list.is_empty());
        }
    }
}

#[cfg(test)]
mod tests;
