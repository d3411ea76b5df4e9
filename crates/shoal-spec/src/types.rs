//! The typed spec: the whole file, the platform, and services (policy types live in their own files).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::deploy::DeploySpec;
use crate::diag::Location;
use crate::env::EnvValue;
use crate::flags::FlagSpec;
use crate::health::HealthSpec;
use crate::resilience::ResilienceSpec;
use crate::restart::RestartSpec;
use crate::scale::ScaleSpec;

/// A whole, valid service file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// `[platform]`: listeners, data directory, DNS domain, instance ports.
    pub platform: Platform,
    /// `[services.<name>]`, by name.
    pub services: BTreeMap<String, ServiceSpec>,
    /// `[flags.<name>]`, by name.
    pub flags: BTreeMap<String, FlagSpec>,
    /// Directory of the service file; relative paths in the file are relative to it.
    pub base_dir: PathBuf,
    /// Every optional table present in the file (and every env value that references
    /// kv or secrets, as `services.S.env.KEY:kv` / `:secret`), in file order.
    pub sections: Vec<Section>,
}

impl Spec {
    /// The spec of a file with nothing in it: default platform, no services, no flags.
    pub fn empty(base_dir: &Path) -> Self {
        Spec {
            platform: Platform::defaults(base_dir),
            services: BTreeMap::new(),
            flags: BTreeMap::new(),
            base_dir: base_dir.to_path_buf(),
            sections: Vec::new(),
        }
    }

    /// The section at `path` (e.g. `services.web.resilience`), if present in the file.
    pub fn section(&self, path: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.path == path)
    }
}

/// An optional part of the file that is present, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    /// Dotted path, e.g. `services.web.resilience`, `flags.new_profile`,
    /// `services.web.versions.22`, `services.web.env.DB_PW:secret`.
    pub path: String,
    /// Where its header (or key, for inline tables) is.
    pub location: Location,
}

/// `[platform]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Platform {
    /// State directory, resolved against the file's directory. Default `.shoal`.
    pub data_dir: PathBuf,
    /// HTTP API, Consul API, UI, `/metrics` (TCP). Default `127.0.0.1:8500`.
    pub http: SocketAddr,
    /// DNS (UDP and TCP). Default `127.0.0.1:8600`.
    pub dns: SocketAddr,
    /// Edge HTTP traffic (TCP). Default `127.0.0.1:8080`.
    pub gateway: SocketAddr,
    /// StatsD (UDP). Default `127.0.0.1:8125`.
    pub statsd: SocketAddr,
    /// DNS domain (`<svc>.service.<domain>`; `consul` is answered too). Default `shoal`.
    pub domain: String,
    /// Ports handed to instances as `PORT`. Default `20000-29999`.
    pub port_range: PortRange,
    /// API tokens by name (`[platform.tokens.<name>]`); none means an open API,
    /// which Shoal allows only on loopback.
    #[serde(default)]
    pub tokens: std::collections::BTreeMap<String, crate::tokens::TokenSpec>,
    /// Cluster mode (`shoal agent`): the etcd members, `etcd://h1:2379,h2:2379`.
    #[serde(default)]
    pub store: Option<String>,
    /// Cluster mode: this node's name (default: the hostname).
    #[serde(default)]
    pub node: Option<String>,
    /// Cluster mode: the address other nodes reach this node's instances at.
    #[serde(default)]
    pub advertise: Option<std::net::IpAddr>,
    /// Cluster mode: this node's labels, for placement constraints.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Whether chaos experiments may be started (`shoal chaos`, `/api/v1/chaos`).
    /// Default false: chaos is opt-in.
    #[serde(default)]
    pub chaos: bool,
    /// `[platform.tls]`: HTTPS at the gateway (and the API with `api = true`).
    #[serde(default)]
    pub tls: Option<crate::tls::TlsSpec>,
    /// Serve the API in plain HTTP on a non-loopback address (with tokens): an
    /// explicit, loudly logged opt-out of the TLS that such an API needs.
    #[serde(default)]
    pub allow_plaintext_api: bool,
    /// Consul's `enable_script_checks`: script checks (`Args`) registered through the
    /// Consul agent API are run. Default false, as in Consul (anyone who can register
    /// could run a command).
    #[serde(default)]
    pub enable_script_checks: bool,
}

impl Platform {
    /// The defaults, with `data_dir` resolved against `base_dir`.
    pub fn defaults(base_dir: &Path) -> Self {
        let local = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        Platform {
            data_dir: base_dir.join(".shoal"),
            http: local(8500),
            dns: local(8600),
            gateway: local(8080),
            statsd: local(8125),
            domain: "shoal".to_owned(),
            port_range: PortRange {
                start: 20000,
                end: 29999,
            },
            tokens: std::collections::BTreeMap::new(),
            store: None,
            node: None,
            advertise: None,
            labels: std::collections::BTreeMap::new(),
            chaos: false,
            tls: None,
            allow_plaintext_api: false,
            enable_script_checks: false,
        }
    }
}

/// An inclusive range of ports, `start <= end`, within 1024..=65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRange {
    pub start: u16,
    pub end: u16,
}

impl PortRange {
    /// How many ports the range holds.
    pub fn len(&self) -> u32 {
        u32::from(self.end).saturating_sub(u32::from(self.start)) + 1
    }

    /// Always false: a valid range holds at least one port.
    pub fn is_empty(&self) -> bool {
        self.end < self.start
    }

