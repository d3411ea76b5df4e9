//! What an experiment is (the stored record), what a client asks for (the request),
//! and the checks between them: every fault bounded in size and in time.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The longest an experiment may run.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
/// The shortest.
pub const MIN_DURATION: Duration = Duration::from_secs(1);
/// The most latency one experiment adds to an attempt (delay plus jitter).
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// Kills come at most this often.
pub const MIN_KILL_EVERY: Duration = Duration::from_millis(100);
/// The slowest bandwidth cap, in bytes per second.
pub const MIN_RATE: u64 = 100;

/// One fault, as stored (durations in milliseconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Kill (SIGKILL) a random running instance every `every_ms`, as long as more
    /// than `floor` instances serve.
    Kill { every_ms: u64, floor: u32 },
    /// Hold each attempt `delay_ms` plus up to `jitter_ms` before it is sent.
    Latency { delay_ms: u64, jitter_ms: u64 },
    /// Answer `percent` % of attempts with `status`, without reaching an instance.
    Error { percent: f64, status: u16 },
    /// Fail `percent` % of attempts as a connection reset by the instance.
    Reset { percent: f64 },
    /// Deliver answers no faster than `bytes_per_sec`.
    Bandwidth { bytes_per_sec: u64 },
}

impl Fault {
    /// The fault's kind, as the API and events name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Kill { .. } => "kill",
            Fault::Latency { .. } => "latency",
            Fault::Error { .. } => "error",
            Fault::Reset { .. } => "reset",
            Fault::Bandwidth { .. } => "bandwidth",
        }
    }

    /// One line for tables and events: `error 50% → 503`.
    pub fn describe(&self) -> String {
        match self {
            Fault::Kill { every_ms, floor } => {
                format!("kill one instance every {every_ms}ms, keeping {floor}")
            }
            Fault::Latency {
                delay_ms,
                jitter_ms: 0,
            } => format!("latency +{delay_ms}ms"),
            Fault::Latency {
                delay_ms,
                jitter_ms,
            } => format!("latency +{delay_ms}ms ±{jitter_ms}ms"),
            Fault::Error { percent, status } => format!("error {percent}% → {status}"),
            Fault::Reset { percent } => format!("reset {percent}% of connections"),
            Fault::Bandwidth { bytes_per_sec } => format!("bandwidth {bytes_per_sec} B/s"),
        }
    }
}

/// One running experiment: `shoal/chaos/<id>` in the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    pub id: String,
    pub service: String,
    /// Only calls from this service (its outbound listener), or from outside
    /// (`"gateway"`); `None` = every caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
    pub fault: Fault,
    pub started_ms: u64,
    /// The experiment ends at this wall-clock time (Unix ms), whoever is watching.
    pub until_ms: u64,
}

impl Experiment {
    /// Whether the experiment is in force at `now_ms`.
    pub fn active(&self, now_ms: u64) -> bool {
        now_ms < self.until_ms
    }

    /// Where it applies: `publications`, or `profile → publications`.
    pub fn target(&self) -> String {
        match &self.caller {
            Some(c) => format!("{c} → {}", self.service),
            None => self.service.clone(),
        }
    }
}

/// A request to start an experiment (`POST /api/v1/chaos`), durations as text
/// (`"500ms"`, `"5s"`, `"2m"`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentRequest {
    pub service: String,
    #[serde(default)]
    pub caller: Option<String>,
    pub fault: FaultRequest,
    /// How long it runs (required: chaos never runs unbounded).
    pub duration: String,
}

/// A fault as a client writes it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultRequest {
    Kill {
        every: String,
        /// Instances that always stay up (default 1).
        #[serde(default)]
        floor: Option<u32>,
    },
    Latency {
        delay: String,
        #[serde(default)]
        jitter: Option<String>,
    },
    Error {
        percent: f64,
        /// Default 503.
        #[serde(default)]
        status: Option<u16>,
    },
    Reset {
        percent: f64,
    },
    Bandwidth {
        /// Bytes per second: a number, or text with a unit (`"64KiB"`, `"1MB"`).
        rate: serde_json::Value,
    },
}

/// Why a request is refused (answered 400, the message says what to fix).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid(msg: impl Into<String>) -> Invalid {
    Invalid(msg.into())
}

/// Parses `"500ms"`, `"5s"`, `"2m"`, `"1h"` (humantime's forms).
pub fn parse_duration(field: &str, text: &str) -> Result<Duration, Invalid> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        invalid(format!(
            "`{field}`: {text:?} is not a duration ({e}); write e.g. \"500ms\", \"5s\", \"2m\""
        ))
    })
}

