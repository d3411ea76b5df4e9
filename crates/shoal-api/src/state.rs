//! Shared handler state and the store reads several handlers need.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use std::time::Duration;

use shoal_fleet::{Fleet, FleetReader};
use shoal_logs::LogStore;
use shoal_store::{Store, StoreError};

/// What every handler can reach.
pub struct ApiState {
    pub store: Arc<dyn Store>,
    /// The fleet view (specs, deployments, instances, overrides) every read of the
    /// fleet answers from.
    pub fleet: FleetReader,
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
    /// Evaluations of each flag in the last minute (flag → value → count), shown by
    /// `/api/v1/flags`; without it every flag shows `"evaluations": {}`.
    pub flag_counts: Option<FlagCounts>,
    /// Cluster mode (`shoal agent`): how long a node without its lease counts as suspect
    /// before it is lost. `None` with `shoal up` (one machine).
    pub cluster_grace: Option<std::time::Duration>,
    /// Whether chaos experiments may be started (`[platform] chaos = true`).
    pub chaos: bool,
    /// Whether the Consul agent API takes script checks (`[platform] enable_script_checks`).
    pub script_checks: bool,
    /// This node's profiler (`/api/v1/profiles`); without it those answer 501.
    pub profiler: Option<Arc<shoal_profile::Profiler>>,
}

/// Produces the gateway's evaluations of the last minute: flag → value → count.
pub type FlagCounts = Arc<dyn Fn() -> BTreeMap<String, BTreeMap<String, u64>> + Send + Sync>;

/// Produces the proxy's state as JSON on demand.
pub type ProxyView = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

/// How long a read waits for the fleet view to catch up with the store before it
/// reads the store itself.
const CATCH_UP: Duration = Duration::from_secs(2);

impl ApiState {
    /// The fleet as the store holds it now: the view's snapshot once it has applied
    /// every write acknowledged before this call (so a client reads its own writes).
    ///
    /// When the store cannot be reached (etcd without quorum), the view's last snapshot
    /// answers instead: it is what the gateway routes by (static stability), and
    /// `/api/v1/agent` says that the store is unreachable.
    pub async fn fleet(&self) -> Result<Arc<Fleet>, StoreError> {
        match self.fleet.fresh(self.store.as_ref(), CATCH_UP).await {
            Err(StoreError::Io(e)) if self.fleet.current().revision > 0 => {
                tracing::warn!(error = %e, "store unreachable: answering from the last fleet view");
                Ok(self.fleet.current())
            }
            other => other,
        }
    }

    /// Whether the store answers within a second: `(reachable, revision or error)`.
    pub async fn store_health(&self) -> serde_json::Value {
        let check = tokio::time::timeout(Duration::from_secs(1), self.store.revision()).await;
        match check {
            Ok(Ok(revision)) => serde_json::json!({ "reachable": true, "revision": revision }),
            Ok(Err(e)) => serde_json::json!({ "reachable": false, "error": e.to_string(),
                "serving_from_revision": self.fleet.current().revision }),
            Err(_) => serde_json::json!({ "reachable": false, "error": "no answer within 1 s",
                "serving_from_revision": self.fleet.current().revision }),
        }
    }
}
