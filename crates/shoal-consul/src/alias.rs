//! Alias checks (`AliasService`, `AliasNode`): the status of a service instance or a node
//! mirrored into a check, decided from one [`View`] as Consul's `CheckAlias` decides it, and
//! written by the runner whenever it changes.

use crate::check_model::{CheckKind, CheckRecord, Status};
use crate::error::Result;
use crate::registry::update_check;
use crate::state::{now_ms, ConsulState};
use crate::view::{CheckView, View};

/// The status and output of the alias check `alias_id` of `service_id` (empty: the node's own
/// health) on `node` (empty: this agent's node). As Consul: the node's checks count too, the
/// worst status wins (critical, then warning) with `Aliased check "<name>" failing: <output>`;
/// all passing is `All checks passing.`, none `No checks found.`; a service that does not
/// exist is critical.
pub fn verdict(view: &View, alias_id: &str, service_id: &str, node: &str) -> (Status, String) {
    let on = if node.is_empty() {
        view.node.as_str()
    } else {
        node
    };
    let relevant: Vec<&CheckView> = view
        .checks
        .iter()
        .filter(|c| c.node == on && c.id != alias_id)
        // This agent's own checks, as Consul's local state has them (no Serf health).
        .filter(|c| !(node.is_empty() && c.id == "serfHealth"))
        .filter(|c| c.service_id.is_empty() || c.service_id == service_id)
        .collect();
    let exists = if service_id.is_empty() {
        view.nodes.iter().any(|n| n.name == on)
    } else {
        view.instances
            .iter()
            .any(|i| i.node == on && i.id == service_id)
    };
    if !exists {
        let what = if service_id.is_empty() {
            format!("Node {on} could not be found")
        } else {
            format!("Service {service_id} could not be found on node {node}")
        };
        return (Status::Critical, what);
    }
    let worst = relevant.iter().map(|c| c.status).max();
    match worst {
        None => (Status::Passing, "No checks found.".to_string()),
        Some(Status::Passing) => (Status::Passing, "All checks passing.".to_string()),
        Some(status) => {
            let failing = relevant.iter().find(|c| c.status == status);
            let text = failing.map_or_else(String::new, |c| {
                format!("Aliased check {:?} failing: {}", c.name, c.output)
            });
            (status, text)
        }
    }
}

/// Brings every alias check up to date with the view; only changed verdicts are written.
pub async fn refresh(st: &ConsulState, checks: &[CheckRecord]) -> Result<()> {
    let aliases: Vec<&CheckRecord> = checks
        .iter()
        .filter(|c| matches!(c.def.kind, CheckKind::Alias { .. }))
        .collect();
    if aliases.is_empty() {
        return Ok(());
    }
    let view = View::read(st).await?;
    for alias in aliases {
        let CheckKind::Alias { service_id, node } = &alias.def.kind else {
            continue;
        };
        let (status, output) = verdict(&view, &alias.def.id, service_id, node);
        if alias.status == status && alias.output == output {
            continue;
        }
        update_check(st.store.as_ref(), &alias.def.id, |rec| {
            if rec.def != alias.def || (rec.status == status && rec.output == output) {
                return Ok(false);
            }
            rec.set(status, output.clone(), now_ms());
            Ok(true)
        })
        .await?;
        tracing::debug!(check = %alias.def.id, status = status.as_str(), "consul alias check updated");
    }
    Ok(())
}

#[cfg(test)]
#[path = "alias_tests.rs"]
mod tests;
