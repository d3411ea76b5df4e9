//! The UDP and TCP loops around [`crate::answer`]: bind both on one port, serve until shutdown.
//!
//! TCP connections count against the process's connection budget (`shoal-listen`)
//! under their own cap; over either they are accepted and closed at once. While
//! a connection waits for its next query it is idle, and the budget may reclaim it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use shoal_listen::{Admission, Budget, Share};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinSet;
use tokio::time::{timeout, Instant};

use crate::answer::{answer, Transport};
use crate::config::ServerOptions;
use crate::error::DnsError;
use crate::table::DnsTable;

/// Largest datagram we read; longer ones are cut and then fail to parse (FORMERR).
const UDP_RECV_BUFFER: usize = 65_535;
/// Pause after a socket error so a persistent error cannot spin a core.
const ERROR_PAUSE: Duration = Duration::from_millis(10);

/// Binds UDP on `addr`, then TCP on the port UDP got (so port 0 yields one port for both).
/// With port 0 a TCP clash on the chosen port is retried on another port.
pub async fn bind(addr: SocketAddr) -> Result<(UdpSocket, TcpListener), DnsError> {
    let mut attempts = if addr.port() == 0 { 20 } else { 1 };
    loop {
        attempts -= 1;
        let udp = UdpSocket::bind(addr)
            .await
            .map_err(|source| DnsError::Bind {
                proto: "UDP",
                addr,
                source,
            })?;
        let local = udp.local_addr().map_err(|source| DnsError::Bind {
            proto: "UDP",
            addr,
            source,
        })?;
        match TcpListener::bind(local).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(_) if attempts > 0 => continue,
            Err(source) => {
                return Err(DnsError::Bind {
                    proto: "TCP",
                    addr: local,
                    source,
                })
            }
        }
    }
}

/// Serves DNS on both sockets with [`ServerOptions::default`] until `shutdown` completes.
pub async fn serve(
    udp: UdpSocket,
    tcp: TcpListener,
    table: Arc<ArcSwap<DnsTable>>,
    shutdown: impl Future<Output = ()>,
) {
    serve_with(ServerOptions::default(), udp, tcp, table, shutdown).await;
}

/// Serves DNS on both sockets until `shutdown` completes; then every task is stopped.
pub async fn serve_with(
    opts: ServerOptions,
    udp: UdpSocket,
    tcp: TcpListener,
    table: Arc<ArcSwap<DnsTable>>,
    shutdown: impl Future<Output = ()>,
) {
    let udp = Arc::new(udp);
    let workers = match opts.udp_workers {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    tracing::info!(
        udp = ?udp.local_addr().ok(),
        tcp = ?tcp.local_addr().ok(),
        workers,
        "dns serving"
    );
    let mut tasks = JoinSet::new();
    for _ in 0..workers {
        tasks.spawn(udp_worker(udp.clone(), table.clone(), opts.max_udp_payload));
    }
    tasks.spawn(tcp_accept(tcp, table, opts));
    shutdown.await;
    tasks.shutdown().await;
}

async fn udp_worker(sock: Arc<UdpSocket>, table: Arc<ArcSwap<DnsTable>>, max_payload: u16) {
    let mut buf = vec![0u8; UDP_RECV_BUFFER];
    let transport = Transport::Udp { max_payload };
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "dns udp receive failed");
                tokio::time::sleep(ERROR_PAUSE).await;
                continue;
            }
        };
        let Some(resp) = answer(&table.load(), &buf[..n], transport) else {
            continue;
        };
        if let Err(e) = sock.send_to(&resp, peer).await {
            tracing::debug!(error = %e, %peer, "dns udp send failed");
        }
    }
}

async fn tcp_accept(listener: TcpListener, table: Arc<ArcSwap<DnsTable>>, opts: ServerOptions) {
    let share = Share::new(Budget::process(), "dns", opts.max_tcp_connections, 1);
    let mut backoff = shoal_listen::AcceptBackoff::default();
    // Dropped with this task at shutdown, which aborts every connection.
    let mut conns = JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        // Errors (EMFILE) back off, logged once per run.
        let (stream, _peer) = shoal_listen::accept(&listener, &mut backoff, "dns").await;
        // Over the cap or the budget: closed at once (counted, logged once per run).
        let admission = match share.admit() {
            Ok(a) => a,
            Err(_) => {
                shoal_listen::refuse(stream);
                continue;
            }
        };
        let table = table.clone();
        let idle = opts.tcp_idle_timeout;
        conns.spawn(async move {
            tcp_conn(stream, &table, idle, admission).await;
        });
    }
}

/// Answers length-prefixed queries in order until the peer closes, stalls for `idle`
/// (waiting for a query, or in the middle of one or of an answer), sends something
/// that is not a query, or the budget reclaims it while it waits. Memory is bounded
/// by one 64 KiB message each way.
async fn tcp_conn(
    mut stream: TcpStream,
    table: &ArcSwap<DnsTable>,
    idle: Duration,
    admission: Admission,
) {
    let _ = stream.set_nodelay(true);
    let slot = admission.slot().clone();
    let mut query = Vec::new();
    loop {
        admission.idle_until(Instant::now() + idle);
        let mut len = [0u8; 2];
        let read = tokio::select! {
            read = timeout(idle, stream.read_exact(&mut len)) => read,
            () = slot.reclaimed() => return,
        };
        if !matches!(read, Ok(Ok(_))) {
            return;
        }
        // Reclaimed meanwhile: this query is answered, then the connection closes.
        let last = !admission.busy();
        let len = usize::from(u16::from_be_bytes(len));
        query.resize(len, 0);
        if !matches!(
            timeout(idle, stream.read_exact(&mut query)).await,
            Ok(Ok(_))
        ) {
            return;
        }
        let Some(resp) = answer(&table.load(), &query, Transport::Tcp) else {
            return;
        };
        let Ok(resp_len) = u16::try_from(resp.len()) else {
            return;
        };
        let mut out = Vec::with_capacity(resp.len() + 2);
        out.extend_from_slice(&resp_len.to_be_bytes());
        out.extend_from_slice(&resp);
        if !matches!(timeout(idle, stream.write_all(&out)).await, Ok(Ok(()))) || last {
            return;
        }
    }
}
