//! Tests of `[flags.NAME]`: every field read, every malformed form refused with its `LINE:COLUMN`.

use std::path::Path;

use super::*;
use crate::{parse_str_with, AssumeExists, Spec};

fn parse(src: &str) -> Result<Spec, Vec<String>> {
    parse_str_with(src, "shoal.toml", Path::new("/app"), &AssumeExists).map_err(|e| {
        e.diagnostics
            .iter()
            .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
            .collect()
    })
}

fn flag(src: &str, name: &str) -> FlagSpec {
    match parse(src) {
        Ok(spec) => spec.flags.get(name).cloned().unwrap_or_else(|| {
            panic!(
                "no flag {name} in {:?}",
                spec.flags.keys().collect::<Vec<_>>()
            )
        }),
        Err(e) => panic!("expected a valid file, got {e:#?}"),
    }
}

fn errors(src: &str) -> Vec<String> {
    match parse(src) {
        Ok(_) => panic!("expected errors, the file was accepted"),
        Err(e) => e,
    }
}

#[test]
fn a_bare_flag_is_all_defaults() {
    let f = flag("[flags.x]\n", "x");
    assert_eq!(f, FlagSpec::default());
    assert!(!f.enabled);
    assert_eq!(f.rollout, 100.0);
    assert_eq!(f.user_header, "X-User-Id");
    assert_eq!(f.off_variant, "off");
}

#[test]
fn every_field_is_read() {
    let src = r#"[flags.checkout]
enabled = true
rollout = 12.5
user_header = "X-Account"
force_on = { header = "X-Beta", values = ["1", "yes"] }
allow = ["alice", "bob"]
deny = ["mallory"]
constraints = [
  { header = "X-Country", equals = "DE" },
  { header = "X-Plan", in = ["pro", "team"] },
  { path_prefix = "/checkout" },
]
variants = { blue = 50, green = 30, red = 0 }
off_variant = "control"
"#;
    let f = flag(src, "checkout");
    let expected = FlagSpec {
        enabled: true,
        rollout: 12.5,
        user_header: "X-Account".into(),
        force_on: vec![ForceOn {
            header: "X-Beta".into(),
            values: vec!["1".into(), "yes".into()],
        }],
        allow: vec!["alice".into(), "bob".into()],
        deny: vec!["mallory".into()],
        constraints: vec![
            Constraint::HeaderEquals {
                header: "X-Country".into(),
                value: "DE".into(),
            },
            Constraint::HeaderIn {
                header: "X-Plan".into(),
                values: vec!["pro".into(), "team".into()],
            },
            Constraint::PathPrefix {
                prefix: "/checkout".into(),
            },
        ],
        variants: vec![
            Variant {
                name: "blue".into(),
                weight: 50,
            },
            Variant {
                name: "green".into(),
                weight: 30,
            },
            Variant {
                name: "red".into(),
                weight: 0,
            },
        ],
        off_variant: "control".into(),
    };
    assert_eq!(f, expected);
}

#[test]
fn force_on_takes_one_table_or_an_array_of_them() {
    let one = ForceOn {
        header: "X-Beta".into(),
        values: vec!["1".into()],
    };
    let two = ForceOn {
        header: "X-Staff".into(),
        values: vec!["yes".into()],
    };
    let inline = "[flags.x]\nforce_on = { header = \"X-Beta\", values = [\"1\"] }\n";
    assert_eq!(flag(inline, "x").force_on, vec![one.clone()]);
    let table = "[flags.x.force_on]\nheader = \"X-Beta\"\nvalues = [\"1\"]\n";
    assert_eq!(flag(table, "x").force_on, vec![one.clone()]);
    let array = "[flags.x]\nforce_on = [{ header = \"X-Beta\", values = [\"1\"] }, { header = \"X-Staff\", values = [\"yes\"] }]\n";
    assert_eq!(flag(array, "x").force_on, [one.clone(), two.clone()]);
    let tables = "[[flags.x.force_on]]\nheader = \"X-Beta\"\nvalues = [\"1\"]\n[[flags.x.force_on]]\nheader = \"X-Staff\"\nvalues = [\"yes\"]\n";
    assert_eq!(flag(tables, "x").force_on, [one, two]);
}

#[test]
fn variants_keep_file_order_and_may_be_a_table() {
    let src = "[flags.x.variants]\nzebra = 1\napple = 3\n";
    let names: Vec<(String, u32)> = flag(src, "x")
        .variants
        .into_iter()
        .map(|v| (v.name, v.weight))
        .collect();
    assert_eq!(names, [("zebra".to_owned(), 1), ("apple".to_owned(), 3)]);
}

#[test]
fn sections_name_each_part() {
    let src = "[flags.x]\nforce_on = [{ header = \"A\", values = [\"1\"] }]\nconstraints = [{ path_prefix = \"/a\" }]\nvariants = { a = 1 }\n";
    let spec = parse(src).unwrap_or_else(|e| panic!("{e:?}"));
    let sections: Vec<String> = spec
        .sections
        .iter()
        .map(|s| format!("{} {}:{}", s.path, s.location.line, s.location.column))
        .collect();
    assert_eq!(
        sections,
        [
            "flags.x 1:1",
            "flags.x.force_on 2:1",
            "flags.x.constraints 3:1",
            "flags.x.variants 4:1",
        ]
    );
}

