//! Handlers for services, instances, scaling, stop/start and restarts.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use shoal_catalog::{
    encode, restart_key, scale_key, InstanceRecord, RestartRequest, ScaleOverride,
};

use crate::error::{parse_json, ApiError};
use crate::openapi::{
    array, error, json_body, object, ok, opt_uint, path_param, query_param, schema_ref, string,
    uint, unavailable,
};
use crate::query::Params;
use crate::since::DURATION_PATTERN;
use crate::state::ApiState;
use shoal_catalog::now_ms;
use shoal_fleet::Fleet;

/// One line of `shoal status`.
#[derive(Debug, Serialize)]
pub struct ServiceSummary {
    pub name: String,
    pub version: String,
    pub desired: u32,
    pub instances: usize,
    pub healthy: usize,
    pub restarts: u32,
    pub crash_loop: bool,
    pub routes: Vec<String>,
    pub versions: Vec<String>,
    pub external: bool,
    /// Who sets the count: `auto MIN..MAX` (the autoscaler), `manual` (held by
    /// `shoal scale`), or absent (the spec's count).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<String>,
}

fn summarize(snap: &Fleet) -> Vec<ServiceSummary> {
    let mut names: Vec<String> = snap.specs.keys().cloned().collect();
    for r in &snap.instances {
        if !names.contains(&r.service) {
            names.push(r.service.clone());
        }
    }
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let spec = snap.specs.get(&name);
            let mine: Vec<&InstanceRecord> = snap
                .instances
                .iter()
                .filter(|r| r.service == name)
                .collect();
            let desired = spec.map_or(mine.len() as u32, |s| {
                snap.overrides
                    .get(&name)
                    .map_or(s.instances, |o| o.instances)
                    + s.versions
                        .values()
                        .map(|v| v.instances.unwrap_or(1))
                        .sum::<u32>()
            });
            let mut versions: Vec<String> = mine.iter().map(|r| r.version.clone()).collect();
            versions.sort();
            versions.dedup();
            ServiceSummary {
                version: spec.map_or_else(String::new, |s| s.version.clone()),
                desired,
                instances: mine.len(),
                healthy: mine.iter().filter(|r| r.is_routable()).count(),
                restarts: mine.iter().map(|r| r.restarts).sum(),
                crash_loop: mine.iter().any(|r| r.crash_loop),
                routes: spec.map_or_else(Vec::new, |s| s.routes.clone()),
                versions,
                external: spec.is_none(),
                scale: scale_cell(snap, &name),
                name,
            }
        })
        .collect()
}

/// `auto MIN..MAX`, `manual` or `None` (see [`ServiceSummary::scale`]).
fn scale_cell(snap: &Fleet, name: &str) -> Option<String> {
    let scale = snap.specs.get(name)?.scale.as_ref()?;
    let auto = scale.target.is_some() || scale.min == 0;
    let now = now_ms();
    match snap.overrides.get(name) {
        Some(o) if !o.auto_allowed(now) => Some("manual".into()),
        _ if auto => Some(format!("auto {}..{}", scale.min, scale.max)),
        _ => None,
    }
}

pub async fn agent(State(st): State<Arc<ApiState>>) -> Json<Value> {
    Json(json!({
        "node": st.node,
        "version": env!("CARGO_PKG_VERSION"),
        "http": st.http.to_string(),
        "gateway": st.gateway.to_string(),
        "uptime_seconds": st.started.elapsed().as_secs_f64(),
        "store": st.store_health().await,
    }))
}

pub async fn list(State(st): State<Arc<ApiState>>) -> Result<Json<Vec<ServiceSummary>>, ApiError> {
    let snap = st.fleet().await?;
    Ok(Json(summarize(&snap)))
}

