//! Pure grouping keys: what counts as "the same error" for answers, crashes and log lines.
//!
//! Values that differ between occurrences of one error (numbers, ids,
//! addresses, the tail of a path) are folded so that repeats land in one group,
//! the way Sentry groups by fingerprint.

use serde_json::{Map, Value};

/// Longest cause kept; longer ones are cut (on a char boundary).
pub const MAX_CAUSE: usize = 160;

/// A 5xx answer: Shoal's own (`reason` set, e.g. `upstream-timeout`) or the instance's.
pub fn http_cause(status: u16, reason: Option<&str>, method: &str, path: &str) -> String {
    match reason {
        Some(r) => format!("shoal {status} {r}"),
        None => format!("HTTP {status} {method} {}", route_of(path)),
    }
}

/// The route a path most likely belongs to: its first segment, the rest folded.
///
/// `/profile/ada?x=1` → `/profile/*`; `/v2/users/7` → `/v2/users/*` (a version
/// segment is kept); `/` → `/`.
pub fn route_of(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let mut segs = path.split('/').filter(|s| !s.is_empty());
    let mut out = String::new();
    let mut kept = 0;
    for seg in segs.by_ref() {
        out.push('/');
        out.push_str(&fold(seg));
        kept += 1;
        let version =
            seg.len() > 1 && seg.starts_with('v') && seg[1..].bytes().all(|b| b.is_ascii_digit());
        if !version {
            break;
        }
    }
    if segs.next().is_some() {
        out.push_str("/*");
    }
    if kept == 0 {
        out.push('/');
    }
    out
}

/// A crash: how the process ended and the last thing it said on stderr.
pub fn crash_cause(exit: &str, stderr_tail: &[String]) -> String {
    let last = stderr_tail
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| !l.is_empty());
    let cause = match last {
        Some(l) => format!("{exit}: {}", fold_text(l)),
        None => exit.to_string(),
    };
    cut(cause)
}

/// Keys of a structured line that name an error's type or message.
const TYPE_KEYS: [&str; 4] = ["error.type", "exc_type", "exception", "error"];
const MESSAGE_KEYS: [&str; 3] = ["msg", "message", "event"];
/// Levels that make a structured line an error.
const ERROR_LEVELS: [&str; 5] = ["error", "fatal", "critical", "panic", "emergency"];

/// Whether a structured line is an error (its `level`/`severity` says so).
pub fn is_error_line(fields: &Map<String, Value>) -> bool {
    ["level", "severity", "lvl"].iter().any(|k| {
        fields
            .get(*k)
            .and_then(Value::as_str)
            .is_some_and(|l| ERROR_LEVELS.contains(&l.to_ascii_lowercase().as_str()))
    })
}

/// A structured error line: its error type (when given) and its message, folded.
pub fn log_cause(fields: &Map<String, Value>) -> String {
    let text = |keys: &[&str]| {
        keys.iter().find_map(|k| match fields.get(*k) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Object(o)) => o.get("type").and_then(Value::as_str).map(str::to_string),
            _ => None,
        })
    };
    let cause = match (text(&TYPE_KEYS), text(&MESSAGE_KEYS)) {
        (Some(t), Some(m)) if t != m => format!("{}: {}", fold_text(&t), fold_text(&m)),
        (Some(t), _) => fold_text(&t),
        (None, Some(m)) => fold_text(&m),
        (None, None) => "error line without a message".to_string(),
    };
    cut(cause)
}

/// Text with its varying parts folded: digit runs → `N`, long hex/alnum ids → `X`.
pub fn fold_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() || c == '_' || c == '-' {
            word.push(c);
        } else {
            out.push_str(&fold(&word));
            word.clear();
            out.push(c);
        }
    }
    out.push_str(&fold(&word));
    out
}

/// One word folded: ids and numbers become placeholders, words stay.
fn fold(word: &str) -> String {
    if word.is_empty() {
        return String::new();
    }
    let digits = word.bytes().filter(u8::is_ascii_digit).count();
    if digits == word.len() {
        return "N".into();
    }
    let hexish = word.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    if (hexish && word.len() >= 8 && digits > 0) || (digits > 0 && word.len() >= 12) {
        return "X".into();
    }
    // `a1b2`, `v23`, `web-3`: keep the letters, fold the numbers.
    let mut out = String::new();
    let mut in_digits = false;
    for c in word.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('N');
            }
            in_digits = true;
        } else {
            out.push(c);
            in_digits = false;
        }
    }
    out
}

fn cut(mut s: String) -> String {
    if s.len() > MAX_CAUSE {
        let mut end = MAX_CAUSE;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn routes_fold_everything_after_the_first_segment() {
        assert_eq!(route_of("/profile/ada?x=1"), "/profile/*");
        assert_eq!(route_of("/profile/bob"), "/profile/*");
        assert_eq!(route_of("/v2/users/7"), "/vN/users/*");
        assert_eq!(route_of("/health"), "/health");
        assert_eq!(route_of("/"), "/");
        assert_eq!(route_of(""), "/");
        assert_eq!(route_of("/orders/123"), "/orders/*");
    }

    #[test]
    fn shoal_answers_group_by_reason_and_instance_answers_by_route() {
        assert_eq!(
            http_cause(504, Some("upstream-timeout"), "GET", "/a/1"),
            "shoal 504 upstream-timeout"
        );
        assert_eq!(
            http_cause(500, None, "POST", "/orders/9"),
            "HTTP 500 POST /orders/*"
        );
    }

    #[test]
    fn crashes_group_by_exit_and_last_stderr_line_with_numbers_folded() {
        let a = crash_cause(
            "exit code 1",
            &["Traceback".into(), "KeyError: 'user 42'".into(), "".into()],
        );
        let b = crash_cause("exit code 1", &["KeyError: 'user 7'".into()]);
        assert_eq!(a, "exit code 1: KeyError: 'user N'");
        assert_eq!(a, b);
        assert_eq!(crash_cause("killed by signal 9", &[]), "killed by signal 9");
    }

    #[test]
    fn ids_and_addresses_fold() {
        assert_eq!(
            fold_text("refused 127.0.0.1:5432 id=4bf92f3577b34da6 req a1b2c3d4e5f6a7b8c9"),
            "refused N.N.N.N:N id=X req X"
        );
        assert_eq!(fold_text("worker web-3 failed"), "worker web-N failed");
    }

    #[test]
    fn error_lines_are_found_by_level_and_grouped_by_type_and_message() {
        let f =
            obj(json!({"level": "ERROR", "msg": "db timeout after 30s", "error": "TimeoutError"}));
        assert!(is_error_line(&f));
        assert_eq!(log_cause(&f), "TimeoutError: db timeout after Ns");
        assert!(!is_error_line(&obj(json!({"level": "info", "msg": "x"}))));
        assert!(!is_error_line(&obj(json!({"msg": "x"}))));
        assert_eq!(
            log_cause(&obj(json!({"severity": "fatal"}))),
            "error line without a message"
        );
    }

    #[test]
    fn long_causes_are_cut() {
        let long = "x".repeat(500);
        assert!(crash_cause(&long, &[]).chars().count() <= MAX_CAUSE + 1);
    }
}
