//! Checking a parsed service file's `${kv:KEY}` and `${secret:NAME}` references
//! against the store (the file itself is written by `shoal_deploy::submit`).

use shoal_spec::Spec;
use shoal_store::{Store, StoreError};

use crate::env::{references, Reference};

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("service `{service}`: env {var} refers to kv key `{key}`, which does not exist (set it with `shoal kv put {key} VALUE`)")]
    MissingKey {
        service: String,
        var: String,
        key: String,
    },
    #[error("service `{service}`: env {var} refers to secret `{name}`, which does not exist (set it with `shoal secret put {name}`)")]
    MissingSecret {
        service: String,
        var: String,
        name: String,
    },
}

/// Fails with the first `${kv:KEY}` reference whose key is missing (a missing
/// secret is reported by name the same way).
pub async fn check_references(spec: &Spec, store: &dyn Store) -> Result<(), ApplyError> {
    for (name, svc) in &spec.services {
        let mut envs = vec![&svc.env];
        envs.extend(svc.versions.values().map(|v| &v.env));
        for env in envs {
            for (var, reference) in references(env) {
                match reference {
                    Reference::Kv(key) => {
                        if store.get(&shoal_catalog::kv_key(&key)).await?.is_none() {
                            return Err(ApplyError::MissingKey {
                                service: name.clone(),
                                var,
                                key,
                            });
                        }
                    }
                    Reference::Secret(secret) => {
                        let key = format!("{}{secret}", shoal_secrets::SECRET_PREFIX);
                        if store.get(&key).await?.is_none() {
                            return Err(ApplyError::MissingSecret {
                                service: name.clone(),
                                var,
                                name: secret,
                            });
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
