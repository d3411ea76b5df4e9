//! `[flags.NAME]`: feature flags evaluated per request by the gateway.
//!
//! ```toml
//! [flags.new_checkout]
//! enabled = true
//! rollout = 12.5                  # percent of users, sticky by `user_header`
//! user_header = "X-User-Id"       # the default
//! force_on = { header = "X-Beta", values = ["1"] }   # or an array of such tables
//! allow = ["alice"]               # user keys that always get the flag (when enabled)
//! deny = ["mallory"]              # user keys that never get it
//! constraints = [                 # all must match, else the flag is off
//!   { header = "X-Country", equals = "DE" },
//!   { header = "X-Plan", in = ["pro", "team"] },
//!   { path_prefix = "/checkout" },
//! ]
//! variants = { blue = 50, green = 50 }   # weights, in file order; absent = on/off flag
//! off_variant = "off"             # what users without the flag get (variant flags only)
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use toml_edit::Value;

use crate::values::{boolean, f64_in, nonempty_string, string_array, u32_in, Low};
use crate::walk::{Ctx, Field, Node, Obj};

/// The header carrying the user key when a flag names none.
pub const DEFAULT_USER_HEADER: &str = "X-User-Id";
/// The value users without a variant flag get, when the flag names none.
pub const DEFAULT_OFF_VARIANT: &str = "off";
/// Most variants one flag may have.
pub const MAX_VARIANTS: usize = 100;
/// Largest weight of one variant (so the weights of a flag add up within `u32`).
pub const MAX_VARIANT_WEIGHT: u32 = 1_000_000;

/// `[flags.NAME]`. The gateway sends `X-Flag-<NAME>: 1|0` (or the variant) downstream.
/// Every field has a default, so older serialised specs still decode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FlagSpec {
    /// Whether the flag is on (for `rollout` percent of users). Default false.
    pub enabled: bool,
    /// Percent of users (sticky by `user_header`) who get the flag when enabled, 0..=100,
    /// fractions allowed. Default 100.
    pub rollout: f64,
    /// The header whose value is the user key (for stickiness, `allow`, `deny`).
    /// Default `X-User-Id`.
    pub user_header: String,
    /// Requests matching any of these get the flag on regardless of `rollout`,
    /// `allow` and `constraints` (not of `enabled` or `deny`). Default none.
    #[serde(deserialize_with = "one_or_many")]
    pub force_on: Vec<ForceOn>,
    /// User keys that always get the flag when it is enabled. Default none.
    pub allow: Vec<String>,
    /// User keys that never get the flag. Default none.
    pub deny: Vec<String>,
    /// Conditions on the request that must all hold for `rollout` to apply;
    /// a request that misses one gets the flag off. Default none.
    pub constraints: Vec<Constraint>,
    /// Weighted variants, in order; empty for an on/off flag. Default none.
    pub variants: Vec<Variant>,
    /// The value of a variant flag for requests that do not get it. Default `off`.
    pub off_variant: String,
}

impl Default for FlagSpec {
    fn default() -> Self {
        FlagSpec {
            enabled: false,
            rollout: 100.0,
            user_header: DEFAULT_USER_HEADER.to_owned(),
            force_on: Vec::new(),
            allow: Vec::new(),
            deny: Vec::new(),
            constraints: Vec::new(),
            variants: Vec::new(),
            off_variant: DEFAULT_OFF_VARIANT.to_owned(),
        }
    }
}

/// `force_on = { header = "X-Beta", values = ["1"] }`: a header value that forces the flag on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForceOn {
    /// An HTTP header name.
    pub header: String,
    /// Header values that force the flag on (exact match); not empty.
    pub values: Vec<String>,
}

/// One of a flag's `constraints`: a condition on the request. In JSON (the stored
/// record, the API) it has the file's form: `{"header": "X-Country", "equals": "DE"}`,
/// `{"header": "X-Country", "in": ["DE", "FR"]}` or `{"path_prefix": "/beta"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ConstraintWire", into = "ConstraintWire")]
pub enum Constraint {
    /// `{ header = "X-Country", equals = "DE" }`: the header has exactly this value.
    HeaderEquals {
        /// An HTTP header name.
        header: String,
        /// The value it must have.
        value: String,
    },
    /// `{ header = "X-Country", in = ["DE", "FR"] }`: the header has one of these values.
    HeaderIn {
        /// An HTTP header name.
        header: String,
        /// The values it may have; not empty.
        values: Vec<String>,
    },
    /// `{ path_prefix = "/beta" }`: the path is `/beta` or below it (`/beta/...`).
    PathPrefix {
        /// Starts with `/`.
        prefix: String,
    },
}

