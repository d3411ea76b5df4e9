//! The shapes of the JSON each filtered endpoint returns, which decide the valid
//! selectors, the operators each accepts and how a value is read (Consul derives the
//! same from its Go structs). `&SHAPE` is `'static` (constant promotion). A test checks
//! each shape against what `render.rs` writes.

/// The type of a field.
#[derive(Debug, PartialEq, Eq)]
pub enum Shape {
    Str,
    /// An integer; values are read as integers (`Port == 8080`).
    Int,
    /// `true`/`false`; values are read as Go's `strconv.ParseBool` does.
    Bool,
    /// A list: a selector continuing past it matches if any element matches.
    List(&'static Shape),
    /// A map with user-defined string keys (`Meta.env`, `Meta["a b"]`).
    Map(&'static Shape),
    /// An object with fixed field names.
    Struct(&'static [(&'static str, Shape)]),
}

impl Shape {
    /// What the shape is called in error messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Shape::Str => "a string",
            Shape::Int => "a number",
            Shape::Bool => "a boolean",
            Shape::List(_) => "a list",
            Shape::Map(_) => "a map",
            Shape::Struct(_) => "a structure",
        }
    }
}

use Shape::{Bool, Int, List, Map, Str, Struct};

const WEIGHTS: Shape = Struct(&[("Passing", Int), ("Warning", Int)]);

/// An upstream of a Connect proxy.
const UPSTREAM: Shape = Struct(&[
    ("DestinationType", Str),
    ("DestinationNamespace", Str),
    ("DestinationPartition", Str),
    ("DestinationPeer", Str),
    ("DestinationName", Str),
    ("Datacenter", Str),
    ("LocalBindAddress", Str),
    ("LocalBindPort", Int),
    ("LocalBindSocketPath", Str),
    ("LocalBindSocketMode", Str),
]);

/// A service's Connect proxy configuration (`Proxy`, `ServiceProxy`). Shoal runs no
/// Connect proxies: every selector reads as absent, as for a Consul service that is
/// not a proxy (so `Service.Kind != "connect-proxy"` keeps every service).
const PROXY: Shape = Struct(&[
    ("DestinationServiceName", Str),
    ("DestinationServiceID", Str),
    ("LocalServiceAddress", Str),
    ("LocalServicePort", Int),
    ("LocalServiceSocketPath", Str),
    ("Mode", Str),
    ("TransparentProxy", Map(&Str)),
    ("Config", Map(&Str)),
    ("Upstreams", List(&UPSTREAM)),
    ("MeshGateway", Map(&Str)),
    ("Expose", Map(&Str)),
]);

/// `Connect` / `ServiceConnect`: whether the service speaks Connect natively.
const CONNECT: Shape = Struct(&[("Native", Bool)]);
const SERVICE_ADDRESS: Shape = Struct(&[("Address", Str), ("Port", Int)]);

/// A node (`/v1/catalog/nodes`, `Node` of `/v1/health/service` entries).
pub const NODE: Shape = Struct(&[
    ("ID", Str),
    ("Node", Str),
    ("Address", Str),
    ("Datacenter", Str),
    ("TaggedAddresses", Map(&Str)),
    ("Meta", Map(&Str)),
]);

/// A service in the agent's form (`/v1/agent/services`, `/v1/catalog/node/<node>`).
pub const AGENT_SERVICE: Shape = Struct(&[
    ("ID", Str),
    ("Service", Str),
    ("Tags", List(&Str)),
    ("Meta", Map(&Str)),
    ("Port", Int),
    ("Address", Str),
    ("TaggedAddresses", Map(&SERVICE_ADDRESS)),
    ("Weights", WEIGHTS),
    ("EnableTagOverride", Bool),
    ("Datacenter", Str),
    ("Kind", Str),
    ("Proxy", PROXY),
    ("Connect", CONNECT),
]);

/// The `Service` of a health entry: the agent form without `Datacenter`.
pub const HEALTH_SERVICE: Shape = Struct(&[
    ("ID", Str),
    ("Service", Str),
    ("Tags", List(&Str)),
    ("Meta", Map(&Str)),
    ("Port", Int),
    ("Address", Str),
    ("TaggedAddresses", Map(&SERVICE_ADDRESS)),
    ("Weights", WEIGHTS),
    ("EnableTagOverride", Bool),
    ("Kind", Str),
    ("Proxy", PROXY),
    ("Connect", CONNECT),
]);

/// A check (`/v1/health/checks|state|node`, `/v1/agent/checks`, `Checks` of entries).
pub const CHECK: Shape = Struct(&[
    ("Node", Str),
    ("CheckID", Str),
    ("Name", Str),
    ("Status", Str),
    ("Notes", Str),
    ("Output", Str),
    ("ServiceID", Str),
    ("ServiceName", Str),
    ("ServiceTags", List(&Str)),
    ("Type", Str),
    ("Interval", Str),
    ("Timeout", Str),
    ("ExposedPort", Int),
]);

/// One entry of `/v1/health/service/<name>`.
pub const HEALTH_ENTRY: Shape = Struct(&[
    ("Node", NODE),
    ("Service", HEALTH_SERVICE),
    ("Checks", List(&CHECK)),
]);

/// An instance in the catalog's form (`/v1/catalog/service/<name>`, and the instances
/// `/v1/catalog/services` aggregates).
pub const CATALOG_SERVICE: Shape = Struct(&[
    ("ID", Str),
    ("Node", Str),
    ("Address", Str),
    ("Datacenter", Str),
    ("TaggedAddresses", Map(&Str)),
    ("NodeMeta", Map(&Str)),
    ("ServiceKind", Str),
    ("ServiceID", Str),
    ("ServiceName", Str),
    ("ServiceTags", List(&Str)),
    ("ServiceAddress", Str),
    ("ServiceTaggedAddresses", Map(&SERVICE_ADDRESS)),
    ("ServiceWeights", WEIGHTS),
    ("ServiceMeta", Map(&Str)),
    ("ServicePort", Int),
    ("ServiceEnableTagOverride", Bool),
    ("ServiceProxy", PROXY),
    ("ServiceConnect", CONNECT),
]);
