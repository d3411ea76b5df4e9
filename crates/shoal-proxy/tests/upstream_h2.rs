//! Instances that speak HTTP/2 (`protocol = "h2c"`): a real hyper HTTP/2 server
//! behind the gateway, reached from HTTP/2 and HTTP/1.1 clients; trailers pass.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use common::Harness;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use shoal_catalog::InstanceRecord;
use shoal_proxy::{Hooks, RouteTable};
use shoal_spec::{Protocol, ResilienceSpec, ServiceSpec};
use tokio::net::TcpListener;

/// An HTTP/2-only server (prior knowledge) answering `seen: <what it got>` with a
/// `grpc-status: 0` trailer, like a gRPC server; counts its connections.
async fn h2_instance() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let svc = service_fn(|req: Request<Incoming>| async move {
                let (parts, body) = req.into_parts();
                let got = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let header = |n: &str| {
                    parts
                        .headers
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-")
                        .to_owned()
                };
                let text = format!(
                    "{} {} {:?} authority={} te={} x-version={} caller={} traceparent={} body={}",
                    parts.method,
                    parts.uri.path(),
                    parts.version,
                    parts.uri.authority().map_or("-", |a| a.as_str()),
                    header("te"),
                    header("x-version"),
                    header("x-shoal-caller"),
                    header("traceparent") != "-",
                    String::from_utf8_lossy(&got),
                );
                let mut trailers = HeaderMap::new();
                trailers.insert("grpc-status", HeaderValue::from_static("0"));
                let body = Full::new(Bytes::from(text))
                    .with_trailers(async move { Some(Ok::<_, Infallible>(trailers)) });
                Ok::<_, Infallible>(
                    Response::builder()
                        .header("content-type", "application/grpc")
                        .body(body)
                        .expect("response"),
                )
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, accepted)
}

/// The table of service `grpc` (`protocol = "h2c"`) with an instance at each of
/// `addrs`, its spec changed first by `adjust`.
fn h2c_table(addrs: &[SocketAddr], adjust: impl FnOnce(&mut ServiceSpec)) -> RouteTable {
    let records: Vec<InstanceRecord> = addrs
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let id = format!("grpc-{}", i + 1);
            InstanceRecord::new(id, "grpc", "1", "n1", "127.0.0.1", a.port())
        })
        .collect();
    let mut spec = common::spec("grpc", "1");
    spec.protocol = Protocol::H2c;
    adjust(&mut spec);
    common::table(vec![spec], &records, &RouteTable::default())
}

/// A client speaking HTTP/2 with prior knowledge.
fn h2_client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build(HttpConnector::new())
}

