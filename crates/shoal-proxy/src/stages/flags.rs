//! Stage: feature flags, decided once per request at its first hop and handed down
//! the call tree as `X-Flag-<name>: 1|0` (or the variant).
//!
//! At the gateway every flag is evaluated and any `X-Flag-*` field the client sent is
//! dropped: an outside client cannot switch a flag on by sending the header (a
//! `force_on` rule naming such a header still sees it, since rules read the request
//! as it came). On a service's outbound listener a request that carries `X-Flag-*`
//! fields passes them on unchanged (the whole tree sees the first hop's decision); one
//! that carries none (a batch job's first call into the mesh) is evaluated there.
//! Requests without a user key are split by their trace id: random per request, the
//! same along its call tree.

use shoal_flags::{FlagSet, Request};

use crate::fields::{Fields, HeaderLookup};
use crate::headers::Known;
use crate::table::FlagsRoute;
use crate::trace::TraceContext;

/// The flags a request is sent on with: the fields Shoal writes, each line
/// `X-Flag-<name>: <value>\r\n` (the client's `X-Flag-*` fields are then dropped),
/// and for the access record the same as `name=value,...` (when there is one).
pub(crate) struct Decided {
    pub lines: Vec<u8>,
    pub summary: Option<String>,
}

/// The request as flag rules read it.
struct View<'a> {
    fields: &'a Fields,
    path: &'a str,
}

impl Request for View<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.fields
            .header(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    fn path(&self) -> &str {
        self.path
    }
}

/// Evaluates `flags` for a request from the gateway (or, `gateway` false, from a
/// service) with `fields` to path-and-query `pq`, in `trace`; `None` when there is
/// nothing to add (no flags, or a mesh request that already carries its decisions).
/// With `summary`, also the `name=value,...` text of the access record (made here from
/// the decisions' own strings: no parsing or validating later).
#[inline]
pub(crate) fn decide(
    flags: &FlagsRoute,
    fields: &Fields,
    pq: &str,
    gateway: bool,
    trace: &TraceContext,
    summary: bool,
) -> Option<Decided> {
    let set: &FlagSet = &flags.set;
    if set.is_empty() || (!gateway && carries_flags(fields)) {
        return None;
    }
    let view = View { fields, path: pq };
    let (lines_len, text_len) = set.written_len();
    let mut lines = Vec::with_capacity(lines_len);
    let mut text = summary.then(|| String::with_capacity(text_len));
    set.write_all(&view, Some(trace.trace_id()), &mut lines, text.as_mut());
    Some(Decided {
        lines,
        summary: text,
    })
}

/// Whether the request has any `X-Flag-*` field.
fn carries_flags(fields: &Fields) -> bool {
    match fields {
        Fields::Raw(raw) => raw.known(Known::XFlag).is_some(),
        Fields::Map(map) => map
            .keys()
            .any(|n| Known::of(n.as_str().as_bytes()) == Known::XFlag),
    }
}

/// The `X-Flag-*` fields a request carries, as `name=value,...` (for the access
/// record of a hop that passes them on); `None` when it has none.
pub(crate) fn carried(fields: &Fields) -> Option<String> {
    let mut out = String::new();
    fields.each(|name, value| {
        if Known::of(name) != Known::XFlag {
            return;
        }
        let name = name.get(7..).unwrap_or_default(); // after `x-flag-`
        if let (Ok(n), Ok(v)) = (std::str::from_utf8(name), std::str::from_utf8(value)) {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(n);
            out.push('=');
            out.push_str(v);
        }
    });
    (!out.is_empty()).then_some(out)
}
