//! `[platform]`: listeners (which must not collide), data directory, DNS domain and instance port range.

use std::net::SocketAddr;

use crate::types::{Platform, PortRange};
use crate::values::{nonempty_string, socket_addr, string};
use crate::walk::{Ctx, Field, Obj};

/// Transport protocols a listener binds.
#[derive(Debug, Clone, Copy)]
struct Protocols {
    tcp: bool,
    udp: bool,
}

const LISTENERS: [(&str, Protocols); 4] = [
    (
        "http",
        Protocols {
            tcp: true,
            udp: false,
        },
    ),
    (
        "dns",
        Protocols {
            tcp: true,
            udp: true,
        },
    ),
    (
        "gateway",
        Protocols {
            tcp: true,
            udp: false,
        },
    ),
    (
        "statsd",
        Protocols {
            tcp: false,
            udp: true,
        },
    ),
];

/// The platform and where `port_range` was written (for the capacity check).
pub(crate) struct ReadPlatform {
    pub(crate) platform: Platform,
    pub(crate) port_range_pos: Option<usize>,
}

pub(crate) fn read_platform(cx: &mut Ctx<'_>, f: Option<&Field<'_>>) -> ReadPlatform {
    let mut platform = Platform::defaults(&cx.base_dir);
    let mut out_pos = None;
    let Some(mut obj) = f.and_then(|f| Obj::open(cx, f, "platform".to_owned())) else {
        return ReadPlatform {
            platform,
            port_range_pos: None,
        };
    };
    if let Some(dir) = obj.get(cx, "data_dir", nonempty_string) {
        platform.data_dir = cx.base_dir.join(dir);
    }
    // (address, where it was written) per listener, in LISTENERS order.
    let mut addrs: Vec<(SocketAddr, Option<usize>)> = Vec::new();
    for (name, _) in LISTENERS {
        let slot = match name {
            "http" => &mut platform.http,
            "dns" => &mut platform.dns,
            "gateway" => &mut platform.gateway,
            _ => &mut platform.statsd,
        };
        let field = obj.take(name);
        if let Some(addr) = field.as_ref().and_then(|lf| socket_addr(cx, lf)) {
            *slot = addr;
        }
        addrs.push((*slot, field.map(|lf| lf.value_pos())));
    }
    if let Some(domain) = obj.get(cx, "domain", read_domain) {
        platform.domain = domain;
    }
    if let Some(pf) = obj.take("port_range") {
        if let Some(range) = string(cx, &pf).and_then(|s| match parse_port_range(&s) {
            Ok(r) => Some(r),
            Err(msg) => {
                cx.error(pf.value_pos(), format!("invalid `port_range` {s:?}: {msg}"));
                None
            }
        }) {
            platform.port_range = range;
        }
        out_pos = Some(pf.value_pos());
    }
    if let Some(tf) = obj.take("tokens") {
        platform.tokens = crate::tokens::read_tokens(cx, &tf);
    }
    obj.set(cx, "chaos", &mut platform.chaos, crate::values::boolean);
    platform.tls = obj.get(cx, "tls", crate::tls::read_tls);
    obj.set(
        cx,
        "enable_script_checks",
        &mut platform.enable_script_checks,
        crate::values::boolean,
    );
    obj.set(
        cx,
        "allow_plaintext_api",
        &mut platform.allow_plaintext_api,
        crate::values::boolean,
    );
    // Cluster mode (`shoal agent`); `shoal up` ignores them.
    platform.store = obj.get(cx, "store", read_store);
    platform.node = obj.get(cx, "node", nonempty_string);
    platform.advertise = obj.get(cx, "advertise", read_ip);
    if let Some(lf) = obj.take("labels") {
        platform.labels = read_labels(cx, &lf);
    }
    obj.finish(cx);
    check_listeners(cx, &addrs, platform.port_range, out_pos);
    ReadPlatform {
        platform,
        port_range_pos: out_pos,
    }
}

fn read_store(cx: &mut Ctx<'_>, f: &Field<'_>) -> Option<String> {
    let s = nonempty_string(cx, f)?;
    if s.starts_with("etcd://") && s.len() > "etcd://".len() {
        Some(s)
    } else {
        cx.error(
            f.value_pos(),
            format!("`store` must be etcd://HOST:PORT[,HOST:PORT...], got {s:?}"),
        );
        None
    }
}

fn read_ip(cx: &mut Ctx<'_>, f: &Field<'_>) -> Option<std::net::IpAddr> {
    let s = string(cx, f)?;
    match s.trim().parse() {
        Ok(ip) => Some(ip),
        Err(_) => {
            cx.error(
                f.value_pos(),
                format!("invalid address {s:?} for `advertise`: write an IP, e.g. \"10.0.0.1\""),
            );
            None
        }
    }
}

