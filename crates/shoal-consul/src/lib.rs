//! Shoal's Consul-compatible HTTP API (`/v1/...`): KV with sessions and locks, the agent
//! (services, checks, TTL updates, maintenance, members, metrics), catalog (external nodes
//! too) and health, user events, coordinates, all with blocking queries, plus the background
//! runner of the checks of externally registered services.
//!
//! Everything lives in the store: KV values at `kv/<key>` (raw bytes) with metadata at
//! `shoal/kvmeta/<key>`; sessions, registered services and checks, catalog nodes and user
//! events under `shoal/consul/`;
//! registered services are mirrored into the Shoal catalog (`external = true`) so the
//! gateway and DNS serve them like supervised ones. `X-Consul-Index` is the store revision.
//!
//! # Layout
//! - `state.rs`: [`ConsulState`], the store keys owned here, UUIDs.
//! - `error.rs`: [`ConsulError`], JSON error answers.
//! - `params.rs`, `duration.rs`, `body.rs`: query strings, Go durations, body normalisation.
//! - `query.rs`: the parameters each endpoint reads; any other is refused.
//! - `blocking.rs`: blocking-query decisions and the wait loop; index headers.
//! - `kv_model.rs` (pure rules) and `kv.rs` (handlers): `/v1/kv`.
//! - `txn_model.rs` (pure rules) and `txn.rs` (handler): `PUT /v1/txn`, KV operations only.
//! - `session.rs`: `/v1/session/*`; `session_end.rs`: releasing locks, the session reaper.
//! - `register.rs`: registration bodies → definitions; `check_model.rs`: check records and rules.
//! - `owned.rs`: names defined in the service file refuse outside registrations (409).
//! - `registry.rs`: store writes of registrations and verdicts; catalog mirroring.
//! - `view.rs` + `render.rs`: the read model and Consul's JSON shapes.
//! - `filter/`: the `filter` query parameter (go-bexpr expressions over those shapes).
//! - `agent.rs`, `catalog.rs`: `/v1/agent/*`, `/v1/catalog/*`, `/v1/health/*`.
//! - `maintenance.rs`: node and service maintenance mode (critical `maintenance` checks).
//! - `monitor.rs`: `agent/monitor`, the process's log streamed in Consul's line or JSON form.
//! - `member.rs`: this agent as a Serf member and a coordinate (`agent/members`, `coordinate/*`).
//! - `agent_metrics.rs`: `agent/metrics`, Shoal's Prometheus text in Consul's JSON shape.
//! - `lifecycle.rs`: `agent/reload` (nothing to re-read) and `agent/leave` (refused, 501).
//! - `event_model.rs` (pure rules) and `event.rs` (handlers): `/v1/event/{fire,list}`.
//! - `catalog_reg_model.rs` (pure rules) and `catalog_reg.rs` (handlers, store, mirror):
//!   `/v1/catalog/register`, `/deregister`, `/datacenters`; nodes other than this agent's.
//! - `prepared_query_model.rs` (pure rules) and `prepared_query.rs` (handlers): `/v1/query`,
//!   prepared queries (DNS answers them too, from the fleet view).
//! - `snapshot_model.rs` (the archive) and `snapshot.rs` (handlers): `/v1/snapshot`.
//! - `runner.rs`: [`run_checks`], the background check runner; `probe.rs`: what it runs for
//!   each probed check kind; `alias.rs`: alias checks (`AliasService`, `AliasNode`).
#![forbid(unsafe_code)]

mod agent;
mod agent_metrics;
mod alias;
mod blocking;
mod body;
mod catalog;
mod catalog_reg;
mod catalog_reg_model;
mod check_model;
mod duration;
mod error;
mod event;
mod event_model;
pub mod filter;
mod kv;
mod kv_model;
mod lifecycle;
mod maintenance;
mod member;
pub mod monitor;
mod out_of_scope;
mod owned;
mod params;
mod prepared_query;
mod prepared_query_model;
mod probe;
mod query;
mod register;
mod registry;
mod render;
mod runner;
mod session;
mod session_end;
mod snapshot;
mod snapshot_model;
mod state;
mod txn;
mod txn_model;
mod view;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{any, get, post, put};
use axum::Router;

pub use body::{normalize, parse_body};
pub use duration::parse_go_duration;
pub use error::ConsulError;
pub use register::{
    parse_check_register, parse_check_register_with, parse_service, parse_service_with,
};
pub use runner::run_checks;
pub use snapshot::MAX_SNAPSHOT;
pub use state::{ConsulState, MetricsSource};

