//! The environment every instance starts with (DESIGN §5), with `${kv:KEY}`
//! references resolved from the store.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use shoal_spec::{EnvPart, EnvValue};
use shoal_store::Store;

/// Platform addresses handed to every instance.
#[derive(Debug, Clone)]
pub struct PlatformEnv {
    pub http: SocketAddr,
    pub gateway: SocketAddr,
    /// Each service's outbound proxy listener on this node (`SHOAL_PROXY`); the
    /// proxy knows the caller from the listener a request arrives on.
    pub outbound: Outbound,
    pub statsd: SocketAddr,
}

/// Finds a service's outbound listener on this node, opening it the first time
/// (a service deployed after start, or any service of a cluster node); `None`
/// when it cannot be opened (the instance then calls through the gateway).
#[derive(Clone)]
pub struct Outbound(Arc<OpenListener>);

/// Opens or finds the outbound listener of the service named.
type OpenListener = dyn Fn(&str) -> Option<SocketAddr> + Send + Sync;

impl Outbound {
    pub fn new(open: impl Fn(&str) -> Option<SocketAddr> + Send + Sync + 'static) -> Self {
        Self(Arc::new(open))
    }

    /// `service`'s listener.
    pub fn of(&self, service: &str) -> Option<SocketAddr> {
        (self.0)(service)
    }
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Outbound(..)")
    }
}

/// Identity of the instance being started.
#[derive(Debug, Clone)]
pub struct InstanceIdentity<'a> {
    pub service: &'a str,
    pub version: &'a str,
    pub instance: &'a str,
    pub port: u16,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvError {
    #[error("env {var}: kv key `{key}` does not exist (set it with the Consul KV API: PUT /v1/kv/{key})")]
    MissingKey { var: String, key: String },
    #[error("env {var}: kv key `{key}` is not UTF-8 text")]
    NotText { var: String, key: String },
    #[error("env {var}: secret `{name}`: {detail}")]
    Secret {
        var: String,
        name: String,
        detail: String,
    },
    #[error("env {var}: reading kv key `{key}` failed: {detail}")]
    Store {
        var: String,
        key: String,
        detail: String,
    },
}

/// The `SHOAL_*`, `PORT`, `CONSUL_HTTP_ADDR` and `STATSD_*` variables.
pub fn platform_vars(p: &PlatformEnv, id: &InstanceIdentity<'_>) -> Vec<(String, String)> {
    vec![
        ("PORT".into(), id.port.to_string()),
        ("SHOAL_SERVICE".into(), id.service.into()),
        ("SHOAL_VERSION".into(), id.version.into()),
        ("SHOAL_INSTANCE".into(), id.instance.into()),
        // The service's own outbound listener; the gateway only for a service
        // that has none (then callers are indistinguishable).
        (
            "SHOAL_PROXY".into(),
            format!("http://{}", p.outbound.of(id.service).unwrap_or(p.gateway)),
        ),
        ("SHOAL_ADDR".into(), format!("http://{}", p.http)),
        ("CONSUL_HTTP_ADDR".into(), p.http.to_string()),
        ("STATSD_HOST".into(), p.statsd.ip().to_string()),
        ("STATSD_PORT".into(), p.statsd.port().to_string()),
    ]
}

/// A kv key or secret an env value refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Kv(String),
    Secret(String),
}

/// Every kv key and secret the env references, with the variable that references it.
pub fn references(env: &BTreeMap<String, EnvValue>) -> Vec<(String, Reference)> {
    let mut out = Vec::new();
    for (var, value) in env {
        for part in &value.parts {
            match part {
                EnvPart::Kv(key) => out.push((var.clone(), Reference::Kv(key.clone()))),
                EnvPart::Secret(name) => out.push((var.clone(), Reference::Secret(name.clone()))),
                EnvPart::Literal(_) => {}
            }
        }
    }
    out
}

/// Resolves the spec's env against the store.
pub async fn resolve(
    env: &BTreeMap<String, EnvValue>,
    store: &dyn Store,
    keyring: Option<&shoal_secrets::Keyring>,
) -> Result<Vec<(String, String)>, EnvError> {
    let mut out = Vec::with_capacity(env.len());
    for (var, value) in env {
        let mut text = String::new();
        for part in &value.parts {
            match part {
                EnvPart::Literal(s) => text.push_str(s),
                EnvPart::Kv(key) => {
                    let kv = store
                        .get(&shoal_catalog::kv_key(key))
                        .await
                        .map_err(|e| EnvError::Store {
                            var: var.clone(),
                            key: key.clone(),
                            detail: e.to_string(),
                        })?
                        .ok_or_else(|| EnvError::MissingKey {
                            var: var.clone(),
                            key: key.clone(),
                        })?;
                    let s = String::from_utf8(kv.value).map_err(|_| EnvError::NotText {
                        var: var.clone(),
                        key: key.clone(),
                    })?;
                    text.push_str(&s);
                }
                EnvPart::Secret(name) => {
                    let secret_err = |detail: String| EnvError::Secret {
                        var: var.clone(),
                        name: name.clone(),
                        detail,
                    };
                    let keyring =
                        keyring.ok_or_else(|| secret_err("no secret key is loaded".into()))?;
                    let (_, plain) = shoal_secrets::get(store, keyring, name, None)
                        .await
                        .map_err(|e| secret_err(e.to_string()))?;
                    let s = String::from_utf8(plain)
                        .map_err(|_| secret_err("the value is not UTF-8 text".into()))?;
                    text.push_str(&s);
                }
            }
        }
        out.push((var.clone(), text));
    }
    Ok(out)
}
