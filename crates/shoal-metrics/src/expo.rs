//! The Prometheus text exposition format: name and label sanitising, escaping, and a
//! writer that keeps each family's samples together under one `# HELP`/`# TYPE`.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;

/// Prometheus metric type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Counter,
    Gauge,
    Summary,
    Histogram,
}

impl Type {
    fn as_str(self) -> &'static str {
        match self {
            Type::Counter => "counter",
            Type::Gauge => "gauge",
            Type::Summary => "summary",
            Type::Histogram => "histogram",
        }
    }
}

/// `[^a-zA-Z0-9_:]` → `_` (a metric name never starts with a digit: callers prefix it).
pub fn metric_name(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `[^a-zA-Z0-9_]` → `_`; names Prometheus reserves or refuses get a `tag_` prefix.
pub fn label_name(raw: &str) -> String {
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let reserved = clean.is_empty()
        || clean.starts_with(|c: char| c.is_ascii_digit())
        || clean.starts_with("__")
        || clean == "le"
        || clean == "quantile";
    if reserved {
        format!("tag_{clean}")
    } else {
        clean
    }
}

/// Escapes a label value (`\`, `"` and newlines).
pub fn escape(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Formats a sample value (`+Inf`, `-Inf`, `NaN` as Prometheus spells them).
pub fn value(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

/// One family being collected before it is written.
struct Family {
    help: String,
    typ: Type,
    /// Rendered sample lines, deduplicated by series.
    lines: Vec<String>,
    seen: HashSet<String>,
}

/// Collects families (in any order of arrival) and renders them grouped.
#[derive(Default)]
pub struct Expo {
    families: BTreeMap<String, Family>,
}

impl Expo {
    /// Declares a family; `false` if the name is already taken by another type
    /// (the caller then skips its samples).
    pub fn family(&mut self, name: &str, help: &str, typ: Type) -> bool {
        let f = self
            .families
            .entry(name.to_string())
            .or_insert_with(|| Family {
                help: help.to_string(),
                typ,
                lines: Vec::new(),
                seen: HashSet::new(),
            });
        f.typ == typ
    }

    /// Adds a sample `name{labels} value` to `family` (`name` may carry a suffix
    /// such as `_bucket`); a repeated series is ignored.
    pub fn sample(&mut self, family: &str, name: &str, labels: &[(&str, &str)], v: f64) {
        let Some(f) = self.families.get_mut(family) else {
            return;
        };
        let mut line = String::with_capacity(64);
        line.push_str(name);
        if !labels.is_empty() {
            line.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                if i > 0 {
                    line.push(',');
                }
                line.push_str(k);
                line.push_str("=\"");
                escape(val, &mut line);
                line.push('"');
            }
            line.push('}');
        }
        if !f.seen.insert(line.clone()) {
            return;
        }
        line.push(' ');
        value(v, &mut line);
        f.lines.push(line);
    }

    /// The exposition text; families without samples are left out.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, f) in &self.families {
            if f.lines.is_empty() {
                continue;
            }
            let help = f.help.replace('\\', "\\\\").replace('\n', "\\n");
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {}", f.typ.as_str());
            for l in &f.lines {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitised() {
        assert_eq!(metric_name("api.req-count/ok"), "api_req_count_ok");
        assert_eq!(metric_name("a:b_c9"), "a:b_c9");
        assert_eq!(label_name("env"), "env");
        assert_eq!(label_name("k8s.pod"), "k8s_pod");
        assert_eq!(label_name("9lives"), "tag_9lives");
        assert_eq!(label_name("__name__"), "tag___name__");
        assert_eq!(label_name("le"), "tag_le");
    }

    #[test]
    fn families_are_grouped_typed_and_deduplicated() {
        let mut e = Expo::default();
        assert!(e.family("b", "B things", Type::Gauge));
        assert!(e.family("a_total", "A things", Type::Counter));
        e.sample("b", "b", &[("x", "q\"\\\n")], 1.5);
        e.sample("a_total", "a_total", &[], 2.0);
        e.sample("b", "b", &[("x", "2")], f64::INFINITY);
        e.sample("b", "b", &[("x", "2")], 3.0);
        assert!(!e.family("b", "again", Type::Counter));
        assert!(e.family("empty", "nothing", Type::Gauge));
        let text = e.render();
        assert_eq!(
            text,
            "# HELP a_total A things\n# TYPE a_total counter\na_total 2\n\
             # HELP b B things\n# TYPE b gauge\nb{x=\"q\\\"\\\\\\n\"} 1.5\nb{x=\"2\"} +Inf\n"
        );
    }
}
