//! The routing table and the pure function that picks a target service for a request.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One instance that may receive traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub instance: String,
    pub addr: SocketAddr,
}

/// Where requests for one service go: the healthy instances of its current version.
#[derive(Debug, Default)]
pub struct ServiceRoute {
    pub version: String,
    pub backends: Vec<Backend>,
    next: AtomicUsize,
}

impl ServiceRoute {
    pub fn new(version: impl Into<String>, backends: Vec<Backend>) -> Self {
        Self {
            version: version.into(),
            backends,
            next: AtomicUsize::new(0),
        }
    }

    /// Round robin: the backends to try in order, starting at the next one.
    pub fn rotation(&self) -> impl Iterator<Item = &Backend> {
        let n = self.backends.len();
        let start = if n == 0 {
            0
        } else {
            self.next.fetch_add(1, Ordering::Relaxed) % n
        };
        (0..n).map(move |i| &self.backends[(start + i) % n])
    }
}

/// The target a request resolved to.
#[derive(Debug, PartialEq, Eq)]
pub enum Target<'a> {
    Service(&'a str),
    Unknown,
}

/// An immutable snapshot of every route; swapped whole on catalog changes.
#[derive(Debug, Default)]
pub struct RouteTable {
    pub services: HashMap<String, ServiceRoute>,
    /// Path prefixes → service, longest prefix first.
    pub prefixes: Vec<(String, String)>,
    /// DNS domains answered in `Host: <svc>.service.<domain>`.
    pub domains: Vec<String>,
}

impl RouteTable {
    pub fn new(
        services: HashMap<String, ServiceRoute>,
        mut prefixes: Vec<(String, String)>,
        domains: Vec<String>,
    ) -> Self {
        prefixes.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        Self {
            services,
            prefixes,
            domains,
        }
    }

    /// Resolves a request by its Host header (any port stripped) and path.
    ///
    /// `Host: <svc>` or `Host: <svc>.service.<domain>` win; otherwise the
    /// longest route prefix that matches the path at a segment boundary.
    pub fn resolve<'a>(&'a self, host: Option<&str>, path: &str) -> Target<'a> {
        if let Some(host) = host {
            let name = strip_port(host).trim_end_matches('.').to_ascii_lowercase();
            if let Some((key, _)) = self.services.get_key_value(name.as_str()) {
                return Target::Service(key);
            }
            for domain in &self.domains {
                let suffix = format!(".service.{domain}");
                if let Some(svc) = name.strip_suffix(suffix.as_str()) {
                    if let Some((key, _)) = self.services.get_key_value(svc) {
                        return Target::Service(key);
                    }
                }
            }
        }
        for (prefix, service) in &self.prefixes {
            if prefix_matches(prefix, path) {
                return Target::Service(service);
            }
        }
        Target::Unknown
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split(']').next().map_or(host, |h| &h[1..]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

fn prefix_matches(prefix: &str, path: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    let prefix = prefix.trim_end_matches('/');
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/') || rest.starts_with('?'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        let mut services = HashMap::new();
        services.insert("profile".to_string(), ServiceRoute::default());
        services.insert("api".to_string(), ServiceRoute::default());
        RouteTable::new(
            services,
            vec![
                ("/profile".into(), "profile".into()),
                ("/".into(), "api".into()),
            ],
            vec!["shoal".into(), "consul".into()],
        )
    }

    #[test]
    fn host_routing_wins_over_paths() {
        let t = table();
        assert_eq!(t.resolve(Some("profile"), "/x"), Target::Service("profile"));
        assert_eq!(
            t.resolve(Some("profile.service.consul:8080"), "/"),
            Target::Service("profile")
        );
        assert_eq!(
            t.resolve(Some("PROFILE.service.shoal."), "/"),
            Target::Service("profile")
        );
    }

    #[test]
    fn path_prefixes_match_on_segment_boundaries() {
        let t = table();
        assert_eq!(
            t.resolve(Some("example.com"), "/profile/1"),
            Target::Service("profile")
        );
        assert_eq!(t.resolve(None, "/profile"), Target::Service("profile"));
        assert_eq!(t.resolve(None, "/profiles"), Target::Service("api"));
        let empty = RouteTable::default();
        assert_eq!(empty.resolve(Some("x"), "/"), Target::Unknown);
    }

    #[test]
    fn round_robin_visits_every_backend() {
        let b = |p| Backend {
            instance: format!("i{p}"),
            addr: SocketAddr::from(([127, 0, 0, 1], p)),
        };
        let route = ServiceRoute::new("1", vec![b(1), b(2), b(3)]);
        let firsts: Vec<u16> = (0..3)
            .map(|_| route.rotation().next().map_or(0, |b| b.addr.port()))
            .collect();
        assert_eq!(firsts, vec![1, 2, 3]);
        assert_eq!(route.rotation().count(), 3);
        assert_eq!(ServiceRoute::default().rotation().count(), 0);
    }
}
