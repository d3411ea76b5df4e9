//! Certificates for the TLS tests, made by the openssl CLI: a CA, leaves signed
//! by it (with their SANs), and the real clients the tests use (curl, openssl
//! s_client, Python's ssl).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A CA in `dir` (`ca.pem`, `ca.key`).
pub struct Ca {
    pub dir: PathBuf,
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("openssl runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A new ECDSA P-256 key in `path` (PKCS#8 PEM).
fn ec_key(path: &Path) {
    run(Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(path));
}

impl Ca {
    pub fn new(dir: &Path) -> Ca {
        std::fs::create_dir_all(dir).expect("ca dir");
        let key = dir.join("ca.key");
        ec_key(&key);
        run(Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-new",
                "-subj",
                "/CN=Shoal test CA",
                "-days",
                "30",
            ])
            .args([
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign",
            ])
            .arg("-key")
            .arg(&key)
            .arg("-out")
            .arg(dir.join("ca.pem")));
        Ca {
            dir: dir.to_owned(),
        }
    }

    pub fn pem(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A leaf for `sans` (`DNS:a,IP:127.0.0.1`) written to `NAME.pem` and `NAME.key`
    /// in `out`, with `serial` as its serial number (to tell renewals apart).
    pub fn leaf(&self, out: &Path, name: &str, sans: &str, serial: u32) -> (PathBuf, PathBuf) {
        let (cert, key) = (
            out.join(format!("{name}.pem")),
            out.join(format!("{name}.key")),
        );
        let (csr, ext) = (
            out.join(format!("{name}.csr")),
            out.join(format!("{name}.ext")),
        );
        ec_key(&key);
        run(Command::new("openssl")
            .args(["req", "-new", "-subj", &format!("/CN={name}"), "-key"])
            .arg(&key)
            .arg("-out")
            .arg(&csr));
        std::fs::write(
            &ext,
            format!(
                "subjectAltName={sans}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
            ),
        )
        .expect("ext");
        run(Command::new("openssl")
            .args([
                "x509",
                "-req",
                "-days",
                "30",
                "-set_serial",
                &serial.to_string(),
            ])
            .arg("-in")
            .arg(&csr)
            .arg("-CA")
            .arg(self.pem())
            .arg("-CAkey")
            .arg(self.dir.join("ca.key"))
            .arg("-extfile")
            .arg(&ext)
            .arg("-out")
            .arg(&cert));
        let _ = std::fs::remove_file(csr);
        let _ = std::fs::remove_file(ext);
        (cert, key)
    }
}

/// `curl` with the CA, `NAME:PORT` resolved to 127.0.0.1, and `args`.
pub fn curl(ca: &Path, name: &str, port: u16, args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(ca)
        .arg("--resolve")
        .arg(format!("{name}:{port}:127.0.0.1"))
        .args(args)
        .output()
        .expect("curl runs")
}

/// `openssl s_client` to 127.0.0.1:`port` asking for `sni`, with `extra` options;
/// its whole output (the handshake's result is in it).
pub fn s_client(port: u16, sni: &str, extra: &[&str]) -> String {
    let out = Command::new("timeout")
        .args(["10", "openssl", "s_client", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-servername", sni])
        .args(extra)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The subject CN of the certificate `s_client`'s output shows, e.g. `api.test`.
pub fn peer_cn(s_client_output: &str) -> Option<String> {
    s_client_output
        .lines()
        .find(|l| l.trim_start().starts_with("subject="))
        .and_then(|l| l.split("CN = ").nth(1).or_else(|| l.split("CN=").nth(1)))
        .map(|cn| cn.split(',').next().unwrap_or(cn).trim().to_string())
}

/// Whether a second connection resumes the first's session (`openssl s_client`
/// with `-sess_out`, then `-sess_in`; each held open 1 s so that a TLS 1.3 ticket,
/// sent after the handshake, arrives): "New" then "Reused" per version flag.
pub fn resumes(port: u16, sni: &str, version: &str, dir: &Path) -> (String, String) {
    let sess = dir.join(format!("session{version}.pem"));
    let run = |mode: &str| {
        let script = format!(
            "sleep 1 | timeout 10 openssl s_client -connect 127.0.0.1:{port} -servername {sni} {version} {mode} {} 2>/dev/null | grep -E '^(New|Reused),'",
            sess.display()
        );
        let out = Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .expect("openssl runs");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    (run("-sess_out"), run("-sess_in"))
}
