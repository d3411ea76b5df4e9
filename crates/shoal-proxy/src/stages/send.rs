//! Stage: the call to the chosen version's instances: what of the client's request
//! goes on (hop-by-hop fields stripped, Shoal's stamp added) and with which timeout.
//! `handle` awaits it with `forward::call` (balancing, attempts and retries).

use bytes::Bytes;
use http::Method;
use tokio::time::Instant;

use crate::client_h2::accepts_trailers;
use crate::fields::Fields;
use crate::forward::Call;
use crate::headers::{strip_hop_by_hop, Known, Stamp};
use crate::resolve::Target;
use crate::server::Proxy;
use crate::stages::body::Payload;
use crate::stages::finish::Report;
use crate::table::ServiceRoute;

/// What the call takes from the request and keeps while it runs.
pub(crate) struct Outgoing {
    /// The protocol a client asks to switch to.
    upgrade: Option<Bytes>,
    /// The client accepts trailers and the instances speak HTTP/2.
    trailers: bool,
    payload: Payload,
}

/// Readies a request that arrived at `start` for `route`'s instances (its
/// hop-by-hop fields go) and counts it for the retry budget.
#[inline]
pub(crate) fn outgoing(
    route: &ServiceRoute,
    fields: &mut Fields,
    upgrade: bool,
    payload: Payload,
    start: Instant,
) -> Outgoing {
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
        upgrade,
        trailers,
        payload,
    }
}

impl Proxy {
    /// The call to `target` (its body taken from `out`), stamped with the
    /// version, the trace and the caller, timed by the service's timeout.
    #[inline]
    pub(crate) fn call<'a>(
        &self,
        target: &'a Target<'_>,
        rep: &'a Report<'_>,
        method: &'a Method,
        fields: &'a Fields,
        out: &'a mut Outgoing,
    ) -> Call<'a> {
        let route = target.route;
        let Outgoing {
            upgrade,
            trailers,
            payload: Payload { bytes, stream },
        } = out;
        let (upgrade, stream): (&'a Option<Bytes>, &'a Option<_>) = (upgrade, stream);
        Call {
            method,
            fields,
            stamp: Some(Stamp {
                version: target.version,
                trace: &rep.trace,
                caller: rep.caller,
            }),
            upgrade: upgrade.as_deref(),
            path: &target.path,
            body: std::mem::take(bytes),
            timeout: route
                .state
                .spec
                .timeout
                .unwrap_or(self.config.default_timeout),
            h2c: route.h2c,
            trailers: *trailers,
            stream: stream.as_ref(),
        }
    }
}