/// One of a flag's `variants`: a value served to `weight` parts of the users who get the flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    /// The value sent downstream ([`is_variant_name`]).
    pub name: String,
    /// Relative weight, 0..=[`MAX_VARIANT_WEIGHT`].
    pub weight: u32,
}

/// A [`Constraint`] as JSON writes it: the file's fields, exactly one form set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConstraintWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    header: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    equals: Option<String>,
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    in_: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path_prefix: Option<String>,
}

impl TryFrom<ConstraintWire> for Constraint {
    type Error = String;

    fn try_from(w: ConstraintWire) -> Result<Self, String> {
        match w {
            ConstraintWire {
                header: Some(header),
                equals: Some(value),
                in_: None,
                path_prefix: None,
            } => Ok(Constraint::HeaderEquals { header, value }),
            ConstraintWire {
                header: Some(header),
                equals: None,
                in_: Some(values),
                path_prefix: None,
            } => Ok(Constraint::HeaderIn { header, values }),
            ConstraintWire {
                header: None,
                equals: None,
                in_: None,
                path_prefix: Some(prefix),
            } => Ok(Constraint::PathPrefix { prefix }),
            _ => Err(
                "a constraint is {\"header\", \"equals\"}, {\"header\", \"in\": [...]} \
                 or {\"path_prefix\"}"
                    .to_owned(),
            ),
        }
    }
}

impl From<Constraint> for ConstraintWire {
    fn from(c: Constraint) -> Self {
        match c {
            Constraint::HeaderEquals { header, value } => ConstraintWire {
                header: Some(header),
                equals: Some(value),
                ..Self::default()
            },
            Constraint::HeaderIn { header, values } => ConstraintWire {
                header: Some(header),
                in_: Some(values),
                ..Self::default()
            },
            Constraint::PathPrefix { prefix } => ConstraintWire {
                path_prefix: Some(prefix),
                ..Self::default()
            },
        }
    }
}

/// `[A-Za-z0-9_-]{1,64}`: usable in the `X-Flag-<NAME>` header.
pub fn is_flag_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// An HTTP header name (an RFC 9110 token).
pub fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

/// `[A-Za-z0-9_.-]{1,64}`: a variant name, sent as a header value and written in CLI lists.
pub fn is_variant_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Accepts `null`, one table or an array of tables (older specs had at most one `force_on`).
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ForceOn>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(ForceOn),
        Many(Vec<ForceOn>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(f)) => vec![f],
        Some(OneOrMany::Many(v)) => v,
    })
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
    obj.set(
        cx,
        "user_header",
        &mut flag.user_header,
        header("user_header"),
    );
    if let Some(ff) = obj.take("force_on") {
        let path = format!("{}.force_on", obj.path);
        for t in tables(cx, &ff, &path, FORCE_ON_FORM) {
            flag.force_on.extend(read_force_on(cx, t));
        }
    }
    obj.set(cx, "allow", &mut flag.allow, user_keys);
    let deny = obj.take("deny");
    if let Some(keys) = deny.as_ref().and_then(|df| user_keys(cx, df)) {
        if let Some(both) = keys.iter().find(|k| flag.allow.contains(k)) {
            let msg = format!("user `{both}` is in both `allow` and `deny`: keep it in one");
            cx.error(deny.as_ref().map_or(obj.pos, Field::value_pos), msg);
        }
        flag.deny = keys;
    }
    if let Some(cf) = obj.take("constraints") {
        let path = format!("{}.constraints", obj.path);
        for t in tables(cx, &cf, &path, CONSTRAINT_FORM) {
            flag.constraints.extend(read_constraint(cx, t));
        }
    }
    if let Some(vf) = obj.take("variants") {
        let path = format!("{}.variants", obj.path);
        flag.variants = read_variants(cx, &vf, path);
    }
    if let Some(of) = obj.take("off_variant") {
        if let Some(v) = variant_name(cx, &of) {
            if flag.variants.is_empty() {
                let msg = "`off_variant` applies only to flags with `variants`: remove it, or add variants";
                cx.error(of.value_pos(), msg);
            }
            flag.off_variant = v;
        }
    }
    obj.finish(cx);
    Some(flag)
}

