//! The pool and client against small local servers: reuse, streamed bodies,
//! `Connection: close`, refused connects, stale connections.

use std::sync::atomic::AtomicUsize;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::body::Body;
use crate::fields::{Fields, HeaderLookup};

/// A server on 127.0.0.1:0 that answers every request head it reads with `answer`,
/// closing after each answer when `close`; counts accepted connections.
async fn server(answer: &'static [u8], close: bool) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n) = s.read(&mut chunk).await {
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        if s.write_all(answer).await.is_err() || close {
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, accepted)
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

fn host() -> Fields {
    let mut h = HeaderMap::new();
    h.insert(http::header::HOST, HeaderValue::from_static("t"));
    Fields::map(h)
}

fn call<'a>(method: &'a Method, fields: &'a Fields) -> Call<'a> {
    Call {
        method,
        fields,
        stamp: None,
        upgrade: None,
        path: "/",
        body: Bytes::new(),
        timeout: Duration::from_secs(5),
        h2c: false,
        tls: None,
        trailers: false,
        stream: None,
        chaos: None,
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

async fn get(pool: &Pool, addr: SocketAddr) -> Result<Answer, SendError> {
    pool.send(addr, &call(&Method::GET, &host()), Instant::now(), soon())
        .await
}

async fn body(resp: Answer) -> Bytes {
    resp.body.collect().await.expect("body").to_bytes()
}

#[tokio::test]
async fn an_answered_connection_is_reused() {
    let (addr, accepted) = server(OK, false).await;
    let pool = Pool::new(Duration::from_secs(1), 8);
    for _ in 0..5 {
        let resp = get(&pool, addr).await.expect("send");
        assert!(
            matches!(&resp.body, Body::Full(_)),
            "a small body is read whole"
        );
        assert_eq!(body(resp).await, "ok");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

const CHUNKED: &[u8] =
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n2\r\nok\r\n0\r\n\r\n";

#[tokio::test]
async fn a_streamed_body_gives_its_connection_back_at_its_end() {
    let (addr, accepted) = server(CHUNKED, false).await;
    let pool = Pool::new(Duration::from_secs(1), 8);
    for _ in 0..3 {
        let resp = get(&pool, addr).await.expect("send");
        assert!(matches!(&resp.body, Body::Stream(_)));
        assert_eq!(body(resp).await, "okok");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_streamed_body_dropped_early_closes_its_connection() {
    let (addr, accepted) = server(CHUNKED, false).await;
    let pool = Pool::new(Duration::from_secs(1), 8);
    drop(get(&pool, addr).await.expect("send"));
    assert_eq!(body(get(&pool, addr).await.expect("send")).await, "okok");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn head_answers_have_no_body_and_informational_ones_are_skipped() {
    let (addr, accepted) = server(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 99\r\n\r\n",
        false,
    )
    .await;
    let pool = Pool::new(Duration::from_secs(1), 8);
    for _ in 0..2 {
        let resp = pool
            .send(addr, &call(&Method::HEAD, &host()), Instant::now(), soon())
            .await
            .expect("send");
        assert!(matches!(resp.fields, Fields::Raw(_)), "raw fields");
        assert_eq!(resp.fields.header("content-length"), Some(&b"99"[..]));
        assert_eq!(body(resp).await, "");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn closed_connections_are_not_reused() {
    let (addr, accepted) = server(
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
        true,
    )
    .await;
    let pool = Pool::new(Duration::from_secs(1), 8);
    for _ in 0..3 {
        assert_eq!(body(get(&pool, addr).await.expect("send")).await, "ok");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn an_answer_until_close_is_streamed_to_the_end() {
    let (addr, _) = server(b"HTTP/1.0 200 OK\r\n\r\nall of it", true).await;
    let pool = Pool::new(Duration::from_secs(1), 8);
    assert_eq!(
        body(get(&pool, addr).await.expect("send")).await,
        "all of it"
    );
}

#[tokio::test]
async fn a_refused_connect_is_a_connect_error() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let pool = Pool::new(Duration::from_secs(1), 8);
    assert!(matches!(get(&pool, addr).await, Err(SendError::Connect(_))));
}

/// A server whose first connection answers one request, then reads the next
/// and closes without answering (an instance closing an idle connection just
/// as a request is written); later connections answer every request.
async fn closes_after_one() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut first = true;
        while let Ok((mut s, _)) = listener.accept().await {
            let close_after_one = std::mem::replace(&mut first, false);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let mut answered = 0;
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || (close_after_one && answered == 1) {
                        return;
                    }
                    let _ = s.write_all(OK).await;
                    answered += 1;
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_reused_connection_closed_without_an_answer_is_stale_and_a_new_one_works() {
    let addr = closes_after_one().await;
    let pool = Pool::new(Duration::from_secs(1), 8);
    assert_eq!(body(get(&pool, addr).await.expect("first")).await, "ok");
    match get(&pool, addr).await {
        Err(SendError::Stale(_)) => {}
        Err(e) => panic!("want Stale, got {e:?}"),
        Ok(_) => panic!("the server closed without answering"),
    }
    assert_eq!(
        body(get(&pool, addr).await.expect("a new connection")).await,
        "ok"
    );
}
