//! HTTPS at the gateway and on the API, tried with real clients: curl (two SNI
//! names, two certificates; HTTP/2 by ALPN), openssl s_client (TLS 1.0 and 1.1
//! refused, sessions resumed), Python's ssl under load while the certificate is renewed on disk
//! (no failed request, new connections get the new one, an open connection goes
//! on), a broken renewal refused while the old one serves, the plain-HTTP
//! redirect, the CLI with `SHOAL_CACERT`, and bad files refused at start with
//! the setting's FILE:LINE:COLUMN.

mod common;
mod tls_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{APP, BIN};
use serde_json::Value;
use shoal_testkit::{wait_until, Platform};
use tls_support::{curl, peer_cn, s_client, Ca};

const HEALTHY: Duration = Duration::from_secs(30);

/// The test service behind the gateway, on every path.
const WEB: &str = r#"
[services.web]
command = ["python3", "app.py"]
routes = ["/"]
[services.web.health]
http = "/health"
interval = "200ms"
"#;

/// `[platform.tls]` for the default certificate `site` and the SNI one `api`;
/// the API over TLS too with `api`.
fn tls_lines(dir: &Path, api: bool) -> String {
    format!(
        "[platform.tls]\ncert = \"{d}/site.pem\"\nkey = \"{d}/site.key\"\nredirect = \"127.0.0.1:0\"\napi = {api}\n\n[platform.tls.certs.api]\ncert = \"{d}/api.pem\"\nkey = \"{d}/api.key\"\n",
        d = dir.display()
    )
}

/// The default leaf's names.
const SITE_SANS: &str = "DNS:localhost,DNS:shoal.test,DNS:*.shoal.test,IP:127.0.0.1";

/// `shoal up` of [`WEB`] with [`tls_lines`] for the certificates in `certs`, plus `files`.
fn https_web(certs: &Path, api: bool, files: &[(&str, &str)]) -> Platform {
    files
        .iter()
        .fold(
            Platform::builder(BIN).file("app.py", APP),
            |b, (name, text)| b.file(name, text),
        )
        .platform(&tls_lines(certs, api))
        .services(WEB)
        .start()
        .expect("shoal up")
}

/// A CA, the default leaf (serial 1) and the `api.test` leaf in `dir`.
fn certificates(dir: &Path) -> Ca {
    let ca = Ca::new(&dir.join("ca"));
    ca.leaf(dir, "site", SITE_SANS, 1);
    ca.leaf(dir, "api", "DNS:api.test", 100);
    ca
}

fn platform_events(p: &Platform, action: &str) -> Vec<Value> {
    common::events_with_action(p, "platform", action)
}

