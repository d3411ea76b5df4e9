//! Thread-per-core serving: a port-0 gateway on several threads, the connection
//! cap across them, and shutdown ending every thread.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::Upstream;
use shoal_proxy::{Hooks, Proxy, ProxyConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

async fn start(u: &Upstream, config: ProxyConfig) -> (Arc<Proxy>, SocketAddr, JoinHandle<()>) {
    common::serve(common::one_service(u), Hooks::default(), config).await
}

/// Sends one keep-alive GET on `s` and reads its answer head; the status, or 0.
async fn request(s: &mut TcpStream) -> u16 {
    let _ = s.write_all(b"GET /t HTTP/1.1\r\nHost: svc\r\n\r\n").await;
    let mut buf = [0u8; 4096];
    match s.read(&mut buf).await {
        Ok(n) if n > 0 => common::status_of(&String::from_utf8_lossy(&buf[..n])),
        _ => 0,
    }
}

async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_connections_are_served_by_every_thread_on_one_port() {
    let u = Upstream::start("u").await;
    let config = ProxyConfig {
        serve_threads: 4,
        ..ProxyConfig::default()
    };
    let (proxy, addr, _serving) = start(&u, config).await;
    let mut conns = Vec::new();
    for _ in 0..32 {
        conns.push(connect(addr).await);
    }
    for c in &mut conns {
        assert_eq!(request(c).await, 200);
    }
    assert_eq!(u.hits(), 32);
    proxy.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_holds_across_threads_and_frees_on_close() {
    let u = Upstream::start("u").await;
    let config = ProxyConfig {
        serve_threads: 3,
        max_connections: 1,
        ..ProxyConfig::default()
    };
    let (proxy, addr, _serving) = start(&u, config).await;
    let mut first = connect(addr).await;
    assert_eq!(request(&mut first).await, 200);
    // Over the cap, whichever thread's socket it lands on, a connection is
    // answered 503 at once (not left waiting in the kernel's queue).
    for _ in 0..8 {
        let mut c = connect(addr).await;
        let got = tokio::time::timeout(Duration::from_secs(5), request(&mut c)).await;
        assert_eq!(got.ok(), Some(503), "refused while the first is open");
    }
    assert_eq!(request(&mut first).await, 200, "the first is still served");
    drop(first);
    // Once the proxy saw the first close, a new connection is served.
    let mut served = 0;
    for _ in 0..250 {
        let mut c = connect(addr).await;
        served = request(&mut c).await;
        if served == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(served, 200, "served once the first closed");
    proxy.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_every_serving_thread() {
    let u = Upstream::start("u").await;
    let config = ProxyConfig {
        serve_threads: 3,
        ..ProxyConfig::default()
    };
    let (proxy, addr, serving) = start(&u, config).await;
    {
        let mut c = connect(addr).await;
        assert_eq!(request(&mut c).await, 200);
    }
    proxy.shutdown();
    let ended = tokio::time::timeout(Duration::from_secs(5), serving).await;
    assert!(matches!(ended, Ok(Ok(()))), "serve returned after shutdown");
    let refused = match TcpStream::connect(addr).await {
        Err(_) => true,
        Ok(mut c) => request(&mut c).await == 0,
    };
    assert!(refused, "nothing serves the port after shutdown");
}
