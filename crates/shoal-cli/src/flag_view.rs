//! How flags read in `shoal flag`: the list's table, one flag in full, and the one line a
//! change prints.

use shoal_api::flag_text::{constraint, force, percent, state, variants};
use shoal_api::FlagView;
use shoal_flags::{Flag, Origin};

use crate::errors::ago;
use crate::table::Table;

/// The user header flags read unless told otherwise.
const DEFAULT_USER_HEADER: &str = "X-User-Id";

/// `shoal flag list`: NAME, STATE, ROLLOUT, RULES, LAST MIN.
pub(crate) fn render_list(flags: &[FlagView]) -> String {
    if flags.is_empty() {
        return "no flags yet: declare [flags.NAME] in the service file, or `shoal flag set NAME --create --on`\n".to_owned();
    }
    let mut t = Table::new(&["NAME", "STATE", "ROLLOUT", "RULES", "LAST MIN"]);
    for v in flags {
        let f = &v.flag;
        t.row(vec![
            f.name.clone(),
            state(f).to_owned(),
            rollout(f),
            or_dash(rules(f).join(", ")),
            last_minute(v),
        ]);
    }
    t.render()
}

/// `shoal flag get NAME`: every field, one per line.
pub(crate) fn render_one(v: &FlagView, now_ms: u64) -> String {
    let f = &v.flag;
    let mut out = format!("{}: {}\n", f.name, state(f));
    let mut line = |label: &str, value: String| {
        out.push_str(&format!("  {label:<12} {value}\n"));
    };
    line(
        "rollout",
        format!("{} of users, by {}", percent(f.rollout), f.user_header),
    );
    if f.has_variants() {
        line(
            "variants",
            format!(
                "{} (the others get {})",
                variants(&f.variants),
                f.off_variant
            ),
        );
    }
    line(
        "force on",
        or_dash(f.force_on.iter().map(force).collect::<Vec<_>>().join("; ")),
    );
    line("allow", or_dash(f.allow.join(", ")));
    line("deny", or_dash(f.deny.join(", ")));
    line(
        "constraints",
        or_dash(
            f.constraints
                .iter()
                .map(constraint)
                .collect::<Vec<_>>()
                .join("; "),
        ),
    );
    line("last minute", last_minute(v));
    let origin = match f.origin {
        Origin::File => "the service file",
        Origin::Api => "the API",
    };
    let updated = if f.updated_ms == 0 {
        String::new()
    } else {
        format!(", updated {} ago", ago(f.updated_ms, now_ms))
    };
    line(
        "written by",
        format!(
            "{origin}; version {}{updated}; revision {}",
            f.version, v.revision
        ),
    );
    out
}

/// What `shoal flag set` prints: `new_profile: on, rollout 60%, force X-Beta=1 (version 4)`.
pub(crate) fn one_line(v: &FlagView) -> String {
    let f = &v.flag;
    let mut parts = vec![state(f).to_owned(), format!("rollout {}", rollout(f))];
    parts.extend(rules(f));
    format!("{}: {} (version {})\n", f.name, parts.join(", "), f.version)
}

/// `30%`; a variant flag adds its variants: `30% blue:50 green:50` (`blue:50 green:50`
/// at 100%).
fn rollout(f: &Flag) -> String {
    match (f.has_variants(), f.rollout == 100.0) {
        (false, _) => percent(f.rollout),
        (true, true) => variants(&f.variants),
        (true, false) => format!("{} {}", percent(f.rollout), variants(&f.variants)),
    }
}

/// The rules besides the rollout, short: `force X-Beta=1`, `allow 3`, `2 constraints`.
fn rules(f: &Flag) -> Vec<String> {
    let mut out: Vec<String> = f
        .force_on
        .iter()
        .map(|r| format!("force {}", force(r)))
        .collect();
    if !f.allow.is_empty() {
        out.push(format!("allow {}", f.allow.len()));
    }
    if !f.deny.is_empty() {
        out.push(format!("deny {}", f.deny.len()));
    }
    match f.constraints.as_slice() {
        [] => {}
        [one] => out.push(constraint(one)),
        many => out.push(format!("{} constraints", many.len())),
    }
    if !f.user_header.eq_ignore_ascii_case(DEFAULT_USER_HEADER) {
        out.push(format!("by {}", f.user_header));
    }
    out
}

