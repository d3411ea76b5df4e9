//! The Consul API areas Shoal does not provide: each answers 501 with a JSON error that
//! says so and what to use instead, never a bare 404 that reads like a typo.

use axum::http::Uri;

use crate::error::ConsulError;

/// (path prefix, what it is and what Shoal offers instead). Matched in order.
pub const AREAS: &[(&str, &str)] = &[
    (
        "/v1/acl",
        "Consul ACLs: Shoal's API takes tokens with rights instead ([platform.tokens], X-Consul-Token or ?token=)",
    ),
    (
        "/v1/agent/connect",
        "Consul Connect (service mesh): Shoal's own proxy carries service-to-service traffic",
    ),
    (
        "/v1/connect",
        "Consul Connect (service mesh, CA, intentions): Shoal's own proxy carries service-to-service traffic",
    ),
    (
        "/v1/health/connect",
        "Consul Connect (service mesh): ask /v1/health/service instead",
    ),
    (
        "/v1/health/ingress",
        "Consul ingress gateways: Shoal's gateway is its ingress",
    ),
    (
        "/v1/catalog/connect",
        "Consul Connect (service mesh): ask /v1/catalog/service instead",
    ),
    (
        "/v1/catalog/gateway-services",
        "Consul mesh gateways: Shoal's gateway is its ingress",
    ),
    ("/v1/discovery-chain", "Consul Connect discovery chains"),
    (
        "/v1/config",
        "Consul config entries: Shoal's configuration is its service file, applied with shoal deploy",
    ),
    (
        "/v1/operator",
        "Consul operator endpoints (Raft, autopilot, keyring, areas, segments, license): Shoal's cluster store is etcd or its embedded store",
    ),
    ("/v1/peering", "Consul cluster peering"),
    ("/v1/exported-services", "Consul cluster peering"),
    ("/v1/imported-services", "Consul cluster peering"),
    ("/v1/namespace", "Consul Enterprise namespaces"),
    ("/v1/partition", "Consul Enterprise admin partitions"),
    ("/v1/internal", "the Consul UI's internal endpoints"),
    (
        "/v1/agent/token",
        "Consul ACL agent tokens: Shoal's API takes tokens from [platform.tokens]",
    ),
];

/// What `path` belongs to, when it is an area Shoal does not provide.
pub fn area_of(path: &str) -> Option<&'static str> {
    AREAS
        .iter()
        .find(|(prefix, _)| {
            path.strip_prefix(prefix).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with('/') || rest.starts_with('s')
            })
        })
        .map(|(_, what)| *what)
}

/// The handler of every such path: 501, saying what it is and what Shoal offers.
pub async fn refuse(uri: Uri) -> ConsulError {
    let what = area_of(uri.path()).unwrap_or("this Consul endpoint");
    ConsulError::Unsupported(format!("Shoal does not provide {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_match_whole_segments() {
        assert!(area_of("/v1/acl/token/self").is_some_and(|w| w.contains("ACL")));
        assert!(area_of("/v1/acl").is_some());
        assert!(area_of("/v1/peerings").is_some_and(|w| w.contains("peering")));
        assert!(area_of("/v1/namespaces").is_some());
        assert!(area_of("/v1/connect/ca/roots").is_some());
        assert!(area_of("/v1/agent/connect/ca/leaf/web").is_some());
        assert_eq!(area_of("/v1/aclx"), None);
        assert_eq!(area_of("/v1/kv/acl"), None);
        assert_eq!(area_of("/v1/health/service/web"), None);
        assert_eq!(area_of("/v1/catalog/services"), None);
    }
}
