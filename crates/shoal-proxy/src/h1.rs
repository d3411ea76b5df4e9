//! A listener's connection: Shoal's own HTTP/1.1 loop in the connection's task
//! (keep-alive, pipelining, `100 Continue`, limits on head size, body size,
//! head, body and idle time; `400` for an HTTP/1.1 request without `Host`); a
//! connection that opens with the HTTP/2 preface goes to `h2.rs`.
//!
//! One timer per connection bounds both the wait for a request and the time to
//! read its head: it is armed at accept and only re-armed when it fires before
//! the current deadline, so a busy keep-alive connection does not touch the
//! timer wheel on every request. While it waits for a request the connection is
//! idle in the budget's eyes (`shoal-listen`), which may reclaim it.

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use http::{Method, StatusCode, Version};
use shoal_listen::Admission;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

use crate::body::{Body, ReqBody};
use crate::conn_io::{reserve, ClientIo};
use crate::fields::Fields;
use crate::h2::PREFACE;
use crate::headers::Known;
use crate::message::{Answer, ClientRequest};
use crate::pool::Pool;
use crate::server::Proxy;
use crate::wire::{self, Chunk, ChunkedDecoder, Framing, Send, WireError};

/// Bodies up to this size are copied into the head's write; larger ones go separately.
const COPY_BODY_BYTES: usize = 16 * 1024;
/// After answering a client whose request is not read whole, its remaining bytes
/// are read and dropped this long (at most [`LINGER_BYTES`]) so the answer is not
/// lost to a reset.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;

