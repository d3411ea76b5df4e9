//! Shared handler state and the store reads several handlers need.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use shoal_catalog::{decode, InstanceRecord, CATALOG_PREFIX, SCALE_PREFIX, SPEC_PREFIX};
use shoal_logs::LogStore;
use shoal_spec::ServiceSpec;
use shoal_store::{Store, StoreError};

/// What every handler can reach.
pub struct ApiState {
    pub store: Arc<dyn Store>,
    pub logs: Arc<LogStore>,
    pub node: String,
    pub http: SocketAddr,
    pub gateway: SocketAddr,
    pub started: Instant,
    pub keyring: Arc<shoal_secrets::Keyring>,
    pub tokens: crate::auth::Tokens,
    pub events: Arc<shoal_events::EventLog>,
    /// The data plane's state (breakers, ejections, shed counts, outbound listeners).
    pub proxy: Option<ProxyView>,
    /// The errors view (`/api/v1/errors`), when set.
    pub errors: Option<Arc<shoal_errors::Errors>>,
    /// `/metrics` and `/api/v1/metrics/*` are served when set.
    pub metrics: Option<Arc<shoal_metrics::Metrics>>,
    /// `/api/v1/traces` answers from these spans when set.
    pub traces: Option<Arc<dyn shoal_traces::SpanSource>>,
    /// The directory `shoal up` resolved its service file's relative paths against:
    /// files submitted to `/api/v1/deploy` are read as if they were there (instances
    /// run in it).
    pub base_dir: PathBuf,
}

/// Produces the proxy's state as JSON on demand.
pub type ProxyView = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

/// One consistent read of specs, scale overrides and the catalog.
pub struct Snapshot {
    pub revision: i64,
    pub specs: BTreeMap<String, ServiceSpec>,
    pub overrides: BTreeMap<String, u32>,
    pub instances: Vec<InstanceRecord>,
}

impl ApiState {
    pub async fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let all = self.store.range("shoal/").await?;
        let mut snap = Snapshot {
            revision: all.revision,
            specs: BTreeMap::new(),
            overrides: BTreeMap::new(),
            instances: Vec::new(),
        };
        for kv in &all.kvs {
            if kv.key.starts_with(SPEC_PREFIX) {
                if let Ok(s) = decode::<ServiceSpec>(&kv.key, &kv.value) {
                    snap.specs.insert(s.name.clone(), s);
                }
            } else if let Some(name) = kv.key.strip_prefix(SCALE_PREFIX) {
                if let Ok(o) = decode::<shoal_catalog::ScaleOverride>(&kv.key, &kv.value) {
                    snap.overrides.insert(name.to_string(), o.instances);
                }
            } else if kv.key.starts_with(CATALOG_PREFIX) {
                if let Ok(r) = decode::<InstanceRecord>(&kv.key, &kv.value) {
                    snap.instances.push(r);
                }
            }
        }
        Ok(snap)
    }
}
