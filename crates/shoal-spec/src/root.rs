//! The top level of a service file: `[platform]`, `[services.*]`, `[flags.*]`, and checks across services.

use toml_edit::Table;

use crate::flags::read_flags;
use crate::platform::read_platform;
use crate::service::read_services;
use crate::types::Spec;
use crate::walk::{Ctx, Obj};

/// Reads a whole document; problems are collected in `cx`.
pub(crate) fn read_root(cx: &mut Ctx<'_>, root: &Table) -> Spec {
    let mut spec = Spec::empty(&cx.base_dir);
    let mut obj = Obj::from_table(String::new(), root, 0);
    let platform_f = obj.take("platform");
    let read = read_platform(cx, platform_f.as_ref());
    spec.platform = read.platform;
    if let Some(sf) = obj.take("services") {
        spec.services = read_services(cx, &sf);
    }
    if let Some(ff) = obj.take("flags") {
        spec.flags = read_flags(cx, &ff);
    }
    obj.finish(cx);

    let needed: u64 = spec
        .services
        .values()
        .map(|s| {
            let current = u64::from(
                s.scale
                    .as_ref()
                    .map_or(s.instances, |sc| sc.max.max(s.instances)),
            );
            let others: u64 = s
                .versions
                .values()
                .map(|v| u64::from(v.instances.unwrap_or(s.instances)))
                .sum();
            current + others + u64::from(s.deploy.max_surge)
        })
        .sum();
    let range = spec.platform.port_range;
    if needed > u64::from(range.len()) {
        let msg = format!(
            "`port_range` {range} holds {} ports but the services may run up to {needed} instances at once \
             (instances or scale.max, plus other versions and max_surge); widen the range",
            range.len()
        );
        cx.error(read.port_range_pos.unwrap_or(0), msg);
    }

    cx.sections
        .sort_by_key(|s| (s.location.line, s.location.column));
    spec.sections = std::mem::take(&mut cx.sections);
    spec
}
