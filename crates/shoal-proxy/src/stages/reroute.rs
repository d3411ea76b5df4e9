//! Stage: the version reroute. Unpinned traffic that no instance of its drawn
//! version could serve (every connect refused: a host died and its records are
//! still listed; or, for an idempotent request, its last instance left
//! mid-rollout) is sent once more, to another version's instances.

use http::Method;

use crate::forward::{self, Failure, Outcome};
use crate::message::Answer;
use crate::resolve::Target;

/// The version to send the request to after `result` on `target`'s, if it should
/// go again: never a pinned request (it gets its version or nothing).
#[inline]
pub(crate) fn other_version<'t>(
    target: &Target<'t>,
    method: &Method,
    result: &Result<Answer, Failure>,
) -> Option<Target<'t>> {
    let unserved = match result {
        Err(Failure::Connect(_)) => true,
        Err(Failure::Left | Failure::Transport(_)) => forward::idempotent(method),
        _ => false,
    };
    if target.pinned || !unserved {
        return None;
    }
    let (version, endpoints) = target.route.other_version(target.version)?;
    Some(Target {
        version,
        endpoints,
        path: target.path.clone(),
        ..*target
    })
}

/// The rerouted call's outcome, the first call's attempts counted among its retries.
#[inline]
pub(crate) fn after<'r>(first: &Outcome<'r>, mut second: Outcome<'r>) -> Outcome<'r> {
    second.retries += first.retries + 1;
    second
}
