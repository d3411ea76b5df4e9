//! Request bodies: JSON whose field names Consul matches case-insensitively and with or
//! without underscores (`ServiceID`, `serviceid`, `service_id`). Keys are normalised to
//! lowercase without `_`/`-` before mapping, except inside user maps (`Meta`, `Header`, ...),
//! whose keys belong to the user.

use serde_json::{Map, Value};

use crate::error::{ConsulError, Result};

/// Fields whose value is a user map: its keys are kept as sent (normalised field name).
const USER_MAPS: &[&str] = &[
    "meta",
    "header",
    "taggedaddresses",
    "nodemeta",
    "servicemeta",
];

/// A field name in canonical form: lowercase, `_` and `-` removed.
pub fn canonical(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Normalises every object key recursively, leaving the keys of user maps untouched.
pub fn normalize(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (k, v) in map {
                let key = canonical(&k);
                let v = if USER_MAPS.contains(&key.as_str()) {
                    v
                } else {
                    normalize(v)
                };
                out.insert(key, v);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        other => other,
    }
}

/// Parses a request body as JSON and normalises it; an empty body is `null`.
pub fn parse_body(bytes: &[u8]) -> Result<Value> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice::<Value>(bytes)
        .map(normalize)
        .map_err(|e| ConsulError::bad(format!("Request decode failed: {e}")))
}

/// Accessors over a normalised JSON object with Consul-style error messages.
pub struct Fields<'a> {
    map: Option<&'a Map<String, Value>>,
    what: &'a str,
}

static NULL: Value = Value::Null;

impl<'a> Fields<'a> {
    /// Wraps a normalised object; `null` reads as an empty object, anything else is a 400.
    pub fn new(value: &'a Value, what: &'a str) -> Result<Self> {
        match value {
            Value::Object(map) => Ok(Fields {
                map: Some(map),
                what,
            }),
            Value::Null => Ok(Fields { map: None, what }),
            other => Err(ConsulError::bad(format!(
                "Request decode failed: {what} must be a JSON object, got {}",
                kind(other)
            ))),
        }
    }

    /// The raw value of a field (`null` when absent).
    pub fn raw(&self, name: &str) -> &'a Value {
        self.map.and_then(|m| m.get(name)).unwrap_or(&NULL)
    }

    /// An optional object field, kept as it came (an empty object when absent).
    pub fn object(&self, name: &str) -> Result<Value> {
        match self.raw(name) {
            Value::Null => Ok(Value::Object(Map::new())),
            v @ Value::Object(_) => Ok(v.clone()),
            other => Err(self.wrong(name, "an object", other)),
        }
    }

    /// An optional string field.
    pub fn string(&self, name: &str) -> Result<Option<String>> {
        match self.raw(name) {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            other => Err(self.wrong(name, "a string", other)),
        }
    }

    /// An optional non-negative integer field (a numeric string is accepted too).
    pub fn u64(&self, name: &str) -> Result<Option<u64>> {
        match self.raw(name) {
            Value::Null => Ok(None),
            Value::Number(n) => n
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.wrong(name, "a non-negative integer", self.raw(name))),
            Value::String(s) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| self.wrong(name, "a non-negative integer", self.raw(name))),
            other => Err(self.wrong(name, "a non-negative integer", other)),
        }
    }

    /// An optional boolean field.
    pub fn bool(&self, name: &str) -> Result<Option<bool>> {
        match self.raw(name) {
            Value::Null => Ok(None),
            Value::Bool(b) => Ok(Some(*b)),
            other => Err(self.wrong(name, "a boolean", other)),
        }
    }

    /// An optional list of strings (`null` = empty).
    pub fn strings(&self, name: &str) -> Result<Vec<String>> {
        match self.raw(name) {
            Value::Null => Ok(Vec::new()),
            Value::Array(items) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(self.wrong(name, "a list of strings", other)),
                })
                .collect(),
            other => Err(self.wrong(name, "a list of strings", other)),
        }
    }

    /// An optional map of strings to strings (`null` = empty), keys kept as sent.
    pub fn string_map(&self, name: &str) -> Result<std::collections::BTreeMap<String, String>> {
        match self.raw(name) {
            Value::Null => Ok(Default::default()),
            Value::Object(m) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    other => Err(self.wrong(name, "a map of strings", other)),
                })
                .collect(),
            other => Err(self.wrong(name, "a map of strings", other)),
        }
    }

    /// An optional duration field (Go string or nanoseconds).
    pub fn duration(&self, name: &str) -> Result<Option<std::time::Duration>> {
        crate::duration::duration_field(self.raw(name)).map_err(|e| {
            ConsulError::bad(format!("Request decode failed: {}.{name}: {e}", self.what))
        })
    }

    fn wrong(&self, name: &str, expected: &str, got: &Value) -> ConsulError {
        ConsulError::bad(format!(
            "Request decode failed: {}.{name} must be {expected}, got {}",
            self.what,
            kind(got)
        ))
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_canonical_but_user_maps_are_kept() {
        let v = normalize(json!({
            "ServiceID": "a", "service_id": "b", "Meta": {"Team_Name": "x"},
            "Check": {"HTTP": "http://x", "Header": {"X-Key": ["v"]}},
            "Checks": [{"TTL": "10s"}]
        }));
        assert_eq!(v["serviceid"], json!("b"));
        assert_eq!(v["meta"], json!({"Team_Name": "x"}));
        assert_eq!(v["check"]["http"], json!("http://x"));
        assert_eq!(v["check"]["header"], json!({"X-Key": ["v"]}));
        assert_eq!(v["checks"][0]["ttl"], json!("10s"));
    }

    #[test]
    fn bodies_parse_or_fail_with_400() {
        assert_eq!(parse_body(b"").ok(), Some(Value::Null));
        assert_eq!(parse_body(b"  \n").ok(), Some(Value::Null));
        assert!(parse_body(b"{").is_err());
        assert!(Fields::new(&json!([1]), "service").is_err());
        let v = json!({"port": "80", "tags": ["a", 1]});
        let f = Fields::new(&v, "service").ok();
        assert_eq!(f.as_ref().map(|f| f.u64("port").ok()), Some(Some(Some(80))));
        assert!(f.map(|f| f.strings("tags").is_err()).unwrap_or(false));
    }
}