fn redirect_addr(p: &Platform) -> String {
    let v: Value = serde_json::from_slice(
        &std::fs::read(p.dir().join("data/endpoints.json")).expect("endpoints.json"),
    )
    .expect("json");
    v["redirect"]
        .as_str()
        .expect("a redirect listener")
        .to_string()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_gateway_serves_https_by_name_with_http2_and_only_modern_versions() {
    let certs = tempfile::tempdir().expect("tempdir");
    let ca = certificates(certs.path());
    let p = https_web(certs.path(), false, &[]);
    p.wait_healthy("web", 1, HEALTHY).expect("healthy");
    let port = p.gateway.port();

    // Two names, two certificates (and a wildcard name gets the default one).
    assert_eq!(
        peer_cn(&s_client(port, "api.test", &[])).as_deref(),
        Some("api")
    );
    assert_eq!(
        peer_cn(&s_client(port, "localhost", &[])).as_deref(),
        Some("site")
    );
    assert_eq!(
        peer_cn(&s_client(port, "www.shoal.test", &[])).as_deref(),
        Some("site")
    );
    for name in ["shoal.test", "api.test"] {
        let url = format!("https://{name}:{port}/hello");
        let out = curl(
            &ca.pem(),
            name,
            port,
            &["-w", "\n%{http_code} %{http_version}", &url],
        );
        let t = text(&out);
        assert!(out.status.success(), "curl {name}: {t}");
        assert!(t.ends_with("200 2"), "HTTP/2 by ALPN for {name}: {t}");
        assert!(t.contains("\"path\": \"/hello\""), "{t}");
    }
    // HTTP/1.1 over TLS when the client offers only that.
    let url = format!("https://shoal.test:{port}/one");
    let out = curl(
        &ca.pem(),
        "shoal.test",
        port,
        &["--http1.1", "-w", "\n%{http_version}", &url],
    );
    assert!(text(&out).ends_with("\n1.1"), "{}", text(&out));

    // TLS 1.2 and 1.3 are served; 1.0 and 1.1 are refused (the client allowed to offer them).
    for (flag, served) in [
        ("-tls1_3", true),
        ("-tls1_2", true),
        ("-tls1_1", false),
        ("-tls1", false),
    ] {
        let out = s_client(port, "localhost", &[flag, "-cipher", "DEFAULT@SECLEVEL=0"]);
        // "New, TLSv1.3, Cipher is …" once a handshake completed ("(NONE)" when
        // refused); the session details after it depend on when the ticket came.
        let handshake_done = out.contains("New, TLSv1") && !out.contains("Cipher is (NONE)");
        assert_eq!(handshake_done, served, "{flag}: {out}");
    }

    // Sessions resume, by TLS 1.3 tickets and TLS 1.2 tickets.
    for version in ["-tls1_3", "-tls1_2"] {
        let (first, second) = tls_support::resumes(port, "localhost", version, certs.path());
        assert!(first.starts_with("New, TLSv1."), "{version}: {first}");
        assert!(second.starts_with("Reused, TLSv1."), "{version}: {second}");
    }

    // The plain-HTTP listener sends every request to the same place over HTTPS.
    let redirect = redirect_addr(&p);
    let out = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
            "-H",
            "Host: shoal.test",
        ])
        .arg(format!("http://{redirect}/a/b?c=1"))
        .output()
        .expect("curl");
    assert_eq!(text(&out), format!("308 https://shoal.test:{port}/a/b?c=1"));
    // Followed, with the CA: the page itself.
    let out = curl(
        &ca.pem(),
        "shoal.test",
        port,
        &[
            "-L",
            "-H",
            "Host: shoal.test",
            "-w",
            "\n%{http_code}",
            &format!("http://{redirect}/x"),
        ],
    );
    assert!(text(&out).ends_with("\n200"), "{}", text(&out));
}

