//! Typed readers for scalar fields (strings, numbers, durations, ...) that report bad values instead of failing.

use std::net::SocketAddr;
use std::time::Duration;

use toml_edit::Value;

use crate::diag::did_you_mean;
use crate::walk::{Ctx, Field};

/// Largest instance count (or surge, or scale bound) a file may ask for.
pub(crate) const MAX_INSTANCES: u32 = 10_000;

fn expected(cx: &mut Ctx<'_>, f: &Field<'_>, what: &str) {
    let msg = format!("`{}` must be {what}, found {}", f.name, f.node.kind());
    cx.error(f.value_pos(), msg);
}

pub(crate) fn string(cx: &mut Ctx<'_>, f: &Field<'_>) -> Option<String> {
    match f.value() {
        Some(Value::String(s)) => Some(s.value().clone()),
        _ => {
            expected(cx, f, "a string");
            None
        }
    }
}

/// A string, integer or float as text, for values with a syntax of their own.
pub(crate) fn scalar_text(f: &Field<'_>) -> Option<String> {
    match f.value()? {
        Value::String(s) => Some(s.value().clone()),
        Value::Integer(i) => Some(i.value().to_string()),
        Value::Float(x) => Some(x.value().to_string()),
        _ => None,
    }
}

/// A string that is not empty (after trimming whitespace).
pub(crate) fn nonempty_string(cx: &mut Ctx<'_>, f: &Field<'_>) -> Option<String> {
    let s = string(cx, f)?;
    if s.trim().is_empty() {
        cx.error(f.value_pos(), format!("`{}` must not be empty", f.name));
        return None;
    }
    Some(s)
}

pub(crate) fn boolean(cx: &mut Ctx<'_>, f: &Field<'_>) -> Option<bool> {
    match f.value() {
        Some(Value::Boolean(b)) => Some(*b.value()),
        _ => {
            expected(cx, f, "true or false");
            None
        }
    }
}

/// An integer in `lo..=hi`.
pub(crate) fn u32_in(lo: u32, hi: u32) -> impl Fn(&mut Ctx<'_>, &Field<'_>) -> Option<u32> {
    move |cx, f| {
        let Some(Value::Integer(i)) = f.value() else {
            expected(cx, f, "an integer");
            return None;
        };
        let i = *i.value();
        match u32::try_from(i) {
            Ok(v) if (lo..=hi).contains(&v) => Some(v),
            _ => {
                let msg = format!("`{}` must be between {lo} and {hi}, found {i}", f.name);
                cx.error(f.value_pos(), msg);
                None
            }
        }
    }
}

/// Any finite number (integer or float).
fn number(cx: &mut Ctx<'_>, f: &Field<'_>) -> Option<f64> {
    let v = match f.value() {
        Some(Value::Integer(i)) => *i.value() as f64,
        Some(Value::Float(x)) => *x.value(),
        _ => {
            expected(cx, f, "a number");
            return None;
        }
    };
    if !v.is_finite() {
        cx.error(
            f.value_pos(),
            format!("`{}` must be a finite number", f.name),
        );
        return None;
    }
    Some(v)
}

/// Lower bound of a number range: may the value equal it?
#[derive(Clone, Copy)]
pub(crate) enum Low {
    Incl(f64),
    Excl(f64),
}

/// A number with `low` and `hi` (inclusive; `f64::INFINITY` for none).
pub(crate) fn f64_in(low: Low, hi: f64) -> impl Fn(&mut Ctx<'_>, &Field<'_>) -> Option<f64> {
    move |cx, f| {
        let v = number(cx, f)?;
        let ok_low = match low {
            Low::Incl(l) => v >= l,
            Low::Excl(l) => v > l,
        };
        if ok_low && v <= hi {
            return Some(v);
        }
        let range = match (low, hi.is_finite()) {
            (Low::Incl(l), true) => format!("between {l} and {hi}"),
            (Low::Excl(l), true) => format!("greater than {l} and at most {hi}"),
            (Low::Incl(l), false) => format!("at least {l}"),
            (Low::Excl(l), false) => format!("greater than {l}"),
        };
        cx.error(
            f.value_pos(),
            format!("`{}` must be {range}, found {v}", f.name),
        );
        None
    }
}

