//! [`FlagSet`]: flags compiled once for the request path, evaluated without allocating.
//!
//! Rules apply in this order: disabled → off; user key denied → off; a `force_on`
//! header matches → on (even at rollout 0); user key allowed → on; a constraint misses →
//! off; then the rollout: the sticky bucket
//! `fmix32(murmur3(<user key>) ^ murmur3(<flag>)) % 10000` is on iff it is below
//! `rollout * 100`, so raising the percentage keeps everyone who had the flag. A variant
//! flag that is on picks its variant by a second bucket,
//! `fmix32(murmur3(<user key>) ^ murmur3(<flag>:variant))`, over the cumulative weights.
//! The user key is hashed once per request for all flags (a flag's bucket is then two
//! multiplies away), and each header the rules read is looked up once per request.
//!
//! Why evaluation does not allocate: everything that needs a `String` (lower-cased header
//! names, the `X-Flag-<name>` header, the values, sorted allow/deny lists, each flag's
//! hash seeds) is built by [`FlagSet::new`]; evaluating only compares borrowed `&str`s,
//! binary-searches sorted vectors, hashes on the stack, keeps looked-up headers in a
//! fixed array and bumps an atomic counter. A [`Decision`] borrows its strings from the
//! set. `tests/no_alloc.rs` counts the allocations of `evaluate_all` with a counting
//! global allocator and expects none.

use shoal_spec::Constraint;

use crate::decision::{Decision, Reason};
use crate::hash::{fmix32, murmur3_32};
use crate::tally::Tally;
use crate::Flag;

/// Buckets of the rollout: a rollout of `p` percent is on for buckets below `p * 100`.
pub const BUCKETS: u32 = 10_000;

/// What evaluation needs to know about a request.
pub trait Request {
    /// The value of the header `name`, which is given in lower case: compare names
    /// case-insensitively. `None` when the header is absent or not text; with several
    /// headers of that name, the first.
    fn header(&self, name: &str) -> Option<&str>;
    /// The request path (anything from a `?` on is ignored).
    fn path(&self) -> &str;
}

/// Flags compiled for evaluation: immutable, shared as `Arc`, swapped whole when the
/// flags change. Flags are kept sorted by name; an index is a position in that order.
#[derive(Debug, Default)]
pub struct FlagSet {
    flags: Vec<Compiled>,
    tally: Tally,
    /// Every header a rule reads (user keys, `force_on`, constraints), lower case,
    /// distinct: rules name them by index, and a request looks each up once.
    headers: Vec<String>,
    /// See [`FlagSet::written_len`].
    written_len: (usize, usize),
}

/// How many distinct headers a request keeps looked up (more are looked up each time).
const CACHED_HEADERS: usize = 16;

/// The headers a request was asked for so far, by index in [`FlagSet::headers`].
struct Looked<'r> {
    values: [Option<Option<&'r str>>; CACHED_HEADERS],
}

impl<'r> Looked<'r> {
    fn new() -> Self {
        Looked {
            values: [None; CACHED_HEADERS],
        }
    }

