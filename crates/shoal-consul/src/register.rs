//! Parses agent registration bodies (already key-normalised) into service and check
//! definitions, with Consul's defaults: ID = Name, check ids `service:<id>[:n]`, initial
//! status critical, probe intervals of at least 1s, a 10s check timeout; script checks refused
//! with Consul's text.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::body::Fields;
use crate::check_model::{parse_host_port, CheckDef, CheckKind, Status, TlsDef};
use crate::error::{ConsulError, Result};

const MIN_INTERVAL: Duration = Duration::from_secs(1);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Check types Consul has that Shoal does not run.
const UNSUPPORTED: &[&str] = &["dockercontainerid", "udp", "osservice"];
/// Consul's answer to a script check registered through the API while remote script checks
/// are disabled (`[platform] enable_script_checks = true` enables them).
pub const SCRIPTS_DISABLED: &str =
    "Scripts are disabled on this agent from remote calls; to enable, configure 'enable_script_checks' to true";
const INTERVAL_REQUIRED: &str =
    "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks";

/// A service registered through the agent API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceDef {
    pub id: String,
    pub name: String,
    pub tags: Vec<String>,
    pub address: String,
    pub port: u16,
    pub meta: BTreeMap<String, String>,
    pub enable_tag_override: bool,
    pub weights: (u64, u64),
    /// Consul's `TaggedAddresses` (`{"lan": {"Address", "Port"}, ...}`), as registered.
    #[serde(default = "empty_object")]
    pub tagged_addresses: Value,
    /// Unix ms of the (first) registration.
    pub registered_ms: u64,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// Parses `PUT /v1/agent/service/register`: the service and its checks.
pub fn parse_service(body: &Value, now_ms: u64) -> Result<(ServiceDef, Vec<CheckDef>)> {
    parse_service_with(body, now_ms, false)
}

/// [`parse_service`], taking script checks when `scripts` (Consul's `enable_script_checks`).
pub fn parse_service_with(
    body: &Value,
    now_ms: u64,
    scripts: bool,
) -> Result<(ServiceDef, Vec<CheckDef>)> {
    let f = Fields::new(body, "service")?;
    let name = f
        .string("name")?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ConsulError::bad("Missing service name"))?;
    let id = f
        .string("id")?
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| name.clone());
    if id.contains('/') || name.contains('/') {
        return Err(ConsulError::bad("service ID and Name must not contain '/'"));
    }
    let port = f.u64("port")?.unwrap_or(0);
    let port = u16::try_from(port)
        .map_err(|_| ConsulError::bad(format!("Invalid service port {port}: at most 65535")))?;
    let weights = match f.raw("weights") {
        Value::Null => (1, 1),
        w => {
            let wf = Fields::new(w, "service.weights")?;
            (
                wf.u64("passing")?.unwrap_or(1).max(1),
                wf.u64("warning")?.unwrap_or(1),
            )
        }
    };
    let def = ServiceDef {
        tags: f.strings("tags")?,
        address: f.string("address")?.unwrap_or_default(),
        port,
        meta: f.string_map("meta")?,
        enable_tag_override: f.bool("enabletagoverride")?.unwrap_or(false),
        weights,
        tagged_addresses: f.object("taggedaddresses")?,
        registered_ms: now_ms,
        id,
        name,
    };
    let mut raw_checks: Vec<&Value> = Vec::new();
    if !is_empty(f.raw("check")) {
        raw_checks.push(f.raw("check"));
    }
    match f.raw("checks") {
        Value::Null => {}
        Value::Array(items) => raw_checks.extend(items.iter().filter(|v| !is_empty(v))),
        _ => {
            return Err(ConsulError::bad(
                "Request decode failed: service.checks must be a list",
            ))
        }
    }
    let count = raw_checks.len();
    let checks = raw_checks
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let default_id = if count == 1 {
                format!("service:{}", def.id)
            } else {
                format!("service:{}:{}", def.id, i + 1)
            };
            let default_name = format!("Service '{}' check", def.name);
            parse_check(v, Some(&def.id), default_id, default_name, scripts)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((def, checks))
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// Parses `PUT /v1/agent/check/register` (a node check, or a service's when `ServiceID` is set).
pub fn parse_check_register(body: &Value) -> Result<CheckDef> {
    parse_check_register_with(body, false)
}

