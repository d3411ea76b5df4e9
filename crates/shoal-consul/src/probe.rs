//! What the runner runs for a probed check: Consul's HTTP(S), gRPC and H2PING probes
//! (`shoal_health::run_probe`) and TCP connects (`shoal_health::run_check`), each with its
//! status and Consul's output text.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use shoal_health::{
    run_check, run_probe, CheckOutcome, GrpcProbe, H2PingProbe, HttpProbe, Probe, TlsOptions,
};

use crate::check_model::{parse_host_port, CheckDef, CheckKind, TlsDef};

fn tls(t: &TlsDef) -> TlsOptions {
    TlsOptions {
        skip_verify: t.skip_verify,
        server_name: t.server_name.clone(),
        roots: None,
    }
}

/// The network probe of a definition; `None` for TCP and the kinds that are not probed.
pub fn network_probe(def: &CheckDef) -> Option<Probe> {
    match &def.kind {
        CheckKind::Http {
            url,
            method,
            body,
            tls: t,
        } => Some(Probe::Http(HttpProbe {
            method: method.clone(),
            url: url.clone(),
            headers: def
                .header
                .iter()
                .flat_map(|(k, vs)| vs.iter().map(move |v| (k.clone(), v.clone())))
                .collect(),
            body: body.clone(),
            tls: tls(t),
        })),
        CheckKind::Grpc {
            target,
            use_tls,
            tls: t,
        } => Some(Probe::Grpc(GrpcProbe {
            target: target.clone(),
            use_tls: *use_tls,
            tls: tls(t),
        })),
        CheckKind::H2ping {
            addr,
            use_tls,
            tls: t,
        } => Some(Probe::H2Ping(H2PingProbe {
            addr: addr.clone(),
            use_tls: *use_tls,
            tls: tls(t),
        })),
        CheckKind::Tcp { .. }
        | CheckKind::Script { .. }
        | CheckKind::Alias { .. }
        | CheckKind::Ttl
        | CheckKind::Maintenance => None,
    }
}

async fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    if host == "localhost" {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve {host:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host:?} has no address"))
}

/// Runs the check once: its outcome and the output to record (set when passing too).
pub async fn run(def: &CheckDef, timeout: Duration) -> (CheckOutcome, String) {
    if let Some(probe) = network_probe(def) {
        let report = run_probe(&probe, timeout).await;
        return (report.outcome, report.output);
    }
    if let CheckKind::Script { args } = &def.kind {
        // Run as Consul runs them: in the agent's directory, with its environment.
        let exec = shoal_health::CheckKind::Exec { argv: args.clone() };
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let outcome = run_check(&exec, any, timeout, &[], Path::new(".")).await;
        let output = outcome.output().to_string();
        return (outcome, output);
    }
    let CheckKind::Tcp { addr } = &def.kind else {
        let e = format!("{} checks are not probed", def.kind.type_name());
        return (CheckOutcome::Critical(e.clone()), e);
    };
    let target = match parse_host_port(addr, 0) {
        Ok((host, port)) => resolve(&host, port).await,
        Err(e) => Err(e),
    };
    let outcome = match target {
        Ok(sock) => {
            run_check(
                &shoal_health::CheckKind::Tcp,
                sock,
                timeout,
                &[],
                Path::new("/"),
            )
            .await
        }
        Err(e) => CheckOutcome::Critical(e),
    };
    let output = match &outcome {
        CheckOutcome::Passing => format!("TCP connect {addr}: Success"),
        other => other.output().to_string(),
    };
    (outcome, output)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::check_model::Status;

    fn def(kind: CheckKind) -> CheckDef {
        CheckDef {
            id: "c".into(),
            name: "c".into(),
            service_id: String::new(),
            notes: String::new(),
            kind,
            interval_ms: 1000,
            timeout_ms: 1000,
            ttl_ms: 0,
            deregister_after_ms: None,
            success_before_passing: 0,
            failures_before_critical: 0,
            initial_status: Status::Critical,
            header: BTreeMap::from([("X-A".to_string(), vec!["1".to_string(), "2".to_string()])]),
        }
    }

    #[test]
    fn definitions_become_probes() {
        let http = def(CheckKind::Http {
            url: "https://h/x".into(),
            method: "PUT".into(),
            body: "b".into(),
            tls: TlsDef {
                skip_verify: true,
                server_name: "n".into(),
            },
        });
        let Some(Probe::Http(p)) = network_probe(&http) else {
            panic!("not an HTTP probe")
        };
        assert_eq!(
            p.headers,
            vec![("X-A".into(), "1".into()), ("X-A".into(), "2".into())]
        );
        assert_eq!((p.method.as_str(), p.body.as_str()), ("PUT", "b"));
        assert!(p.tls.skip_verify && p.tls.server_name == "n" && p.tls.roots.is_none());
        let grpc = def(CheckKind::Grpc {
            target: "h:1/s".into(),
            use_tls: true,
            tls: TlsDef::default(),
        });
        assert!(
            matches!(network_probe(&grpc), Some(Probe::Grpc(g)) if g.use_tls && g.target == "h:1/s")
        );
        let ping = def(CheckKind::H2ping {
            addr: "h:1".into(),
            use_tls: false,
            tls: TlsDef::default(),
        });
        assert!(matches!(network_probe(&ping), Some(Probe::H2Ping(p)) if !p.use_tls));
        assert_eq!(
            network_probe(&def(CheckKind::Tcp { addr: "h:1".into() })),
            None
        );
        assert_eq!(network_probe(&def(CheckKind::Ttl)), None);
    }
}
