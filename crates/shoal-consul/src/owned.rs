//! Service names that belong to Shoal: a service defined in the service file takes
//! no instances registered from outside unless its file says `allow_external = true`.

use serde_json::Value;
use shoal_catalog::spec_key;

use crate::error::{ConsulError, Result};
use crate::state::ConsulState;

/// Whether the service file defines `name`, and if so whether it lets outside
/// instances in: `None` = not Shoal's, `Some(allowed)` otherwise.
async fn ownership(st: &ConsulState, name: &str) -> Result<Option<bool>> {
    if let Some(fleet) = &st.fleet {
        let fleet = fleet.current();
        return Ok(fleet.specs.get(name).map(|s| s.allow_external));
    }
    let key = spec_key(name);
    let Some(kv) = st.store.get(&key).await? else {
        return Ok(None);
    };
    // Read as plain JSON: this crate does not need the whole spec type for one flag.
    let spec: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
    Ok(Some(
        spec.get("allow_external")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    ))
}

/// Refuses (409) an outside registration under the name of a service Shoal runs,
/// unless the service file allows it: otherwise any local writer could register an
/// instance of its own and take a share of the service's traffic.
pub async fn check_outside_registration(st: &ConsulState, name: &str) -> Result<()> {
    match ownership(st, name).await? {
        Some(false) => Err(ConsulError::Conflict(format!(
            "service {name:?} is defined in Shoal's service file, so its instances are \
             Shoal's own; register under another name, or set `allow_external = true` in \
             [services.{name}] to let outside instances join it"
        ))),
        _ => Ok(()),
    }
}
