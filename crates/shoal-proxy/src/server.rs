//! The proxy and its listeners: the edge gateway (caller `gateway`) and one
//! outbound listener per service (caller = that service). HTTP/1.1 keep-alive
//! (`h1.rs`) and h2c (`h2.rs`), header/body/idle limits, a connection cap,
//! graceful shutdown.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};

use crate::observe::Hooks;
use crate::pool::Pool;
use crate::table::RouteTable;

/// Limits and defaults of the proxy's listeners and upstream client.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Open client connections across all listeners; more wait to be served (one
    /// accepted per accept loop, the rest in the kernel's queue).
    pub max_connections: usize,
    /// Request head size (HTTP/1 buffer, HTTP/2 header list).
    pub max_header_bytes: usize,
    /// Request body size; larger bodies get 413 `too-large`.
    pub max_body_bytes: usize,
    /// A client connection with no request for this long is closed.
    pub idle_timeout: Duration,
    pub connect_timeout: Duration,
    /// Per-attempt timeout of services without `resilience.timeout`.
    pub default_timeout: Duration,
    /// How long a request to a service at zero instances is held while one starts.
    pub cold_start_timeout: Duration,
    /// Idle pooled connections kept per instance (per serving thread).
    pub upstream_idle_per_host: usize,
    /// Threads serving [`Proxy::serve`], each with its own runtime, listening socket
    /// (`SO_REUSEPORT` on the same address) and upstream pool; 0 serves on the
    /// caller's runtime instead. Outbound listeners always serve on the caller's runtime.
    pub serve_threads: usize,
    /// Which traces are sampled: the `sampled` flag of the `traceparent` sent
    /// on, and the access record's `sampled` (what export honours).
    pub sampler: crate::sample::Sampler,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_header_bytes: 64 * 1024,
            max_body_bytes: 16 * 1024 * 1024,
            idle_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(2),
            default_timeout: Duration::from_secs(60),
            cold_start_timeout: Duration::from_secs(30),
            upstream_idle_per_host: 256,
            serve_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            sampler: crate::sample::Sampler::default(),
        }
    }
}

/// The data plane: one engine behind every listener.
pub struct Proxy {
    pub(crate) table: Arc<ArcSwap<RouteTable>>,
    pub(crate) pool: Pool,
    pub(crate) config: ProxyConfig,
    pub(crate) hooks: Hooks,
    conns: Arc<Semaphore>,
    outbound: Mutex<HashMap<String, SocketAddr>>,
    shutdown: watch::Sender<bool>,
    /// Requests held for a cold start now (bounded: see `stages/wake.rs`).
    pub(crate) held: std::sync::atomic::AtomicUsize,
}

impl Proxy {
    pub fn new(table: Arc<ArcSwap<RouteTable>>, config: ProxyConfig, hooks: Hooks) -> Arc<Self> {
        Arc::new(Self {
            table,
            pool: Pool::new(config.connect_timeout, config.upstream_idle_per_host),
            conns: Arc::new(Semaphore::new(config.max_connections)),
            config,
            hooks,
            outbound: Mutex::new(HashMap::new()),
            shutdown: watch::channel(false).0,
            held: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// The routing table the proxy reads (swap a new one in to change routes).
    pub fn table(&self) -> &Arc<ArcSwap<RouteTable>> {
        &self.table
    }

    /// Binds `127.0.0.1:0` as `service`'s outbound listener (its `SHOAL_PROXY`) and
    /// serves it until [`Proxy::shutdown`]; requests there have caller = `service`.
    /// Idempotent: a second call returns the same address. Call it inside a tokio runtime.
    pub fn bind_outbound(self: &Arc<Self>, service: &str) -> std::io::Result<SocketAddr> {
        if let Some(addr) = self
            .outbound
            .lock()
            .ok()
            .and_then(|m| m.get(service).copied())
        {
            return Ok(addr);
        }
        let std_listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
        std_listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(std_listener)?;
        let addr = listener.local_addr()?;
        if let Ok(mut m) = self.outbound.lock() {
            if let Some(existing) = m.get(service) {
                return Ok(*existing);
            }
            m.insert(service.to_owned(), addr);
        }
        let pool = self.pool.clone();
        tokio::spawn(self.clone().serve_on(listener, service.into(), pool));
        Ok(addr)
    }

    /// Every outbound listener bound so far, by service.
    pub fn outbound_listeners(&self) -> HashMap<String, SocketAddr> {
        self.outbound.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Stops accepting on every listener; in-flight requests get 10 s to finish.
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// [`Proxy::serve`], and [`Proxy::shutdown`] (every listener) once `shutdown` resolves.
    pub async fn serve_until(
        self: Arc<Self>,
        listener: TcpListener,
        caller: String,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let me = self.clone();
        tokio::spawn(async move {
            shutdown.await;
            me.shutdown();
        });
        self.serve(listener, caller).await;
    }

    /// Serves `listener` with every request's caller set to `caller` (use
    /// [`shoal_spec::GATEWAY_CALLER`] for the edge) until [`Proxy::shutdown`], on
    /// [`ProxyConfig::serve_threads`] threads of its own (see `workers.rs`).
    pub async fn serve(self: Arc<Self>, listener: TcpListener, caller: String) {
        let threads = self.config.serve_threads;
        if threads == 0 {
            let pool = self.pool.clone();
            return self.serve_on(listener, caller.into(), pool).await;
        }
        self.serve_threads(listener, caller.into(), threads).await;
    }

    /// The accept loop of one listener on the current runtime, sending upstream on `pool`.
    pub(crate) async fn serve_on(
        self: Arc<Self>,
        listener: TcpListener,
        caller: Arc<str>,
        pool: Pool,
    ) {
        // Every connection task holds a sender; all are gone once every task ended.
        let (running, mut ended) = mpsc::channel::<()>(1);
        let mut stop = self.shutdown.subscribe();
        // This loop's connections wait on a signal of their own, not the proxy-wide
        // one: waiting registers with it, and a shared one would be a lock every
        // serving thread takes on every request.
        let (local_stop, conn_stop) = watch::channel(false);
        loop {
            if *stop.borrow() {
                break;
            }
            let (stream, _peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        tracing::warn!(error = %e, %caller, "proxy accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                },
                _ = stop.changed() => break,
            };
            // Accepted first, then admitted: a permit never waits in one thread's accept
            // while a connection waits in another thread's socket.
            let permit = tokio::select! {
                p = self.conns.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                _ = stop.changed() => break,
            };
            let _ = stream.set_nodelay(true);
            let (proxy, who, pool) = (self.clone(), caller.clone(), pool.clone());
            let (stop, running) = (conn_stop.clone(), running.clone());
            tokio::spawn(async move {
                crate::h1::serve(proxy, stream, who, pool, stop).await;
                drop(permit);
                drop(running);
            });
        }
        local_stop.send_replace(true);
        drop(running);
        let _ = tokio::time::timeout(Duration::from_secs(10), ended.recv()).await;
    }
}
