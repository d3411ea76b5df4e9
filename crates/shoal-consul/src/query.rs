//! What each endpoint reads from its query string. Every handler declares an
//! [`Endpoint`]: the parameters it reads on top of the ones any Consul client may send
//! anywhere. A parameter it does not read is refused with a 400 naming it, never
//! silently ignored. The common ones are read here, once:
//!
//! - `dc`: this datacenter's name only; another answers 500 "No path to datacenter",
//!   as Consul does for a datacenter it cannot reach;
//! - `ns`, `partition` (Consul Enterprise): `default` only, else 400;
//! - `peer` (cluster peering): refused with 400, Shoal does not peer;
//! - `token`: read before the request gets here, by the API's token check when
//!   `[platform.tokens]` are configured (Shoal has no Consul ACLs);
//! - `pretty`: accepted, without effect (JSON is always compact);
//! - on blocking reads, `index` and `wait` (blocking queries), `stale`, `consistent`
//!   (one node's store is always consistent) and `cached` (answers are always fresh).
//!
//! Also here: the `filter` expression and the `node-meta` pairs of the endpoints that
//! read them.

use std::collections::BTreeMap;

use crate::error::{ConsulError, Result};
use crate::filter::{Filter, Shape};
use crate::params::Params;
use crate::state::DATACENTER;

/// Read by every endpoint.
const COMMON: &[&str] = &["dc", "ns", "partition", "peer", "token", "pretty"];
/// Read by every blocking read.
const BLOCKING: &[&str] = &["index", "wait", "stale", "consistent", "cached"];

/// An endpoint and the parameters it reads besides [`COMMON`] (and [`BLOCKING`]).
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// Method and path, for error messages (`GET /v1/kv/<key>`).
    pub name: &'static str,
    pub blocking: bool,
    pub reads: &'static [&'static str],
}

impl Endpoint {
    /// A blocking read (`index`, `wait` and the consistency modes are read too).
    pub const fn blocking(name: &'static str, reads: &'static [&'static str]) -> Self {
        Endpoint {
            name,
            blocking: true,
            reads,
        }
    }

    /// A write, or a read that does not block.
    pub const fn plain(name: &'static str, reads: &'static [&'static str]) -> Self {
        Endpoint {
            name,
            blocking: false,
            reads,
        }
    }

    fn allows(&self, key: &str) -> bool {
        COMMON.contains(&key)
            || (self.blocking && BLOCKING.contains(&key))
            || self.reads.contains(&key)
    }

    /// The query string, checked: every parameter is one this endpoint reads, and the
    /// common ones name what Shoal serves.
    pub fn params(&self, raw: Option<&str>) -> Result<Params> {
        let p = Params::parse(raw);
        check(self, &p)?;
        Ok(p)
    }
}

/// The decision behind [`Endpoint::params`].
fn check(e: &Endpoint, p: &Params) -> Result<()> {
    if let Some(unknown) = p.keys().find(|k| !e.allows(k)) {
        let mut reads: Vec<&str> = COMMON.to_vec();
        if e.blocking {
            reads.extend(BLOCKING);
        }
        reads.extend(e.reads);
        return Err(ConsulError::bad(format!(
            "Unknown query parameter {unknown:?} for {}: Shoal does not support it here (this endpoint reads {})",
            e.name,
            reads.join(", ")
        )));
    }
    let set = |k: &str| p.get(k).filter(|v| !v.is_empty());
    if let Some(dc) = set("dc").filter(|dc| *dc != DATACENTER) {
        return Err(ConsulError::NoDatacenter(format!(
            "No path to datacenter {dc:?}: Shoal serves one datacenter, {DATACENTER:?}"
        )));
    }
    for key in ["ns", "partition"] {
        if let Some(v) = set(key).filter(|v| *v != "default") {
            return Err(ConsulError::bad(format!(
                "{key}={v:?}: namespaces and admin partitions are Consul Enterprise features; Shoal has only \"default\""
            )));
        }
    }
    if let Some(peer) = set("peer") {
        return Err(ConsulError::bad(format!(
            "peer={peer:?}: Shoal does not provide cluster peering"
        )));
    }
    Ok(())
}

/// The `filter` expression, checked against the shape of each filtered entry (absent
/// or empty: no filter). An invalid one is a 400 saying what and where.
pub fn filter(p: &Params, shape: &'static Shape) -> Result<Option<Filter>> {
    match p.get("filter") {
        None | Some("") => Ok(None),
        Some(src) => Filter::new(src, shape)
            .map(Some)
            .map_err(|e| ConsulError::bad(format!("Invalid filter expression: {e}"))),
    }
}

/// The `node-meta` pairs (`key:value`, repeatable; a pair without `:` asks for an
/// empty value, as Consul reads it).
pub fn node_meta(p: &Params) -> Vec<(&str, &str)> {
    p.all("node-meta")
        .into_iter()
        .map(|kv| kv.split_once(':').unwrap_or((kv, "")))
        .collect()
}

/// Whether a node with `meta` has every asked pair.
pub fn node_meta_matches(asked: &[(&str, &str)], meta: &BTreeMap<String, String>) -> bool {
    asked
        .iter()
        .all(|(k, v)| meta.get(*k).is_some_and(|have| have == v))
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: Endpoint = Endpoint::blocking("GET /v1/x", &["tag"]);
    const W: Endpoint = Endpoint::plain("PUT /v1/y", &[]);

    fn status(e: &Endpoint, q: &str) -> Option<u16> {
        e.params(Some(q)).err().map(|e| e.status().as_u16())
    }

    #[test]
    fn endpoints_read_their_own_and_the_common_parameters() {
        assert_eq!(status(&E, "tag=a&index=3&wait=1s&stale&consistent&cached&token=t&pretty&dc=dc1&ns=default&partition=default&peer="), None);
        assert_eq!(status(&W, "dc=dc1&token=x"), None);
        let e = E
            .params(Some("tag=a&taag=b"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("\"taag\"") && e.contains("GET /v1/x") && e.contains("tag"),
            "{e}"
        );
        assert_eq!(status(&W, "index=3"), Some(400));
        assert_eq!(status(&W, "filter=x"), Some(400));
    }

    #[test]
    fn common_parameters_name_what_shoal_serves() {
        assert_eq!(status(&E, "dc=dc2"), Some(500));
        let msg = E
            .params(Some("dc=dc2"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(msg.starts_with("No path to datacenter"), "{msg}");
        assert_eq!(status(&E, "dc="), None);
        assert_eq!(status(&E, "ns=team"), Some(400));
        assert_eq!(status(&E, "partition=p1"), Some(400));
        let msg = E
            .params(Some("peer=other"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(msg.contains("peering"), "{msg}");
    }

    #[test]
    fn node_meta_pairs() {
        let p = Params::parse(Some("node-meta=a:1&node-meta=b:x:y&node-meta=c"));
        let asked = node_meta(&p);
        assert_eq!(asked, vec![("a", "1"), ("b", "x:y"), ("c", "")]);
        let meta: BTreeMap<String, String> = [("a", "1"), ("b", "x:y"), ("c", "")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
        assert!(node_meta_matches(&asked, &meta));
        assert!(!node_meta_matches(&[("a", "2")], &meta));
        assert!(!node_meta_matches(&[("z", "")], &meta));
        assert!(node_meta_matches(&[], &BTreeMap::new()));
    }
}
