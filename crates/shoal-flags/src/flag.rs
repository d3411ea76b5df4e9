//! [`Flag`]: the record stored at `shoal/flags/<name>`, and the rules every flag must keep.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use shoal_spec::{
    is_flag_name, is_header_name, is_variant_name, FlagSpec, DEFAULT_OFF_VARIANT,
    DEFAULT_USER_HEADER, MAX_VARIANTS, MAX_VARIANT_WEIGHT,
};

pub use shoal_spec::{Constraint, ForceOn, Variant};

use crate::FlagError;

/// Where a flag came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Seeded from `[flags.NAME]` of the service file; deleted when the file drops it.
    File,
    /// Created through the API or CLI; only deleted through them.
    #[default]
    Api,
}

/// A feature flag as stored (JSON). Every field but `name` has a default, so records
/// written by older versions still decode. See [`FlagSpec`] for what each rule means;
/// [`crate::FlagSet`] for the order they apply in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    /// `[A-Za-z0-9_-]{1,64}`; the gateway sends `X-Flag-<name>`.
    pub name: String,
    /// Off for everyone when false. Default false.
    #[serde(default)]
    pub enabled: bool,
    /// Percent (0..=100, fractions allowed) of users who get the flag. Default 100.
    #[serde(default = "default_rollout")]
    pub rollout: f64,
    /// The header carrying the user key. Default `X-User-Id`.
    #[serde(default = "default_user_header")]
    pub user_header: String,
    /// Header values that force the flag on.
    #[serde(default)]
    pub force_on: Vec<ForceOn>,
    /// User keys that always get the flag when it is enabled.
    #[serde(default)]
    pub allow: Vec<String>,
    /// User keys that never get it.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Conditions on the request that must all hold for the rollout to apply.
    #[serde(default)]
    pub constraints: Vec<Constraint>,
    /// Weighted variants; empty for an on/off flag.
    #[serde(default)]
    pub variants: Vec<Variant>,
    /// What a variant flag answers to requests that do not get it. Default `off`.
    #[serde(default = "default_off_variant")]
    pub off_variant: String,
    /// Where the flag came from. Default [`Origin::Api`] (never deleted by a seed).
    #[serde(default)]
    pub origin: Origin,
    /// The service file's definition when it last seeded this flag: a seed with the same
    /// definition keeps the flag's (possibly edited) state, a different one replaces it.
    #[serde(default)]
    pub file: Option<FlagSpec>,
    /// Unix milliseconds of the last write.
    #[serde(default)]
    pub updated_ms: u64,
    /// Writes since creation: 1 after the first.
    #[serde(default)]
    pub version: u64,
}

fn default_rollout() -> f64 {
    100.0
}

fn default_user_header() -> String {
    DEFAULT_USER_HEADER.to_owned()
}

fn default_off_variant() -> String {
    DEFAULT_OFF_VARIANT.to_owned()
}

impl Flag {
    /// A disabled flag named `name` with every rule at its default, created through the API.
    pub fn new(name: impl Into<String>) -> Self {
        Flag::from_definition(name, &FlagSpec::default(), Origin::Api)
    }

    /// A flag with the rules of `def` (no `file`, version 0).
    pub fn from_definition(name: impl Into<String>, def: &FlagSpec, origin: Origin) -> Self {
        Flag {
            name: name.into(),
            enabled: def.enabled,
            rollout: def.rollout,
            user_header: def.user_header.clone(),
            force_on: def.force_on.clone(),
            allow: def.allow.clone(),
            deny: def.deny.clone(),
            constraints: def.constraints.clone(),
            variants: def.variants.clone(),
            off_variant: def.off_variant.clone(),
            origin,
            file: None,
            updated_ms: 0,
            version: 0,
        }
    }

    /// The flag's current rules, in the form the service file writes them.
    pub fn definition(&self) -> FlagSpec {
        FlagSpec {
            enabled: self.enabled,
            rollout: self.rollout,
            user_header: self.user_header.clone(),
            force_on: self.force_on.clone(),
            allow: self.allow.clone(),
            deny: self.deny.clone(),
            constraints: self.constraints.clone(),
            variants: self.variants.clone(),
            off_variant: self.off_variant.clone(),
        }
    }

    /// Whether the flag serves variants rather than on/off.
    pub fn has_variants(&self) -> bool {
        !self.variants.is_empty()
    }

    /// Checks every rule; [`FlagError::Invalid`] lists all the problems found.
    pub fn validate(&self) -> Result<(), FlagError> {
        let problems = self.problems();
        if problems.is_empty() {
            return Ok(());
        }
        Err(FlagError::Invalid {
            name: self.name.clone(),
            problems,
        })
    }

