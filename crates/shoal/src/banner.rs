//! What `shoal up` tells people and scripts once it runs: the banner, `endpoints.json`, and with `--logs` every line.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use shoal_logs::LogStore;
use shoal_spec::Spec;

/// Where this run listens, for scripts and tests that bind `127.0.0.1:0`.
pub struct Endpoints {
    pub http: SocketAddr,
    pub gateway: SocketAddr,
    pub dns: SocketAddr,
    pub statsd: SocketAddr,
    /// The plain-HTTP listener that redirects to the HTTPS gateway.
    pub redirect: Option<SocketAddr>,
}

impl Endpoints {
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let body = serde_json::json!({
            "pid": std::process::id(),
            "http": self.http.to_string(),
            "gateway": self.gateway.to_string(),
            "dns": self.dns.to_string(),
            "statsd": self.statsd.to_string(),
            "redirect": self.redirect.map(|a| a.to_string()),
        });
        shoal_durable::replace(path, body.to_string().as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

pub fn print(spec: &Spec, file: &Path, at: &Endpoints, data_dir: &Path) {
    let Endpoints {
        http,
        gateway,
        dns,
        statsd,
        redirect,
    } = at;
    let tls = spec.platform.tls.as_ref();
    let api = if tls.is_some_and(|t| t.api) {
        "https"
    } else {
        "http"
    };
    let gw = if tls.is_some() { "https" } else { "http" };
    let names: Vec<&str> = spec.services.keys().map(String::as_str).collect();
    eprintln!(
        "shoal: running {} ({} service(s): {})",
        file.display(),
        names.len(),
        names.join(", ")
    );
    eprintln!("  api + consul api   {api}://{http}   (shoal status, shoal ps, shoal logs)");
    eprintln!("  gateway            {gw}://{gateway}   (Host: <service>)");
    if let Some(r) = redirect {
        eprintln!("  redirect           http://{r}   (308 to the gateway's https://)");
    }
    eprintln!(
        "  dns (udp + tcp)    {dns}   (dig @{} -p {} <service>.service.{})",
        dns.ip(),
        dns.port(),
        spec.platform.domain
    );
    eprintln!("  data               {}", data_dir.display());
    eprintln!("  statsd (udp + tcp) {statsd}   (/metrics on the api)");
    eprintln!("  press Ctrl-C to stop");
}

/// Prints every log line to stdout (`shoal up --logs`) until the log store is gone.
pub fn echo_logs(logs: &Arc<LogStore>) {
    let mut rx = logs.subscribe();
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(l) => println!("{} | {}", l.instance, l.line),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    println!("... {n} lines skipped")
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
}
