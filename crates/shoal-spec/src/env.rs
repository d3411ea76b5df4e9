//! Environment tables and their `${kv:KEY}` / `${secret:NAME}` templates.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use toml_edit::Value;

use crate::walk::{Ctx, Field, Obj};

/// Variables Shoal sets for every instance; a spec may not override them.
pub const RESERVED_ENV: &[&str] = &[
    "PORT",
    "SHOAL_SERVICE",
    "SHOAL_VERSION",
    "SHOAL_INSTANCE",
    "SHOAL_PROXY",
    "SHOAL_ADDR",
    "CONSUL_HTTP_ADDR",
    "STATSD_HOST",
    "STATSD_PORT",
];

/// An env value as written, and split into literal text and references.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvValue {
    /// The value as written in the file.
    pub raw: String,
    /// Literal text and references, in order; adjacent literals are merged,
    /// `$$` has become `$`.
    pub parts: Vec<EnvPart>,
}

/// A piece of an env value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvPart {
    Literal(String),
    /// `${kv:KEY}`: the value of kv key KEY.
    Kv(String),
    /// `${secret:NAME}`: the decrypted secret NAME.
    Secret(String),
}

impl EnvValue {
    /// Parses a template: `${kv:KEY}`, `${secret:NAME}`; `$$` is a literal `$`, and so is
    /// a `$` not followed by `{`. Errors carry the byte offset of the bad `${` in `raw`.
    pub fn parse(raw: &str) -> Result<EnvValue, (usize, String)> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = raw;
        while let Some(i) = rest.find('$') {
            lit.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let at = raw.len() - rest.len() + i;
            if let Some(tail) = after.strip_prefix('$') {
                lit.push('$');
                rest = tail;
            } else if let Some(body) = after.strip_prefix('{') {
                let Some(end) = body.find('}') else {
                    return Err((at, "unclosed `${`: write `${kv:KEY}` or `${secret:NAME}` (`$$` for a literal `$`)".to_owned()));
                };
                let inner = &body[..end];
                let part = parse_reference(inner).map_err(|m| (at, m))?;
                if !lit.is_empty() {
                    parts.push(EnvPart::Literal(std::mem::take(&mut lit)));
                }
                parts.push(part);
                rest = &body[end + 1..];
            } else {
                lit.push('$');
                rest = after;
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(EnvPart::Literal(lit));
        }
        Ok(EnvValue {
            raw: raw.to_owned(),
            parts,
        })
    }

    /// A value with no references.
    pub fn literal(text: impl Into<String>) -> Self {
        let text = text.into();
        let parts = if text.is_empty() {
            Vec::new()
        } else {
            vec![EnvPart::Literal(text.clone())]
        };
        EnvValue {
            raw: text.replace('$', "$$"),
            parts,
        }
    }

    /// Whether the value references kv or secrets.
    pub fn has_references(&self) -> bool {
        self.parts.iter().any(|p| !matches!(p, EnvPart::Literal(_)))
    }

    /// The final value: literals as is, each reference replaced by `lookup(part)`.
    pub fn resolve<E>(
        &self,
        mut lookup: impl FnMut(&EnvPart) -> Result<String, E>,
    ) -> Result<String, E> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                EnvPart::Literal(text) => out.push_str(text),
                reference => out.push_str(&lookup(reference)?),
            }
        }
        Ok(out)
    }
}

