//! Maintenance mode (`PUT /v1/agent/maintenance`, `PUT /v1/agent/service/maintenance/<id>`):
//! a critical check of type `maintenance` (`_node_maintenance`, `_service_maintenance:<id>`)
//! added while it lasts, as Consul does, so `passing` reads leave the node's or the service's
//! instances out, and the runner's catalog mirror withdraws the service from the gateway and DNS.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};

use crate::check_model::{CheckDef, CheckKind, CheckRecord, Status};
use crate::error::{ConsulError, Result};
use crate::params::Params;
use crate::query::Endpoint;
use crate::registry;
use crate::state::{service_key, ConsulState};

/// The node maintenance check's id (Consul's `structs.NodeMaint`).
pub const NODE_MAINT_ID: &str = "_node_maintenance";
/// The prefix of a service maintenance check's id (Consul's `structs.ServiceMaintPrefix`).
pub const SERVICE_MAINT_PREFIX: &str = "_service_maintenance:";

const DEFAULT_NODE_REASON: &str =
    "Maintenance mode is enabled for this node, but no reason was provided. This is a default message.";
const DEFAULT_SERVICE_REASON: &str =
    "Maintenance mode is enabled for this service, but no reason was provided. This is a default message.";

/// `enable` as Consul reads it (Go's `strconv.ParseBool`): required, one of
/// 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False.
pub fn parse_enable(p: &Params) -> Result<bool> {
    let raw = p
        .get("enable")
        .ok_or_else(|| ConsulError::bad("Missing value for enable"))?;
    match raw {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        other => Err(ConsulError::bad(format!(
            "Invalid value for enable: {other:?}"
        ))),
    }
}

/// The maintenance check for the node (`service_id` empty) or one service.
pub fn maintenance_check(service_id: &str, reason: &str) -> CheckDef {
    let (id, name, default) = if service_id.is_empty() {
        (
            NODE_MAINT_ID.to_string(),
            "Node Maintenance Mode",
            DEFAULT_NODE_REASON,
        )
    } else {
        (
            format!("{SERVICE_MAINT_PREFIX}{service_id}"),
            "Service Maintenance Mode",
            DEFAULT_SERVICE_REASON,
        )
    };
    CheckDef {
        id,
        name: name.to_string(),
        service_id: service_id.to_string(),
        notes: if reason.is_empty() { default } else { reason }.to_string(),
        kind: CheckKind::Maintenance,
        interval_ms: 0,
        timeout_ms: 0,
        ttl_ms: 0,
        deregister_after_ms: None,
        success_before_passing: 0,
        failures_before_critical: 0,
        initial_status: Status::Critical,
        header: BTreeMap::new(),
    }
}

/// Whether a check decides the routing of the registered service `service_id`: its own
/// checks and node maintenance (other node-level checks do not, see the README).
pub fn affects_routing(check: &CheckRecord, service_id: &str) -> bool {
    check.def.service_id == service_id || check.def.id == NODE_MAINT_ID
}

async fn set(st: &ConsulState, def: CheckDef, enable: bool) -> Result<()> {
    if enable {
        registry::register_check(st.store.as_ref(), def).await
    } else {
        registry::deregister_check(st.store.as_ref(), &def.id)
            .await
            .map(|_| ())
    }
}

const NODE: Endpoint = Endpoint::plain("PUT /v1/agent/maintenance", &["enable", "reason"]);
const SERVICE: Endpoint = Endpoint::plain(
    "PUT /v1/agent/service/maintenance/<id>",
    &["enable", "reason"],
);

pub async fn node(State(st): State<Arc<ConsulState>>, RawQuery(q): RawQuery) -> Result<Response> {
    let p = NODE.params(q.as_deref())?;
    let enable = parse_enable(&p)?;
    let reason = p.get("reason").unwrap_or_default();
    set(&st, maintenance_check("", reason), enable).await?;
    tracing::info!(enable, reason, "consul node maintenance");
    Ok(axum::http::StatusCode::OK.into_response())
}

pub async fn service(
    State(st): State<Arc<ConsulState>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let p = SERVICE.params(q.as_deref())?;
    let enable = parse_enable(&p)?;
    if st.store.get(&service_key(&id)).await?.is_none() {
        let supervised = crate::view::View::read(&st)
            .await?
            .instances
            .iter()
            .any(|i| i.id == id && !i.external);
        return Err(if supervised {
            ConsulError::bad(format!(
                "{id:?} is an instance supervised by Shoal: maintenance mode applies to services \
                 registered through the Consul API; stop, scale or redeploy Shoal's own services"
            ))
        } else {
            ConsulError::not_found(format!("Unknown service ID {id:?}"))
        });
    }
    let reason = p.get("reason").unwrap_or_default();
    set(&st, maintenance_check(&id, reason), enable).await?;
    tracing::info!(service = %id, enable, reason, "consul service maintenance");
    Ok(axum::http::StatusCode::OK.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enable_is_go_parse_bool() {
        let e = |q: &str| parse_enable(&Params::parse(Some(q))).ok();
        assert_eq!(e("enable=true"), Some(true));
        assert_eq!(e("enable=T"), Some(true));
        assert_eq!(e("enable=1"), Some(true));
        assert_eq!(e("enable=False"), Some(false));
        assert_eq!(e("enable=0"), Some(false));
        assert_eq!(e("enable=yes"), None);
        assert_eq!(e("reason=x"), None);
    }

    #[test]
    fn checks_are_named_as_consul_names_them() {
        let n = maintenance_check("", "");
        assert_eq!(
            (n.id.as_str(), n.name.as_str()),
            ("_node_maintenance", "Node Maintenance Mode")
        );
        assert!(n
            .notes
            .starts_with("Maintenance mode is enabled for this node"));
        let s = maintenance_check("web-1", "deploy");
        assert_eq!(s.id, "_service_maintenance:web-1");
        assert_eq!(
            (s.service_id.as_str(), s.notes.as_str()),
            ("web-1", "deploy")
        );
        assert_eq!(s.initial_status, Status::Critical);
        assert_eq!(s.kind.type_name(), "maintenance");
        assert!(!s.kind.is_probed());
        let rec = CheckRecord::new(n, None, 0);
        assert!(affects_routing(&rec, "any"));
        let rec = CheckRecord::new(s, None, 0);
        assert!(affects_routing(&rec, "web-1") && !affects_routing(&rec, "web-2"));
    }
}
