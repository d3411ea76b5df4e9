//! `/api/v1/profiles`: CPU profiles of this node's instances (take one, list, show the
//! top functions, the flame graph, pprof, folded stacks, two side by side). The
//! sampling is `shoal-profile`'s; this file finds the instance and answers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};
use shoal_catalog::{now_ms, InstanceRecord, InstanceState};
use shoal_metrics::query::{Agg, Matcher, Query};
use shoal_metrics::Metrics;
use shoal_profile::{Cause, Profile, ProfileError, ProfileRequest, Profiler, Settings};

use crate::error::{parse_json, ApiError};
use crate::query::Params;
use crate::state::ApiState;

/// Functions shown by `GET /api/v1/profiles/{id}` when `top` is not given.
const DEFAULT_TOP: usize = 30;
/// The window the busiest instance is judged over.
const BUSIEST_WINDOW: Duration = Duration::from_secs(10);

impl From<ProfileError> for ApiError {
    fn from(e: ProfileError) -> Self {
        let status = match e.cause() {
            Cause::Invalid => StatusCode::BAD_REQUEST,
            Cause::Conflict => StatusCode::CONFLICT,
            Cause::Unsupported => StatusCode::UNPROCESSABLE_ENTITY,
            Cause::Busy => StatusCode::TOO_MANY_REQUESTS,
            Cause::Failed => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let error = match e.cause() {
            Cause::Invalid => "invalid profile request",
            Cause::Conflict => "the instance cannot be profiled now",
            Cause::Unsupported => "no way to profile this instance here",
            Cause::Busy => "too many profiles at once",
            Cause::Failed => "the profile failed",
        };
        ApiError::new(status, error).detail(e.to_string())
    }
}

fn profiler(st: &ApiState) -> Result<&Arc<Profiler>, ApiError> {
    st.profiler.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "profiling is not available on this node",
        )
    })
}

/// The instances `target` names: the instance with that id, or the service's running
/// instances on this node (the busiest one unless `all`).
fn targets(
    st: &ApiState,
    instances: &[InstanceRecord],
    known_service: bool,
    req: &ProfileRequest,
) -> Result<Vec<InstanceRecord>, ApiError> {
    let running = |r: &&InstanceRecord| r.state == InstanceState::Running && r.pid.is_some();
    let conflict = |what: String| ApiError::new(StatusCode::CONFLICT, what);
    if let Some(one) = instances.iter().find(|r| r.id == req.target) {
        if one.external {
            return Err(conflict(format!(
                "{} is registered from outside (Consul API): Shoal does not run it",
                one.id
            )));
        }
        if !running(&one) {
            return Err(conflict(format!(
                "instance {} is not running (state {:?})",
                one.id, one.state
            ))
            .detail(one.last_exit.clone().unwrap_or_default()));
        }
        if one.node != st.node {
            return Err(conflict(format!(
                "instance {} runs on node {}: ask that node's API",
                one.id, one.node
            )));
        }
        return Ok(vec![one.clone()]);
    }
    let of_service: Vec<&InstanceRecord> = instances
        .iter()
        .filter(|r| r.service == req.target && !r.external)
        .collect();
    if of_service.is_empty() && !known_service {
        return Err(
            ApiError::not_found("no such service or instance").detail(closest(
                &req.target,
                instances.iter().flat_map(|r| [&r.service, &r.id]),
            )),
        );
    }
    let here: Vec<&InstanceRecord> = of_service
        .iter()
        .copied()
        .filter(running)
        .filter(|r| r.node == st.node)
        .collect();
    if here.is_empty() {
        return Err(conflict(format!(
            "no running instance of {} on this node ({})",
            req.target, st.node
        )));
    }
    if req.all {
        return Ok(here.into_iter().cloned().collect());
    }
    let cpu = st
        .metrics
        .as_deref()
        .map(|m| cpu_by_instance(m, &req.target))
        .unwrap_or_default();
    let candidates: Vec<(&str, Option<f64>)> = here
        .iter()
        .map(|r| (r.id.as_str(), cpu.get(&r.id).copied()))
        .collect();
    let pick = shoal_profile::busiest(&candidates).unwrap_or_default();
    Ok(here.into_iter().filter(|r| r.id == pick).cloned().collect())
}

