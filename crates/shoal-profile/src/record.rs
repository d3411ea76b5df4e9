//! A profile as it is kept (the instance, the capture, its stacks) and as the API and
//! the CLI show it (a summary with the top functions); the request and its bounds.

use serde::{Deserialize, Serialize};

use crate::error::ProfileError;
use crate::folded::Folded;
use crate::sampler::{Language, Sampler};
use crate::table::{functions, FunctionRow};

/// Seconds sampled when the request does not say.
pub const DEFAULT_SECONDS: u64 = 10;
/// The longest capture.
pub const MAX_SECONDS: u64 = 60;
/// Samples per second when the request does not say (off the beat of 100 Hz timers).
pub const DEFAULT_RATE: u32 = 99;
/// The fastest sampling allowed: the cap on what profiling costs an instance.
pub const MAX_RATE: u32 = 999;

/// `POST /api/v1/profiles`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileRequest {
    /// A service (its busiest instance, or every one with `all`) or an instance id.
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<u32>,
    #[serde(default)]
    pub all: bool,
}

/// A checked request's capture settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub seconds: u64,
    pub rate_hz: u32,
}

impl ProfileRequest {
    pub fn settings(&self) -> Result<Settings, ProfileError> {
        let seconds = self.seconds.unwrap_or(DEFAULT_SECONDS);
        let rate_hz = self.rate.unwrap_or(DEFAULT_RATE);
        if !(1..=MAX_SECONDS).contains(&seconds) {
            return Err(ProfileError::BadSeconds {
                got: seconds,
                max: MAX_SECONDS,
            });
        }
        if !(1..=MAX_RATE).contains(&rate_hz) {
            return Err(ProfileError::BadRate {
                got: rate_hz,
                max: MAX_RATE,
            });
        }
        Ok(Settings { seconds, rate_hz })
    }
}

/// What sampling cost, as far as it is measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Overhead {
    pub rate_hz: u32,
    pub max_rate_hz: u32,
    /// CPU time the sampler process used while recording (read from `/proc` every
    /// 100 ms, so up to 100 ms of its last moments may be missing).
    pub sampler_cpu_ms: u64,
    /// `sampler_cpu_ms` over the capture's length: the share of one core it took.
    pub sampler_cores: f64,
    /// Wall time spent turning the recording into stacks after the capture.
    pub processing_ms: u64,
}

/// One kept profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub id: String,
    pub service: String,
    pub version: String,
    pub instance: String,
    pub node: String,
    /// The process sampled (the instance's own, or the busiest of its group).
    pub pid: u32,
    pub language: Language,
    pub sampler: Sampler,
    /// The perf event sampled, or `py-spy`.
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub started_ms: u64,
    pub duration_ms: u64,
    pub seconds: u64,
    pub rate_hz: u32,
    pub samples: u64,
    /// Requests per second to the instance's service version during the capture, from
    /// the metrics store (every instance of that version).
    pub req_per_s: Option<f64>,
    /// Their p99 latency, in milliseconds.
    pub p99_ms: Option<f64>,
    pub overhead: Overhead,
    pub stacks: Folded,
}

/// A profile as listed (`top` empty) or shown (`top`: its heaviest functions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub id: String,
    pub service: String,
    pub version: String,
    pub instance: String,
    pub node: String,
    pub pid: u32,
    pub language: Language,
    pub sampler: Sampler,
    pub event: String,
    pub note: Option<String>,
    pub started_ms: u64,
    pub duration_ms: u64,
    pub seconds: u64,
    pub rate_hz: u32,
    pub samples: u64,
    pub stacks: usize,
    pub functions: usize,
    pub req_per_s: Option<f64>,
    pub p99_ms: Option<f64>,
    pub overhead: Overhead,
    pub flamegraph: String,
    pub pprof: String,
    pub top: Vec<FunctionRow>,
}

impl Profile {
    /// The summary with the `top` heaviest functions by self time.
    pub fn summary(&self, top: usize) -> Summary {
        let all = functions(&self.stacks);
        Summary {
            id: self.id.clone(),
            service: self.service.clone(),
            version: self.version.clone(),
            instance: self.instance.clone(),
            node: self.node.clone(),
            pid: self.pid,
            language: self.language,
            sampler: self.sampler,
            event: self.event.clone(),
            note: self.note.clone(),
            started_ms: self.started_ms,
            duration_ms: self.duration_ms,
            seconds: self.seconds,
            rate_hz: self.rate_hz,
            samples: self.samples,
            stacks: self.stacks.0.len(),
            functions: all.len(),
            req_per_s: self.req_per_s,
            p99_ms: self.p99_ms,
            overhead: self.overhead.clone(),
            flamegraph: format!("/api/v1/profiles/{}/flamegraph.svg", self.id),
            pprof: format!("/api/v1/profiles/{}/pprof", self.id),
            top: all.into_iter().take(top).collect(),
        }
    }

    /// The lines `pprof -comments` shows, and the flame graph's subtitle.
    pub fn comments(&self) -> Vec<String> {
        vec![
            format!(
                "service={} version={} instance={} node={} pid={}",
                self.service, self.version, self.instance, self.node, self.pid
            ),
            format!(
                "sampler={} event={} rate={}Hz seconds={}",
                self.sampler, self.event, self.rate_hz, self.seconds
            ),
        ]
    }
}

/// A new profile id: `prof-` and the start time in hex (ids sort by time), then `seq`.
pub fn new_id(started_ms: u64, seq: u16) -> String {
    format!("prof-{started_ms:011x}-{seq:04x}")
}

/// Whether `id` has the form [`new_id`] gives (so it names no other file).
pub fn is_id(id: &str) -> bool {
    let Some(rest) = id.strip_prefix("prof-") else {
        return false;
    };
    let hex = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    matches!(rest.split_once('-'), Some((t, s)) if hex(t, 11) && hex(s, 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_default_and_are_bounded() {
        let r = ProfileRequest {
            target: "web".into(),
            ..Default::default()
        };
        assert_eq!(
            r.settings().ok(),
            Some(Settings {
                seconds: 10,
                rate_hz: 99
            })
        );
        let over = |seconds, rate| {
            ProfileRequest {
                seconds: Some(seconds),
                rate: Some(rate),
                ..r.clone()
            }
            .settings()
        };
        assert!(matches!(
            over(0, 99),
            Err(ProfileError::BadSeconds { got: 0, .. })
        ));
        assert!(matches!(
            over(61, 99),
            Err(ProfileError::BadSeconds { got: 61, .. })
        ));
        assert!(matches!(
            over(5, 1000),
            Err(ProfileError::BadRate { got: 1000, .. })
        ));
        assert!(matches!(over(5, 0), Err(ProfileError::BadRate { .. })));
        assert_eq!(
            over(60, 999).ok(),
            Some(Settings {
                seconds: 60,
                rate_hz: 999
            })
        );
        let unknown = serde_json::from_str::<ProfileRequest>(r#"{"target":"web","secs":3}"#);
        assert!(unknown.is_err());
    }

    #[test]
    fn ids_sort_by_time_and_nothing_else_passes_for_one() {
        let a = new_id(1_700_000_000_000, 7);
        let b = new_id(1_700_000_000_001, 0);
        assert!(a < b);
        assert!(is_id(&a) && is_id(&b), "{a} {b}");
        for bad in [
            "prof-../../etc-0000",
            "prof-18bcfe56800-00g0",
            "x",
            "prof-",
            &format!("{a}x"),
        ] {
            assert!(!is_id(bad), "{bad}");
        }
    }
}
