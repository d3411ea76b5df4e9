//! The command-line forms of flag rules: `header:X-Country=DE`, `X-Beta=1,yes`, `blue:50,green:50`, `12.5%`.

use shoal_spec::{is_header_name, is_variant_name, MAX_VARIANT_WEIGHT};

use crate::error::closest;
use crate::{Constraint, FlagError, ForceOn, Variant};

const CONSTRAINT_FORMS: &str = "write header:NAME=VALUE, header:NAME in A,B or path:/PREFIX";

fn syntax(what: &'static str, text: &str, problem: impl Into<String>) -> FlagError {
    FlagError::Syntax {
        what,
        text: text.to_owned(),
        problem: problem.into(),
    }
}

/// A constraint: `header:X-Country=DE`, `header:X-Country in DE,FR` or `path:/beta`.
pub fn parse_constraint(text: &str) -> Result<Constraint, FlagError> {
    let err = |problem: String| syntax("constraint", text, problem);
    let Some((kind, rest)) = text.trim().split_once(':') else {
        return Err(err(format!("no kind: {CONSTRAINT_FORMS}")));
    };
    match kind.trim() {
        "header" => {
            let eq = rest.find('=');
            let one_of = rest.find(" in ");
            let (header, value) = match (eq, one_of) {
                (Some(e), Some(i)) if i < e => (&rest[..i], Err(&rest[i + 4..])),
                (None, Some(i)) => (&rest[..i], Err(&rest[i + 4..])),
                (Some(e), _) => (&rest[..e], Ok(&rest[e + 1..])),
                (None, None) => {
                    return Err(err(format!(
                        "no value: {CONSTRAINT_FORMS} (e.g. header:X-Country=DE)"
                    )))
                }
            };
            let header = header.trim();
            if header.is_empty() {
                return Err(err(format!(
                    "no header name before the value: {CONSTRAINT_FORMS}"
                )));
            }
            if !is_header_name(header) {
                return Err(err(format!("`{header}` is not a valid header name")));
            }
            let header = header.to_owned();
            match value {
                Ok(value) if value.trim().is_empty() => {
                    Err(err("an empty value after `=`".to_owned()))
                }
                Ok(value) => Ok(Constraint::HeaderEquals {
                    header,
                    value: value.trim().to_owned(),
                }),
                Err(values) => Ok(Constraint::HeaderIn {
                    header,
                    values: list(values).map_err(|p| err(format!("{p} after `in`")))?,
                }),
            }
        }
        "path" => {
            let prefix = rest.trim();
            if !prefix.starts_with('/') {
                return Err(err(format!(
                    "a path prefix starts with `/` (e.g. path:/{prefix})"
                )));
            }
            Ok(Constraint::PathPrefix {
                prefix: prefix.to_owned(),
            })
        }
        other => {
            let hint = closest(other, ["header", "path"])
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            Err(err(format!(
                "unknown kind `{other}`{hint}: {CONSTRAINT_FORMS}"
            )))
        }
    }
}

/// A force rule: `X-Beta=1,yes` (the header, then the values that force the flag on).
pub fn parse_force(text: &str) -> Result<ForceOn, FlagError> {
    let err = |problem: String| syntax("force rule", text, problem);
    let Some((header, values)) = text.split_once('=') else {
        return Err(err(
            "write HEADER=VALUE[,VALUE...], e.g. X-Beta=1".to_owned()
        ));
    };
    let header = header.trim();
    if !is_header_name(header) {
        return Err(err(format!(
            "`{header}` is not a valid header name (write HEADER=VALUE, e.g. X-Beta=1)"
        )));
    }
    let values = list(values).map_err(|p| err(format!("{p} after `=`")))?;
    Ok(ForceOn {
        header: header.to_owned(),
        values,
    })
}

/// Variants with weights: `blue:50,green:50`.
pub fn parse_variants(text: &str) -> Result<Vec<Variant>, FlagError> {
    let err = |problem: String| syntax("variants", text, problem);
    let mut out: Vec<Variant> = Vec::new();
    for part in text.split(',').map(str::trim) {
        let Some((name, weight)) = part.split_once(':') else {
            return Err(err(format!(
                "`{part}` has no weight: write NAME:WEIGHT,..., e.g. blue:50,green:50"
            )));
        };
        let name = name.trim();
        if !is_variant_name(name) {
            return Err(err(format!(
                "`{name}` is not a valid variant name: use 1 to 64 letters, digits, `_`, `.` or `-`"
            )));
        }
        let weight = match weight.trim().parse::<u32>() {
            Ok(w) if w <= MAX_VARIANT_WEIGHT => w,
            _ => {
                return Err(err(format!(
                    "the weight of `{name}` must be a whole number from 0 to {MAX_VARIANT_WEIGHT}, found `{}`",
                    weight.trim()
                )))
            }
        };
        if out.iter().any(|v| v.name == name) {
            return Err(err(format!("variant `{name}` is listed twice")));
        }
        out.push(Variant {
            name: name.to_owned(),
            weight,
        });
    }
    if out.iter().all(|v| v.weight == 0) {
        return Err(err(
            "the weights add up to 0: give at least one a weight".to_owned()
        ));
    }
    Ok(out)
}

/// A rollout percent: `30`, `12.5` or `12.5%`, from 0 to 100.
pub fn parse_rollout(text: &str) -> Result<f64, FlagError> {
    let t = text.trim();
    let number = t.strip_suffix('%').unwrap_or(t).trim();
    match number.parse::<f64>() {
        Ok(p) if p.is_finite() && (0.0..=100.0).contains(&p) => Ok(p),
        Ok(_) => Err(syntax(
            "rollout",
            text,
            "a rollout is a percent from 0 to 100",
        )),
        Err(_) => Err(syntax(
            "rollout",
            text,
            "write a percent from 0 to 100, e.g. 30 or 12.5",
        )),
    }
}

