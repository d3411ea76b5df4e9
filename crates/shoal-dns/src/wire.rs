//! [`Reply`]: a response written straight into DNS wire format (RFC 1035 §4), with name
//! compression by pointers into the question, and truncation that keeps the largest prefix
//! of answers that fits (TC set) plus the additional records of the SRV targets kept.
//!
//! Answer owners point at the question name (offset 12); zone names (SOA, NS, SRV and PTR
//! targets) point at the zone suffix inside the question, or, when the question is not in
//! the zone (reverse lookups), at the zone written in full once; additional records point at
//! the target name inside the first SRV that named it; the addresses after a CNAME point at
//! its target. Nothing here can fail or panic on any table.

use std::net::IpAddr;

use hickory_proto::op::Query;

use crate::table::{HostName, Target, Zone, SOA_TIMERS};

/// Size of a DNS header.
pub(crate) const HEADER_LEN: usize = 12;
/// An OPT record with no options: root name, type, class, TTL, RDLENGTH.
const OPT_LEN: usize = 11;
const PTR: u16 = 0xC000;
const TYPE_A: u16 = 1;
const TYPE_NS: u16 = 2;
const TYPE_CNAME: u16 = 5;
const TYPE_SOA: u16 = 6;
const TYPE_PTR: u16 = 12;
const TYPE_AAAA: u16 = 28;
const TYPE_SRV: u16 = 33;
const TYPE_OPT: u16 = 41;
const CLASS_IN: u16 = 1;

/// A record to write; its owner follows from its section and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rr {
    /// A or AAAA owned by the question name.
    Addr(IpAddr),
    /// SRV owned by the question name, naming one of the reply's targets.
    Srv {
        port: u16,
        target: usize,
        weight: u16,
    },
    /// PTR owned by the question name, naming [`Reply::ptr`] in the zone.
    Ptr,
    /// CNAME owned by the question name, naming [`Reply::cname`].
    Cname,
    /// A or AAAA owned by the CNAME's target.
    CnameAddr(IpAddr),
    /// The zone's SOA, owned by the zone apex.
    Soa,
    /// The zone's NS, owned by the zone apex.
    Ns,
}

/// A response under construction.
pub(crate) struct Reply<'a> {
    pub(crate) id: u16,
    pub(crate) opcode: u8,
    pub(crate) rd: bool,
    pub(crate) aa: bool,
    /// The 12-bit response code (the high 8 bits travel in the OPT record).
    pub(crate) rcode: u16,
    pub(crate) question: Option<&'a Query>,
    /// The zone the question falls in, for SOA/NS/SRV target names.
    pub(crate) zone: Option<&'a Zone>,
    /// `Some(payload)` when the query had EDNS0: we answer with an OPT record.
    pub(crate) edns: Option<u16>,
    pub(crate) ttl: u32,
    pub(crate) targets: &'a [Target],
    /// The labels before the zone that [`Rr::Ptr`] names.
    pub(crate) ptr: &'a [u8],
    /// The whole name (wire format) that [`Rr::Cname`] names.
    pub(crate) cname: Vec<u8>,
    pub(crate) answers: Vec<Rr>,
    pub(crate) authority: Vec<Rr>,
    pub(crate) serial: u32,
}

