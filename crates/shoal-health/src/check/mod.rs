//! `run_check`: runs one health check of any kind under a timeout.

mod exec;
pub(crate) mod http;
mod tcp;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::outcome::{CheckKind, CheckOutcome};

/// Output kept from a check (HTTP body or exec output), like Consul's 4 KiB.
pub const MAX_OUTPUT_BYTES: usize = 4096;

/// Runs one check against `addr`; never takes much longer than `timeout`.
///
/// `env` and `cwd` are the instance's and only matter for `Exec`, whose whole
/// process group is killed when it runs out of time.
pub async fn run_check(
    kind: &CheckKind,
    addr: SocketAddr,
    timeout: Duration,
    env: &[(String, String)],
    cwd: &Path,
) -> CheckOutcome {
    let outcome = match kind {
        CheckKind::Http { path } => {
            let path = http::normalize(path);
            match tokio::time::timeout(timeout, http::check(addr, &path)).await {
                Ok(outcome) => outcome,
                Err(_) => CheckOutcome::Critical(format!(
                    "HTTP GET http://{addr}{path}: timed out after {timeout:?}"
                )),
            }
        }
        CheckKind::Tcp => match tokio::time::timeout(timeout, tcp::check(addr)).await {
            Ok(outcome) => outcome,
            Err(_) => {
                CheckOutcome::Critical(format!("TCP connect {addr}: timed out after {timeout:?}"))
            }
        },
        CheckKind::Exec { argv } => exec::check(argv, timeout, env, cwd).await,
    };
    tracing::trace!(%addr, ?outcome, "health check ran");
    outcome
}

/// `bytes` as text of at most [`MAX_OUTPUT_BYTES`], cut on a character boundary and trimmed.
pub(crate) fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_OUTPUT_BYTES)]);
    let mut text = text.trim().to_string();
    while text.len() > MAX_OUTPUT_BYTES {
        text.pop();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_are_trimmed_lossy_and_bounded() {
        assert_eq!(snippet(b"  ok\n"), "ok");
        assert_eq!(snippet(b"a\xffb"), "a\u{fffd}b");
        let long = vec![b'x'; MAX_OUTPUT_BYTES * 2];
        assert_eq!(snippet(&long).len(), MAX_OUTPUT_BYTES);
    }
}