/// New TLS connections from 4 threads for `seconds`, each a GET; and one
/// keep-alive connection used before and after. Prints a JSON summary.
const LOAD: &str = r#"
import http.client, json, socket, ssl, sys, threading, time
port, ca, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
ctx = ssl.create_default_context(cafile=ca)
lock = threading.Lock()
results = []
end = time.time() + seconds
def one():
    while time.time() < end:
        t = time.time()
        try:
            s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname="localhost")
            serial = s.getpeercert()["serialNumber"]
            version = s.version()
            s.sendall(b"GET /renewal HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            s.close()
            err = None if data.startswith(b"HTTP/1.1 200") else data[:120].decode(errors="replace")
            with lock:
                results.append((t, serial, version, err))
        except Exception as e:
            with lock:
                results.append((t, None, None, repr(e)))
keep = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=5)
keep.request("GET", "/keep", headers={"Host": "web"})
r0 = keep.getresponse(); r0.read()
first = r0.status
sock = keep.sock
before = sock.getpeercert()["serialNumber"]
threads = [threading.Thread(target=one) for _ in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
keep.request("GET", "/keep", headers={"Host": "web"})
r = keep.getresponse(); r.read()
results.sort()
print(json.dumps({
    "total": len(results),
    "failures": [r[3] for r in results if r[3]],
    "serials": [r[1] for r in results],
    "versions": sorted(set(r[2] for r in results if r[2])),
    "keep": [first, r.status, keep.sock is sock, before],
}))
"#;

#[test]
fn a_renewed_certificate_is_served_to_new_connections_without_a_failed_request() {
    let certs = tempfile::tempdir().expect("tempdir");
    let ca = certificates(certs.path());
    let p = https_web(certs.path(), false, &[("load.py", LOAD)]);
    p.wait_healthy("web", 1, HEALTHY).expect("healthy");
    let port = p.gateway.port();

    let load = Command::new("python3")
        .arg(p.dir().join("load.py"))
        .arg(port.to_string())
        .arg(ca.pem())
        .arg("8")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("load runs");
    // Renewed as an ACME client does: new files written beside, then renamed over.
    std::thread::sleep(Duration::from_secs(2));
    let renewed = certs.path().join("renewed");
    std::fs::create_dir_all(&renewed).expect("dir");
    let (cert, key) = ca.leaf(&renewed, "site", SITE_SANS, 2);
    std::fs::rename(cert, certs.path().join("site.pem")).expect("rename cert");
    std::fs::rename(key, certs.path().join("site.key")).expect("rename key");
    wait_until("the renewal event", Duration::from_secs(10), || {
        (!platform_events(&p, "tls_reloaded").is_empty()).then_some(())
    })
    .expect("reloaded");

    let out = load.wait_with_output().expect("load ends");
    let summary: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("load output ({e}): {}", text(&out)));
    let serials: Vec<&str> = summary["serials"]
        .as_array()
        .expect("serials")
        .iter()
        .map(|s| s.as_str().unwrap_or("-"))
        .collect();
    eprintln!(
        "{} connections, versions {}, first {:?}, last {:?}",
        summary["total"],
        summary["versions"],
        serials.first(),
        serials.last()
    );
    assert_eq!(
        summary["failures"],
        serde_json::json!([]),
        "no request failed"
    );
    assert!(serials.len() > 50, "the load ran: {}", serials.len());
    assert_eq!(serials.first().copied(), Some("01"));
    // New connections after the reload get the new certificate, and keep getting it.
    let switched = serials
        .iter()
        .position(|s| *s == "02")
        .expect("the renewed certificate was served");
    assert!(
        serials[switched..].iter().all(|s| *s == "02"),
        "{serials:?}"
    );
    // The connection opened before the renewal went on serving on the same socket.
    assert_eq!(summary["keep"], serde_json::json!([200, 200, true, "01"]));

    // A broken renewal (another certificate's key) is refused; the renewed one keeps serving.
    std::fs::copy(certs.path().join("api.key"), certs.path().join("site.key"))
        .expect("break the key");
    let refused = wait_until("the refusal event", Duration::from_secs(10), || {
        platform_events(&p, "tls_refused").into_iter().next()
    })
    .expect("refused");
    let why = refused["message"].as_str().unwrap_or_default();
    assert!(why.contains("does not match the certificate"), "{refused}");
    assert!(why.contains("shoal.toml:"), "names the setting: {refused}");
    let url = format!("https://localhost:{port}/after");
    let out = curl(
        &ca.pem(),
        "localhost",
        port,
        &["-w", "\n%{http_code}", &url],
    );
    assert!(text(&out).ends_with("\n200"), "{}", text(&out));
}

#[test]
fn the_api_over_tls_works_with_the_cli_and_its_ca_file() {
    let certs = tempfile::tempdir().expect("tempdir");
    let ca = certificates(certs.path());
    let p = https_web(certs.path(), true, &[]);
    let https = format!("https://localhost:{}", p.http.port());
    let ps = |env: &[(&str, &str)]| {
        let out = p
            .cli_env(
                &["ps", "--json"],
                &[&[("SHOAL_ADDR", https.as_str())][..], env].concat(),
            )
            .expect("cli");
        (out.status.success(), text(&out))
    };
    let ca_path = ca.pem().display().to_string();
    wait_until("the CLI over HTTPS lists web", HEALTHY, || {
        let (ok, out) = ps(&[("SHOAL_CACERT", ca_path.as_str())]);
        (ok && out.contains("web-")).then_some(())
    })
    .expect("the CLI reads the API over TLS");
    // Without the CA the certificate is not trusted, and the CLI says so.
    let (ok, out) = ps(&[]);
    assert!(!ok && out.contains("UnknownIssuer"), "{out}");
    // Plain HTTP to a TLS API is not answered as HTTP.
    let plain = p
        .cli_env(&["ps"], &[("SHOAL_ADDR", &format!("http://{}", p.http))])
        .expect("cli");
    assert!(!plain.status.success());
    // curl with the CA, as any Consul client would with CONSUL_CACERT.
    let out = curl(
        &ca.pem(),
        "localhost",
        p.http.port(),
        &[&format!("{https}/v1/status/leader")],
    );
    assert!(out.status.success(), "{}", text(&out));
}

