//! Runs a checked expression over one JSON value (an entry of an endpoint's answer).

use serde_json::Value;

use super::ast::Expr;
use super::compile::{Checked, Step, Test};
use super::schema::Shape;

/// Whether `v` passes `expr`.
pub fn eval(expr: &Expr<Checked>, v: &Value) -> bool {
    match expr {
        Expr::And(terms) => terms.iter().all(|t| eval(t, v)),
        Expr::Or(terms) => terms.iter().any(|t| eval(t, v)),
        Expr::Not(inner) => !eval(inner, v),
        Expr::Match(m) => at(v, &m.steps, m),
    }
}

/// Follows `steps` from `v` and applies the test; a list on the way matches if any of
/// its elements does (so `Checks.Status != passing` holds when any check is not
/// passing, as in Consul); a structure's missing field reads as its zero value, and a
/// map's missing key or a value of an unexpected type gives the operator's answer for an
/// absent value.
fn at(v: &Value, steps: &[Step], m: &Checked) -> bool {
    match steps.split_first() {
        None => match test(&m.test, v) {
            Some(hit) => hit != m.negate,
            None => m.absent,
        },
        Some((Step::Each, rest)) => v
            .as_array()
            .is_some_and(|items| items.iter().any(|item| at(item, rest, m))),
        Some((Step::Field(name, field), rest)) => match (v.get(name.as_str()), field) {
            (Some(next), _) if !next.is_null() => at(next, rest, m),
            (_, Some(shape)) => at(&zero(shape), rest, m),
            (_, None) => m.absent,
        },
    }
}

/// A shape's zero value, as Go has it for a struct field the JSON leaves out
/// (`omitempty`): "", 0, false, an empty list, map or structure.
fn zero(shape: &Shape) -> Value {
    match shape {
        Shape::Str => Value::String(String::new()),
        Shape::Int => Value::from(0),
        Shape::Bool => Value::Bool(false),
        Shape::List(_) => Value::Array(Vec::new()),
        Shape::Map(_) | Shape::Struct(_) => Value::Object(serde_json::Map::new()),
    }
}

fn int(v: &Value) -> Option<i128> {
    v.as_i64()
        .map(i128::from)
        .or_else(|| v.as_u64().map(i128::from))
}

/// The positive form of the test; `None` when `v` is not of the type it reads.
fn test(t: &Test, v: &Value) -> Option<bool> {
    let any = |f: &dyn Fn(&Value) -> bool| v.as_array().map(|items| items.iter().any(f));
    match t {
        Test::StrEq(s) => v.as_str().map(|x| x == s),
        Test::Substring(s) => v.as_str().map(|x| x.contains(s.as_str())),
        Test::Regex(re) => v.as_str().map(|x| re.is_match(x)),
        Test::IntEq(n) => int(v).map(|x| x == *n),
        Test::BoolEq(b) => v.as_bool().map(|x| x == *b),
        Test::Empty => match v {
            Value::String(s) => Some(s.is_empty()),
            Value::Array(a) => Some(a.is_empty()),
            Value::Object(o) => Some(o.is_empty()),
            _ => None,
        },
        Test::HasStr(s) => any(&|x| x.as_str() == Some(s.as_str())),
        Test::HasInt(n) => any(&|x| int(x) == Some(*n)),
        Test::HasBool(b) => any(&|x| x.as_bool() == Some(*b)),
        Test::HasKey(k) => v.as_object().map(|o| o.contains_key(k.as_str())),
    }
}
