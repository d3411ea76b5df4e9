//! Thread-per-core serving: N threads, each running a current-thread tokio runtime
//! with its own listening socket on the same address and its own upstream pool.
//!
//! The sockets share the address through `SO_REUSEPORT`, so the kernel spreads new
//! connections over the threads; a connection then lives on one thread, with its
//! upstream connections, and no request wakes another thread or takes a lock
//! another thread holds. The route table (`ArcSwap`), the per-service state, the
//! connection cap and the shutdown signal stay shared.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use socket2::{Domain, SockRef, Socket, Type};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::pool::Pool;
use crate::server::{Proxy, Transport};

/// The accept queue length of the extra sockets (tokio's default for `bind`).
const BACKLOG: i32 = 1024;

/// The listening sockets for up to `threads` serving threads: `first`, made
/// `SO_REUSEPORT`, then sockets bound to its address (so a port-0 listener's port is
/// shared). A socket that cannot be made is logged and left out; `first` always serves.
pub(crate) fn reuseport_listeners(
    first: std::net::TcpListener,
    threads: usize,
) -> Vec<std::net::TcpListener> {
    let extra = match (
        SockRef::from(&first).set_reuse_port(true),
        first.local_addr(),
    ) {
        (Ok(()), Ok(addr)) => (1..threads)
            .filter_map(|_| match bind_reuseport(addr) {
                Ok(l) => Some(l),
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "proxy: an extra listening socket failed; fewer serving threads");
                    None
                }
            })
            .collect(),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "proxy: SO_REUSEPORT unavailable; one serving thread");
            Vec::new()
        }
    };
    std::iter::once(first).chain(extra).collect()
}

/// A non-blocking listening socket on `addr` that shares it with other `SO_REUSEPORT` sockets.
fn bind_reuseport(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

impl Proxy {
    /// Serves `listener` on `threads` threads of their own until [`Proxy::shutdown`]
    /// and every thread finished its graceful shutdown.
    pub(crate) async fn serve_threads(
        self: Arc<Self>,
        listener: TcpListener,
        caller: Arc<str>,
        threads: usize,
        transport: Transport,
    ) {
        let first = match listener.into_std() {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, %caller, "proxy: cannot hand the listener to serving threads");
                return;
            }
        };
        let mut done = Vec::with_capacity(threads);
        for (i, std_listener) in reuseport_listeners(first, threads).into_iter().enumerate() {
            let (tx, rx) = oneshot::channel::<()>();
            let (proxy, caller, transport) = (self.clone(), caller.clone(), transport.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("shoal-proxy-{i}"))
                .spawn(move || {
                    serve_thread(proxy, std_listener, caller, transport);
                    let _ = tx.send(());
                });
            match spawned {
                Ok(_) => done.push(rx),
                Err(e) => tracing::warn!(error = %e, "proxy: a serving thread failed to start"),
            }
        }
        for rx in done {
            let _ = rx.await;
        }
    }
}

/// One serving thread: a current-thread runtime, its listener, its own upstream pool.
fn serve_thread(
    proxy: Arc<Proxy>,
    std_listener: std::net::TcpListener,
    caller: Arc<str>,
    transport: Transport,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "proxy: a serving thread's runtime failed to start");
            return;
        }
    };
    let pool = Pool::new(
        proxy.config.connect_timeout,
        proxy.config.upstream_idle_per_host,
    );
    rt.block_on(async move {
        match TcpListener::from_std(std_listener) {
            Ok(listener) => proxy.serve_on(listener, caller, pool, transport).await,
            Err(e) => tracing::error!(error = %e, "proxy: a serving thread cannot listen"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_zero_listener_shares_its_port_with_the_extra_sockets() {
        let first = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = first.local_addr().expect("addr");
        let all = reuseport_listeners(first, 3);
        assert_eq!(all.len(), 3);
        for l in &all {
            assert_eq!(l.local_addr().expect("addr"), addr);
        }
    }

    #[test]
    fn one_thread_needs_no_extra_socket() {
        let first = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        assert_eq!(reuseport_listeners(first, 1).len(), 1);
    }
}
