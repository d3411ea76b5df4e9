//! The pure routing decision: which service (Host, then route prefix) and which
//! version (path `/v23/`, `X-Version`, `?version=`, `Accept: ...vnd.x.v23+json`;
//! else drawn by the deployment's weights; else the current one).

use std::borrow::Cow;

use rand::Rng;

use crate::balance::Endpoint;
use crate::fields::HeaderLookup;
use crate::table::{RouteTable, ServiceRoute};

/// Where one request goes.
#[derive(Debug, Clone)]
pub struct Target<'t> {
    pub service: &'t str,
    /// The version that serves it: the one asked for when it runs; else one drawn
    /// by the service's weights; else the current one.
    pub version: &'t str,
    /// The service's route, found while resolving (no second lookup by name).
    pub route: &'t ServiceRoute,
    /// That version's routable instances.
    pub endpoints: &'t [Endpoint],
    /// The client asked for this version (path, `X-Version`, `?version=`, `Accept`):
    /// it is served by that version or not at all.
    pub pinned: bool,
    /// Path and query as the instance sees them (a version prefix removed;
    /// borrowed from the request when nothing was).
    pub path: Cow<'t, str>,
}

impl RouteTable {
    /// Resolves a request by Host (port ignored), path-and-query and headers.
    pub fn resolve<'t, H: HeaderLookup + ?Sized>(
        &'t self,
        host: Option<&str>,
        path_and_query: &'t str,
        headers: &H,
    ) -> Option<Target<'t>> {
        self.resolve_with(host, path_and_query, headers, rand::rng)
    }

    /// [`Self::resolve`] drawing weighted versions from the random source `rng`
    /// makes (made only when a service's weights decide).
    pub fn resolve_with<'t, H: HeaderLookup + ?Sized, R: Rng>(
        &'t self,
        host: Option<&str>,
        path_and_query: &'t str,
        headers: &H,
        rng: impl FnOnce() -> R,
    ) -> Option<Target<'t>> {
        let text = |name| {
            headers
                .header(name)
                .and_then(|v| std::str::from_utf8(v).ok())
        };
        let (path, query) = path_and_query
            .split_once('?')
            .map_or((path_and_query, None), |(p, q)| (p, Some(q)));
        let by_host = host.and_then(|h| self.by_host(h));
        let (route, rest) = match by_host {
            Some(route) => (route, path),
            None => self.by_prefix(path)?,
        };
        let (from_path, stripped) = match path_version(route, rest) {
            Some((v, s)) => (Some(v), s),
            None => (None, path),
        };
        let wanted: Option<Cow<'_, str>> = from_path
            .or_else(|| text("x-version").map(str::trim))
            .map(Cow::Borrowed)
            .or_else(|| query.and_then(query_version).map(Cow::Owned))
            .or_else(|| text("accept").and_then(accept_version).map(Cow::Owned));
        let pinned = wanted
            .as_deref()
            .is_some_and(|v| route.versions.contains_key(v));
        let (version, endpoints) = route.serving_with(wanted.as_deref(), rng);
        let path = match query {
            _ if stripped.len() == path.len() => Cow::Borrowed(path_and_query),
            Some(q) => Cow::Owned(format!("{stripped}?{q}")),
            None => Cow::Borrowed(stripped),
        };
        Some(Target {
            service: &route.name,
            version,
            route,
            endpoints,
            pinned,
            path,
        })
    }

    fn by_host(&self, host: &str) -> Option<&ServiceRoute> {
        let name = strip_port(host).trim_end_matches('.');
        let name: std::borrow::Cow<'_, str> = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            name.to_ascii_lowercase().into()
        } else {
            name.into()
        };
        if let Some(r) = self.services.get(name.as_ref()) {
            return Some(r);
        }
        self.domains.iter().find_map(|d| {
            let svc = name.strip_suffix(&format!(".service.{d}"))?;
            self.services.get(svc)
        })
    }

    /// A route prefix, matched on the path or on the path after a `/v<version>` segment
    /// (`/v23/profile/x` and `/profile/x` both reach `profile`). Returns the route and
    /// the path to look for a version prefix in.
    fn by_prefix<'a>(&self, path: &'a str) -> Option<(&ServiceRoute, &'a str)> {
        for (prefix, service) in &self.prefixes {
            let Some(route) = self.services.get(service) else {
                continue;
            };
            if prefix_matches(prefix, path) {
                return Some((route, path));
            }
            if let Some((v, rest)) = leading_version(path) {
                if route.known.contains(v) && prefix_matches(prefix, rest) {
                    return Some((route, path));
                }
            }
        }
        None
    }
}

/// `/v23/rest` → ("23", "/rest"); `/v23` → ("23", "/").
fn leading_version(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/v")?;
    let (label, tail) = rest
        .find('/')
        .map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    (!label.is_empty()).then_some((label, tail))
}

/// A `/v<version>` prefix counts only when the version is one the service knows.
fn path_version<'a>(route: &ServiceRoute, path: &'a str) -> Option<(&'a str, &'a str)> {
    leading_version(path).filter(|(v, _)| route.known.contains(*v))
}

fn query_version(query: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "version")
        .map(|(_, v)| v.into_owned())
}

/// `application/vnd.<anything>.v23+json` → "23".
fn accept_version(accept: &str) -> Option<String> {
    accept.split(',').find_map(|item| {
        let media = item.split(';').next()?.trim();
        let rest = media
            .strip_prefix("application/vnd.")?
            .strip_suffix("+json")?;
        let (_, label) = rest.rsplit_once(".v")?;
        (!label.is_empty()).then(|| label.to_owned())
    })
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
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
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod weighted_tests;
