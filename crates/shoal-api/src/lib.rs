//! Shoal's HTTP API: the native `/api/v1` endpoints and the Consul-compatible `/v1` ones.
//!
//! Handlers read and write the store only; controllers react to what they write.
//! Every error is JSON `{ "error": ..., "detail": ... }` with a fitting status.
//!
//! # Layout
//! - `auth.rs`: tokens and the rights each request needs.
//! - `error.rs`: the JSON error type and body parsing with size limits.
//! - `listen.rs`: the listener: hyper connections with timeouts, half-close and the connection budget.
//! - `body_limit.rs`: request bodies read whole first: 413 past [`MAX_BODY`], 408 when they stall.
//! - `state.rs`: shared handler state and store reads used by several handlers.
//! - `services.rs`: services, instances, scale, stop/start, restart.
//! - `deploy.rs`: submitting a service file, deployments, history, promote/abort, rollback.
//! - `flags.rs`: feature flags (list, show, `PATCH`/`PUT` edits, delete).
//! - `flag_text.rs`: how flag rules read for people (event messages, the CLI).
//! - `ofrep.rs`: OFREP, flag evaluation for services (`/ofrep/v1/evaluate/flags`).
//! - `events.rs`: the event stream (query and SSE tail).
//! - `fanout.rs`: cluster mode: a query asked of every other node's API (`local=true`),
//!   each within 2 s, missing nodes named; `fanout_merge.rs`: the answers merged (pure);
//!   `fanout_metrics.rs`: the same for `/api/v1/metrics/query` (`shoal top`), a layer.
//! - `logs.rs`: log queries and the live tail (SSE).
//! - `errors.rs`: the errors view (5xx answers, crashes, error lines by cause).
//! - `chaos.rs`: chaos experiments (list, start, stop), off unless the platform allows them.
//! - `profiles.rs`: CPU profiles of this node's instances (take, list, show, flame graph, pprof, diff).
//! - `nodes.rs`: the cluster's nodes, its leader, drain and undrain.
//! - `kv.rs`: the user's key/value entries as one list, for browsing.
//! - `secrets.rs`: secrets (values only to an explicit get).
//! - `traces.rs`: trace summaries and assembled traces from the proxy's spans.
//! - `consul.rs`: the Consul-compatible status endpoints.
//! - the rest of the Consul API (`/v1/kv`, `session`, `agent`, `catalog`, `health`) is the
//!   `shoal-consul` crate's router, merged here.
//! - `openapi.rs`: the OpenAPI document of `/api/v1`, put together from each handler file's
//!   part (`openapi_more.rs`: the metrics and chaos parts), checked against the router.
//! - `query.rs`: query strings as handler parameters (JSON 400s, `?token=` left out).
//! - `since.rs`: the duration and `since` grammar of parameters, with its patterns.
//! - the web dashboard at `/ui/` is the `shoal-ui` crate's router, merged here.
#![forbid(unsafe_code)]

mod auth;
mod body_limit;
mod chaos;
mod consul;
mod deploy;
mod error;
mod errors;
mod events;
pub mod fanout;
mod fanout_merge;
mod fanout_metrics;
mod flag_seed;
pub mod flag_text;
mod flags;
mod kv;
mod listen;
mod logs;
mod nodes;
mod ofrep;
mod openapi;
mod openapi_more;
mod profiles;
mod query;
mod secrets;
mod services;
mod since;
mod state;
mod traces;

use std::future::Future;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use axum::Router;
use tokio::net::TcpListener;

pub use auth::{Token, Tokens};
pub use deploy::{DeployAnswer, DeployRequest, RollbackRequest};
pub use error::ApiError;
pub use flag_seed::seed_flags;
pub use flags::FlagView;
pub use state::{ApiState, FlagCounts};

/// Largest request body accepted (1 MiB).
pub const MAX_BODY: usize = 1 << 20;
/// Largest snapshot a restore (`PUT /v1/snapshot`) accepts.
pub use shoal_consul::MAX_SNAPSHOT;