    pub fn contains(&self, port: u16) -> bool {
        (self.start..=self.end).contains(&port)
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// What an instance runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Program and arguments, run directly. A program containing `/` is relative
    /// to the spec's `base_dir`; otherwise it is looked up on `PATH`.
    Argv(Vec<String>),
    /// A shell command line, run as `sh -c LINE`.
    Shell(String),
}

impl Command {
    /// The argv to execute: `Argv` as is, `Shell` as `["sh", "-c", line]`.
    pub fn argv(&self) -> Vec<String> {
        match self {
            Command::Argv(argv) => argv.clone(),
            Command::Shell(line) => vec!["sh".to_owned(), "-c".to_owned(), line.clone()],
        }
    }
}

/// `[services.<name>]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceSpec {
    /// The service name: a DNS label (`[a-z0-9-]`, 1 to 63 characters).
    pub name: String,
    /// Required.
    pub command: Command,
    /// The current version; unversioned traffic goes here. Default `"1"`.
    pub version: String,
    /// Instances of the current version. Default 1 (or clamped into `scale`'s bounds).
    pub instances: u32,
    /// Environment; values may reference `${kv:KEY}` and `${secret:NAME}`.
    pub env: BTreeMap<String, EnvValue>,
    /// Gateway path prefixes, each starting with `/`. Default none.
    pub routes: Vec<String>,
    /// Readiness (and optional liveness) check. Default none: running means ready.
    pub health: Option<HealthSpec>,
    /// Restart backoff after a crash.
    pub restart: RestartSpec,
    /// How a new spec is rolled out.
    pub deploy: DeploySpec,
    /// Other versions served side by side, by label (never the current `version`).
    pub versions: BTreeMap<String, VersionSpec>,
    /// Proxy policies for calls into this service. Default none.
    pub resilience: Option<ResilienceSpec>,
    /// Elastic scaling bounds and targets. Default none: fixed `instances`.
    pub scale: Option<ScaleSpec>,
    /// What the instances speak to the proxy. Default HTTP/1.1.
    #[serde(default)]
    pub protocol: Protocol,
    /// What each instance requests of a node (cluster placement). Default nothing.
    #[serde(default)]
    pub resources: ResourceRequest,
    /// Labels an instance's node must carry (`shoal agent --label`). Default none.
    #[serde(default)]
    pub constraints: BTreeMap<String, String>,
    /// Whether instances registered from outside (the Consul agent API) may join this
    /// service's name (`allow_external = true`). Default false: the name belongs to
    /// Shoal, and such a registration is refused, so no local writer can take over the
    /// service's traffic.
    #[serde(default)]
    pub allow_external: bool,
    /// `[services.X.tls]`: the instances speak HTTPS. Default none (plain HTTP).
    #[serde(default)]
    pub tls: Option<crate::tls::ServiceTls>,
}

/// `resources = { cpu = 0.5, memory = "256MiB" }`: one instance's request of a node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceRequest {
    pub cpu_millis: u64,
    pub memory_mb: u64,
}

/// The protocol a service's instances speak (`protocol = "http1" | "h2c"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// HTTP/1.1 (keep-alive, pooled connections).
    #[default]
    Http1,
    /// HTTP/2 without TLS, prior knowledge (gRPC servers): requests multiplexed
    /// on one connection per instance, trailers passed on.
    H2c,
}

/// The values of `protocol`, in [`Protocol`]'s order.
pub(crate) const PROTOCOLS: &[&str] = &["http1", "h2c"];

impl ServiceSpec {
    /// A service with every optional field at its default.
    pub fn new(name: impl Into<String>, command: Command) -> Self {
        ServiceSpec {
            name: name.into(),
            command,
            version: "1".to_owned(),
            instances: 1,
            env: BTreeMap::new(),
            routes: Vec::new(),
            health: None,
            restart: RestartSpec::default(),
            deploy: DeploySpec::default(),
            versions: BTreeMap::new(),
            resilience: None,
            scale: None,
            protocol: Protocol::Http1,
            resources: ResourceRequest::default(),
            constraints: BTreeMap::new(),
            allow_external: false,
            tls: None,
        }
    }

    /// Command, instances and env of version `label` with its overrides applied
    /// (the current version when `label == self.version`), or `None` for an unknown label.
    pub fn version_run(&self, label: &str) -> Option<VersionRun> {
        if label == self.version {
            return Some(VersionRun {
                version: self.version.clone(),
                command: self.command.clone(),
                instances: self.instances,
                env: self.env.clone(),
            });
        }
        let v = self.versions.get(label)?;
        let mut env = self.env.clone();
        env.extend(v.env.iter().map(|(k, e)| (k.clone(), e.clone())));
        Some(VersionRun {
            version: label.to_owned(),
            command: v.command.clone().unwrap_or_else(|| self.command.clone()),
            instances: v.instances.unwrap_or(self.instances),
            env,
        })
    }

    /// Every version to run: the current one first, then the others by label.
    pub fn version_runs(&self) -> Vec<VersionRun> {
        std::iter::once(self.version.as_str())
            .chain(self.versions.keys().map(String::as_str))
            .filter_map(|label| self.version_run(label))
            .collect()
    }
}

/// `[services.<name>.versions.<label>]`: a partial override of the service.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct VersionSpec {
    /// Default: the service's command.
    pub command: Option<Command>,
    /// Default: the service's instances.
    pub instances: Option<u32>,
    /// Merged over the service's env (these keys win).
    pub env: BTreeMap<String, EnvValue>,
}

/// One version of a service with overrides resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionRun {
    pub version: String,
    pub command: Command,
    pub instances: u32,
    pub env: BTreeMap<String, EnvValue>,
}
