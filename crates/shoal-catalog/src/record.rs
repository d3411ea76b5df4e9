//! The catalog entry of one instance: where it listens, what runs, how healthy it is.

use serde::{Deserialize, Serialize};

/// Lifecycle state of an instance's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceState {
    /// Spawned, process running.
    Running,
    /// Exited; waiting out the restart backoff.
    Backoff,
    /// Being stopped (SIGTERM sent, draining).
    Stopping,
    /// Could not be started (spawn error); retried with backoff.
    Failed,
}

/// Health as every consumer (gateway, DNS, API, the health checker) reads it: the
/// one health type of the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Started, no verdict yet (inside the grace period or threshold not reached).
    Starting,
    Passing,
    /// Served, like Consul's warning state (an HTTP 429 check answer, exec exit 1).
    Warning,
    Critical,
}

impl Health {
    /// Whether traffic may be sent to an instance in this state (passing or warning, as Consul).
    pub fn serves_traffic(self) -> bool {
        matches!(self, Health::Passing | Health::Warning)
    }

    /// The name in records, events and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Starting => "starting",
            Health::Passing => "passing",
            Health::Warning => "warning",
            Health::Critical => "critical",
        }
    }
}

/// One instance in the catalog (`shoal/catalog/<service>/<instance>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRecord {
    pub id: String,
    pub service: String,
    pub version: String,
    pub node: String,
    pub address: String,
    pub port: u16,
    pub pid: Option<u32>,
    pub state: InstanceState,
    pub health: Health,
    /// Output of the last health check (trimmed).
    #[serde(default)]
    pub health_output: String,
    /// Times the process was started again after it exited or was killed for liveness.
    pub restarts: u32,
    /// Consecutive failed runs without a healthy stretch in between.
    #[serde(default)]
    pub consecutive_failures: u32,
    /// True when the instance keeps dying quickly (crash loop, backing off).
    #[serde(default)]
    pub crash_loop: bool,
    /// How the last run ended, e.g. `exit code 1` or `killed by signal 9`.
    #[serde(default)]
    pub last_exit: Option<String>,
    /// Unix ms when the current process started.
    pub started_ms: u64,
    /// Registered from outside (Consul API) rather than supervised by Shoal.
    #[serde(default)]
    pub external: bool,
    /// The group it belongs to: "" for the service's main line (the one deployments
    /// move), else the label of a `[services.S.versions.<label>]` side version.
    #[serde(default)]
    pub group: String,
    /// Hash of everything it was started with (spec and resolved env): the plan
    /// tells old from new by it.
    #[serde(default)]
    pub fingerprint: u64,
    /// The deployment (per-service generation) it was started for; 0 if none.
    #[serde(default)]
    pub deployment: u64,
    /// Unix ms since when it has served without a break (`None` while it does not).
    #[serde(default)]
    pub healthy_since_ms: Option<u64>,
    /// Consul `Weights` of a service registered through the Consul API: the SRV weight DNS
    /// gives it while passing and while warning. `None` (supervised instances, records
    /// written before weights were kept): 1 and 1, Consul's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Weights>,
    /// The Consul tags of a service registered through the Consul API (prepared queries
    /// filter on them). Empty: the instance's tags are `[version]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// Consul's service `Weights`: SRV weights while passing and while warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weights {
    pub passing: u16,
    pub warning: u16,
}

impl Weights {
    /// From Consul's registration values (any integer), clamped to what an SRV weight holds.
    pub fn clamped(passing: u64, warning: u64) -> Self {
        let clamp = |v: u64| u16::try_from(v).unwrap_or(u16::MAX);
        Weights {
            passing: clamp(passing),
            warning: clamp(warning),
        }
    }
}

impl InstanceRecord {
    /// A running, passing instance with no history; set other fields as needed
    /// (`InstanceRecord { health, ..InstanceRecord::new(..) }`).
    pub fn new(
        id: impl Into<String>,
        service: impl Into<String>,
        version: impl Into<String>,
        node: impl Into<String>,
        address: impl Into<String>,
        port: u16,
    ) -> Self {
        Self {
            id: id.into(),
            service: service.into(),
            version: version.into(),
            node: node.into(),
            address: address.into(),
            port,
            pid: None,
            state: InstanceState::Running,
            health: Health::Passing,
            health_output: String::new(),
            restarts: 0,
            consecutive_failures: 0,
            crash_loop: false,
            last_exit: None,
            started_ms: 0,
            external: false,
            group: String::new(),
            fingerprint: 0,
            deployment: 0,
            healthy_since_ms: None,
            weights: None,
            tags: Vec::new(),
        }
    }

    /// Whether the gateway and DNS may send traffic here.
    pub fn is_routable(&self) -> bool {
        self.state == InstanceState::Running && self.health.serves_traffic()
    }

    /// Its tags as Consul shows them: the registered ones, else `[version]`.
    pub fn consul_tags(&self) -> Vec<&str> {
        if self.tags.is_empty() {
            vec![self.version.as_str()]
        } else {
            self.tags.iter().map(String::as_str).collect()
        }
    }

    /// The SRV weight DNS gives it now (Consul's `findWeight`): the passing weight while
    /// passing, the warning weight while warning, 1 and 1 without weights.
    pub fn srv_weight(&self) -> u16 {
        let w = self.weights.unwrap_or(Weights {
            passing: 1,
            warning: 1,
        });
        match self.health {
            Health::Warning => w.warning,
            _ => w.passing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_without_weights_or_tags_decode_and_round_trip() {
        let r = InstanceRecord::new("a", "web", "3", "n1", "127.0.0.1", 80);
        let json = serde_json::to_string(&r).unwrap_or_default();
        assert!(
            !json.contains("weights") && !json.contains("tags"),
            "{json}"
        );
        let back: Option<InstanceRecord> = serde_json::from_str(&json).ok();
        assert_eq!(back.as_ref(), Some(&r));
        assert_eq!(r.consul_tags(), ["3"]);
        assert_eq!(r.srv_weight(), 1);
    }

    #[test]
    fn the_srv_weight_follows_health() {
        let mut r = InstanceRecord::new("a", "web", "3", "n1", "127.0.0.1", 80);
        r.weights = Some(Weights::clamped(10, 100_000));
        r.tags = vec!["primary".into()];
        assert_eq!(r.srv_weight(), 10);
        r.health = Health::Warning;
        assert_eq!(r.srv_weight(), u16::MAX);
        assert_eq!(r.consul_tags(), ["primary"]);
        let json = serde_json::to_string(&r).unwrap_or_default();
        let back: Option<InstanceRecord> = serde_json::from_str(&json).ok();
        assert_eq!(back, Some(r));
    }
}