const FORCE_ON_FORM: &str = "a table { header = \"X-Beta\", values = [\"1\"] } or an array of them";
const CONSTRAINT_FORM: &str =
    "an array of tables like { header = \"X-Country\", equals = \"DE\" } or { path_prefix = \"/beta\" }";

/// A field holding one table or an array of them (inline or `[[...]]`): each table, opened.
/// `what` describes the expected form in type errors.
pub(crate) fn tables<'a>(cx: &mut Ctx<'_>, f: &Field<'a>, path: &str, what: &str) -> Vec<Obj<'a>> {
    match f.node {
        Node::Table(_) | Node::Value(Value::InlineTable(_)) => {
            Obj::open(cx, f, path.to_owned()).into_iter().collect()
        }
        Node::Value(Value::Array(arr)) => {
            cx.section(path, f.key_pos);
            let mut out = Vec::new();
            for (i, v) in arr.iter().enumerate() {
                let pos = v.span().map_or(f.value_pos(), |r| r.start);
                match v {
                    Value::InlineTable(t) => {
                        out.push(Obj::from_inline(format!("{path}[{i}]"), t, pos));
                    }
                    other => {
                        let msg = format!(
                            "`{}` entries must be tables, found {}",
                            f.name,
                            other.type_name()
                        );
                        cx.error(pos, msg);
                    }
                }
            }
            out
        }
        Node::Tables(arr) => {
            cx.section(path, f.key_pos);
            arr.iter()
                .enumerate()
                .map(|(i, t)| {
                    let pos = t.span().map_or(f.key_pos, |r| r.start);
                    Obj::from_table(format!("{path}[{i}]"), t, pos)
                })
                .collect()
        }
        other => {
            let msg = format!("`{}` must be {what}, found {}", f.name, other.kind());
            cx.error(f.value_pos(), msg);
            Vec::new()
        }
    }
}

/// A header name; `what` names the field in the message.
pub(crate) fn header(what: &'static str) -> impl Fn(&mut Ctx<'_>, &Field<'_>) -> Option<String> {
    move |cx, f| {
        let h = nonempty_string(cx, f)?;
        if is_header_name(&h) {
            return Some(h);
        }
        cx.error(
            f.value_pos(),
            format!("invalid header name {h:?} in `{what}`"),
        );
        None
    }
}

/// A list of user keys: strings, none empty.
fn user_keys(cx: &mut Ctx<'_>, f: &Field<'_>) -> Option<Vec<String>> {
    let keys = string_array(cx, f)?;
    let mut ok = true;
    for (k, pos) in &keys {
        if k.is_empty() {
            cx.error(*pos, format!("`{}` entries must not be empty", f.name));
            ok = false;
        }
    }
    ok.then(|| keys.into_iter().map(|(k, _)| k).collect())
}

/// A non-empty list of header values (for `force_on` and `in`).
pub(crate) fn header_values(
    what: &'static str,
) -> impl Fn(&mut Ctx<'_>, &Field<'_>) -> Option<Vec<String>> {
    move |cx, f| {
        let values = string_array(cx, f)?;
        if values.is_empty() {
            let msg = format!("`{}` must not be empty: {what}", f.name);
            cx.error(f.value_pos(), msg);
            return None;
        }
        Some(values.into_iter().map(|(v, _)| v).collect())
    }
}

fn read_force_on(cx: &mut Ctx<'_>, mut obj: Obj<'_>) -> Option<ForceOn> {
    let header = match obj.take("header") {
        Some(hf) => header("force_on")(cx, &hf),
        None => {
            obj.missing(cx, "header");
            None
        }
    };
    let values = match obj.take("values") {
        Some(vf) => header_values("list the header values that force the flag on")(cx, &vf),
        None => {
            obj.missing(cx, "values");
            None
        }
    };
    obj.finish(cx);
    Some(ForceOn {
        header: header?,
        values: values?,
    })
}