/// Parses a byte rate: a number of bytes, or `"64KiB"`, `"1MB"`, `"512B"`.
pub fn parse_rate(v: &serde_json::Value) -> Result<u64, Invalid> {
    let bad = || {
        invalid(format!(
            "`rate`: {v} is not a byte rate; write e.g. 65536, \"64KiB\" or \"1MB\""
        ))
    };
    if let Some(n) = v.as_u64() {
        return Ok(n);
    }
    let text = v.as_str().ok_or_else(bad)?.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let num: f64 = num.parse().map_err(|_| bad())?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "kib" => 1024.0,
        "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    let bytes = num * scale;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn percent(p: f64) -> Result<f64, Invalid> {
    if p.is_finite() && p > 0.0 && p <= 100.0 {
        Ok(p)
    } else {
        Err(invalid(format!(
            "`percent` must be more than 0 and at most 100, got {p}"
        )))
    }
}

impl FaultRequest {
    /// The stored fault, or why the request is refused.
    pub fn check(&self) -> Result<Fault, Invalid> {
        Ok(match self {
            FaultRequest::Kill { every, floor } => {
                let every = parse_duration("every", every)?;
                if every < MIN_KILL_EVERY {
                    return Err(invalid(format!(
                        "`every` must be at least {MIN_KILL_EVERY:?}, got {every:?}"
                    )));
                }
                Fault::Kill {
                    every_ms: millis(every),
                    floor: floor.unwrap_or(1),
                }
            }
            FaultRequest::Latency { delay, jitter } => {
                let delay = parse_duration("delay", delay)?;
                let jitter = match jitter {
                    Some(j) => parse_duration("jitter", j)?,
                    None => Duration::ZERO,
                };
                if delay + jitter > MAX_DELAY || delay + jitter == Duration::ZERO {
                    return Err(invalid(format!(
                        "`delay` plus `jitter` must be more than 0 and at most {MAX_DELAY:?}"
                    )));
                }
                Fault::Latency {
                    delay_ms: millis(delay),
                    jitter_ms: millis(jitter),
                }
            }
            FaultRequest::Error { percent: p, status } => {
                let status = status.unwrap_or(503);
                if !(400..=599).contains(&status) {
                    return Err(invalid(format!(
                        "`status` must be an error status (400 to 599), got {status}"
                    )));
                }
                Fault::Error {
                    percent: percent(*p)?,
                    status,
                }
            }
            FaultRequest::Reset { percent: p } => Fault::Reset {
                percent: percent(*p)?,
            },
            FaultRequest::Bandwidth { rate } => {
                let bytes_per_sec = parse_rate(rate)?;
                if bytes_per_sec < MIN_RATE {
                    return Err(invalid(format!(
                        "`rate` must be at least {MIN_RATE} bytes per second, got {bytes_per_sec}"
                    )));
                }
                Fault::Bandwidth { bytes_per_sec }
            }
        })
    }
}

/// Whether `name` can be a service (or caller) name: a DNS label.
fn is_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

impl ExperimentRequest {
    /// The experiment this request starts at `now_ms` with `id`, or why it is refused.
    /// Whether the service exists is the caller's check (it knows the fleet).
    pub fn check(&self, id: String, now_ms: u64) -> Result<Experiment, Invalid> {
        if !is_name(&self.service) {
            return Err(invalid(format!(
                "`service`: {:?} is not a service name",
                self.service
            )));
        }
        if let Some(c) = &self.caller {
            if !is_name(c) {
                return Err(invalid(format!("`caller`: {c:?} is not a service name")));
            }
        }
        let fault = self.fault.check()?;
        if self.caller.is_some() && matches!(fault, Fault::Kill { .. }) {
            return Err(invalid(
                "`caller` does not apply to `kill`: instances are killed for every caller",
            ));
        }
        let duration = parse_duration("duration", &self.duration)?;
        if !(MIN_DURATION..=MAX_DURATION).contains(&duration) {
            return Err(invalid(format!(
                "`duration` must be between {MIN_DURATION:?} and {MAX_DURATION:?}, got {duration:?}"
            )));
        }
        Ok(Experiment {
            id,
            service: self.service.clone(),
            caller: self.caller.clone(),
            fault,
            started_ms: now_ms,
            until_ms: now_ms.saturating_add(millis(duration)),
        })
    }
}