async fn harness() -> (Harness, Arc<AtomicUsize>) {
    let (addr, accepted) = h2_instance().await;
    let table = h2c_table(&[addr], |_| {});
    (Harness::start(table, Hooks::default()).await, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_clients_reach_an_h2c_instance_with_trailers() {
    let (h, accepted) = harness().await;
    let client = h2_client();
    for i in 0..5 {
        let req = Request::builder()
            .method("POST")
            .uri(format!("http://{}/echo.Echo/Say", h.gateway))
            .header("host", "grpc")
            .header("te", "trailers")
            .header("content-type", "application/grpc")
            .body(Full::new(Bytes::from(format!("hello {i}"))))
            .expect("request");
        let resp = client.request(req).await.expect("answer");
        assert_eq!(resp.status(), 200);
        assert!(resp.headers().contains_key("x-trace-id"));
        let collected = resp.into_body().collect().await.expect("body");
        let trailers = collected.trailers().cloned().unwrap_or_default();
        let text = String::from_utf8_lossy(&collected.to_bytes()).into_owned();
        assert_eq!(
            text,
            format!(
                "POST /echo.Echo/Say HTTP/2.0 authority=grpc te=trailers x-version=1 \
                 caller=gateway traceparent=true body=hello {i}"
            )
        );
        assert_eq!(
            trailers.get("grpc-status").map(HeaderValue::as_bytes),
            Some(&b"0"[..]),
            "the instance's trailers reach an HTTP/2 client"
        );
    }
    // Requests share HTTP/2 connections: at most one per serving thread.
    let conns = accepted.load(Ordering::SeqCst);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(
        (1..=threads).contains(&conns),
        "{conns} connections for 5 requests"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_clients_reach_an_h2c_instance() {
    let (h, _) = harness().await;
    let c = common::client();
    let a = common::send(&c, h.gateway, "GET", "grpc", "/x?y=1", &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(
        a.text,
        "GET /x HTTP/2.0 authority=grpc te=- x-version=1 caller=gateway traceparent=true body="
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2c_instance_that_is_gone_is_a_503_of_shoals_own() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let table = h2c_table(&[SocketAddr::from(([127, 0, 0, 1], port))], |_| {});
    let h = Harness::start(table, Hooks::default()).await;
    let a = common::send(&common::client(), h.gateway, "GET", "grpc", "/", &[]).await;
    assert_eq!(a.status, 503, "{}", a.text);
    assert_eq!(a.reason(), "no-healthy-instance");
}

/// A body that sends `first` and then nothing more, never ending.
struct Stall(Option<Bytes>);

impl hyper::body::Body for Stall {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.0.take() {
            Some(b) => Poll::Ready(Some(Ok(Frame::data(b)))),
            None => Poll::Pending,
        }
    }
}

/// An HTTP/2 instance whose answers stall after their first bytes: the call's
/// timeout since the last frame ends the answer, as for HTTP/1.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_h2c_answer_is_cut_after_the_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let svc = service_fn(|_req: Request<Incoming>| async move {
                Ok::<_, Infallible>(Response::new(Stall(Some(Bytes::from_static(b"first")))))
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    let timeout = Duration::from_millis(300);
    let table = h2c_table(&[addr], |spec| {
        spec.resilience = Some(ResilienceSpec {
            timeout: Some(timeout),
            ..ResilienceSpec::default()
        });
    });
    let h = Harness::start(table, Hooks::default()).await;
    let client = h2_client();
    let req = Request::builder()
        .uri(format!("http://{}/watch", h.gateway))
        .header("host", "grpc")
        .body(Full::new(Bytes::new()))
        .expect("request");
    let started = tokio::time::Instant::now();
    let resp = client.request(req).await.expect("answer head");
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let first = body.frame().await.expect("a frame").expect("data");
    assert_eq!(first.into_data().ok(), Some(Bytes::from_static(b"first")));
    let rest = tokio::time::timeout(Duration::from_secs(10), body.frame()).await;
    let ended = rest.expect("a stalled answer held the stream open");
    assert!(
        !matches!(ended, Some(Ok(_))),
        "no more data was sent, yet got {ended:?}"
    );
    assert!(started.elapsed() >= timeout, "cut before the timeout");
}

/// A streamed request body is still bounded: past the body limit the client
/// gets Shoal's 413, and the instance is not blamed (no retry, no ejection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_body_over_the_limit_is_a_413_and_not_the_instances_fault() {
    let (addr, _) = h2_instance().await;
    let table = h2c_table(&[addr], |_| {});
    let config = shoal_proxy::ProxyConfig {
        max_body_bytes: 1024,
        ..shoal_proxy::ProxyConfig::default()
    };
    let (proxy, gateway, _serving) = common::serve(table, Hooks::default(), config).await;
    let client = h2_client();
    let post = |size: usize| {
        Request::builder()
            .method("POST")
            .uri(format!("http://{gateway}/upload"))
            .header("host", "grpc")
            .body(Full::new(Bytes::from(vec![b'x'; size])))
            .expect("request")
    };
    for _ in 0..6 {
        let resp = client.request(post(8 * 1024)).await.expect("answer");
        assert_eq!(resp.status(), 413);
        assert_eq!(
            resp.headers()
                .get("x-shoal-reason")
                .map(HeaderValue::as_bytes),
            Some(&b"too-large"[..])
        );
    }
    let resp = client.request(post(512)).await.expect("answer");
    assert_eq!(resp.status(), 200, "the instance still takes requests");
    let snap = proxy.snapshot();
    let svc = &snap.services["grpc"];
    assert_eq!((svc.retries, svc.ejections), (0, 0));
    assert!(svc.instances.iter().all(|i| i.ejected_ms.is_none()));
    proxy.shutdown();
}

/// An HTTP/2 instance that closes each connection gracefully (GOAWAY) after
/// `n` requests, as nginx does after `keepalive_requests`; answers with the
/// size of the body it got.
async fn h2_instance_closing_after(n: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let served = Arc::new(AtomicUsize::new(0));
            let enough = Arc::new(tokio::sync::Notify::new());
            let (s, e) = (served.clone(), enough.clone());
            let svc = service_fn(move |req: Request<Incoming>| {
                let (s, e) = (s.clone(), e.clone());
                async move {
                    let got = req.into_body().collect().await.map(|b| b.to_bytes());
                    if s.fetch_add(1, Ordering::SeqCst) + 1 == n {
                        e.notify_one();
                    }
                    let text = format!("got {}", got.map_or(0, |b| b.len()));
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text))))
                }
            });
            tokio::spawn(async move {
                let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc);
                tokio::pin!(conn);
                tokio::select! {
                    _ = conn.as_mut() => {}
                    () = enough.notified() => {
                        conn.as_mut().graceful_shutdown();
                        let _ = conn.await;
                    }
                }
            });
        }
    });
    addr
}

