//! `shoal snapshot save FILE` and `shoal snapshot restore FILE`: the platform's state
//! (KV, Consul registrations, sessions and events, flags, secrets as stored, the desired
//! state of services and deploys) to a file and back, through `/v1/snapshot`.

use std::path::Path;

use bytes::Bytes;
use http::Method;
use serde_json::{json, Value};

use crate::client::{Client, ClientError};

/// Writes the snapshot to `file` (through a temporary file beside it, renamed when
/// complete, so a failed save never leaves half an archive under the name).
pub async fn snapshot_save(
    client: &Client,
    file: &Path,
    json: bool,
) -> Result<String, ClientError> {
    let archive = client.raw(Method::GET, "/v1/snapshot", None).await?;
    let tmp = file.with_extension("partial");
    std::fs::write(&tmp, &archive)
        .and_then(|()| std::fs::rename(&tmp, file))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            ClientError::Decode(format!("cannot write {}: {e}", file.display()))
        })?;
    Ok(if json {
        format!("{}\n", json!({ "file": file, "bytes": archive.len() }))
    } else {
        format!("saved {} bytes to {}\n", archive.len(), file.display())
    })
}

/// Restores the snapshot in `file`: Shoal checks the whole archive before it changes
/// anything; the fleet then converges to the restored desired state.
pub async fn snapshot_restore(
    client: &Client,
    file: &Path,
    json: bool,
) -> Result<String, ClientError> {
    let archive = std::fs::read(file)
        .map_err(|e| ClientError::Decode(format!("cannot read {}: {e}", file.display())))?;
    let out = client
        .raw(Method::PUT, "/v1/snapshot", Some(Bytes::from(archive)))
        .await?;
    let v: Value = serde_json::from_slice(&out)
        .map_err(|e| ClientError::Decode(format!("the restore answer: {e}")))?;
    Ok(if json {
        format!("{v}\n")
    } else {
        format!(
            "restored {} keys from {} (taken at store revision {}); removed {} keys it did not hold\n",
            v["Restored"],
            file.display(),
            v["SnapshotIndex"],
            v["Removed"]
        )
    })
}