/// `shoal up` on a file whose `[platform.tls]` is `tls`: its exit status (None when
/// it was still running after 3 s, then stopped) and its standard error.
fn start_with(tls: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("shoal.toml");
    std::fs::write(
        &file,
        format!("[platform]\ndata_dir = \"data\"\nhttp = \"127.0.0.1:0\"\ngateway = \"127.0.0.1:0\"\ndns = \"127.0.0.1:0\"\nstatsd = \"127.0.0.1:0\"\n{tls}\n"),
    )
    .expect("write");
    let mut child = Command::new(BIN)
        .arg("up")
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("err")).expect("err file"))
        .spawn()
        .expect("shoal starts");
    let status = wait_until("shoal up to exit", Duration::from_secs(3), || {
        child.try_wait().ok().flatten()
    })
    .ok();
    if status.is_none() {
        let _ = Command::new("kill").arg(child.id().to_string()).status();
        let _ = child.wait();
    }
    let err = std::fs::read_to_string(dir.path().join("err")).unwrap_or_default();
    (status.and_then(|s| s.code()), err)
}

#[test]
fn bad_certificate_files_are_refused_at_start_where_they_are_configured() {
    let certs = tempfile::tempdir().expect("tempdir");
    let ca = certificates(certs.path());
    let d = certs.path().display();
    std::fs::write(certs.path().join("junk.pem"), "not a certificate\n").expect("write");
    let tls = |cert: &str, key: &str| {
        format!("[platform.tls]\ncert = \"{d}/{cert}\"\nkey = \"{d}/{key}\"\n")
    };
    for (file, says) in [
        // A missing file.
        (
            tls("nope.pem", "site.key"),
            ["shoal.toml:8:8: cannot read", "nope.pem"],
        ),
        // A key that is not the certificate's.
        (
            tls("site.pem", "api.key"),
            ["shoal.toml:8:8: the key in", "does not match"],
        ),
        // Not PEM at all.
        (
            tls("junk.pem", "site.key"),
            ["shoal.toml:8:8:", "no PEM certificate"],
        ),
        // A service's CA file for TLS to its instances that is not there.
        (
            format!("[services.s]\ncommand = \"true\"\n[services.s.tls]\nca = \"{d}/no-ca.pem\"\n"),
            ["shoal.toml:9:1: cannot read", "no-ca.pem"],
        ),
    ] {
        let (code, err) = start_with(&file);
        assert_eq!(code, Some(1), "{file}: {err}");
        assert!(says.iter().all(|s| err.contains(s)), "{file}: {err}");
    }
    // An expired certificate starts, with a warning naming its end.
    let expired = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shoal-tls/tests/data");
    let (code, err) = start_with(&format!(
        "[platform.tls]\ncert = \"{e}/expired.pem\"\nkey = \"{e}/expired.key\"\n",
        e = expired.display()
    ));
    assert_eq!(code, None, "still running: {err}");
    assert!(err.contains("expired on 2021-01-01T00:00:00Z"), "{err}");
    drop(ca);
}

