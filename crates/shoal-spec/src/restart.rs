//! `[services.S.restart]`: the backoff between restarts of a crashed instance.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::values::positive_duration;
use crate::walk::{Ctx, Field, Obj};

/// `[services.S.restart]` with `backoff = { initial, max }`: the delay before a restart
/// starts at `initial` and doubles per consecutive crash up to `max`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestartSpec {
    /// Default 100ms.
    pub initial: Duration,
    /// Default 30s; at least `initial`.
    pub max: Duration,
}

impl Default for RestartSpec {
    fn default() -> Self {
        RestartSpec {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
        }
    }
}

pub(crate) fn read_restart(cx: &mut Ctx<'_>, f: &Field<'_>, path: String) -> RestartSpec {
    let mut spec = RestartSpec::default();
    let Some(mut obj) = Obj::open(cx, f, path) else {
        return spec;
    };
    if let Some(bf) = obj.take("backoff") {
        if let Some(mut backoff) = Obj::open(cx, &bf, format!("{}.backoff", obj.path)) {
            backoff.set(cx, "initial", &mut spec.initial, positive_duration);
            let max_field = backoff.take("max");
            if let Some(mf) = max_field {
                if let Some(max) = positive_duration(cx, &mf) {
                    if max < spec.initial {
                        let msg = format!(
                            "backoff `max` ({}) must be at least `initial` ({})",
                            humantime::format_duration(max),
                            humantime::format_duration(spec.initial)
                        );
                        cx.error(mf.value_pos(), msg);
                    } else {
                        spec.max = max;
                    }
                }
            } else if spec.max < spec.initial {
                spec.max = spec.initial;
            }
            backoff.finish(cx);
        }
    }
    obj.finish(cx);
    spec
}