/// Instances close HTTP/2 connections (GOAWAY) all the time; requests caught
/// in between were not taken and go again on a new connection, POSTs with
/// streamed bodies included: no client sees a failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_refused_by_a_closing_connection_go_again() {
    let addr = h2_instance_closing_after(25).await;
    let table = h2c_table(&[addr], |_| {});
    let h = Harness::start(table, Hooks::default()).await;
    let client = h2_client();
    let mut failed = Vec::new();
    for _ in 0..20 {
        let mut batch = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (client, gateway) = (client.clone(), h.gateway);
            batch.spawn(async move {
                let req = Request::builder()
                    .method("POST")
                    .uri(format!("http://{gateway}/upload"))
                    .header("host", "grpc")
                    .body(Full::new(Bytes::from(vec![b'x'; 64])))
                    .expect("request");
                let resp = client.request(req).await.expect("answer");
                let status = resp.status().as_u16();
                let body = resp.into_body().collect().await.expect("body").to_bytes();
                (status, body)
            });
        }
        while let Some(r) = batch.join_next().await {
            let (status, body) = r.expect("task");
            if status != 200 || body != "got 64" {
                failed.push((status, String::from_utf8_lossy(&body).into_owned()));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} of 400 failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
}

/// An HTTP/2 "instance" that resets every stream it is sent (RST_STREAM with
/// error `code`; 7, REFUSED_STREAM: it takes no request, as a server at its
/// limit); counts its connections.
async fn h2_instance_resetting(code: u8) -> (SocketAddr, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const PREFACE: usize = 24;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                // Its SETTINGS (empty) and the ACK of the client's.
                let hello = [0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0];
                if stream.write_all(&hello).await.is_err() {
                    return;
                }
                let mut buf = Vec::new();
                let mut at = PREFACE;
                let mut chunk = [0u8; 4096];
                loop {
                    match stream.read(&mut chunk).await {
                        Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                        _ => return,
                    }
                    // Every whole frame: a HEADERS frame opens a stream, refused at once.
                    while buf.len() >= at + 9 {
                        let len = usize::from(buf[at]) << 16
                            | usize::from(buf[at + 1]) << 8
                            | usize::from(buf[at + 2]);
                        if buf.len() < at + 9 + len {
                            break;
                        }
                        if buf[at + 3] == 1 {
                            let id = &buf[at + 5..at + 9];
                            let mut rst = vec![0, 0, 4, 3, 0];
                            rst.extend_from_slice(id);
                            rst.extend_from_slice(&[0, 0, 0, code]);
                            if stream.write_all(&rst).await.is_err() {
                                return;
                            }
                        }
                        at += 9 + len;
                    }
                }
            });
        }
    });
    (addr, accepted)
}

