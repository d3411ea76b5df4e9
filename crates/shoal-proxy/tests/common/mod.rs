//! Test fixtures: real upstream HTTP servers on 127.0.0.1:0, tables built from
//! specs and catalog records, a proxy on a real socket, and a small client.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use shoal_catalog::InstanceRecord;
use shoal_proxy::{Hooks, Proxy, ProxyConfig, RouteTable};
use shoal_spec::{Command, ServiceSpec};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub const OK: u8 = 0;
pub const FAIL: u8 = 1;
pub const SLOW: u8 = 2;

/// A real HTTP server that answers with JSON describing what it received.
pub struct Upstream {
    pub name: String,
    pub addr: SocketAddr,
    pub hits: Arc<AtomicU64>,
    pub mode: Arc<AtomicU8>,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    pub async fn start(name: &str) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("addr");
        let hits = Arc::new(AtomicU64::new(0));
        let mode = Arc::new(AtomicU8::new(OK));
        let (h, m, n) = (hits.clone(), mode.clone(), name.to_owned());
        let task = tokio::spawn(async move {
            // Connections live in this set: aborting the server kills them all.
            let mut conns = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (h, m, n) = (h.clone(), m.clone(), n.clone());
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let (h, m, n) = (h.clone(), m.clone(), n.clone());
                    async move { Ok::<_, Infallible>(answer(&n, &h, &m, req).await) }
                });
                conns.spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Upstream {
            name: name.to_owned(),
            addr,
            hits,
            mode,
            task,
        }
    }

    pub fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }

    /// Kills the server and every open connection (like a crashed process).
    pub fn kill(&self) {
        self.task.abort();
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    name: &str,
    hits: &AtomicU64,
    mode: &AtomicU8,
    req: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    hits.fetch_add(1, Ordering::SeqCst);
    let mode = mode.load(Ordering::SeqCst);
    if mode == SLOW {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let headers: BTreeMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = serde_json::json!({
        "name": name,
        "method": req.method().as_str(),
        "path": req.uri().path_and_query().map_or("/", |p| p.as_str()),
        "headers": headers,
    });
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    if mode == FAIL {
        *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    }
    resp
}

pub fn spec(name: &str, version: &str) -> ServiceSpec {
    let mut s = ServiceSpec::new(name, Command::Argv(vec!["true".into()]));
    s.version = version.into();
    s
}

pub fn record(service: &str, u: &Upstream, version: &str) -> InstanceRecord {
    InstanceRecord::new(
        u.name.clone(),
        service,
        version,
        "n1",
        "127.0.0.1",
        u.addr.port(),
    )
}

pub fn table(
    specs: Vec<ServiceSpec>,
    records: &[InstanceRecord],
    previous: &RouteTable,
) -> RouteTable {
    let specs: BTreeMap<String, ServiceSpec> =
        specs.into_iter().map(|s| (s.name.clone(), s)).collect();
    RouteTable::build(&specs, records, &["shoal".into()], previous)
}

/// A proxy with `config` serving `table` on a gateway at 127.0.0.1:0; the task
/// ends when the proxy is shut down.
pub async fn serve(
    table: RouteTable,
    hooks: Hooks,
    config: ProxyConfig,
) -> (Arc<Proxy>, SocketAddr, tokio::task::JoinHandle<()>) {
    let proxy = Proxy::new(Arc::new(ArcSwap::from_pointee(table)), config, hooks);
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind gateway");
    let gateway = listener.local_addr().expect("addr");
    let serving = tokio::spawn(
        proxy
            .clone()
            .serve(listener, shoal_spec::GATEWAY_CALLER.to_owned()),
    );
    (proxy, gateway, serving)
}

/// The table of one service `svc` (version 1) whose one instance is `u`.
pub fn one_service(u: &Upstream) -> RouteTable {
    table(
        vec![spec("svc", "1")],
        &[record("svc", u, "1")],
        &RouteTable::default(),
    )
}

/// The status code of a raw HTTP answer (`HTTP/1.1 200 OK…`), 0 when there is none.
pub fn status_of(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// A proxy serving `table` with its gateway on 127.0.0.1:0.
pub struct Harness {
    pub proxy: Arc<Proxy>,
    pub gateway: SocketAddr,
}

impl Harness {
    pub async fn start(table: RouteTable, hooks: Hooks) -> Harness {
        let (proxy, gateway, _) = serve(table, hooks, ProxyConfig::default()).await;
        Harness { proxy, gateway }
    }

    pub fn swap(&self, table: RouteTable) {
        self.proxy.table().store(Arc::new(table));
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.proxy.shutdown();
    }
}

/// What a client got back.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
    pub text: String,
}

impl Answer {
    pub fn reason(&self) -> &str {
        self.headers
            .get("x-shoal-reason")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// A header as the upstream received it.
    pub fn seen(&self, name: &str) -> &str {
        self.body["headers"][name].as_str().unwrap_or("")
    }
}

pub type TestClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> TestClient {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

pub async fn send(
    c: &TestClient,
    addr: SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let mut b = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("host", host);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b.body(Full::new(Bytes::new())).expect("request");
    let resp = c.request(req).await.expect("proxy answered");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    Answer {
        status,
        headers,
        body,
        text,
    }
}

pub async fn get(c: &TestClient, addr: SocketAddr, host: &str, path: &str) -> Answer {
    send(c, addr, "GET", host, path, &[]).await
}
