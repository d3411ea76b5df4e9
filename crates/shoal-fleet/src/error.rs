//! [`FleetError`]: why the view stopped following the store and has to read it again.

use shoal_store::StoreError;

/// A failure of the read or of the watch; the view logs it, backs off and reads again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FleetError {
    /// The consistent read of specs, deployments, the catalog and overrides failed.
    #[error("cannot read the fleet from the store: {0}")]
    Read(#[source] StoreError),
    /// The watch could not be opened, or failed while following.
    #[error("the watch of the store failed: {0}")]
    Watch(#[source] StoreError),
    /// The watch ended.
    #[error("the watch of the store ended (the store closed it)")]
    WatchEnded,
}
