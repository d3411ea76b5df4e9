//! Checks a parsed expression against an endpoint's [`Shape`], as Consul does before
//! running a filter: every selector must name a field, every operator must suit the
//! field it is applied to, values are read as the field's type and regular expressions
//! are compiled, once. The result is what the evaluator runs.

use regex::{Regex, RegexBuilder};

use super::ast::{Expr, Literal, Match, Op, Selector};
use super::schema::Shape;
use super::FilterError;

/// The largest compiled regular expression a filter may hold.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// One step from a value towards the field a selector names.
#[derive(Debug, Clone)]
pub enum Step {
    /// A structure's field (with its shape: a field the JSON leaves out reads as the
    /// shape's zero value, as Go's struct fields do in Consul) or a map's key (`None`:
    /// a missing key is absent).
    Field(String, Option<&'static Shape>),
    /// Every element of a list; the match holds if it holds for any of them.
    Each,
}

/// What a match asks of the value its selector reaches.
#[derive(Debug, Clone)]
pub enum Test {
    StrEq(String),
    Substring(String),
    Regex(Regex),
    IntEq(i128),
    BoolEq(bool),
    Empty,
    HasStr(String),
    HasInt(i128),
    HasBool(bool),
    HasKey(String),
}

/// A match ready to run.
#[derive(Debug, Clone)]
pub struct Checked {
    pub steps: Vec<Step>,
    pub test: Test,
    /// The operator is a negation (`!=`, `not in`, `is not empty`, `not matches`).
    pub negate: bool,
    /// The answer when a map key on the way is missing.
    pub absent: bool,
}

/// `expr` checked against the shape of the values it will filter.
pub fn check(
    expr: Expr<Match>,
    shape: &'static Shape,
    src: &str,
) -> Result<Expr<Checked>, FilterError> {
    Ok(match expr {
        Expr::And(terms) => Expr::And(check_all(terms, shape, src)?),
        Expr::Or(terms) => Expr::Or(check_all(terms, shape, src)?),
        Expr::Not(inner) => Expr::Not(Box::new(check(*inner, shape, src)?)),
        Expr::Match(m) => Expr::Match(check_match(m, shape, src)?),
    })
}

fn check_all(
    terms: Vec<Expr<Match>>,
    shape: &'static Shape,
    src: &str,
) -> Result<Vec<Expr<Checked>>, FilterError> {
    terms.into_iter().map(|t| check(t, shape, src)).collect()
}

fn check_match(m: Match, root: &'static Shape, src: &str) -> Result<Checked, FilterError> {
    let (steps, shape) = resolve(&m.selector, root, src)?;
    let op = m.op;
    let sel = m.selector.dotted();
    let invalid_op = || {
        FilterError::new(
            src,
            m.selector.pos,
            format!(
                "Invalid match operator {:?} for selector {sel:?}: it is {}, which supports {}",
                op.as_str(),
                shape.describe(),
                supported(shape)
            ),
        )
    };
    let empty = Literal {
        raw: String::new(),
        pos: m.selector.pos,
    };
    let value = m.value.unwrap_or(empty);
    let raw = value.raw.clone();
    let coerce_err = |what: &str| {
        FilterError::new(
            src,
            value.pos,
            format!("Failed to coerce value {raw:?} for selector {sel:?}: expected {what}"),
        )
    };
    let test = match (shape, op) {
        (Shape::Str | Shape::List(_) | Shape::Map(_), Op::IsEmpty | Op::IsNotEmpty) => Test::Empty,
        (Shape::Str, Op::Eq | Op::Ne) => Test::StrEq(raw.clone()),
        (Shape::Str, Op::In | Op::NotIn) => Test::Substring(raw.clone()),
        (Shape::Str, Op::Matches | Op::NotMatches) => Test::Regex(
            RegexBuilder::new(&raw)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| {
                    FilterError::new(
                        src,
                        value.pos,
                        format!("Failed to compile regular expression {raw:?}: {e}"),
                    )
                })?,
        ),
        (Shape::Int, Op::Eq | Op::Ne) => {
            Test::IntEq(go_int(&raw).ok_or_else(|| coerce_err("an integer"))?)
        }
        (Shape::Bool, Op::Eq | Op::Ne) => {
            Test::BoolEq(go_bool(&raw).ok_or_else(|| coerce_err("true or false"))?)
        }
        (Shape::List(elem), Op::In | Op::NotIn) => match elem {
            Shape::Str => Test::HasStr(raw.clone()),
            Shape::Int => Test::HasInt(go_int(&raw).ok_or_else(|| coerce_err("an integer"))?),
            Shape::Bool => Test::HasBool(go_bool(&raw).ok_or_else(|| coerce_err("true or false"))?),
            _ => return Err(invalid_op()),
        },
        (Shape::Map(_), Op::In | Op::NotIn) => Test::HasKey(raw.clone()),
        _ => return Err(invalid_op()),
    };
    Ok(Checked {
        steps,
        test,
        negate: op.negated(),
        absent: op.when_absent(),
    })
}

