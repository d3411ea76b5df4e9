//! [`Reply`]: a response under construction, and its encoding within a size limit (UDP):
//! the largest prefix of the answers that fits is sent with TC set, and additional records
//! are kept only for the SRV targets still answered (as Consul trims).

use hickory_proto::op::{Edns, Message, OpCode, ResponseCode};
use hickory_proto::rr::Record;

/// Size of a DNS header: an answer never needs less.
pub(crate) const HEADER_LEN: usize = 12;

/// A response being built: the header and question come from `msg`, the sections from here.
pub(crate) struct Reply {
    pub(crate) msg: Message,
    /// Answer records, each with the SRV target it names (for additional-record trimming).
    pub(crate) answers: Vec<(Record, Option<usize>)>,
    pub(crate) authorities: Vec<Record>,
    /// Additional records, each for one SRV target.
    pub(crate) additionals: Vec<(usize, Record)>,
}

impl Reply {
    pub(crate) fn new(msg: Message) -> Self {
        Reply {
            msg,
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
        }
    }

    pub(crate) fn rcode(&mut self, code: ResponseCode) {
        self.msg.metadata.response_code = code;
    }

    /// Encodes within `limit` bytes. Returns `None` only if even a header-only answer cannot
    /// be encoded, which does not happen with sane input.
    pub(crate) fn encode(mut self, limit: usize) -> Option<Vec<u8>> {
        let full = self.encode_prefix(self.answers.len());
        if let Some(bytes) = full.filter(|b| b.len() <= limit) {
            return Some(bytes);
        }
        // Binary search the largest answer prefix that fits; answer 0 records fits always.
        self.msg.metadata.truncation = true;
        self.authorities.clear();
        let (mut lo, mut hi) = (0, self.answers.len());
        let mut best = None;
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            match self.encode_prefix(mid).filter(|b| b.len() <= limit) {
                Some(bytes) => {
                    best = Some(bytes);
                    lo = mid;
                }
                None => hi = mid - 1,
            }
        }
        best.or_else(|| self.encode_prefix(lo))
            .filter(|b| b.len() <= limit)
            .or_else(|| servfail(&self.msg))
    }

    fn encode_prefix(&self, n: usize) -> Option<Vec<u8>> {
        let mut msg = self.msg.clone();
        let kept = &self.answers[..n];
        msg.answers = kept.iter().map(|(r, _)| r.clone()).collect();
        msg.authorities.clone_from(&self.authorities);
        msg.additionals = self
            .additionals
            .iter()
            .filter(|(t, _)| kept.iter().any(|(_, k)| *k == Some(*t)))
            .map(|(_, r)| r.clone())
            .collect();
        msg.to_vec().ok()
    }
}

/// A header-only SERVFAIL for `msg` (our own encoding failed).
fn servfail(msg: &Message) -> Option<Vec<u8>> {
    let mut m = Message::error_msg(msg.id, msg.op_code, ResponseCode::ServFail);
    m.metadata.recursion_desired = msg.recursion_desired;
    m.to_vec().ok()
}

/// A FORMERR answer built from the raw header of a query that did not parse; `None` when
/// there is no header or the packet claims to be a response (never answer those: loops).
pub(crate) fn formerr_from_raw(query: &[u8]) -> Option<Vec<u8>> {
    if query.len() < HEADER_LEN || query[2] & 0x80 != 0 {
        return None;
    }
    let id = u16::from_be_bytes([query[0], query[1]]);
    let op = OpCode::from_u8((query[2] >> 3) & 0x0f);
    let mut m = Message::error_msg(id, op, ResponseCode::FormErr);
    m.metadata.recursion_desired = query[2] & 0x01 != 0;
    m.to_vec().ok()
}

/// Our EDNS0 record: version 0 and the UDP payload we accept.
pub(crate) fn our_edns(max_payload: u16) -> Edns {
    let mut e = Edns::new();
    e.set_max_payload(max_payload.max(512));
    e.set_version(0);
    e
}