pub async fn show(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let snap = st.fleet().await?;
    let summary = summarize(&snap)
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| ApiError::not_found("no such service").detail(name.clone()))?;
    let mut instances: Vec<&InstanceRecord> = snap
        .instances
        .iter()
        .filter(|r| r.service == name)
        .collect();
    instances.sort_by(|a, b| a.id.cmp(&b.id));
    // The autoscaler's bounds, targets, hold and last decision (its memory, as stored).
    let autoscaler = match snap.specs.get(&name).and_then(|s| s.scale.as_ref()) {
        Some(scale) => {
            let memory = st
                .store
                .get(&shoal_catalog::autoscale_key(&name))
                .await?
                .and_then(|kv| serde_json::from_slice::<Value>(&kv.value).ok());
            let over = snap.overrides.get(&name);
            json!({
                "min": scale.min,
                "max": scale.max,
                "target": scale.target,
                "current": summary.desired,
                "set_by": over.map(|o| o.source),
                "held": over.is_some_and(|o| !o.auto_allowed(now_ms())),
                "held_until_ms": over.and_then(|o| o.auto_paused_until_ms),
                "last": memory.as_ref().map_or(Value::Null, |m| m["last"].clone()),
            })
        }
        None => Value::Null,
    };
    Ok(Json(json!({
        "service": summary,
        "spec": snap.specs.get(&name),
        "instances": instances,
        "autoscaler": autoscaler,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceFilter {
    pub service: Option<String>,
}

pub async fn instances(
    State(st): State<Arc<ApiState>>,
    Params(f): Params<InstanceFilter>,
) -> Result<Json<Vec<InstanceRecord>>, ApiError> {
    let snap = st.fleet().await?;
    let mut out: Vec<InstanceRecord> = snap
        .instances
        .iter()
        .filter(|r| f.service.as_ref().is_none_or(|s| &r.service == s))
        .cloned()
        .collect();
    out.sort_by(|a, b| (&a.service, &a.version, &a.id).cmp(&(&b.service, &b.version, &b.id)));
    Ok(Json(out))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleBody {
    /// The count to set (within `[services.X.scale]` bounds); absent with `auto`.
    #[serde(default)]
    pub instances: Option<u32>,
    /// How long a set count holds the autoscaler off (`"10m"`, the default, `"0s"`
    /// for not at all, `"until-auto"` until `auto`), when the service autoscales.
    #[serde(default)]
    pub pause: Option<String>,
    /// Hand the count back to the autoscaler.
    #[serde(default)]
    pub auto: bool,
}

/// Upper bound for an instance count set through the API.
const MAX_INSTANCES: u32 = 10_000;

/// How long `shoal scale` holds an autoscaler off by default.
const DEFAULT_PAUSE: Duration = Duration::from_secs(600);

pub async fn scale(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body: ScaleBody = parse_json(body)?;
    match (body.auto, body.instances) {
        (true, None) => hand_back(&st, &name).await,
        (false, Some(n)) => {
            let pause = match body.pause.as_deref() {
                None => Some(DEFAULT_PAUSE),
                Some("until-auto") => None,
                Some(text) => Some(
                    crate::since::parse_duration_ms(text)
                        .map(Duration::from_millis)
                        .ok_or_else(|| {
                            ApiError::bad_request("bad `pause`").detail(format!(
                                "{text:?}: give a duration (\"10m\", \"1h30m\", \"0s\") or \"until-auto\""
                            ))
                        })?,
                ),
            };
            set_override(&st, &name, n, pause).await
        }
        (true, Some(_)) => Err(ApiError::bad_request(
            "give either `instances` or `auto`, not both",
        )),
        (false, None) => Err(ApiError::bad_request("`instances` is required")
            .detail("or `\"auto\": true` to hand the count back to the autoscaler")),
    }
}

/// Sets `name`'s count to `n`, holding its autoscaler (if any) off for `pause`
/// (`None`: until handed back).
async fn set_override(
    st: &ApiState,
    name: &str,
    n: u32,
    pause: Option<Duration>,
) -> Result<Json<Value>, ApiError> {
    let snap = st.fleet().await?;
    let spec = snap
        .specs
        .get(name)
        .ok_or_else(|| ApiError::not_found("no such service").detail(name.to_string()))?;
    if n > MAX_INSTANCES {
        return Err(ApiError::bad_request("instance count too large")
            .detail(format!("at most {MAX_INSTANCES}")));
    }
    if let Some(scale) = &spec.scale {
        if n != 0 && (n < scale.min || n > scale.max) {
            // A well-formed count this service's deployed bounds refuse: a conflict, not a 400.
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "instance count outside the service's scale bounds",
            )
            .detail(format!(
                "[services.{name}.scale] allows {}..={} (or 0)",
                scale.min, scale.max
            )));
        }
    }
    let until = pause.map(|p| now_ms().saturating_add(p.as_millis() as u64));
    let record = ScaleOverride::manual(n, until);
    let rev = st.store.put(&scale_key(name), encode(&record), 0).await?;
    let autoscaled = spec.scale.as_ref().is_some_and(|s| s.target.is_some());
    Ok(Json(json!({
        "service": name,
        "instances": n,
        "revision": rev,
        "autoscaler_paused_until_ms": if autoscaled { json!(until) } else { Value::Null },
        "autoscaler_paused": autoscaled,
    })))
}

/// `{"auto": true}`: the autoscaler sets the count again from its next decision.
async fn hand_back(st: &ApiState, name: &str) -> Result<Json<Value>, ApiError> {
    let snap = st.fleet().await?;
    let spec = snap
        .specs
        .get(name)
        .ok_or_else(|| ApiError::not_found("no such service").detail(name.to_string()))?;
    if spec.scale.as_ref().is_none_or(|s| s.target.is_none()) {
        return Err(
            ApiError::new(StatusCode::CONFLICT, "the service has no autoscaler").detail(format!(
                "give [services.{name}.scale] a `target` (rps, p95_ms, cpu, inflight or metric)"
            )),
        );
    }
    // The count stays where it is until the autoscaler's next decision moves it.
    let current = snap
        .overrides
        .get(name)
        .map_or(spec.instances, |o| o.instances);
    let rev = st
        .store
        .put(&scale_key(name), encode(&ScaleOverride::auto(current)), 0)
        .await?;
    Ok(Json(
        json!({ "service": name, "instances": current, "auto": true, "revision": rev }),
    ))
}

/// Scales to 0 and holds the autoscaler off until the service is started again.
pub async fn stop(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    set_override(&st, &name, 0, None).await
}

pub async fn start(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let snap = st.fleet().await?;
    let spec = snap
        .specs
        .get(&name)
        .ok_or_else(|| ApiError::not_found("no such service").detail(name.clone()))?;
    st.store.delete(&scale_key(&name)).await?;
    Ok(Json(
        json!({ "service": name, "instances": spec.instances }),
    ))
}

pub async fn restart(
    State(st): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let snap = st.fleet().await?;
    if !snap.instances.iter().any(|r| r.id == id && !r.external) {
        return Err(ApiError::not_found("no such supervised instance").detail(id));
    }
    let req = RestartRequest {
        requested_ms: now_ms(),
        kill: false,
    };
    st.store.put(&restart_key(&id), encode(&req), 0).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "instance": id, "restart": "requested" })),
    ))
}

