//! Prepared query bodies and answers (`/v1/query`): the body (key-normalised) to a
//! [`PreparedQuery`] with Consul's checks, the JSON Consul shows for one, and the worst
//! check status an instance has (what a query filters on). Pure.

use serde_json::{json, Value};
use shoal_catalog::{Health, PreparedQuery};

use crate::body::Fields;
use crate::check_model::Status;
use crate::duration::parse_go_duration;
use crate::error::{ConsulError, Result};

/// The template type Shoal runs (py-consul sends it with every query it creates).
pub const NAME_PREFIX_MATCH: &str = "name_prefix_match";

/// Parses a create or update body into the query with `id`.
pub fn parse(body: &Value, id: String) -> Result<PreparedQuery> {
    let f = Fields::new(body, "query")?;
    let svc = Fields::new(f.raw("service"), "query.service")?;
    let service = svc
        .string("service")?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ConsulError::bad("Must provide a Service name to query"))?;
    let failover = Fields::new(svc.raw("failover"), "query.service.failover")?;
    if !failover.raw("targets").is_null() {
        return Err(ConsulError::bad(
            "Service.Failover.Targets (cluster peering) is not supported: Shoal serves one datacenter",
        ));
    }
    for (field, what) in [
        ("ignorecheckids", "IgnoreCheckIDs"),
        ("nodemeta", "NodeMeta"),
        ("servicemeta", "ServiceMeta"),
    ] {
        if !is_empty(svc.raw(field)) {
            return Err(ConsulError::bad(format!(
                "Service.{what} is not supported by Shoal's prepared queries"
            )));
        }
    }
    let connect = Fields::new(svc.raw("connect"), "query.service.connect")?;
    if connect.bool("enabled")?.unwrap_or(false) {
        return Err(ConsulError::bad(
            "Service.Connect.Enabled is not supported: Shoal has no Connect proxies",
        ));
    }
    if svc.string("peer")?.is_some_and(|p| !p.is_empty()) {
        return Err(ConsulError::bad("Service.Peer: Shoal does not peer"));
    }
    let template = Fields::new(f.raw("template"), "query.template")?;
    let kind = template.string("type")?.unwrap_or_default();
    if !kind.is_empty() && kind != NAME_PREFIX_MATCH {
        return Err(ConsulError::bad(format!(
            "Bad Template.Type {kind:?}: only {NAME_PREFIX_MATCH:?} exists"
        )));
    }
    if template.string("regexp")?.is_some_and(|r| !r.is_empty()) {
        return Err(ConsulError::bad(
            "Template.Regexp is not supported by Shoal (name_prefix_match with ${name.full}, ${name.prefix} and ${name.suffix} is)",
        ));
    }
    let dns = Fields::new(f.raw("dns"), "query.dns")?;
    let ttl = match dns.raw("ttl") {
        Value::Number(n) => format!("{n}s"),
        _ => dns.string("ttl")?.unwrap_or_default(),
    };
    let dns_ttl_secs = match ttl.as_str() {
        "" => None,
        t => {
            let d = parse_go_duration(t)
                .map_err(|e| ConsulError::bad(format!("Bad DNS TTL {t:?}: {e}")))?;
            Some(u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
        }
    };
    Ok(PreparedQuery {
        id,
        name: f.string("name")?.unwrap_or_default(),
        session: f.string("session")?.unwrap_or_default(),
        service,
        tags: svc.strings("tags")?,
        only_passing: svc.bool("onlypassing")?.unwrap_or(false),
        near: svc.string("near")?.unwrap_or_default(),
        failover_nearest_n: failover.u64("nearestn")?.unwrap_or(0),
        failover_datacenters: failover.strings("datacenters")?,
        dns_ttl: ttl,
        dns_ttl_secs,
        template: kind,
    })
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// Why another query's name cannot be used again (Consul refuses duplicate names, and an
/// empty name only for templates, as a catch-all).
pub fn name_clash(q: &PreparedQuery, others: &[PreparedQuery]) -> Option<String> {
    if q.name.is_empty() && q.template.is_empty() {
        return None;
    }
    others
        .iter()
        .find(|o| o.id != q.id && o.name.eq_ignore_ascii_case(&q.name))
        .map(|o| format!("Name {:?} is already in use by query {}", q.name, o.id))
}

/// A query as Consul's `/v1/query` shows it.
pub fn render(q: &PreparedQuery, create_index: i64, modify_index: i64) -> Value {
    json!({
        "ID": q.id,
        "Name": q.name,
        "Session": q.session,
        "Token": "",
        "Template": {"Type": q.template, "Regexp": "", "RemoveEmptyTags": false},
        "Service": {
            "Service": q.service,
            "Failover": {"NearestN": q.failover_nearest_n, "Datacenters": q.failover_datacenters},
            "IgnoreCheckIDs": null,
            "OnlyPassing": q.only_passing,
            "Near": q.near,
            "Tags": q.tags,
            "NodeMeta": {},
            "ServiceMeta": {},
            "Connect": {"Enabled": false},
        },
        "DNS": {"TTL": q.dns_ttl},
        "CreateIndex": create_index,
        "ModifyIndex": modify_index,
    })
}

/// An instance's health for a query: critical if any of its checks is, else warning if
/// any is, else passing (Consul drops critical ones, and warning ones with `OnlyPassing`).
pub fn health_of(statuses: impl IntoIterator<Item = Status>) -> Health {
    let mut worst = Health::Passing;
    for s in statuses {
        match s {
            Status::Critical => return Health::Critical,
            Status::Warning => worst = Health::Warning,
            Status::Passing => {}
        }
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::normalize;

    fn body(v: Value) -> Value {
        normalize(v)
    }

    fn err(v: Value) -> String {
        parse(&body(v), "x".into())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn bodies_parse_with_consul_defaults() {
        let q = parse(
            &body(json!({
                "Name": "db",
                "Service": {"Service": "redis", "Tags": ["primary", "!canary"], "OnlyPassing": true,
                            "Failover": {"NearestN": 3, "Datacenters": ["dc2"]}, "Near": "_agent"},
                "DNS": {"TTL": "10s"},
            })),
            "id1".into(),
        );
        let q = q.ok().unwrap_or_else(parse_default);
        assert_eq!(q.id, "id1");
        assert_eq!(q.name, "db");
        assert_eq!(q.tags, ["primary", "!canary"]);
        assert!(q.only_passing);
        assert_eq!(q.failover_nearest_n, 3);
        assert_eq!(q.dns_ttl_secs, Some(10));
        let v = render(&q, 4, 5);
        assert_eq!(v["Service"]["Failover"]["Datacenters"], json!(["dc2"]));
        assert_eq!(v["DNS"]["TTL"], "10s");
        assert_eq!(v["ModifyIndex"], 5);
        // py-consul's lower-case keys and its template.
        let py = json!({"name": "q", "service": {"service": "web"}, "template": {"type": "name_prefix_match"}});
        let q = parse(&body(py), "id2".into())
            .ok()
            .unwrap_or_else(parse_default);
        assert_eq!(q.template, NAME_PREFIX_MATCH);
        assert_eq!(q.dns_ttl_secs, None);
    }

    fn parse_default() -> PreparedQuery {
        PreparedQuery {
            id: String::new(),
            name: String::new(),
            session: String::new(),
            service: String::new(),
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
    fn what_shoal_does_not_run_is_refused() {
        assert!(err(json!({"Name": "x"})).contains("Service name"));
        assert!(
            err(json!({"Service": {"Service": "a"}, "DNS": {"TTL": "soon"}}))
                .contains("Bad DNS TTL")
        );
        assert!(
            err(json!({"Service": {"Service": "a"}, "Template": {"Type": "regex"}}))
                .contains("Template.Type")
        );
        assert!(err(json!({"Service": {"Service": "a"}, "Template": {"Type": "name_prefix_match", "Regexp": "^a"}})).contains("Regexp"));
        assert!(
            err(json!({"Service": {"Service": "a", "NodeMeta": {"k": "v"}}})).contains("NodeMeta")
        );
        assert!(
            err(json!({"Service": {"Service": "a", "Connect": {"Enabled": true}}}))
                .contains("Connect")
        );
        assert!(err(
            json!({"Service": {"Service": "a", "Failover": {"Targets": [{"Peer": "p"}]}}})
        )
        .contains("Targets"));
    }

    #[test]
    fn names_are_unique_and_health_is_the_worst_check() {
        let mut a = parse_default();
        a.id = "a".into();
        a.name = "db".into();
        let mut b = a.clone();
        b.id = "b".into();
        b.name = "DB".into();
        assert!(name_clash(&b, &[a.clone()]).is_some());
        assert!(name_clash(&a, &[a.clone()]).is_none());
        b.name = String::new();
        assert!(name_clash(&b, &[a]).is_none());
        assert_eq!(health_of([]), Health::Passing);
        assert_eq!(
            health_of([Status::Passing, Status::Warning]),
            Health::Warning
        );
        assert_eq!(
            health_of([Status::Warning, Status::Critical]),
            Health::Critical
        );
    }
}
