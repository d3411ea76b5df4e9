//! Consul-compatible DNS for Shoal's catalog (DESIGN §7): `<service>.service.<domain>` A/AAAA
//! and SRV for healthy instances, `<version>.<service>.service.<domain>`, RFC 2782
//! `_<service>._<tag>.service.<domain>`, `<node>.node.<domain>`, `<query>.query.<domain>`,
//! PTR, over UDP and TCP.
//!
//! The answer path reads only an in-memory [`DnsTable`] swapped in whole ([`ArcSwap`]) by
//! [`follow_fleet`], which rebuilds it from each snapshot of the fleet view (`shoal-fleet`,
//! which watches the store); a query never waits on the store or a lock.
//!
//! Why `hickory-proto` with our own loops rather than `hickory-server`: the server's
//! `Authority` model serves zones of stored record sets, while every answer here is computed
//! (health filtering, version narrowing, a shuffle per query, Consul's truncation that keeps
//! the largest prefix of answers that fits, SRV additionals kept with their SRVs). Owning the
//! loops keeps that in one pure function, [`answer`] (bytes in, bytes out), that the UDP and
//! TCP loops share and that unit tests, proptests and the fuzzer call directly, and lets us
//! bound TCP memory, connections and idle time explicitly. `hickory-proto` parses every query
//! (header, question, EDNS0); answers are written by `wire.rs` straight into wire format,
//! because hickory's `Message` encoder (generic name compression) cost ~11 µs for a 5-record
//! SRV answer here against ~2 µs for the whole [`answer`] with the direct writer, and the
//! tests decode every answer with hickory-proto to keep the writer honest.
//!
//! # Consul behaviour kept, and where Shoal differs
//!
//! - Only routable instances (running, passing or warning) are answered. A service with none
//!   is NXDOMAIN with the zone's SOA in authority, as Consul's `errNameNotFound`; a known name
//!   without records of the asked type is NOERROR, empty, with the SOA (Consul's `errNoData`);
//!   names outside our domains are REFUSED (no recursors).
//! - A/AAAA answers carry each distinct address once (instances on one machine share
//!   127.0.0.1); SRV answers carry one record per instance port, priority 1, weight from the
//!   registration's Consul `Weights` (`Passing` while passing, `Warning` while warning; 1 for
//!   supervised instances, as Consul's default), target `<node>.node.<dc>.<domain>` when the
//!   instance has its node's address, else Consul's `<hex>.addr.<dc>.<domain>`, with the
//!   target's A/AAAA in the additional section.
//! - Instances registered with a host name (not an address): A/AAAA answer a CNAME to it (one,
//!   chosen at random) only when no instance address answers, as Consul; when the name is in
//!   our zones (`web.service.consul`) its addresses follow. SRV records target the host name
//!   itself, with no additional record (no recursors to resolve it).
//! - Unversioned names answer the service's current version (like the gateway); while that
//!   version has no routable instance (mid-deploy) or the service has no spec, every version.
//! - UDP answers are as large as the client's EDNS0 size allows, up to 65467 bytes (Consul's
//!   `maxUDPDatagramSize`; [`ServerOptions::max_udp_payload`]), so `dig +bufsize=4096` gets
//!   30 SRV records in one answer. Without EDNS0 the limit is 512 bytes. An answer that does
//!   not fit keeps the largest prefix of the shuffled records that fits and sets TC, so
//!   clients retry over TCP. Consul sets TC only with `enable_truncate` (default off), and
//!   without EDNS also cuts answers to `udp_answer_limit` (3) records; Shoal sends as many as
//!   fit instead and always sets TC when some were left out. `a_record_limit` (Consul's
//!   default: none) has no equivalent. TCP answers in full.
//! - Reverse lookups (`<a.b.c.d>.in-addr.arpa`, 32-nibble `ip6.arpa`) answer PTR
//!   `<node>.node.<dc>.<first domain>` for a node's address, else
//!   `<service>.service.<dc>.<first domain>` for a service instance at it (from the catalog,
//!   healthy or not), as Consul; other `arpa` names are NXDOMAIN (no recursors).
//! - `consul.service.<domain>` answers this node (SRV port 8300, Consul's server RPC port;
//!   [`DnsConfig::agent`]), as every Consul server registers itself.
//! - Prepared queries (`/v1/query`, stored under `shoal/consul/queries/`) answer
//!   `<name or id>.query[.<dc>].<domain>` and `_<name>._tcp.query...` (A, AAAA, SRV) with
//!   the query's `DNS.TTL`; a query that selects nothing is NXDOMAIN. One datacenter: no
//!   failover; `Near` sorts nothing.
//! - Not served: `.connect`/`.ingress`/`.virtual`, node TXT records, other datacenters (a
//!   datacenter label other than ours is NXDOMAIN), recursion.

//! # Layout
//!
//! - `config.rs` — [`DnsConfig`] (domains, datacenter, TTL) and [`ServerOptions`] (limits).
//! - `table.rs` — [`DnsTable`] and the pure [`build_table`] from specs and catalog records.
//! - `name.rs` — classifies a query name (service, tag, node, addr, query, reverse, apex,
//!   outside).
//! - `reverse.rs` — `in-addr.arpa`/`ip6.arpa` names and the PTR names of addresses.
//! - `answer.rs` — [`answer`]: query bytes to response bytes; Consul's negative answers.
//! - `server.rs` — [`bind`], [`serve`]: the UDP workers and the capped TCP loop.
//! - `updater.rs` — [`follow_fleet`]: fleet snapshot → [`table_of`] → table swap.
//! - `wire.rs` — writes responses in wire format: compression, truncation with TC, FORMERR.
//! - `error.rs` — [`DnsError`].
#![forbid(unsafe_code)]

mod answer;
mod config;
mod error;
mod name;
mod reverse;
mod server;
mod table;
mod updater;
mod wire;

#[cfg(test)]
mod answer_consul_tests;
#[cfg(test)]
mod answer_tests;

pub use answer::{answer, answer_with_rng, Transport, CLASSIC_UDP_PAYLOAD};
pub use arc_swap::ArcSwap;
pub use config::{AgentNode, DnsConfig, ServerOptions, MAX_UDP_PAYLOAD};
pub use error::DnsError;
pub use server::{bind, serve, serve_with};
pub use table::{build_table, DnsTable};
pub use updater::{follow_fleet, table_of};
