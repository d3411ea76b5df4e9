//! Real servers for the probe tests, on 127.0.0.1:0: an HTTP/1.1 echo server (cleartext or
//! TLS with a self-signed certificate made by the `openssl` CLI), and an HTTP/2 server
//! (h2c or TLS) answering `grpc.health.v1.Health/Check` and PINGs.
#![allow(clippy::expect_used, dead_code)]

pub mod grpc;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// The name in the test certificate (not the address it is served on).
pub const CERT_NAME: &str = "checks.test";

/// A self-signed certificate for `checks.test`, made with the `openssl` CLI.
pub struct Cert {
    pub dir: tempfile::TempDir,
    pub cert: CertificateDer<'static>,
}

impl Cert {
    pub fn new() -> Cert {
        let dir = tempfile::tempdir().expect("tempdir");
        let status = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-days", "2", "-subj", &format!("/CN={CERT_NAME}")])
            .args(["-addext", &format!("subjectAltName=DNS:{CERT_NAME}")])
            // A leaf, not a CA: trusted as itself (webpki refuses a CA as the end entity).
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .arg("-keyout")
            .arg(dir.path().join("key.pem"))
            .arg("-out")
            .arg(dir.path().join("cert.pem"))
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run openssl (install the openssl CLI)");
        assert!(status.success(), "openssl req failed");
        let cert = CertificateDer::from_pem_file(dir.path().join("cert.pem")).expect("cert");
        Cert { dir, cert }
    }

    /// A server TLS acceptor offering `alpn`; the SNI names it saw are pushed to `sni`.
    pub fn acceptor(&self, alpn: &[&[u8]]) -> TlsAcceptor {
        let key = PrivateKeyDer::from_pem_file(self.dir.path().join("key.pem")).expect("key");
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.cert.clone()], key)
            .expect("server config");
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        TlsAcceptor::from(Arc::new(config))
    }
}

/// A server task, aborted when dropped; `sni` holds the names TLS clients asked for.
pub struct Server {
    pub addr: SocketAddr,
    pub sni: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `/echo` answers `<method> <body> token=<x-token values> ua=<user-agent> host=<host>`;
/// `/busy` 429, `/fail` 500, `/moved` 302 to `/echo`, `/big` 10 000 bytes ending in `END`.
async fn echo(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let header = |name: &str| {
        parts
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",")
    };
    let (code, text) = match parts.uri.path() {
        "/echo" => (
            200,
            format!(
                "{} {} token={} ua={} host={}",
                parts.method,
                String::from_utf8_lossy(&body),
                header("x-token"),
                header("user-agent"),
                header("host")
            ),
        ),
        "/busy" => (429, "slow down".into()),
        "/fail" => (500, "db down".into()),
        "/moved" => (302, String::new()),
        "/big" => (200, format!("{}END", "x".repeat(9997))),
        _ => (404, "not found".into()),
    };
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = hyper::StatusCode::from_u16(code).unwrap_or_default();
    if code == 302 {
        response
            .headers_mut()
            .insert("location", hyper::header::HeaderValue::from_static("/echo"));
    }
    Ok(response)
}

/// The echo server over HTTP/1.1, behind TLS when `tls` is given.
pub async fn http_server(tls: Option<TlsAcceptor>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let sni = Arc::new(Mutex::new(Vec::new()));
    let seen = sni.clone();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (tls, seen) = (tls.clone(), seen.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(echo);
                let http = hyper::server::conn::http1::Builder::new();
                match tls {
                    None => {
                        let _ = http.serve_connection(TokioIo::new(tcp), service).await;
                    }
                    Some(acceptor) => {
                        let Ok(stream) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let name = stream.get_ref().1.server_name().unwrap_or("").to_string();
                        seen.lock().expect("sni").push(name);
                        let _ = http.serve_connection(TokioIo::new(stream), service).await;
                    }
                }
            });
        }
    });
    Server { addr, sni, task }
}

pub fn openssl_available() -> bool {
    Path::new("/usr/bin/openssl").exists()
        || Command::new("openssl").arg("version").output().is_ok()
}