/// `/api/v1/proxy`: per-service circuit state, ejected instances, shed and
/// rate-limited counts, and each service's outbound listener.
pub async fn proxy(State(st): State<Arc<ApiState>>) -> Result<Json<Value>, ApiError> {
    match &st.proxy {
        Some(view) => Ok(Json(view())),
        None => Err(ApiError::not_found("no proxy runs in this process")),
    }
}

/// The OpenAPI paths of this file's endpoints.
pub fn openapi_paths() -> Value {
    let name = path_param(
        "name",
        json!({ "type": "string", "minLength": 1 }),
        "service name",
    );
    let set = object(
        &[
            "service",
            "instances",
            "revision",
            "autoscaler_paused_until_ms",
            "autoscaler_paused",
        ],
        json!({ "service": string(), "instances": uint(u32::MAX.into()), "revision": uint(i64::MAX as u64),
            "autoscaler_paused_until_ms": opt_uint(), "autoscaler_paused": { "type": "boolean" } }),
    );
    let handed_back = object(
        &["service", "instances", "auto", "revision"],
        json!({ "service": string(), "instances": uint(u32::MAX.into()), "auto": { "const": true },
            "revision": uint(i64::MAX as u64) }),
    );
    let pause = json!({ "type": ["string", "null"], "pattern": format!("^until-auto$|{DURATION_PATTERN}"),
        "description": "how long a set count holds the autoscaler off: a duration (default 10m; 0s: not at all) or `until-auto`" });
    let scale_body = json!({ "oneOf": [
        object(&["instances"], json!({
            "instances": uint(MAX_INSTANCES.into()), "pause": pause,
            "auto": { "const": false } })),
        object(&["auto"], json!({
            "auto": { "const": true, "description": "hand the count back to the autoscaler" },
            "instances": { "type": "null" }, "pause": pause })) ] });
    json!({
        "/api/v1/agent": { "get": { "summary": "This agent: node, version, addresses, uptime, and whether the store answers",
            "responses": { "200": ok("agent", object(&["node", "version", "http", "gateway", "uptime_seconds", "store"], json!({
                "node": string(), "version": string(), "http": string(), "gateway": string(),
                "uptime_seconds": { "type": "number", "minimum": 0 },
                "store": { "type": "object", "required": ["reachable"], "properties": {
                    "reachable": { "type": "boolean" }, "revision": { "type": "integer" }, "error": string(),
                    "serving_from_revision": { "type": "integer" } } } }))) } } },
        "/api/v1/services": { "get": { "summary": "Every service with counts",
            "responses": { "200": ok("services", array(schema_ref("ServiceSummary"))), "503": unavailable() } } },
        "/api/v1/services/{name}": { "get": { "summary": "One service: summary, spec, instances, autoscaler", "parameters": [name],
            "responses": { "200": ok("service", object(&["service", "spec", "instances", "autoscaler"], json!({
                    "service": schema_ref("ServiceSummary"),
                    "spec": { "type": ["object", "null"], "description": "the spec as stored (null for a service only registered from outside)" },
                    "instances": array(schema_ref("Instance")),
                    "autoscaler": { "type": ["object", "null"], "description": "bounds, target, who set the count, hold, last decision (null without [scale])" } }))),
                "404": error("no such service"), "503": unavailable() } } },
        "/api/v1/services/{name}/scale": { "post": { "summary": "Set the instance count of the current version (within its [scale] bounds), or hand it back to the autoscaler", "parameters": [name],
            "requestBody": json_body(scale_body, true),
            "responses": { "200": ok("scaled", json!({ "oneOf": [set.clone(), handed_back] })),
                "400": error("the body is not one of the two forms, the count is over 10000, or `pause` is not a duration"),
                "404": error("no such service"),
                "409": error("the count is outside the service's [scale] bounds, or `auto` for a service without an autoscaler"),
                "503": unavailable() } } },
        "/api/v1/services/{name}/stop": { "post": { "summary": "Stop every instance of the current version (scale to 0, the autoscaler held off until start)", "parameters": [name],
            "responses": { "200": ok("stopped", set), "404": error("no such service"), "503": unavailable() } } },
        "/api/v1/services/{name}/start": { "post": { "summary": "Return to the spec's instance count", "parameters": [name],
            "responses": { "200": ok("started", object(&["service", "instances"], json!({ "service": string(), "instances": uint(u32::MAX.into()) }))),
                "404": error("no such service"), "503": unavailable() } } },
        "/api/v1/instances": { "get": { "summary": "Every instance", "parameters": [query_param("service", string(), "only this service")],
            "responses": { "200": ok("instances", array(schema_ref("Instance"))), "400": error("bad query string"), "503": unavailable() } } },
        "/api/v1/instances/{id}/restart": { "post": { "summary": "Restart one supervised instance in place",
            "parameters": [path_param("id", json!({ "type": "string", "minLength": 1 }), "instance id")],
            "responses": { "202": ok("requested", object(&["instance", "restart"], json!({ "instance": string(), "restart": { "const": "requested" } }))),
                "404": error("no such supervised instance"), "503": unavailable() } } },
        "/api/v1/proxy": { "get": { "summary": "The data plane: per service circuit state, in-flight, requests, retries, shed, rate-limited, fallbacks, timeouts, ejections; per instance load and ejection; outbound listeners",
            "responses": { "200": ok("proxy state", json!({ "type": "object", "properties": {
                    "outbound": { "type": "object", "additionalProperties": string(), "description": "service → its outbound listener" },
                    "services": { "type": "object", "additionalProperties": { "type": "object" } } } })),
                "404": error("no proxy runs in this process") } } }
    })
}

