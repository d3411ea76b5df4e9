//! How a flag's rules read for people: the command-line forms of `shoal flag set`, shared
//! by the API's event messages and the CLI's tables.

use shoal_flags::{Constraint, Flag, ForceOn, Variant};

/// `on` or `off`.
pub fn state(flag: &Flag) -> &'static str {
    if flag.enabled {
        "on"
    } else {
        "off"
    }
}

/// A percent without needless decimals: `30%`, `12.5%`.
pub fn percent(p: f64) -> String {
    format!("{p}%")
}

/// `X-Beta=1,yes`.
pub fn force(rule: &ForceOn) -> String {
    format!("{}={}", rule.header, rule.values.join(","))
}

/// `header:X-Country=DE`, `header:X-Country in DE,FR` or `path:/beta`.
pub fn constraint(c: &Constraint) -> String {
    match c {
        Constraint::HeaderEquals { header, value } => format!("header:{header}={value}"),
        Constraint::HeaderIn { header, values } => {
            format!("header:{header} in {}", values.join(","))
        }
        Constraint::PathPrefix { prefix } => format!("path:{prefix}"),
    }
}

/// `blue:50 green:50`.
pub fn variants(vs: &[Variant]) -> String {
    vs.iter()
        .map(|v| format!("{}:{}", v.name, v.weight))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What an edit changed, for the event log: `flag new_profile: rollout 30% → 60%`;
/// `before` is `None` when the edit created the flag.
pub fn describe_change(before: Option<&Flag>, after: &Flag) -> String {
    let name = &after.name;
    let Some(b) = before else {
        let mut s = format!(
            "flag {name}: created ({}, rollout {}",
            state(after),
            percent(after.rollout)
        );
        if after.has_variants() {
            s.push_str(&format!(", variants {}", variants(&after.variants)));
        }
        s.push(')');
        return s;
    };
    let mut parts = Vec::new();
    if b.enabled != after.enabled {
        parts.push(format!("{} → {}", state(b), state(after)));
    }
    if b.rollout != after.rollout {
        parts.push(format!(
            "rollout {} → {}",
            percent(b.rollout),
            percent(after.rollout)
        ));
    }
    if b.user_header != after.user_header {
        parts.push(format!(
            "user header {} → {}",
            b.user_header, after.user_header
        ));
    }
    if b.force_on != after.force_on {
        parts.push(list_change("force", after.force_on.iter().map(force)));
    }
    for (what, old, new) in [
        ("allow", &b.allow, &after.allow),
        ("deny", &b.deny, &after.deny),
    ] {
        if old != new {
            parts.push(format!("{what} {} → {} users", old.len(), new.len()));
        }
    }
    if b.constraints != after.constraints {
        parts.push(list_change(
            "constraints",
            after.constraints.iter().map(constraint),
        ));
    }
    if b.variants != after.variants {
        parts.push(if after.variants.is_empty() {
            "variants removed (on/off)".to_owned()
        } else {
            format!("variants {}", variants(&after.variants))
        });
    }
    if b.off_variant != after.off_variant && after.has_variants() {
        parts.push(format!(
            "off variant {} → {}",
            b.off_variant, after.off_variant
        ));
    }
    if parts.is_empty() {
        return format!("flag {name}: unchanged");
    }
    format!("flag {name}: {}", parts.join(", "))
}

/// `force X-Beta=1; X-Qa=1`, or `force cleared`.
fn list_change(what: &str, items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        format!("{what} cleared")
    } else {
        format!("{what} {}", items.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_as_they_are_typed() {
        assert_eq!(percent(30.0), "30%");
        assert_eq!(percent(12.5), "12.5%");
        let c = Constraint::HeaderIn {
            header: "X-Country".into(),
            values: vec!["DE".into(), "FR".into()],
        };
        assert_eq!(constraint(&c), "header:X-Country in DE,FR");
        assert_eq!(
            constraint(&Constraint::PathPrefix {
                prefix: "/beta".into()
            }),
            "path:/beta"
        );
        let f = ForceOn {
            header: "X-Beta".into(),
            values: vec!["1".into(), "yes".into()],
        };
        assert_eq!(force(&f), "X-Beta=1,yes");
    }

    #[test]
    fn changes_are_described_field_by_field() {
        let mut before = Flag::new("new_profile");
        before.rollout = 30.0;
        assert_eq!(
            describe_change(None, &before),
            "flag new_profile: created (off, rollout 30%)"
        );
        let mut after = before.clone();
        after.rollout = 60.0;
        assert_eq!(
            describe_change(Some(&before), &after),
            "flag new_profile: rollout 30% → 60%"
        );
        after.enabled = true;
        after.allow = vec!["a".into(), "b".into()];
        after.force_on = vec![ForceOn {
            header: "X-Beta".into(),
            values: vec!["1".into()],
        }];
        assert_eq!(
            describe_change(Some(&before), &after),
            "flag new_profile: off → on, rollout 30% → 60%, force X-Beta=1, allow 0 → 2 users"
        );
        assert_eq!(
            describe_change(Some(&after), &before),
            "flag new_profile: on → off, rollout 60% → 30%, force cleared, allow 2 → 0 users"
        );
        assert_eq!(
            describe_change(Some(&before), &before),
            "flag new_profile: unchanged"
        );
    }
}
