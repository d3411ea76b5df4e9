//! HTTPS for the gateway (and the API with `api = true`): `[platform.tls]`'s
//! certificates loaded at start (each problem named at its setting's
//! FILE:LINE:COLUMN; an expired certificate is a warning with its date), the
//! task that reloads renewed files, and the plain-HTTP redirect listener.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use shoal_events::{EventLog, Kind};
use shoal_spec::{TlsSpec, TlsVersion};
use shoal_tls::{CertSource, Certificates, MinVersion, Reload, TlsAcceptor};

use crate::tasks::Tasks;

/// How often the certificate files are looked at.
const RELOAD_EVERY: Duration = Duration::from_secs(1);

/// The loaded TLS setup of this node.
pub struct Tls {
    pub certs: Arc<Certificates>,
    pub gateway: TlsAcceptor,
    /// With `api = true`.
    pub api: Option<TlsAcceptor>,
}

/// Reads every certificate of `spec`; logs a warning per expired (or not yet valid) one.
pub fn load(spec: &TlsSpec) -> anyhow::Result<Tls> {
    let sources = spec
        .certs
        .iter()
        .map(|c| CertSource {
            cert: c.cert.clone(),
            key: c.key.clone(),
            origin: c.location.to_string(),
        })
        .collect();
    let certs = Certificates::load(sources, shoal_tls::provider())?;
    for info in certs.current().info() {
        if let Some(w) = info.warning(SystemTime::now()) {
            tracing::warn!("TLS: {w}");
        }
        tracing::info!(names = ?info.names, at = %info.origin, "TLS certificate loaded");
    }
    let min = match spec.min_version {
        TlsVersion::Tls12 => MinVersion::Tls12,
        TlsVersion::Tls13 => MinVersion::Tls13,
    };
    let alpn = [shoal_tls::ALPN_H2, shoal_tls::ALPN_HTTP11];
    let config =
        shoal_tls::server_config(certs.clone(), min, &alpn).context("cannot set up TLS")?;
    let gateway = TlsAcceptor::from(config);
    let api = spec.api.then(|| gateway.clone());
    Ok(Tls {
        certs,
        gateway,
        api,
    })
}

/// Refuses a service whose `[services.X.tls]` cannot be used (a CA file that
/// cannot be read, an invalid server name), naming where it is written.
pub fn check_services(spec: &shoal_spec::Spec) -> anyhow::Result<()> {
    for (name, service) in &spec.services {
        if let Some(t) = &service.tls {
            if let Err(e) = shoal_proxy::UpstreamTls::new(name, t).check() {
                anyhow::bail!("{e}");
            }
            if t.skip_verify {
                tracing::warn!(service = %name, at = %t.location, "TLS to the instances accepts any certificate (skip_verify = true)");
            }
        }
    }
    Ok(())
}

/// Reloads renewed certificate files; each reload (or refusal) is an event.
pub fn start_reload(tasks: &mut Tasks, certs: &Arc<Certificates>, events: &Arc<EventLog>) {
    let (certs, events) = (certs.clone(), events.clone());
    tasks.restart("tls-reload", move |stop| {
        let events = events.clone();
        let on = move |r: Reload| match r {
            Reload::Loaded(info) => {
                let names: Vec<&str> = info
                    .iter()
                    .flat_map(|i| &i.names)
                    .map(String::as_str)
                    .collect();
                tracing::info!(
                    ?names,
                    "TLS: renewed certificates loaded; new connections get them"
                );
                for w in info.iter().filter_map(|i| i.warning(SystemTime::now())) {
                    tracing::warn!("TLS: {w}");
                }
                events.emit(
                    Kind::Platform,
                    "",
                    "",
                    format!("TLS certificates reloaded ({})", names.join(", ")),
                    serde_json::json!({ "action": "tls_reloaded", "names": names }),
                );
            }
            Reload::Refused(why) => {
                tracing::warn!(
                    "TLS: renewed certificate files refused, the old ones keep serving: {why}"
                );
                events.emit(
                    Kind::Platform,
                    "",
                    "",
                    format!("TLS renewal refused, the old certificates keep serving: {why}"),
                    serde_json::json!({ "action": "tls_refused", "error": why }),
                );
            }
        };
        shoal_tls::watch(certs.clone(), RELOAD_EVERY, on, stop.stopped())
    });
}