/// An instance that takes no request (refuses every stream, even on a new
/// connection) counts as one that cannot be reached: even a POST goes on to
/// another instance, and the client sees no failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_takes_no_request_is_passed_over() {
    let (bad, _) = h2_instance_resetting(7).await;
    let (good, _) = h2_instance().await;
    let table = h2c_table(&[bad, good], |_| {});
    let h = Harness::start(table, Hooks::default()).await;
    let client = h2_client();
    for i in 0..20 {
        let req = Request::builder()
            .method("POST")
            .uri(format!("http://{}/echo.Echo/Say", h.gateway))
            .header("host", "grpc")
            .body(Full::new(Bytes::from(format!("m{i}"))))
            .expect("request");
        let resp = client.request(req).await.expect("answer");
        let status = resp.status();
        let text = resp.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(status, 200, "request {i}: {text:?}");
        assert!(text.ends_with(format!("body=m{i}").as_bytes()));
    }
}

/// A reset of one stream is that request's failure, not the connection's:
/// the next requests go on the same connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_stream_leaves_the_connection_in_use() {
    const INTERNAL_ERROR: u8 = 2;
    let (addr, accepted) = h2_instance_resetting(INTERNAL_ERROR).await;
    let table = h2c_table(&[addr], |_| {});
    let h = Harness::start(table, Hooks::default()).await;
    let c = common::client();
    for _ in 0..10 {
        let a = common::send(&c, h.gateway, "GET", "grpc", "/", &[]).await;
        assert_eq!(a.status, 502, "{}", a.text);
        assert!(a.text.contains("stream error received"), "{}", a.text);
    }
    let conns = accepted.load(Ordering::SeqCst);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(
        (1..=threads).contains(&conns),
        "{conns} connections for 10 requests"
    );
}

