//! The gateway's own limits with real sockets: request head size, body size,
//! slow clients and idle keep-alive connections. A client that breaks a limit
//! is answered or cut off; everyone else keeps being served.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{get, Upstream};
use shoal_proxy::{Hooks, Proxy, ProxyConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start(u: &Upstream, config: ProxyConfig) -> (Arc<Proxy>, SocketAddr) {
    let (proxy, addr, _) = common::serve(common::one_service(u), Hooks::default(), config).await;
    (proxy, addr)
}

/// Sends `raw` and reads until the proxy closes or `wait` passes; returns what came back.
async fn exchange(addr: SocketAddr, raw: &[u8], wait: Duration) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    // The proxy may answer and close before reading everything: ignore write errors.
    let _ = s.write_all(raw).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// What `s` sends until the proxy closes it (or an error ends it) within `wait`,
/// and whether that happened in time.
async fn read_until_closed(s: &mut TcpStream, wait: Duration) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(wait, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    (got, closed.is_ok())
}

fn status(answer: &str) -> u16 {
    common::status_of(answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_request_head_is_refused_and_others_are_served() {
    let u = Upstream::start("u").await;
    let config = ProxyConfig {
        max_header_bytes: 8192,
        ..ProxyConfig::default()
    };
    let (proxy, addr) = start(&u, config).await;
    let big = "x".repeat(64 * 1024);
    let raw = format!("GET / HTTP/1.1\r\nHost: svc\r\nX-Big: {big}\r\nConnection: close\r\n\r\n");
    let answer = exchange(addr, raw.as_bytes(), Duration::from_secs(5)).await;
    assert!(
        answer.is_empty() || status(&answer) == 431,
        "an oversized head gets 431 or a closed connection, got {:?}",
        &answer[..answer.len().min(200)]
    );
    assert_eq!(u.hits(), 0, "nothing reached the instance");
    let ok = get(&common::client(), addr, "svc", "/after").await;
    assert_eq!(ok.status, 200);
    proxy.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_gets_413_too_large_without_reaching_the_instance() {
    let u = Upstream::start("u").await;
    let config = ProxyConfig {
        max_body_bytes: 1024,
        ..ProxyConfig::default()
    };
    let (proxy, addr) = start(&u, config).await;
    let body = "y".repeat(64 * 1024);
    let raw = format!(
        "POST /upload HTTP/1.1\r\nHost: svc\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = exchange(addr, raw.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(status(&answer), 413, "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("x-shoal-reason: too-large"),
        "{answer}"
    );
    assert_eq!(u.hits(), 0);
    // A chunked body is cut off at the limit too.
    let chunk = "y".repeat(600);
    let raw = format!(
        "POST /upload HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n"
    );
    let answer = exchange(addr, raw.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(status(&answer), 413, "{answer}");
    assert!(answer.contains("chunked body over the limit"), "{answer}");
    assert_eq!(u.hits(), 0);
    // A body within the limit goes through.
    let small = "z".repeat(512);
    let raw = format!(
        "POST /upload HTTP/1.1\r\nHost: svc\r\nContent-Length: 512\r\nConnection: close\r\n\r\n{small}"
    );
    let answer = exchange(addr, raw.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(status(&answer), 200, "{answer}");
    proxy.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_do_not_starve_others() {
    let u = Upstream::start("u").await;
    let config = ProxyConfig {
        idle_timeout: Duration::from_secs(1),
        ..ProxyConfig::default()
    };
    let (proxy, addr) = start(&u, config).await;
    // 200 clients that start a request head and never finish it.
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"GET / HTTP/1.1\r\nHost: svc\r\nX-Slow: ")
            .await
            .expect("write");
        slow.push(s);
    }
    // Everyone else is served meanwhile.
    let c = common::client();
    for i in 0..20 {
        let a = get(&c, addr, "svc", &format!("/ok/{i}")).await;
        assert_eq!(a.status, 200);
    }
    // Each slow client is disconnected once the head timeout passes.
    let started = Instant::now();
    for mut s in slow {
        let left = Duration::from_secs(10).saturating_sub(started.elapsed());
        // A 408 or similar before the close is fine.
        let (_, closed) = read_until_closed(&mut s, left).await;
        assert!(closed, "a slow client still connected after 10 s");
    }
    proxy.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed() {
    let u = Upstream::start("u").await;
    let config = ProxyConfig {
        idle_timeout: Duration::from_secs(1),
        ..ProxyConfig::default()
    };
    let (proxy, addr) = start(&u, config).await;
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /once HTTP/1.1\r\nHost: svc\r\n\r\n")
        .await
        .expect("write");
    // Read the answer, then wait for the proxy to close the idle connection.
    let (got, closed) = read_until_closed(&mut s, Duration::from_secs(10)).await;
    let text = String::from_utf8_lossy(&got);
    assert_eq!(status(&text), 200, "{text}");
    assert!(closed, "the idle connection was still open after 10 s");
    proxy.shutdown();
}
