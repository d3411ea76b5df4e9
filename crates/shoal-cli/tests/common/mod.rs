//! The real API on 127.0.0.1:0 over an embedded store in a temp dir, with its fleet
//! view, and a CLI client of it: what each test file of this crate starts from.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Instant;

use shoal_cli::Client;
use shoal_store::{EmbeddedOptions, EmbeddedStore, Store};

/// A served API and a client of it; the API stops when this is dropped.
pub struct Platform {
    pub client: Client,
    pub store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Serves the API (with `flag_counts` as the gateway's last minute).
pub async fn platform_with(flag_counts: Option<shoal_api::FlagCounts>) -> Platform {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let store = EmbeddedStore::open(&dir.path().join("store"), EmbeddedOptions::default())
        .await
        .unwrap_or_else(|e| panic!("store: {e}"));
    let store: Arc<dyn Store> = store;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let (fleet, view) = shoal_fleet::start(store.clone(), std::future::pending());
    tokio::spawn(view);
    let state = Arc::new(shoal_api::ApiState {
        fleet,
        store: store.clone(),
        logs: Arc::new(shoal_logs::LogStore::new(shoal_logs::LogLimits::default())),
        node: "test".into(),
        http: addr,
        gateway: addr,
        started: Instant::now(),
        keyring: Arc::new(
            shoal_secrets::Keyring::from_bytes(&[7u8; 32]).unwrap_or_else(|e| panic!("{e}")),
        ),
        tokens: shoal_api::Tokens::default(),
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
    let client =
        Client::new(&format!("http://{addr}"), None).unwrap_or_else(|e| panic!("client: {e}"));
    Platform {
        client,
        store,
        _dir: dir,
        _stop: stop,
    }
}
