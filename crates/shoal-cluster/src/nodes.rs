//! The node registry's records: [`NodeRecord`] (live, on the node's lease) and [`NodeSeen`]
//! (last seen, no lease), reading them, and the operator's calls: drain, undrain, forget.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};
use shoal_catalog::{node_key, node_seen_key, NODE_PREFIX, NODE_SEEN_PREFIX};
use shoal_schedule::{Node, Resources};
use shoal_store::{CmpOp, Compare, KeyValue, Op, OpResponse, Revision, Store, StoreError, Txn};
use tracing::{info, warn};

use crate::error::ClusterError;
use crate::status::node_statuses;

/// How often [`set_draining`] re-reads and retries when the records changed under it.
const CAS_ATTEMPTS: usize = 5;

/// What a node says about itself: `shoal/nodes/<name>`, on the node's lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// The node's name, unique in the cluster.
    pub name: String,
    /// The IP other nodes reach it on (`--advertise`).
    pub address: IpAddr,
    /// Its HTTP API.
    pub api: SocketAddr,
    /// Its edge gateway.
    pub gateway: SocketAddr,
    /// What it offers to instances.
    pub capacity: Resources,
    /// Labels for placement constraints.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// When its agent started (ms since the Unix epoch).
    pub started_ms: u64,
    /// Its Shoal version.
    pub version: String,
    /// Set by `shoal node drain`: it takes no new instances and its instances move away.
    #[serde(default)]
    pub draining: bool,
}

/// The last that was seen of a node: `shoal/nodes-seen/<name>`, without a lease, so it
/// outlives the node's lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSeen {
    /// The node's last record.
    pub record: NodeRecord,
    /// When the node last wrote this (ms since the Unix epoch, the node's clock).
    pub last_seen_ms: u64,
}

/// Both kinds of node records, read at one revision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Nodes {
    /// Live records, by name.
    pub records: Vec<NodeRecord>,
    /// Last-seen records, by name.
    pub seen: Vec<NodeSeen>,
    /// The store revision read.
    pub revision: Revision,
}

impl Nodes {
    /// The nodes as the scheduler sees them; see [`node_statuses`].
    pub fn statuses(&self, now_ms: u64, grace: std::time::Duration) -> Vec<Node> {
        node_statuses(&self.records, &self.seen, now_ms, grace)
    }
}

/// Reads every node record in one transaction. A malformed record is skipped and logged, so
/// one bad key cannot hide every node.
pub async fn read_nodes(store: &dyn Store) -> Result<Nodes, StoreError> {
    let resp = store
        .txn(Txn::new().and_then([Op::range(NODE_PREFIX), Op::range(NODE_SEEN_PREFIX)]))
        .await?;
    let mut ranges = resp.responses.into_iter().map(|r| match r {
        OpResponse::Range(kvs) => kvs,
        _ => Vec::new(),
    });
    let (live, seen) = (
        ranges.next().unwrap_or_default(),
        ranges.next().unwrap_or_default(),
    );
    Ok(Nodes {
        records: live.iter().filter_map(decode_logged).collect(),
        seen: seen.iter().filter_map(decode_logged).collect(),
        revision: resp.revision,
    })
}

fn decode_logged<T: serde::de::DeserializeOwned>(kv: &KeyValue) -> Option<T> {
    decode(kv)
        .map_err(|e| warn!(key = %kv.key, error = %e, "skipping a malformed node record"))
        .ok()
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(kv: &KeyValue) -> Result<T, ClusterError> {
    serde_json::from_slice(&kv.value).map_err(|source| ClusterError::Malformed {
        key: kv.key.clone(),
        source,
    })
}

pub(crate) fn encode<T: Serialize>(name: &str, value: &T) -> Result<Vec<u8>, ClusterError> {
    serde_json::to_vec(value).map_err(|source| ClusterError::Encode {
        name: name.to_owned(),
        source,
    })
}

/// A node's live and last-seen key/values, read at one revision.
pub(crate) async fn read_node(
    store: &dyn Store,
    name: &str,
) -> Result<(Option<KeyValue>, Option<KeyValue>), StoreError> {
    let resp = store
        .txn(Txn::new().and_then([Op::get(node_key(name)), Op::get(node_seen_key(name))]))
        .await?;
    let mut gets = resp.responses.into_iter().map(|r| match r {
        OpResponse::Get(kv) => kv,
        _ => None,
    });
    Ok((gets.next().flatten(), gets.next().flatten()))
}

/// Marks a node draining (`shoal node drain`): it takes no new instances and its instances
/// move away. Works on a node that is down too; it comes back draining.
pub async fn drain(store: &dyn Store, name: &str) -> Result<(), ClusterError> {
    set_draining(store, name, true).await
}

/// Clears the draining mark.
pub async fn undrain(store: &dyn Store, name: &str) -> Result<(), ClusterError> {
    set_draining(store, name, false).await
}

/// Sets `draining` in both of the node's records in one transaction, conditioned on their
/// mod revisions (the live record keeps its lease); re-reads and retries on a conflict.
pub async fn set_draining(
    store: &dyn Store,
    name: &str,
    draining: bool,
) -> Result<(), ClusterError> {
    for _ in 0..CAS_ATTEMPTS {
        let (live, seen) = read_node(store, name).await?;
        if live.is_none() && seen.is_none() {
            return Err(ClusterError::UnknownNode(name.to_owned()));
        }
        let mut compares = Vec::new();
        let mut ops = Vec::new();
        match &live {
            Some(kv) => {
                let mut record: NodeRecord = decode(kv)?;
                record.draining = draining;
                compares.push(Compare::mod_revision(
                    &kv.key,
                    CmpOp::Equal,
                    kv.mod_revision,
                ));
                ops.push(Op::put_with_lease(
                    &kv.key,
                    encode(name, &record)?,
                    kv.lease,
                ));
            }
            None => compares.push(Compare::missing(node_key(name))),
        }
        match &seen {
            Some(kv) => {
                let mut last: NodeSeen = decode(kv)?;
                last.record.draining = draining;
                compares.push(Compare::mod_revision(
                    &kv.key,
                    CmpOp::Equal,
                    kv.mod_revision,
                ));
                ops.push(Op::put(&kv.key, encode(name, &last)?));
            }
            None => compares.push(Compare::missing(node_seen_key(name))),
        }
        match store.txn(Txn::new().when(compares).and_then(ops)).await {
            Ok(resp) if resp.succeeded => {
                info!(node = name, draining, "node draining mark set");
                return Ok(());
            }
            // Changed, or the lease expired between the read and the write: read again.
            Ok(_) | Err(StoreError::LeaseNotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(ClusterError::Contended {
        name: name.to_owned(),
        attempts: CAS_ATTEMPTS,
    })
}

/// Forgets a node that is gone for good (`shoal node rm`): deletes its last-seen record, so it
/// is no longer listed as lost. A live node registers again and is listed again.
pub async fn forget(store: &dyn Store, name: &str) -> Result<bool, StoreError> {
    Ok(store.delete(&node_seen_key(name)).await?.is_some())
}
