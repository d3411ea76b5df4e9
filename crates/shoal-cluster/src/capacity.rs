//! What this machine offers: CPU from the available parallelism, memory from
//! `/proc/meminfo`, and the local [`NodeRecord`] built from them.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use shoal_schedule::Resources;

use crate::nodes::NodeRecord;

/// This machine's capacity: 1000 millicores per available CPU, and `MemTotal` in MiB (0 if
/// `/proc/meminfo` cannot be read).
pub fn local_capacity() -> Resources {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| mem_total_mib(&text))
        .unwrap_or(0);
    Resources::new(cpus * 1000, memory)
}

/// `MemTotal` of a `/proc/meminfo` text, in MiB.
fn mem_total_mib(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line["MemTotal:".len()..].split_whitespace();
    let kib: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") | None => Some(kib / 1024),
        Some(_) => None,
    }
}

impl NodeRecord {
    /// This machine's record: its capacity, started now, this crate's version, not draining.
    pub fn local(
        name: &str,
        address: IpAddr,
        api: SocketAddr,
        gateway: SocketAddr,
        labels: BTreeMap<String, String>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            address,
            api,
            gateway,
            capacity: local_capacity(),
            labels,
            started_ms: shoal_catalog::now_ms(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            draining: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_total_is_read_in_mib() {
        let text = "MemTotal:        8029876 kB\nMemFree:          123456 kB\n";
        assert_eq!(mem_total_mib(text), Some(7841));
        assert_eq!(mem_total_mib("MemFree: 1 kB\n"), None);
        assert_eq!(mem_total_mib("MemTotal: lots kB\n"), None);
        assert_eq!(mem_total_mib("MemTotal: 2048 MB\n"), None);
    }

    #[test]
    fn this_machine_has_some_capacity() {
        let c = local_capacity();
        assert!(c.cpu_millis >= 1000, "{c:?}");
        assert!(c.memory_mb > 0, "{c:?}");
        let r = NodeRecord::local(
            "n1",
            [127, 0, 0, 1].into(),
            ([127, 0, 0, 1], 8500).into(),
            ([127, 0, 0, 1], 8080).into(),
            BTreeMap::new(),
        );
        assert_eq!(r.version, env!("CARGO_PKG_VERSION"));
        assert!(r.started_ms > 0 && !r.draining);
    }
}
