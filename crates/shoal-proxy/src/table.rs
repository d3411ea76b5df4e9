//! The routing table: per service its current version, every version's routable
//! instances, the weighted split of unpinned traffic and its resilience state.
//! Immutable; rebuilt and swapped whole.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use foldhash::HashMap;
use rand::Rng;
use shoal_catalog::InstanceRecord;
use shoal_spec::ServiceSpec;

use crate::balance::{Endpoint, EndpointStats, Strategy};
pub use crate::flag_table::FlagsRoute;
use crate::state::ServiceState;

/// Where one service's requests go.
#[derive(Debug)]
pub struct ServiceRoute {
    pub name: String,
    /// Unversioned traffic goes here; "" for services registered from outside.
    pub current: String,
    /// Every version the spec declares or an instance runs.
    pub known: BTreeSet<String>,
    /// Routable instances per version (versions with none are absent).
    pub versions: BTreeMap<String, Vec<Endpoint>>,
    /// The current version's entry of `versions` again (the same instances and
    /// load figures), so most requests find their instances without a lookup.
    pub current_endpoints: Vec<Endpoint>,
    /// The split of unpinned traffic by the service's deployment weights:
    /// `(version, cumulative weight)` for each version with a weight over 0 and
    /// routable instances, in version order. Empty (no weights, or all of them on
    /// `current`) sends it all to `current`, as without a deployment.
    pub weighted: Vec<(String, u32)>,
    pub state: Arc<ServiceState>,
    pub strategy: Strategy,
    pub rr: AtomicUsize,
    /// The instances speak HTTP/2 without TLS (`protocol = "h2c"`), not HTTP/1.1.
    pub h2c: bool,
    /// The instances speak HTTPS (`[services.X.tls]`): how they are reached.
    pub tls: Option<Arc<crate::upstream::UpstreamTls>>,
    /// The service scales to zero (`[services.S.scale] min = 0`): a request that
    /// finds no instance is held while one starts.
    pub from_zero: bool,
    /// Chaos experiments on calls into the service (latency, errors, resets, a
    /// bandwidth cap), rolled per attempt; empty but during an experiment.
    pub chaos: Vec<shoal_chaos::Experiment>,
}

impl ServiceRoute {
    /// The version a request for `wanted` goes to and that version's instances:
    /// `wanted` itself when it runs; else one drawn by the weights, if any; else
    /// the current version.
    pub fn serving(&self, wanted: Option<&str>) -> (&str, &[Endpoint]) {
        self.serving_with(wanted, rand::rng)
    }

    /// [`Self::serving`] drawing from the random source `rng` makes; it is only
    /// made when the weights decide, so a route without any pays nothing for it.
    pub fn serving_with<R: Rng>(
        &self,
        wanted: Option<&str>,
        rng: impl FnOnce() -> R,
    ) -> (&str, &[Endpoint]) {
        if let Some((v, endpoints)) = wanted.and_then(|v| self.versions.get_key_value(v)) {
            return (v, endpoints);
        }
        if !self.weighted.is_empty() {
            if let Some(chosen) = self.draw(rng()) {
                return chosen;
            }
        }
        (&self.current, &self.current_endpoints)
    }

    /// A version drawn by weight (each one's share: its weight over their sum).
    fn draw(&self, mut rng: impl Rng) -> Option<(&str, &[Endpoint])> {
        let total = self.weighted.last().map_or(0, |(_, upto)| *upto);
        if total == 0 {
            return None;
        }
        let roll = rng.random_range(0..total);
        let (version, _) = self.weighted.iter().find(|(_, upto)| roll < *upto)?;
        if *version == self.current {
            return Some((&self.current, &self.current_endpoints));
        }
        self.versions
            .get_key_value(version)
            .map(|(v, endpoints)| (v.as_str(), endpoints.as_slice()))
    }

    /// Where unpinned traffic drawn to `version` goes when none of that version's
    /// instances could be reached (a host died and its records are still listed): the
    /// current version and its instances, or, when `version` is current, another
    /// version (the first by weight order, then by name); `None` when there is no other.
    pub fn other_version(&self, version: &str) -> Option<(&str, &[Endpoint])> {
        if version != self.current && !self.current_endpoints.is_empty() {
            return Some((&self.current, &self.current_endpoints));
        }
        self.weighted
            .iter()
            .map(|(v, _)| v)
            .chain(self.versions.keys())
            .filter(|v| v.as_str() != version)
            .find_map(|v| {
                let endpoints = self.versions.get(v).filter(|e| !e.is_empty())?;
                Some((v.as_str(), endpoints.as_slice()))
            })
    }

    pub fn endpoints(&self, version: &str) -> &[Endpoint] {
        self.versions.get(version).map_or(&[], Vec::as_slice)
    }
}

/// The split of unpinned traffic by `weights` (version → share): cumulative weights of
/// the versions with a share and routable instances; empty when that is all `current`.
fn split(
    weights: Option<&BTreeMap<String, u32>>,
    versions: &BTreeMap<String, Vec<Endpoint>>,
    current: &str,
) -> Vec<(String, u32)> {
    let mut total = 0u32;
    let mut split = Vec::new();
    for (version, &weight) in weights.into_iter().flatten() {
        if weight == 0 || versions.get(version).is_none_or(Vec::is_empty) {
            continue;
        }
        total = total.saturating_add(weight);
        split.push((version.clone(), total));
    }
    if matches!(split.as_slice(), [(only, _)] if only == current) {
        split.clear();
    }
    split
}