/// How a gRPC test server reports its status.
#[derive(Clone, Copy, Debug)]
enum Status {
    /// In the head of an answer with no message (trailers-only), as a server
    /// reports an error before any message.
    InHead(&'static str),
    /// In trailers after one message, as a server reports the end of a call
    /// (or an error after it began to answer).
    AfterMessage(&'static str),
}

/// An HTTP/2 server that answers every gRPC call with `status`; counts calls.
async fn grpc_instance(status: Status) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let calls = Arc::new(AtomicUsize::new(0));
    let count = calls.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let count = count.clone();
            let svc = service_fn(move |_req: Request<Incoming>| {
                count.fetch_add(1, Ordering::SeqCst);
                let answer = Response::builder().header("content-type", "application/grpc+proto");
                let answer = match status {
                    Status::InHead(code) => answer
                        .header("grpc-status", code)
                        .header("grpc-message", "down")
                        .body(Full::new(Bytes::new()).boxed()),
                    Status::AfterMessage(code) => {
                        let mut trailers = HeaderMap::new();
                        trailers.insert("grpc-status", HeaderValue::from_static(code));
                        let body = Full::new(Bytes::from_static(b"\0\0\0\0\x02hi"))
                            .with_trailers(async move { Some(Ok::<_, Infallible>(trailers)) });
                        answer.body(body.boxed())
                    }
                };
                async move { Ok::<_, Infallible>(answer.expect("response")) }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, calls)
}

/// `n` gRPC calls through `h`, each answer read to its end: for each, Shoal's
/// `X-Shoal-Reason` if it answered itself, and the gRPC status (head or trailers).
async fn grpc_calls(h: &Harness, n: usize) -> Vec<(Option<String>, String)> {
    let client = h2_client();
    let mut seen = Vec::new();
    for _ in 0..n {
        let req = Request::builder()
            .method("POST")
            .uri(format!("http://{}/pkg.Svc/Call", h.gateway))
            .header("host", "grpc")
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(Full::new(Bytes::from_static(b"\0\0\0\0\0")))
            .expect("request");
        let resp = client.request(req).await.expect("answer");
        let text = |v: Option<&HeaderValue>| v.and_then(|v| v.to_str().ok()).map(str::to_owned);
        let reason = text(resp.headers().get("x-shoal-reason"));
        let in_head = text(resp.headers().get("grpc-status"));
        let body = resp.into_body().collect().await.expect("body");
        let status = in_head
            .or_else(|| text(body.trailers().and_then(|t| t.get("grpc-status"))))
            .unwrap_or_else(|| "none".into());
        seen.push((reason, status));
    }
    seen
}

/// gRPC errors come as HTTP 200 with the status in the head (trailers-only,
/// an error before any message) or in trailers after messages. Either way
/// UNAVAILABLE counts as a failure, so the instance is ejected and calls go
/// to the good one; NOT_FOUND (the caller's answer) and OK blame no one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_failures_eject_the_instance_wherever_the_status_comes() {
    use Status::{AfterMessage, InHead};
    let cases = [
        (InHead("14"), true),
        (InHead("5"), false),
        (AfterMessage("14"), true),
        (AfterMessage("0"), false),
    ];
    for (status, blamed) in cases {
        let (bad, bad_calls) = grpc_instance(status).await;
        let (good, _) = h2_instance().await;
        // Round robin: the failing instance gets every other call whatever
        // the latencies (least-loaded may leave it after one quick failure
        // when the machine is busy, and nothing is left to eject).
        let table =
            h2c_table(&[bad, good], |_| {}).with_strategy(shoal_proxy::Strategy::RoundRobin);
        let h = Harness::start(table, Hooks::default()).await;
        let seen = grpc_calls(&h, 40).await;
        let code = match status {
            InHead(c) | AfterMessage(c) => c,
        };
        let snap = h.proxy.snapshot();
        let svc = &snap.services["grpc"];
        // Ejected at some point (an ejection lasts 1 s, so on a slow machine it
        // may be over by now); never, when the status blames no one.
        let ejected_now = svc
            .instances
            .iter()
            .any(|i| i.id == "grpc-1" && i.ejected_ms.is_some());
        let calls = bad_calls.load(Ordering::SeqCst);
        assert_eq!(
            svc.ejections > 0,
            blamed,
            "{status:?}: ejections={} calls to the failing instance={calls}",
            svc.ejections
        );
        assert!(blamed || !ejected_now, "{status:?}: ejected");
        // Every status reached the client, wherever it came.
        let from_bad = seen.iter().filter(|(_, s)| s == code).count();
        assert!(from_bad >= calls, "{status:?}: {seen:?}");
        if blamed {
            assert!(
                calls < 20,
                "{status:?}: {calls} of 40 calls still went to it"
            );
        }
        h.proxy.shutdown();
    }
}

/// The breaker hears a trailers status too: calls that all end UNAVAILABLE
/// open the circuit, and the rest are refused without reaching the instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_errors_in_trailers_open_the_circuit() {
    let (bad, bad_calls) = grpc_instance(Status::AfterMessage("14")).await;
    let table = h2c_table(&[bad], |s| {
        s.resilience = Some(ResilienceSpec {
            circuit: Some(shoal_spec::CircuitSpec {
                error_rate: 0.5,
                min_requests: 5,
                window: Duration::from_secs(10),
                open_for: Duration::from_secs(30),
            }),
            ..Default::default()
        });
    });
    let h = Harness::start(table, Hooks::default()).await;
    let seen = grpc_calls(&h, 20).await;
    let refused = seen.iter().filter(|(r, _)| r.is_some()).count();
    let snap = h.proxy.snapshot();
    assert_eq!(
        snap.services["grpc"].circuit,
        Some(shoal_proxy::breaker::CircuitState::Open),
        "calls to the instance: {}",
        bad_calls.load(Ordering::SeqCst)
    );
    assert_eq!(bad_calls.load(Ordering::SeqCst), 5, "refused {refused}");
    assert_eq!(refused, 15);
    h.proxy.shutdown();
}
