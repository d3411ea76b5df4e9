//! Deployments: submitting a service file, the deployment records, history,
//! promote/abort orders and rollbacks (the writes are `shoal_deploy::submit`'s).

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use shoal_catalog::now_ms;
use shoal_deploy::submit::{self, Change};
use shoal_deploy::{ClearScale, Deployment, Order, SubmitError, SubmitOptions};

use crate::error::{parse_json, ApiError};
use crate::openapi::{
    array, error, json_body, object, ok, opt_uint, path_param, schema_ref, string, uint,
    unavailable,
};
use crate::state::ApiState;

/// `POST /api/v1/deploy`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    /// The file's name, used in error locations (`FILE:LINE:COLUMN`).
    pub file: String,
    /// The service file's text.
    pub toml: String,
    /// Deploy only this service of the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Answer what would change; write nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// The answer to `POST /api/v1/deploy`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeployAnswer {
    /// One per service of the file (or the one asked for), by name.
    pub changes: Vec<Change>,
    /// The deployments started (none for a dry run).
    pub deployments: Vec<Deployment>,
    /// The store revision of the write (or of the read, when nothing was written).
    pub revision: i64,
    pub dry_run: bool,
    /// What the file's `[flags.*]` changed, one line each (a deploy of the whole
    /// file only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
}

/// `POST /api/v1/rollback/{service}`; an empty body means "the previous spec".
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// Return to the spec of this deployment (an id of `shoal history`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<u64>,
}

fn refused(e: SubmitError) -> ApiError {
    let status = match &e {
        SubmitError::Store(s) => return ApiError::from(s.clone()),
        SubmitError::NotInFile(_) => StatusCode::UNPROCESSABLE_ENTITY,
        SubmitError::NoService(_) | SubmitError::NoSuchDeployment { .. } => StatusCode::NOT_FOUND,
        SubmitError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        SubmitError::NoPrevious(_)
        | SubmitError::AlreadyThere { .. }
        | SubmitError::NoRunning(_)
        | SubmitError::NotCanary { .. }
        | SubmitError::Conflict(..) => StatusCode::CONFLICT,
    };
    ApiError::new(status, e.to_string())
}

pub async fn deploy(
    State(st): State<Arc<ApiState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<DeployAnswer>, ApiError> {
    let req: DeployRequest = parse_json(body)?;
    let file = if req.file.trim().is_empty() {
        "request"
    } else {
        req.file.as_str()
    };
    let spec = {
        let (toml, file, base) = (req.toml, file.to_owned(), st.base_dir.clone());
        crate::error::blocking(move || shoal_spec::parse_str(&toml, &file, &base)).await?
    }
    .map_err(|errors| {
        let lines: Vec<String> = errors.diagnostics.iter().map(ToString::to_string).collect();
        // Well-formed JSON whose file breaks the service file's rules: 422, as flags.
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{file} is not a valid service file"),
        )
        .detail(lines)
    })?;
    let whole_file = req.service.is_none() && !req.dry_run;
    let opts = SubmitOptions {
        only: req.service,
        dry_run: req.dry_run,
        remove_missing: false,
        clear_scale: ClearScale::Changed,
    };
    let done = submit::submit(st.store.as_ref(), &spec.services, opts, now_ms())
        .await
        .map_err(refused)?;
    let flags = if whole_file {
        crate::flag_seed::seed_flags(st.store.as_ref(), &spec.flags, &st.events)
            .await
            .map_err(|e| {
                ApiError::new(
                    StatusCode::CONFLICT,
                    "the services were deployed; the flags were not",
                )
                .detail(e.to_string())
            })?
    } else {
        Vec::new()
    };
    Ok(Json(DeployAnswer {
        changes: done.changes,
        deployments: done.deployments,
        revision: done.revision,
        dry_run: req.dry_run,
        flags,
    }))
}

pub async fn list(State(st): State<Arc<ApiState>>) -> Result<Json<Vec<Deployment>>, ApiError> {
    let fleet = st.fleet().await?;
    // By service name (the fleet's map is sorted by it).
    Ok(Json(fleet.deployments.values().cloned().collect()))
}

