//! `[services.S.health]`: the readiness check (http, tcp or exec) and its timing.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::command::read_argv;
use crate::values::{boolean, duration, positive_duration, string, u32_in};
use crate::walk::{Ctx, Field, Obj};

/// What a health check does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// `http = "/health"`: GET the path on the instance's `PORT`; 2xx is healthy.
    Http { path: String },
    /// `tcp = true`: a TCP connect to the instance's `PORT` succeeds.
    Tcp,
    /// `exec = ["./check"]`: the program exits 0 (programs with `/` are relative to `base_dir`).
    Exec { argv: Vec<String> },
}

/// `[services.S.health]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthSpec {
    /// Exactly one of `http`, `tcp = true`, `exec`.
    pub check: CheckKind,
    /// Between checks. Default 1s.
    pub interval: Duration,
    /// Per check. Default 500ms.
    pub timeout: Duration,
    /// Consecutive passes to become healthy. Default 1.
    pub healthy_threshold: u32,
    /// Consecutive failures to become unhealthy. Default 2.
    pub unhealthy_threshold: u32,
    /// Startup time before failures count. Default 10s.
    pub grace: Duration,
    /// Unhealthy this long: restart the instance (liveness). Default none.
    pub restart_after: Option<Duration>,
}

impl HealthSpec {
    /// A check of `kind` with default timing.
    pub fn new(check: CheckKind) -> Self {
        HealthSpec {
            check,
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            healthy_threshold: 1,
            unhealthy_threshold: 2,
            grace: Duration::from_secs(10),
            restart_after: None,
        }
    }
}

const MAX_THRESHOLD: u32 = 1000;

fn http_path(cx: &mut Ctx<'_>, f: &Field<'_>) -> Option<CheckKind> {
    let path = string(cx, f)?;
    if !path.starts_with('/') || path.chars().any(char::is_whitespace) {
        let msg = format!(
            "health `http` must be a path starting with `/` (e.g. \"/health\"), found {path:?}"
        );
        cx.error(f.value_pos(), msg);
        return None;
    }
    Some(CheckKind::Http { path })
}

pub(crate) fn read_health(cx: &mut Ctx<'_>, f: &Field<'_>, path: String) -> Option<HealthSpec> {
    let mut obj = Obj::open(cx, f, path)?;
    // (kind, where it was written); `None` kind means the field was present but invalid.
    let mut kinds: Vec<(&str, usize, Option<CheckKind>)> = Vec::new();
    if let Some(hf) = obj.take("http") {
        kinds.push(("http", hf.key_pos, http_path(cx, &hf)));
    }
    if let Some(tf) = obj.take("tcp") {
        match boolean(cx, &tf) {
            Some(true) => kinds.push(("tcp", tf.key_pos, Some(CheckKind::Tcp))),
            Some(false) => {}
            None => kinds.push(("tcp", tf.key_pos, None)),
        }
    }
    if let Some(ef) = obj.take("exec") {
        let argv = read_argv(cx, &ef, "health check program");
        kinds.push((
            "exec",
            ef.key_pos,
            argv.map(|argv| CheckKind::Exec { argv }),
        ));
    }
    let mut spec = HealthSpec::new(CheckKind::Tcp);
    obj.set(cx, "interval", &mut spec.interval, positive_duration);
    obj.set(cx, "timeout", &mut spec.timeout, positive_duration);
    obj.set(
        cx,
        "healthy_threshold",
        &mut spec.healthy_threshold,
        u32_in(1, MAX_THRESHOLD),
    );
    obj.set(
        cx,
        "unhealthy_threshold",
        &mut spec.unhealthy_threshold,
        u32_in(1, MAX_THRESHOLD),
    );
    obj.set(cx, "grace", &mut spec.grace, duration);
    spec.restart_after = obj.get(cx, "restart_after", positive_duration);
    let (pos, path) = (obj.pos, obj.path.clone());
    obj.finish(cx);

    match kinds.as_slice() {
        [] => {
            let msg = format!("[{path}] needs a check: `http = \"/health\"`, `tcp = true` or `exec = [\"./check\"]`");
            cx.error(pos, msg);
            None
        }
        [(_, _, kind)] => {
            spec.check = kind.clone()?;
            Some(spec)
        }
        [(first, _, _), rest @ ..] => {
            for (name, at, _) in rest {
                cx.error(*at, format!("`{name}` conflicts with `{first}`: a health check has exactly one of `http`, `tcp`, `exec`"));
            }
            None
        }
    }
}