/// The names nearest `asked` (a typo's likely meaning), for a 404's detail.
fn closest<'a>(asked: &str, names: impl Iterator<Item = &'a String>) -> String {
    let mut names: Vec<&String> = names.collect();
    names.sort();
    names.dedup();
    names.retain(|n| n.contains(asked) || asked.contains(n.as_str()));
    if names.is_empty() {
        asked.to_string()
    } else {
        format!(
            "{asked}: did you mean {}?",
            names
                .iter()
                .take(3)
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

fn service_is(service: &str) -> Matcher {
    Matcher {
        label: "service".into(),
        value: service.into(),
        equal: true,
    }
}

/// Each instance's CPU (cores) over the last seconds, from the metrics store.
fn cpu_by_instance(m: &Metrics, service: &str) -> BTreeMap<String, f64> {
    let q = Query {
        name: "shoal_instance_cpu_seconds_total".into(),
        matchers: vec![service_is(service)],
        since: BUSIEST_WINDOW,
        step: BUSIEST_WINDOW,
        agg: Agg::Rate,
        by: vec!["instance".into()],
    };
    let Ok(r) = m.tsdb().query(&q, shoal_metrics::unix_now()) else {
        return BTreeMap::new();
    };
    r.series
        .into_iter()
        .filter_map(|s| {
            let id = s.labels.get("instance")?.clone();
            let v = s.points.iter().rev().find_map(|(_, v)| *v)?;
            Some((id, v))
        })
        .collect()
}

/// Per-second points of `name{service, version}` aggregated by `agg` since `from`.
fn per_second(
    m: &Metrics,
    name: &str,
    service: &str,
    version: &str,
    agg: Agg,
    from: u64,
) -> Vec<(u64, f64)> {
    let now = shoal_metrics::unix_now();
    let q = Query {
        name: name.into(),
        matchers: vec![
            service_is(service),
            Matcher {
                label: "version".into(),
                value: version.into(),
                equal: true,
            },
        ],
        since: Duration::from_secs(now.saturating_sub(from) + 1),
        step: Duration::from_secs(1),
        agg,
        by: Vec::new(),
    };
    m.tsdb()
        .query(&q, now)
        .ok()
        .and_then(|r| r.series.into_iter().next())
        .map(|s| {
            s.points
                .into_iter()
                .filter_map(|(t, v)| Some((t, v?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Requests per second and p99 (ms) of the instance's service version over `[from, to)`.
fn traffic(m: &Metrics, r: &InstanceRecord, from: u64, to: u64) -> (Option<f64>, Option<f64>) {
    let counts = per_second(
        m,
        "shoal_requests_total",
        &r.service,
        &r.version,
        Agg::Count,
        from,
    );
    let p99s = per_second(
        m,
        "shoal_request_duration_seconds",
        &r.service,
        &r.version,
        Agg::P99,
        from,
    );
    let rate = shoal_profile::rate(&counts, from, to).map(|v| (v * 100.0).round() / 100.0);
    let p99 = shoal_profile::p99(&p99s, &counts, from, to).map(|s| (s * 1e5).round() / 100.0);
    (rate, p99)
}

/// Samples one instance and keeps the profile.
async fn take_one(
    st: &ApiState,
    profiler: &Arc<Profiler>,
    r: InstanceRecord,
    settings: Settings,
) -> Result<Arc<Profile>, ApiError> {
    let pid = r.pid.unwrap_or_default();
    let prepared = {
        let p = profiler.clone();
        tokio::task::spawn_blocking(move || p.prepare(pid, settings))
            .await
            .map_err(ApiError::internal)??
    };
    let started_ms = now_ms();
    let id = profiler.next_id(started_ms);
    tracing::info!(profile = %id, instance = %r.id, pid = prepared.pid, sampler = %prepared.choice.sampler, seconds = settings.seconds, "profiling");
    let captured = shoal_profile::capture(&prepared, settings).await?;
    let (from, to) = (
        started_ms.div_ceil(1000),
        (started_ms + captured.duration_ms) / 1000,
    );
    let (req_per_s, p99_ms) = match st.metrics.as_deref() {
        Some(m) => {
            // The last second of the capture reaches the metrics store at its flush.
            tokio::time::sleep(Duration::from_millis(1100)).await;
            traffic(m, &r, from, to)
        }
        None => (None, None),
    };
    let duration_s = (captured.duration_ms.max(1)) as f64 / 1000.0;
    let profile = Profile {
        id,
        service: r.service.clone(),
        version: r.version.clone(),
        instance: r.id.clone(),
        node: r.node.clone(),
        pid: prepared.pid,
        language: prepared.language,
        sampler: prepared.choice.sampler,
        event: prepared.event.clone(),
        note: prepared.choice.note.clone(),
        started_ms,
        duration_ms: captured.duration_ms,
        seconds: settings.seconds,
        rate_hz: settings.rate_hz,
        samples: captured.stacks.total(),
        req_per_s,
        p99_ms,
        overhead: shoal_profile::Overhead {
            rate_hz: settings.rate_hz,
            max_rate_hz: shoal_profile::MAX_RATE,
            sampler_cpu_ms: captured.sampler_cpu_ms,
            sampler_cores: ((captured.sampler_cpu_ms as f64 / 1000.0 / duration_s) * 1000.0)
                .round()
                / 1000.0,
            processing_ms: captured.processing_ms,
        },
        stacks: captured.stacks.bounded(shoal_profile::MAX_STACK_BYTES),
    };
    let profile = Arc::new(profile);
    let kept = profile.clone();
    let p = profiler.clone();
    tokio::task::spawn_blocking(move || p.store.put((*kept).clone()))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(profile)
}

/// `POST /api/v1/profiles`: samples the target for `seconds` and answers 201 with the
/// profiles taken (their top functions) once they are kept.
pub async fn take(
    State(st): State<Arc<ApiState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let profiler = profiler(&st)?.clone();
    let req: ProfileRequest = parse_json(body)?;
    let settings = req.settings()?;
    let fleet = st.fleet().await?;
    let known = fleet.specs.contains_key(&req.target);
    let targets = targets(&st, &fleet.instances, known, &req)?;
    let ids: Vec<String> = targets.iter().map(|r| r.id.clone()).collect();
    let _claim = profiler.claim(&ids)?;
    let runs = targets
        .into_iter()
        .map(|r| take_one(&st, &profiler, r, settings));
    let mut profiles = Vec::new();
    for done in futures::future::join_all(runs).await {
        profiles.push(done?.summary(DEFAULT_TOP));
    }
    Ok((StatusCode::CREATED, Json(json!({ "profiles": profiles }))))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    service: Option<String>,
}

/// `GET /api/v1/profiles`: the kept profiles, newest first (`?service=` to filter).
pub async fn list(
    State(st): State<Arc<ApiState>>,
    Params(p): Params<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let profiler = profiler(&st)?;
    let mut all = profiler.store.list();
    all.retain(|x| p.service.as_deref().is_none_or(|s| x.service == s));
    all.reverse();
    let profiles: Vec<_> = all.iter().map(|x| x.summary(0)).collect();
    Ok(Json(json!({ "profiles": profiles })))
}

fn find(st: &ApiState, id: &str) -> Result<Arc<Profile>, ApiError> {
    profiler(st)?
        .store
        .get(id)
        .ok_or_else(|| ApiError::not_found("no such profile").detail(id.to_string()))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShowParams {
    top: Option<usize>,
}

/// `GET /api/v1/profiles/{id}`: one profile with its top functions (`?top=N`, default 30).
pub async fn show(
    State(st): State<Arc<ApiState>>,
    Path(id): Path<String>,
    Params(p): Params<ShowParams>,
) -> Result<Json<Value>, ApiError> {
    let profile = find(&st, &id)?;
    Ok(Json(json!(profile.summary(p.top.unwrap_or(DEFAULT_TOP)))))
}

/// `GET /api/v1/profiles/{id}/flamegraph.svg`.
pub async fn flamegraph(
    State(st): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let profile = find(&st, &id)?;
    let svg = tokio::task::spawn_blocking(move || {
        let title = format!(
            "{} {} ({}), {} samples",
            profile.service, profile.version, profile.instance, profile.samples
        );
        shoal_profile::flamegraph(&profile.stacks, &title, &profile.comments().join("  "))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

/// `GET /api/v1/profiles/{id}/pprof`: the gzip'd protobuf `go tool pprof` reads.
pub async fn pprof(
    State(st): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let profile = find(&st, &id)?;
    let name = format!("attachment; filename=\"{}.pb.gz\"", profile.id);
    let bytes = tokio::task::spawn_blocking(move || {
        let comments = profile.comments();
        let meta = shoal_profile::pprof::PprofMeta {
            rate_hz: profile.rate_hz,
            started_ms: profile.started_ms,
            duration_ms: profile.duration_ms,
            comments: &comments,
        };
        shoal_profile::pprof::encode(&profile.stacks, &meta)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_DISPOSITION, name),
        ],
        bytes,
    )
        .into_response())
}

/// `GET /api/v1/profiles/{id}/folded`: the folded stacks (`a;b;c COUNT`), for other tools.
pub async fn folded(
    State(st): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let profile = find(&st, &id)?;
    let mut text = profile.stacks.lines().join("\n");
    text.push('\n');
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// `GET /api/v1/profiles/{a}/diff/{b}`: every function's share in A and in B, the
/// biggest growth first.
pub async fn diff(
    State(st): State<Arc<ApiState>>,
    Path((a, b)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (pa, pb) = (find(&st, &a)?, find(&st, &b)?);
    let (fa, fb) = (
        shoal_profile::functions(&pa.stacks),
        shoal_profile::functions(&pb.stacks),
    );
    let rows: Vec<Value> = shoal_profile::diff(&fa, &fb)
        .into_iter()
        .map(|r| {
            let mut v = json!(r);
            v["self_delta"] = json!(r.self_delta());
            v["total_delta"] = json!(r.total_delta());
            v
        })
        .collect();
    Ok(Json(json!({
        "a": pa.summary(0),
        "b": pb.summary(0),
        "functions": rows,
    })))
}
