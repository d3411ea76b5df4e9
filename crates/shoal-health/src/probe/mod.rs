//! Consul's network probes for checks registered through the agent API: HTTP(S) with a
//! method, headers and a body; gRPC health (`grpc.health.v1.Health/Check`); HTTP/2 PING.
//! Each reports what Consul would: a status plus Consul's output text.

mod grpc;
mod h2ping;
mod http;
mod tls;
mod url;

use std::time::Duration;

use tokio::net::TcpStream;

use crate::outcome::CheckOutcome;

pub use tls::TlsOptions;
pub use url::{parse_url, Url};

/// Output kept from an HTTP check's body: the last 4 KiB, as Consul's circular buffer keeps.
pub const MAX_BODY_OUTPUT: usize = 4096;

/// `<Method> <url>` with `Header` (a header may repeat) and `Body`, as Consul sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpProbe {
    /// Empty means `GET`.
    pub method: String,
    /// `http://` or `https://`.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub tls: TlsOptions,
}

/// `grpc.health.v1.Health/Check` of `host:port[/service]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcProbe {
    pub target: String,
    pub use_tls: bool,
    pub tls: TlsOptions,
}

/// An HTTP/2 PING to `host:port`, over TLS (ALPN `h2`) or cleartext with prior knowledge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H2PingProbe {
    pub addr: String,
    pub use_tls: bool,
    pub tls: TlsOptions,
}

/// One of Consul's network probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    Http(HttpProbe),
    Grpc(GrpcProbe),
    H2Ping(H2PingProbe),
}

/// How a probe went: the status, and the output Consul would record (set on success too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub outcome: CheckOutcome,
    pub output: String,
}

impl Report {
    pub fn passing(output: impl Into<String>) -> Self {
        Report {
            outcome: CheckOutcome::Passing,
            output: output.into(),
        }
    }

    pub fn warning(output: impl Into<String>) -> Self {
        let output = output.into();
        Report {
            outcome: CheckOutcome::Warning(output.clone()),
            output,
        }
    }

    pub fn critical(output: impl Into<String>) -> Self {
        let output = output.into();
        Report {
            outcome: CheckOutcome::Critical(output.clone()),
            output,
        }
    }
}

/// Runs one probe; never takes much longer than `timeout` (a timeout is critical).
pub async fn run_probe(probe: &Probe, timeout: Duration) -> Report {
    let run = async {
        match probe {
            Probe::Http(p) => http::check(p).await,
            Probe::Grpc(p) => grpc::check(p).await,
            Probe::H2Ping(p) => h2ping::check(p).await,
        }
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(report) => report,
        Err(_) => Report::critical(match probe {
            Probe::Http(p) => format!(
                "{} \"{}\": timed out after {timeout:?} (Client.Timeout exceeded while awaiting headers)",
                http::go_op(&p.method),
                p.url
            ),
            Probe::Grpc(p) => format!(
                "gRPC check {}: rpc error: code = DeadlineExceeded desc = context deadline exceeded",
                p.target
            ),
            Probe::H2Ping(_) => "HTTP2 ping failed: context deadline exceeded".to_string(),
        }),
    }
}

/// A TCP connection to `host:port` (names resolved by the system resolver).
async fn dial(host: &str, port: u16) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect((host, port)).await?;
    // Probes send one small request and wait: never delay it.
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Splits `host:port` (`[v6]:port` too); the port is required.
pub(crate) fn split_host_port(authority: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("address {authority}: missing ']' in address"))?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = port.ok_or_else(|| format!("address {authority}: missing port in address"))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("address {authority}: invalid port"))?;
    if host.is_empty() {
        return Err(format!("address {authority}: missing host"));
    }
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ports() {
        assert_eq!(
            split_host_port("127.0.0.1:80"),
            Ok(("127.0.0.1".into(), 80))
        );
        assert_eq!(split_host_port("[::1]:443"), Ok(("::1".into(), 443)));
        assert_eq!(split_host_port("svc.local:9"), Ok(("svc.local".into(), 9)));
        assert!(split_host_port("nohost").is_err());
        assert!(split_host_port(":80").is_err());
        assert!(split_host_port("x:99999").is_err());
    }
}
