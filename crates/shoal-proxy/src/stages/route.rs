//! Stage: which service and version a request goes to; 404 `no-route` when none.

use std::ops::ControlFlow::{Break, Continue};

use http::Uri;

use crate::fields::Fields;
use crate::headers::Known;
use crate::resolve::Target;
use crate::respond::Reason;
use crate::stages::{End, Step};
use crate::table::RouteTable;

/// Resolves the request by `Host` (else the URI's host), its path-and-query `pq`
/// and its version-selecting fields.
#[inline]
pub(crate) fn target<'t>(
    table: &'t RouteTable,
    uri: &Uri,
    pq: &'t str,
    fields: &Fields,
) -> Step<Target<'t>> {
    let host = fields
        .known(Known::Host)
        .and_then(|h| std::str::from_utf8(h).ok())
        .or_else(|| uri.host());
    match table.resolve(host, pq, fields) {
        Some(target) => Continue(target),
        None => {
            let detail = format!(
                "no service matches Host `{}` or path `{}`",
                host.unwrap_or(""),
                uri.path()
            );
            Break(End::shoal(Reason::NoRoute, &detail))
        }
    }
}