    /// Header `i` (named `name`) of `req`, looked up once.
    fn get<R: Request + ?Sized>(&mut self, req: &'r R, i: usize, name: &str) -> Option<&'r str> {
        match self.values.get_mut(i) {
            Some(slot) => *slot.get_or_insert_with(|| req.header(name)),
            None => req.header(name),
        }
    }
}

#[derive(Debug)]
struct Compiled {
    name: String,
    /// `X-Flag-<name>`.
    header: String,
    enabled: bool,
    /// Rollout in buckets, 0..=BUCKETS.
    threshold: u32,
    /// Index of the user-key header in [`FlagSet::headers`].
    user_header: usize,
    /// (header index, values).
    force_on: Vec<(usize, Vec<String>)>,
    /// Sorted, deduplicated.
    allow: Vec<String>,
    deny: Vec<String>,
    checks: Vec<Check>,
    /// `murmur3(<name>)`: mixed with the key's hash into the rollout bucket.
    bucket_seed: u32,
    /// `murmur3(<name>:variant)`: mixed with the key's hash into the variant pick.
    variant_seed: u32,
    /// End (exclusive) of each variant's range of weight; empty for an on/off flag.
    cumulative: Vec<u64>,
    /// What the flag can answer: `["1", "0"]`, or the variant names then the off variant
    /// (unless it is one of them).
    values: Vec<String>,
    /// Index in `values` of the answer when off.
    off: usize,
    /// Index in `values` of the answer when on without a key to split by.
    default_on: usize,
    /// Tally slot of `values[0]`.
    base: usize,
    /// Per value (as `values`), what [`FlagSet::write_all`] writes for it.
    written: Vec<Written>,
}

/// One value of one flag as the gateway writes it.
#[derive(Debug)]
struct Written {
    /// `X-Flag-<name>: <value>\r\n`.
    line: Box<[u8]>,
    /// `,<name>=<value>`: the access record's pair, with the separator before it.
    pair: Box<str>,
}

/// What a flag answers one request, by index in its `values`.
#[derive(Debug, Clone, Copy)]
struct Pick {
    index: usize,
    on: bool,
    reason: Reason,
    /// Whether the variant was picked by the bucket of a key.
    split: bool,
}

#[derive(Debug)]
enum Check {
    /// Header index, accepted values.
    Header(usize, Vec<String>),
    /// Without a trailing `/` (empty for `/`, which matches every path).
    PathPrefix(String),
}

impl FlagSet {
    /// Compiles `flags` (sorted by name; of two with one name the first is kept). Flags
    /// are expected to be valid ([`Flag::validate`]); an invalid one still compiles, with
    /// an out-of-range rollout clamped and a non-finite one taken as 0.
    pub fn new<'a>(flags: impl IntoIterator<Item = &'a Flag>) -> Self {
        let mut sorted: Vec<&Flag> = flags.into_iter().collect();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        sorted.dedup_by(|a, b| a.name == b.name);
        let mut labels = Vec::new();
        let mut headers = Vec::new();
        let mut compiled = Vec::with_capacity(sorted.len());
        for flag in sorted {
            let c = Compiled::new(flag, labels.len(), &mut headers);
            labels.extend(c.values.iter().map(|v| (c.name.clone(), v.clone())));
            compiled.push(c);
        }
        let longest =
            |f: &Compiled, len: fn(&Written) -> usize| f.written.iter().map(len).max().unwrap_or(0);
        let lines = compiled.iter().map(|f| longest(f, |w| w.line.len())).sum();
        // Every pair is written with its `,`, but the first.
        let text = compiled
            .iter()
            .map(|f| longest(f, |w| w.pair.len()))
            .sum::<usize>()
            .saturating_sub(1);
        FlagSet {
            flags: compiled,
            tally: Tally::new(labels),
            headers,
            written_len: (lines, text),
        }
    }

    /// How many flags.
    pub fn len(&self) -> usize {
        self.flags.len()
    }

    /// Whether there are no flags.
    pub fn is_empty(&self) -> bool {
        self.flags.is_empty()
    }