impl Reply<'_> {
    /// Writes the response within `limit` bytes (never below 512).
    pub(crate) fn encode(&self, limit: usize) -> Vec<u8> {
        let mut w = Writer {
            buf: Vec::with_capacity(512),
            limit: limit.max(512) - if self.edns.is_some() { OPT_LEN } else { 0 },
            zone: self.zone,
            zone_off: None,
            cname_off: None,
            reserved: 0,
        };
        w.buf.resize(HEADER_LEN, 0);
        let mut counts = [0u16; 4];
        let mut tc = false;
        if let Some(q) = self.question {
            self.write_question(&mut w, q);
            counts[0] = 1;
            // Per target: named by a kept SRV, and where its name was first written.
            let mut used = vec![false; self.targets.len()];
            let mut target_off: Vec<Option<u16>> = vec![None; self.targets.len()];
            for rr in &self.answers {
                let named = w.record(|w| {
                    let named = self.write_rr(w, *rr, &target_off);
                    // A new target's additional record must fit too (as Consul keeps them).
                    let extra = match named {
                        Some((t, off)) if !used.get(t).copied().unwrap_or(true) => self
                            .targets
                            .get(t)
                            .map_or(0, |t| additional_len(t, off, w.zone_len())),
                        _ => 0,
                    };
                    (named, extra)
                });
                let Some(named) = named else {
                    tc = true;
                    break;
                };
                if let Some((t, off)) = named {
                    if let Some(u) = used.get_mut(t) {
                        *u = true;
                    }
                    if let Some(slot) = target_off.get_mut(t) {
                        *slot = slot.or(off);
                    }
                }
                counts[1] += 1;
            }
            if !tc {
                for rr in &self.authority {
                    let kept = w.record(|w| (self.write_rr(w, *rr, &target_off), 0));
                    if kept.is_none() {
                        break;
                    }
                    counts[2] += 1;
                }
            }
            // The space reserved for these is theirs now.
            w.reserved = 0;
            for (i, t) in self.targets.iter().enumerate() {
                let Some(ip) = t.ip else { continue };
                if !used.get(i).copied().unwrap_or(false) {
                    continue;
                }
                let off = target_off.get(i).copied().flatten();
                let kept = w.record(|w| {
                    match off {
                        Some(off) => w.u16(PTR | off),
                        None => w.target_name(&t.name),
                    }
                    w.addr_record_after_owner(self.ttl, ip);
                    ((), 0)
                });
                if kept.is_none() {
                    break;
                }
                counts[3] += 1;
            }
        }
        if let Some(payload) = self.edns {
            w.buf.push(0);
            w.u16(TYPE_OPT);
            w.u16(payload.max(512));
            // TTL: extended rcode (high 8 bits), version 0, no flags.
            w.u32(u32::from((self.rcode >> 4) as u8) << 24);
            w.u16(0);
            counts[3] += 1;
        }
        let flags = 0x8000
            | (u16::from(self.opcode & 0x0f) << 11)
            | if self.aa { 0x0400 } else { 0 }
            | if tc { 0x0200 } else { 0 }
            | if self.rd { 0x0100 } else { 0 }
            | (self.rcode & 0x0f);
        let mut header = [0u8; HEADER_LEN];
        header[0..2].copy_from_slice(&self.id.to_be_bytes());
        header[2..4].copy_from_slice(&flags.to_be_bytes());
        for (i, c) in counts.iter().enumerate() {
            header[4 + 2 * i..6 + 2 * i].copy_from_slice(&c.to_be_bytes());
        }
        w.buf[..HEADER_LEN].copy_from_slice(&header);
        w.buf
    }

    fn write_question(&self, w: &mut Writer, q: &Query) {
        let labels: Vec<&[u8]> = q.name().iter().collect();
        // Where the zone's labels end the question, compressed names point at them.
        let zone_at = self.zone.and_then(|z| {
            let n = z.labels.len();
            let tail = labels.get(labels.len().checked_sub(n)?..)?;
            let same = tail
                .iter()
                .zip(&z.labels)
                .all(|(a, b)| a.eq_ignore_ascii_case(b.as_bytes()));
            same.then_some(labels.len() - n)
        });
        for (i, l) in labels.iter().enumerate() {
            if Some(i) == zone_at {
                w.zone_off = Some(w.buf.len() as u16);
            }
            w.buf.push(l.len() as u8);
            w.buf.extend_from_slice(l);
        }
        if zone_at == Some(labels.len()) {
            w.zone_off = Some(w.buf.len() as u16);
        }
        w.buf.push(0);
        w.u16(u16::from(q.query_type()));
        w.u16(u16::from(q.query_class()));
    }

    /// Writes `rr`; for an SRV returns its target and, when the target's name was written in
    /// full at a pointable offset, that offset.
    fn write_rr(
        &self,
        w: &mut Writer,
        rr: Rr,
        target_off: &[Option<u16>],
    ) -> Option<(usize, Option<u16>)> {
        let question = PTR | HEADER_LEN as u16;
        match rr {
            Rr::Addr(ip) => {
                w.u16(question);
                w.addr_record_after_owner(self.ttl, ip);
                None
            }
            Rr::CnameAddr(ip) => {
                match w.cname_off {
                    Some(off) => w.u16(PTR | off),
                    None => w.buf.extend_from_slice(&self.cname),
                }
                w.addr_record_after_owner(self.ttl, ip);
                None
            }
            Rr::Srv {
                port,
                target,
                weight,
            } => {
                let t = self.targets.get(target)?;
                w.rr_head(question, TYPE_SRV, self.ttl);
                let len_at = w.buf.len();
                w.u16(0);
                w.u16(1); // priority
                w.u16(weight);
                w.u16(port);
                let name_at = w.buf.len();
                let first = match target_off.get(target).copied().flatten() {
                    Some(off) => {
                        w.u16(PTR | off);
                        None
                    }
                    None => {
                        w.target_name(&t.name);
                        pointable(name_at)
                    }
                };
                w.patch_len(len_at);
                Some((target, first))
            }
            Rr::Ptr => {
                w.rr_head(question, TYPE_PTR, self.ttl);
                let len_at = w.buf.len();
                w.u16(0);
                w.buf.extend_from_slice(self.ptr);
                w.zone_name();
                w.patch_len(len_at);
                None
            }
            Rr::Cname => {
                w.rr_head(question, TYPE_CNAME, self.ttl);
                let len_at = w.buf.len();
                w.u16(0);
                let at = w.buf.len();
                w.buf.extend_from_slice(&self.cname);
                w.cname_off = pointable(at);
                w.patch_len(len_at);
                None
            }
            Rr::Soa => {
                // The apex owns it, in the answer or in the authority section.
                w.zone_name();
                w.rr_tail_head(TYPE_SOA, 0);
                let len_at = w.buf.len();
                w.u16(0);
                w.label(b"ns");
                w.zone_name();
                w.label(b"hostmaster");
                w.zone_name();
                let (refresh, retry, expire) = SOA_TIMERS;
                for v in [self.serial, refresh, retry, expire, 0] {
                    w.u32(v);
                }
                w.patch_len(len_at);
                None
            }
            Rr::Ns => {
                w.zone_name();
                w.rr_tail_head(TYPE_NS, self.ttl);
                let len_at = w.buf.len();
                w.u16(0);
                w.label(b"ns");
                w.zone_name();
                w.patch_len(len_at);
                None
            }
        }
    }
}