/// The Consul areas Shoal does not provide ([`out_of_scope::AREAS`]): 501 with a reason.
fn out_of_scope_routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    out_of_scope::AREAS
        .iter()
        .fold(Router::new(), |r, (prefix, _)| {
            let plural = format!("{prefix}s");
            r.route(prefix, any(out_of_scope::refuse))
                .route(&format!("{prefix}/{{*rest}}"), any(out_of_scope::refuse))
                .route(&plural, any(out_of_scope::refuse))
        })
}

/// Every Consul-compatible route this crate serves, ready to merge into a router of any
/// state type (`Router<()>` by default).
pub fn router<S: Clone + Send + Sync + 'static>(state: Arc<ConsulState>) -> Router<S> {
    Router::new()
        .route(
            "/v1/kv/",
            get(kv::get_root).put(kv::put_root).delete(kv::delete_root),
        )
        .route(
            "/v1/kv/{*key}",
            get(kv::get).put(kv::put).delete(kv::delete),
        )
        .route("/v1/txn", put(txn::put))
        .route("/v1/session/create", put(session::create))
        .route("/v1/session/destroy/{id}", put(session::destroy))
        .route("/v1/session/info/{id}", get(session::info))
        .route("/v1/session/list", get(session::list))
        .route("/v1/session/node/{node}", get(session::node))
        .route("/v1/session/renew/{id}", put(session::renew))
        .route("/v1/agent/self", get(agent::self_))
        .route("/v1/agent/services", get(agent::services))
        .route("/v1/agent/service/register", put(agent::register))
        .route("/v1/agent/service/deregister/{id}", put(agent::deregister))
        .route("/v1/agent/service/{id}", get(agent::service))
        .route("/v1/agent/checks", get(agent::checks))
        .route("/v1/agent/check/register", put(agent::check_register))
        .route(
            "/v1/agent/check/deregister/{id}",
            put(agent::check_deregister),
        )
        .route("/v1/agent/check/pass/{id}", put(agent::pass))
        .route("/v1/agent/check/warn/{id}", put(agent::warn))
        .route("/v1/agent/check/fail/{id}", put(agent::fail))
        .route("/v1/agent/check/update/{id}", put(agent::update))
        .route("/v1/agent/members", get(member::members))
        .route("/v1/agent/monitor", get(monitor::monitor))
        .route("/v1/agent/metrics", get(agent_metrics::metrics))
        .route("/v1/agent/reload", put(lifecycle::reload))
        .route("/v1/agent/leave", put(lifecycle::leave))
        .route("/v1/agent/maintenance", put(maintenance::node))
        .route(
            "/v1/agent/service/maintenance/{id}",
            put(maintenance::service),
        )
        .route("/v1/catalog/register", put(catalog_reg::register))
        .route("/v1/catalog/deregister", put(catalog_reg::deregister))
        .route("/v1/catalog/datacenters", get(catalog_reg::datacenters))
        .route("/v1/catalog/services", get(catalog::services))
        .route("/v1/catalog/service/{name}", get(catalog::service))
        .route("/v1/catalog/nodes", get(catalog::nodes))
        .route("/v1/catalog/node/{node}", get(catalog::node))
        .route("/v1/health/service/{name}", get(catalog::health_service))
        .route("/v1/health/checks/{name}", get(catalog::health_checks))
        .route("/v1/health/state/{state}", get(catalog::health_state))
        .route("/v1/health/node/{node}", get(catalog::health_node))
        .route(
            "/v1/snapshot",
            get(snapshot::save)
                .put(snapshot::restore)
                .layer(DefaultBodyLimit::max(MAX_SNAPSHOT)),
        )
        .route("/v1/event/fire/{name}", put(event::fire))
        .route("/v1/event/list", get(event::list))
        .route("/v1/coordinate/nodes", get(member::nodes))
        .route("/v1/coordinate/node/{node}", get(member::node))
        .route("/v1/coordinate/datacenters", get(member::datacenters))
        .route(
            "/v1/query",
            post(prepared_query::create).get(prepared_query::list),
        )
        .route(
            "/v1/query/{id}",
            get(prepared_query::get)
                .put(prepared_query::update)
                .delete(prepared_query::delete),
        )
        .route("/v1/query/{id}/execute", get(prepared_query::execute))
        .with_state(state)
        .merge(out_of_scope_routes())
}
