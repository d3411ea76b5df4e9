//! Stage: the call to the chosen version's instances: what of the client's request
//! goes on (hop-by-hop fields stripped, Shoal's stamp added) and with which timeout.
//! `handle` awaits it with `forward::call` (balancing, attempts and retries).

use bytes::Bytes;
use http::Method;
use tokio::time::Instant;

use crate::client_h2::{accepts_trailers, RequestStream};
use crate::fields::Fields;
use crate::forward::Call;
use crate::headers::{strip_hop_by_hop, Known, Stamp};
use crate::resolve::Target;
use crate::server::Proxy;
use crate::stages::finish::Report;
use crate::table::ServiceRoute;

/// What the call takes from the request and keeps while it runs.
pub(crate) struct Outgoing<'a> {
    method: &'a Method,
    /// The request's fields, hop-by-hop ones gone (from a map; raw ones are
    /// filtered as they are written).
    fields: &'a Fields,
    /// The protocol a client asks to switch to.
    upgrade: Option<Bytes>,
    /// The client accepts trailers and the instances speak HTTP/2.
    trailers: bool,
    /// A body passed on as it arrives.
    stream: Option<RequestStream>,
}

/// Readies a request that arrived at `start` for `route`'s instances and counts
/// it for the retry budget.
#[inline]
pub(crate) fn outgoing<'a>(
    route: &ServiceRoute,
    method: &'a Method,
    fields: &'a mut Fields,
    upgrade: bool,
    stream: Option<RequestStream>,
    start: Instant,
) -> Outgoing<'a> {
    // The protocol a client asks to switch to, kept before hop-by-hop fields go.
    let upgrade = upgrade
        .then(|| fields.known(Known::Upgrade).map(Bytes::copy_from_slice))
        .flatten();
    let trailers = route.h2c && fields.known(Known::Te).is_some_and(accepts_trailers);
    // Raw fields are filtered as they are written; a map is stripped here.
    if let Fields::Map(map) = fields {
        strip_hop_by_hop(map);
    }
    route.state.deposit(start);
    Outgoing {
        method,
        fields,
        upgrade,
        trailers,
        stream,
    }
}

impl Proxy {
    /// The call to `target` with `body`, stamped with the version, the trace, the
    /// caller and the flag decisions made here (if any), timed by the service's timeout.
    #[inline]
    pub(crate) fn call<'a>(
        &self,
        target: &'a Target<'_>,
        rep: &'a Report<'_>,
        out: &'a Outgoing<'_>,
        flags: Option<&'a [u8]>,
        body: Bytes,
    ) -> Call<'a> {
        let route = target.route;
        Call {
            method: out.method,
            fields: out.fields,
            stamp: Some(Stamp {
                version: target.version,
                trace: rep.trace,
                caller: rep.caller,
                flags,
            }),
            upgrade: out.upgrade.as_deref(),
            path: &target.path,
            body,
            timeout: route
                .state
                .spec
                .timeout
                .unwrap_or(self.config.default_timeout),
            h2c: route.h2c,
            tls: route.tls.as_deref(),
            trailers: out.trailers,
            stream: out.stream.as_ref(),
            chaos: (!route.chaos.is_empty()).then_some((route.chaos.as_slice(), rep.caller)),
        }
    }
}
