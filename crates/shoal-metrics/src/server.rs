//! The StatsD listeners: UDP datagrams and newline-delimited TCP on the same port.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{watch, Semaphore};

use crate::line::MAX_LINE;
use crate::Metrics;

/// Most TCP StatsD connections served at once.
const MAX_TCP_CONNECTIONS: usize = 256;

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

async fn tcp_accept(tcp: TcpListener, metrics: Arc<Metrics>, mut stop: watch::Receiver<bool>) {
    let permits = Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS));
    loop {
        let (stream, peer) = tokio::select! {
            r = tcp.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(error = %e, "statsd tcp accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => return,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "statsd tcp connection refused: too many connections");
            continue;
        };
        let (m, s) = (metrics.clone(), stop.clone());
        tokio::spawn(async move {
            tcp_conn(stream, m, s).await;
            drop(permit);
        });
    }
}

/// Reads newline-delimited lines; a line longer than [`MAX_LINE`] is counted bad and skipped.
async fn tcp_conn(mut stream: TcpStream, metrics: Arc<Metrics>, mut stop: watch::Receiver<bool>) {
    let shard = metrics.statsd.pick_shard();
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut skipping = false;
    loop {
        let n = tokio::select! {
            r = stream.read(&mut chunk) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
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
