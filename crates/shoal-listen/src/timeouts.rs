//! [`Timeouts`]: how long a listener waits for a request head, for each piece of
//! a body (either way), and on an idle keep-alive connection; defaults and the
//! `SHOAL_HEAD_TIMEOUT`, `SHOAL_BODY_TIMEOUT`, `SHOAL_IDLE_TIMEOUT` overrides.

use std::time::Duration;

/// A listener's timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From the first byte of a request head to its end; also the longest wait
    /// for a new connection's first request (when shorter than `idle`).
    pub head: Duration,
    /// The longest wait for the next piece of a request body, or for the client
    /// to take the next piece of an answer.
    pub body: Duration,
    /// The longest wait for the next request on a keep-alive connection.
    pub idle: Duration,
}

/// Environment variables that override the HTTP listeners' defaults
/// (humantime values: `10s`, `2m`, `500ms`).
pub const HEAD_ENV: &str = "SHOAL_HEAD_TIMEOUT";
pub const BODY_ENV: &str = "SHOAL_BODY_TIMEOUT";
pub const IDLE_ENV: &str = "SHOAL_IDLE_TIMEOUT";

impl Timeouts {
    /// The API's and the gateway's defaults: head 10 s, body 30 s, idle 60 s.
    pub const HTTP: Timeouts = Timeouts {
        head: Duration::from_secs(10),
        body: Duration::from_secs(30),
        idle: Duration::from_secs(60),
    };

    /// The wait for a new connection's first request: the head timeout, or the
    /// idle one when shorter.
    pub fn first_request(&self) -> Duration {
        self.head.min(self.idle)
    }

    /// These timeouts with the environment's overrides (a value that does not
    /// parse is a warning and the default).
    pub fn from_env(self) -> Self {
        self.with(|name| std::env::var(name).ok())
    }

    /// These timeouts with the overrides `var` gives by variable name.
    pub fn with(self, var: impl Fn(&str) -> Option<String>) -> Self {
        let pick = |name: &str, default: Duration| match var(name) {
            None => default,
            Some(text) => match humantime::parse_duration(text.trim()) {
                Ok(d) if !d.is_zero() => d,
                _ => {
                    tracing::warn!(
                        variable = name,
                        value = %text,
                        default = %humantime::format_duration(default),
                        "not a duration above zero (e.g. 10s, 2m); using the default"
                    );
                    default
                }
            },
        };
        Timeouts {
            head: pick(HEAD_ENV, self.head),
            body: pick(BODY_ENV, self.body),
            idle: pick(IDLE_ENV, self.idle),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_what_they_name() {
        let t = Timeouts::HTTP.with(|name| (name == HEAD_ENV).then(|| "2m".to_owned()));
        assert_eq!(t.head, Duration::from_secs(120));
        assert_eq!(t.body, Timeouts::HTTP.body);
        assert_eq!(t.idle, Timeouts::HTTP.idle);
    }

    #[test]
    fn a_bad_or_zero_override_keeps_the_default() {
        for bad in ["soon", "0s", ""] {
            let t = Timeouts::HTTP.with(|_| Some(bad.to_owned()));
            assert_eq!(t, Timeouts::HTTP, "{bad:?}");
        }
    }

    #[test]
    fn the_first_request_waits_the_shorter_of_head_and_idle() {
        assert_eq!(Timeouts::HTTP.first_request(), Duration::from_secs(10));
        let short_idle = Timeouts {
            idle: Duration::from_secs(1),
            ..Timeouts::HTTP
        };
        assert_eq!(short_idle.first_request(), Duration::from_secs(1));
    }
}
