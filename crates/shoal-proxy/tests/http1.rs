//! The listeners' own HTTP/1.1 and the upstream client, byte for byte: chunked
//! request bodies, `100 Continue`, pipelining, HTTP/1.0 keep-alive, streamed,
//! chunked and close-delimited answers, `HEAD`, and malformed requests.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::Harness;
use shoal_catalog::InstanceRecord;
use shoal_proxy::{Hooks, RouteTable};
use shoal_spec::{LimitsSpec, ResilienceSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BIG: usize = 200_000;

/// A raw HTTP/1.1 instance: `/echo` answers the request body, `/big` 200 kB with a
/// length, `/chunked` a chunked body, `/close` a body ended by closing, `/stall`
/// 10 bytes of a 200 kB body and then nothing, `/ws` with `Upgrade: websocket`
/// a `101`, `hello` and then an echo; anything else `ok`. Counts accepted
/// connections.
async fn raw_upstream() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(upstream_conn(s));
        }
    });
    (addr, accepted)
}

async fn upstream_conn(mut s: TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < end + 4 + len {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Vec<u8> = buf.drain(..end + 4 + len).skip(end + 4).collect();
        let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
        let answer: Vec<u8> = match path.as_str() {
            "/echo" => [
                format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len()).into_bytes(),
                body,
            ]
            .concat(),
            "/big" => [
                format!("HTTP/1.1 200 OK\r\ncontent-length: {BIG}\r\n\r\n").into_bytes(),
                if head.starts_with("head ") { Vec::new() } else { vec![b'b'; BIG] },
            ]
            .concat(),
            "/chunked" => b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n".to_vec(),
            "/close" => {
                let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\nuntil close").await;
                return;
            }
            "/ws" if head.contains("upgrade: websocket") => {
                let switch = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                    Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\nhello";
                if s.write_all(switch).await.is_err() {
                    return;
                }
                // Then an echo of everything, from what followed the head on.
                let mut pending = std::mem::take(&mut buf);
                loop {
                    if !pending.is_empty() && s.write_all(&pending).await.is_err() {
                        return;
                    }
                    pending.clear();
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => pending.extend_from_slice(&chunk[..n]),
                    }
                }
            }
            "/stall" => {
                let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {BIG}\r\n\r\nxxxxxxxxxx");
                let _ = s.write_all(head.as_bytes()).await;
                // Holds the connection, sending nothing more.
                tokio::time::sleep(Duration::from_secs(30)).await;
                return;
            }
            // A `Connection` naming another field: both are the hop's own.
            "/hop" => b"HTTP/1.1 200 OK\r\nConnection: x-hop\r\nX-Hop: secret\r\n\
                X-Keep: yes\r\ncontent-length: 2\r\n\r\nok"
                .to_vec(),
            _ => b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec(),
        };
        if s.write_all(&answer).await.is_err() {
            return;
        }
    }
}

async fn start() -> (Harness, Arc<AtomicUsize>) {
    start_with(None).await
}

/// [`start`] with the service's attempt timeout set.
async fn start_with(timeout: Option<Duration>) -> (Harness, Arc<AtomicUsize>) {
    let (addr, accepted) = raw_upstream().await;
    let record = InstanceRecord::new("raw", "svc", "1", "n1", "127.0.0.1", addr.port());
    let mut spec = common::spec("svc", "1");
    spec.resilience = timeout.map(|t| ResilienceSpec {
        timeout: Some(t),
        ..ResilienceSpec::default()
    });
    let table = common::table(vec![spec], &[record], &RouteTable::default());
    (Harness::start(table, Hooks::default()).await, accepted)
}

/// Reads more of `s` into `buf`; the connection must not close while `what` is awaited.
async fn read_more(s: &mut TcpStream, buf: &mut Vec<u8>, what: &str) {
    let n = s.read_buf(buf).await.expect(what);
    assert!(
        n > 0,
        "closed while reading {what}: {:?}",
        String::from_utf8_lossy(buf)
    );
}

