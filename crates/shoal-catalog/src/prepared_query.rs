//! Consul prepared queries as stored (`shoal/consul/queries/<id>`), and the pure rules both
//! the HTTP API (`/v1/query/<id>/execute`) and DNS (`<name>.query.<domain>`) apply: which
//! query a name means, and which instances it selects.

use serde::{Deserialize, Serialize};

use crate::record::Health;

/// A prepared query (the subset of Consul's Shoal runs; see shoal-consul's README).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreparedQuery {
    pub id: String,
    /// Empty: reachable by ID only.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub session: String,
    /// `Service.Service`: the service it selects (may hold `${name.full}`, `${name.prefix}`,
    /// `${name.suffix}` in a template).
    pub service: String,
    /// `Service.Tags`: each must be present; `!tag` must be absent (case-insensitive).
    #[serde(default)]
    pub tags: Vec<String>,
    /// `Service.OnlyPassing`: leave warning instances out too.
    #[serde(default)]
    pub only_passing: bool,
    /// `Service.Near`, kept and echoed: one node, nothing to sort by.
    #[serde(default)]
    pub near: String,
    /// `Service.Failover.NearestN`, kept and echoed: one datacenter, no failover.
    #[serde(default)]
    pub failover_nearest_n: u64,
    /// `Service.Failover.Datacenters`, kept and echoed: one datacenter, no failover.
    #[serde(default)]
    pub failover_datacenters: Vec<String>,
    /// `DNS.TTL` as given (a Go duration, e.g. `10s`); empty: the DNS default.
    #[serde(default)]
    pub dns_ttl: String,
    /// `DNS.TTL` in whole seconds, when set.
    #[serde(default)]
    pub dns_ttl_secs: Option<u32>,
    /// `Template.Type`: empty, or `name_prefix_match` (the name matches by prefix).
    #[serde(default)]
    pub template: String,
}

impl PreparedQuery {
    /// Whether an instance of `service` with `tags` and `health` is one this query returns
    /// (for a lookup of `name`, which templates interpolate): the service (case-insensitive),
    /// not critical (nor warning with `OnlyPassing`), every tag and no `!tag`.
    pub fn selects(&self, name: &str, service: &str, tags: &[&str], health: Health) -> bool {
        let healthy = match health {
            Health::Passing => true,
            Health::Warning => !self.only_passing,
            Health::Starting | Health::Critical => false,
        };
        healthy
            && self.service_for(name).eq_ignore_ascii_case(service)
            && self.tags.iter().all(|t| {
                let t = self.interpolate(name, t);
                match t.strip_prefix('!') {
                    Some(absent) => !tags.iter().any(|h| h.eq_ignore_ascii_case(absent)),
                    None => tags.iter().any(|h| h.eq_ignore_ascii_case(&t)),
                }
            })
    }

    /// The service a lookup of `name` asks for (templates interpolate it).
    pub fn service_for(&self, name: &str) -> String {
        self.interpolate(name, &self.service)
    }

    /// `${name.full}`, `${name.prefix}` and `${name.suffix}` replaced, in a template.
    fn interpolate(&self, name: &str, text: &str) -> String {
        if self.template.is_empty() {
            return text.to_owned();
        }
        let suffix = name.get(self.name.len()..).unwrap_or("");
        text.replace("${name.full}", name)
            .replace("${name.prefix}", &self.name)
            .replace("${name.suffix}", suffix)
    }
}

/// The query `id_or_name` means, as Consul resolves it: an ID, else an exact name, else the
/// template whose name is the longest prefix of it (the empty name is a catch-all template).
pub fn resolve_query<'q>(
    queries: impl IntoIterator<Item = &'q PreparedQuery> + Clone,
    id_or_name: &str,
) -> Option<&'q PreparedQuery> {
    let mut all = queries.clone().into_iter();
    if let Some(q) = all.find(|q| q.id == id_or_name) {
        return Some(q);
    }
    let mut all = queries.clone().into_iter();
    if let Some(q) = all.find(|q| !q.name.is_empty() && q.name.eq_ignore_ascii_case(id_or_name)) {
        return Some(q);
    }
    let lower = id_or_name.to_ascii_lowercase();
    queries
        .into_iter()
        .filter(|q| !q.template.is_empty() && lower.starts_with(&q.name.to_ascii_lowercase()))
        .max_by_key(|q| q.name.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(id: &str, name: &str, service: &str) -> PreparedQuery {
        PreparedQuery {
            id: id.into(),
            name: name.into(),
            session: String::new(),
            service: service.into(),
            tags: Vec::new(),
            only_passing: false,
            near: String::new(),
            failover_nearest_n: 0,
            failover_datacenters: Vec::new(),
            dns_ttl: String::new(),
            dns_ttl_secs: None,
            template: String::new(),
        }
    }

    #[test]
    fn tags_health_and_service_select() {
        let mut p = q("1", "db", "Redis");
        p.tags = vec!["primary".into(), "!Experimental".into()];
        assert!(p.selects("db", "redis", &["PRIMARY", "v1"], Health::Passing));
        assert!(p.selects("db", "redis", &["primary"], Health::Warning));
        assert!(!p.selects("db", "redis", &["primary", "experimental"], Health::Passing));
        assert!(!p.selects("db", "redis", &["v1"], Health::Passing));
        assert!(!p.selects("db", "redis", &["primary"], Health::Critical));
        assert!(!p.selects("db", "redis", &["primary"], Health::Starting));
        assert!(!p.selects("db", "web", &["primary"], Health::Passing));
        p.only_passing = true;
        assert!(!p.selects("db", "redis", &["primary"], Health::Warning));
    }

    #[test]
    fn ids_then_names_then_the_longest_template_prefix() {
        let mut catch_all = q("t0", "", "${name.full}");
        catch_all.template = "name_prefix_match".into();
        let mut geo = q("t1", "geo-", "${name.suffix}");
        geo.template = "name_prefix_match".into();
        let qs = [q("a1", "db", "redis"), catch_all, geo];
        assert_eq!(resolve_query(&qs, "a1").map(|q| q.id.as_str()), Some("a1"));
        assert_eq!(resolve_query(&qs, "DB").map(|q| q.id.as_str()), Some("a1"));
        let geo_db = resolve_query(&qs, "geo-db");
        assert_eq!(geo_db.map(|q| q.id.as_str()), Some("t1"));
        assert_eq!(geo_db.map(|q| q.service_for("geo-db")), Some("db".into()));
        let other = resolve_query(&qs, "web");
        assert_eq!(other.map(|q| q.service_for("web")), Some("web".into()));
        assert_eq!(resolve_query(&qs[..1], "nope"), None);
    }
}