    /// The flag names, sorted; the n-th is flag index n.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.flags.iter().map(|f| f.name.as_str())
    }

    /// The index of the flag `name`.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.flags
            .binary_search_by(|f| f.name.as_str().cmp(name))
            .ok()
    }

    /// The header flag `index` is sent in: `X-Flag-<name>`.
    pub fn header_name(&self, index: usize) -> Option<&str> {
        self.flags.get(index).map(|f| f.header.as_str())
    }

    /// Every value flag `index` can answer (`"1"`, `"0"`, or the variants and the off variant).
    pub fn values(&self, index: usize) -> &[String] {
        self.flags.get(index).map_or(&[], |f| f.values.as_slice())
    }

    /// The evaluation counters.
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// Evaluates every flag for `req`, in index order, calling `out(index, decision)`.
    /// `fallback_key` stands in for a missing user key (the gateway passes the trace id:
    /// random per request, the same along its call tree). Counts each decision.
    pub fn evaluate_all<R: Request + ?Sized>(
        &self,
        req: &R,
        fallback_key: Option<&str>,
        mut out: impl FnMut(usize, &Decision<'_>),
    ) {
        self.pick_all(req, fallback_key, |i, f, pick| out(i, &f.decision(pick)));
    }

    /// Picks every flag's value for `req`, in index order, counts it and calls
    /// `each(index, flag, pick)`: the loop of [`FlagSet::evaluate_all`] and
    /// [`FlagSet::write_all`].
    #[inline]
    fn pick_all<R: Request + ?Sized>(
        &self,
        req: &R,
        fallback_key: Option<&str>,
        mut each: impl FnMut(usize, &Compiled, Pick),
    ) {
        let mut looked = Looked::new();
        // The user key (from the header most flags name) hashed once for every flag.
        let mut hashed: Option<(usize, Option<u32>)> = None;
        let counters = self.tally.counters();
        for (i, f) in self.flags.iter().enumerate() {
            let user = looked.get(req, f.user_header, &self.headers[f.user_header]);
            let key_hash = match hashed {
                Some((h, k)) if h == f.user_header => k,
                _ => {
                    let k = key_of(user, fallback_key).map(|k| murmur3_32(k.as_bytes(), 0));
                    hashed = Some((f.user_header, k));
                    k
                }
            };
            let mut header = |i: usize| looked.get(req, i, &self.headers[i]);
            let pick = f.pick(req, &mut header, user, key_hash);
            counters.bump(f.base + pick.index);
            each(i, f, pick);
        }
    }

    /// The most bytes [`FlagSet::write_all`] writes for one request: to `lines` (each
    /// flag's longest `X-Flag-<name>: <value>\r\n`) and to `text` (its longest
    /// `name=value`, and the `,` between), so buffers of these sizes never grow.
    pub fn written_len(&self) -> (usize, usize) {
        self.written_len
    }

    /// The gateway's form of [`FlagSet::evaluate_all`]: appends each flag's
    /// `X-Flag-<name>: <value>\r\n` line to `lines` and, with `text`, its `name=value`
    /// (joined by `,`) to `text`, from fragments made by [`FlagSet::new`] (one copy each,
    /// no [`Decision`] made). Counts each decision, as `evaluate_all` does.
    pub fn write_all<R: Request + ?Sized>(
        &self,
        req: &R,
        fallback_key: Option<&str>,
        lines: &mut Vec<u8>,
        mut text: Option<&mut String>,
    ) {
        self.pick_all(req, fallback_key, |_, f, pick| {
            if let Some(w) = f.written.get(pick.index) {
                lines.extend_from_slice(&w.line);
                if let Some(t) = text.as_mut() {
                    // Every pair but the first carries its leading `,`.
                    let pair = if t.is_empty() { &w.pair[1..] } else { &w.pair };
                    t.push_str(pair);
                }
            }
        });
    }

    /// Evaluates flag `index` for `req`, the user key read from the flag's user header.
    pub fn evaluate<R: Request + ?Sized>(
        &self,
        index: usize,
        req: &R,
        fallback_key: Option<&str>,
    ) -> Option<Decision<'_>> {
        self.evaluate_with_key(index, req, None, fallback_key)
    }

    /// [`FlagSet::evaluate`] with the user key given (`None`: read from the user header),
    /// as OFREP's `targetingKey` is.
    pub fn evaluate_with_key<R: Request + ?Sized>(
        &self,
        index: usize,
        req: &R,
        user_key: Option<&str>,
        fallback_key: Option<&str>,
    ) -> Option<Decision<'_>> {
        let f = self.flags.get(index)?;
        let mut header = |i: usize| req.header(&self.headers[i]);
        let user = user_key.or_else(|| header(f.user_header));
        let key_hash = key_of(user, fallback_key).map(|k| murmur3_32(k.as_bytes(), 0));
        let d = f.decide(req, &mut header, user, key_hash);
        self.tally.bump(d.slot);
        Some(d)
    }
}

