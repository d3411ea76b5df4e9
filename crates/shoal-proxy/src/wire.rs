//! HTTP/1.1 on the wire as pure functions: request and response heads parsed
//! (httparse) and written, how a message's body is framed, and the chunked decoder.
//!
//! Both sides of the proxy use these: the listeners' connection loop (`h1.rs`)
//! and the upstream client (`client.rs`).

use std::cell::RefCell;
use std::mem::MaybeUninit;

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};

use crate::fields::Fields;
use crate::headers::{self, Known, Stamp};
use crate::raw::{span, Layout, RawHead, Span};

/// Header fields a message head may carry.
pub(crate) const MAX_HEADERS: usize = 100;
/// Longest chunk-size line or trailer section accepted in a chunked body.
const MAX_CHUNK_LINE: usize = 4096;

/// Why bytes on the wire are not an HTTP/1.1 message we accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum WireError {
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("more than {MAX_HEADERS} header fields")]
    TooManyHeaders,
    #[error("bad chunked body: {0}")]
    Chunked(&'static str),
}

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    Empty,
    Length(u64),
    Chunked,
    /// Until the connection closes (responses only).
    UntilClose,
}

/// A parsed request head.
#[derive(Debug)]
pub(crate) struct RequestHead {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub fields: Fields,
}

/// A parsed response head.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    pub status: StatusCode,
    pub version: Version,
    pub fields: Fields,
}

fn slots<const N: usize>() -> [MaybeUninit<httparse::Header<'static>>; N] {
    [const { MaybeUninit::uninit() }; N]
}

fn parse_error(e: httparse::Error) -> WireError {
    match e {
        httparse::Error::TooManyHeaders => WireError::TooManyHeaders,
        e => WireError::Malformed(e.to_string()),
    }
}

fn version(v: Option<u8>) -> Version {
    match v {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    }
}

thread_local! {
    /// The spans of the head being parsed: kept between parses, so parsing
    /// neither allocates nor clears a large array per message.
    static FIELDS: RefCell<Vec<(Span, Span)>> = const { RefCell::new(Vec::new()) };
}