/// Serves one accepted connection until the client closes it, a limit ends it,
/// the budget reclaims it while idle, or the proxy shuts down.
pub(crate) async fn serve<S: ClientIo>(
    proxy: Arc<Proxy>,
    stream: S,
    caller: Arc<str>,
    pool: Pool,
    stop: watch::Receiver<bool>,
    admission: Admission,
) {
    let idle = proxy.config.idle_timeout;
    let head_timeout = proxy.config.head_timeout;
    let mut signal = stop.clone();
    let slot = admission.slot().clone();
    let mut conn = Conn {
        stream,
        rbuf: BytesMut::with_capacity(8 * 1024),
        wbuf: Vec::with_capacity(8 * 1024),
        stop,
        stopping: Box::pin(async move {
            tokio::select! {
                () = async { drop(signal.wait_for(|s| *s).await) } => {}
                () = slot.reclaimed() => {}
            }
        }),
        stopped: false,
        idle,
        body: proxy.config.body_timeout,
        // A new connection's first request: the head timeout, or idle when shorter.
        deadline: Instant::now() + head_timeout.min(idle),
        admission,
    };
    let sleep = tokio::time::sleep_until(conn.deadline);
    tokio::pin!(sleep);
    let max_head = proxy.config.max_header_bytes.max(1024);
    let max_body = proxy.config.max_body_bytes as u64;
    let mut first = true;
    loop {
        // Whether this request's head started arriving (its own deadline is set).
        let mut head_started = false;
        // The request head.
        let head = loop {
            // The HTTP/2 preface, whole or so far (a method such as PRICE is HTTP/1.1).
            let h2 = first
                && conn.rbuf.starts_with(b"PRI")
                && (conn.rbuf.starts_with(PREFACE) || PREFACE.starts_with(&conn.rbuf));
            if h2 {
                if conn.rbuf.starts_with(PREFACE) {
                    let read = conn.rbuf.split().freeze();
                    let (proxy, stop) = (proxy.clone(), conn.stop.clone());
                    let (stream, admission) = (conn.stream, conn.admission);
                    return crate::h2::serve(proxy, stream, read, caller, pool, stop, admission)
                        .await;
                }
            } else {
                match wire::parse_request(&mut conn.rbuf) {
                    Ok(Some(head)) => break head,
                    Ok(None) if conn.rbuf.len() > max_head => {
                        let why = format!("request head larger than {max_head} bytes");
                        return conn
                            .refuse(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, &why)
                            .await;
                    }
                    Ok(None) => {}
                    Err(e @ WireError::TooManyHeaders) => {
                        let status = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
                        return conn.refuse(status, &e.to_string()).await;
                    }
                    Err(e) => return conn.refuse(StatusCode::BAD_REQUEST, &e.to_string()).await,
                }
            }
            let wait = match conn.rbuf.is_empty() {
                true => Wait::Idle,
                false => {
                    // Only a head that does not come in one read pays for a clock read.
                    if !head_started {
                        head_started = true;
                        conn.deadline = conn.deadline.min(Instant::now() + head_timeout);
                    }
                    Wait::Head
                }
            };
            if !conn.fill(sleep.as_mut(), wait).await {
                return;
            }
        };
        first = false;
        // RFC 9112, section 3.2: an HTTP/1.1 request without Host is refused
        // (HTTP/1.0 has none to send).
        if head.version == Version::HTTP_11 && !head.fields.has(Known::Host) {
            let why = "an HTTP/1.1 request needs a Host header (RFC 9112, section 3.2)";
            return conn.refuse(StatusCode::BAD_REQUEST, why).await;
        }

        // Its body.
        let meta = wire::Meta::of(&head.fields);
        let framing = match meta.request_framing() {
            Ok(f) => f,
            Err(e) => return conn.refuse(StatusCode::BAD_REQUEST, &e.to_string()).await,
        };
        let mut keep = meta.keep_alive(head.version);
        let ask = meta.expects_continue() && head.version == Version::HTTP_11;
        // A request without a body may switch protocols (WebSocket): its
        // `Upgrade` goes on to the instance, and a `101` joins the two connections.
        let upgrade = meta.wants_upgrade()
            && head.version == Version::HTTP_11
            && framing == Framing::Empty
            && head.fields.has(Known::Upgrade);
        let body = match framing {
            Framing::Empty | Framing::UntilClose => ReqBody::Read(Bytes::new()),
            Framing::Length(n) if n > max_body => {
                keep = false;
                ReqBody::TooLarge(Some(n))
            }
            Framing::Length(n) => {
                // n ≤ max_body, a usize.
                let n = n as usize;
                if conn.rbuf.len() < n {
                    // The body gets its own wait, not what is left of the head's.
                    conn.deadline = Instant::now() + conn.body;
                }
                if ask && conn.rbuf.len() < n && !conn.write(b"HTTP/1.1 100 Continue\r\n\r\n").await
                {
                    return;
                }
                while conn.rbuf.len() < n {
                    if !conn.fill(sleep.as_mut(), Wait::Body).await {
                        return;
                    }
                }
                ReqBody::Read(conn.rbuf.split_to(n).freeze())
            }
            Framing::Chunked => {
                if ask
                    && conn.rbuf.is_empty()
                    && !conn.write(b"HTTP/1.1 100 Continue\r\n\r\n").await
                {
                    return;
                }
                conn.deadline = Instant::now() + conn.body;
                match conn.read_chunked(sleep.as_mut(), max_body).await {
                    Ok(Some(b)) => ReqBody::Read(b),
                    Ok(None) => {
                        keep = false;
                        ReqBody::TooLarge(None)
                    }
                    Err(None) => return,
                    Err(Some(e)) => {
                        return conn.refuse(StatusCode::BAD_REQUEST, &e.to_string()).await
                    }
                }
            }
        };

        // The answer.
        let is_head = head.method == Method::HEAD;
        let http10 = head.version == Version::HTTP_10;
        let req = ClientRequest {
            method: head.method,
            uri: head.uri,
            fields: head.fields,
            body,
            upgrade,
        };
        let resp = proxy.handle(&pool, &caller, req).await;
        if matches!(resp.body, Body::Upgraded(_)) {
            return conn.switch(resp).await;
        }
        // A connection reclaimed as this request arrived serves it, then closes.
        keep = keep && !*conn.stop.borrow() && !conn.admission.slot().is_reclaimed();
        match conn.respond(resp, is_head, http10, keep).await {
            Some(true) => {}
            Some(false) => return conn.linger().await,
            None => return,
        }
        conn.deadline = Instant::now() + idle;
    }
}

struct Conn<S> {
    stream: S,
    rbuf: BytesMut,
    wbuf: Vec<u8>,
    stop: watch::Receiver<bool>,
    /// Resolves when the proxy stops or the budget reclaims the connection: one
    /// waiter per connection, not one made and dropped per request.
    stopping: Pin<Box<dyn Future<Output = ()> + std::marker::Send>>,
    /// Whether `stopping` resolved (it is not polled again).
    stopped: bool,
    /// The longest wait for a request (and its head).
    idle: Duration,
    /// The longest wait between body reads or for a write.
    body: Duration,
    /// When the wait for (the rest of) the current request ends the connection.
    deadline: Instant,
    /// The connection's place in the budget: idle while it waits for a request.
    admission: Admission,
}

/// What a read waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// The next request: ends early when the proxy stops.
    Idle,
    /// The rest of a head: progress does not move the deadline (slow clients).
    Head,
    /// More of a body: each read moves the deadline.
    Body,
}

