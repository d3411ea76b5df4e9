//! [`FleetError`]: why the view stopped following the store and has to read it again.

use shoal_store::StoreError;

/// A failure of the read or of a watch; the view logs it, backs off and reads again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FleetError {
    /// The consistent read of specs, deployments and the catalog failed.
    #[error("cannot read the fleet from the store: {0}")]
    Read(#[source] StoreError),
    /// A watch could not be opened, or failed while following.
    #[error("the watch of {prefix} failed: {source}")]
    Watch {
        prefix: &'static str,
        #[source]
        source: StoreError,
    },
    /// A watch ended.
    #[error("the watch of {prefix} ended (the store closed it)")]
    WatchEnded { prefix: &'static str },
}
