//! Handler state, the store keys this crate owns, and small shared helpers (UUIDs, clock).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

pub use shoal_catalog::now_ms;
use shoal_store::Store;

/// This crate's keys (defined with every other key in `shoal_catalog`).
pub use shoal_catalog::{
    CATALOG_CHECK_PREFIX, CATALOG_NODE_PREFIX, CATALOG_SERVICE_PREFIX, CHECK_PREFIX, CONSUL_PREFIX,
    EVENT_PREFIX, KVMETA_PREFIX, SERVICE_PREFIX, SESSION_PREFIX,
};

/// The datacenter every answer names.
pub const DATACENTER: &str = "dc1";

pub fn kvmeta_key(key: &str) -> String {
    format!("{KVMETA_PREFIX}{key}")
}
pub fn session_key(id: &str) -> String {
    format!("{SESSION_PREFIX}{id}")
}
pub fn service_key(id: &str) -> String {
    format!("{SERVICE_PREFIX}{id}")
}
pub fn check_key(id: &str) -> String {
    format!("{CHECK_PREFIX}{id}")
}

/// Shoal's metrics as Prometheus text (what `/metrics` serves), for `/v1/agent/metrics`.
pub type MetricsSource = Arc<dyn Fn() -> String + Send + Sync>;

/// What every Consul handler and the check runner can reach.
pub struct ConsulState {
    pub store: Arc<dyn Store>,
    /// The fleet view the supervised instances are read from; without one (tests of
    /// the Consul layer alone) they are read from the store.
    pub fleet: Option<shoal_fleet::FleetReader>,
    /// This agent's node name.
    pub node: String,
    /// The address this node is reached at (services registered without one get it).
    pub address: IpAddr,
    /// The HTTP API's address (for `agent/self`).
    pub http: SocketAddr,
    /// Where `/v1/agent/metrics` reads from; none: empty metrics.
    pub metrics: Option<MetricsSource>,
    /// Script checks may be registered (Consul's `enable_script_checks`).
    pub script_checks: bool,
}

impl ConsulState {
    pub fn new(store: Arc<dyn Store>, node: impl Into<String>, http: SocketAddr) -> Self {
        ConsulState {
            store,
            fleet: None,
            node: node.into(),
            address: http.ip(),
            http,
            metrics: None,
            script_checks: false,
        }
    }

    /// The same, taking script checks through the API when `enabled`.
    pub fn with_script_checks(mut self, enabled: bool) -> Self {
        self.script_checks = enabled;
        self
    }

    /// The same, with `/v1/agent/metrics` reading Shoal's metrics from `source`.
    pub fn with_metrics(mut self, source: MetricsSource) -> Self {
        self.metrics = Some(source);
        self
    }

    /// The same, with the supervised instances read from `fleet`.
    pub fn with_fleet(mut self, fleet: shoal_fleet::FleetReader) -> Self {
        self.fleet = Some(fleet);
        self
    }

    /// A stable UUID-shaped id for this node (Consul's `NodeID`), derived from its name.
    pub fn node_id(&self) -> String {
        let mut bytes = [0u8; 16];
        // FNV-1a over the name, spread over 16 bytes: stable, not secret.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for (i, b) in bytes.iter_mut().enumerate() {
            for c in self.node.bytes().chain([i as u8]) {
                h ^= u64::from(c);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            *b = (h >> 24) as u8;
        }
        format_uuid(bytes)
    }
}

/// A random (version 4) UUID, as Consul uses for session ids.
pub fn new_uuid() -> String {
    format_uuid(rand::random())
}

fn format_uuid(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_have_the_v4_shape() {
        let id = new_uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(id.as_bytes()[14], b'4');
        assert_ne!(id, new_uuid());
    }
}
