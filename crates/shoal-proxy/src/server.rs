//! The proxy and its listeners: the edge gateway (caller `gateway`) and one
//! outbound listener per service (caller = that service). HTTP/1.1 keep-alive
//! (`h1.rs`) and HTTP/2 (`h2.rs`: h2c, or `h2` chosen by ALPN over TLS), plain or
//! TLS ([`Transport`]), header/body/idle limits, a connection cap within the
//! process's connection budget (`shoal-listen`), graceful shutdown.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use shoal_listen::{Budget, Share, Timeouts};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::observe::Hooks;
use crate::pool::Pool;
use crate::table::RouteTable;

/// Limits and defaults of the proxy's listeners and upstream client.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Open client connections across all listeners; more are accepted and
    /// answered `503` with `Connection: close` at once (never left in the kernel's
    /// queue). Each also takes two descriptors of the process's connection budget
    /// (its own and the upstream connection it may hold), which may refuse first.
    pub max_connections: usize,
    /// Request head size (HTTP/1 buffer, HTTP/2 header list).
    pub max_header_bytes: usize,
    /// Request body size; larger bodies get 413 `too-large`.
    pub max_body_bytes: usize,
    /// A client connection with no request for this long is closed.
    pub idle_timeout: Duration,
    /// A request head must arrive whole this long after its first byte (and a
    /// new connection's first request this long after accept, if shorter than
    /// `idle_timeout`); else the connection is closed.
    pub head_timeout: Duration,
    /// The longest wait for the next piece of a request body, or for the client
    /// to take the next piece of an answer.
    pub body_timeout: Duration,
    pub connect_timeout: Duration,
    /// Per-attempt timeout of services without `resilience.timeout` (default 15 s, as
    /// Envoy's route timeout: a hung instance holds a non-idempotent request no longer).
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
    /// Timeouts are [`Timeouts::HTTP`] (head 10 s, body 30 s, idle 60 s) with
    /// the `SHOAL_HEAD_TIMEOUT`, `SHOAL_BODY_TIMEOUT`, `SHOAL_IDLE_TIMEOUT` overrides.
    fn default() -> Self {
        let timeouts = Timeouts::HTTP.from_env();
        Self {
            max_connections: 10_000,
            max_header_bytes: 64 * 1024,
            max_body_bytes: 16 * 1024 * 1024,
            idle_timeout: timeouts.idle,
            head_timeout: timeouts.head,
            body_timeout: timeouts.body,
            connect_timeout: Duration::from_secs(2),
            default_timeout: Duration::from_secs(15),
            cold_start_timeout: Duration::from_secs(30),
            upstream_idle_per_host: 256,
            serve_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            sampler: crate::sample::Sampler::default(),
        }
    }
}

/// How a listener's connections arrive.
#[derive(Clone, Default)]
pub enum Transport {
    /// HTTP over TCP.
    #[default]
    Plain,
    /// TLS terminated here (the handshake must end within the head timeout);
    /// ALPN `h2` goes to HTTP/2, anything else to HTTP/1.1.
    Tls(shoal_tls::TlsAcceptor),
}

/// The data plane: one engine behind every listener.
pub struct Proxy {
    pub(crate) table: Arc<ArcSwap<RouteTable>>,
    pub(crate) pool: Pool,
    pub(crate) config: ProxyConfig,
    pub(crate) hooks: Hooks,
    /// The cap of client connections over every listener, in the process's budget.
    conns: Share,
    outbound: Mutex<HashMap<String, SocketAddr>>,
    shutdown: watch::Sender<bool>,
    /// Requests held for a cold start now (bounded: see `stages/wake.rs`).
    pub(crate) held: std::sync::atomic::AtomicUsize,
    /// TLS handshakes that failed or timed out, on every TLS listener.
    pub(crate) tls_failed: std::sync::atomic::AtomicU64,
}

