//! `[flags.NAME]`: feature flags evaluated per request by the gateway.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::values::{boolean, f64_in, nonempty_string, string_array, Low};
use crate::walk::{Ctx, Field, Obj};

/// `[flags.NAME]`. The gateway sends `X-Flag-<NAME>: 1|0` downstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagSpec {
    /// Whether the flag is on (for `rollout` percent of users). Default false.
    pub enabled: bool,
    /// Percent of users (sticky by `X-User-Id`) who get the flag when enabled, 0..=100.
    /// Default 100.
    pub rollout: f64,
    /// Requests matching this header get the flag on regardless. Default none.
    pub force_on: Option<ForceOn>,
}

impl Default for FlagSpec {
    fn default() -> Self {
        FlagSpec {
            enabled: false,
            rollout: 100.0,
            force_on: None,
        }
    }
}

/// `force_on = { header = "X-Beta", values = ["1"] }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForceOn {
    /// An HTTP header name.
    pub header: String,
    /// Header values that force the flag on (exact match); not empty.
    pub values: Vec<String>,
}

/// `[A-Za-z0-9_-]{1,64}`: usable in the `X-Flag-<NAME>` header.
pub(crate) fn is_flag_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// An HTTP header name (an RFC 9110 token).
pub(crate) fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

pub(crate) fn read_flags(cx: &mut Ctx<'_>, f: &Field<'_>) -> BTreeMap<String, FlagSpec> {
    let mut out = BTreeMap::new();
    let Some(mut obj) = Obj::open_unrecorded(cx, f, "flags".to_owned()) else {
        return out;
    };
    for field in obj.drain() {
        if !is_flag_name(field.name) {
            let msg = format!(
                "invalid flag name `{}`: use 1 to 64 letters, digits, `_` or `-`",
                field.name
            );
            cx.error(field.key_pos, msg);
        }
        if let Some(flag) = read_flag(cx, &field) {
            out.insert(field.name.to_owned(), flag);
        }
    }
    obj.finish(cx);
    out
}

fn read_flag(cx: &mut Ctx<'_>, f: &Field<'_>) -> Option<FlagSpec> {
    let mut obj = Obj::open(cx, f, format!("flags.{}", f.name))?;
    let mut flag = FlagSpec::default();
    obj.set(cx, "enabled", &mut flag.enabled, boolean);
    obj.set(
        cx,
        "rollout",
        &mut flag.rollout,
        f64_in(Low::Incl(0.0), 100.0),
    );
    if let Some(ff) = obj.take("force_on") {
        flag.force_on = read_force_on(cx, &ff, format!("{}.force_on", obj.path));
    }
    obj.finish(cx);
    Some(flag)
}

fn read_force_on(cx: &mut Ctx<'_>, f: &Field<'_>, path: String) -> Option<ForceOn> {
    let mut obj = Obj::open(cx, f, path)?;
    let header = obj.take("header");
    let header = match header {
        Some(hf) => nonempty_string(cx, &hf).filter(|h| {
            let ok = is_header_name(h);
            if !ok {
                cx.error(
                    hf.value_pos(),
                    format!("invalid header name {h:?} in `force_on`"),
                );
            }
            ok
        }),
        None => {
            obj.missing(cx, "header");
            None
        }
    };
    let values = match obj.take("values") {
        Some(vf) => string_array(cx, &vf).filter(|v| {
            if v.is_empty() {
                cx.error(
                    vf.value_pos(),
                    "`values` must not be empty: list the header values that force the flag on",
                );
            }
            !v.is_empty()
        }),
        None => {
            obj.missing(cx, "values");
            None
        }
    };
    obj.finish(cx);
    Some(ForceOn {
        header: header?,
        values: values?.into_iter().map(|(v, _)| v).collect(),
    })
}