/// Reads until `buf` holds `pattern`; where it starts.
async fn read_until(s: &mut TcpStream, buf: &mut Vec<u8>, pattern: &[u8], what: &str) -> usize {
    loop {
        if let Some(i) = buf.windows(pattern.len()).position(|w| w == pattern) {
            return i;
        }
        read_more(s, buf, what).await;
    }
}

/// Reads until `buf` holds at least `len` bytes.
async fn read_at_least(s: &mut TcpStream, buf: &mut Vec<u8>, len: usize, what: &str) {
    while buf.len() < len {
        read_more(s, buf, what).await;
    }
}

/// One answer read off `s`: its head (lower-cased) and its decoded body.
async fn read_answer(s: &mut TcpStream, buf: &mut Vec<u8>) -> (String, Vec<u8>) {
    let end = read_until(s, buf, b"\r\n\r\n", "an answer head").await;
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    buf.drain(..end + 4);
    let header = |name: &str| {
        head.lines().find_map(|l| {
            l.strip_prefix(&format!("{name}:"))
                .map(|v| v.trim().to_owned())
        })
    };
    let bodiless = head.starts_with("http/1.1 100");
    let mut body = Vec::new();
    if bodiless {
        return (head, body);
    }
    if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        read_at_least(s, buf, len, "a body").await;
        body = buf.drain(..len).collect();
    } else if header("transfer-encoding").as_deref() == Some("chunked") {
        loop {
            let line_end = read_until(s, buf, b"\r\n", "a chunk size").await;
            let size = usize::from_str_radix(&String::from_utf8_lossy(&buf[..line_end]), 16)
                .expect("chunk size");
            buf.drain(..line_end + 2);
            read_at_least(s, buf, size + 2, "chunk data").await;
            body.extend(buf.drain(..size));
            buf.drain(..2);
            if size == 0 {
                break;
            }
        }
    } else {
        s.read_to_end(buf).await.expect("read to close");
        body = std::mem::take(buf);
    }
    (head, body)
}

/// Sends `raw` on `s` and reads one answer.
async fn ask(s: &mut TcpStream, buf: &mut Vec<u8>, raw: &[u8]) -> (String, Vec<u8>) {
    s.write_all(raw).await.expect("write");
    read_answer(s, buf).await
}