/// `1 204 on / 2 811 off`, or per variant `blue 120 / green 98 / off 5`; `-` without counts.
fn last_minute(v: &FlagView) -> String {
    let f = &v.flag;
    if v.evaluations.is_empty() {
        return "-".to_owned();
    }
    let count = |value: &str| thousands(v.evaluations.get(value).copied().unwrap_or(0));
    if !f.has_variants() {
        return format!("{} on / {} off", count("1"), count("0"));
    }
    let mut order: Vec<&str> = f.variants.iter().map(|v| v.name.as_str()).collect();
    if !order.contains(&f.off_variant.as_str()) {
        order.push(&f.off_variant);
    }
    // Values the flag no longer has (counted before a change) come last.
    order.extend(
        v.evaluations
            .keys()
            .map(String::as_str)
            .filter(|k| !f.variants.iter().any(|v| v.name == *k) && *k != f.off_variant),
    );
    order
        .iter()
        .map(|value| format!("{value} {}", count(value)))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// `2811` as `2 811`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

fn or_dash(s: String) -> String {
    if s.is_empty() {
        "-".to_owned()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use shoal_flags::{Constraint, ForceOn, Variant};

    use super::*;

    fn view(flag: Flag, counts: &[(&str, u64)]) -> FlagView {
        FlagView {
            flag,
            evaluations: counts
                .iter()
                .map(|(k, n)| ((*k).to_owned(), *n))
                .collect::<BTreeMap<_, _>>(),
            revision: 42,
        }
    }

    fn profile() -> Flag {
        let mut f = Flag::new("new_profile");
        f.enabled = true;
        f.rollout = 30.0;
        f.version = 3;
        f.force_on = vec![ForceOn {
            header: "X-Beta".into(),
            values: vec!["1".into()],
        }];
        f.allow = vec!["a".into(), "b".into(), "c".into()];
        f.deny = vec!["d".into()];
        f.constraints = vec![
            Constraint::HeaderEquals {
                header: "X-Country".into(),
                value: "DE".into(),
            },
            Constraint::PathPrefix {
                prefix: "/beta".into(),
            },
        ];
        f
    }

    fn color() -> Flag {
        let mut f = Flag::new("color");
        f.variants = ["blue", "green"]
            .iter()
            .map(|n| Variant {
                name: (*n).into(),
                weight: 50,
            })
            .collect();
        f
    }

    #[test]
    fn the_list_is_a_table() {
        let flags = [
            view(color(), &[("blue", 120), ("green", 98), ("off", 5)]),
            view(profile(), &[("1", 1204), ("0", 2811)]),
            view(Flag::new("quiet"), &[]),
        ];
        assert_eq!(
            render_list(&flags),
            "\
NAME         STATE  ROLLOUT           RULES                                           LAST MIN
color        off    blue:50 green:50  -                                               blue 120 / green 98 / off 5
new_profile  on     30%               force X-Beta=1, allow 3, deny 1, 2 constraints  1 204 on / 2 811 off
quiet        off    100%              -                                               -
"
        );
        assert!(render_list(&[]).starts_with("no flags yet"));
    }

    #[test]
    fn one_flag_in_full_and_in_one_line() {
        let v = view(profile(), &[("1", 3)]);
        let text = render_one(&v, 0);
        assert!(text.starts_with("new_profile: on\n"), "{text}");
        for want in [
            "  rollout      30% of users, by X-User-Id\n",
            "  force on     X-Beta=1\n",
            "  allow        a, b, c\n",
            "  constraints  header:X-Country=DE; path:/beta\n",
            "  last minute  3 on / 0 off\n",
            "  written by   the API; version 3; revision 42\n",
        ] {
            assert!(text.contains(want), "{want:?} not in\n{text}");
        }
        assert_eq!(
            one_line(&v),
            "new_profile: on, rollout 30%, force X-Beta=1, allow 3, deny 1, 2 constraints (version 3)\n"
        );
        let mut c = color();
        c.rollout = 10.0;
        c.user_header = "X-Account".into();
        assert_eq!(
            one_line(&view(c, &[])),
            "color: off, rollout 10% blue:50 green:50, by X-Account (version 0)\n"
        );
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1204), "1 204");
        assert_eq!(thousands(1_234_567), "1 234 567");
    }
}
