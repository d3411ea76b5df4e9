//! `run_probe` (Consul's HTTP(S), gRPC and H2PING checks) against real servers on
//! 127.0.0.1:0: TLS with a self-signed certificate made by the `openssl` CLI.
#![allow(clippy::expect_used)]

mod support;

use std::time::Duration;

use shoal_health::{
    run_probe, CheckOutcome, GrpcProbe, H2PingProbe, HttpProbe, Probe, Report, TlsOptions,
};
use support::grpc::health_server;
use support::{http_server, Cert, CERT_NAME};

const TIMEOUT: Duration = Duration::from_secs(5);

fn http(method: &str, url: String, tls: TlsOptions) -> Probe {
    Probe::Http(HttpProbe {
        method: method.into(),
        url,
        headers: Vec::new(),
        body: String::new(),
        tls,
    })
}

fn skip() -> TlsOptions {
    TlsOptions {
        skip_verify: true,
        ..TlsOptions::default()
    }
}

async fn closed_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    l.local_addr().expect("addr").port()
}

#[tokio::test]
async fn http_sends_method_headers_and_body_and_reports_like_consul() {
    let server = http_server(None).await;
    let url = format!("http://{}/echo", server.addr);
    let probe = Probe::Http(HttpProbe {
        method: "POST".into(),
        url: url.clone(),
        headers: vec![
            ("X-Token".into(), "a".into()),
            ("X-Token".into(), "b".into()),
        ],
        body: "{\"ping\":1}".into(),
        tls: TlsOptions::default(),
    });
    let report = run_probe(&probe, TIMEOUT).await;
    assert_eq!(
        report,
        Report::passing(format!(
            "HTTP POST {url}: 200 OK Output: POST {{\"ping\":1}} token=a,b ua=Consul Health Check host={}",
            server.addr
        ))
    );
    // Method defaults to GET; a redirect is followed.
    let moved = format!("http://{}/moved", server.addr);
    let report = run_probe(&http("", moved.clone(), TlsOptions::default()), TIMEOUT).await;
    assert_eq!(report.outcome, CheckOutcome::Passing);
    assert!(
        report
            .output
            .starts_with(&format!("HTTP GET {moved}: 200 OK Output: GET ")),
        "{report:?}"
    );
}

#[tokio::test]
async fn http_statuses_map_to_consul_statuses() {
    let server = http_server(None).await;
    let busy = format!("http://{}/busy", server.addr);
    let report = run_probe(&http("GET", busy.clone(), TlsOptions::default()), TIMEOUT).await;
    assert_eq!(
        report,
        Report::warning(format!(
            "HTTP GET {busy}: 429 Too Many Requests Output: slow down"
        ))
    );
    let fail = format!("http://{}/fail", server.addr);
    let report = run_probe(&http("GET", fail.clone(), TlsOptions::default()), TIMEOUT).await;
    assert_eq!(
        report,
        Report::critical(format!(
            "HTTP GET {fail}: 500 Internal Server Error Output: db down"
        ))
    );
    // The output keeps the last 4 KiB of a long body, as Consul's circular buffer does.
    let big = format!("http://{}/big", server.addr);
    let report = run_probe(&http("GET", big, TlsOptions::default()), TIMEOUT).await;
    let body = report
        .output
        .split_once(" Output: ")
        .map(|(_, b)| b)
        .unwrap_or("");
    assert_eq!((body.len(), body.ends_with("END")), (4096, true));
    // Nothing listening: critical, Go's wording.
    let port = closed_port().await;
    let gone = format!("http://127.0.0.1:{port}/echo");
    let report = run_probe(&http("GET", gone.clone(), TlsOptions::default()), TIMEOUT).await;
    assert!(matches!(report.outcome, CheckOutcome::Critical(_)));
    assert!(
        report
            .output
            .starts_with(&format!("Get \"{gone}\": dial tcp 127.0.0.1:{port}: ")),
        "{report:?}"
    );
}

