//! What a line says about itself: JSON lines kept as fields, and the trace id a line carries.
//!
//! Pure functions, called once per appended line. A JSON object line becomes
//! fields; its trace id is read from the usual keys (`trace_id`, `traceId`,
//! `trace.id`, `trace`, `traceparent`, `dd.trace_id` is not hex and ignored).
//! A text line's trace id is the first W3C-shaped id in it (32 lowercase hex
//! digits standing alone, as in `trace=…`, `X-Trace-Id: …` or a `traceparent`).

use serde_json::{Map, Value};

/// Fields of a structured line.
pub type Fields = Map<String, Value>;

/// Keys that carry a trace id in JSON lines, in the order they are tried.
const TRACE_KEYS: [&str; 5] = ["trace_id", "traceId", "trace.id", "trace", "traceparent"];

/// The fields of `line` when it is one JSON object (leading/trailing blanks allowed).
pub fn json_fields(line: &str) -> Option<Fields> {
    let t = line.trim();
    if !(t.starts_with('{') && t.ends_with('}')) {
        return None;
    }
    match serde_json::from_str::<Value>(t) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// The trace id a line carries: from its fields when it has some, else from its text.
pub fn trace_id(line: &str, fields: Option<&Fields>) -> Option<String> {
    match fields {
        Some(f) => trace_from_fields(f),
        None => first_trace_id(line),
    }
}

fn trace_from_fields(f: &Fields) -> Option<String> {
    for key in TRACE_KEYS {
        let found = match f.get(key) {
            Some(Value::String(s)) => first_trace_id(s),
            // `{"trace": {"id": "…"}}`
            Some(Value::Object(o)) => o.get("id").and_then(Value::as_str).and_then(first_trace_id),
            _ => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// The first run of exactly 32 hex digits (not all zero) bounded by non-alphanumerics.
pub fn first_trace_id(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
            i += 1;
        }
        let word = &text[start..i];
        if is_trace_id(word) {
            return Some(word.to_ascii_lowercase());
        }
    }
    None
}

/// A W3C trace id: 32 hex digits, not all zero.
pub fn is_trace_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) && s.bytes().any(|b| b != b'0')
}

/// A field's value as the text a filter compares with (`"a"` → `a`, `5` → `5`).
pub fn field_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    #[test]
    fn json_object_lines_become_fields() {
        let f = json_fields(r#" {"level":"info","msg":"hi","n":3} "#);
        let f = f.unwrap_or_default();
        assert_eq!(f.get("msg").and_then(Value::as_str), Some("hi"));
        assert_eq!(f.get("n").and_then(Value::as_u64), Some(3));
    }

    #[test]
    fn other_lines_have_no_fields() {
        for l in ["plain", "{not json}", "[1,2]", "{\"a\":1} trailing", ""] {
            assert!(json_fields(l).is_none(), "{l}");
        }
    }

    #[test]
    fn trace_id_from_each_json_key_shape() {
        let cases = [
            format!(r#"{{"trace_id":"{ID}"}}"#),
            format!(r#"{{"traceId":"{}"}}"#, ID.to_uppercase()),
            format!(r#"{{"trace.id":"{ID}"}}"#),
            format!(r#"{{"trace":{{"id":"{ID}"}}}}"#),
            format!(r#"{{"traceparent":"00-{ID}-00f067aa0ba902b7-01"}}"#),
        ];
        for c in cases {
            let f = json_fields(&c);
            assert_eq!(trace_id(&c, f.as_ref()).as_deref(), Some(ID), "{c}");
        }
    }

    #[test]
    fn trace_id_from_text() {
        for l in [
            format!("GET /x trace={ID} span=00f067aa0ba902b7"),
            format!("traceparent: 00-{ID}-00f067aa0ba902b7-01"),
            format!("[{ID}] done"),
        ] {
            assert_eq!(first_trace_id(&l).as_deref(), Some(ID), "{l}");
        }
    }

    #[test]
    fn near_misses_are_not_trace_ids() {
        for l in [
            "short 4bf92f3577b34da6",
            "zero 00000000000000000000000000000000",
            "long 4bf92f3577b34da6a3ce929d0e0e47361",
            "glued x4bf92f3577b34da6a3ce929d0e0e4736",
            "nothex 4bf92f3577b34da6a3ce929d0e0e473g",
        ] {
            assert_eq!(first_trace_id(l), None, "{l}");
        }
    }

    #[test]
    fn field_text_unquotes_strings_only() {
        assert_eq!(field_text(&Value::from("a")), "a");
        assert_eq!(field_text(&Value::from(5)), "5");
        assert_eq!(field_text(&Value::Bool(true)), "true");
    }
}