fn read_labels(cx: &mut Ctx<'_>, f: &Field<'_>) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let Some(mut obj) = Obj::open(cx, f, "platform.labels".to_owned()) else {
        return out;
    };
    for field in obj.drain() {
        if let Some(v) = string(cx, &field) {
            out.insert(field.name.to_owned(), v);
        }
    }
    out
}

/// Two listeners sharing a protocol, a port (not 0) and an address collide; so does
/// a listener inside the instance port range.
fn check_listeners(
    cx: &mut Ctx<'_>,
    addrs: &[(SocketAddr, Option<usize>)],
    range: PortRange,
    range_pos: Option<usize>,
) {
    for (j, &(b, b_pos)) in addrs.iter().enumerate() {
        let (b_name, b_proto) = LISTENERS[j];
        for (i, &(a, a_pos)) in addrs.iter().enumerate().take(j) {
            let (a_name, a_proto) = LISTENERS[i];
            let shared = match (a_proto.tcp && b_proto.tcp, a_proto.udp && b_proto.udp) {
                (true, true) => "TCP and UDP",
                (true, false) => "TCP",
                (false, true) => "UDP",
                (false, false) => continue,
            };
            if a.port() == 0 || a.port() != b.port() || !ips_overlap(a, b) {
                continue;
            }
            // Report at the one written later in the file (defaults are written nowhere).
            let (pos, me, other, other_addr) = match (a_pos, b_pos) {
                (Some(ap), Some(bp)) if ap > bp => (ap, a_name, b_name, b),
                (_, Some(bp)) => (bp, b_name, a_name, a),
                (Some(ap), None) => (ap, a_name, b_name, b),
                (None, None) => continue,
            };
            cx.error(pos, format!("platform `{me}` collides with `{other}` ({other_addr}): both listen on {shared} port {}", a.port()));
        }
        if b.port() != 0 && range.contains(b.port()) {
            if let Some(pos) = b_pos.or(range_pos) {
                let msg = format!(
                    "platform `{b_name}` port {} lies inside `port_range` {range}, whose ports go to instances",
                    b.port()
                );
                cx.error(pos, msg);
            }
        }
    }
}

fn ips_overlap(a: SocketAddr, b: SocketAddr) -> bool {
    a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified()
}

/// `"A-B"` with 1024 <= A <= B <= 65535.
pub(crate) fn parse_port_range(s: &str) -> Result<PortRange, String> {
    let Some((a, b)) = s.split_once('-') else {
        return Err("write FIRST-LAST, e.g. \"20000-29999\"".to_owned());
    };
    let port = |p: &str| -> Result<u16, String> {
        match p.trim().parse::<u16>() {
            Ok(n) if n >= 1024 => Ok(n),
            _ => Err(format!(
                "`{}` is not a port between 1024 and 65535",
                p.trim()
            )),
        }
    };
    let (start, end) = (port(a)?, port(b)?);
    if start > end {
        return Err(format!(
            "the first port ({start}) is greater than the last ({end})"
        ));
    }
    Ok(PortRange { start, end })
}

/// Lower-case DNS name: labels of `[a-z0-9-]`, 1 to 63 characters each, no leading or trailing `-`.
fn read_domain(cx: &mut Ctx<'_>, f: &Field<'_>) -> Option<String> {
    let d = string(cx, f)?;
    let ok = d.len() <= 253 && d.split('.').all(crate::service::is_dns_label);
    if !ok {
        let msg = format!("invalid `domain` {d:?}: use dot-separated lower-case DNS labels like \"shoal\" or \"internal.example\"");
        cx.error(f.value_pos(), msg);
        return None;
    }
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges() {
        assert_eq!(
            parse_port_range("20000-29999"),
            Ok(PortRange {
                start: 20000,
                end: 29999
            })
        );
        assert_eq!(
            parse_port_range(" 1024 - 1024 "),
            Ok(PortRange {
                start: 1024,
                end: 1024
            })
        );
        assert!(parse_port_range("30000-20000").is_err());
        assert!(parse_port_range("80-1000").is_err());
        assert!(parse_port_range("2000-70000").is_err());
        assert!(parse_port_range("2000").is_err());
        assert!(parse_port_range("a-b").is_err());
    }

    #[test]
    fn overlapping_ips() {
        let a = |s: &str| s.parse::<SocketAddr>().ok();
        let pair = |x, y| match (a(x), a(y)) {
            (Some(x), Some(y)) => ips_overlap(x, y),
            _ => panic!("bad test address"),
        };
        assert!(pair("127.0.0.1:1", "127.0.0.1:1"));
        assert!(pair("0.0.0.0:1", "127.0.0.1:1"));
        assert!(pair("[::]:1", "127.0.0.1:1"));
        assert!(!pair("127.0.0.1:1", "127.0.0.2:1"));
    }
}
