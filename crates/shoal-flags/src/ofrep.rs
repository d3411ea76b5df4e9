//! OFREP, the OpenFeature Remote Evaluation Protocol: its wire types, and flags evaluated
//! for the context a service sends (`POST /ofrep/v1/evaluate/flags[/{key}]`).
//!
//! The context feeds the same rules as a gateway request: `targetingKey` is the user key
//! (else the attribute named like the flag's user header); a header constraint or force
//! rule on `X-Country` reads the attribute `X-Country` (any case), else `x_country`; a
//! path prefix reads the attribute `path`. Strings, numbers and booleans are usable
//! attributes; others are ignored. HTTP concerns (status codes, ETag / If-None-Match)
//! belong to the server; [`ErrorCode::status`] says which status each error takes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::decision::OfrepReason;
use crate::eval::{FlagSet, Request};
use crate::Reason;

/// The evaluation context of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// `targetingKey`: the user key.
    pub targeting_key: Option<String>,
    /// Scalar attributes as text (numbers and booleans in their JSON form).
    pub attributes: Vec<(String, String)>,
}

impl Context {
    /// The attribute a header constraint on `header` reads: the same name in any case,
    /// else the lower-case name with `-` as `_`.
    pub fn header_attribute(&self, header: &str) -> Option<&str> {
        let same = self
            .attributes
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(header));
        let snake = || {
            self.attributes.iter().find(|(k, _)| {
                k.len() == header.len()
                    && k.bytes().zip(header.bytes()).all(|(a, b)| {
                        let b = if b == b'-' {
                            b'_'
                        } else {
                            b.to_ascii_lowercase()
                        };
                        a == b
                    })
            })
        };
        same.or_else(snake).map(|(_, v)| v.as_str())
    }
}

impl Request for Context {
    fn header(&self, name: &str) -> Option<&str> {
        self.header_attribute(name)
    }

    fn path(&self) -> &str {
        self.attributes
            .iter()
            .find(|(k, _)| k == "path")
            .map_or("", |(_, v)| v.as_str())
    }
}

/// A successful evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Success {
    /// The flag's name.
    pub key: String,
    /// `true`/`false` for an on/off flag, the variant name for a variant flag.
    pub value: Value,
    /// Why.
    pub reason: OfrepReason,
    /// `on`/`off`, or the variant name.
    pub variant: String,
    /// Extra facts about the flag (none yet).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
}

/// The error codes of OFREP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The body is not valid JSON, or not an object.
    ParseError,
    /// The flag needs a user key to decide and the context has none.
    TargetingKeyMissing,
    /// The context is not an object, or `targetingKey` is not a string.
    InvalidContext,
    /// No flag has this key.
    FlagNotFound,
    /// Anything else.
    General,
}

impl ErrorCode {
    /// The HTTP status of a single-flag answer with this error.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::ParseError | ErrorCode::TargetingKeyMissing | ErrorCode::InvalidContext => {
                400
            }
            ErrorCode::FlagNotFound => 404,
            ErrorCode::General => 500,
        }
    }
}

/// A failed evaluation (with `key`), or a failed bulk request (without).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// The flag's name, when the error concerns one flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What kind of error.
    pub error_code: ErrorCode,
    /// What was wrong, for people.
    #[serde(default)]
    pub error_details: String,
}

impl ErrorBody {
    /// An error without a flag key.
    pub fn new(code: ErrorCode, details: impl Into<String>) -> Self {
        ErrorBody {
            key: None,
            error_code: code,
            error_details: details.into(),
        }
    }

    /// The same error about flag `key`.
    pub fn for_key(mut self, key: &str) -> Self {
        self.key = Some(key.to_owned());
        self
    }
}

/// One flag of a bulk answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BulkItem {
    /// Evaluated.
    Success(Success),
    /// Not evaluated.
    Error(ErrorBody),
}

/// The answer of `POST /ofrep/v1/evaluate/flags`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulkResponse {
    /// Every flag, by name.
    pub flags: Vec<BulkItem>,
}

/// Reads a request body `{"context": {"targetingKey": "...", ...}}`. An empty body or a
/// missing context is an empty context. Not JSON, or not an object: PARSE_ERROR; a
/// context that is not an object or a `targetingKey` that is not a string: INVALID_CONTEXT.
pub fn parse_context(body: &[u8]) -> Result<Context, ErrorBody> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Context::default());
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ErrorBody::new(
            ErrorCode::ParseError,
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    let Value::Object(mut top) = value else {
        return Err(ErrorBody::new(
            ErrorCode::ParseError,
            format!(
                "the body must be a JSON object like {{\"context\": {{\"targetingKey\": \"user-1\"}}}}, found {}",
                kind(&value)
            ),
        ));
    };
    let fields = match top.remove("context") {
        None | Some(Value::Null) => return Ok(Context::default()),
        Some(Value::Object(fields)) => fields,
        Some(other) => {
            return Err(ErrorBody::new(
                ErrorCode::InvalidContext,
                format!("`context` must be an object, found {}", kind(&other)),
            ))
        }
    };
    let mut ctx = Context::default();
    for (name, value) in fields {
        if name == "targetingKey" {
            match value {
                Value::String(s) => ctx.targeting_key = Some(s),
                Value::Null => {}
                other => {
                    return Err(ErrorBody::new(
                        ErrorCode::InvalidContext,
                        format!("`targetingKey` must be a string, found {}", kind(&other)),
                    ))
                }
            }
            continue;
        }
        let text = match value {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => continue,
        };
        ctx.attributes.push((name, text));
    }
    Ok(ctx)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Evaluates flag `key` for `ctx`: FLAG_NOT_FOUND for an unknown key,
/// TARGETING_KEY_MISSING when a partial rollout has no user key to decide by.
pub fn evaluate_one(set: &FlagSet, key: &str, ctx: &Context) -> Result<Success, ErrorBody> {
    let Some(index) = set.index(key) else {
        return Err(
            ErrorBody::new(ErrorCode::FlagNotFound, format!("no flag named `{key}`")).for_key(key),
        );
    };
    evaluate_index(set, index, ctx)
}

fn evaluate_index(set: &FlagSet, index: usize, ctx: &Context) -> Result<Success, ErrorBody> {
    let user = ctx.targeting_key.as_deref().filter(|k| !k.is_empty());
    let Some(d) = set.evaluate_with_key(index, ctx, user, None) else {
        return Err(ErrorBody::new(ErrorCode::General, "the flag set changed"));
    };
    if d.reason == Reason::NoUserKey {
        let msg = format!(
            "flag `{}` is rolled out to part of the users: send a `targetingKey` in the context",
            d.flag
        );
        return Err(ErrorBody::new(ErrorCode::TargetingKeyMissing, msg).for_key(d.flag));
    }
    Ok(Success {
        key: d.flag.to_owned(),
        value: if d.has_variants {
            Value::String(d.value.to_owned())
        } else {
            Value::Bool(d.on)
        },
        reason: d.ofrep_reason(),
        variant: d.variant().to_owned(),
        metadata: Map::new(),
    })
}

/// Evaluates every flag for `ctx`, by name; a flag that cannot be evaluated is an error
/// item of the answer, not an error of the request.
pub fn evaluate_bulk(set: &FlagSet, ctx: &Context) -> BulkResponse {
    let flags = (0..set.len())
        .map(|i| match evaluate_index(set, i, ctx) {
            Ok(s) => BulkItem::Success(s),
            Err(e) => BulkItem::Error(e),
        })
        .collect();
    BulkResponse { flags }
}

#[cfg(test)]
#[path = "ofrep_tests.rs"]
mod tests;