async fn connect(h: &Harness) -> TcpStream {
    TcpStream::connect(h.gateway).await.expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_request_bodies_and_100_continue_reach_the_instance() {
    let (h, _) = start().await;
    let mut s = connect(&h).await;
    let mut buf = Vec::new();
    let (head, body) = ask(&mut s, &mut buf, b"POST /echo HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n").await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(body, b"hello world");

    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: svc\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
    )
    .await
    .expect("write");
    let (head, _) = read_answer(&mut s, &mut buf).await;
    assert!(head.starts_with("http/1.1 100 continue"), "{head}");
    s.write_all(b"body").await.expect("write body");
    let (head, body) = read_answer(&mut s, &mut buf).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(body, b"body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order() {
    let (h, accepted) = start().await;
    let mut s = connect(&h).await;
    let mut buf = Vec::new();
    s.write_all(b"GET /a HTTP/1.1\r\nHost: svc\r\n\r\nPOST /echo HTTP/1.1\r\nHost: svc\r\nContent-Length: 3\r\n\r\nabcGET /big HTTP/1.1\r\nHost: svc\r\n\r\n")
        .await
        .expect("write");
    assert_eq!(read_answer(&mut s, &mut buf).await.1, b"ok");
    assert_eq!(read_answer(&mut s, &mut buf).await.1, b"abc");
    let (head, body) = read_answer(&mut s, &mut buf).await;
    assert!(head.contains(&format!("content-length: {BIG}")), "{head}");
    assert_eq!(body.len(), BIG);
    assert!(body.iter().all(|&b| b == b'b'));
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "one pooled upstream connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_and_close_delimited_answers_reach_http11_and_http10_clients() {
    let (h, _) = start().await;
    let mut buf = Vec::new();
    // HTTP/1.1: re-chunked, and the connection stays open.
    let mut s = connect(&h).await;
    for _ in 0..2 {
        let (head, body) = ask(
            &mut s,
            &mut buf,
            b"GET /chunked HTTP/1.1\r\nHost: svc\r\n\r\n",
        )
        .await;
        assert!(head.contains("transfer-encoding: chunked"), "{head}");
        assert_eq!(body, b"hello world");
    }
    let (_, body) = ask(
        &mut s,
        &mut buf,
        b"GET /close HTTP/1.1\r\nHost: svc\r\n\r\n",
    )
    .await;
    assert_eq!(body, b"until close");
    // HTTP/1.0 without keep-alive: the body ends with the connection.
    let mut s = connect(&h).await;
    let mut buf = Vec::new();
    let (head, body) = ask(
        &mut s,
        &mut buf,
        b"GET /chunked HTTP/1.0\r\nHost: svc\r\n\r\n",
    )
    .await;
    assert!(head.contains("connection: close"), "{head}");
    assert_eq!(body, b"hello world");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_answer_that_stalls_is_cut_after_the_timeout() {
    let timeout = Duration::from_millis(300);
    let (h, _) = start_with(Some(timeout)).await;
    let mut s = connect(&h).await;
    let started = tokio::time::Instant::now();
    s.write_all(b"GET /stall HTTP/1.1\r\nHost: svc\r\n\r\n")
        .await
        .expect("write");
    // The head and the first bytes pass on; then the proxy cuts the connection
    // (the body is short of its length, so the client sees the failure).
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "a stalled body held the connection open");
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains(&format!("content-length: {BIG}")), "{text}");
    assert!(got.ends_with(b"\r\n\r\nxxxxxxxxxx"), "{text}");
    assert!(started.elapsed() >= timeout, "cut before the timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_upgrade_joins_the_client_to_the_instance() {
    let (h, _) = start().await;
    let mut s = connect(&h).await;
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: svc\r\nConnection: keep-alive, Upgrade\r\n\
          Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
          Sec-WebSocket-Version: 13\r\n\r\nearly",
    )
    .await
    .expect("write");
    let mut buf = Vec::new();
    let end = read_until(&mut s, &mut buf, b"\r\n\r\n", "the 101 head").await;
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("\r\nupgrade: websocket"), "{head}");
    assert!(head.contains("\r\nconnection: upgrade"), "{head}");
    assert!(head.contains("sec-websocket-accept: "), "{head}");
    assert!(head.contains("x-trace-id: "), "{head}");
    buf.drain(..end + 4);
    // The instance's first bytes, then the echo of what the client sent after its head.
    read_at_least(&mut s, &mut buf, 10, "hello and the early bytes").await;
    assert_eq!(buf, b"helloearly");
    for msg in [&b"ping"[..], &[0x81, 0x02, b'h', b'i'][..]] {
        buf.clear();
        s.write_all(msg).await.expect("write");
        read_at_least(&mut s, &mut buf, msg.len(), "the echo").await;
        assert_eq!(buf, msg);
    }
    // A request to a path that does not switch is answered as usual, and the
    // connection stays an HTTP one.
    let mut s = connect(&h).await;
    buf.clear();
    let (head, body) = ask(
        &mut s,
        &mut buf,
        b"GET / HTTP/1.1\r\nHost: svc\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    )
    .await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(body, b"ok");
    let (head, _) = ask(&mut s, &mut buf, b"GET / HTTP/1.1\r\nHost: svc\r\n\r\n").await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    // A joined connection ends when the proxy shuts down.
    let mut s = connect(&h).await;
    buf.clear();
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: svc\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    )
    .await
    .expect("write");
    read_until(&mut s, &mut buf, b"hello", "the switch").await;
    h.proxy.shutdown();
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "a joined connection outlived the shutdown");
}