/// The OpenAPI schemas of this file's answers.
pub fn openapi_schemas() -> Value {
    let n = uint(u32::MAX.into());
    let count = uint(u64::MAX);
    let strings = array(string());
    json!({
        "ServiceSummary": object(&["name", "version", "desired", "instances", "healthy", "restarts", "crash_loop", "routes", "versions", "external"], json!({
            "name": string(), "version": string(), "desired": n, "instances": count, "healthy": count,
            "restarts": n, "crash_loop": { "type": "boolean" }, "routes": strings, "versions": strings,
            "external": { "type": "boolean", "description": "only registered from outside (no spec)" },
            "scale": { "type": "string", "description": "who sets the count: `auto MIN..MAX` or `manual` (absent: the spec)" } })),
        "Instance": object(&["id", "service", "version", "node", "address", "port", "pid", "state", "health", "health_output",
                "restarts", "consecutive_failures", "crash_loop", "last_exit", "started_ms", "external", "group", "fingerprint",
                "deployment", "healthy_since_ms"], json!({
            "id": string(), "service": string(), "version": string(), "node": string(), "address": string(),
            "port": uint(u16::MAX.into()), "pid": { "type": ["integer", "null"], "minimum": 0 },
            "state": { "enum": ["running", "backoff", "stopping", "failed"] },
            "health": { "enum": ["starting", "passing", "warning", "critical"] },
            "health_output": string(), "restarts": n, "consecutive_failures": n, "crash_loop": { "type": "boolean" },
            "last_exit": { "type": ["string", "null"] }, "started_ms": count, "external": { "type": "boolean" },
            "group": { "type": "string", "description": "\"\" for the main line, else the side version's label" },
            "fingerprint": count, "deployment": count, "healthy_since_ms": opt_uint() }))
    })
}
