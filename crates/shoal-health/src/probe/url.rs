//! Check URLs: `http://` or `https://`, authority and request target, and where a redirect
//! leads.

/// A parsed check URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub tls: bool,
    /// Without brackets for IPv6.
    pub host: String,
    pub port: u16,
    /// What the `Host` header carries: `host` plus `:port` when not the scheme's default.
    pub authority: String,
    /// Path and query, starting with `/`.
    pub target: String,
}

/// Parses an `http://` or `https://` URL (default ports 80 and 443).
pub fn parse_url(url: &str) -> Result<Url, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else {
        return Err(format!(
            "unsupported protocol scheme in {url:?}: use http:// or https://"
        ));
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let tail = tail.split('#').next().unwrap_or("");
    let target = match tail.chars().next() {
        None => "/".to_string(),
        Some('?') => format!("/{tail}"),
        _ => tail.to_string(),
    };
    let default = if tls { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("bad IPv6 address in {url:?}"))?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(format!("missing host in {url:?}"));
    }
    let port = match port {
        None | Some("") => default,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("invalid port {p:?} in {url:?}"))?,
    };
    let shown_host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let authority = if port == default {
        shown_host
    } else {
        format!("{shown_host}:{port}")
    };
    Ok(Url {
        tls,
        host: host.to_string(),
        port,
        authority,
        target,
    })
}

/// Where a `Location` header leads from `base`: an absolute URL, an absolute path on the same
/// host, or a path relative to the current one.
pub fn resolve(base: &Url, location: &str) -> Result<Url, String> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return parse_url(location);
    }
    let scheme = if base.tls { "https" } else { "http" };
    if let Some(rest) = location.strip_prefix("//") {
        return parse_url(&format!("{scheme}://{rest}"));
    }
    let path = if location.starts_with('/') {
        location.to_string()
    } else {
        let dir = base
            .target
            .split('?')
            .next()
            .and_then(|p| p.rsplit_once('/'))
            .map_or("", |(d, _)| d);
        format!("{dir}/{location}")
    };
    parse_url(&format!("{scheme}://{}{path}", base.authority))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        parse_url(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn urls() {
        let u = url("https://127.0.0.1:8443/health?x=1");
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.target.as_str()),
            (true, "127.0.0.1", 8443, "/health?x=1")
        );
        assert_eq!(u.authority, "127.0.0.1:8443");
        let u = url("http://localhost");
        assert_eq!(
            (u.port, u.target.as_str(), u.authority.as_str()),
            (80, "/", "localhost")
        );
        let u = url("https://[::1]/a#frag");
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("::1", 443, "/a")
        );
        assert_eq!(u.authority, "[::1]");
        assert_eq!(url("http://h?q").target, "/?q");
        assert!(parse_url("ftp://x/").is_err());
        assert!(parse_url("http://:80/").is_err());
        assert!(parse_url("http://x:99999/").is_err());
    }

    #[test]
    fn redirects() {
        let base = url("http://a:81/x/y?z");
        assert_eq!(resolve(&base, "/h").map(|u| u.target), Ok("/h".into()));
        assert_eq!(resolve(&base, "h2").map(|u| u.target), Ok("/x/h2".into()));
        assert_eq!(
            resolve(&base, "https://b/c").map(|u| (u.tls, u.host, u.target)),
            Ok((true, "b".into(), "/c".into()))
        );
        assert_eq!(resolve(&base, "/h").map(|u| u.authority), Ok("a:81".into()));
    }
}
