//! Parsing `etcd://h1:2379,h2:2379[/namespace]` store URLs into endpoints and a namespace.

/// The port used when a host names none.
pub const DEFAULT_PORT: u16 = 2379;

/// What an `etcd://` URL names: the members to connect to and the key namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdUrl {
    /// One `http://host:port` endpoint per member, in the URL's order.
    pub endpoints: Vec<String>,
    /// Prefix of every key ("" = none); ends with `/` when not empty.
    pub namespace: String,
}

/// Why an `etcd://` URL was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// The URL does not start with `etcd://`.
    #[error("{0:?} is not an etcd URL: write etcd://host:port[,host:port...][/namespace]")]
    Scheme(String),
    /// No host between `etcd://` and the path.
    #[error("{0:?} names no etcd member: write etcd://host:port[,host:port...]")]
    NoHosts(String),
    /// One member of the list is empty or malformed.
    #[error("member {member:?} of {url:?} is not host[:port] (e.g. 10.0.0.1:2379 or [::1]:2379)")]
    Member {
        /// The whole URL.
        url: String,
        /// The offending member.
        member: String,
    },
    /// The port is not a number from 1 to 65535.
    #[error("member {member:?} of {url:?} has a bad port: use a number from 1 to 65535")]
    Port {
        /// The whole URL.
        url: String,
        /// The offending member.
        member: String,
    },
    /// User info, query or fragment: not supported.
    #[error("{0:?} has credentials, a query or a fragment, which etcd URLs do not support")]
    Unsupported(String),
}

/// Parses `etcd://h1:2379,h2:2379,h3:2379[/namespace]`. A host without a port gets 2379; the
/// optional path becomes the key namespace (with a trailing `/` added, so `prod` and `prod2`
/// never overlap).
pub fn parse_url(url: &str) -> Result<EtcdUrl, UrlError> {
    let rest = url
        .strip_prefix("etcd://")
        .ok_or_else(|| UrlError::Scheme(url.to_owned()))?;
    if rest.contains(['@', '?', '#']) {
        return Err(UrlError::Unsupported(url.to_owned()));
    }
    let (hosts, path) = rest.split_once('/').unwrap_or((rest, ""));
    if hosts.is_empty() {
        return Err(UrlError::NoHosts(url.to_owned()));
    }
    let endpoints = hosts
        .split(',')
        .map(|member| endpoint(url, member))
        .collect::<Result<_, _>>()?;
    let namespace = path.trim_end_matches('/');
    let namespace = if namespace.is_empty() {
        String::new()
    } else {
        format!("{namespace}/")
    };
    Ok(EtcdUrl {
        endpoints,
        namespace,
    })
}

/// `host[:port]` → `http://host:port`.
fn endpoint(url: &str, member: &str) -> Result<String, UrlError> {
    let bad = || UrlError::Member {
        url: url.to_owned(),
        member: member.to_owned(),
    };
    let (host, port) = if let Some(v6) = member.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or_else(bad)?;
        if addr.is_empty() || !addr.contains(':') {
            return Err(bad());
        }
        match after {
            "" => (&member[..addr.len() + 2], None),
            p => (
                &member[..addr.len() + 2],
                Some(p.strip_prefix(':').ok_or_else(bad)?),
            ),
        }
    } else {
        match member.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (member, None),
        }
    };
    let host_ok = host.starts_with('[')
        || (!host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_'));
    if !host_ok {
        return Err(bad());
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => {
                return Err(UrlError::Port {
                    url: url.to_owned(),
                    member: member.to_owned(),
                })
            }
        },
    };
    Ok(format!("http://{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eps(url: &str) -> Vec<String> {
        parse_url(url).map(|u| u.endpoints).unwrap_or_default()
    }

    #[test]
    fn hosts_ports_and_defaults() {
        assert_eq!(
            eps("etcd://h1:2379,h2:2380,10.0.0.3"),
            ["http://h1:2379", "http://h2:2380", "http://10.0.0.3:2379"]
        );
        assert_eq!(
            eps("etcd://[::1]:2379,[fe80::1]"),
            ["http://[::1]:2379", "http://[fe80::1]:2379"]
        );
        assert_eq!(eps("etcd://localhost/"), ["http://localhost:2379"]);
    }

    #[test]
    fn namespace_from_the_path() {
        let ns = |url: &str| parse_url(url).map(|u| u.namespace);
        assert_eq!(ns("etcd://h:1"), Ok(String::new()));
        assert_eq!(ns("etcd://h:1/"), Ok(String::new()));
        assert_eq!(ns("etcd://h:1/prod"), Ok("prod/".into()));
        assert_eq!(ns("etcd://h:1/prod/"), Ok("prod/".into()));
        assert_eq!(ns("etcd://h:1/shoal/eu"), Ok("shoal/eu/".into()));
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let err = |url: &str| parse_url(url).err();
        assert!(matches!(err("http://h:2379"), Some(UrlError::Scheme(_))));
        assert!(matches!(err("h:2379"), Some(UrlError::Scheme(_))));
        assert!(matches!(err("etcd://"), Some(UrlError::NoHosts(_))));
        assert!(matches!(err("etcd:///ns"), Some(UrlError::NoHosts(_))));
        assert!(matches!(
            err("etcd://h1,,h2"),
            Some(UrlError::Member { .. })
        ));
        assert!(matches!(err("etcd://h1,"), Some(UrlError::Member { .. })));
        assert!(matches!(err("etcd://:2379"), Some(UrlError::Member { .. })));
        assert!(matches!(
            err("etcd://h 1:2379"),
            Some(UrlError::Member { .. })
        ));
        assert!(matches!(err("etcd://[::1"), Some(UrlError::Member { .. })));
        assert!(matches!(
            err("etcd://[::1]x"),
            Some(UrlError::Member { .. })
        ));
        assert!(matches!(err("etcd://h:0"), Some(UrlError::Port { .. })));
        assert!(matches!(err("etcd://h:70000"), Some(UrlError::Port { .. })));
        assert!(matches!(err("etcd://h:"), Some(UrlError::Port { .. })));
        assert!(matches!(err("etcd://h:x"), Some(UrlError::Port { .. })));
        assert!(matches!(
            err("etcd://u:p@h:1"),
            Some(UrlError::Unsupported(_))
        ));
        assert!(matches!(
            err("etcd://h:1?x=1"),
            Some(UrlError::Unsupported(_))
        ));
        let msg = err("etcd://h1,,h2")
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(msg.contains("host[:port]"), "{msg}");
    }
}