impl<S: ClientIo> Conn<S> {
    /// Reads more into `rbuf` before the deadline; `false` when the client closed,
    /// the deadline passed, or (waiting for a request) the proxy stops.
    async fn fill(&mut self, mut sleep: Pin<&mut Sleep>, wait: Wait) -> bool {
        let idle = wait == Wait::Idle;
        if idle && (self.stopped || *self.stop.borrow()) {
            return false;
        }
        if idle {
            self.admission.idle_until(self.deadline);
        }
        // Deadlines may move earlier (a head or body timeout shorter than the
        // wait so far): the timer must not fire later than the deadline.
        if sleep.deadline() > self.deadline {
            sleep.as_mut().reset(self.deadline);
        }
        reserve(&mut self.rbuf);
        // The same lazily re-armed deadline as `conn_io::within`, written out in one
        // select with the stop signal: wrapping the read in `within` cost ~300
        // instructions per request (callgrind).
        loop {
            tokio::select! {
                biased;
                r = self.stream.read_buf(&mut self.rbuf) => {
                    let more = matches!(r, Ok(n) if n > 0);
                    if more {
                        match wait {
                            Wait::Body => self.deadline = Instant::now() + self.body,
                            // Reclaimed meanwhile: `serve` closes after this request.
                            Wait::Idle => {
                                self.admission.busy();
                            }
                            Wait::Head => {}
                        }
                    }
                    return more;
                }
                () = sleep.as_mut() => {
                    if Instant::now() >= self.deadline {
                        return false;
                    }
                    sleep.as_mut().reset(self.deadline);
                }
                () = &mut self.stopping, if idle => {
                    self.stopped = true;
                    return false;
                }
            }
        }
    }

    /// A chunked request body up to `max` bytes: `Ok(None)` when longer,
    /// `Err(None)` when the connection ended, `Err(Some)` when malformed.
    async fn read_chunked(
        &mut self,
        mut sleep: Pin<&mut Sleep>,
        max: u64,
    ) -> Result<Option<Bytes>, Option<WireError>> {
        let mut decoder = ChunkedDecoder::default();
        let mut body = BytesMut::new();
        loop {
            match decoder.decode(&mut self.rbuf).map_err(Some)? {
                Some(Chunk::Data(b)) => {
                    if (body.len() + b.len()) as u64 > max {
                        return Ok(None);
                    }
                    body.extend_from_slice(&b);
                }
                Some(Chunk::End) => return Ok(Some(body.freeze())),
                None => {
                    if !self.fill(sleep.as_mut(), Wait::Body).await {
                        return Err(None);
                    }
                }
            }
        }
    }

    /// Writes `bytes` whole; `false` when the client is gone or reads nothing for `body`.
    async fn write(&mut self, bytes: &[u8]) -> bool {
        // The timer is only registered when the write has to wait.
        // A TLS stream holds what it could not send yet until flushed; a TCP
        // stream's flush does nothing.
        let stream = &mut self.stream;
        let write = tokio::time::timeout(self.body, async move {
            stream.write_all(bytes).await?;
            stream.flush().await
        });
        matches!(write.await, Ok(Ok(())))
    }

    /// Writes `wbuf`, then `body` when it is not empty.
    async fn flush_with(&mut self, body: &[u8]) -> bool {
        let mut out = std::mem::take(&mut self.wbuf);
        let ok = if body.len() <= COPY_BODY_BYTES {
            out.extend_from_slice(body);
            self.write(&out).await
        } else {
            self.write(&out).await && self.write(body).await
        };
        self.wbuf = out;
        ok
    }