    /// One sentence per broken rule.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !is_flag_name(&self.name) {
            p.push(format!(
                "invalid flag name {:?}: use 1 to 64 letters, digits, `_` or `-`",
                self.name
            ));
        }
        if !(self.rollout.is_finite() && (0.0..=100.0).contains(&self.rollout)) {
            p.push(format!(
                "rollout must be a percent between 0 and 100, found {}",
                self.rollout
            ));
        }
        header_problem(&mut p, "user_header", &self.user_header);
        for f in &self.force_on {
            header_problem(&mut p, "force_on", &f.header);
            values_problem(&mut p, &format!("force_on `{}`", f.header), &f.values);
        }
        for (what, keys) in [("allow", &self.allow), ("deny", &self.deny)] {
            if keys.iter().any(String::is_empty) {
                p.push(format!("`{what}` has an empty user key"));
            }
        }
        if let Some(both) = self.deny.iter().find(|k| self.allow.contains(k)) {
            p.push(format!(
                "user `{both}` is in both `allow` and `deny`: keep it in one"
            ));
        }
        for c in &self.constraints {
            constraint_problems(&mut p, c);
        }
        self.variant_problems(&mut p);
        p
    }

    fn variant_problems(&self, p: &mut Vec<String>) {
        if self.variants.is_empty() {
            if self.off_variant != DEFAULT_OFF_VARIANT {
                p.push("`off_variant` applies only to flags with variants".to_owned());
            }
            return;
        }
        if self.variants.len() > MAX_VARIANTS {
            p.push(format!(
                "too many variants ({}): at most {MAX_VARIANTS}",
                self.variants.len()
            ));
        }
        let mut seen = BTreeSet::new();
        for v in &self.variants {
            if !is_variant_name(&v.name) {
                p.push(bad_variant_name(&v.name));
            } else if !seen.insert(v.name.as_str()) {
                p.push(format!("variant `{}` is listed twice", v.name));
            }
            if v.weight > MAX_VARIANT_WEIGHT {
                p.push(format!(
                    "variant `{}` weighs {}: at most {MAX_VARIANT_WEIGHT}",
                    v.name, v.weight
                ));
            }
        }
        if self.variants.iter().all(|v| v.weight == 0) {
            p.push("variant weights add up to 0: give at least one a weight".to_owned());
        }
        if !is_variant_name(&self.off_variant) {
            p.push(format!(
                "`off_variant`: {}",
                bad_variant_name(&self.off_variant)
            ));
        }
    }
}

fn bad_variant_name(name: &str) -> String {
    format!("invalid variant name {name:?}: use 1 to 64 letters, digits, `_`, `.` or `-`")
}

fn header_problem(p: &mut Vec<String>, what: &str, header: &str) {
    if !is_header_name(header) {
        p.push(format!("invalid header name {header:?} in `{what}`"));
    }
}

fn values_problem(p: &mut Vec<String>, what: &str, values: &[String]) {
    if values.is_empty() {
        p.push(format!("{what} lists no values"));
    } else if values.iter().any(String::is_empty) {
        p.push(format!("{what} has an empty value"));
    }
}

fn constraint_problems(p: &mut Vec<String>, c: &Constraint) {
    match c {
        Constraint::HeaderEquals { header, .. } => header_problem(p, "constraints", header),
        Constraint::HeaderIn { header, values } => {
            header_problem(p, "constraints", header);
            if values.is_empty() {
                p.push(format!("constraint `{header} in ...` lists no values"));
            }
        }
        Constraint::PathPrefix { prefix } => {
            if !prefix.starts_with('/') {
                p.push(format!("path prefix must start with `/`, found {prefix:?}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_flag_is_valid_and_off() {
        let f = Flag::new("beta");
        assert_eq!(f.validate(), Ok(()));
        assert!(!f.enabled && f.rollout == 100.0 && f.origin == Origin::Api);
        assert_eq!(f.definition(), FlagSpec::default());
    }

    #[test]
    fn every_problem_is_listed() {
        let mut f = Flag::new("bad name");
        f.rollout = 150.0;
        f.user_header = "X User".into();
        f.force_on = vec![ForceOn {
            header: "X-Beta".into(),
            values: vec![],
        }];
        f.allow = vec!["a".into()];
        f.deny = vec!["a".into(), String::new()];
        f.constraints = vec![
            Constraint::PathPrefix {
                prefix: "beta".into(),
            },
            Constraint::HeaderIn {
                header: "X-C".into(),
                values: vec![],
            },
        ];
        f.variants = vec![
            Variant {
                name: "a".into(),
                weight: 0,
            },
            Variant {
                name: "a".into(),
                weight: 0,
            },
            Variant {
                name: "b c".into(),
                weight: 0,
            },
        ];
        f.off_variant = String::new();
        let Err(FlagError::Invalid { problems, .. }) = f.validate() else {
            panic!("expected problems");
        };
        assert_eq!(
            problems,
            [
                "invalid flag name \"bad name\": use 1 to 64 letters, digits, `_` or `-`",
                "rollout must be a percent between 0 and 100, found 150",
                "invalid header name \"X User\" in `user_header`",
                "force_on `X-Beta` lists no values",
                "`deny` has an empty user key",
                "user `a` is in both `allow` and `deny`: keep it in one",
                "path prefix must start with `/`, found \"beta\"",
                "constraint `X-C in ...` lists no values",
                "variant `a` is listed twice",
                "invalid variant name \"b c\": use 1 to 64 letters, digits, `_`, `.` or `-`",
                "variant weights add up to 0: give at least one a weight",
                "`off_variant`: invalid variant name \"\": use 1 to 64 letters, digits, `_`, `.` or `-`",
            ]
        );
    }

    #[test]
    fn non_finite_rollout_and_stray_off_variant_are_refused() {
        let mut f = Flag::new("x");
        f.rollout = f64::NAN;
        f.off_variant = "nope".into();
        assert_eq!(f.problems().len(), 2);
    }

    #[test]
    fn older_records_decode_with_defaults() {
        let f: Flag = serde_json::from_str(r#"{"name":"x","enabled":true}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.rollout, 100.0);
        assert_eq!(f.user_header, "X-User-Id");
        assert_eq!(f.off_variant, "off");
        assert_eq!(f.origin, Origin::Api);
        assert_eq!(f.validate(), Ok(()));
        let json = serde_json::to_string(&f).unwrap_or_default();
        let back: Flag = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, f);
    }
}