/// A fraction in 0..=1 (error rates, budgets, shares).
pub(crate) fn ratio(cx: &mut Ctx<'_>, f: &Field<'_>) -> Option<f64> {
    f64_in(Low::Incl(0.0), 1.0)(cx, f)
}

/// A fraction in (0, 1].
pub(crate) fn positive_ratio(cx: &mut Ctx<'_>, f: &Field<'_>) -> Option<f64> {
    f64_in(Low::Excl(0.0), 1.0)(cx, f)
}

/// A number greater than zero.
pub(crate) fn positive(cx: &mut Ctx<'_>, f: &Field<'_>) -> Option<f64> {
    f64_in(Low::Excl(0.0), f64::INFINITY)(cx, f)
}

/// A duration string like `"100ms"`, `"10s"` or `"1h30m"`; zero allowed.
pub(crate) fn duration(cx: &mut Ctx<'_>, f: &Field<'_>) -> Option<Duration> {
    let Some(Value::String(s)) = f.value() else {
        expected(cx, f, "a duration string like \"10s\"");
        return None;
    };
    match humantime::parse_duration(s.value().trim()) {
        Ok(d) => Some(d),
        Err(e) => {
            let msg = format!(
                "invalid duration {:?} for `{}`: {e} (write e.g. \"500ms\", \"10s\", \"1h30m\")",
                s.value(),
                f.name
            );
            cx.error(f.value_pos(), msg);
            None
        }
    }
}

/// A duration greater than zero.
pub(crate) fn positive_duration(cx: &mut Ctx<'_>, f: &Field<'_>) -> Option<Duration> {
    let d = duration(cx, f)?;
    if d.is_zero() {
        cx.error(
            f.value_pos(),
            format!("`{}` must be longer than zero", f.name),
        );
        return None;
    }
    Some(d)
}

/// A socket address like `"127.0.0.1:8500"` or `"[::1]:8500"`.
pub(crate) fn socket_addr(cx: &mut Ctx<'_>, f: &Field<'_>) -> Option<SocketAddr> {
    let s = string(cx, f)?;
    match s.trim().parse() {
        Ok(a) => Some(a),
        Err(_) => {
            let msg = format!(
                "invalid address {s:?} for `{}`: write IP:PORT, e.g. \"127.0.0.1:8500\"",
                f.name
            );
            cx.error(f.value_pos(), msg);
            None
        }
    }
}

/// A string that must be one of `choices`; returns its index.
pub(crate) fn choice(
    choices: &'static [&'static str],
) -> impl Fn(&mut Ctx<'_>, &Field<'_>) -> Option<usize> {
    move |cx, f| {
        let s = string(cx, f)?;
        if let Some(i) = choices.iter().position(|c| *c == s) {
            return Some(i);
        }
        let hint = did_you_mean(&s, choices.iter().copied());
        let msg = format!(
            "invalid `{}` {s:?}: expected one of {}{hint}",
            f.name,
            choices
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        cx.error(f.value_pos(), msg);
        None
    }
}

/// An array of strings, each with the byte offset of its value.
pub(crate) fn string_array(cx: &mut Ctx<'_>, f: &Field<'_>) -> Option<Vec<(String, usize)>> {
    let Some(Value::Array(arr)) = f.value() else {
        expected(cx, f, "an array of strings");
        return None;
    };
    let mut out = Vec::with_capacity(arr.len());
    let mut ok = true;
    for v in arr.iter() {
        let pos = v.span().map_or(f.value_pos(), |r| r.start);
        match v.as_str() {
            Some(s) => out.push((s.to_owned(), pos)),
            None => {
                let msg = format!(
                    "`{}` must contain only strings, found {}",
                    f.name,
                    v.type_name()
                );
                cx.error(pos, msg);
                ok = false;
            }
        }
    }
    ok.then_some(out)
}