    /// Sends `resp`; `Some(keep)` says whether the connection can carry another
    /// request, `None` that it broke.
    async fn respond(
        &mut self,
        resp: Answer,
        is_head: bool,
        http10: bool,
        mut keep: bool,
    ) -> Option<bool> {
        let Answer {
            status,
            fields,
            trace_id,
            body,
        } = resp;
        let code = status.as_u16();
        let bodiless = is_head || code == 204 || code == 304 || status.is_informational();
        let date = http_date();
        let send = match &body {
            _ if bodiless => Send::Bodiless,
            Body::Full(b) => Send::Length(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Stream(s) => match (s.size_hint().exact(), http10) {
                (Some(n), _) => Send::Length(n),
                (None, false) => Send::Chunked,
                (None, true) => Send::UntilClose,
            },
            Body::H2(b) => match (b.size_hint().exact(), http10) {
                (Some(n), _) => Send::Length(n),
                (None, false) => Send::Chunked,
                (None, true) => Send::UntilClose,
            },
            // Switched connections go to `switch`; one here is not joined.
            Body::Upgraded(_) => Send::Bodiless,
        };
        keep = keep && send != Send::UntilClose;
        self.wbuf.clear();
        wire::write_response_head(
            &mut self.wbuf,
            status,
            &fields,
            trace_id.as_ref().map(|id| &id[..]),
            send,
            connection_header(keep, http10),
            &date,
        );
        match body {
            Body::Full(b) => {
                let b = b.unwrap_or_default();
                let body = if bodiless { &[][..] } else { &b[..] };
                self.flush_with(body).await.then_some(keep)
            }
            Body::Upgraded(_) => self.flush_with(&[]).await.then_some(false),
            Body::Stream(mut s) => {
                let next = |cx: &mut Context<'_>| s.poll_data(cx);
                self.stream_out(send, bodiless, next).await.then_some(keep)
            }
            Body::H2(mut b) => {
                let next = |cx: &mut Context<'_>| b.poll_data(cx);
                self.stream_out(send, bodiless, next).await.then_some(keep)
            }
        }
    }

    /// Sends the head in `wbuf`, then (unless `bodiless`) a streamed body piece
    /// by piece as `next` yields it, as chunks when `send` is chunked. `false`:
    /// the connection broke, or the body failed (a client cannot be told
    /// in-band: the connection is cut).
    async fn stream_out(
        &mut self,
        send: Send,
        bodiless: bool,
        mut next: impl FnMut(&mut Context<'_>) -> Poll<Option<io::Result<Bytes>>>,
    ) -> bool {
        if !self.flush_with(&[]).await {
            return false;
        }
        if bodiless {
            return true;
        }
        while let Some(data) = poll_fn(&mut next).await {
            let data = match data {
                Ok(d) => d,
                Err(e) => {
                    tracing::debug!(error = %e, "instance's answer body failed");
                    return false;
                }
            };
            let sent = if send == Send::Chunked {
                self.wbuf.clear();
                wire::write_chunk_head(&mut self.wbuf, data.len());
                self.wbuf.extend_from_slice(&data);
                self.wbuf.extend_from_slice(b"\r\n");
                self.flush_with(&[]).await
            } else {
                self.write(&data).await
            };
            if !sent {
                return false;
            }
        }
        send != Send::Chunked || self.write(b"0\r\n\r\n").await
    }

    /// Sends an instance's `101 Switching Protocols` and joins the client to the
    /// instance's connection until either closes (see `tunnel.rs`).
    async fn switch(mut self, resp: Answer) {
        let Answer {
            status,
            fields,
            trace_id,
            body,
        } = resp;
        let Body::Upgraded(up) = body else {
            return;
        };
        self.wbuf.clear();
        wire::write_response_head(
            &mut self.wbuf,
            status,
            &fields,
            trace_id.as_ref().map(|id| &id[..]),
            Send::Bodiless,
            Some("upgrade"),
            &http_date(),
        );
        if self.stopped || !self.flush_with(&[]).await {
            return;
        }
        let early = self.rbuf.split().freeze();
        let stopping = self.stopping.as_mut();
        crate::tunnel::join(&mut self.stream, &early, *up, self.idle, stopping).await;
    }

    /// Answers a request that cannot be served (`{error, detail}` JSON) and closes.
    async fn refuse(mut self, status: StatusCode, detail: &str) {
        let error = match status {
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "header-too-large",
            _ => "bad-request",
        };
        let body = serde_json::json!({ "error": error, "detail": detail }).to_string();
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        self.wbuf.clear();
        let send = Send::Length(body.len() as u64);
        wire::write_response_head(
            &mut self.wbuf,
            status,
            &Fields::map(h),
            None,
            send,
            Some("close"),
            &http_date(),
        );
        if self.flush_with(body.as_bytes()).await {
            self.linger().await;
        }
    }

    /// Closes after an answer: the write side first, then what the client still
    /// sends is read and dropped for a while, so a reset does not eat the answer.
    async fn linger(mut self) {
        if self.stream.shutdown().await.is_err() {
            return;
        }
        let mut dropped = 0;
        let _ = tokio::time::timeout(LINGER, async {
            while dropped < LINGER_BYTES {
                self.rbuf.clear();
                match self.stream.read_buf(&mut self.rbuf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => dropped += n,
                }
            }
        })
        .await;
    }
}

/// The `Connection` header an answer needs: `close` when the connection ends,
/// `keep-alive` for an HTTP/1.0 client that may send another request.
fn connection_header(keep: bool, http10: bool) -> Option<&'static str> {
    match (keep, http10) {
        (false, _) => Some("close"),
        (true, true) => Some("keep-alive"),
        (true, false) => None,
    }
}

thread_local! {
    static DATE: Cell<(u64, [u8; 29])> = const { Cell::new((0, [b' '; 29])) };
}

/// The current `Date` value, formatted at most once a second per thread.
fn http_date() -> [u8; 29] {
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with(|cell| {
        let (at, text) = cell.get();
        if at == secs {
            return text;
        }
        let mut fresh = [b' '; 29];
        let formatted = httpdate::fmt_http_date(now);
        if formatted.len() == fresh.len() {
            fresh.copy_from_slice(formatted.as_bytes());
        }
        cell.set((secs, fresh));
        fresh
    })
}