/// A switched connection is one long request: it holds its place in the
/// service's in-flight limit, and counts in its instance's load, until the
/// tunnel closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_holds_its_in_flight_place_until_it_closes() {
    let (addr, _) = raw_upstream().await;
    let record = InstanceRecord::new("raw", "svc", "1", "n1", "127.0.0.1", addr.port());
    let mut spec = common::spec("svc", "1");
    spec.resilience = Some(ResilienceSpec {
        limits: Some(LimitsSpec {
            rps: None,
            max_inflight: Some(1),
            ..LimitsSpec::default()
        }),
        ..ResilienceSpec::default()
    });
    let table = common::table(vec![spec], &[record], &RouteTable::default());
    let h = Harness::start(table, Hooks::default()).await;
    let mut ws = connect(&h).await;
    let mut buf = Vec::new();
    ws.write_all(
        b"GET /ws HTTP/1.1\r\nHost: svc\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    )
    .await
    .expect("write");
    read_until(&mut ws, &mut buf, b"hello", "the switch").await;
    // It counts in the service's in-flight and in its instance's load.
    let loads = |h: &Harness| {
        let snap = h.proxy.snapshot();
        let svc = &snap.services["svc"];
        (svc.inflight, svc.instances[0].inflight)
    };
    assert_eq!(loads(&h), (1, 1));
    let mut s = connect(&h).await;
    let mut abuf = Vec::new();
    let (head, body) = ask(&mut s, &mut abuf, b"GET / HTTP/1.1\r\nHost: svc\r\n\r\n").await;
    assert!(head.starts_with("http/1.1 503"), "{head}");
    assert!(head.contains("x-shoal-reason: shed"), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("shed"));
    // The client closes the tunnel: the place is free again.
    drop(ws);
    let mut freed = false;
    for _ in 0..200 {
        let mut s = connect(&h).await;
        let (head, _) = ask(&mut s, &mut abuf, b"GET / HTTP/1.1\r\nHost: svc\r\n\r\n").await;
        if head.starts_with("http/1.1 200") {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(freed, "the closed tunnel kept its in-flight place");
    assert_eq!(loads(&h), (0, 0));
}

/// The fields an instance's `Connection` names stay between it and the proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_an_answers_connection_names_do_not_reach_the_client() {
    let (h, _) = start().await;
    let mut s = connect(&h).await;
    let mut buf = Vec::new();
    let (head, body) = ask(&mut s, &mut buf, b"GET /hop HTTP/1.1\r\nHost: svc\r\n\r\n").await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("x-keep: yes"), "{head}");
    assert!(!head.contains("x-hop"), "{head}");
    assert_eq!(body, b"ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http10_keep_alive_and_head_requests() {
    let (h, _) = start().await;
    let mut s = connect(&h).await;
    let mut buf = Vec::new();
    for _ in 0..2 {
        let (head, body) = ask(
            &mut s,
            &mut buf,
            b"GET /a HTTP/1.0\r\nHost: svc\r\nConnection: keep-alive\r\n\r\n",
        )
        .await;
        assert!(head.contains("connection: keep-alive"), "{head}");
        assert_eq!(body, b"ok");
    }
    // HEAD keeps the instance's length and sends no body; the next answer follows at once.
    s.write_all(b"HEAD /big HTTP/1.0\r\nHost: svc\r\nConnection: keep-alive\r\n\r\nGET /a HTTP/1.0\r\nHost: svc\r\n\r\n")
        .await
        .expect("write");
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
    buf.extend_from_slice(&rest);
    let text = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    assert!(text.contains(&format!("content-length: {BIG}")), "{text}");
    assert_eq!(text.matches("http/1.1 200").count(), 2, "{text}");
    assert!(text.ends_with("\r\n\r\nok"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_400_json_and_a_close() {
    let (h, _) = start().await;
    for raw in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: svc\r\nContent-Length: x\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ] {
        let mut s = connect(&h).await;
        s.write_all(raw).await.expect("write");
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
        let text = String::from_utf8_lossy(&out).to_ascii_lowercase();
        assert!(text.starts_with("http/1.1 400"), "{text}");
        assert!(text.contains("\"error\":\"bad-request\""), "{text}");
        assert!(text.contains("connection: close"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_method_that_starts_like_the_http2_preface_is_http1() {
    let (h, _) = start().await;
    let mut s = connect(&h).await;
    let mut buf = Vec::new();
    s.write_all(b"PRI").await.expect("write");
    // Not a wait for a condition: the pause makes the first three bytes arrive
    // alone, so the proxy first sees what could still be the HTTP/2 preface.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (head, body) = ask(&mut s, &mut buf, b"CE /a HTTP/1.1\r\nHost: svc\r\n\r\n").await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(body, b"ok");
}