/// A new experiment id: `chaos-` and 8 hex digits.
pub fn new_id() -> String {
    format!("chaos-{:08x}", rand::random::<u32>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(body: &str) -> Result<Experiment, Invalid> {
        let r: ExperimentRequest =
            serde_json::from_str(body).map_err(|e| Invalid(e.to_string()))?;
        r.check("chaos-1".into(), 1_000)
    }

    #[test]
    fn requests_become_bounded_experiments() {
        let e = req(r#"{"service":"pubs","fault":{"kind":"error","percent":50},"duration":"1m"}"#)
            .expect("valid");
        assert_eq!(
            e.fault,
            Fault::Error {
                percent: 50.0,
                status: 503
            }
        );
        assert_eq!(e.until_ms, 61_000);
        assert!(e.active(60_999) && !e.active(61_000));
        let k = req(r#"{"service":"pubs","fault":{"kind":"kill","every":"5s"},"duration":"30s"}"#)
            .expect("valid");
        assert_eq!(
            k.fault,
            Fault::Kill {
                every_ms: 5000,
                floor: 1
            }
        );
        let l = req(r#"{"service":"pubs","caller":"profile","fault":{"kind":"latency","delay":"200ms","jitter":"50ms"},"duration":"10s"}"#)
            .expect("valid");
        assert_eq!(l.target(), "profile → pubs");
        let b = req(
            r#"{"service":"pubs","fault":{"kind":"bandwidth","rate":"64KiB"},"duration":"10s"}"#,
        )
        .expect("valid");
        assert_eq!(
            b.fault,
            Fault::Bandwidth {
                bytes_per_sec: 65536
            }
        );
    }

    #[test]
    fn unbounded_or_malformed_requests_are_refused_with_the_field_named() {
        for (body, field) in [
            (
                r#"{"service":"pubs","fault":{"kind":"error","percent":50},"duration":"48h"}"#,
                "duration",
            ),
            (
                r#"{"service":"pubs","fault":{"kind":"error","percent":50},"duration":"0s"}"#,
                "duration",
            ),
            (
                r#"{"service":"pubs","fault":{"kind":"error","percent":0},"duration":"1m"}"#,
                "percent",
            ),
            (
                r#"{"service":"pubs","fault":{"kind":"error","percent":101},"duration":"1m"}"#,
                "percent",
            ),
            (
                r#"{"service":"pubs","fault":{"kind":"error","percent":5,"status":200},"duration":"1m"}"#,
                "status",
            ),
            (
                r#"{"service":"pubs","fault":{"kind":"kill","every":"1ms"},"duration":"1m"}"#,
                "every",
            ),
            (
                r#"{"service":"pubs","fault":{"kind":"latency","delay":"2m"},"duration":"1m"}"#,
                "delay",
            ),
            (
                r#"{"service":"pubs","fault":{"kind":"latency","delay":"soon"},"duration":"1m"}"#,
                "delay",
            ),
            (
                r#"{"service":"pubs","fault":{"kind":"bandwidth","rate":"fast"},"duration":"1m"}"#,
                "rate",
            ),
            (
                r#"{"service":"pubs","fault":{"kind":"bandwidth","rate":10},"duration":"1m"}"#,
                "rate",
            ),
            (
                r#"{"service":"Pubs!","fault":{"kind":"reset","percent":5},"duration":"1m"}"#,
                "service",
            ),
            (
                r#"{"service":"pubs","caller":"x","fault":{"kind":"kill","every":"1s"},"duration":"1m"}"#,
                "caller",
            ),
        ] {
            let err = req(body).expect_err(body);
            assert!(err.0.contains(field), "{body}: {err}");
        }
    }

    #[test]
    fn rates_with_units() {
        use serde_json::json;
        assert_eq!(parse_rate(&json!(1000)), Ok(1000));
        assert_eq!(parse_rate(&json!("1MB")), Ok(1_000_000));
        assert_eq!(parse_rate(&json!("1.5KiB")), Ok(1536));
        assert!(parse_rate(&json!("-5")).is_err());
        assert!(parse_rate(&json!("1e999")).is_err());
    }

    #[test]
    fn stored_records_round_trip() {
        let e =
            req(r#"{"service":"pubs","fault":{"kind":"reset","percent":12.5},"duration":"1m"}"#)
                .expect("valid");
        let text = serde_json::to_string(&e).expect("encode");
        assert_eq!(
            serde_json::from_str::<Experiment>(&text).expect("decode"),
            e
        );
    }
}
