//! [`read`]: specs, deployments, the catalog, scale overrides, flags, live nodes and Consul
//! prepared queries in one read-only transaction, so all of them come from one store revision.

use shoal_catalog::{
    CATALOG_PREFIX, DEPLOY_PREFIX, FLAG_PREFIX, NODE_PREFIX, PREPARED_QUERY_PREFIX, SCALE_PREFIX,
    SPEC_PREFIX,
};
use shoal_store::{Op, OpResponse, Store, StoreError, Txn};

use crate::fleet::Fleet;
use crate::state::State;

/// The fleet as the store holds it now, decoded (unreadable records left out).
pub async fn read(store: &dyn Store) -> Result<Fleet, StoreError> {
    Ok(read_state(store).await?.fleet())
}

/// The working copy at the store's current revision.
pub(crate) async fn read_state(store: &dyn Store) -> Result<State, StoreError> {
    let resp = store
        .txn(Txn::new().and_then([
            Op::range(SPEC_PREFIX),
            Op::range(DEPLOY_PREFIX),
            Op::range(CATALOG_PREFIX),
            Op::range(SCALE_PREFIX),
            Op::range(FLAG_PREFIX),
            Op::range(NODE_PREFIX),
            Op::range(PREPARED_QUERY_PREFIX),
        ]))
        .await?;
    let mut state = State::at(resp.revision);
    for response in resp.responses {
        if let OpResponse::Range(kvs) = response {
            for kv in kvs {
                state.put(&kv.key, &kv.value, crate::state::of(&kv));
            }
        }
    }
    Ok(state)
}
