//! `resilience.callers`: the priority (and optional share) of each calling service, used for load shedding.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::diag::suggest;
use crate::values::{choice, positive_ratio};
use crate::walk::{Ctx, Field, Node, Obj};

/// A caller's priority: under overload, lower priorities are shed first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
    Critical,
}

const PRIORITIES: &[&str] = &["critical", "high", "normal", "low"];
const BY_INDEX: [Priority; 4] = [
    Priority::Critical,
    Priority::High,
    Priority::Normal,
    Priority::Low,
];

/// `caller = "high"` or `caller = { priority = "low", share = 0.1 }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallerPolicy {
    /// Default normal.
    pub priority: Priority,
    /// Fraction of the service's capacity reserved for this caller, (0, 1]. Default none.
    pub share: Option<f64>,
}

/// The caller name for traffic arriving through the gateway (outside callers).
pub const GATEWAY_CALLER: &str = "gateway";

pub(crate) fn read_callers(
    cx: &mut Ctx<'_>,
    f: &Field<'_>,
    path: String,
) -> BTreeMap<String, CallerPolicy> {
    let mut out = BTreeMap::new();
    let Some(mut obj) = Obj::open(cx, f, path) else {
        return out;
    };
    let mut total_share = 0.0;
    for field in obj.drain() {
        let name = field.name;
        if !crate::service::is_dns_label(name) {
            let msg = format!("invalid caller `{name}`: a caller is a service name (lower-case letters, digits, `-`)");
            cx.error(field.key_pos, msg);
        } else if name != GATEWAY_CALLER && !cx.service_names.iter().any(|s| s == name) {
            // Callers may live in other files or register through Consul; only a
            // near-miss of a service of this file is taken for a typo.
            let known: Vec<&str> = cx.service_names.iter().map(String::as_str).collect();
            if let Some(near) = suggest(name, known) {
                let msg = format!("unknown caller `{name}`: no such service in this file (did you mean `{near}`?)");
                cx.error(field.key_pos, msg);
            }
        }
        let policy = match field.node {
            Node::Value(toml_edit::Value::String(_)) => {
                choice(PRIORITIES)(cx, &field).map(|i| CallerPolicy {
                    priority: BY_INDEX[i],
                    share: None,
                })
            }
            _ => read_policy(cx, &field, format!("{}.{name}", obj.path)),
        };
        if let Some(policy) = policy {
            total_share += policy.share.unwrap_or(0.0);
            out.insert(name.to_owned(), policy);
        }
    }
    if total_share > 1.0 + 1e-9 {
        cx.error(
            obj.pos,
            format!("caller shares add up to {total_share}, more than 1 (the whole capacity)"),
        );
    }
    obj.finish(cx);
    out
}

fn read_policy(cx: &mut Ctx<'_>, f: &Field<'_>, path: String) -> Option<CallerPolicy> {
    if !matches!(
        f.node,
        Node::Table(_) | Node::Value(toml_edit::Value::InlineTable(_))
    ) {
        let msg = format!(
            "caller `{}` must be a priority (\"critical\", \"high\", \"normal\", \"low\") or a table {{ priority, share }}, found {}",
            f.name,
            f.node.kind()
        );
        cx.error(f.value_pos(), msg);
        return None;
    }
    let mut obj = Obj::open_unrecorded(cx, f, path)?;
    let mut policy = CallerPolicy {
        priority: Priority::Normal,
        share: None,
    };
    if let Some(i) = obj.get(cx, "priority", choice(PRIORITIES)) {
        policy.priority = BY_INDEX[i];
    }
    policy.share = obj.get(cx, "share", positive_ratio);
    obj.finish(cx);
    Some(policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_order_from_low_to_critical() {
        assert!(Priority::Critical > Priority::High);
        assert!(Priority::High > Priority::Normal);
        assert!(Priority::Normal > Priority::Low);
        assert_eq!(PRIORITIES.len(), BY_INDEX.len());
        for (name, p) in PRIORITIES.iter().zip(BY_INDEX) {
            assert_eq!(serde_json::to_string(&p).ok(), Some(format!("\"{name}\"")));
        }
    }
}