#[test]
fn bad_scalars_are_refused_with_their_position() {
    let src = r#"[flags.x]
rollout = 150
user_header = "X User"
allow = ["a", ""]
deny = "b"
off_variant = "o"
"#;
    assert_eq!(
        errors(src),
        [
            "2:11: `rollout` must be between 0 and 100, found 150",
            "3:15: invalid header name \"X User\" in `user_header`",
            "4:15: `allow` entries must not be empty",
            "5:8: `deny` must be an array of strings, found a string",
            "6:15: `off_variant` applies only to flags with `variants`: remove it, or add variants",
        ]
    );
}

#[test]
fn a_user_in_allow_and_deny_is_refused() {
    let src = "[flags.x]\nallow = [\"a\", \"b\"]\ndeny = [\"b\"]\n";
    assert_eq!(
        errors(src),
        ["3:8: user `b` is in both `allow` and `deny`: keep it in one"]
    );
}

#[test]
fn bad_force_on_entries_are_refused() {
    let src = r#"[flags.x]
force_on = [{ header = "X-Beta", values = [] }, 3, { header = "", values = ["1"], valuse = 1 }]
[flags.y]
force_on = "X-Beta=1"
"#;
    assert_eq!(
        errors(src),
        [
            "2:43: `values` must not be empty: list the header values that force the flag on",
            "2:49: `force_on` entries must be tables, found integer",
            "2:63: `header` must not be empty",
            "2:83: unknown field `valuse` in [flags.x.force_on[2]] (did you mean `values`?)",
            "4:12: `force_on` must be a table { header = \"X-Beta\", values = [\"1\"] } or an array of them, found a string",
        ]
    );
}

#[test]
fn malformed_constraints_are_refused() {
    let src = r#"[flags.x]
constraints = [
  { header = "X-Country" },
  { equals = "DE" },
  { header = "X-Country", equals = "DE", in = ["FR"] },
  { header = "X-Country", in = [] },
  { path_prefix = "beta" },
  { path_prefix = "/beta", header = "X-A" },
  {},
  { header = "X Country", equal = "DE" },
]
"#;
    assert_eq!(
        errors(src),
        [
            "3:3: a header constraint needs `equals = \"VALUE\"` or `in = [\"A\", \"B\"]`",
            "4:3: missing field `header` in [flags.x.constraints[1]]",
            "5:42: a constraint takes `equals` or `in`, not both",
            "6:32: `in` must not be empty: list the values the header may have",
            "7:19: `path_prefix` must start with `/`, found \"beta\"",
            "8:5: `path_prefix` is a constraint of its own: put it in a separate table",
            "9:3: empty constraint: write { header = \"X-Country\", equals = \"DE\" }, { header = \"X-Country\", in = [\"DE\", \"FR\"] } or { path_prefix = \"/beta\" }",
            "10:3: a header constraint needs `equals = \"VALUE\"` or `in = [\"A\", \"B\"]`",
            "10:27: unknown field `equal` in [flags.x.constraints[7]] (did you mean `equals`?)",
        ]
    );
    assert_eq!(
        errors("[flags.x]\nconstraints = 1\n"),
        ["2:15: `constraints` must be an array of tables like { header = \"X-Country\", equals = \"DE\" } or { path_prefix = \"/beta\" }, found an integer"]
    );
}

#[test]
fn malformed_variants_are_refused() {
    let src = r#"[flags.a]
variants = { "blue sky" = 1, green = "x", red = -1 }
[flags.b]
variants = { blue = 0, green = 0 }
[flags.c]
variants = {}
[flags.d]
variants = ["blue", "green"]
[flags.e]
variants = { blue = 1 }
off_variant = "no way"
"#;
    assert_eq!(
        errors(src),
        [
            "2:14: invalid variant name `blue sky`: use 1 to 64 letters, digits, `_`, `.` or `-`",
            "2:38: `green` must be an integer, found a string",
            "2:49: `red` must be between 0 and 1000000, found -1",
            "4:12: variant weights add up to 0: give at least one a weight",
            "6:12: `variants` is empty: name at least one, e.g. { blue = 50, green = 50 }, or remove it for an on/off flag",
            "8:12: `flags.d.variants` must be a table, found an array",
            "11:15: invalid variant name `no way`: use 1 to 64 letters, digits, `_`, `.` or `-`",
        ]
    );
}

#[test]
fn older_serialised_specs_still_decode() {
    // Before variants: one optional `force_on`, no other fields.
    let old = r#"{"enabled":true,"rollout":10.0,"force_on":{"header":"X-Beta","values":["1"]}}"#;
    let f: FlagSpec = serde_json::from_str(old).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(f.force_on.len(), 1);
    assert_eq!(f.user_header, DEFAULT_USER_HEADER);
    let none = r#"{"enabled":false,"rollout":100.0,"force_on":null}"#;
    let f: FlagSpec = serde_json::from_str(none).unwrap_or_else(|e| panic!("{e}"));
    assert!(f.force_on.is_empty());
    let json = serde_json::to_string(&FlagSpec::default()).unwrap_or_default();
    let back: FlagSpec = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, FlagSpec::default());
}

#[test]
fn name_checks() {
    assert!(is_flag_name("new_profile-2"));
    assert!(!is_flag_name("a b") && !is_flag_name("") && !is_flag_name(&"a".repeat(65)));
    assert!(is_header_name("X-User-Id") && !is_header_name("X User") && !is_header_name(""));
    assert!(is_variant_name("v1.2_b-c") && !is_variant_name("a,b") && !is_variant_name("a:b"));
    assert!(!is_variant_name("") && !is_variant_name(&"v".repeat(65)));
}