/// Notes where `parsed`'s fields lie in `base`, for [`fields_map`].
fn note_fields(base: &[u8], parsed: &[httparse::Header<'_>]) {
    FIELDS.with_borrow_mut(|f| {
        f.clear();
        f.extend(
            parsed
                .iter()
                .map(|h| (span(base, h.name.as_bytes()), span(base, h.value))),
        );
    });
}

/// The header map of the fields last noted, over `head` (values share its
/// bytes), with room for `extra` more fields.
fn fields_map(head: &Bytes, extra: usize) -> Result<HeaderMap, WireError> {
    FIELDS.with_borrow(|fields| {
        let mut map = HeaderMap::with_capacity(fields.len() + extra);
        for &((ns, nl), (vs, vl)) in fields {
            let raw = &head[ns..ns + nl];
            let name = HeaderName::from_bytes(raw).map_err(|_| {
                let name = String::from_utf8_lossy(raw);
                WireError::Malformed(format!("bad header name `{name}`"))
            })?;
            let value = HeaderValue::from_maybe_shared(head.slice(vs..vs + vl))
                .map_err(|_| WireError::Malformed(format!("bad value of header `{name}`")))?;
            map.append(name, value);
        }
        Ok(map)
    })
}

/// The fields of `head`: raw when `layout` says where they lie, else in a map
/// (from the fields last noted) with room for `extra` more.
fn fields(head: Bytes, layout: Option<Box<Layout>>, extra: usize) -> Result<Fields, WireError> {
    match layout {
        Some(layout) => Ok(Fields::Raw(RawHead::new(head, layout))),
        None => fields_map(&head, extra).map(Fields::map),
    }
}

/// Where `parsed`'s fields lie in `base` if they can be kept raw; else they are
/// noted for [`fields_map`].
fn layout(base: &[u8], parsed: &[httparse::Header<'_>]) -> Option<Box<Layout>> {
    let layout = Layout::of(base, parsed);
    if layout.is_none() {
        note_fields(base, parsed);
    }
    layout
}

/// Header fields the proxy adds to a request's map (none: Shoal's are written with it).
const ADDED_TO_REQUESTS: usize = 0;
/// Header fields the proxy adds to an answer's map (`X-Trace-Id`, for HTTP/2 clients).
const ADDED_TO_ANSWERS: usize = 1;

/// Takes the request head off the front of `buf`; `None` (and `buf` untouched) while incomplete.
/// Header values and the target share the head's bytes.
pub(crate) fn parse_request(buf: &mut BytesMut) -> Result<Option<RequestHead>, WireError> {
    let (n, method, target, version, layout) = {
        let mut slots = slots::<MAX_HEADERS>();
        let mut req = httparse::Request::new(&mut []);
        let n = match req.parse_with_uninit_headers(buf, &mut slots) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(parse_error(e)),
        };
        let method = Method::from_bytes(req.method.unwrap_or_default().as_bytes())
            .map_err(|_| WireError::Malformed("bad method".into()))?;
        let target = span(buf, req.path.unwrap_or_default().as_bytes());
        let layout = layout(buf, req.headers);
        (n, method, target, version(req.version), layout)
    };
    let head = buf.split_to(n).freeze();
    let uri = Uri::from_maybe_shared(head.slice(target.0..target.0 + target.1)).map_err(|_| {
        let t = String::from_utf8_lossy(&head[target.0..target.0 + target.1]);
        WireError::Malformed(format!("bad request target `{t}`"))
    })?;
    Ok(Some(RequestHead {
        method,
        uri,
        version,
        fields: fields(head, layout, ADDED_TO_REQUESTS)?,
    }))
}

/// Takes the response head off the front of `buf`; `None` (and `buf` untouched) while incomplete.
pub(crate) fn parse_response(buf: &mut BytesMut) -> Result<Option<ResponseHead>, WireError> {
    // Most answers have a few fields: a small array first, the full one if needed.
    let parsed = match response_fields::<24>(buf) {
        Err(WireError::TooManyHeaders) => response_fields::<MAX_HEADERS>(buf)?,
        other => other?,
    };
    let Some((n, code, version, layout)) = parsed else {
        return Ok(None);
    };
    let status =
        StatusCode::from_u16(code).map_err(|_| WireError::Malformed("bad status code".into()))?;
    let head = buf.split_to(n).freeze();
    Ok(Some(ResponseHead {
        status,
        version,
        fields: fields(head, layout, ADDED_TO_ANSWERS)?,
    }))
}

/// A parsed response head's length, status code, version and field layout.
type ResponseParts = (usize, u16, Version, Option<Box<Layout>>);

/// Parses a response head with room for `N` fields.
fn response_fields<const N: usize>(buf: &[u8]) -> Result<Option<ResponseParts>, WireError> {
    let mut slots = slots::<N>();
    let mut resp = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut resp, buf, &mut slots);
    let n = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(parse_error(e)),
    };
    Ok(Some((
        n,
        resp.code.unwrap_or_default(),
        version(resp.version),
        layout(buf, resp.headers),
    )))
}

/// What a head's fields say about its message's framing and connection, found in
/// one pass over the map.
#[derive(Debug, Default)]
pub(crate) struct Meta {
    /// `Content-Length`: `Some(Err)` when a value is bad or values disagree.
    length: Option<Result<u64, ()>>,
    /// Whether `Transfer-Encoding` ends with `chunked`; `None` without the header.
    chunked_last: Option<bool>,
    close: bool,
    keep_alive: bool,
    /// `Connection` lists `upgrade`.
    upgrade: bool,
    expect_continue: bool,
}

/// A `Content-Length` value: digits only (surrounding spaces allowed), fitting a u64.
fn parse_length(value: &[u8]) -> Result<u64, ()> {
    let digits = value.trim_ascii();
    if digits.is_empty() {
        return Err(());
    }
    digits.iter().try_fold(0u64, |n, &b| {
        if !b.is_ascii_digit() {
            return Err(());
        }
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(())
    })
}

impl Meta {
    pub(crate) fn of(fields: &Fields) -> Self {
        let mut m = Meta::default();
        match fields {
            Fields::Raw(raw) => raw.each_known(|kind, value| m.field(kind, value)),
            Fields::Map(map) => {
                for (name, value) in map.iter() {
                    m.field(Known::of(name.as_str().as_bytes()), value.as_bytes());
                }
            }
        }
        m
    }