/// An immutable snapshot of every route.
#[derive(Debug, Default)]
pub struct RouteTable {
    pub services: HashMap<String, ServiceRoute>,
    /// Path prefixes → service, longest first.
    pub prefixes: Vec<(String, String)>,
    /// DNS domains answered in `Host: <svc>.service.<domain>`.
    pub domains: Vec<String>,
    /// The feature flags every request is evaluated against at its first hop.
    pub flags: Arc<FlagsRoute>,
    /// Some service scales to zero (requests to it may be held: see `stages/wake.rs`).
    pub any_from_zero: bool,
}

impl RouteTable {
    /// Builds the table from specs and catalog records, every service's unpinned
    /// traffic on its current version. Live state (breakers, limits, per-instance
    /// load and ejections) is carried over from `previous` by service name and
    /// instance id, unless the service's resilience spec changed.
    pub fn build(
        specs: &BTreeMap<String, ServiceSpec>,
        records: &[InstanceRecord],
        domains: &[String],
        previous: &RouteTable,
    ) -> RouteTable {
        Self::build_weighted(specs, records, domains, &BTreeMap::new(), previous)
    }

    /// [`Self::build`] with each service's deployment weights (service → version →
    /// share of unpinned traffic; a service without any sends it to its current version).
    pub fn build_weighted(
        specs: &BTreeMap<String, ServiceSpec>,
        records: &[InstanceRecord],
        domains: &[String],
        weights: &BTreeMap<String, BTreeMap<String, u32>>,
        previous: &RouteTable,
    ) -> RouteTable {
        let mut by_service: BTreeMap<&str, Vec<&InstanceRecord>> = BTreeMap::new();
        for r in records {
            by_service.entry(r.service.as_str()).or_default().push(r);
        }
        let names: BTreeSet<&str> = specs
            .keys()
            .map(String::as_str)
            .chain(by_service.keys().copied())
            .collect();
        let mut services = HashMap::default();
        let mut prefixes = Vec::new();
        for name in names {
            let spec = specs.get(name);
            let prev = previous.services.get(name);
            let resilience = spec.and_then(|s| s.resilience.as_ref());
            let state = match prev {
                Some(p) if p.state.spec == resilience.cloned().unwrap_or_default() => {
                    p.state.clone()
                }
                _ => Arc::new(ServiceState::new(resilience)),
            };
            let mut known: BTreeSet<String> = spec
                .map(|s| {
                    std::iter::once(s.version.clone())
                        .chain(s.versions.keys().cloned())
                        .collect()
                })
                .unwrap_or_default();
            let mut versions: BTreeMap<String, Vec<Endpoint>> = BTreeMap::new();
            for r in by_service.get(name).into_iter().flatten() {
                known.insert(r.version.clone());
                let Ok(ip) = r.address.parse::<IpAddr>() else {
                    continue;
                };
                if !r.is_routable() {
                    continue;
                }
                let stats = prev
                    .and_then(|p| p.versions.values().flatten().find(|e| e.instance == r.id))
                    .map_or_else(|| Arc::new(EndpointStats::default()), |e| e.stats.clone());
                let endpoint = Endpoint {
                    instance: r.id.clone(),
                    version: r.version.clone(),
                    addr: SocketAddr::new(ip, r.port),
                    stats,
                };
                // A service without a spec serves every instance as its one version "".
                let key = if spec.is_some() {
                    r.version.clone()
                } else {
                    String::new()
                };
                versions.entry(key).or_default().push(endpoint);
            }
            for list in versions.values_mut() {
                list.sort_by(|a, b| a.instance.cmp(&b.instance));
            }
            if let Some(s) = spec {
                prefixes.extend(s.routes.iter().map(|r| (r.clone(), name.to_owned())));
            }
            let current = spec.map(|s| s.version.clone()).unwrap_or_default();
            let current_endpoints = versions.get(&current).cloned().unwrap_or_default();
            let weighted = split(weights.get(name), &versions, &current);
            services.insert(
                name.to_owned(),
                ServiceRoute {
                    name: name.to_owned(),
                    current,
                    known,
                    versions,
                    current_endpoints,
                    weighted,
                    state,
                    strategy: Strategy::LeastLoaded,
                    rr: AtomicUsize::new(0),
                    h2c: spec.is_some_and(|s| s.protocol == shoal_spec::Protocol::H2c),
                    tls: spec.and_then(|s| s.tls.as_ref()).map(|t| {
                        match prev.and_then(|p| p.tls.as_ref()) {
                            // Kept while unchanged: its CA file is read once.
                            Some(kept) if kept.spec == *t => kept.clone(),
                            _ => Arc::new(crate::upstream::UpstreamTls::new(name, t)),
                        }
                    }),
                    from_zero: spec
                        .and_then(|s| s.scale.as_ref())
                        .is_some_and(|sc| sc.min == 0),
                    chaos: Vec::new(),
                },
            );
        }
        prefixes.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        let any_from_zero = services.values().any(|r: &ServiceRoute| r.from_zero);
        RouteTable {
            services,
            prefixes,
            domains: domains.to_vec(),
            flags: previous.flags.clone(),
            any_from_zero,
        }
    }
}

impl RouteTable {
    /// The same table with every service balanced by `strategy` (default least-loaded).
    pub fn with_strategy(mut self, strategy: Strategy) -> Self {
        for route in self.services.values_mut() {
            route.strategy = strategy;
        }
        self
    }
}