/// `at` as a compression pointer target, if pointers reach it (the first 16 KiB).
fn pointable(at: usize) -> Option<u16> {
    u16::try_from(at).ok().filter(|o| *o < 0x4000)
}

struct Writer<'a> {
    buf: Vec<u8>,
    limit: usize,
    /// The zone the answer's names are in.
    zone: Option<&'a Zone>,
    /// Where the zone's name was first written (in the question, or in full later).
    zone_off: Option<u16>,
    /// Where the CNAME's target was written.
    cname_off: Option<u16>,
    /// Bytes promised to records written later (additionals of the SRV targets kept).
    reserved: usize,
}

impl Writer<'_> {
    /// Writes one record with `f`, which also says how many bytes to reserve for later;
    /// undoes it and returns `None` when the record and all reservations pass the limit.
    fn record<T>(&mut self, f: impl FnOnce(&mut Self) -> (T, usize)) -> Option<T> {
        let mark = self.buf.len();
        let offsets = (self.zone_off, self.cname_off);
        let (out, extra) = f(self);
        if self.buf.len() + self.reserved + extra > self.limit {
            self.buf.truncate(mark);
            (self.zone_off, self.cname_off) = offsets;
            return None;
        }
        self.reserved += extra;
        Some(out)
    }

    /// The zone's name: a pointer once written, else in full (remembered for later).
    fn zone_name(&mut self) {
        if let Some(off) = self.zone_off {
            self.u16(PTR | off);
            return;
        }
        let at = self.buf.len();
        if let Some(z) = self.zone {
            for l in &z.labels {
                self.label(l.as_bytes());
            }
        }
        self.buf.push(0);
        if self.zone.is_some() {
            self.zone_off = pointable(at);
        }
    }

    /// Bytes the zone's name takes where it is written next.
    fn zone_len(&self) -> usize {
        match (self.zone_off, self.zone) {
            (Some(_), _) => 2,
            (None, Some(z)) => z.labels.iter().map(|l| l.len() + 1).sum::<usize>() + 1,
            (None, None) => 1,
        }
    }

    fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn label(&mut self, l: &[u8]) {
        self.buf.push(l.len() as u8);
        self.buf.extend_from_slice(l);
    }

    fn rr_head(&mut self, owner: u16, rtype: u16, ttl: u32) {
        self.u16(owner);
        self.rr_tail_head(rtype, ttl);
    }

    /// Type, class and TTL, once the owner name is written.
    fn rr_tail_head(&mut self, rtype: u16, ttl: u32) {
        self.u16(rtype);
        self.u16(CLASS_IN);
        self.u32(ttl);
    }

    fn patch_len(&mut self, len_at: usize) {
        let len = (self.buf.len() - len_at - 2) as u16;
        self.buf[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes());
    }

    /// A target's full name: its own labels, then the zone; or a whole name.
    fn target_name(&mut self, name: &HostName) {
        match name {
            HostName::InZone(prefix) => {
                self.buf.extend_from_slice(prefix);
                self.zone_name();
            }
            HostName::Absolute(whole) => self.buf.extend_from_slice(whole),
        }
    }

    /// The rest of an A/AAAA record once its owner name is written.
    fn addr_record_after_owner(&mut self, ttl: u32, ip: IpAddr) {
        let rtype = if ip.is_ipv4() { TYPE_A } else { TYPE_AAAA };
        self.u16(rtype);
        self.u16(CLASS_IN);
        self.u32(ttl);
        match ip {
            IpAddr::V4(v4) => {
                self.u16(4);
                self.buf.extend_from_slice(&v4.octets());
            }
            IpAddr::V6(v6) => {
                self.u16(16);
                self.buf.extend_from_slice(&v6.octets());
            }
        }
    }
}

/// Size of a target's A/AAAA additional record: owner (a pointer, or the name in full),
/// type, class, TTL, length, address.
fn additional_len(t: &Target, name_off: Option<u16>, zone_len: usize) -> usize {
    let Some(ip) = t.ip else { return 0 };
    let owner = match (name_off, &t.name) {
        (Some(_), _) => 2,
        (None, HostName::InZone(prefix)) => prefix.len() + zone_len,
        (None, HostName::Absolute(whole)) => whole.len(),
    };
    owner + 10 + if ip.is_ipv4() { 4 } else { 16 }
}

/// A FORMERR answer built from the raw header of a query that did not parse; `None` when
/// there is no header or the packet claims to be a response (never answer those: loops).
pub(crate) fn formerr_from_raw(query: &[u8]) -> Option<Vec<u8>> {
    if query.len() < HEADER_LEN || query[2] & 0x80 != 0 {
        return None;
    }
    let mut out = vec![0u8; HEADER_LEN];
    out[0..2].copy_from_slice(&query[0..2]);
    // QR, the query's opcode and RD; RCODE 1 (FORMERR); no records.
    out[2] = 0x80 | (query[2] & 0x79);
    out[3] = 0x01;
    Some(out)
}