    /// Takes in one field.
    fn field(&mut self, kind: Known, value: &[u8]) {
        let tokens = || value.split(|&b| b == b',').map(<[u8]>::trim_ascii);
        match kind {
            Known::ContentLength => {
                let n = parse_length(value);
                self.length = match (self.length, n) {
                    (None, n) => Some(n),
                    (Some(Ok(a)), Ok(b)) if a == b => Some(Ok(a)),
                    _ => Some(Err(())),
                };
            }
            Known::TransferEncoding => {
                let last = tokens().next_back();
                self.chunked_last = Some(last.is_some_and(|t| t.eq_ignore_ascii_case(b"chunked")));
            }
            // The usual values first, without splitting.
            Known::Connection if value.eq_ignore_ascii_case(b"keep-alive") => {
                self.keep_alive = true
            }
            Known::Connection if value.eq_ignore_ascii_case(b"close") => self.close = true,
            Known::Connection => {
                for token in tokens() {
                    self.close |= token.eq_ignore_ascii_case(b"close");
                    self.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                    self.upgrade |= token.eq_ignore_ascii_case(b"upgrade");
                }
            }
            Known::Expect => {
                self.expect_continue = value.eq_ignore_ascii_case(b"100-continue");
            }
            _ => {}
        }
    }

    fn content_length(&self) -> Result<Option<u64>, WireError> {
        match self.length {
            None => Ok(None),
            Some(Ok(n)) => Ok(Some(n)),
            Some(Err(())) => Err(WireError::Malformed(
                "bad or conflicting content-length".into(),
            )),
        }
    }

    /// How a request's body is framed (RFC 9112 §6.3): chunked must come last,
    /// and `Transfer-Encoding` with `Content-Length` is refused (request smuggling).
    pub(crate) fn request_framing(&self) -> Result<Framing, WireError> {
        match self.chunked_last {
            Some(true) if self.length.is_some() => Err(WireError::Malformed(
                "both transfer-encoding and content-length".into(),
            )),
            Some(true) => Ok(Framing::Chunked),
            Some(false) => Err(WireError::Malformed(
                "transfer-encoding without chunked last".into(),
            )),
            None => Ok(match self.content_length()? {
                None | Some(0) => Framing::Empty,
                Some(n) => Framing::Length(n),
            }),
        }
    }

    /// How a response's body is framed, given whether the request was `HEAD`.
    pub(crate) fn response_framing(
        &self,
        head_request: bool,
        status: StatusCode,
    ) -> Result<Framing, WireError> {
        let code = status.as_u16();
        if head_request || (100..200).contains(&code) || code == 204 || code == 304 {
            return Ok(Framing::Empty);
        }
        match self.chunked_last {
            Some(true) => Ok(Framing::Chunked),
            Some(false) => Ok(Framing::UntilClose),
            None => Ok(match self.content_length()? {
                Some(0) => Framing::Empty,
                Some(n) => Framing::Length(n),
                None => Framing::UntilClose,
            }),
        }
    }

    /// Whether the connection stays open after this message (`Connection`, then the version).
    pub(crate) fn keep_alive(&self, version: Version) -> bool {
        !self.close && (self.keep_alive || version != Version::HTTP_10)
    }

    /// Whether `Connection` asks to switch protocols (with an `Upgrade` field).
    pub(crate) fn wants_upgrade(&self) -> bool {
        self.upgrade
    }

    /// Whether a request asks for `100 Continue` before sending its body.
    pub(crate) fn expects_continue(&self) -> bool {
        self.expect_continue
    }
}

/// [`Meta::request_framing`] of some fields.
pub(crate) fn request_framing(f: &Fields) -> Result<Framing, WireError> {
    Meta::of(f).request_framing()
}

/// [`Meta::keep_alive`] of some fields.
pub(crate) fn keep_alive(version: Version, f: &Fields) -> bool {
    Meta::of(f).keep_alive(version)
}

