//! The gateway against misbehaving clients (issue 23): an HTTP/1.1 request
//! without `Host` is refused, a silent connection gets the head timeout (not
//! the idle one), a body that stops arriving gets the body timeout.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Upstream;
use shoal_proxy::{Hooks, Proxy, ProxyConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start(u: &Upstream, config: ProxyConfig) -> (Arc<Proxy>, SocketAddr) {
    let (proxy, addr, _) = common::serve(common::one_service(u), Hooks::default(), config).await;
    (proxy, addr)
}

/// Sends `raw` and reads until the proxy closes (5 s at most).
async fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let _ = s.write_all(raw).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// How long until the proxy closes `s` (reading what it sends meanwhile), if within `wait`.
async fn closed_within(s: &mut TcpStream, wait: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(wait, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    closed.ok().map(|()| started.elapsed())
}

fn long_idle(head: Duration, body: Duration) -> ProxyConfig {
    ProxyConfig {
        idle_timeout: Duration::from_secs(60),
        head_timeout: head,
        body_timeout: body,
        ..ProxyConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http11_request_without_host_is_400_and_http10_is_still_routed() {
    let u = Upstream::start("u").await;
    let (proxy, addr) = start(&u, ProxyConfig::default()).await;
    let answer = exchange(addr, b"GET /t HTTP/1.1\r\nConnection: close\r\n\r\n").await;
    assert_eq!(common::status_of(&answer), 400, "{answer}");
    assert!(answer.contains("Host"), "says what is missing: {answer}");
    assert_eq!(u.hits(), 0);
    // HTTP/1.0 has no Host to send: routed as before (no route by host here).
    let answer = exchange(addr, b"GET /t HTTP/1.0\r\n\r\n").await;
    assert_eq!(common::status_of(&answer), 404, "{answer}");
    assert!(answer.contains("no-route"), "{answer}");
    // With Host, HTTP/1.1 is served.
    let answer = exchange(
        addr,
        b"GET /t HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(common::status_of(&answer), 200, "{answer}");
    proxy.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_gets_the_head_timeout_not_the_idle_one() {
    let u = Upstream::start("u").await;
    let config = long_idle(Duration::from_millis(500), Duration::from_secs(30));
    let (proxy, addr) = start(&u, config).await;
    let mut silent = TcpStream::connect(addr).await.expect("connect");
    let took = closed_within(&mut silent, Duration::from_secs(10)).await;
    assert!(took.is_some(), "a silent connection still open after 10 s");
    // A keep-alive connection that starts a head and stalls: the head timeout too.
    let mut slow = TcpStream::connect(addr).await.expect("connect");
    slow.write_all(b"GET /t HTTP/1.1\r\nHost: svc\r\n\r\n")
        .await
        .expect("send");
    let mut buf = [0u8; 1024];
    let n = slow.read(&mut buf).await.expect("answer");
    assert_eq!(common::status_of(&String::from_utf8_lossy(&buf[..n])), 200);
    slow.write_all(b"GET /t HTTP/1.1\r\nHo")
        .await
        .expect("send");
    let took = closed_within(&mut slow, Duration::from_secs(10)).await;
    assert!(took.is_some(), "a stalled head still open after 10 s");
    proxy.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_gets_the_body_timeout() {
    let u = Upstream::start("u").await;
    let config = long_idle(Duration::from_secs(10), Duration::from_millis(500));
    let (proxy, addr) = start(&u, config).await;
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"POST /t HTTP/1.1\r\nHost: svc\r\nContent-Length: 100\r\n\r\nonly ten.")
        .await
        .expect("send");
    let took = closed_within(&mut s, Duration::from_secs(10)).await;
    assert!(took.is_some(), "a stalled body still open after 10 s");
    assert_eq!(u.hits(), 0);
    proxy.shutdown();
}
