//! Every key prefix of the store, and helpers that build and parse keys: what
//! the platform knows is found from this one file.

/// Desired service specs: `shoal/spec/<service>` → JSON `ServiceSpec`.
pub const SPEC_PREFIX: &str = "shoal/spec/";
/// Scale overrides set by `shoal scale`: `shoal/scale/<service>` → JSON [`crate::ScaleOverride`].
pub const SCALE_PREFIX: &str = "shoal/scale/";
/// The autoscaler's memory of a service (recommendations in its stabilization
/// window, last scale-up, last decision): `shoal/autoscale/<service>` → JSON (shoal-scale).
pub const AUTOSCALE_PREFIX: &str = "shoal/autoscale/";
/// Restart requests: `shoal/restart/<instance>` → JSON [`crate::RestartRequest`].
pub const RESTART_PREFIX: &str = "shoal/restart/";
/// The catalog: `shoal/catalog/<service>/<instance>` → JSON [`crate::InstanceRecord`].
pub const CATALOG_PREFIX: &str = "shoal/catalog/";
/// Deployments: `shoal/deploy/<service>` → the service's latest deployment (JSON).
pub const DEPLOY_PREFIX: &str = "shoal/deploy/";
/// Past deployments: `shoal/history/<service>/<id, 20 digits>` → JSON, the newest kept.
pub const HISTORY_PREFIX: &str = "shoal/history/";
/// Feature flags: `shoal/flags/<name>` → JSON flag (shoal-flags), read by the proxy
/// on every change and by the OFREP endpoints.
pub const FLAG_PREFIX: &str = "shoal/flags/";
/// Chaos experiments (shoal-chaos): `shoal/chaos/<id>` → JSON `Experiment`, each with its
/// end time; the proxy applies the faults, the monkey kills, a sweeper deletes ended ones.
pub const CHAOS_PREFIX: &str = "shoal/chaos/";
/// What `shoal up` applied last: `shoal/applied/up` → the file's services (JSON).
/// The same file again is not deployed again.
pub const APPLIED_KEY: &str = "shoal/applied/up";
/// Secrets: `shoal/secret/<name>` → the live versions, each encrypted (shoal-secrets).
pub const SECRET_PREFIX: &str = "shoal/secret/";
/// Metadata of KV entries (flags, lock index, session): `shoal/kvmeta/<key>` → JSON.
/// Written in the same transaction as `kv/<key>`, whose value stays the raw bytes.
pub const KVMETA_PREFIX: &str = "shoal/kvmeta/";
/// Everything else the Consul view (shoal-consul) owns lives under here.
pub const CONSUL_PREFIX: &str = "shoal/consul/";
/// Consul sessions: `shoal/consul/sessions/<uuid>` → JSON, attached to a lease when they have a TTL.
pub const SESSION_PREFIX: &str = "shoal/consul/sessions/";
/// Services registered through the Consul agent API: `shoal/consul/services/<id>` → JSON.
pub const SERVICE_PREFIX: &str = "shoal/consul/services/";
/// Checks registered through the Consul agent API: `shoal/consul/checks/<id>` → JSON.
pub const CHECK_PREFIX: &str = "shoal/consul/checks/";
/// Nodes registered through the Consul catalog API (`PUT /v1/catalog/register`, external
/// nodes as consul-esm and Terraform write them): `shoal/consul/catalog/nodes/<node>` → JSON.
pub const CATALOG_NODE_PREFIX: &str = "shoal/consul/catalog/nodes/";
/// Their services: `shoal/consul/catalog/services/<node>/<service id>` → JSON.
pub const CATALOG_SERVICE_PREFIX: &str = "shoal/consul/catalog/services/";
/// Their checks (statuses set by the caller, never run): `shoal/consul/catalog/checks/<node>/<check id>`.
pub const CATALOG_CHECK_PREFIX: &str = "shoal/consul/catalog/checks/";
/// Consul user events (`PUT /v1/event/fire`), the newest 256 kept:
/// `shoal/consul/events/<lamport time, 20 digits>` → the event's JSON.
pub const EVENT_PREFIX: &str = "shoal/consul/events/";
/// Consul prepared queries (`/v1/query`): `shoal/consul/queries/<id>` → JSON
/// [`crate::PreparedQuery`], read by the Consul API and, through the fleet view, by DNS
/// (`<name>.query.<domain>`).
pub const PREPARED_QUERY_PREFIX: &str = "shoal/consul/queries/";
/// The user's key/value configuration (Consul KV view): `kv/<key>` → raw bytes.
pub const KV_PREFIX: &str = "kv/";
// Placements (cluster mode), `shoal/placement/<node>/<instance>`: see `placement.rs`.
/// Leader election (shoal-cluster): `shoal/leader/<role>` → the leader's node name, attached
/// to the leader's lease. The key's create revision is the leader's fencing revision: every
/// controller write is conditioned on it, so a stale leader's writes fail.
pub const LEADER_PREFIX: &str = "shoal/leader/";
/// Live nodes (shoal-cluster): `shoal/nodes/<name>` → JSON `NodeRecord`, attached to the
/// node's lease, so it vanishes when the node stops keeping the lease alive.
pub const NODE_PREFIX: &str = "shoal/nodes/";
/// Nodes once registered (shoal-cluster): `shoal/nodes-seen/<name>` → JSON `NodeSeen` (the
/// last record and when it was last seen), without a lease: a node whose live record is gone
/// is known to be gone (suspect, then lost) rather than never to have existed.
pub const NODE_SEEN_PREFIX: &str = "shoal/nodes-seen/";

