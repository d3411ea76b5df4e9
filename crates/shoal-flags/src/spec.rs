//! From the service file's `[flags.NAME]` ([`FlagSpec`]) to the stored [`Flag`].

use shoal_spec::FlagSpec;

use crate::{Flag, Origin};

/// The flag `[flags.NAME]` defines, as a seed writes it: origin [`Origin::File`], the
/// definition remembered in `file`, version 1, written at `now_ms`. The service file was
/// validated when it was parsed, so the result is valid for a valid `name`.
pub fn from_spec(name: &str, spec: &FlagSpec, now_ms: u64) -> Flag {
    let mut flag = Flag::from_definition(name, spec, Origin::File);
    flag.file = Some(spec.clone());
    flag.updated_ms = now_ms;
    flag.version = 1;
    flag
}

#[cfg(test)]
mod tests {
    use shoal_spec::{Constraint, ForceOn, Variant};

    use super::*;

    #[test]
    fn every_rule_is_carried_over() {
        let spec = FlagSpec {
            enabled: true,
            rollout: 12.5,
            user_header: "X-Account".into(),
            force_on: vec![ForceOn {
                header: "X-Beta".into(),
                values: vec!["1".into()],
            }],
            allow: vec!["a".into()],
            deny: vec!["d".into()],
            constraints: vec![Constraint::PathPrefix {
                prefix: "/b".into(),
            }],
            variants: vec![Variant {
                name: "blue".into(),
                weight: 1,
            }],
            off_variant: "none".into(),
        };
        let f = from_spec("beta", &spec, 42);
        assert_eq!(f.definition(), spec);
        assert_eq!(f.file.as_ref(), Some(&spec));
        assert_eq!(
            (f.name.as_str(), f.origin, f.updated_ms, f.version),
            ("beta", Origin::File, 42, 1)
        );
        assert_eq!(f.validate(), Ok(()));
    }

    #[test]
    fn the_design_example_parses_into_a_valid_flag() {
        let src = "[flags.new_profile]\nenabled = true\nrollout = 10\nforce_on = { header = \"X-Beta\", values = [\"1\"] }\n";
        let spec = shoal_spec::parse_str_with(
            src,
            "shoal.toml",
            std::path::Path::new("/"),
            &shoal_spec::AssumeExists,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let f = from_spec("new_profile", &spec.flags["new_profile"], 1);
        assert_eq!(f.validate(), Ok(()));
        assert_eq!((f.enabled, f.rollout, f.force_on.len()), (true, 10.0, 1));
    }
}