/// [`parse_check_register`], taking script checks when `scripts`.
pub fn parse_check_register_with(body: &Value, scripts: bool) -> Result<CheckDef> {
    let f = Fields::new(body, "check")?;
    let name = f
        .string("name")?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ConsulError::bad("Missing check name"))?;
    let id = match f.string("checkid")? {
        Some(id) if !id.is_empty() => id,
        _ => f
            .string("id")?
            .filter(|i| !i.is_empty())
            .unwrap_or_else(|| name.clone()),
    };
    parse_check(body, None, id, name, scripts)
}

/// One check definition. `service` is the owning service for embedded checks.
fn parse_check(
    v: &Value,
    service: Option<&str>,
    default_id: String,
    default_name: String,
    scripts: bool,
) -> Result<CheckDef> {
    let f = Fields::new(v, "check")?;
    let id = match f.string("checkid")? {
        Some(id) if !id.is_empty() => id,
        _ => f
            .string("id")?
            .filter(|i| !i.is_empty())
            .unwrap_or(default_id),
    };
    if id.contains('/') {
        return Err(ConsulError::bad("check ID must not contain '/'"));
    }
    let script = script_args(&f)?;
    if script.is_some() && !scripts {
        return Err(ConsulError::bad(SCRIPTS_DISABLED));
    }
    if let Some(kind) = UNSUPPORTED
        .iter()
        .find(|k| !is_empty(f.raw(k)) && f.raw(k) != &Value::Bool(false))
    {
        return Err(ConsulError::bad(format!(
            "check type {kind:?} is not supported by Shoal: use HTTP, TCP, gRPC, H2PING, alias or TTL"
        )));
    }
    let kind = match script {
        Some(args) => CheckKind::Script { args },
        None => parse_kind(&f)?,
    };
    let interval = f.duration("interval")?.unwrap_or_default();
    if kind.is_probed() && interval.is_zero() {
        return Err(ConsulError::bad(INTERVAL_REQUIRED));
    }
    let status = match f.string("status")?.filter(|s| !s.is_empty()) {
        None => Status::Critical,
        Some(s) => Status::parse(&s)
            .ok_or_else(|| ConsulError::bad(format!("Invalid check status {s:?}")))?,
    };
    let service_id = match service {
        Some(s) => s.to_string(),
        None => f.string("serviceid")?.unwrap_or_default(),
    };
    let header = match f.raw("header") {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                let values = match v {
                    Value::Array(items) => items
                        .iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect(),
                    Value::String(s) => vec![s.clone()],
                    _ => Vec::new(),
                };
                (k.clone(), values)
            })
            .collect(),
        _ => BTreeMap::new(),
    };
    let ms = |d: Duration| d.as_millis().min(u128::from(u64::MAX)) as u64;
    let small = |v: Option<u64>| v.unwrap_or(0).min(u64::from(u32::MAX)) as u32;
    let ttl_ms = match kind {
        CheckKind::Ttl => f.duration("ttl")?.map(ms).unwrap_or(0),
        _ => 0,
    };
    Ok(CheckDef {
        id,
        name: f
            .string("name")?
            .filter(|n| !n.is_empty())
            .unwrap_or(default_name),
        service_id,
        notes: f.string("notes")?.unwrap_or_default(),
        kind,
        interval_ms: if interval.is_zero() {
            0
        } else {
            ms(interval.max(MIN_INTERVAL))
        },
        timeout_ms: ms(f
            .duration("timeout")?
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_TIMEOUT)),
        ttl_ms,
        deregister_after_ms: f
            .duration("deregistercriticalserviceafter")?
            .filter(|d| !d.is_zero())
            .map(ms),
        success_before_passing: small(f.u64("successbeforepassing")?),
        failures_before_critical: small(f.u64("failuresbeforecritical")?),
        initial_status: status,
        header,
    })
}