/// `A,B,C`: values, none empty.
fn list(text: &str) -> Result<Vec<String>, String> {
    let values: Vec<String> = text.split(',').map(|v| v.trim().to_owned()).collect();
    if values.iter().any(String::is_empty) {
        return Err("an empty value".to_owned());
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(r: Result<impl std::fmt::Debug, FlagError>) -> String {
        match r {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn constraints_in_every_form() {
        let c = |s| parse_constraint(s).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c("header:X-Country=DE"),
            Constraint::HeaderEquals {
                header: "X-Country".into(),
                value: "DE".into()
            }
        );
        assert_eq!(
            c("header:X-Country in DE, FR"),
            Constraint::HeaderIn {
                header: "X-Country".into(),
                values: vec!["DE".into(), "FR".into()]
            }
        );
        assert_eq!(
            c(" path:/beta "),
            Constraint::PathPrefix {
                prefix: "/beta".into()
            }
        );
        // A value may hold `=`: only the first one splits.
        assert!(
            matches!(c("header:X-Q=a=b"), Constraint::HeaderEquals { value, .. } if value == "a=b")
        );
        assert!(
            matches!(c("header:X-Q=a in b"), Constraint::HeaderEquals { value, .. } if value == "a in b")
        );
        assert!(
            matches!(c("header:X-Q in a=b"), Constraint::HeaderIn { values, .. } if values == ["a=b"])
        );
    }

    #[test]
    fn malformed_constraints_name_the_text() {
        assert_eq!(
            error(parse_constraint("header:=x")),
            "invalid constraint `header:=x`: no header name before the value: write header:NAME=VALUE, header:NAME in A,B or path:/PREFIX"
        );
        assert_eq!(
            error(parse_constraint("path:beta")),
            "invalid constraint `path:beta`: a path prefix starts with `/` (e.g. path:/beta)"
        );
        assert_eq!(
            error(parse_constraint("heder:X=1")),
            "invalid constraint `heder:X=1`: unknown kind `heder` (did you mean `header`?): write header:NAME=VALUE, header:NAME in A,B or path:/PREFIX"
        );
        assert_eq!(
            error(parse_constraint("X-Country=DE")),
            "invalid constraint `X-Country=DE`: no kind: write header:NAME=VALUE, header:NAME in A,B or path:/PREFIX"
        );
        assert_eq!(
            error(parse_constraint("header:X-Country")),
            "invalid constraint `header:X-Country`: no value: write header:NAME=VALUE, header:NAME in A,B or path:/PREFIX (e.g. header:X-Country=DE)"
        );
        assert_eq!(
            error(parse_constraint("header:X-C in DE,,FR")),
            "invalid constraint `header:X-C in DE,,FR`: an empty value after `in`"
        );
        assert_eq!(
            error(parse_constraint("header:X C=1")),
            "invalid constraint `header:X C=1`: `X C` is not a valid header name"
        );
    }

    #[test]
    fn force_rules() {
        let f = parse_force("X-Beta=1,yes").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (f.header.as_str(), f.values),
            ("X-Beta", vec!["1".to_owned(), "yes".to_owned()])
        );
        assert_eq!(
            error(parse_force("X-Beta")),
            "invalid force rule `X-Beta`: write HEADER=VALUE[,VALUE...], e.g. X-Beta=1"
        );
        assert_eq!(
            error(parse_force("X-Beta=")),
            "invalid force rule `X-Beta=`: an empty value after `=`"
        );
        assert_eq!(
            error(parse_force("=1")),
            "invalid force rule `=1`: `` is not a valid header name (write HEADER=VALUE, e.g. X-Beta=1)"
        );
    }

    #[test]
    fn variant_lists() {
        let v = parse_variants("blue:50, green:50").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            v.iter()
                .map(|v| (v.name.as_str(), v.weight))
                .collect::<Vec<_>>(),
            [("blue", 50), ("green", 50)]
        );
        assert_eq!(
            error(parse_variants("blue:x")),
            "invalid variants `blue:x`: the weight of `blue` must be a whole number from 0 to 1000000, found `x`"
        );
        assert_eq!(
            error(parse_variants("blue")),
            "invalid variants `blue`: `blue` has no weight: write NAME:WEIGHT,..., e.g. blue:50,green:50"
        );
        assert_eq!(
            error(parse_variants("blue:1,blue:2")),
            "invalid variants `blue:1,blue:2`: variant `blue` is listed twice"
        );
        assert_eq!(
            error(parse_variants("a b:1")),
            "invalid variants `a b:1`: `a b` is not a valid variant name: use 1 to 64 letters, digits, `_`, `.` or `-`"
        );
        assert_eq!(
            error(parse_variants("a:0")),
            "invalid variants `a:0`: the weights add up to 0: give at least one a weight"
        );
        assert!(parse_variants("a:-1").is_err() && parse_variants("a:2000000").is_err());
    }

    #[test]
    fn rollouts() {
        assert_eq!(parse_rollout("30").ok(), Some(30.0));
        assert_eq!(parse_rollout(" 12.5% ").ok(), Some(12.5));
        assert_eq!(
            error(parse_rollout("150")),
            "invalid rollout `150`: a rollout is a percent from 0 to 100"
        );
        assert_eq!(
            error(parse_rollout("lots")),
            "invalid rollout `lots`: write a percent from 0 to 100, e.g. 30 or 12.5"
        );
        assert!(parse_rollout("NaN").is_err() && parse_rollout("inf").is_err());
    }
}
