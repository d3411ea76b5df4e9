//! `[services.NAME]`: one service's fields, its side-by-side versions and its routes.

use std::collections::BTreeMap;

use toml_edit::Value;

use crate::command::read_command;
use crate::deploy::read_deploy;
use crate::env::read_env;
use crate::health::read_health;
use crate::resilience::read_resilience;
use crate::restart::read_restart;
use crate::scale::read_scale;
use crate::types::{Command, Protocol, ServiceSpec, VersionSpec, PROTOCOLS};
use crate::values::{boolean, choice, string, string_array, u32_in, MAX_INSTANCES};
use crate::walk::{Ctx, Field, Obj};

/// `[a-z0-9-]{1,63}`, not starting or ending with `-`.
pub(crate) fn is_dns_label(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// `[A-Za-z0-9._-]{1,63}`.
pub(crate) fn is_version_label(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

pub(crate) fn read_services(cx: &mut Ctx<'_>, f: &Field<'_>) -> BTreeMap<String, ServiceSpec> {
    let mut out = BTreeMap::new();
    let Some(mut obj) = Obj::open_unrecorded(cx, f, "services".to_owned()) else {
        return out;
    };
    let fields = obj.drain();
    cx.service_names = fields.iter().map(|sf| sf.name.to_owned()).collect();
    for sf in &fields {
        if !is_dns_label(sf.name) {
            let msg = format!(
                "invalid service name `{}`: use 1 to 63 lower-case letters, digits or `-`, not starting or ending with `-`",
                sf.name
            );
            cx.error(sf.key_pos, msg);
        }
        if let Some(service) = read_service(cx, sf) {
            out.insert(sf.name.to_owned(), service);
        }
    }
    obj.finish(cx);
    out
}

fn read_version_label(cx: &mut Ctx<'_>, f: &Field<'_>) -> Option<String> {
    let label = match f.value() {
        Some(Value::Integer(i)) if *i.value() >= 0 => i.value().to_string(),
        _ => string(cx, f)?,
    };
    if !is_version_label(&label) {
        let msg =
            format!("invalid version {label:?}: use 1 to 63 letters, digits, `.`, `_` or `-`");
        cx.error(f.value_pos(), msg);
        return None;
    }
    Some(label)
}

fn read_service(cx: &mut Ctx<'_>, f: &Field<'_>) -> Option<ServiceSpec> {
    let mut obj = Obj::open(cx, f, format!("services.{}", f.name))?;
    let path = obj.path.clone();
    let command = obj.get(cx, "command", read_command);
    if command.is_none() && obj.take("command").is_none() {
        obj.missing(cx, "command");
    }
    // A placeholder keeps the walk going; the file is refused anyway when it is used.
    let mut spec = ServiceSpec::new(f.name, command.clone().unwrap_or(Command::Argv(Vec::new())));
    obj.set(cx, "version", &mut spec.version, read_version_label);
    let instances_f = obj.take("instances");
    let instances = instances_f
        .as_ref()
        .and_then(|inf| u32_in(0, MAX_INSTANCES)(cx, inf));
    if let Some(ef) = obj.take("env") {
        spec.env = read_env(cx, &ef, &format!("{path}.env"));
    }
    if let Some(rf) = obj.take("routes") {
        spec.routes = read_routes(cx, &rf, f.name);
    }
    if let Some(hf) = obj.take("health") {
        spec.health = read_health(cx, &hf, format!("{path}.health"));
    }
    if let Some(rf) = obj.take("restart") {
        spec.restart = read_restart(cx, &rf, format!("{path}.restart"));
    }
    if let Some(df) = obj.take("deploy") {
        spec.deploy = read_deploy(cx, &df, format!("{path}.deploy"));
    }
    if let Some(vf) = obj.take("versions") {
        spec.versions = read_versions(cx, &vf, &path, &spec.version);
    }
    if let Some(i) = obj.get(cx, "protocol", choice(PROTOCOLS)) {
        spec.protocol = [Protocol::Http1, Protocol::H2c][i];
    }
    if let Some(rf) = obj.take("resilience") {
        spec.resilience = read_resilience(cx, &rf, format!("{path}.resilience"));
    }
    if let Some(rf) = obj.take("resources") {
        spec.resources = read_resources(cx, &rf, format!("{path}.resources"));
    }
    if let Some(cf) = obj.take("constraints") {
        spec.constraints = read_constraints(cx, &cf, format!("{path}.constraints"));
    }
    obj.set(cx, "allow_external", &mut spec.allow_external, boolean);
    if let Some(tf) = obj.take("tls") {
        spec.tls = crate::tls::read_service_tls(cx, &tf, format!("{path}.tls"));
        if spec.tls.is_some() && spec.protocol == Protocol::H2c {
            cx.error(tf.value_pos(), "`tls` cannot be used with protocol = \"h2c\" (HTTP/2 without TLS); TLS to instances speaks HTTP/1.1");
        }
    }
    let scale = obj
        .take("scale")
        .and_then(|sf| read_scale(cx, &sf, format!("{path}.scale")));
    obj.finish(cx);

    spec.instances = match (&scale, instances_f.as_ref().zip(instances)) {
        (None, n) => n.map_or(1, |(_, n)| n),
        (Some(sc), None) => sc.clamp(1),
        (Some(sc), Some((inf, n))) => {
            if sc.clamp(n) != n {
                let msg = format!(
                    "`instances` ({n}) must be within scale bounds {}..={}",
                    sc.min, sc.max
                );
                cx.error(inf.value_pos(), msg);
            }
            n
        }
    };
    spec.scale = scale;
    command.map(|_| spec)
}

/// `resources = { cpu = 0.5 | "500m", memory = "256MiB" | "1GiB" | 256 }` (memory in MiB).
fn read_resources(cx: &mut Ctx<'_>, f: &Field<'_>, path: String) -> crate::types::ResourceRequest {
    let mut out = crate::types::ResourceRequest::default();
    let Some(mut obj) = Obj::open(cx, f, path) else {
        return out;
    };
    if let Some(cf) = obj.take("cpu") {
        let text = crate::values::scalar_text(&cf);
        match text.as_deref().and_then(parse_cpu) {
            Some(m) => out.cpu_millis = m,
            None => cx.error(
                cf.value_pos(),
                format!(
                    "invalid `cpu` {}: write cores (0.5) or millicores (\"500m\")",
                    shown(text)
                ),
            ),
        }
    }
    if let Some(mf) = obj.take("memory") {
        let text = crate::values::scalar_text(&mf);
        match text.as_deref().and_then(parse_memory) {
            Some(m) => out.memory_mb = m,
            None => cx.error(
                mf.value_pos(),
                format!(
                    "invalid `memory` {}: write \"256MiB\", \"1GiB\" or a number of MiB",
                    shown(text)
                ),
            ),
        }
    }
    obj.finish(cx);
    out
}

fn shown(text: Option<String>) -> String {
    text.map_or_else(|| "value".to_owned(), |t| format!("{t:?}"))
}

fn parse_cpu(s: &str) -> Option<u64> {
    let s = s.trim().trim_matches('"');
    if let Some(m) = s.strip_suffix('m') {
        return m.parse::<u64>().ok();
    }
    let cores: f64 = s.parse().ok()?;
    (cores.is_finite() && (0.0..=10_000.0).contains(&cores))
        .then(|| (cores * 1000.0).round() as u64)
}

fn parse_memory(s: &str) -> Option<u64> {
    let s = s.trim().trim_matches('"');
    let (num, factor) = if let Some(n) = s.strip_suffix("GiB") {
        (n, 1024)
    } else if let Some(n) = s.strip_suffix("MiB") {
        (n, 1)
    } else {
        (s, 1)
    };
    num.trim().parse::<u64>().ok()?.checked_mul(factor)
}

/// `constraints = { disk = "ssd" }`: node labels an instance's node must carry.
fn read_constraints(cx: &mut Ctx<'_>, f: &Field<'_>, path: String) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(mut obj) = Obj::open(cx, f, path) else {
        return out;
    };
    for field in obj.drain() {
        if let Some(v) = string(cx, &field) {
            out.insert(field.name.to_owned(), v);
        }
    }
    out
}

fn read_routes(cx: &mut Ctx<'_>, f: &Field<'_>, service: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (route, pos) in string_array(cx, f).unwrap_or_default() {
        if !route.starts_with('/')
            || route
                .chars()
                .any(|c| c.is_whitespace() || c == '?' || c == '#')
        {
            let msg = format!("invalid route {route:?}: a route is a path prefix starting with `/`, like \"/profile\"");
            cx.error(pos, msg);
            continue;
        }
        if let Some(owner) = cx.routes.get(&route) {
            let msg = if owner == service {
                format!("route {route:?} is listed twice")
            } else {
                format!("route {route:?} is already routed to service `{owner}`")
            };
            cx.error(pos, msg);
            continue;
        }
        cx.routes.insert(route.clone(), service.to_owned());
        out.push(route);
    }
    out
}

fn read_versions(
    cx: &mut Ctx<'_>,
    f: &Field<'_>,
    path: &str,
    current: &str,
) -> BTreeMap<String, VersionSpec> {
    let mut out = BTreeMap::new();
    let Some(mut obj) = Obj::open_unrecorded(cx, f, format!("{path}.versions")) else {
        return out;
    };
    for vf in obj.drain() {
        let label = vf.name;
        if !is_version_label(label) {
            let msg = format!(
                "invalid version label `{label}`: use 1 to 63 letters, digits, `.`, `_` or `-`"
            );
            cx.error(vf.key_pos, msg);
        } else if label == current {
            let msg = format!("version `{label}` is the service's current `version`; [versions.{label}] is for other versions");
            cx.error(vf.key_pos, msg);
        }
        let Some(mut vobj) = Obj::open(cx, &vf, format!("{}.{label}", obj.path)) else {
            continue;
        };
        let version = VersionSpec {
            command: vobj.get(cx, "command", read_command),
            instances: vobj.get(cx, "instances", u32_in(0, MAX_INSTANCES)),
            env: vobj
                .take("env")
                .map(|ef| read_env(cx, &ef, &format!("{}.env", vobj.path)))
                .unwrap_or_default(),
        };
        vobj.finish(cx);
        out.insert(label.to_owned(), version);
    }
    obj.finish(cx);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("web"));
        assert!(is_dns_label("a-1"));
        assert!(is_dns_label(&"a".repeat(63)));
        assert!(!is_dns_label(&"a".repeat(64)));
        assert!(!is_dns_label(""));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label("a-"));
        assert!(!is_dns_label("Web"));
        assert!(!is_dns_label("a_b"));
        assert!(!is_dns_label("a.b"));
    }

    #[test]
    fn version_labels() {
        assert!(is_version_label("23"));
        assert!(is_version_label("v1.2.3-rc_1"));
        assert!(!is_version_label(""));
        assert!(!is_version_label("a b"));
        assert!(!is_version_label("a/b"));
    }
}
