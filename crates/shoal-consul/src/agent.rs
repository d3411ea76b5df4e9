//! `/v1/agent/*`: this agent (`self`), its services and checks, registration, and the TTL
//! check updates (`pass`, `warn`, `fail`, `update`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde_json::{json, Value};

use crate::body::{parse_body, Fields};
use crate::catalog::view_query;
use crate::check_model::{CheckKind, Status};
use crate::error::{ConsulError, Result};
use crate::filter::{passes, schema};
use crate::params::Params;
use crate::query::{self, Endpoint};
use crate::register::{parse_check_register_with, parse_service_with};
use crate::registry;
use crate::render;
use crate::state::{now_ms, ConsulState, DATACENTER};

/// The Consul version Shoal answers as (clients gate features on it).
pub const CONSUL_VERSION: &str = "1.20.0";

const SELF: Endpoint = Endpoint::plain("GET /v1/agent/self", &[]);
const SERVICES: Endpoint = Endpoint::blocking("GET /v1/agent/services", &["filter"]);
const SERVICE: Endpoint = Endpoint::blocking("GET /v1/agent/service/<id>", &[]);
const CHECKS: Endpoint = Endpoint::blocking("GET /v1/agent/checks", &["filter"]);
const REGISTER: Endpoint = Endpoint::plain(
    "PUT /v1/agent/service/register",
    &["replace-existing-checks"],
);
const DEREGISTER: Endpoint = Endpoint::plain("PUT /v1/agent/service/deregister/<id>", &[]);
const CHECK_REGISTER: Endpoint = Endpoint::plain("PUT /v1/agent/check/register", &[]);
const CHECK_DEREGISTER: Endpoint = Endpoint::plain("PUT /v1/agent/check/deregister/<id>", &[]);
const TTL_UPDATE: Endpoint =
    Endpoint::plain("PUT /v1/agent/check/{pass,warn,fail}/<id>", &["note"]);
const UPDATE: Endpoint = Endpoint::plain("PUT /v1/agent/check/update/<id>", &[]);

fn read_body(body: std::result::Result<Bytes, BytesRejection>) -> Result<Value> {
    let body = body?;
    parse_body(&body)
}

pub async fn self_(State(st): State<Arc<ConsulState>>, RawQuery(q): RawQuery) -> Result<Response> {
    SELF.params(q.as_deref())?;
    Ok(Json(json!({
        "Config": {
            "Datacenter": DATACENTER, "PrimaryDatacenter": DATACENTER, "NodeName": st.node,
            "NodeID": st.node_id(), "Server": true, "Revision": "shoal",
            "Version": CONSUL_VERSION, "ShoalVersion": env!("CARGO_PKG_VERSION"),
        },
        "DebugConfig": { "ClientAddrs": [st.http.ip().to_string()], "HTTPPort": st.http.port() },
        "Coord": null,
        "Member": crate::member::member(&st, false),
        "Stats": {}, "Meta": render::node_meta(),
    }))
    .into_response())
}

pub async fn services(
    State(st): State<Arc<ConsulState>>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let p = SERVICES.params(q.as_deref())?;
    let filter = query::filter(&p, &schema::AGENT_SERVICE)?;
    view_query(&st, &p, |v| {
        let map: BTreeMap<&str, Value> = v
            .instances
            .iter()
            .filter(|i| v.is_local(i))
            .map(|i| (i.id.as_str(), render::agent_service(i)))
            .filter(|(_, s)| passes(filter.as_ref(), s))
            .collect();
        Ok(json!(map))
    })
    .await
}

pub async fn service(
    State(st): State<Arc<ConsulState>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    if Params::parse(q.as_deref()).get("hash").is_some() {
        return Err(ConsulError::bad(
            "hash-based blocking is not supported: block on index (X-Consul-Index) instead",
        ));
    }
    let p = SERVICE.params(q.as_deref())?;
    view_query(&st, &p, |v| {
        let i = v
            .instances
            .iter()
            .find(|i| v.is_local(i) && i.id == id)
            .ok_or_else(|| ConsulError::not_found(format!("unknown service ID: {id}")))?;
        let mut s = render::agent_service(i);
        if let Value::Object(m) = &mut s {
            m.insert(
                "ContentHash".into(),
                json!(format!("{:016x}", i.modify_index)),
            );
        }
        Ok(s)
    })
    .await
}

