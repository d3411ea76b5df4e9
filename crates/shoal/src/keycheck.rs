//! Cluster mode: every node must hold the same secret key. The first node seals a known
//! value under `shoal/cluster/keycheck`; every node that joins must open it, or it refuses
//! to start (it could not read the cluster's secrets, and what it sealed others could not).

use anyhow::{bail, Context};
use shoal_secrets::Keyring;
use shoal_store::{CmpOp, Compare, Op, Store, Txn};

const KEY: &str = "shoal/cluster/keycheck";
const NAME: &str = "shoal/keycheck";
const PLAIN: &[u8] = b"shoal cluster key check";

/// Writes the check if no node did yet, then opens it with this node's key.
pub async fn check(store: &dyn Store, keyring: &Keyring) -> anyhow::Result<()> {
    let (nonce, sealed) = keyring.seal(NAME, 1, PLAIN)?;
    let value = serde_json::json!({ "nonce": nonce, "sealed": sealed }).to_string();
    store
        .txn(
            Txn::new()
                .when([Compare::version(KEY, CmpOp::Equal, 0)])
                .and_then([Op::put(KEY, value.into_bytes())]),
        )
        .await
        .context("cannot check the secret key against the cluster's")?;
    let kv = store
        .get(KEY)
        .await
        .context("cannot read the cluster's key check")?
        .context("the cluster's key check vanished")?;
    let v: serde_json::Value = serde_json::from_slice(&kv.value).unwrap_or_default();
    let opened = keyring.open(
        NAME,
        1,
        v["nonce"].as_str().unwrap_or_default(),
        v["sealed"].as_str().unwrap_or_default(),
    );
    match opened {
        Ok(plain) if plain == PLAIN => Ok(()),
        _ => bail!(
            "this node's secret key is not the cluster's: every node needs the same key \
             (set SHOAL_SECRET_KEY, or copy data_dir/secret.key from a node of the cluster)"
        ),
    }
}
