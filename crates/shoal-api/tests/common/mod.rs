//! The API served on 127.0.0.1:0 over a real embedded store in a temp dir, with its
//! fleet view: what each test file of this crate starts from.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use shoal_api::{ApiState, FlagCounts, Tokens};
use shoal_store::{EmbeddedOptions, EmbeddedStore};

/// A served API; it stops when dropped.
pub struct Served {
    pub addr: SocketAddr,
    pub client: Client<HttpConnector, Full<Bytes>>,
    /// The store's directory, also the API's base dir for deployed files.
    pub dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Serves the API with `tokens` (and `flag_counts` as the gateway's last minute).
pub async fn serve(tokens: Tokens, flag_counts: Option<FlagCounts>) -> Served {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let store = EmbeddedStore::open(&dir.path().join("store"), EmbeddedOptions::default())
        .await
        .unwrap_or_else(|e| panic!("store: {e}"));
    let keyring = shoal_secrets::Keyring::from_bytes(&[7u8; 32]).unwrap_or_else(|e| panic!("{e}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let dyn_store: Arc<dyn shoal_store::Store> = store.clone();
    let (fleet, view) = shoal_fleet::start(dyn_store, std::future::pending());
    tokio::spawn(view);
    let state = Arc::new(ApiState {
        fleet,
        store,
        logs: Arc::new(shoal_logs::LogStore::new(shoal_logs::LogLimits::default())),
        node: "test".into(),
        http: addr,
        gateway: addr,
        started: Instant::now(),
        keyring: Arc::new(keyring),
        tokens,
        events: Arc::new(shoal_events::EventLog::new(100)),
        proxy: None,
        errors: None,
        metrics: None,
        traces: None,
        base_dir: dir.path().to_path_buf(),
        flag_counts,
        cluster_grace: None,
        profiler: None,
        script_checks: false,
        chaos: true,
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(shoal_api::serve(listener, state, async {
        let _ = stopped.await;
    }));
    Served {
        addr,
        client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        dir,
        _stop: stop,
    }
}

impl Served {
    /// Sends `body` as is with `headers`; answers the status, headers and raw body.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, Bytes) {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap_or_else(|e| panic!("request: {e}"));
        let resp = self
            .client
            .request(req)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let (status, headers) = (resp.status(), resp.headers().clone());
        let bytes = resp
            .into_body()
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .to_bytes();
        (status, headers, bytes)
    }

    /// A JSON call without a token; the answer as JSON (`null` when it is not).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_as(method, path, body, None).await
    }

    /// A JSON call with `token` as its bearer token, when given.
    pub async fn call_as(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        let body = body.map_or_else(String::new, |b| b.to_string());
        let bearer = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = bearer
            .as_deref()
            .map(|b| ("authorization", b))
            .into_iter()
            .collect();
        let (status, _, bytes) = self.raw(method, path, &body, &headers).await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}