#[test]
fn an_api_beyond_loopback_needs_tls_or_an_explicit_opt_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("shoal.toml");
    std::fs::write(&file, "[platform]\ndata_dir = \"data\"\nhttp = \"0.0.0.0:0\"\ngateway = \"127.0.0.1:0\"\ndns = \"127.0.0.1:0\"\nstatsd = \"127.0.0.1:0\"\n[platform.tokens.ops]\nenv = \"SHOAL_TLS_TEST_TOKEN\"\nrights = [\"read\"]\n").expect("write");
    let out = Command::new(BIN)
        .arg("up")
        .arg(&file)
        .env("SHOAL_TLS_TEST_TOKEN", "a-token-long-enough-0123456789")
        .output()
        .expect("shoal runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("in clear text") && err.contains("api = true"),
        "{err}"
    );
}

/// An instance that only speaks HTTPS (Python's ssl), with the certificate and
/// key named by `CERT` and `KEY`; answers every path with its path.
const TLS_APP: &str = r#"
import json, os, ssl
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
PEERS = set()
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path != "/health":
            PEERS.add(self.client_address)
        body = json.dumps({"path": self.path, "tls": True, "connections": len(PEERS)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, fmt, *args):
        pass
srv = ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(os.environ["CERT"], os.environ["KEY"])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
"#;

#[test]
fn the_proxy_and_health_checks_speak_tls_to_instances_that_only_accept_it() {
    let certs = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new(&certs.path().join("ca"));
    let d = certs.path().display();
    // `secure` is checked against the CA under its own name; `skipping` shows a
    // certificate for another name and says skip_verify; `wrong` shows the same
    // certificate without skip_verify, so it is refused.
    ca.leaf(certs.path(), "secure", "DNS:secure", 10);
    ca.leaf(certs.path(), "other", "DNS:other.example", 11);
    let service = |name: &str, cert: &str, tls: &str| {
        format!(
            "[services.{name}]\ncommand = [\"python3\", \"tls_app.py\"]\nenv = {{ CERT = \"{d}/{cert}.pem\", KEY = \"{d}/{cert}.key\" }}\n[services.{name}.health]\nhttp = \"/health\"\ninterval = \"200ms\"\n[services.{name}.tls]\n{tls}\n"
        )
    };
    let services = [
        service(
            "secure",
            "secure",
            &format!("ca = \"{}\"", ca.pem().display()),
        ),
        service("skipping", "other", "skip_verify = true"),
        service(
            "wrong",
            "other",
            &format!("ca = \"{}\"", ca.pem().display()),
        ),
    ]
    .concat();
    let p = Platform::builder(BIN)
        .file("tls_app.py", TLS_APP)
        .services(&services)
        .start()
        .expect("shoal up");
    p.wait_healthy("secure", 1, HEALTHY)
        .expect("secure healthy over HTTPS");
    p.wait_healthy("skipping", 1, HEALTHY)
        .expect("skipping healthy over HTTPS");
    // Keep-alive through the pool: the instance's TLS 1.3 tickets must not make
    // a pooled connection look closed, and every request is answered.
    let mut last = Value::Null;
    for i in 0..20 {
        for name in ["secure", "skipping"] {
            let r = p.gateway(name, &format!("/n/{i}")).expect("gateway");
            assert_eq!(r.status, 200, "{name}: {}", r.text());
            assert!(
                r.text().contains(&format!("\"path\": \"/n/{i}\"")),
                "{}",
                r.text()
            );
            last = r.json();
        }
    }
    // 20 requests each came over a few kept connections (a pool per serving
    // thread), not a handshake each.
    let connections = last["connections"].as_u64().expect("connections");
    eprintln!("connections to the instance: {connections}");
    assert!(
        connections <= 4,
        "connections to the instance: {connections}"
    );
    // The certificate that does not verify: never healthy, never served.
    let wrong = wait_until("wrong's failed check", HEALTHY, || {
        p.instances("wrong")
            .into_iter()
            .find(|i| i["state"] == "running" && i["health"] == "critical")
    })
    .expect("wrong is checked and failing");
    let r = p.gateway("wrong", "/").expect("gateway");
    assert_eq!(r.status, 503, "{}", r.text());
    drop(wrong);
}
