//! Writing a parsed service file into the store, where the controllers read it.

use shoal_catalog::{encode, spec_key, SCALE_PREFIX, SPEC_PREFIX};
use shoal_spec::Spec;
use shoal_store::{Op, Store, StoreError, Txn};

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

/// Replaces every service spec in the store with the file's, in one transaction,
/// and clears scale overrides (the file is the new source of truth).
///
/// Missing kv keys or secrets are not checked here (see [`check_references`]):
/// a service whose config is missing waits, with a log line naming the key,
/// and starts as soon as the key is written.
pub async fn apply_spec(spec: &Spec, store: &dyn Store) -> Result<i64, ApplyError> {
    let mut ops = vec![Op::DeletePrefix {
        prefix: SCALE_PREFIX.to_string(),
    }];
    for kv in store.range(SPEC_PREFIX).await?.kvs {
        let name = kv.key.trim_start_matches(SPEC_PREFIX);
        if !spec.services.contains_key(name) {
            ops.push(Op::Delete { key: kv.key });
        }
    }
    for (name, svc) in &spec.services {
        ops.push(Op::Put {
            key: spec_key(name),
            value: encode(svc),
            lease: 0,
        });
    }
    let resp = store
        .txn(Txn {
            compare: vec![],
            success: ops,
            failure: vec![],
        })
        .await?;
    Ok(resp.revision)
}
