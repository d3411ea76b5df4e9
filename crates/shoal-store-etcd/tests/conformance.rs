//! The store conformance suite (crates/shoal-store-conformance) on a real single-member etcd,
//! through a namespace so every key passes the prefixing both ways.

use std::sync::Arc;

use shoal_store::Store;
use shoal_store_etcd::{EtcdOptions, EtcdStore};
use shoal_testkit::Etcd;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// A fresh etcd (killed when the guard drops) and a store on it.
async fn open() -> Result<(Arc<dyn Store>, Etcd), Error> {
    let etcd = tokio::task::spawn_blocking(Etcd::start).await??;
    let opts = EtcdOptions {
        namespace: "conformance/".into(),
        ..EtcdOptions::default()
    };
    let store = EtcdStore::connect(&[etcd.endpoint()], opts).await?;
    Ok((Arc::new(store), etcd))
}

shoal_store_conformance::conformance_tests!(open);
