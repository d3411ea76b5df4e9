//! `[platform.tokens.<name>]`: API tokens, their rights, and the environment
//! variable that holds each token's value (so the file itself holds no secret).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::values::{nonempty_string, string_array};
use crate::walk::{Ctx, Field, Obj};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Right {
    /// Read services, instances, logs, the catalog and KV.
    Read,
    /// Change things: KV writes, scaling, registration, sessions.
    Write,
    /// Read and write secrets' values.
    Secrets,
    /// Start and stop chaos experiments (`/api/v1/chaos`).
    Chaos,
}

const RIGHTS: &[&str] = &["read", "write", "secrets", "chaos"];

/// One API token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSpec {
    /// Environment variable that holds the token's value when shoal starts.
    pub env: String,
    /// Default `["read"]`.
    pub rights: Vec<Right>,
}

pub(crate) fn read_tokens(cx: &mut Ctx<'_>, f: &Field<'_>) -> BTreeMap<String, TokenSpec> {
    let mut out = BTreeMap::new();
    let Some(mut obj) = Obj::open(cx, f, "platform.tokens".to_owned()) else {
        return out;
    };
    for field in obj.drain() {
        let name = field.name.to_owned();
        let Some(mut t) = Obj::open(cx, &field, format!("platform.tokens.{name}")) else {
            continue;
        };
        let env_field = t.take("env");
        if env_field.is_none() {
            t.missing(cx, "env");
        }
        let env = env_field.and_then(|ef| {
            let e = nonempty_string(cx, &ef)?;
            let valid = e.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !e.starts_with(|c: char| c.is_ascii_digit());
            if valid {
                Some(e)
            } else {
                cx.error(
                    ef.value_pos(),
                    format!("`env` must be an environment variable name, got {e:?}"),
                );
                None
            }
        });
        let mut rights = vec![Right::Read];
        if let Some(rf) = t.take("rights") {
            if let Some(list) = string_array(cx, &rf) {
                rights.clear();
                for (r, pos) in list {
                    match RIGHTS.iter().position(|x| *x == r) {
                        Some(0) => rights.push(Right::Read),
                        Some(1) => rights.push(Right::Write),
                        Some(2) => rights.push(Right::Secrets),
                        Some(_) => rights.push(Right::Chaos),
                        None => cx.error(
                            pos,
                            format!(
                                "unknown right {r:?} (expected one of: read, write, secrets, chaos)"
                            ),
                        ),
                    }
                }
                rights.sort();
                rights.dedup();
            }
        }
        t.finish(cx);
        if let Some(env) = env {
            out.insert(name, TokenSpec { env, rights });
        }
    }
    obj.finish(cx);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn tokens_parse_with_rights_and_report_errors_with_locations() {
        let ok = crate::parse_str_with(
            "[platform.tokens.ci]\nenv = \"CI_TOKEN\"\nrights = [\"write\", \"read\"]\n[platform.tokens.viewer]\nenv = \"VIEW\"\n",
            "t.toml",
            Path::new("/"),
            &crate::AssumeExists,
        )
        .expect("valid");
        let t = &ok.platform.tokens;
        assert_eq!(t["ci"].rights, vec![Right::Read, Right::Write]);
        assert_eq!(t["viewer"].rights, vec![Right::Read]);
        assert_eq!(t["viewer"].env, "VIEW");

        let err = crate::parse_str_with(
            "[platform.tokens.ci]\nrights = [\"root\"]\n[platform.tokens.x]\nenv = \"1BAD\"\n",
            "t.toml",
            Path::new("/"),
            &crate::AssumeExists,
        )
        .expect_err("invalid");
        let text = err.to_string();
        assert!(
            text.contains("t.toml:2:11: unknown right \"root\""),
            "{text}"
        );
        assert!(text.contains("missing field `env`"), "{text}");
        assert!(text.contains("t.toml:4:7:"), "{text}");
    }
}
