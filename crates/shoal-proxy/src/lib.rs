//! Shoal's data plane: the edge gateway and per-service outbound listeners, with versioned routing, load balancing and resilience.
//!
//! The request path reads an immutable [`RouteTable`] through an `ArcSwap`; a
//! background task ([`watch::follow`]) rebuilds it from every snapshot of the fleet view
//! (`shoal-fleet`: specs, catalog, deployments) and swaps it in, carrying live state
//! (breakers, limits, instance load) across swaps.
//! Every policy decision is a pure state machine on tokio time, tested on a paused clock.
//!
//! # Layout
//! - `table.rs`: the routing table (versions, instances, state) and how it is built.
//! - `resolve.rs`: the pure choice of service, version (pinned, else by deployment
//!   weights, else current) and path for a request.
//! - `watch.rs`: rebuilds and swaps the table on each fleet snapshot.
//! - `balance.rs`: power of two choices on in-flight with a peak-EWMA tiebreak; round robin.
//! - `admission.rs`: rate limit (governor), in-flight cap, caller priorities and shares.
//! - `breaker.rs`: the circuit breaker. `budget.rs`: the retry budget. `eject.rs`: outlier ejection.
//! - `state.rs`: a service's live resilience state. `forward.rs`: attempts and retries.
//! - `pool.rs`: pooled HTTP/1.1 connections to instances (LIFO, per address);
//!   `client.rs`: one exchange on one of them, in the request's task;
//!   `upstream.rs`: such a connection, TCP or TLS (`[services.X.tls]`);
//!   `conn_io.rs`: read-buffer room and lazily re-armed deadlines for both sides.
//! - `proxy.rs`: the request pipeline, a sequence of stages, each a file in `stages/`
//!   (route, admit, body, circuit, send, reply, finish). `server.rs`: the proxy and its listeners;
//!   `h1.rs`: a connection's own HTTP/1.1 loop; `h2.rs`: HTTP/2 handed to hyper;
//!   `tls.rs`: a TLS listener's handshake and ALPN choice; `redirect.rs`: plain HTTP sent to HTTPS; `tunnel.rs`: a switched-protocol (WebSocket) connection joined to the instance.
//! - `message.rs`: a request and its answer on the pipeline; `fields.rs`: their
//!   header fields, raw (`raw.rs`: kept as they arrived) or in a map;
//!   `wire.rs`: HTTP/1.1 heads, framing and chunked bodies as pure functions;
//!   `body.rs`: request and response bodies.
//! - `workers.rs`: thread-per-core serving (`SO_REUSEPORT` sockets, a runtime and pool per thread).
//! - `trace.rs`: W3C trace context. `respond.rs`: Shoal's own answers.
//! - `headers.rs`: header rewriting between client and instance.
//! - `observe.rs`: metrics and access-log records and hooks. `snapshot.rs`: state for the API.
//! - `sample.rs`: which traces are sampled (OpenTelemetry's samplers).
//! - `changes.rs`: circuit and ejection changes between snapshots, for the event stream.
#![forbid(unsafe_code)]

pub mod admission;
pub mod balance;
mod body;
pub mod breaker;
pub mod budget;
pub mod changes;
mod client;
mod client_h2;
mod conn_io;
pub mod eject;
mod fields;
mod flag_table;
mod forward;
mod h1;
mod h2;
mod headers;
mod message;
mod observe;
mod pool;
mod proxy;
mod raw;
mod redirect;
mod resolve;
mod respond;
pub mod sample;
mod server;
mod snapshot;
mod stages;
mod state;
mod table;
mod tls;
pub mod trace;
mod tunnel;
mod upstream;
mod verdict;
pub mod watch;
mod wire;
mod workers;

pub use balance::{Endpoint, Strategy};
pub use breaker::CircuitState;
pub use fields::HeaderLookup;
pub use forward::Failure;
pub use observe::{
    AccessLog, AccessRecord, AccessTexts, Hooks, Observer, RequestRecord, SentFlags,
};
pub use redirect::{location as https_location, serve_redirect};
pub use resolve::Target;
pub use respond::Reason;
pub use sample::{Sampler, SamplerError};
pub use server::{Proxy, ProxyConfig, Transport};
pub use snapshot::{InstanceSnapshot, ProxySnapshot, ServiceSnapshot};
pub use state::ServiceState;
pub use table::{FlagsRoute, RouteTable, ServiceRoute};
pub use upstream::UpstreamTls;
#[doc(hidden)]
pub use wire::fuzz_http1;