/// The key a request is split by: its user key, else the fallback (empty ones skipped).
fn key_of<'a>(user: Option<&'a str>, fallback: Option<&'a str>) -> Option<&'a str> {
    user.filter(|k| !k.is_empty())
        .or(fallback.filter(|k| !k.is_empty()))
}

/// The index of header `name` (any case) in `headers`, added when new.
fn header_index(headers: &mut Vec<String>, name: &str) -> usize {
    let lower = name.to_ascii_lowercase();
    match headers.iter().position(|h| *h == lower) {
        Some(i) => i,
        None => {
            headers.push(lower);
            headers.len() - 1
        }
    }
}

impl Compiled {
    fn new(flag: &Flag, base: usize, headers: &mut Vec<String>) -> Self {
        let sorted = |keys: &[String]| {
            let mut v = keys.to_vec();
            v.sort_unstable();
            v.dedup();
            v
        };
        let checks = flag
            .constraints
            .iter()
            .map(|c| match c {
                Constraint::HeaderEquals { header, value } => {
                    Check::Header(header_index(headers, header), vec![value.clone()])
                }
                Constraint::HeaderIn { header, values } => {
                    Check::Header(header_index(headers, header), values.clone())
                }
                Constraint::PathPrefix { prefix } => {
                    Check::PathPrefix(prefix.trim_end_matches('/').to_owned())
                }
            })
            .collect();
        let bucket_seed = murmur3_32(flag.name.as_bytes(), 0);
        let variant_seed = murmur3_32(format!("{}:variant", flag.name).as_bytes(), 0);
        let mut total = 0u64;
        let cumulative = flag
            .variants
            .iter()
            .map(|v| {
                total += u64::from(v.weight);
                total
            })
            .collect();
        let (values, off, default_on) = if flag.variants.is_empty() {
            (vec!["1".to_owned(), "0".to_owned()], 1, 0)
        } else {
            let mut values: Vec<String> = flag.variants.iter().map(|v| v.name.clone()).collect();
            let off = match values.iter().position(|v| *v == flag.off_variant) {
                Some(i) => i,
                None => {
                    values.push(flag.off_variant.clone());
                    values.len() - 1
                }
            };
            let default_on = flag.variants.iter().position(|v| v.weight > 0).unwrap_or(0);
            (values, off, default_on)
        };
        let threshold = if flag.rollout.is_finite() {
            (flag.rollout * 100.0)
                .round()
                .clamp(0.0, f64::from(BUCKETS)) as u32
        } else {
            0
        };
        let header = format!("X-Flag-{}", flag.name);
        let written = values
            .iter()
            .map(|v| Written {
                line: format!("{header}: {v}\r\n").into_bytes().into(),
                pair: format!(",{}={v}", flag.name).into(),
            })
            .collect();
        Compiled {
            name: flag.name.clone(),
            header,
            enabled: flag.enabled,
            threshold,
            user_header: header_index(headers, &flag.user_header),
            force_on: flag
                .force_on
                .iter()
                .map(|f| (header_index(headers, &f.header), f.values.clone()))
                .collect(),
            allow: sorted(&flag.allow),
            deny: sorted(&flag.deny),
            checks,
            bucket_seed,
            variant_seed,
            cumulative,
            values,
            off,
            default_on,
            base,
            written,
        }
    }

