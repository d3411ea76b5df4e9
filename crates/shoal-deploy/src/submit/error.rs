//! What can go wrong submitting a file, a rollback or an order.

use shoal_spec::Strategy;
use shoal_store::StoreError;

use super::diff::strategy_name;

/// Why a submission, rollback or order was refused (nothing was written).
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("service `{0}` is not in the file")]
    NotInFile(String),
    #[error("no service `{0}`")]
    NoService(String),
    #[error("service {0} has no previous deployment")]
    NoPrevious(String),
    #[error("service {service} has no deployment {id} in its history (it has {})", list(.existing))]
    NoSuchDeployment {
        service: String,
        id: u64,
        existing: Vec<u64>,
    },
    #[error("service {service} already runs the spec of deployment {id}: nothing to roll back")]
    AlreadyThere { service: String, id: u64 },
    #[error("no running deployment of {0}")]
    NoRunning(String),
    #[error("deployment {id} of {service} is {}: only a canary deployment can be promoted (use --abort to stop it)", strategy_name(*.strategy))]
    NotCanary {
        service: String,
        id: u64,
        strategy: Strategy,
    },
    #[error("the deployments of {0} kept changing while this was written ({1} tries); try again")]
    Conflict(String, usize),
    #[error("this submission needs {0} store operations, more than one transaction holds ({max}); deploy fewer services at once with --service", max = shoal_store::MAX_TXN_OPS)]
    TooLarge(usize),
}

fn list(ids: &[u64]) -> String {
    if ids.is_empty() {
        return "none".to_owned();
    }
    ids.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
