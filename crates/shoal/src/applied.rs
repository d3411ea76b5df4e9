//! `shoal up FILE` on an existing data dir: a changed file is a deploy; the same
//! file again leaves the store as it is (deploys made since, and a deployment a
//! `kill -9` interrupted, go on). (Flags follow the file's `[flags.*]` on every
//! start: `shoal_api::seed_flags`.)

use std::collections::BTreeMap;

use shoal_catalog::APPLIED_KEY;
use shoal_deploy::submit::{submit, ClearScale, SubmitOptions, Submitted};
use shoal_spec::ServiceSpec;
use shoal_store::Store;

/// Submits the file's services unless they are what `shoal up` applied last time.
/// Returns what it changed (`None`: the file was unchanged).
pub async fn apply_up_file(
    store: &dyn Store,
    services: &BTreeMap<String, ServiceSpec>,
) -> anyhow::Result<Option<Submitted>> {
    let this = serde_json::to_vec(services)?;
    if let Some(kv) = store.get(APPLIED_KEY).await? {
        if kv.value == this {
            return Ok(None);
        }
    }
    let opts = SubmitOptions {
        only: None,
        dry_run: false,
        remove_missing: true,
        clear_scale: ClearScale::All,
    };
    let submitted = submit(store, services, opts, shoal_catalog::now_ms()).await?;
    store.put(APPLIED_KEY, this, 0).await?;
    Ok(Some(submitted))
}