fn put_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// What a request head is written with besides the client's fields.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Extra<'a> {
    /// Shoal's fields.
    pub stamp: Option<&'a Stamp<'a>>,
    /// The protocol the client asked to switch to (`Upgrade`), sent on with
    /// `Connection: upgrade`.
    pub upgrade: Option<&'a [u8]>,
}

/// Writes an HTTP/1.1 request head for a body of `body_len` bytes: the client's
/// fields that pass to an instance, then Shoal's and an upgrade (`extra`); `host`
/// is sent when the fields carry no `Host`. Fields a map's `Connection` names
/// must already be gone.
pub(crate) fn write_request_head(
    out: &mut Vec<u8>,
    method: &Method,
    path: &str,
    fields: &Fields,
    extra: Extra<'_>,
    host: &dyn std::fmt::Display,
    body_len: usize,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !fields.has(Known::Host) {
        use std::io::Write as _;
        let _ = write!(out, "host: {host}\r\n");
    }
    match extra.stamp {
        Some(stamp) => {
            fields.write(out, |k| stamp.keeps(k));
            stamp.write(out);
        }
        None => fields.write(out, headers::to_instance),
    }
    if let Some(protocol) = extra.upgrade {
        out.extend_from_slice(b"connection: upgrade\r\nupgrade: ");
        out.extend_from_slice(protocol);
        out.extend_from_slice(b"\r\n");
    }
    if body_len > 0 || matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
        out.extend_from_slice(b"content-length: ");
        put_decimal(out, body_len as u64);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// How a response body will be sent to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Send {
    /// `Content-Length: n` (written by us; the map's own is skipped).
    Length(u64),
    Chunked,
    /// No body follows (HEAD, 204, 304): the map's `Content-Length` is kept.
    Bodiless,
    /// The body ends when the connection closes (HTTP/1.0 clients, unknown length).
    UntilClose,
}

/// Writes a response head: the fields that pass to the client, `X-Trace-Id`
/// (in place of the fields' own) when `trace_id` is given, the framing and
/// `connection`; `date` when the fields carry no `Date`.
pub(crate) fn write_response_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    fields: &Fields,
    trace_id: Option<&[u8]>,
    send: Send,
    connection: Option<&'static str>,
    date: &[u8],
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    out.extend_from_slice(b"\r\n");
    let reframed = send != Send::Bodiless;
    // A `101`'s `Upgrade` names the protocol this hop switches to: it passes.
    let switching = status == StatusCode::SWITCHING_PROTOCOLS;
    fields.write(out, |kind| {
        (switching && kind == Known::Upgrade)
            || headers::to_client(kind, reframed, trace_id.is_some())
    });
    if let Some(id) = trace_id {
        out.extend_from_slice(b"x-trace-id: ");
        out.extend_from_slice(id);
        out.extend_from_slice(b"\r\n");
    }
    match send {
        Send::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            put_decimal(out, n);
            out.extend_from_slice(b"\r\n");
        }
        Send::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Send::Bodiless | Send::UntilClose => {}
    }
    if let Some(c) = connection {
        out.extend_from_slice(b"connection: ");
        out.extend_from_slice(c.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !fields.has(Known::Date) {
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(date);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes one chunk of a chunked body (`data` must not be empty).
pub(crate) fn write_chunk_head(out: &mut Vec<u8>, len: usize) {
    use std::io::Write as _;
    let _ = write!(out, "{len:x}\r\n");
}

/// What the chunked decoder produced.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Chunk {
    Data(Bytes),
    End,
}

/// Decodes a chunked body from a growing buffer (chunk extensions and trailers are dropped).
#[derive(Debug, Default)]
pub(crate) struct ChunkedDecoder {
    state: ChunkState,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

fn chunk_size(line: &[u8]) -> Result<u64, WireError> {
    let digits = line.split(|&b| b == b';').next().unwrap_or_default();
    let digits = digits.trim_ascii();
    if digits.is_empty() || digits.len() > 15 {
        return Err(WireError::Chunked("bad chunk size"));
    }
    let mut n = 0u64;
    for &b in digits {
        let d = (b as char)
            .to_digit(16)
            .ok_or(WireError::Chunked("bad chunk size"))?;
        n = n * 16 + u64::from(d);
    }
    Ok(n)
}

impl ChunkedDecoder {
    /// Takes the next piece from the front of `buf`; `Ok(None)` means more bytes are needed.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Chunk>, WireError> {
        loop {
            match self.state {
                ChunkState::Size => {
                    let Some(end) = find_crlf(buf) else {
                        return too_long(buf.len(), "chunk size line too long");
                    };
                    let n = chunk_size(&buf[..end])?;
                    buf.advance(end + 2);
                    self.state = if n == 0 {
                        ChunkState::Trailers
                    } else {
                        ChunkState::Data(n)
                    };
                }
                ChunkState::Data(n) => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let take = n.min(buf.len() as u64);
                    self.state = match n - take {
                        0 => ChunkState::DataEnd,
                        left => ChunkState::Data(left),
                    };
                    // `take` ≤ buf.len(), which is a usize.
                    let data = buf.split_to(take as usize).freeze();
                    return Ok(Some(Chunk::Data(data)));
                }
                ChunkState::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(None);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(WireError::Chunked("chunk data not followed by CRLF"));
                    }
                    buf.advance(2);
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailers => {
                    let Some(end) = find_crlf(buf) else {
                        return too_long(buf.len(), "trailer line too long");
                    };
                    buf.advance(end + 2);
                    if end == 0 {
                        self.state = ChunkState::Done;
                    }
                }
                ChunkState::Done => return Ok(Some(Chunk::End)),
            }
        }
    }
}

