//! The StatsD listeners: UDP datagrams and newline-delimited TCP on the same port.
//!
//! TCP connections are capped ([`MAX_TCP_CONNECTIONS`], kept outside the other
//! listeners' budget, which leaves room for them); over the cap one is accepted
//! and closed at once. A connection that sends nothing for [`TCP_IDLE`] is closed.
//! Accept errors (EMFILE) back off from 5 ms to 1 s, logged once per run.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{watch, Semaphore};

use crate::line::MAX_LINE;
use crate::Metrics;

/// Most TCP StatsD connections served at once.
const MAX_TCP_CONNECTIONS: usize = 256;
/// A TCP connection that sends nothing for this long is closed (clients send
/// at every flush, typically every 10 s, and reconnect when needed).
const TCP_IDLE: Duration = Duration::from_secs(60);
/// The first pause after a failed accept; it doubles up to [`BACKOFF_MAX`].
const BACKOFF_FIRST: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Why the StatsD listeners could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen for StatsD on {addr} (udp and tcp): {source} (is another StatsD server or shoal using it?)")]
pub struct BindError {
    pub addr: SocketAddr,
    #[source]
    pub source: std::io::Error,
}

/// Bound StatsD sockets (UDP and TCP share the port).
pub struct StatsdListeners {
    udp: UdpSocket,
    tcp: TcpListener,
    addr: SocketAddr,
}

impl StatsdListeners {
    /// Binds UDP then TCP on the same port; with port 0, retries until both get one.
    pub async fn bind(addr: SocketAddr) -> Result<Self, BindError> {
        let err = |source| BindError { addr, source };
        let mut last = None;
        for _ in 0..20 {
            let udp = UdpSocket::bind(addr).await.map_err(err)?;
            let bound = udp.local_addr().map_err(err)?;
            match TcpListener::bind(bound).await {
                Ok(tcp) => {
                    return Ok(Self {
                        udp,
                        tcp,
                        addr: bound,
                    })
                }
                Err(e) if addr.port() == 0 => last = Some(e),
                Err(e) => return Err(err(e)),
            }
        }
        Err(err(
            last.unwrap_or_else(|| std::io::Error::other("no free port"))
        ))
    }

    /// The address both sockets are bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Serves StatsD until `stop` turns true.
pub async fn serve(listeners: StatsdListeners, metrics: Arc<Metrics>, stop: watch::Receiver<bool>) {
    let workers = metrics.config.udp_workers.max(1);
    let mut tasks = Vec::new();
    match blocking_socket(listeners.udp) {
        Ok(udp) => {
            for _ in 0..workers {
                let Ok(sock) = udp.try_clone() else { break };
                let (m, s) = (metrics.clone(), stop.clone());
                tasks.push(tokio::task::spawn_blocking(move || udp_worker(sock, m, s)));
            }
        }
        Err(e) => tracing::error!(error = %e, "statsd udp socket unusable; only tcp is served"),
    }
    tcp_accept(listeners.tcp, metrics, stop).await;
    for t in tasks {
        let _ = t.await;
    }
}

/// The UDP socket in blocking mode, waking up at least every 200 ms to check for shutdown.
fn blocking_socket(udp: UdpSocket) -> std::io::Result<std::net::UdpSocket> {
    let udp = udp.into_std()?;
    udp.set_nonblocking(false)?;
    udp.set_read_timeout(Some(std::time::Duration::from_millis(200)))?;
    Ok(udp)
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// Receives datagrams on a blocking thread: no runtime wake-ups on the hot path.
fn udp_worker(udp: std::net::UdpSocket, metrics: Arc<Metrics>, stop: watch::Receiver<bool>) {
    let shard = metrics.statsd.pick_shard();
    let mut buf = vec![0u8; 65536];
    while !*stop.borrow() {
        match udp.recv(&mut buf) {
            Ok(n) => metrics.statsd.ingest(shard, &buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => tracing::debug!(error = %e, "statsd udp receive failed"),
        }
    }
}

/// The pause after each failed accept of a run (5 ms doubling up to 1 s), and
/// whether it starts the run (the one error logged); a success ends the run.
#[derive(Debug, Default)]
struct Backoff {
    next: Option<Duration>,
}

impl Backoff {
    fn failed(&mut self) -> (Duration, bool) {
        let pause = self.next.unwrap_or(BACKOFF_FIRST);
        let first = self.next.is_none();
        self.next = Some((pause * 2).min(BACKOFF_MAX));
        (pause, first)
    }

    /// Whether a run of errors just ended.
    fn succeeded(&mut self) -> bool {
        self.next.take().is_some()
    }
}

async fn tcp_accept(tcp: TcpListener, metrics: Arc<Metrics>, mut stop: watch::Receiver<bool>) {
    let permits = Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS));
    let mut backoff = Backoff::default();
    let mut refusing = false;
    loop {
        let (stream, peer) = tokio::select! {
            r = tcp.accept() => match r {
                Ok(c) => {
                    if backoff.succeeded() {
                        tracing::info!("statsd tcp accepting connections again");
                    }
                    c
                }
                Err(e) => {
                    let (pause, first) = backoff.failed();
                    if first {
                        tracing::warn!(error = %e, "statsd tcp accept failed; retrying with backoff (5 ms doubling to 1 s)");
                    }
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        () = stopped(&mut stop) => return,
                    }
                    continue;
                }
            },
            () = stopped(&mut stop) => return,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            if !std::mem::replace(&mut refusing, true) {
                tracing::warn!(%peer, max = MAX_TCP_CONNECTIONS, "statsd tcp connections refused: too many open (each is closed at once)");
            }
            continue;
        };
        if std::mem::replace(&mut refusing, false) {
            tracing::info!("statsd tcp accepting connections again");
        }
        let (m, s) = (metrics.clone(), stop.clone());
        tokio::spawn(async move {
            tcp_conn(stream, m, s).await;
            drop(permit);
        });
    }
}

