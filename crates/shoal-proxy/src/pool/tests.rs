//! The pool against small local servers: reuse, `Connection: close`, refused connects.

use std::sync::atomic::AtomicUsize;

use http_body_util::BodyExt;
use hyper::service::service_fn;
use tokio::net::TcpListener;

use super::*;

/// An HTTP/1.1 server on 127.0.0.1:0 answering "ok"; counts accepted connections.
async fn server(keep_alive: bool) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let svc = service_fn(|_req| async {
                Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("ok"))))
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .keep_alive(keep_alive)
                    .serve_connection(TokioIo::new(stream), svc),
            );
        }
    });
    (addr, accepted)
}

fn get() -> Request<Full<Bytes>> {
    let mut req = Request::new(Full::new(Bytes::new()));
    *req.uri_mut() = http::Uri::from_static("/");
    req.headers_mut()
        .insert(http::header::HOST, http::HeaderValue::from_static("t"));
    req
}

async fn body(resp: Response<Incoming>) -> Bytes {
    resp.into_body().collect().await.expect("body").to_bytes()
}

#[tokio::test]
async fn a_released_connection_is_reused() {
    let (addr, accepted) = server(true).await;
    let pool = Pool::new(Duration::from_secs(1), 8);
    for _ in 0..5 {
        let (resp, lease) = pool.send(addr, get()).await.expect("send");
        assert_eq!(body(resp).await, "ok");
        lease.release();
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_dropped_lease_comes_back_once_the_body_is_read() {
    let (addr, accepted) = server(true).await;
    let pool = Pool::new(Duration::from_secs(1), 8);
    for _ in 0..3 {
        let (resp, lease) = pool.send(addr, get()).await.expect("send");
        drop(lease);
        assert_eq!(body(resp).await, "ok");
    }
    assert!(accepted.load(Ordering::SeqCst) <= 2);
}

#[tokio::test]
async fn closed_connections_are_not_reused() {
    let (addr, accepted) = server(false).await;
    let pool = Pool::new(Duration::from_secs(1), 8);
    for _ in 0..3 {
        let (resp, lease) = pool.send(addr, get()).await.expect("send");
        assert_eq!(body(resp).await, "ok");
        lease.release();
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_refused_connect_is_a_connect_error() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let pool = Pool::new(Duration::from_secs(1), 8);
    assert!(matches!(
        pool.send(addr, get()).await,
        Err(SendError::Connect(_))
    ));
}

/// A server whose first connection answers one request, then reads the next
/// and closes without answering (an instance closing an idle connection just
/// as a request is written); later connections answer every request.
async fn closes_after_one() -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
                    let _ = s
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .await;
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
    let (resp, lease) = pool.send(addr, get()).await.expect("first");
    assert_eq!(body(resp).await, "ok");
    lease.release();
    match pool.send(addr, get()).await {
        Err(SendError::Stale(_)) => {}
        Err(e) => panic!("want Stale, got {e:?}"),
        Ok(_) => panic!("the server closed without answering"),
    }
    let (resp, _lease) = pool.send(addr, get()).await.expect("a new connection");
    assert_eq!(body(resp).await, "ok");
}