/// The steps to the field `sel` names and that field's shape. A list is crossed
/// element by element when the selector goes on past it (`Checks.Status`).
fn resolve(
    sel: &Selector,
    root: &'static Shape,
    src: &str,
) -> Result<(Vec<Step>, &'static Shape), FilterError> {
    let mut shape = root;
    let mut steps = Vec::with_capacity(sel.parts.len());
    for (i, part) in sel.parts.iter().enumerate() {
        while let Shape::List(elem) = shape {
            steps.push(Step::Each);
            shape = elem;
        }
        let parent = if i == 0 {
            "each result".to_string()
        } else {
            format!("{:?}", sel.parts[..i].join("."))
        };
        let invalid = |why: String| {
            FilterError::new(
                src,
                sel.pos,
                format!(
                    "Selector {:?} is not valid: {why}",
                    sel.parts[..=i].join(".")
                ),
            )
        };
        match shape {
            Shape::Struct(fields) => {
                let Some((_, field)) = fields.iter().find(|(name, _)| name == part) else {
                    let names: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
                    return Err(invalid(format!(
                        "{parent} has the fields {}",
                        names.join(", ")
                    )));
                };
                steps.push(Step::Field(part.clone(), Some(field)));
                shape = field;
            }
            Shape::Map(values) => {
                steps.push(Step::Field(part.clone(), None));
                shape = values;
            }
            other => {
                return Err(invalid(format!(
                    "{parent} is {} and has no fields",
                    other.describe()
                )));
            }
        }
    }
    Ok((steps, shape))
}

fn supported(shape: &Shape) -> String {
    match shape {
        Shape::Str => "==, !=, in, not in, contains, not contains, matches, not matches, is empty, is not empty".into(),
        Shape::Int | Shape::Bool => "== and !=".into(),
        Shape::List(Shape::Str | Shape::Int | Shape::Bool) => "in, not in, contains, not contains, is empty, is not empty".into(),
        Shape::List(_) => "is empty and is not empty (or select a field of its elements)".into(),
        Shape::Map(_) => "in, not in, contains, not contains (of a key), is empty, is not empty (or select a key)".into(),
        Shape::Struct(fields) => {
            let names: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
            format!("none: select one of its fields ({})", names.join(", "))
        }
    }
}

/// An integer as Go's `strconv.ParseInt(s, 0, 64)` reads it: optional sign, `0x`, `0o`,
/// `0b` or a leading `0` (octal), underscores between digits.
pub fn go_int(raw: &str) -> Option<i128> {
    let (neg, rest) = match raw.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, raw.strip_prefix('+').unwrap_or(raw)),
    };
    let lower = rest.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    let digits = digits.replace('_', "");
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let v = i128::from_str_radix(&digits, radix).ok()?;
    let v = if neg { -v } else { v };
    (i128::from(i64::MIN)..=i128::from(u64::MAX))
        .contains(&v)
        .then_some(v)
}

/// A boolean as Go's `strconv.ParseBool` reads it.
pub fn go_bool(raw: &str) -> Option<bool> {
    match raw {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_integers_and_booleans() {
        assert_eq!(go_int("8080"), Some(8080));
        assert_eq!(go_int("-3"), Some(-3));
        assert_eq!(go_int("0x1F"), Some(31));
        assert_eq!(go_int("017"), Some(15));
        assert_eq!(go_int("0b101"), Some(5));
        assert_eq!(go_int("1_000"), Some(1000));
        assert_eq!(go_int("0"), Some(0));
        assert_eq!(go_int("1.5"), None);
        assert_eq!(go_int("abc"), None);
        assert_eq!(go_int(""), None);
        assert_eq!(go_int("0x"), None);
        assert_eq!(go_int("--1"), None);
        assert_eq!(go_int("99999999999999999999999"), None);
        assert_eq!(go_bool("True"), Some(true));
        assert_eq!(go_bool("0"), Some(false));
        assert_eq!(go_bool("yes"), None);
    }
}