#[tokio::test]
async fn https_verifies_unless_told_to_skip_and_honours_the_server_name() {
    if !support::openssl_available() {
        eprintln!("skipped: no openssl CLI to make a certificate");
        return;
    }
    let cert = Cert::new();
    let server = http_server(Some(cert.acceptor(&[b"http/1.1"]))).await;
    let url = format!("https://{}/echo", server.addr);
    // The system's roots do not trust a self-signed certificate.
    let report = run_probe(&http("GET", url.clone(), TlsOptions::default()), TIMEOUT).await;
    assert!(
        matches!(report.outcome, CheckOutcome::Critical(_)),
        "{report:?}"
    );
    assert!(report.output.contains("certificate"), "{report:?}");
    // TLSSkipVerify: accepted.
    let report = run_probe(&http("GET", url.clone(), skip()), TIMEOUT).await;
    assert_eq!(report.outcome, CheckOutcome::Passing, "{report:?}");
    assert!(report
        .output
        .starts_with(&format!("HTTP GET {url}: 200 OK Output: GET ")));
    // Trusted, but the certificate names checks.test, not 127.0.0.1 ...
    let trusted = TlsOptions {
        roots: Some(vec![cert.cert.clone()]),
        ..TlsOptions::default()
    };
    let report = run_probe(&http("GET", url.clone(), trusted.clone()), TIMEOUT).await;
    assert!(
        matches!(report.outcome, CheckOutcome::Critical(_)),
        "{report:?}"
    );
    // ... so TLSServerName makes it verify, and is the SNI the server sees.
    let named = TlsOptions {
        server_name: CERT_NAME.into(),
        ..trusted
    };
    let report = run_probe(&http("GET", url, named), TIMEOUT).await;
    assert_eq!(report.outcome, CheckOutcome::Passing, "{report:?}");
    assert!(server
        .sni
        .lock()
        .expect("sni")
        .contains(&CERT_NAME.to_string()));
}

fn grpc(target: String, use_tls: bool) -> Probe {
    Probe::Grpc(GrpcProbe {
        target,
        use_tls,
        tls: skip(),
    })
}

#[tokio::test]
async fn grpc_health_protocol() {
    let server = health_server(None).await;
    let target = server.addr.to_string();
    assert_eq!(
        run_probe(&grpc(target.clone(), false), TIMEOUT).await,
        Report::passing(format!("gRPC check {target}: success"))
    );
    assert_eq!(
        run_probe(&grpc(format!("{target}/db"), false), TIMEOUT).await,
        Report::critical(format!("gRPC {target}/db serving status: NOT_SERVING"))
    );
    assert_eq!(
        run_probe(&grpc(format!("{target}/nope"), false), TIMEOUT).await,
        Report::critical("rpc error: code = NotFound desc = unknown service")
    );
    let port = closed_port().await;
    let report = run_probe(&grpc(format!("127.0.0.1:{port}"), false), TIMEOUT).await;
    assert!(
        report.output.starts_with("rpc error: code = Unavailable"),
        "{report:?}"
    );
}

#[tokio::test]
async fn grpc_over_tls() {
    if !support::openssl_available() {
        eprintln!("skipped: no openssl CLI to make a certificate");
        return;
    }
    let cert = Cert::new();
    let server = health_server(Some(cert.acceptor(&[b"h2"]))).await;
    let target = server.addr.to_string();
    let report = run_probe(&grpc(target.clone(), true), TIMEOUT).await;
    assert_eq!(
        report,
        Report::passing(format!("gRPC check {target}: success"))
    );
    // Cleartext against a TLS server fails.
    let report = run_probe(&grpc(target, false), TIMEOUT).await;
    assert!(
        matches!(report.outcome, CheckOutcome::Critical(_)),
        "{report:?}"
    );
}

fn h2ping(addr: String, use_tls: bool) -> Probe {
    Probe::H2Ping(H2PingProbe {
        addr,
        use_tls,
        tls: skip(),
    })
}

#[tokio::test]
async fn h2ping_over_h2c_and_tls() {
    let h2c = health_server(None).await;
    assert_eq!(
        run_probe(&h2ping(h2c.addr.to_string(), false), TIMEOUT).await,
        Report::passing("HTTP2 ping was successful")
    );
    // An HTTP/1.1-only server does not answer an HTTP/2 PING.
    let http1 = http_server(None).await;
    let report = run_probe(
        &h2ping(http1.addr.to_string(), false),
        Duration::from_secs(2),
    )
    .await;
    assert!(
        matches!(report.outcome, CheckOutcome::Critical(_)),
        "{report:?}"
    );
    let port = closed_port().await;
    let report = run_probe(&h2ping(format!("127.0.0.1:{port}"), false), TIMEOUT).await;
    assert!(report.output.starts_with("Failed to dial to"), "{report:?}");
    if !support::openssl_available() {
        return;
    }
    let cert = Cert::new();
    let tls = health_server(Some(cert.acceptor(&[b"h2"]))).await;
    assert_eq!(
        run_probe(&h2ping(tls.addr.to_string(), true), TIMEOUT).await,
        Report::passing("HTTP2 ping was successful")
    );
}
