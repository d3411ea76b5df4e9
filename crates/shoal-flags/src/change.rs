//! [`FlagChange`]: an edit of a flag's rules, as `shoal flag set` and the API's PATCH make it.

use serde::{Deserialize, Serialize};

use crate::{Constraint, Flag, FlagError, ForceOn, Variant};

/// What to change; `None` (or empty / false) leaves a rule as it is. Applied in field
/// order, then the result is validated as a whole: a change either yields a valid flag
/// or changes nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FlagChange {
    /// Turn the flag on or off.
    pub enabled: Option<bool>,
    /// New rollout percent, 0..=100.
    pub rollout: Option<f64>,
    /// New user-key header.
    pub user_header: Option<String>,
    /// Remove every `force_on` rule (before `force_on_add`).
    pub force_on_clear: bool,
    /// Add `force_on` rules; a rule for a header that has one replaces it.
    pub force_on_add: Vec<ForceOn>,
    /// Replace the allow list.
    pub allow: Option<Vec<String>>,
    /// Replace the deny list.
    pub deny: Option<Vec<String>>,
    /// Replace the constraints.
    pub constraints: Option<Vec<Constraint>>,
    /// Replace the variants (empty: make it an on/off flag, resetting `off_variant`
    /// unless this change sets it).
    pub variants: Option<Vec<Variant>>,
    /// New off variant (variant flags only).
    pub off_variant: Option<String>,
}

impl FlagChange {
    /// Whether the change changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == FlagChange::default()
    }

    /// `flag` with this change applied and validated. Bookkeeping (`origin`, `file`,
    /// `version`, `updated_ms`) is left to the writer.
    pub fn apply(&self, flag: &Flag) -> Result<Flag, FlagError> {
        let mut f = flag.clone();
        if let Some(enabled) = self.enabled {
            f.enabled = enabled;
        }
        if let Some(rollout) = self.rollout {
            f.rollout = rollout;
        }
        if let Some(h) = &self.user_header {
            f.user_header.clone_from(h);
        }
        if self.force_on_clear {
            f.force_on.clear();
        }
        for rule in &self.force_on_add {
            match f
                .force_on
                .iter_mut()
                .find(|r| r.header.eq_ignore_ascii_case(&rule.header))
            {
                Some(existing) => *existing = rule.clone(),
                None => f.force_on.push(rule.clone()),
            }
        }
        if let Some(allow) = &self.allow {
            f.allow.clone_from(allow);
        }
        if let Some(deny) = &self.deny {
            f.deny.clone_from(deny);
        }
        if let Some(c) = &self.constraints {
            f.constraints.clone_from(c);
        }
        if let Some(v) = &self.variants {
            f.variants.clone_from(v);
            if v.is_empty() && self.off_variant.is_none() {
                shoal_spec::DEFAULT_OFF_VARIANT.clone_into(&mut f.off_variant);
            }
        }
        if let Some(off) = &self.off_variant {
            f.off_variant.clone_from(off);
        }
        f.validate()?;
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn force(header: &str, values: &[&str]) -> ForceOn {
        ForceOn {
            header: header.into(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    #[test]
    fn applies_each_field() {
        let mut base = Flag::new("f");
        base.force_on = vec![force("X-Beta", &["1"]), force("X-Staff", &["y"])];
        let change = FlagChange {
            enabled: Some(true),
            rollout: Some(12.5),
            user_header: Some("X-Account".into()),
            force_on_add: vec![force("x-beta", &["2"]), force("X-Qa", &["1"])],
            allow: Some(vec!["a".into()]),
            deny: Some(vec!["d".into()]),
            constraints: Some(vec![Constraint::PathPrefix {
                prefix: "/b".into(),
            }]),
            variants: Some(vec![Variant {
                name: "blue".into(),
                weight: 1,
            }]),
            off_variant: Some("none".into()),
            ..FlagChange::default()
        };
        let f = change.apply(&base).unwrap_or_else(|e| panic!("{e}"));
        assert!(f.enabled);
        assert_eq!(f.rollout, 12.5);
        assert_eq!(f.user_header, "X-Account");
        assert_eq!(
            f.force_on,
            [
                force("x-beta", &["2"]),
                force("X-Staff", &["y"]),
                force("X-Qa", &["1"])
            ]
        );
        assert_eq!(
            (f.allow.len(), f.deny.len(), f.constraints.len()),
            (1, 1, 1)
        );
        assert_eq!(f.off_variant, "none");
        let cleared = FlagChange {
            force_on_clear: true,
            variants: Some(vec![]),
            ..FlagChange::default()
        }
        .apply(&f)
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(cleared.force_on.is_empty() && cleared.variants.is_empty());
        assert_eq!(cleared.off_variant, "off");
        assert!(FlagChange::default().is_empty() && !change.is_empty());
    }

    #[test]
    fn an_invalid_result_changes_nothing() {
        let base = Flag::new("f");
        let bad = FlagChange {
            rollout: Some(150.0),
            off_variant: Some("x".into()),
            ..FlagChange::default()
        };
        let Err(FlagError::Invalid { name, problems }) = bad.apply(&base) else {
            panic!("expected invalid");
        };
        assert_eq!(name, "f");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(base, Flag::new("f"));
    }

    #[test]
    fn the_api_body_refuses_unknown_fields() {
        let ok: Result<FlagChange, _> = serde_json::from_str(r#"{"rollout": 5}"#);
        assert_eq!(ok.ok().and_then(|c| c.rollout), Some(5.0));
        let bad: Result<FlagChange, _> = serde_json::from_str(r#"{"rolout": 5}"#);
        assert!(bad.is_err());
    }
}
