//! Checks as stored and judged: status, the stored record of an agent check, and the pure
//! rules (worst status wins, TTL expiry, DeregisterCriticalServiceAfter, check addresses).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A check's status, Consul's words.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passing,
    Warning,
    /// Consul's initial status of every check unless the registration says otherwise.
    #[default]
    Critical,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passing => "passing",
            Status::Warning => "warning",
            Status::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        match s.to_ascii_lowercase().as_str() {
            "passing" => Some(Status::Passing),
            "warning" => Some(Status::Warning),
            "critical" => Some(Status::Critical),
            _ => None,
        }
    }
}

/// Consul's TLS options of a probe (`TLSSkipVerify`, `TLSServerName`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsDef {
    #[serde(default)]
    pub skip_verify: bool,
    #[serde(default)]
    pub server_name: String,
}

/// What a check probes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// `<Method> <url>` (`http://` or `https://`) with the definition's `header` and `body`.
    Http {
        url: String,
        /// Empty: GET.
        #[serde(default)]
        method: String,
        #[serde(default)]
        body: String,
        #[serde(default)]
        tls: TlsDef,
    },
    /// A TCP connect to `host:port`.
    Tcp { addr: String },
    /// `grpc.health.v1.Health/Check` of `host:port[/service]`.
    Grpc {
        target: String,
        use_tls: bool,
        #[serde(default)]
        tls: TlsDef,
    },
    /// An HTTP/2 PING to `host:port` (TLS unless `use_tls` is false).
    H2ping {
        addr: String,
        use_tls: bool,
        #[serde(default)]
        tls: TlsDef,
    },
    /// Mirrors the health of a service (`service_id`) or node (`service_id` empty) on `node`
    /// (empty: this agent's); set by the runner, never probed.
    Alias { service_id: String, node: String },
    /// A command run every interval, exit 0 passing, 1 warning, else critical; only
    /// registered when `[platform] enable_script_checks = true`.
    Script { args: Vec<String> },
    /// Marked by the application through `/v1/agent/check/{pass,warn,fail,update}`.
    Ttl,
    /// Added by `/v1/agent/maintenance` and `/v1/agent/service/maintenance/<id>`: critical
    /// until maintenance ends; never probed.
    Maintenance,
}

impl CheckKind {
    /// Whether the runner probes it (HTTP, TCP, gRPC, H2PING; the others are set).
    pub fn is_probed(&self) -> bool {
        matches!(
            self,
            CheckKind::Http { .. }
                | CheckKind::Tcp { .. }
                | CheckKind::Grpc { .. }
                | CheckKind::H2ping { .. }
                | CheckKind::Script { .. }
        )
    }

    /// Consul's `Type` of the check.
    pub fn type_name(&self) -> &'static str {
        match self {
            CheckKind::Http { .. } => "http",
            CheckKind::Tcp { .. } => "tcp",
            CheckKind::Grpc { .. } => "grpc",
            CheckKind::H2ping { .. } => "h2ping",
            CheckKind::Alias { .. } => "alias",
            CheckKind::Script { .. } => "script",
            CheckKind::Ttl => "ttl",
            CheckKind::Maintenance => "maintenance",
        }
    }
}

/// A check definition as registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckDef {
    pub id: String,
    pub name: String,
    /// Empty for a node-level check.
    pub service_id: String,
    pub notes: String,
    pub kind: CheckKind,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub ttl_ms: u64,
    pub deregister_after_ms: Option<u64>,
    pub success_before_passing: u32,
    pub failures_before_critical: u32,
    pub initial_status: Status,
    /// Extra fields echoed in `Definition` (e.g. `Header`, `Method`).
    #[serde(default)]
    pub header: BTreeMap<String, Vec<String>>,
}

/// A check as stored: definition plus the latest verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRecord {
    pub def: CheckDef,
    pub status: Status,
    pub output: String,
    /// Unix ms when the check last became critical (for DeregisterCriticalServiceAfter).
    pub critical_since_ms: Option<u64>,
    /// TTL checks: unix ms when the check turns critical unless updated again.
    pub ttl_expires_ms: Option<u64>,
}

