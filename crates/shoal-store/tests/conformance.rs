//! The store conformance suite (crates/shoal-store-conformance) on the embedded store.

use std::sync::Arc;

use shoal_store::{EmbeddedStore, Store, StoreError};

/// A fresh in-memory store; nothing to clean up after.
async fn open() -> Result<(Arc<dyn Store>, ()), StoreError> {
    let store: Arc<dyn Store> = EmbeddedStore::open_in_memory().await?;
    Ok((store, ()))
}

shoal_store_conformance::conformance_tests!(open);