/// Reads newline-delimited lines; a line longer than [`MAX_LINE`] is counted bad
/// and skipped. Ends when the client closes, sends nothing for [`TCP_IDLE`], or at stop.
async fn tcp_conn(mut stream: TcpStream, metrics: Arc<Metrics>, mut stop: watch::Receiver<bool>) {
    let shard = metrics.statsd.pick_shard();
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut skipping = false;
    loop {
        let n = tokio::select! {
            r = tokio::time::timeout(TCP_IDLE, stream.read(&mut chunk)) => match r {
                Ok(Ok(0) | Err(_)) | Err(_) => break,
                Ok(Ok(n)) => n,
            },
            () = stopped(&mut stop) => return,
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.iter().rposition(|b| *b == b'\n') {
            if skipping {
                // The rest of an overlong line ends at the first newline.
                let first = buf.iter().position(|b| *b == b'\n').unwrap_or(end);
                buf.drain(..=first);
                skipping = false;
                if let Some(end) = buf.iter().rposition(|b| *b == b'\n') {
                    metrics.statsd.ingest(shard, &buf[..end]);
                    buf.drain(..=end);
                }
            } else {
                metrics.statsd.ingest(shard, &buf[..end]);
                buf.drain(..=end);
            }
        }
        if buf.len() > MAX_LINE {
            metrics.statsd.count_bad_line(shard);
            buf.clear();
            skipping = true;
        }
    }
    if !skipping && !buf.is_empty() {
        metrics.statsd.ingest(shard, &buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_errors_back_off_from_5_ms_to_1_s_and_log_once_per_run() {
        let mut b = Backoff::default();
        let run: Vec<(u64, bool)> = (0..10)
            .map(|_| b.failed())
            .map(|(d, first)| (d.as_millis() as u64, first))
            .collect();
        assert_eq!(
            run.iter().map(|r| r.0).collect::<Vec<_>>(),
            [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]
        );
        assert_eq!(run.iter().filter(|r| r.1).count(), 1, "logged once");
        assert!(b.succeeded(), "the run ends");
        assert!(!b.succeeded());
        assert_eq!(b.failed(), (BACKOFF_FIRST, true), "a new run starts over");
    }
}