fn too_long(len: usize, why: &'static str) -> Result<Option<Chunk>, WireError> {
    if len > MAX_CHUNK_LINE {
        Err(WireError::Chunked(why))
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests;

/// Fuzzing entry (`fuzz/fuzz_targets/http1_wire.rs`): `data` as a request and as a
/// response, the body after a request head through the framing and the chunked
/// decoder fed in pieces of the first byte's size. Panics only on a broken invariant.
#[doc(hidden)]
pub fn fuzz_http1(data: &[u8]) {
    let step = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut buf = BytesMut::from(data);
    if let Ok(Some(head)) = parse_request(&mut buf) {
        if let Ok(Framing::Chunked) = request_framing(&head.fields) {
            let rest = &buf[..];
            let mut decoder = ChunkedDecoder::default();
            let (mut buf, mut fed, mut out) = (BytesMut::new(), 0, 0);
            loop {
                match decoder.decode(&mut buf) {
                    Ok(Some(Chunk::Data(b))) => {
                        assert!(!b.is_empty());
                        out += b.len();
                    }
                    Ok(Some(Chunk::End)) | Err(_) => break,
                    Ok(None) if fed < rest.len() => {
                        let end = (fed + step).min(rest.len());
                        buf.extend_from_slice(&rest[fed..end]);
                        fed = end;
                    }
                    Ok(None) => break,
                }
            }
            assert!(out <= rest.len());
        }
        let _ = keep_alive(head.version, &head.fields);
        let mut out = Vec::new();
        let path = match head.uri.path() {
            "" => "/",
            p => p,
        };
        let extra = Extra::default();
        write_request_head(&mut out, &head.method, path, &head.fields, extra, &"h", 0);
        // Writing may add `host`: a head already at the field limit may go over it.
        let again = parse_request(&mut BytesMut::from(&out[..]));
        assert!(
            matches!(again, Ok(Some(_)) | Err(WireError::TooManyHeaders)),
            "a written head parses back: {again:?}"
        );
    }
    if let Ok(Some(head)) = parse_response(&mut BytesMut::from(data)) {
        let _ = Meta::of(&head.fields).response_framing(false, head.status);
        let mut out = Vec::new();
        let send = Send::Length(0);
        write_response_head(
            &mut out,
            head.status,
            &head.fields,
            Some(b"0af7651916cd43dd8448eb211c80319c"),
            send,
            None,
            b"D",
        );
        // Writing adds `content-length` and `date`: the field limit may be passed.
        let again = parse_response(&mut BytesMut::from(&out[..]));
        assert!(
            matches!(again, Ok(Some(_)) | Err(WireError::TooManyHeaders)),
            "a written answer head parses back: {again:?}"
        );
    }
}