/// Every route of the API.
pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/api/v1/agent", get(services::agent))
        .route("/api/v1/services", get(services::list))
        .route("/api/v1/services/{name}", get(services::show))
        .route("/api/v1/services/{name}/scale", post(services::scale))
        .route("/api/v1/services/{name}/stop", post(services::stop))
        .route("/api/v1/services/{name}/start", post(services::start))
        .route("/api/v1/deploy", post(deploy::deploy))
        .route("/api/v1/deployments", get(deploy::list))
        .route("/api/v1/deployments/{service}", get(deploy::show))
        .route(
            "/api/v1/deployments/{service}/history",
            get(deploy::history),
        )
        .route(
            "/api/v1/deployments/{service}/promote",
            post(deploy::promote),
        )
        .route("/api/v1/deployments/{service}/abort", post(deploy::abort))
        .route("/api/v1/rollback/{service}", post(deploy::rollback))
        .route("/api/v1/instances", get(services::instances))
        .route("/api/v1/proxy", get(services::proxy))
        .route("/api/v1/instances/{id}/restart", post(services::restart))
        .route("/api/v1/secrets", get(secrets::list))
        .route(
            "/api/v1/secrets/{*name}",
            get(secrets::get).put(secrets::put).delete(secrets::delete),
        )
        .route("/api/v1/flags", get(flags::list))
        .route(
            "/api/v1/flags/{name}",
            get(flags::show)
                .patch(flags::patch)
                .put(flags::put)
                .delete(flags::delete),
        )
        .merge(ofrep::router(state.clone()))
        .route("/api/v1/events", get(events::query))
        .route("/api/v1/events/stream", get(events::stream))
        .route("/api/v1/errors", get(errors::list))
        .route("/api/v1/errors/{id}", get(errors::show))
        .route("/api/v1/logs", get(logs::query))
        .route("/api/v1/logs/stream", get(logs::stream))
        .route("/api/v1/logs/stats", get(logs::stats))
        .route("/api/v1/traces", get(traces::list))
        .route("/api/v1/traces/{id}", get(traces::show))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/auth/self", get(auth::whoami))
        .route("/api/v1/kv", get(kv::list))
        .route(
            "/api/v1/chaos",
            get(chaos::list).post(chaos::start).delete(chaos::stop_all),
        )
        .route("/api/v1/chaos/{id}", delete(chaos::stop))
        .route("/api/v1/profiles", get(profiles::list).post(profiles::take))
        .route("/api/v1/profiles/{id}", get(profiles::show))
        .route(
            "/api/v1/profiles/{id}/flamegraph.svg",
            get(profiles::flamegraph),
        )
        .route("/api/v1/profiles/{id}/pprof", get(profiles::pprof))
        .route("/api/v1/profiles/{id}/folded", get(profiles::folded))
        .route("/api/v1/profiles/{a}/diff/{b}", get(profiles::diff))
        .route("/api/v1/nodes", get(nodes::list))
        .route("/api/v1/nodes/{name}/drain", post(nodes::drain))
        .route("/api/v1/nodes/{name}/undrain", post(nodes::undrain))
        .route("/v1/status/leader", get(consul::leader))
        .route("/v1/status/peers", get(consul::peers))
        .merge(shoal_consul::router(Arc::new(consul_state(&state))))
        .merge(
            state
                .metrics
                .clone()
                .map(|m| {
                    shoal_metrics::router(m).layer(axum::middleware::from_fn_with_state(
                        state.clone(),
                        fanout_metrics::gather,
                    ))
                })
                .unwrap_or_default(),
        )
        .merge(shoal_ui::router())
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(body_limit::read_whole))
        // gzip for clients that ask (browsers, Go's and Python's HTTP clients); the
        // default predicate leaves event streams, images and tiny answers alone.
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::check,
        ))
        .with_state(state)
}

/// The Consul API's state: the store, the fleet view and `/metrics`' text for `agent/metrics`.
fn consul_state(state: &ApiState) -> shoal_consul::ConsulState {
    let consul =
        shoal_consul::ConsulState::new(state.store.clone(), state.node.clone(), state.http)
            .with_fleet(state.fleet.clone())
            .with_script_checks(state.script_checks);
    match state.metrics.clone() {
        Some(m) => consul.with_metrics(Arc::new(move || m.render())),
        None => consul,
    }
}

/// Serves the API on `listener` until `shutdown` resolves and every connection
/// ended (each finishes what it is serving). Connections count against the
/// process's connection budget; see `listen.rs` for their timeouts.
pub async fn serve(
    listener: TcpListener,
    state: Arc<ApiState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, None, shutdown).await
}

/// [`serve`], over TLS when `tls` is given.
pub async fn serve_with(
    listener: TcpListener,
    state: Arc<ApiState>,
    tls: Option<shoal_tls::TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let share = shoal_listen::Share::new(shoal_listen::Budget::process(), "api", usize::MAX, 1);
    listen::serve(listener, router(state), share, tls, shutdown).await;
    Ok(())
}
