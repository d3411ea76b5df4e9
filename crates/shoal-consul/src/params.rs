//! Query-string parameters as Consul reads them: presence flags (`?recurse`), repeated keys
//! (`?tag=a&tag=b`), numbers, and the blocking-query pair `index` + `wait`.

use std::time::Duration;

use crate::duration::parse_go_duration;
use crate::error::{ConsulError, Result};

/// Consul's default blocking wait.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(5 * 60);
/// Consul's longest blocking wait.
pub const MAX_WAIT: Duration = Duration::from_secs(10 * 60);

/// The decoded query string, in order, repeated keys kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

/// A blocking query's parameters: wait for a change after `index`, at most `wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocking {
    /// `None`: answer at once.
    pub index: Option<i64>,
    pub wait: Duration,
}

impl Params {
    /// Parses a raw query string (`None` = no query).
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Params { pairs }
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every key given, in order (repeated keys repeated).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(k, _)| k.as_str())
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether a presence flag is set: `?recurse`, `?recurse=1`, `?recurse=true` are set;
    /// `?recurse=false` and `?recurse=0` are not (Consul reads presence; clients send both).
    pub fn flag(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|v| !matches!(v.to_ascii_lowercase().as_str(), "false" | "0"))
    }

    /// An unsigned integer parameter; a malformed one is a 400 naming it.
    pub fn u64(&self, key: &str) -> Result<Option<u64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.trim().parse::<u64>().map(Some).map_err(|_| {
                ConsulError::bad(format!(
                    "Invalid {key} value {v:?}: expected an unsigned integer"
                ))
            }),
        }
    }

    /// `index` and `wait`. Consul rules: no index (or `index=0`) answers at once; `wait`
    /// defaults to 5m and is capped at 10m.
    pub fn blocking(&self) -> Result<Blocking> {
        let index = self.u64("index")?;
        let wait = match self.get("wait") {
            None | Some("") => DEFAULT_WAIT,
            Some(w) => parse_go_duration(w)
                .map_err(|e| ConsulError::bad(format!("Invalid wait time: {e}")))?,
        };
        Ok(Blocking {
            index: index
                .filter(|i| *i > 0)
                .map(|i| i.min(i64::MAX as u64) as i64),
            wait: if wait.is_zero() {
                DEFAULT_WAIT
            } else {
                wait.min(MAX_WAIT)
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_repeats() {
        let p = Params::parse(Some("recurse&raw=1&keys=True&x=false&tag=a&tag=b%2Fc"));
        assert!(p.flag("recurse") && p.flag("raw") && p.flag("keys"));
        assert!(!p.flag("x") && !p.flag("missing"));
        assert_eq!(p.all("tag"), vec!["a", "b/c"]);
    }

    #[test]
    fn blocking_defaults_and_caps() {
        let b = Params::parse(Some("index=12&wait=20m")).blocking().ok();
        assert_eq!(
            b,
            Some(Blocking {
                index: Some(12),
                wait: MAX_WAIT
            })
        );
        let b = Params::parse(Some("index=0")).blocking().ok();
        assert_eq!(b.map(|b| (b.index, b.wait)), Some((None, DEFAULT_WAIT)));
        assert!(Params::parse(Some("index=x")).blocking().is_err());
        assert!(Params::parse(Some("index=1&wait=10")).blocking().is_err());
        let b = Params::parse(None).blocking().ok();
        assert_eq!(b.map(|b| b.index), Some(None));
    }
}