fn parse_reference(inner: &str) -> Result<EnvPart, String> {
    let (kind, name) = inner.split_once(':').unwrap_or((inner, ""));
    let make: fn(String) -> EnvPart = match kind {
        "kv" => EnvPart::Kv,
        "secret" => EnvPart::Secret,
        _ => {
            return Err(format!(
                "malformed reference `${{{inner}}}`: write `${{kv:KEY}}` or `${{secret:NAME}}` (`$$` for a literal `$`)"
            ))
        }
    };
    let valid = |c: char| c.is_ascii_alphanumeric() || "._/-".contains(c);
    if name.is_empty() || !name.chars().all(valid) || name.starts_with('/') {
        return Err(format!(
            "malformed reference `${{{inner}}}`: the {kind} name must be non-empty and use only letters, digits, `.`, `_`, `-` and `/`"
        ));
    }
    Ok(make(name.to_owned()))
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Reads an env table (`env = {...}` or `[...env]`) whose sections live under `path`.
pub(crate) fn read_env(cx: &mut Ctx<'_>, f: &Field<'_>, path: &str) -> BTreeMap<String, EnvValue> {
    let mut out = BTreeMap::new();
    let Some(mut obj) = Obj::open_unrecorded(cx, f, path.to_owned()) else {
        return out;
    };
    for field in obj.drain() {
        let name = field.name;
        if !is_env_name(name) {
            let msg = format!(
                "invalid env name `{name}`: use letters, digits and `_`, not starting with a digit"
            );
            cx.error(field.key_pos, msg);
        } else if RESERVED_ENV.contains(&name) {
            cx.error(
                field.key_pos,
                format!("env `{name}` is set by Shoal for every instance; choose another name"),
            );
        }
        let raw = match field.value() {
            Some(Value::String(s)) => s.value().clone(),
            Some(Value::Integer(i)) => i.value().to_string(),
            Some(Value::Float(x)) => x.value().to_string(),
            Some(Value::Boolean(b)) => b.value().to_string(),
            _ => {
                let msg = format!(
                    "env `{name}` must be a string, number or boolean, found {}",
                    field.node.kind()
                );
                cx.error(field.value_pos(), msg);
                continue;
            }
        };
        match EnvValue::parse(&raw) {
            Ok(value) => {
                for part in &value.parts {
                    let tag = match part {
                        EnvPart::Kv(_) => "kv",
                        EnvPart::Secret(_) => "secret",
                        EnvPart::Literal(_) => continue,
                    };
                    cx.section(format!("{path}.{name}:{tag}"), field.key_pos);
                }
                out.insert(name.to_owned(), value);
            }
            Err((at, msg)) => {
                let pos = position_in_string(cx, &field, &raw, at);
                cx.error(pos, format!("env `{name}`: {msg}"));
            }
        }
    }
    cx.sections.dedup_by(|a, b| a.path == b.path);
    obj.finish(cx);
    out
}

/// Byte offset in the file of byte `at` of string `raw`, when the string is written
/// without escapes on one line; otherwise the start of the value.
fn position_in_string(cx: &Ctx<'_>, f: &Field<'_>, raw: &str, at: usize) -> usize {
    let start = f.value_pos();
    let written = f.node.span().and_then(|r| cx.src.get(r));
    let plain = written.is_some_and(|w| {
        w.len() == raw.len() + 2
            && (w.starts_with('"') || w.starts_with('\''))
            && w.get(1..w.len() - 1) == Some(raw)
    });
    if plain {
        start + 1 + at
    } else {
        start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(raw: &str) -> Vec<EnvPart> {
        match EnvValue::parse(raw) {
            Ok(v) => v.parts,
            Err(e) => panic!("{raw:?}: {e:?}"),
        }
    }

    fn lit(s: &str) -> EnvPart {
        EnvPart::Literal(s.to_owned())
    }

    #[test]
    fn templates_split_into_parts() {
        assert_eq!(parts(""), vec![]);
        assert_eq!(parts("app"), vec![lit("app")]);
        assert_eq!(
            parts("${secret:db/pw}"),
            vec![EnvPart::Secret("db/pw".into())]
        );
        assert_eq!(
            parts("postgres://u:${secret:db/pw}@${kv:db/host}:5432"),
            vec![
                lit("postgres://u:"),
                EnvPart::Secret("db/pw".into()),
                lit("@"),
                EnvPart::Kv("db/host".into()),
                lit(":5432"),
            ]
        );
    }

    #[test]
    fn dollars_are_literal_unless_they_open_a_reference() {
        assert_eq!(parts("a$b"), vec![lit("a$b")]);
        assert_eq!(parts("cost: 5$"), vec![lit("cost: 5$")]);
        assert_eq!(parts("$${kv:x}"), vec![lit("${kv:x}")]);
        assert_eq!(parts("pa$$word"), vec![lit("pa$word")]);
        assert_eq!(parts("$$$"), vec![lit("$$")]);
    }

    #[test]
    fn malformed_references_are_errors_with_offsets() {
        assert_eq!(EnvValue::parse("ab${kv:x").map_err(|e| e.0), Err(2));
        assert_eq!(EnvValue::parse("x${env:HOME}").map_err(|e| e.0), Err(1));
        assert_eq!(EnvValue::parse("${kv:}").map_err(|e| e.0), Err(0));
        assert_eq!(EnvValue::parse("${secret}").map_err(|e| e.0), Err(0));
        assert_eq!(EnvValue::parse("${kv:a b}").map_err(|e| e.0), Err(0));
        assert!(EnvValue::parse("${}").is_err());
    }

    #[test]
    fn resolve_and_literal_round_trip() {
        let v = EnvValue::parse("${kv:a}-${secret:b}").map_err(|e| e.1);
        let out = v.and_then(|v| {
            v.resolve(|p| match p {
                EnvPart::Kv(k) => Ok(format!("kv({k})")),
                EnvPart::Secret(s) => Ok(format!("secret({s})")),
                EnvPart::Literal(_) => Err("literal passed to lookup".to_owned()),
            })
        });
        assert_eq!(out.as_deref(), Ok("kv(a)-secret(b)"));
        let l = EnvValue::literal("5$");
        assert_eq!(EnvValue::parse(&l.raw), Ok(l));
    }

    #[test]
    fn env_names() {
        assert!(is_env_name("DB_PW"));
        assert!(is_env_name("_x1"));
        assert!(!is_env_name("1X"));
        assert!(!is_env_name("A-B"));
        assert!(!is_env_name(""));
    }
}
