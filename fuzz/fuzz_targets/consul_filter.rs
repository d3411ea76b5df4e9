//! Fuzzes the Consul `filter` parameter: any bytes as an expression against each
//! endpoint's shape; an accepted one is evaluated over a sample entry.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal_consul::filter::{schema, Filter};

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let entry = serde_json::json!({
        "Node": { "Node": "n1", "Meta": { "env": "prod" } },
        "Service": { "ID": "web-1", "Service": "web", "Tags": ["v1"], "Port": 8080 },
        "Checks": [{ "Status": "passing", "ServiceTags": [] }],
        "Tags": ["a"], "Meta": {}, "Port": 1, "Status": "critical",
    });
    for shape in [
        &schema::NODE,
        &schema::AGENT_SERVICE,
        &schema::HEALTH_ENTRY,
        &schema::CHECK,
        &schema::CATALOG_SERVICE,
    ] {
        if let Ok(f) = Filter::new(src, shape) {
            let _ = f.matches(&entry);
        }
    }
});
