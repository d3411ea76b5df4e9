//! `[platform.tls]` and `[services.X.tls]`.
//!
//! `[platform.tls]`: HTTPS at the gateway (and optionally the API): the default
//! certificate and key, more certificates chosen by SNI under `[platform.tls.certs.<name>]`,
//! the oldest protocol version, a plain-HTTP listener that redirects to HTTPS.
//! The files are read at start by `shoal-tls`; their problems are reported at
//! the `cert` setting's FILE:LINE:COLUMN kept here.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::diag::Location;
use crate::values::{boolean, choice, nonempty_string, socket_addr};
use crate::walk::{Ctx, Field, Obj};

/// `[platform.tls]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TlsSpec {
    /// The default certificate first, then `[platform.tls.certs.*]` in file order.
    pub certs: Vec<TlsCert>,
    /// `min_version`: `"1.2"` (default) or `"1.3"`. TLS 1.0 and 1.1 are never served.
    pub min_version: TlsVersion,
    /// `redirect`: a plain-HTTP listener answering every request with a
    /// `308` to the same path over HTTPS.
    pub redirect: Option<SocketAddr>,
    /// `api = true`: the API (and the UI and Consul API on it) listens with TLS too.
    pub api: bool,
}

/// One certificate chain (leaf first) and its key, paths resolved against the file's directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TlsCert {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Where `cert` is written, for messages about the files.
    pub location: Location,
}

/// `[services.X.tls]`: the service's instances only speak HTTPS; the proxy and
/// the service's HTTP health check reach them over TLS.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServiceTls {
    /// `ca`: the CA file (PEM) the instances' certificates are checked against;
    /// `None`: the system's roots. Resolved against the file's directory.
    pub ca: Option<PathBuf>,
    /// `server_name`: the name sent as SNI and checked in the certificate;
    /// `None`: the service's name.
    pub server_name: Option<String>,
    /// `skip_verify = true`: any certificate is accepted (logged as a warning).
    pub skip_verify: bool,
    /// Where the table is written, for messages about its files.
    pub location: Location,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum TlsVersion {
    #[default]
    Tls12,
    Tls13,
}

pub(crate) fn read_tls(cx: &mut Ctx<'_>, f: &Field<'_>) -> Option<TlsSpec> {
    let mut obj = Obj::open(cx, f, "platform.tls".to_owned())?;
    let mut certs = Vec::new();
    let default = read_pair(cx, &mut obj);
    let mut spec = TlsSpec {
        certs: Vec::new(),
        min_version: TlsVersion::Tls12,
        redirect: None,
        api: false,
    };
    if let Some(i) = obj.get(cx, "min_version", choice(&["1.2", "1.3"])) {
        spec.min_version = [TlsVersion::Tls12, TlsVersion::Tls13][i];
    }
    spec.redirect = obj.get(cx, "redirect", socket_addr);
    obj.set(cx, "api", &mut spec.api, boolean);
    let more = obj.take("certs");
    let pos = obj.pos;
    obj.finish(cx);
    match default {
        Some(Some(c)) => certs.push(c),
        Some(None) => {}
        None => cx.error(
            pos,
            "[platform.tls] needs `cert` and `key`: the default certificate's chain (PEM) and its private key",
        ),
    }
    if let Some(mf) = more {
        if let Some(mut named) = Obj::open_unrecorded(cx, &mf, "platform.tls.certs".to_owned()) {
            for field in named.drain() {
                let path = format!("platform.tls.certs.{}", field.name);
                let Some(mut one) = Obj::open(cx, &field, path.clone()) else {
                    continue;
                };
                let pair = read_pair(cx, &mut one);
                let at = one.pos;
                one.finish(cx);
                match pair {
                    Some(Some(c)) => certs.push(c),
                    Some(None) => {}
                    None => cx.error(at, format!("[{path}] needs `cert` and `key`")),
                }
            }
        }
    }
    spec.certs = certs;
    Some(spec)
}

pub(crate) fn read_service_tls(
    cx: &mut Ctx<'_>,
    f: &Field<'_>,
    path: String,
) -> Option<ServiceTls> {
    let mut obj = Obj::open(cx, f, path)?;
    let location = cx.location(obj.pos);
    let ca = obj
        .get(cx, "ca", nonempty_string)
        .map(|c| cx.base_dir.join(c));
    let server_name = obj.get(cx, "server_name", nonempty_string);
    let mut skip_verify = false;
    obj.set(cx, "skip_verify", &mut skip_verify, boolean);
    obj.finish(cx);
    Some(ServiceTls {
        ca,
        server_name,
        skip_verify,
        location,
    })
}

/// `cert` and `key` of a table: `None` when neither is written, `Some(None)` when
/// one is missing or invalid (already reported).
fn read_pair(cx: &mut Ctx<'_>, obj: &mut Obj<'_>) -> Option<Option<TlsCert>> {
    let (cf, kf) = (obj.take("cert"), obj.take("key"));
    if cf.is_none() && kf.is_none() {
        return None;
    }
    let cert = cf.as_ref().and_then(|f| nonempty_string(cx, f));
    let key = kf.as_ref().and_then(|f| nonempty_string(cx, f));
    match (&cf, &kf) {
        (None, _) => obj.missing(cx, "cert"),
        (_, None) => obj.missing(cx, "key"),
        _ => {}
    }
    let (Some(cert), Some(key), Some(cf)) = (cert, key, cf) else {
        return Some(None);
    };
    Some(Some(TlsCert {
        cert: cx.base_dir.join(cert),
        key: cx.base_dir.join(key),
        location: cx.location(cf.value_pos()),
    }))
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