pub async fn checks(State(st): State<Arc<ConsulState>>, RawQuery(q): RawQuery) -> Result<Response> {
    let p = CHECKS.params(q.as_deref())?;
    let filter = query::filter(&p, &schema::CHECK)?;
    view_query(&st, &p, |v| {
        let map: BTreeMap<&str, Value> = v
            .checks
            .iter()
            .filter(|c| c.node == v.node && c.id != "serfHealth")
            .map(|c| (c.id.as_str(), render::check(v, c)))
            .filter(|(_, c)| passes(filter.as_ref(), c))
            .collect();
        Ok(json!(map))
    })
    .await
}

pub async fn register(
    State(st): State<Arc<ConsulState>>,
    RawQuery(q): RawQuery,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let replace = REGISTER
        .params(q.as_deref())?
        .flag("replace-existing-checks");
    let value = read_body(body)?;
    let (def, checks) = parse_service_with(&value, now_ms(), st.script_checks)?;
    let supervised = crate::view::View::read(&st)
        .await?
        .instances
        .into_iter()
        .any(|i| !i.external && i.id == def.id);
    if supervised {
        return Err(ConsulError::bad(format!(
            "service ID {:?} is an instance supervised by Shoal; choose another ID",
            def.id
        )));
    }
    crate::owned::check_outside_registration(&st, &def.name).await?;
    registry::register_service(&st, def, checks, replace).await?;
    Ok(ok())
}

pub async fn deregister(
    State(st): State<Arc<ConsulState>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    DEREGISTER.params(q.as_deref())?;
    if registry::deregister_service(st.store.as_ref(), &id).await? {
        Ok(ok())
    } else {
        Err(ConsulError::not_found(format!("Unknown service ID {id:?} (only services registered through the agent can be deregistered)")))
    }
}

pub async fn check_register(
    State(st): State<Arc<ConsulState>>,
    RawQuery(q): RawQuery,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    CHECK_REGISTER.params(q.as_deref())?;
    let def = parse_check_register_with(&read_body(body)?, st.script_checks)?;
    registry::register_check(st.store.as_ref(), def).await?;
    Ok(ok())
}

pub async fn check_deregister(
    State(st): State<Arc<ConsulState>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    CHECK_DEREGISTER.params(q.as_deref())?;
    if registry::deregister_check(st.store.as_ref(), &id).await? {
        Ok(ok())
    } else {
        Err(ConsulError::not_found(format!("Unknown check ID {id:?}")))
    }
}

async fn ttl_update(
    st: &ConsulState,
    id: &str,
    status: Status,
    output: String,
) -> Result<Response> {
    let updated = registry::update_check(st.store.as_ref(), id, |rec| {
        if rec.def.kind != CheckKind::Ttl {
            return Err(ConsulError::bad(format!("check {id:?} is not a TTL check")));
        }
        let now = now_ms();
        rec.set(status, output.clone(), now);
        rec.ttl_expires_ms = Some(now + rec.def.ttl_ms);
        Ok(true)
    })
    .await?;
    match updated {
        Some(_) => Ok(ok()),
        None => Err(ConsulError::not_found(format!("Unknown check ID {id:?}"))),
    }
}

fn note(q: Option<String>) -> Result<String> {
    Ok(TTL_UPDATE
        .params(q.as_deref())?
        .get("note")
        .unwrap_or_default()
        .to_string())
}

pub async fn pass(
    State(st): State<Arc<ConsulState>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    ttl_update(&st, &id, Status::Passing, note(q)?).await
}

pub async fn warn(
    State(st): State<Arc<ConsulState>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    ttl_update(&st, &id, Status::Warning, note(q)?).await
}

pub async fn fail(
    State(st): State<Arc<ConsulState>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    ttl_update(&st, &id, Status::Critical, note(q)?).await
}

pub async fn update(
    State(st): State<Arc<ConsulState>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    UPDATE.params(q.as_deref())?;
    let value = read_body(body)?;
    let f = Fields::new(&value, "check update")?;
    let status = f.string("status")?.unwrap_or_default();
    let status = Status::parse(&status).ok_or_else(|| {
        ConsulError::bad(format!(
            "Invalid check status {status:?}: use passing, warning or critical"
        ))
    })?;
    ttl_update(&st, &id, status, f.string("output")?.unwrap_or_default()).await
}

/// Consul answers writes of the agent API with an empty 200.
fn ok() -> Response {
    axum::http::StatusCode::OK.into_response()
}