pub async fn show(
    State(st): State<Arc<ApiState>>,
    Path(service): Path<String>,
) -> Result<Json<Deployment>, ApiError> {
    st.fleet()
        .await?
        .deployments
        .get(&service)
        .cloned()
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no deployment of {service}")))
}

pub async fn history(
    State(st): State<Arc<ApiState>>,
    Path(service): Path<String>,
) -> Result<Json<Vec<Deployment>>, ApiError> {
    let past = submit::history(st.store.as_ref(), &service)
        .await
        .map_err(refused)?;
    if past.is_empty() && !st.fleet().await?.specs.contains_key(&service) {
        return Err(ApiError::not_found(format!("no deployment of {service}")));
    }
    Ok(Json(past))
}

pub async fn promote(
    State(st): State<Arc<ApiState>>,
    Path(service): Path<String>,
) -> Result<(StatusCode, Json<Deployment>), ApiError> {
    give(&st, &service, Order::Promote).await
}

pub async fn abort(
    State(st): State<Arc<ApiState>>,
    Path(service): Path<String>,
) -> Result<(StatusCode, Json<Deployment>), ApiError> {
    give(&st, &service, Order::Abort).await
}

/// Leaves the order for the deployer: accepted, carried out on its next pass.
async fn give(
    st: &ApiState,
    service: &str,
    order: Order,
) -> Result<(StatusCode, Json<Deployment>), ApiError> {
    let d = submit::order(st.store.as_ref(), service, order)
        .await
        .map_err(refused)?;
    Ok((StatusCode::ACCEPTED, Json(d)))
}

