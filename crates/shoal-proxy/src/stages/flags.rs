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
/// `X-Flag-<name>: <value>\r\n` (the client's `X-Flag-*` fields are then dropped).
pub(crate) struct Decided {
    pub lines: Vec<u8>,
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

/// Evaluates `flags` for a request from `caller` (`gateway` at the edge) with `fields`
/// to path-and-query `pq`, in `trace`; `None` when there is nothing to add (no flags,
/// or a mesh request that already carries its decisions).
#[inline]
pub(crate) fn decide(
    flags: &FlagsRoute,
    fields: &Fields,
    pq: &str,
    gateway: bool,
    trace: &TraceContext,
) -> Option<Decided> {
    let set: &FlagSet = &flags.set;
    if set.is_empty() || (!gateway && carries_flags(fields)) {
        return None;
    }
    let view = View { fields, path: pq };
    let mut lines = Vec::with_capacity(flags.rendered_len);
    set.evaluate_all(&view, Some(trace.trace_id()), |_, d| {
        lines.extend_from_slice(d.header.as_bytes());
        lines.extend_from_slice(b": ");
        lines.extend_from_slice(d.value.as_bytes());
        lines.extend_from_slice(b"\r\n");
    });
    Some(Decided { lines })
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

/// The flags a request was sent on with, as `name=value` pairs separated by `,` (for
/// the access line and its span): Shoal's own when it decided, else the ones the
/// request carried.
pub(crate) fn summary(decided: Option<&Decided>, fields: &Fields) -> String {
    let mut out = String::new();
    let mut add = |name: &[u8], value: &[u8]| {
        let name = name.get(7..).unwrap_or_default(); // after `x-flag-`
        if let (Ok(n), Ok(v)) = (std::str::from_utf8(name), std::str::from_utf8(value)) {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(n);
            out.push('=');
            out.push_str(v);
        }
    };
    match decided {
        Some(d) => {
            for line in d.lines.split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if let Some(colon) = line.iter().position(|&b| b == b':') {
                    add(&line[..colon], line[colon + 1..].trim_ascii_start());
                }
            }
        }
        None => fields.each(|name, value| {
            if Known::of(name) == Known::XFlag {
                add(name, value);
            }
        }),
    }
    out
}
