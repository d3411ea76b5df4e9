//! Accepting a connection: errors such as EMFILE back off (5 ms doubling to 1 s,
//! reset by a success) instead of spinning, and are logged once per run of errors.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// The first pause after a failed accept.
pub const BACKOFF_FIRST: Duration = Duration::from_millis(5);
/// The longest pause between failed accepts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// The pauses of one run of failed accepts: pure, so its sequence is tested on its own.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AcceptBackoff {
    /// The next pause; `None` outside a run of errors.
    next: Option<Duration>,
    /// Errors in the current run.
    errors: u64,
}

impl AcceptBackoff {
    /// After a failed accept: how long to pause, and whether this error starts a
    /// run (the one to log).
    pub fn failed(&mut self) -> (Duration, bool) {
        self.errors += 1;
        let pause = self.next.unwrap_or(BACKOFF_FIRST);
        let first = self.next.is_none();
        self.next = Some((pause * 2).min(BACKOFF_MAX));
        (pause, first)
    }

    /// After a successful accept: how many errors the run that just ended had, if one did.
    pub fn succeeded(&mut self) -> Option<u64> {
        self.next.take()?;
        Some(std::mem::take(&mut self.errors))
    }
}

/// Errors that concern one connection only (it was reset before it was accepted):
/// the next accept is tried at once.
fn of_one_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// The next connection on `listener`. Other errors (EMFILE, ENFILE, ENOBUFS)
/// pause as `backoff` says, with one warning per run and one line when
/// accepting works again. Cancel-safe: drop it to stop waiting.
pub async fn accept(
    listener: &TcpListener,
    backoff: &mut AcceptBackoff,
    what: &str,
) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(conn) => {
                if let Some(errors) = backoff.succeeded() {
                    tracing::info!(listener = what, errors, "accepting connections again");
                }
                return conn;
            }
            Err(e) if of_one_connection(&e) => continue,
            Err(e) => {
                let (pause, first) = backoff.failed();
                if first {
                    tracing::warn!(
                        listener = what,
                        error = %e,
                        "accept failed; retrying with backoff (5 ms doubling to 1 s) until it succeeds"
                    );
                }
                tokio::time::sleep(pause).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn pauses_double_from_5_ms_up_to_1_s() {
        let mut b = AcceptBackoff::default();
        let pauses: Vec<Duration> = (0..10).map(|_| b.failed().0).collect();
        assert_eq!(
            pauses,
            [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000].map(ms)
        );
    }

    #[test]
    fn only_the_first_error_of_a_run_is_logged() {
        let mut b = AcceptBackoff::default();
        assert!(b.failed().1);
        assert!(!b.failed().1);
        assert!(!b.failed().1);
    }

    #[test]
    fn a_success_ends_the_run_and_resets_the_pause() {
        let mut b = AcceptBackoff::default();
        assert_eq!(b.succeeded(), None, "no run, nothing to report");
        for _ in 0..4 {
            b.failed();
        }
        assert_eq!(b.succeeded(), Some(4));
        assert_eq!(b.succeeded(), None, "reported once");
        assert_eq!(b.failed(), (ms(5), true), "a new run starts over");
    }

    #[tokio::test]
    async fn a_connection_is_accepted() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = tokio::spawn(TcpStream::connect(addr));
        let mut b = AcceptBackoff::default();
        let (_, peer) = accept(&listener, &mut b, "test").await;
        let client = client.await.expect("join").expect("connect");
        assert_eq!(Some(peer), client.local_addr().ok());
    }
}
