//! `/api/v1/chaos`: list, start and stop chaos experiments. Off unless the file says
//! `[platform] chaos = true`; starting and stopping need the `chaos` right when
//! tokens are set. Every start and stop is an event.

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use bytes::Bytes;
use serde_json::{json, Value};
use shoal_catalog::{chaos_key, encode, now_ms};
use shoal_chaos::{Experiment, ExperimentRequest};
use shoal_events::Kind;

use crate::error::{parse_json, ApiError};
use crate::state::ApiState;

/// One experiment as the API shows it: the record, whether it is in force, the time left.
fn view(e: &Experiment, now: u64) -> Value {
    let mut v = serde_json::to_value(e).unwrap_or_default();
    v["active"] = json!(e.active(now));
    v["remaining_ms"] = json!(e.until_ms.saturating_sub(now));
    v["target"] = json!(e.target());
    v["describe"] = json!(e.fault.describe());
    v
}

/// `GET /api/v1/chaos`: whether chaos is on here, and every experiment.
pub async fn list(State(st): State<Arc<ApiState>>) -> Result<Json<Value>, ApiError> {
    let fleet = st.fleet().await?;
    let now = now_ms();
    let experiments: Vec<Value> = fleet.chaos.values().map(|e| view(e, now)).collect();
    Ok(Json(
        json!({ "enabled": st.chaos, "experiments": experiments }),
    ))
}

fn off() -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "chaos is off on this platform")
        .detail("set `chaos = true` in [platform] of the service file to allow experiments")
}

/// `POST /api/v1/chaos`: starts an experiment (201 with it).
pub async fn start(
    State(st): State<Arc<ApiState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if !st.chaos {
        return Err(off());
    }
    let req: ExperimentRequest = parse_json(body)?;
    let now = now_ms();
    let e = req
        .check(shoal_chaos::new_id(), now)
        .map_err(|e| ApiError::bad_request("invalid chaos experiment").detail(e.0))?;
    let fleet = st.fleet().await?;
    let known = |name: &str| {
        fleet.specs.contains_key(name) || fleet.instances.iter().any(|r| r.service == name)
    };
    if !known(&e.service) {
        return Err(ApiError::not_found("no such service").detail(e.service.clone()));
    }
    st.store.put(&chaos_key(&e.id), encode(&e), 0).await?;
    tracing::warn!(experiment = %e.id, target = %e.target(), fault = %e.fault.describe(), "chaos experiment started");
    st.events.emit(
        Kind::Chaos,
        &e.service,
        "",
        format!(
            "chaos {} started: {} on {} for {} s",
            e.id,
            e.fault.describe(),
            e.target(),
            (e.until_ms - e.started_ms) / 1000
        ),
        json!({ "experiment": e.id, "action": "start", "fault": e.fault, "caller": e.caller, "until_ms": e.until_ms }),
    );
    Ok((StatusCode::CREATED, Json(view(&e, now))))
}

/// Deletes one experiment, with a "stopped" event if this call removed it.
async fn stop_one(st: &ApiState, e: &Experiment) -> Result<bool, ApiError> {
    if st.store.delete(&chaos_key(&e.id)).await?.is_none() {
        return Ok(false);
    }
    st.events.emit(
        Kind::Chaos,
        &e.service,
        "",
        format!(
            "chaos {} stopped early: {} on {}",
            e.id,
            e.fault.describe(),
            e.target()
        ),
        json!({ "experiment": e.id, "action": "stop", "fault": e.fault, "caller": e.caller }),
    );
    Ok(true)
}

/// `DELETE /api/v1/chaos/{id}`: ends an experiment now.
pub async fn stop(
    State(st): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let fleet = st.fleet().await?;
    let Some(e) = fleet.chaos.get(&id) else {
        return Err(ApiError::not_found("no such chaos experiment").detail(id));
    };
    if !stop_one(&st, e).await? {
        return Err(ApiError::not_found("no such chaos experiment").detail(id));
    }
    Ok(Json(json!({ "stopped": [id] })))
}

/// `DELETE /api/v1/chaos`: ends every experiment now.
pub async fn stop_all(State(st): State<Arc<ApiState>>) -> Result<Json<Value>, ApiError> {
    let fleet = st.fleet().await?;
    let mut stopped = Vec::new();
    for e in fleet.chaos.values() {
        if stop_one(&st, e).await? {
            stopped.push(e.id.clone());
        }
    }
    Ok(Json(json!({ "stopped": stopped })))
}
