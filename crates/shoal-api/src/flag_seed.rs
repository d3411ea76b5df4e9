//! Seeding flags from a service file (`shoal up`, `POST /api/v1/deploy`): the
//! store follows the file's `[flags.*]`, each change an event.

use std::collections::BTreeMap;

use shoal_events::{EventLog, Kind};
use shoal_flags::{FlagError, SeedOp};
use shoal_spec::FlagSpec;
use shoal_store::Store;

/// Makes the stored flags follow `flags` (new ones created, changed ones replaced,
/// removed ones deleted, runtime edits of unchanged ones kept); one event per
/// change. Returns the events' messages.
pub async fn seed_flags(
    store: &dyn Store,
    flags: &BTreeMap<String, FlagSpec>,
    events: &EventLog,
) -> Result<Vec<String>, FlagError> {
    let ops = shoal_flags::sync_file(store, flags, shoal_catalog::now_ms()).await?;
    let mut said = Vec::with_capacity(ops.len());
    for op in &ops {
        let (message, fields) = match op {
            SeedOp::Put(f) => (
                format!(
                    "flag {}: set from the service file ({}, rollout {}%)",
                    f.name,
                    if f.enabled { "on" } else { "off" },
                    f.rollout
                ),
                serde_json::json!({
                    "flag": f.name, "enabled": f.enabled, "rollout": f.rollout, "origin": "file",
                }),
            ),
            SeedOp::Delete(name) => (
                format!("flag {name}: deleted (gone from the service file)"),
                serde_json::json!({ "flag": name, "deleted": true, "origin": "file" }),
            ),
        };
        tracing::info!(flag = op.name(), "{message}");
        events.emit(Kind::Flag, "", "", message.clone(), fields);
        said.push(message);
    }
    Ok(said)
}
