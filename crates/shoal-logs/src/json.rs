//! JSON objects written by hand where their shape is fixed (the disk line, a
//! lazy line's fields): keys are written as they are, string values escaped
//! only when they need it. One access line per request goes through here.

/// An object being written into `out`; [`JsonObject::end`] closes it.
pub struct JsonObject<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> JsonObject<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        JsonObject { out, first: true }
    }

    /// `key` must be plain JSON string text (no quote, backslash or control byte).
    fn key(&mut self, key: &str) -> &mut Vec<u8> {
        debug_assert!(!needs_escape(key), "{key}");
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        string(self.key(key), value);
        self
    }

    /// `null` when `None`.
    pub fn opt_str(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.str(key, v),
            None => self.raw(key, "null"),
        }
    }

    pub fn u64(&mut self, key: &str, value: u64) -> &mut Self {
        let mut b = itoa::Buffer::new();
        self.key(key).extend_from_slice(b.format(value).as_bytes());
        self
    }

    /// As serde_json writes it (`12.0`, `0.48`); `null` if not finite.
    pub fn f64(&mut self, key: &str, value: f64) -> &mut Self {
        let out = self.key(key);
        if serde_json::to_writer(&mut *out, &value).is_err() {
            out.extend_from_slice(b"null");
        }
        self
    }

    /// `d` in milliseconds, exactly: to the nanosecond, trailing zeros left
    /// out but one (`12.0`, `0.166927`), where the float of `as_secs_f64`
    /// gave `0.16692700000000002`.
    pub fn millis(&mut self, key: &str, d: std::time::Duration) -> &mut Self {
        let ns = d.as_nanos();
        let mut b = itoa::Buffer::new();
        let out = self.key(key);
        out.extend_from_slice(b.format(ns / 1_000_000).as_bytes());
        out.push(b'.');
        let frac = ns % 1_000_000;
        if frac == 0 {
            out.push(b'0');
            return self;
        }
        // Six digits with leading zeros, then the trailing zeros dropped.
        let digits = b.format(frac + 1_000_000).as_bytes();
        let six = digits.get(1..).unwrap_or_default();
        let end = six.iter().rposition(|&c| c != b'0').map_or(0, |i| i + 1);
        out.extend_from_slice(six.get(..end).unwrap_or_default());
        self
    }

    /// `json` must be one JSON value.
    pub fn raw(&mut self, key: &str, json: &str) -> &mut Self {
        self.key(key).extend_from_slice(json.as_bytes());
        self
    }

    pub fn end(&mut self) {
        self.out.push(b'}');
    }
}

/// `s` as a JSON string.
pub fn string(out: &mut Vec<u8>, s: &str) {
    if needs_escape(s) {
        // Rare (a quote, backslash or control byte): serde_json's escaping.
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

/// Whether `s` has a byte JSON escapes. Every byte is looked at (no early
/// exit), which the compiler turns into a few wide comparisons.
fn needs_escape(s: &str) -> bool {
    s.bytes().fold(false, |acc, b| {
        acc | (b < 0x20) | (b == b'"') | (b == b'\\')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_read_back_as_serde_json_writes_them() {
        let texts = [
            "",
            "plain /a?b=1",
            "q\"uote",
            "back\\slash",
            "nl\n\ttab\u{1}",
            "é ✓",
        ];
        for t in texts {
            let mut out = Vec::new();
            JsonObject::new(&mut out)
                .str("s", t)
                .opt_str("none", None)
                .opt_str("some", Some(t))
                .u64("n", u64::MAX)
                .f64("f", 12.0)
                .f64("g", 0.48)
                .f64("nan", f64::NAN)
                .raw("o", r#"{"k":[1]}"#)
                .end();
            let want = serde_json::json!({
                "s": t, "none": null, "some": t, "n": u64::MAX, "f": 12.0, "g": 0.48,
                "nan": null, "o": {"k": [1]},
            });
            let got: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
            assert_eq!(got, want, "{}", String::from_utf8_lossy(&out));
            let mut by_serde = Vec::new();
            serde_json::to_writer(&mut by_serde, t).expect("serde");
            let mut ours = Vec::new();
            string(&mut ours, t);
            assert_eq!(ours, by_serde, "{t:?}");
        }
        let mut out = Vec::new();
        JsonObject::new(&mut out).end();
        assert_eq!(out, b"{}");
    }

    #[test]
    fn milliseconds_are_written_exactly() {
        use std::time::Duration;
        for (d, want) in [
            (Duration::ZERO, "0.0"),
            (Duration::from_millis(12), "12.0"),
            (Duration::from_nanos(166_927), "0.166927"),
            (Duration::from_nanos(1), "0.000001"),
            (Duration::from_nanos(1_500_000), "1.5"),
            (Duration::from_nanos(600_000_123_456), "600000.123456"),
        ] {
            let mut out = Vec::new();
            JsonObject::new(&mut out).millis("d", d).end();
            assert_eq!(out, format!("{{\"d\":{want}}}").as_bytes(), "{d:?}");
            let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
            let back = (v["d"].as_f64().expect("number") * 1e6).round() as u128;
            assert_eq!(back, d.as_nanos(), "{want} reads back");
        }
    }
}