    /// The decision for a request whose headers `header` gives (by index), with user
    /// key `user` and `key_hash`, the hash of the key it is split by (the user key, else
    /// the fallback).
    fn decide<'r, R: Request + ?Sized>(
        &self,
        req: &'r R,
        header: &mut impl FnMut(usize) -> Option<&'r str>,
        user: Option<&str>,
        key_hash: Option<u32>,
    ) -> Decision<'_> {
        self.decision(self.pick(req, header, user, key_hash))
    }

    /// The [`Decision`] of `p`.
    fn decision(&self, p: Pick) -> Decision<'_> {
        Decision {
            flag: &self.name,
            header: &self.header,
            value: self.values.get(p.index).map_or("", String::as_str),
            on: p.on,
            reason: p.reason,
            has_variants: !self.cumulative.is_empty(),
            slot: self.base + p.index,
            split: p.split,
        }
    }

    /// [`Compiled::decide`]'s answer as the index of its value.
    #[inline]
    fn pick<'r, R: Request + ?Sized>(
        &self,
        req: &'r R,
        header: &mut impl FnMut(usize) -> Option<&'r str>,
        user: Option<&str>,
        key_hash: Option<u32>,
    ) -> Pick {
        let user = user.filter(|k| !k.is_empty());
        if !self.enabled {
            return self.off(Reason::Disabled);
        }
        if user.is_some_and(|u| listed(&self.deny, u)) {
            return self.off(Reason::Denied);
        }
        let forced = self
            .force_on
            .iter()
            .any(|(h, values)| header(*h).is_some_and(|v| values.iter().any(|x| x == v)));
        if forced {
            return self.on(Reason::Forced, key_hash);
        }
        if user.is_some_and(|u| listed(&self.allow, u)) {
            return self.on(Reason::Allowed, key_hash);
        }
        if !self.checks.iter().all(|c| c.holds(req, &mut *header)) {
            return self.off(Reason::ConstraintMiss);
        }
        match (self.threshold, key_hash) {
            (0, _) => self.off(Reason::Static),
            (t, _) if t >= BUCKETS => self.on(Reason::Static, key_hash),
            (t, Some(k)) => {
                if fmix32(k ^ self.bucket_seed) % BUCKETS < t {
                    self.on(Reason::Rollout { on: true }, key_hash)
                } else {
                    self.off(Reason::Rollout { on: false })
                }
            }
            (_, None) => self.off(Reason::NoUserKey),
        }
    }

    fn off(&self, reason: Reason) -> Pick {
        Pick {
            index: self.off,
            on: false,
            reason,
            split: false,
        }
    }

    fn on(&self, reason: Reason, key_hash: Option<u32>) -> Pick {
        let total = self.cumulative.last().copied().unwrap_or(0);
        match key_hash {
            Some(k) if total > 0 => {
                let x = u64::from(fmix32(k ^ self.variant_seed)) % total;
                let index = self
                    .cumulative
                    .iter()
                    .position(|&end| x < end)
                    .unwrap_or(self.default_on);
                Pick {
                    index,
                    on: true,
                    reason,
                    split: true,
                }
            }
            _ => Pick {
                index: self.default_on,
                on: true,
                reason,
                split: false,
            },
        }
    }
}

fn listed(sorted: &[String], key: &str) -> bool {
    sorted.binary_search_by(|k| k.as_str().cmp(key)).is_ok()
}

impl Check {
    fn holds<'r, R: Request + ?Sized>(
        &self,
        req: &'r R,
        header: &mut impl FnMut(usize) -> Option<&'r str>,
    ) -> bool {
        match self {
            Check::Header(i, values) => header(*i).is_some_and(|v| values.iter().any(|x| x == v)),
            Check::PathPrefix(prefix) => {
                let path = req.path();
                let path = path.split_once('?').map_or(path, |(p, _)| p);
                prefix.is_empty()
                    || path
                        .strip_prefix(prefix.as_str())
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            }
        }
    }
}

#[cfg(test)]
#[path = "eval_tests.rs"]
mod tests;