impl Proxy {
    pub fn new(table: Arc<ArcSwap<RouteTable>>, config: ProxyConfig, hooks: Hooks) -> Arc<Self> {
        Arc::new(Self {
            table,
            pool: Pool::new(config.connect_timeout, config.upstream_idle_per_host),
            conns: Share::new(Budget::process(), "proxy", config.max_connections, 2),
            config,
            hooks,
            outbound: Mutex::new(HashMap::new()),
            shutdown: watch::channel(false).0,
            held: std::sync::atomic::AtomicUsize::new(0),
            tls_failed: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// TLS handshakes that failed or timed out since start, on every TLS listener.
    pub fn tls_handshake_failures(&self) -> u64 {
        self.tls_failed.load(std::sync::atomic::Ordering::Relaxed)
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
        let serve = self
            .clone()
            .serve_on(listener, service.into(), pool, Transport::Plain);
        tokio::spawn(serve);
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
        self.serve_until_with(listener, caller, Transport::Plain, shutdown)
            .await;
    }

    /// [`Proxy::serve_until`] with connections arriving over `transport`.
    pub async fn serve_until_with(
        self: Arc<Self>,
        listener: TcpListener,
        caller: String,
        transport: Transport,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let me = self.clone();
        tokio::spawn(async move {
            shutdown.await;
            me.shutdown();
        });
        self.serve_with(listener, caller, transport).await;
    }

    /// Serves `listener` with every request's caller set to `caller` (use
    /// [`shoal_spec::GATEWAY_CALLER`] for the edge) until [`Proxy::shutdown`], on
    /// [`ProxyConfig::serve_threads`] threads of its own (see `workers.rs`).
    pub async fn serve(self: Arc<Self>, listener: TcpListener, caller: String) {
        self.serve_with(listener, caller, Transport::Plain).await;
    }

    /// [`Proxy::serve`] with connections arriving over `transport`.
    pub async fn serve_with(
        self: Arc<Self>,
        listener: TcpListener,
        caller: String,
        transport: Transport,
    ) {
        let threads = self.config.serve_threads;
        if threads == 0 {
            let pool = self.pool.clone();
            return self
                .serve_on(listener, caller.into(), pool, transport)
                .await;
        }
        self.serve_threads(listener, caller.into(), threads, transport)
            .await;
    }

    /// The accept loop of one listener on the current runtime, sending upstream on `pool`.
    pub(crate) async fn serve_on(
        self: Arc<Self>,
        listener: TcpListener,
        caller: Arc<str>,
        pool: Pool,
        transport: Transport,
    ) {
        // Every connection task holds a sender; all are gone once every task ended.
        let (running, mut ended) = mpsc::channel::<()>(1);
        let mut stop = self.shutdown.subscribe();
        // This loop's connections wait on a signal of their own, not the proxy-wide
        // one: waiting registers with it, and a shared one would be a lock every
        // serving thread takes on every request.
        let (local_stop, conn_stop) = watch::channel(false);
        let mut backoff = shoal_listen::AcceptBackoff::default();
        loop {
            if *stop.borrow() {
                break;
            }
            let (stream, _peer) = tokio::select! {
                accepted = shoal_listen::accept(&listener, &mut backoff, &caller) => accepted,
                _ = stop.changed() => break,
            };
            // Over the cap (or the budget): a 503 and a close now, not a wait in
            // the kernel's queue.
            let admission = match self.conns.admit() {
                Ok(a) => a,
                Err(_) => {
                    shoal_listen::refuse_http(stream);
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let (proxy, who, pool) = (self.clone(), caller.clone(), pool.clone());
            let (stop, running) = (conn_stop.clone(), running.clone());
            match &transport {
                Transport::Plain => {
                    tokio::spawn(async move {
                        crate::h1::serve(proxy, stream, who, pool, stop, admission).await;
                        drop(running);
                    });
                }
                Transport::Tls(acceptor) => {
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        crate::tls::serve(proxy, acceptor, stream, who, pool, stop, admission)
                            .await;
                        drop(running);
                    });
                }
            }
        }
        local_stop.send_replace(true);
        drop(running);
        let _ = tokio::time::timeout(Duration::from_secs(10), ended.recv()).await;
    }
}