/// A script check's command: `Args` (or `ScriptArgs`) as given, or the old `Script`
/// string run by `sh -c`; `None` when the definition has none.
fn script_args(f: &Fields) -> Result<Option<Vec<String>>> {
    for key in ["args", "scriptargs"] {
        if let Value::Array(a) = f.raw(key) {
            if !a.is_empty() {
                return Ok(Some(f.strings(key)?));
            }
        }
    }
    Ok(f.string("script")?
        .filter(|s| !s.is_empty())
        .map(|s| vec!["sh".into(), "-c".into(), s]))
}

/// The check's kind from whichever of TTL, HTTP, TCP, GRPC, H2PING, AliasService/AliasNode
/// is set (exactly one), with its options.
fn parse_kind(f: &Fields) -> Result<CheckKind> {
    let ttl = f.duration("ttl")?.filter(|d| !d.is_zero());
    let text = |k: &str| -> Result<Option<String>> { Ok(f.string(k)?.filter(|s| !s.is_empty())) };
    let (http, tcp, grpc, h2ping) = (text("http")?, text("tcp")?, text("grpc")?, text("h2ping")?);
    let (alias_service, alias_node) = (text("aliasservice")?, text("aliasnode")?);
    let alias = alias_service.is_some() || alias_node.is_some();
    let set = [
        ttl.is_some(),
        http.is_some(),
        tcp.is_some(),
        grpc.is_some(),
        h2ping.is_some(),
        alias,
    ];
    match set.iter().filter(|s| **s).count() {
        0 => {
            return Err(ConsulError::bad(
                "Invalid check: one of HTTP, TCP, GRPC, H2PING, AliasService, AliasNode or TTL must be set",
            ))
        }
        1 => {}
        _ if alias && ttl.is_some() => {
            return Err(ConsulError::bad("Invalid check: TTL must be not be set for Alias checks"))
        }
        _ if alias => {
            return Err(ConsulError::bad("Invalid check: Interval cannot be set for Alias checks"))
        }
        _ => {
            return Err(ConsulError::bad(
                "Invalid check: set only one of HTTP, TCP, GRPC, H2PING, AliasService/AliasNode or TTL",
            ))
        }
    }
    let tls = TlsDef {
        skip_verify: f.bool("tlsskipverify")?.unwrap_or(false),
        server_name: f.string("tlsservername")?.unwrap_or_default(),
    };
    let host_port = |what: &str, addr: &str| -> Result<()> {
        parse_host_port(addr, 0)
            .ok()
            .filter(|(_, p)| *p != 0)
            .map(|_| ())
            .ok_or_else(|| {
                ConsulError::bad(format!("Invalid {what} check {addr:?}: use host:port"))
            })
    };
    if let Some(url) = http {
        shoal_health::parse_url(&url)
            .map_err(|e| ConsulError::bad(format!("Invalid HTTP check: {e}")))?;
        return Ok(CheckKind::Http {
            url,
            method: f.string("method")?.unwrap_or_default(),
            body: f.string("body")?.unwrap_or_default(),
            tls,
        });
    }
    if let Some(addr) = tcp {
        host_port("TCP", &addr)?;
        return Ok(CheckKind::Tcp { addr });
    }
    if let Some(target) = grpc {
        host_port("GRPC", target.split('/').next().unwrap_or(""))?;
        return Ok(CheckKind::Grpc {
            target,
            use_tls: f.bool("grpcusetls")?.unwrap_or(false),
            tls,
        });
    }
    if let Some(addr) = h2ping {
        host_port("H2PING", &addr)?;
        return Ok(CheckKind::H2ping {
            addr,
            // Consul's default: TLS unless told otherwise.
            use_tls: f.bool("h2pingusetls")?.unwrap_or(true),
            tls,
        });
    }
    if alias {
        return Ok(CheckKind::Alias {
            service_id: alias_service.unwrap_or_default(),
            node: alias_node.unwrap_or_default(),
        });
    }
    Ok(CheckKind::Ttl)
}

#[cfg(test)]
#[path = "register_tests.rs"]
mod tests;
