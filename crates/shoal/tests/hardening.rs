//! Shoal under abusive clients (issue 23): thousands of idle connections to the
//! API starve neither the gateway, the API nor supervision; silent connections
//! time out; half-closed clients get their answers; oversized API bodies get a
//! JSON 413; an HTTP/1.1 request without `Host` gets 400 at the gateway.
//!
//! `SHOAL_HARDENING_BIN` runs them against another build of `shoal` (to see
//! them fail on a build without these defences).

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{raw_http, web_service, Traffic, APP, BIN, HEALTHY};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use shoal_testkit::PlatformBuilder;
use shoal_testkit::{wait_until, Platform};

/// A platform of the `shoal` under test.
fn platform() -> PlatformBuilder {
    match std::env::var("SHOAL_HARDENING_BIN") {
        Ok(bin) => Platform::builder(bin),
        Err(_) => Platform::builder(BIN),
    }
}

/// The idle connections the first test opens when the open-file limit allows.
const IDLE_CONNECTIONS: usize = 20_000;
/// Descriptors the test keeps for itself beside them.
const OWN_FDS: u64 = 1_000;

/// Sends `head` then `body` on a new connection to `addr`, shuts the write
/// side when `half_close`, and reads the answer until the server closes (10 s
/// at most). Write errors are ignored: the server may answer before reading all.
fn exchange(addr: SocketAddr, head: &str, body: &[u8], half_close: bool) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body);
    if half_close {
        s.shutdown(Shutdown::Write).expect("shutdown(SHUT_WR)");
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn status(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

fn pid_of(i: &serde_json::Value) -> u32 {
    i["pid"].as_u64().unwrap_or(0) as u32
}

/// Whether the server closed `s` (a read gives EOF or an error rather than waiting).
fn closed_by_server(s: &TcpStream) -> bool {
    let _ = s.set_nonblocking(true);
    let mut buf = [0u8; 512];
    let closed =
        !matches!((&*s).read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    let _ = s.set_nonblocking(false);
    closed
}

#[test]
fn idle_connections_to_the_api_starve_neither_gateway_api_nor_supervision() {
    let limit = shoal_listen::nofile::raise()
        .expect("raise the test's own open-file limit")
        .now;
    let count = if limit >= 25_000 {
        IDLE_CONNECTIONS
    } else {
        let scaled = limit.saturating_sub(OWN_FDS) as usize;
        println!(
            "the open-file hard limit is {limit} (below 25,000): opening {scaled} idle connections instead of {IDLE_CONNECTIONS}"
        );
        scaled
    };
    // shoal starts as services often do, with a soft open-file limit of 1024
    // (it raises it to the hard limit). Idle connections stay open as long as
    // the test needs them (defaults: 10 s for a first request, 60 s idle): what
    // holds them back is the connection budget.
    let p = platform()
        .wrap(&["sh", "-c", "ulimit -Sn 1024 2>/dev/null; exec \"$@\"", "sh"])
        .env("SHOAL_HEAD_TIMEOUT", "5m")
        .env("SHOAL_IDLE_TIMEOUT", "5m")
        .file("app.py", APP)
        .services(&web_service("web", 2))
        .start()
        .expect("start");
    let before = p.wait_healthy("web", 2, HEALTHY).expect("healthy");
    let traffic = Traffic::start(&p, 2, "web", "/");
    traffic.wait_for(&p, 20);

    // The flood: silent connections to the API. Without a budget shoal runs out
    // of descriptors: it stops accepting (connects fail), the API stops
    // answering, the gateway cannot reach instances.
    let mut idle = Vec::with_capacity(count);
    let (mut failed_in_a_row, mut failed) = (0, 0);
    let started = Instant::now();
    while idle.len() < count && failed_in_a_row < 5 && started.elapsed() < Duration::from_secs(90) {
        match TcpStream::connect_timeout(&p.http, Duration::from_secs(2)) {
            Ok(s) => {
                idle.push(s);
                failed_in_a_row = 0;
            }
            Err(_) => {
                failed_in_a_row += 1;
                failed += 1;
            }
        }
        // Paced to the server's accept rate: an answer on a new connection means
        // every earlier one left the accept queue, which then never overflows
        // (a dropped SYN costs the client a second).
        if idle.len() % 500 == 0 {
            let _ = p.api("GET", "/v1/status/leader", None);
        }
    }
    println!(
        "{} idle connections opened to the API in {:?}",
        idle.len(),
        started.elapsed()
    );
    // The API answers a GET within a second.
    let asked = Instant::now();
    let answer = p.api("GET", "/api/v1/services", None).expect("API answers");
    let took = asked.elapsed();
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(took < Duration::from_secs(1), "the API took {took:?}");

    // State is written (the store, its file).
    let put = p
        .api("PUT", "/v1/kv/hardening/flood", Some("still-writing"))
        .expect("KV PUT");
    assert_eq!(put.status, 200, "{}", put.text());

    // Supervision: an instance killed with SIGKILL is restarted and healthy again.
    let victim = before[0].clone();
    kill(Pid::from_raw(pid_of(&victim) as i32), Signal::SIGKILL).expect("kill -9");
    let restarted = wait_until("the killed instance restarted and healthy", HEALTHY, || {
        let list = p.instances("web");
        let i = list.iter().find(|i| i["id"] == victim["id"])?.clone();
        (pid_of(&i) != pid_of(&victim) && pid_of(&i) != 0 && i["health"] == "passing").then_some(i)
    });
    assert!(restarted.is_ok(), "{restarted:?}; stderr: {}", p.stderr());

    // The gateway served every request meanwhile.
    traffic.wait_for(&p, 20);
    let closed = idle.iter().filter(|s| closed_by_server(s)).count();
    println!(
        "the server closed {closed} of them (over its connection budget: the longest idle first)"
    );
    assert_eq!(
        failed, 0,
        "every connect succeeded (accepted, even if closed at once)"
    );
    // On a loaded machine the 90 s may end the flood early (CI once opened 18,431
    // of 19,000): what matters is that none failed and the flood went far past the
    // budget, which the metrics below show.
    assert!(
        idle.len() >= count / 2,
        "only {} of {count} connections opened in 90 s",
        idle.len()
    );
    // /metrics says so: the API's open connections, the budget, what was made room for.
    let text = p.api("GET", "/metrics", None).expect("metrics").text();
    let value = |series: &str| common::metric_value(&text, series).unwrap_or(-1.0);
    let open = value(r#"shoal_listener_connections{listener="api"}"#);
    let budget = value("shoal_fd_budget");
    let made_room = value("shoal_idle_connections_reclaimed_total")
        + value(r#"shoal_listener_refused_total{listener="api"}"#);
    println!("metrics: api connections {open}, budget {budget}, reclaimed + refused {made_room}");
    assert!(
        open >= 1000.0 && budget >= open,
        "{open} open, budget {budget}"
    );
    assert!(
        closed == 0 || made_room >= 1.0,
        "{closed} closed, {made_room} counted"
    );
    drop(idle);
    let (ok, failed, errors) = traffic.finish();
    assert_eq!(failed, 0, "gateway failures during the flood: {errors:?}");
    assert!(ok >= 40, "{ok} requests served");

    // And after the connections closed, all is as before.
    let answer = p
        .api("GET", "/v1/kv/hardening/flood?raw", None)
        .expect("API");
    assert_eq!(answer.text(), "still-writing");
    assert_eq!(p.gateway("web", "/").expect("gateway").status, 200);

    // It said what it got at start (it started with a soft limit of 1024).
    let raised = p
        .stderr()
        .lines()
        .find(|l| l.contains("open-file limit"))
        .map(str::to_owned);
    assert!(
        raised.is_some_and(|l| l.contains("raised") && l.contains(&format!("limit={limit}"))),
        "shoal raised its soft open-file limit to the hard one and said so"
    );
}

#[test]
fn a_silent_api_connection_is_closed_but_a_blocking_query_is_not() {
    let p = platform()
        .env("SHOAL_HEAD_TIMEOUT", "1s")
        .env("SHOAL_IDLE_TIMEOUT", "2s")
        .start()
        .expect("start");
    // Silent: closed after the head timeout (today's API keeps it forever).
    let mut silent = TcpStream::connect(p.http).expect("connect");
    silent
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let read = silent.read(&mut buf);
    assert!(
        matches!(read, Ok(0) | Err(_)) && started.elapsed() < Duration::from_secs(10),
        "a silent connection was still open after {:?} ({read:?})",
        started.elapsed()
    );

    // A blocking query waits longer than the idle and head timeouts: it is in
    // flight, so nothing cuts it.
    let put = p.api("PUT", "/v1/kv/blocking", Some("v1")).expect("put");
    assert_eq!(put.status, 200);
    let index = p
        .api("GET", "/v1/kv/blocking", None)
        .expect("get")
        .header("X-Consul-Index")
        .unwrap_or("0")
        .to_string();
    let started = Instant::now();
    let answer = exchange(
        p.http,
        &format!(
            "GET /v1/kv/blocking?index={index}&wait=4s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ),
        b"",
        false,
    );
    assert_eq!(status(&answer), 200, "{answer}");
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "the query waited for its index ({:?})",
        started.elapsed()
    );
}

#[test]
fn half_closed_clients_get_their_answers() {
    let p = platform().start().expect("start");
    let addr = p.http;
    // 300 PUTs, each followed by shutdown(SHUT_WR), from 6 threads.
    let threads: Vec<_> = (0..6)
        .map(|t| {
            std::thread::spawn(move || {
                let mut bad = Vec::new();
                for i in (t * 50)..(t * 50 + 50) {
                    let value = format!("value-{i}");
                    let head = format!(
                        "PUT /v1/kv/half/{i} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                        value.len()
                    );
                    let answer = exchange(addr, &head, value.as_bytes(), true);
                    if status(&answer) != 200 || body(&answer).trim() != "true" {
                        bad.push(format!("PUT {i}: {answer:?}"));
                    }
                }
                bad
            })
        })
        .collect();
    let bad: Vec<String> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap_or_else(|_| vec!["thread panicked".into()]))
        .collect();
    assert!(
        bad.is_empty(),
        "{} of 300 PUTs unanswered: {:?}",
        bad.len(),
        &bad[..bad.len().min(5)]
    );
    // Half-closed GETs too: of a value just written, and of the native API.
    for i in (0..300).step_by(10) {
        let answer = exchange(
            addr,
            &format!("GET /v1/kv/half/{i}?raw HTTP/1.1\r\nHost: x\r\n\r\n"),
            b"",
            true,
        );
        assert_eq!(status(&answer), 200, "{answer}");
        assert_eq!(body(&answer), format!("value-{i}"));
        let answer = exchange(
            addr,
            "GET /api/v1/services HTTP/1.1\r\nHost: x\r\n\r\n",
            b"",
            true,
        );
        assert_eq!(status(&answer), 200, "{answer}");
        assert!(body(&answer).starts_with('['), "{answer}");
    }
}

#[test]
fn oversized_api_bodies_get_413_and_the_gateway_wants_host_on_http11() {
    let p = platform()
        .file("app.py", APP)
        .services(&web_service("web", 1))
        .start()
        .expect("start");
    p.wait_healthy("web", 1, HEALTHY).expect("healthy");
    let big = vec![b'x'; 2 << 20];

    // Consul KV (answered 400 before), with a length ...
    let head = format!(
        "PUT /v1/kv/big HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        big.len()
    );
    let answer = exchange(p.http, &head, &big, false);
    assert_eq!(status(&answer), 413, "{answer}");
    let json: serde_json::Value = serde_json::from_str(body(&answer)).expect("a JSON body");
    assert_eq!(json["error"], "request body too large", "{json}");
    // ... and chunked.
    let mut chunked = Vec::new();
    for _ in 0..3 {
        chunked.extend_from_slice(format!("{:x}\r\n", 1 << 20).as_bytes());
        chunked.extend_from_slice(&big[..1 << 20]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let head = "PUT /v1/kv/big HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n";
    let answer = exchange(p.http, head, &chunked, false);
    assert_eq!(status(&answer), 413, "{answer}");
    assert!(body(&answer).contains("\"error\""), "{answer}");
    // The native API and OFREP alike.
    for path in ["/api/v1/deploy", "/ofrep/v1/evaluate/flags"] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            big.len()
        );
        let answer = exchange(p.http, &head, &big, false);
        assert_eq!(status(&answer), 413, "{path}: {answer}");
        assert!(body(&answer).contains("\"error\""), "{path}: {answer}");
    }
    // Within the limit, a body still works.
    let put = p.api("PUT", "/v1/kv/small", Some("ok")).expect("put");
    assert_eq!(put.status, 200);

    // The gateway: HTTP/1.1 without Host is 400 (RFC 9112, section 3.2) ...
    let (code, answer) = raw_http(p.gateway, "GET /web HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(code, 400, "{answer}");
    // ... while HTTP/1.0, which has no Host to send, is still served.
    let (code, answer) = raw_http(p.gateway, "GET /web HTTP/1.0\r\n\r\n");
    assert_eq!(code, 200, "{answer}");
    // A service's outbound listener refuses it alike.
    let proxy = p.api("GET", "/api/v1/proxy", None).expect("proxy").json();
    let outbound: SocketAddr = proxy["outbound"]["web"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("web's outbound listener in {proxy}"));
    let (code, answer) = raw_http(outbound, "GET /web HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(code, 400, "{answer}");
}