pub fn chaos_key(id: &str) -> String {
    format!("{CHAOS_PREFIX}{id}")
}

pub fn spec_key(service: &str) -> String {
    format!("{SPEC_PREFIX}{service}")
}

pub fn scale_key(service: &str) -> String {
    format!("{SCALE_PREFIX}{service}")
}

pub fn autoscale_key(service: &str) -> String {
    format!("{AUTOSCALE_PREFIX}{service}")
}

pub fn restart_key(instance: &str) -> String {
    format!("{RESTART_PREFIX}{instance}")
}

pub fn catalog_prefix() -> &'static str {
    CATALOG_PREFIX
}

pub fn catalog_service_prefix(service: &str) -> String {
    format!("{CATALOG_PREFIX}{service}/")
}

pub fn catalog_key(service: &str, instance: &str) -> String {
    format!("{CATALOG_PREFIX}{service}/{instance}")
}

pub fn deploy_key(service: &str) -> String {
    format!("{DEPLOY_PREFIX}{service}")
}

pub fn history_prefix(service: &str) -> String {
    format!("{HISTORY_PREFIX}{service}/")
}

/// Zero-padded so the keys of one service sort by id.
pub fn history_key(service: &str, id: u64) -> String {
    format!("{HISTORY_PREFIX}{service}/{id:020}")
}

pub fn flag_key(name: &str) -> String {
    format!("{FLAG_PREFIX}{name}")
}

pub fn prepared_query_key(id: &str) -> String {
    format!("{PREPARED_QUERY_PREFIX}{id}")
}

pub fn kv_key(key: &str) -> String {
    format!("{KV_PREFIX}{key}")
}

pub fn leader_key(role: &str) -> String {
    format!("{LEADER_PREFIX}{role}")
}

pub fn node_key(name: &str) -> String {
    format!("{NODE_PREFIX}{name}")
}

pub fn node_seen_key(name: &str) -> String {
    format!("{NODE_SEEN_PREFIX}{name}")
}

/// The node name of a `shoal/nodes/<name>` or `shoal/nodes-seen/<name>` key.
pub fn parse_node_key(key: &str) -> Option<&str> {
    let name = key
        .strip_prefix(NODE_PREFIX)
        .or_else(|| key.strip_prefix(NODE_SEEN_PREFIX))?;
    (!name.is_empty() && !name.contains('/')).then_some(name)
}

/// Splits a catalog key into `(service, instance)`.
pub fn parse_catalog_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(CATALOG_PREFIX)?;
    let (service, instance) = rest.split_once('/')?;
    if service.is_empty() || instance.is_empty() || instance.contains('/') {
        return None;
    }
    Some((service, instance))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_keys_round_trip() {
        let key = catalog_key("web", "web-1-ab12");
        assert_eq!(parse_catalog_key(&key), Some(("web", "web-1-ab12")));
        assert_eq!(parse_catalog_key("shoal/catalog/web"), None);
        assert_eq!(parse_catalog_key("shoal/catalog//x"), None);
        assert_eq!(parse_catalog_key("kv/x"), None);
    }

    #[test]
    fn node_keys_round_trip_and_the_two_prefixes_stay_apart() {
        assert_eq!(parse_node_key(&node_key("n1")), Some("n1"));
        assert_eq!(parse_node_key(&node_seen_key("n1")), Some("n1"));
        assert_eq!(parse_node_key("shoal/nodes/"), None);
        assert_eq!(parse_node_key("shoal/nodes/a/b"), None);
        assert!(!node_seen_key("n1").starts_with(NODE_PREFIX));
        assert_eq!(leader_key("scheduler"), "shoal/leader/scheduler");
    }
}