/// `{ header, equals }`, `{ header, in }` or `{ path_prefix }`.
fn read_constraint(cx: &mut Ctx<'_>, mut obj: Obj<'_>) -> Option<Constraint> {
    let header_f = obj.take("header");
    let equals = obj.take("equals");
    let one_of = obj.take("in");
    let prefix = obj.take("path_prefix");
    let out = match (&header_f, &equals, &one_of, &prefix) {
        (None, None, None, Some(pf)) => match nonempty_string(cx, pf) {
            Some(prefix) if prefix.starts_with('/') => Some(Constraint::PathPrefix { prefix }),
            Some(prefix) => {
                let msg = format!("`path_prefix` must start with `/`, found {prefix:?}");
                cx.error(pf.value_pos(), msg);
                None
            }
            None => None,
        },
        (Some(_), _, _, Some(pf)) | (_, Some(_), _, Some(pf)) | (_, _, Some(_), Some(pf)) => {
            let msg = "`path_prefix` is a constraint of its own: put it in a separate table";
            cx.error(pf.key_pos, msg);
            None
        }
        (Some(hf), Some(ef), None, None) => {
            let header = header("constraints")(cx, hf);
            let value = crate::values::string(cx, ef);
            Some(Constraint::HeaderEquals {
                header: header?,
                value: value?,
            })
        }
        (Some(hf), None, Some(inf), None) => {
            let header = header("constraints")(cx, hf);
            let values = header_values("list the values the header may have")(cx, inf);
            Some(Constraint::HeaderIn {
                header: header?,
                values: values?,
            })
        }
        (_, Some(_), Some(inf), None) => {
            cx.error(inf.key_pos, "a constraint takes `equals` or `in`, not both");
            None
        }
        (Some(_), None, None, None) => {
            let msg = "a header constraint needs `equals = \"VALUE\"` or `in = [\"A\", \"B\"]`";
            cx.error(obj.pos, msg);
            None
        }
        (None, _, _, None) if equals.is_some() || one_of.is_some() => {
            obj.missing(cx, "header");
            None
        }
        _ => {
            let msg = format!("empty constraint: write {CONSTRAINT_EXAMPLES}");
            cx.error(obj.pos, msg);
            None
        }
    };
    obj.finish(cx);
    out
}

const CONSTRAINT_EXAMPLES: &str = "{ header = \"X-Country\", equals = \"DE\" }, { header = \"X-Country\", in = [\"DE\", \"FR\"] } or { path_prefix = \"/beta\" }";

/// `variants = { blue = 50, green = 50 }`: names with weights, in file order.
fn read_variants(cx: &mut Ctx<'_>, f: &Field<'_>, path: String) -> Vec<Variant> {
    let mut out = Vec::new();
    let Some(mut obj) = Obj::open(cx, f, path) else {
        return out;
    };
    let fields = obj.drain();
    if fields.is_empty() {
        let msg = "`variants` is empty: name at least one, e.g. { blue = 50, green = 50 }, or remove it for an on/off flag";
        cx.error(f.value_pos(), msg);
    }
    if fields.len() > MAX_VARIANTS {
        let msg = format!(
            "too many variants ({}): at most {MAX_VARIANTS}",
            fields.len()
        );
        cx.error(f.value_pos(), msg);
    }
    for field in &fields {
        if !is_variant_name(field.name) {
            cx.error(field.key_pos, bad_variant_name(field.name));
        }
        if let Some(w) = u32_in(0, MAX_VARIANT_WEIGHT)(cx, field) {
            out.push(Variant {
                name: field.name.to_owned(),
                weight: w,
            });
        }
    }
    if !fields.is_empty() && out.len() == fields.len() && out.iter().all(|v| v.weight == 0) {
        cx.error(
            f.value_pos(),
            "variant weights add up to 0: give at least one a weight",
        );
    }
    obj.finish(cx);
    out
}

fn bad_variant_name(name: &str) -> String {
    format!("invalid variant name `{name}`: use 1 to 64 letters, digits, `_`, `.` or `-`")
}

/// A variant name (for `off_variant`).
fn variant_name(cx: &mut Ctx<'_>, f: &Field<'_>) -> Option<String> {
    let name = crate::values::string(cx, f)?;
    if is_variant_name(&name) {
        return Some(name);
    }
    cx.error(f.value_pos(), bad_variant_name(&name));
    None
}

#[cfg(test)]
#[path = "flags_tests.rs"]
mod tests;
