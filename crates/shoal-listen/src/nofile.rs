//! The process's open-file limit (`RLIMIT_NOFILE`): read it, and raise the soft limit to the hard one at start.

use std::sync::OnceLock;

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// The limit used when the hard limit is unlimited (Linux never reports that
/// for open files; other systems refuse a soft limit above their own maximum).
const UNLIMITED_TARGET: u64 = 1 << 20;

/// What [`raise`] found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raised {
    /// The soft limit before.
    pub before: u64,
    /// The soft limit now.
    pub now: u64,
    /// The hard limit.
    pub hard: u64,
}

static RAISED: OnceLock<Raised> = OnceLock::new();

/// Raises the soft open-file limit to the hard limit and remembers what it got
/// (see [`raised`]). Call it once, at start, before any listener.
pub fn raise() -> std::io::Result<Raised> {
    let (before, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    let target = if hard == nix::sys::resource::RLIM_INFINITY {
        UNLIMITED_TARGET
    } else {
        hard
    };
    let now = if before < target {
        setrlimit(Resource::RLIMIT_NOFILE, target, hard)?;
        target
    } else {
        before
    };
    let raised = Raised { before, now, hard };
    let _ = RAISED.set(raised);
    Ok(raised)
}

/// What [`raise`] did in this process, if it was called.
pub fn raised() -> Option<Raised> {
    RAISED.get().copied()
}

/// The current soft open-file limit (`None` when it cannot be read).
pub fn soft_limit() -> Option<u64> {
    getrlimit(Resource::RLIMIT_NOFILE)
        .ok()
        .map(|(soft, _)| soft)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_reaches_the_hard_limit_and_is_remembered() {
        let raised = raise().expect("raise");
        assert!(raised.now >= raised.before);
        assert_eq!(soft_limit(), Some(raised.now));
        assert_eq!(super::raised(), Some(raised));
    }
}
