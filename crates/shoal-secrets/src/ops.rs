//! Secret operations against the store: put (and rotate), get, list, delete.

use serde::Serialize;
use shoal_store::{CmpOp, CmpTarget, Compare, Op, Store, Txn};

use crate::keyring::Keyring;
use crate::record::{SecretRecord, SecretVersion};
use crate::{check_name, SecretError};
use shoal_catalog::now_ms;

/// Where secrets live in the store (defined with every other key in `shoal_catalog`).
pub use shoal_catalog::SECRET_PREFIX;

const MAX_VALUE: usize = 64 * 1024;

/// What listings show: never a value.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SecretInfo {
    pub name: String,
    pub version: u32,
    pub versions: Vec<u32>,
    pub updated_ms: u64,
}

fn key(name: &str) -> String {
    format!("{SECRET_PREFIX}{name}")
}

fn decode(name: &str, bytes: &[u8]) -> Result<SecretRecord, SecretError> {
    serde_json::from_slice(bytes).map_err(|e| SecretError::Corrupt {
        name: name.to_string(),
        detail: e.to_string(),
    })
}

/// Stores `value` as the new current version (a rotation when the secret
/// exists); the previous version stays readable for `grace_ms`. Returns the version.
pub async fn put(
    store: &dyn Store,
    keyring: &Keyring,
    name: &str,
    value: &[u8],
    grace_ms: u64,
) -> Result<u32, SecretError> {
    check_name(name)?;
    if value.len() > MAX_VALUE {
        return Err(SecretError::TooLarge(value.len()));
    }
    // Optimistic concurrency: retry when another writer got in between.
    for _ in 0..16 {
        let existing = store.get(&key(name)).await?;
        let (mut record, mod_rev) = match &existing {
            Some(kv) => (decode(name, &kv.value)?, kv.mod_revision),
            None => (SecretRecord::default(), 0),
        };
        let version = record.next_version();
        let (nonce, ciphertext) = keyring.seal(name, version, value)?;
        let now = now_ms();
        record.push(
            SecretVersion {
                version,
                nonce,
                ciphertext,
                created_ms: now,
                retired_ms: None,
            },
            now,
            grace_ms,
        );
        let body = serde_json::to_vec(&record).map_err(|e| SecretError::Corrupt {
            name: name.to_string(),
            detail: e.to_string(),
        })?;
        let resp = store
            .txn(Txn {
                compare: vec![Compare {
                    key: key(name),
                    op: CmpOp::Equal,
                    target: CmpTarget::ModRevision(mod_rev),
                }],
                success: vec![Op::Put {
                    key: key(name),
                    value: body,
                    lease: 0,
                }],
                failure: vec![],
            })
            .await?;
        if resp.succeeded {
            return Ok(version);
        }
    }
    Err(SecretError::Corrupt {
        name: name.to_string(),
        detail: "too much concurrent rotation".into(),
    })
}

/// The current version's number and plain value; `version` asks for an older live one.
pub async fn get(
    store: &dyn Store,
    keyring: &Keyring,
    name: &str,
    version: Option<u32>,
) -> Result<(u32, Vec<u8>), SecretError> {
    check_name(name)?;
    let kv = store
        .get(&key(name))
        .await?
        .ok_or_else(|| SecretError::NotFound(name.to_string()))?;
    let record = decode(name, &kv.value)?;
    let v = match version {
        Some(n) => record.versions.iter().find(|v| v.version == n),
        None => record.current(),
    }
    .ok_or_else(|| SecretError::NotFound(name.to_string()))?;
    let plain = keyring.open(name, v.version, &v.nonce, &v.ciphertext)?;
    Ok((v.version, plain))
}

/// Every secret with its versions, without values.
pub async fn list(store: &dyn Store) -> Result<Vec<SecretInfo>, SecretError> {
    let mut out = Vec::new();
    for kv in store.range(SECRET_PREFIX).await?.kvs {
        let name = kv.key.trim_start_matches(SECRET_PREFIX).to_string();
        let record = decode(&name, &kv.value)?;
        let Some(current) = record.current() else {
            continue;
        };
        out.push(SecretInfo {
            version: current.version,
            versions: record.versions.iter().map(|v| v.version).collect(),
            updated_ms: current.created_ms,
            name,
        });
    }
    Ok(out)
}

pub async fn delete(store: &dyn Store, name: &str) -> Result<bool, SecretError> {
    check_name(name)?;
    Ok(store.delete(&key(name)).await?.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_store::EmbeddedStore;

    #[tokio::test]
    async fn put_rotate_get_list_delete() {
        let store = EmbeddedStore::open_in_memory().await.expect("store");
        let k = Keyring::from_bytes(&[1u8; 32]).expect("key");
        assert_eq!(
            put(store.as_ref(), &k, "db/pw", b"one", 600_000)
                .await
                .expect("put"),
            1
        );
        assert_eq!(
            put(store.as_ref(), &k, "db/pw", b"two", 600_000)
                .await
                .expect("rotate"),
            2
        );
        assert_eq!(
            get(store.as_ref(), &k, "db/pw", None).await.expect("get"),
            (2, b"two".to_vec())
        );
        assert_eq!(
            get(store.as_ref(), &k, "db/pw", Some(1))
                .await
                .expect("old"),
            (1, b"one".to_vec())
        );
        let raw = store
            .get("shoal/secret/db/pw")
            .await
            .expect("raw")
            .expect("exists");
        let text = String::from_utf8_lossy(&raw.value);
        assert!(!text.contains("one") && !text.contains("two"), "{text}");
        let l = list(store.as_ref()).await.expect("list");
        assert_eq!(l.len(), 1);
        assert_eq!((l[0].version, l[0].versions.clone()), (2, vec![1, 2]));
        assert!(delete(store.as_ref(), "db/pw").await.expect("delete"));
        assert!(matches!(
            get(store.as_ref(), &k, "db/pw", None).await,
            Err(SecretError::NotFound(_))
        ));
        assert!(matches!(
            put(store.as_ref(), &k, "../x", b"v", 0).await,
            Err(SecretError::BadName(_))
        ));
    }
}