impl CheckRecord {
    /// A freshly registered check, or a re-registered one keeping its current verdict.
    pub fn new(def: CheckDef, previous: Option<&CheckRecord>, now_ms: u64) -> Self {
        let ttl_expires_ms = matches!(def.kind, CheckKind::Ttl).then_some(now_ms + def.ttl_ms);
        match previous.filter(|p| p.def.kind == def.kind) {
            Some(p) => CheckRecord {
                def,
                status: p.status,
                output: p.output.clone(),
                critical_since_ms: p.critical_since_ms,
                ttl_expires_ms: p.ttl_expires_ms.or(ttl_expires_ms),
            },
            None => CheckRecord {
                status: def.initial_status,
                output: String::new(),
                critical_since_ms: (def.initial_status == Status::Critical).then_some(now_ms),
                ttl_expires_ms,
                def,
            },
        }
    }

    /// Sets a new verdict, keeping `critical_since_ms` while it stays critical.
    pub fn set(&mut self, status: Status, output: String, now_ms: u64) {
        if status == Status::Critical {
            if self.status != Status::Critical || self.critical_since_ms.is_none() {
                self.critical_since_ms = Some(now_ms);
            }
        } else {
            self.critical_since_ms = None;
        }
        self.status = status;
        self.output = output;
    }

    /// Whether a TTL check ran out of time at `now_ms` and is not critical yet.
    pub fn ttl_expired(&self, now_ms: u64) -> bool {
        matches!(self.def.kind, CheckKind::Ttl)
            && self.status != Status::Critical
            && self.ttl_expires_ms.is_some_and(|t| now_ms >= t)
    }

    /// Whether the check has been critical longer than its DeregisterCriticalServiceAfter.
    pub fn deregister_due(&self, now_ms: u64) -> bool {
        match (self.def.deregister_after_ms, self.critical_since_ms) {
            (Some(after), Some(since)) => {
                self.status == Status::Critical && now_ms >= since.saturating_add(after)
            }
            _ => false,
        }
    }
}

/// The worst of several statuses (no checks: passing), as Consul aggregates.
pub fn worst<I: IntoIterator<Item = Status>>(statuses: I) -> Status {
    statuses.into_iter().max().unwrap_or(Status::Passing)
}

/// Splits `host:port` (`[v6]:port` too); `default` when the port is missing.
pub fn parse_host_port(authority: &str, default: u16) -> Result<(String, u16), String> {
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("bad address {authority:?}"))?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(format!("missing host in {authority:?}"));
    }
    let port = match port {
        None => default,
        Some(p) => p
            .parse()
            .map_err(|_| format!("bad port in {authority:?}"))?,
    };
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ttl_def() -> CheckDef {
        CheckDef {
            id: "c".into(),
            name: "c".into(),
            service_id: "s".into(),
            notes: String::new(),
            kind: CheckKind::Ttl,
            interval_ms: 0,
            timeout_ms: 0,
            ttl_ms: 1000,
            deregister_after_ms: Some(5000),
            success_before_passing: 0,
            failures_before_critical: 0,
            initial_status: Status::Critical,
            header: BTreeMap::new(),
        }
    }

    #[test]
    fn ttl_and_deregister_rules() {
        let mut r = CheckRecord::new(ttl_def(), None, 100);
        assert_eq!(
            (r.status, r.critical_since_ms, r.ttl_expires_ms),
            (Status::Critical, Some(100), Some(1100))
        );
        assert!(!r.ttl_expired(2000), "already critical");
        assert!(r.deregister_due(5100) && !r.deregister_due(5099));
        r.set(Status::Passing, "ok".into(), 200);
        r.ttl_expires_ms = Some(1200);
        assert!(!r.ttl_expired(1199) && r.ttl_expired(1200));
        assert!(!r.deregister_due(100_000));
        r.set(Status::Critical, "TTL expired".into(), 1200);
        r.set(Status::Critical, "still".into(), 1500);
        assert_eq!(r.critical_since_ms, Some(1200));
    }

    #[test]
    fn records_stored_before_http_options_still_decode() {
        let old: CheckKind = serde_json::from_str(r#"{"http":{"url":"http://a/h"}}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            old,
            CheckKind::Http {
                url: "http://a/h".into(),
                method: String::new(),
                body: String::new(),
                tls: TlsDef::default(),
            }
        );
    }

    #[test]
    fn worst_status_wins() {
        assert_eq!(worst([]), Status::Passing);
        assert_eq!(worst([Status::Passing, Status::Warning]), Status::Warning);
        assert_eq!(worst([Status::Critical, Status::Warning]), Status::Critical);
    }
}