pub async fn rollback(
    State(st): State<Arc<ApiState>>,
    Path(service): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Deployment>, ApiError> {
    let req: RollbackRequest = match &body {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => RollbackRequest::default(),
        _ => parse_json(body)?,
    };
    let d = submit::rollback(st.store.as_ref(), &service, req.to, now_ms())
        .await
        .map_err(refused)?;
    Ok(Json(d))
}

/// The OpenAPI paths of this file's endpoints.
pub fn openapi_paths() -> Value {
    let service = path_param(
        "service",
        json!({ "type": "string", "minLength": 1 }),
        "service name",
    );
    let dep = schema_ref("Deployment");
    let deps = array(dep.clone());
    let order = |summary: &str, refused: &str| {
        json!({ "post": { "summary": summary, "parameters": [service.clone()],
            "responses": { "202": ok("the order is recorded for the deployer", dep.clone()),
                "409": error(refused), "503": unavailable() } } })
    };
    json!({
        "/api/v1/deploy": { "post": { "summary": "Submit a service file: each changed service is rolled out by its strategy (in-place changes rewrite the spec); with dry_run, only the plan",
            "requestBody": json_body(schema_ref("DeployRequest"), true),
            "responses": { "200": ok("what changed", schema_ref("DeployAnswer")),
                "400": error("the body is not a DeployRequest"),
                "409": error("the deployments kept changing while this was written, or the flags could not be seeded"),
                "413": error("the body is larger than 1 MiB, or the submission needs more store operations than one transaction holds"),
                "422": error("not a valid service file (detail: every FILE:LINE:COLUMN problem), or `service` is not in it"),
                "503": unavailable() } } },
        "/api/v1/deployments": { "get": { "summary": "The current deployment record of every service",
            "responses": { "200": ok("deployments", deps.clone()), "503": unavailable() } } },
        "/api/v1/deployments/{service}": { "get": { "summary": "A service's current deployment: status, strategy, weights, counts, steps", "parameters": [service.clone()],
            "responses": { "200": ok("the deployment", dep.clone()), "404": error("no deployment of this service"), "503": unavailable() } } },
        "/api/v1/deployments/{service}/history": { "get": { "summary": "A service's deployments, newest first", "parameters": [service.clone()],
            "responses": { "200": ok("deployments", deps), "404": error("no such service"), "503": unavailable() } } },
        "/api/v1/deployments/{service}/promote": order("Order a running canary deployment to skip its remaining steps", "no running deployment, or not a canary"),
        "/api/v1/deployments/{service}/abort": order("Order a running deployment back to the previous spec", "no running deployment"),
        "/api/v1/rollback/{service}": { "post": { "summary": "Return a service to its previous spec (or deployment `to`'s), rolling; a traffic switch while the old instances are warm", "parameters": [service],
            "requestBody": json_body(schema_ref("RollbackRequest"), false),
            "responses": { "200": ok("the deployment started", dep), "400": error("the body is not a RollbackRequest"),
                "404": error("no such service or deployment"),
                "409": error("no previous deployment, already on that spec, or the deployments kept changing"),
                "503": unavailable() } } }
    })
}

/// The OpenAPI schemas of this file's bodies and answers.
pub fn openapi_schemas() -> Value {
    let s = string();
    let n = uint(u64::MAX);
    let n32 = uint(u32::MAX.into());
    let strategy = json!({ "enum": ["rolling", "canary", "blue-green"] });
    let counts = json!({ "type": "object", "additionalProperties": n32 });
    let totals = object(
        &["requests", "errors", "buckets"],
        json!({ "requests": n, "errors": n, "buckets": array(n.clone()) }),
    );
    json!({
        "DeployRequest": object(&["file", "toml"], json!({
            "file": { "type": "string", "description": "the file's name for error locations (`request` when blank)" },
            "toml": { "type": "string", "description": "the service file's text" },
            "service": { "type": ["string", "null"], "description": "deploy only this service of the file" },
            "dry_run": { "type": "boolean", "description": "answer the plan, write nothing" } })),
        "DeployAnswer": { "type": "object", "required": ["changes", "deployments", "revision", "dry_run"], "additionalProperties": false, "properties": {
            "changes": array(schema_ref("Change")),
            "deployments": array(schema_ref("Deployment")),
            "revision": uint(i64::MAX as u64), "dry_run": { "type": "boolean" },
            "flags": { "type": "array", "items": s, "description": "what the file's [flags.*] changed, one line each" } } },
        "RollbackRequest": object(&[], json!({
            "to": { "type": ["integer", "null"], "minimum": 0, "maximum": u64::MAX, "description": "a deployment id of the service's history" } })),
        "Change": object(&["service", "kind", "strategy", "from_version", "to_version", "fields", "from_instances", "to_instances"], json!({
            "service": s, "kind": { "enum": ["added", "rollout", "in_place", "unchanged", "removed"] },
            "strategy": strategy, "from_version": { "type": ["string", "null"] }, "to_version": s,
            "fields": { "type": "array", "items": s, "description": "top-level spec fields that differ" },
            "from_instances": { "type": ["integer", "null"], "minimum": 0 }, "to_instances": n32 })),
        "Deployment": object(&["id", "service", "strategy", "from", "to", "status", "reason", "step", "step_started_ms", "marks",
                "weights", "counts", "started_ms", "updated_ms", "deadline_ms", "ended_ms", "keep_until_ms", "revert_of", "order", "steps"], json!({
            "id": n, "service": s, "strategy": strategy,
            "from": { "type": ["object", "null"], "description": "the spec it moves from (null for a first deployment)" },
            "to": { "type": "object", "description": "the spec it moves to" },
            "status": { "enum": ["running", "succeeded", "failed", "rolled_back", "superseded"] },
            "reason": s, "step": n, "step_started_ms": opt_uint(),
            "marks": { "type": "object", "additionalProperties": totals, "description": "canary: each version's totals when the step began" },
            "weights": counts.clone(), "counts": counts,
            "started_ms": n, "updated_ms": n, "deadline_ms": n, "ended_ms": opt_uint(), "keep_until_ms": opt_uint(),
            "revert_of": opt_uint(), "order": { "enum": ["promote", "abort", null] },
            "steps": array(json!({ "type": "object", "required": ["at_ms", "message"], "additionalProperties": false, "properties": {
                "at_ms": n, "message": s, "numbers": {} } })) }))
    })
}
