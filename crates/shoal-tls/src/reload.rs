//! Reloading certificates when their files change, as certbot or an ACME client
//! renews them: the files are polled (size, modification time, inode, so a
//! symlink swapped to a new target counts), a change is loaded once the files
//! stood still for one poll (a certificate and its key are rarely written at the
//! same instant), and a renewal that does not load keeps the old certificates.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use crate::certs::Certificates;
use crate::set::CertInfo;

/// What the files looked like: per file, (size, mtime in ns, inode, device), or
/// `None` when it cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint(Vec<Option<(u64, u128, u64, u64)>>);

impl Fingerprint {
    /// Of every certificate and key file of `certs`, following symlinks.
    pub fn of(certs: &Certificates) -> Fingerprint {
        Fingerprint(
            certs
                .sources()
                .iter()
                .flat_map(|s| [s.cert.as_path(), s.key.as_path()])
                .map(file_print)
                .collect(),
        )
    }
}

fn file_print(path: &Path) -> Option<(u64, u128, u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Some((m.len(), mtime, m.ino(), m.dev()))
}

/// What a poll does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The files are as last loaded (or last refused).
    Keep,
    /// They changed since the last poll: wait until they stand still.
    Settle,
    /// They changed and stood still for a poll: load them.
    Load,
}

/// The step for files that were `loaded`, looked like `previous` a poll ago, and like `now`.
pub fn decide(loaded: &Fingerprint, previous: &Fingerprint, now: &Fingerprint) -> Step {
    if now == loaded {
        Step::Keep
    } else if now != previous {
        Step::Settle
    } else {
        Step::Load
    }
}

/// The outcome of a reload.
#[derive(Debug, Clone)]
pub enum Reload {
    /// New handshakes get these.
    Loaded(Vec<CertInfo>),
    /// The files changed but do not load; the old certificates keep serving.
    Refused(String),
}

/// Polls `certs`' files every `every` until `stop`, reloading changed ones and
/// telling `on` each outcome.
pub async fn watch(
    certs: Arc<Certificates>,
    every: Duration,
    mut on: impl FnMut(Reload) + Send,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut loaded = Fingerprint::of(&certs);
    let mut previous = loaded.clone();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = tick.tick() => {}
        }
        let now = Fingerprint::of(&certs);
        if decide(&loaded, &previous, &now) == Step::Load {
            let c = certs.clone();
            let outcome = match tokio::task::spawn_blocking(move || c.reload()).await {
                Ok(Ok(info)) => Reload::Loaded(info),
                Ok(Err(e)) => Reload::Refused(e.to_string()),
                Err(e) => Reload::Refused(format!("the reload failed: {e}")),
            };
            on(outcome);
            loaded = now.clone();
        }
        previous = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(n: u64) -> Fingerprint {
        Fingerprint(vec![Some((n, 0, 0, 0))])
    }

    #[test]
    fn unchanged_files_are_kept() {
        assert_eq!(decide(&fp(1), &fp(1), &fp(1)), Step::Keep);
        // Changed and changed back before standing still.
        assert_eq!(decide(&fp(1), &fp(2), &fp(1)), Step::Keep);
    }

    #[test]
    fn a_change_waits_one_poll_then_loads() {
        assert_eq!(decide(&fp(1), &fp(1), &fp(2)), Step::Settle);
        assert_eq!(decide(&fp(1), &fp(2), &fp(2)), Step::Load);
        // Still being written.
        assert_eq!(decide(&fp(1), &fp(2), &fp(3)), Step::Settle);
    }

    #[test]
    fn a_vanished_file_is_a_change() {
        let gone = Fingerprint(vec![None]);
        assert_eq!(decide(&fp(1), &gone, &gone), Step::Load);
    }
}
