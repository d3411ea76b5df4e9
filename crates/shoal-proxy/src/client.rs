//! The upstream HTTP/1.1 client: one request and its answer on one connection,
//! driven by the request's own task (no connection task, no channel between them).
//!
//! Small answers (`Content-Length` up to [`BUFFER_BODY_BYTES`]) are read whole and
//! the connection goes back to the pool before the answer is sent on; larger,
//! chunked or close-delimited answers are [`Streamed`] and give the connection
//! back when read to the end.
//!
//! Delayed ACKs: many servers write a response's head and body with two `send`s
//! (Python's `http.server` does); by Nagle's algorithm the second waits for the
//! first to be acknowledged, which Linux may delay 40 ms on a kept-alive
//! connection. So when an answer has begun to arrive but is not complete,
//! `TCP_QUICKACK` is set once before waiting for the rest: the pending ACK goes
//! out at once. Answers that arrive in one read cost no extra syscall or packet.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::Method;
use hyper::body::SizeHint;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use crate::body::{Body, Upgraded};
use crate::conn_io::{expired, reserve, within};
use crate::fields::Fields;
use crate::forward::Call;
use crate::headers::strip_hop_by_hop;
use crate::message::Answer;
use crate::pool::Pool;
use crate::upstream::Upstream;
use crate::wire::{self, Chunk, ChunkedDecoder, Framing};

/// Answers up to this size (by `Content-Length`) are read whole, larger ones streamed.
pub(crate) const BUFFER_BODY_BYTES: u64 = 64 * 1024;
/// The longest answer head accepted from an instance.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Bodies up to this size are copied into the head's write; larger ones go separately.
const COPY_BODY_BYTES: usize = 16 * 1024;
/// A connection keeps its write buffer up to this size.
const KEEP_OUT_BYTES: usize = 32 * 1024;

/// An open connection to an instance with what was read past the last answer.
///
/// Its timer bounds each exchange: armed once, and re-armed to the current
/// deadline only when it fires before it, so a busy connection does not touch
/// the timer wheel per request.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: Upstream,
    buf: BytesMut,
    /// The request being written (kept for the next one).
    out: Vec<u8>,
    /// Whether quick ACK was set for the answer being read.
    acked: bool,
    timer: Pin<Box<Sleep>>,
    pub(crate) addr: SocketAddr,
    /// When it last carried a request (or finished a streamed answer).
    pub(crate) used: Instant,
}

/// Why one exchange produced no answer.
#[derive(Debug)]
pub(crate) enum Exchange {
    /// The request could not be written: the instance never saw it whole.
    NotSent(String),
    /// The connection closed or reset before any byte of an answer.
    NoAnswer(String),
    /// Anything later: a bad or cut-off answer.
    Failed(String),
    /// The deadline passed first.
    TimedOut,
}

/// Writes `bytes` whole and flushes (TLS holds records until flushed; TCP's flush is free).
async fn write(stream: &mut Upstream, bytes: &[u8]) -> io::Result<()> {
    stream.write_all(bytes).await?;
    stream.flush().await
}

fn quickack(stream: &TcpStream) {
    // Best effort: an error only means the old delayed-ACK behaviour.
    let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
}

impl Conn {
    pub(crate) fn new(stream: Upstream, addr: SocketAddr, deadline: Instant) -> Self {
        Self {
            stream,
            buf: BytesMut::with_capacity(8 * 1024),
            out: Vec::with_capacity(1024),
            acked: false,
            timer: Box::pin(tokio::time::sleep_until(deadline)),
            addr,
            used: Instant::now(),
        }
    }

    /// Whether an idle connection can carry a request: the instance has not closed
    /// it or sent anything unasked. Costs no syscall unless the socket turned readable.
    pub(crate) fn is_open(&mut self) -> bool {
        self.buf.is_empty() && self.stream.is_open()
    }

    /// Before waiting for more of an answer that has begun: sends the pending
    /// ACK now (once per answer), so a split answer does not wait for a delayed ACK.
    fn ack_once(&mut self) {
        if !self.acked {
            quickack(self.stream.tcp());
            self.acked = true;
        }
    }

    /// Reads more of an answer by `deadline` (`None` when it passed first).
    async fn read_more(&mut self, deadline: Instant) -> Option<io::Result<usize>> {
        reserve(&mut self.buf);
        let Conn {
            stream, buf, timer, ..
        } = self;
        within(timer.as_mut(), deadline, stream.read_buf(buf)).await
    }
}

/// Sends `c` on `conn` at `now` and reads the answer's head (and a small body) by `deadline`.
pub(crate) async fn exchange(
    mut conn: Conn,
    c: &Call<'_>,
    pool: &Pool,
    now: Instant,
    deadline: Instant,
) -> Result<Answer, Exchange> {
    conn.used = now;
    // Written from the connection's own buffer: no allocation per request once warm.
    let Conn {
        stream,
        timer,
        out,
        addr,
        ..
    } = &mut conn;
    out.clear();
    let extra = wire::Extra {
        stamp: c.stamp.as_ref(),
        upgrade: c.upgrade,
    };
    wire::write_request_head(out, c.method, c.path, c.fields, extra, addr, c.body.len());
    let inline = c.body.len() <= COPY_BODY_BYTES;
    if inline {
        out.extend_from_slice(&c.body);
    }
    let written = within(timer.as_mut(), deadline, write(stream, out)).await;
    if out.capacity() > KEEP_OUT_BYTES {
        *out = Vec::new();
    }
    match written {
        None => return Err(Exchange::TimedOut),
        Some(Err(e)) => return Err(Exchange::NotSent(e.to_string())),
        Some(Ok(())) => {}
    }
    if !inline {
        match within(timer.as_mut(), deadline, write(stream, &c.body)).await {
            None => return Err(Exchange::TimedOut),
            Some(Err(e)) => return Err(Exchange::Failed(format!("writing the request body: {e}"))),
            Some(Ok(())) => {}
        }
    }

    // Quick ACK is set once, before waiting for the rest of an answer that began.
    conn.acked = false;
    let mut got_any = false;
    let head = loop {
        match wire::parse_response(&mut conn.buf) {
            Ok(Some(head)) => {
                // Informational answers (100 Continue) come before the real one.
                if head.status.is_informational() && head.status.as_u16() != 101 {
                    continue;
                }
                break head;
            }
            Ok(None) if conn.buf.len() > MAX_HEAD_BYTES => {
                return Err(Exchange::Failed("answer head too large".into()));
            }
            Ok(None) => {}
            Err(e) => return Err(Exchange::Failed(format!("bad answer: {e}"))),
        }
        if got_any {
            conn.ack_once();
        }
        match conn.read_more(deadline).await {
            None => return Err(Exchange::TimedOut),
            Some(Ok(0)) if !got_any => return Err(Exchange::NoAnswer("connection closed".into())),
            Some(Ok(0)) => {
                return Err(Exchange::Failed(
                    "connection closed in the answer head".into(),
                ))
            }
            Some(Ok(_)) => got_any = true,
            Some(Err(e)) if !got_any && gone(&e) => return Err(Exchange::NoAnswer(e.to_string())),
            Some(Err(e)) => return Err(Exchange::Failed(e.to_string())),
        }
    };
    if head.status.as_u16() == 101 {
        if c.upgrade.is_none() {
            return Err(Exchange::Failed("switched protocols unasked".into()));
        }
        // The connection now carries the new protocol: it leaves the pool for good.
        let Conn {
            stream, mut buf, ..
        } = conn;
        let body = Body::Upgraded(Box::new(Upgraded {
            stream,
            read: buf.split().freeze(),
            admitted: None,
            load: None,
        }));
        return Ok(Answer::new(head.status, head.fields, body));
    }
    let meta = wire::Meta::of(&head.fields);
    // Raw fields are filtered as they are written; a map (a large head, or a
    // `Connection` naming other fields) loses its hop-by-hop fields here. A
    // `101` (above) keeps its `Upgrade`.
    let mut fields = head.fields;
    if let Fields::Map(map) = &mut fields {
        strip_hop_by_hop(map);
    }
    let framing = meta
        .response_framing(*c.method == Method::HEAD, head.status)
        .map_err(|e| Exchange::Failed(format!("bad answer: {e}")))?;
    let reusable = framing != Framing::UntilClose && meta.keep_alive(head.version);
    let body = match framing {
        Framing::Empty => {
            give_back(pool, conn, reusable);
            Body::Full(None)
        }
        Framing::Length(n) if n <= BUFFER_BODY_BYTES => {
            // n ≤ 64 KiB fits a usize.
            let n = n as usize;
            while conn.buf.len() < n {
                conn.ack_once();
                match conn.read_more(deadline).await {
                    None => return Err(Exchange::TimedOut),
                    Some(Ok(0)) => {
                        return Err(Exchange::Failed(
                            "connection closed in the answer body".into(),
                        ))
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(Exchange::Failed(e.to_string())),
                }
            }
            let bytes = conn.buf.split_to(n).freeze();
            give_back(pool, conn, reusable);
            Body::Full(Some(bytes))
        }
        framing => Body::Stream(Box::new(Streamed::new(
            conn,
            framing,
            pool.clone(),
            reusable,
            c.timeout,
        ))),
    };
    Ok(Answer::new(head.status, fields, body))
}

fn give_back(pool: &Pool, conn: Conn, reusable: bool) {
    if reusable {
        pool.put(conn);
    }
}

/// Whether an I/O error says the peer had closed the connection.
fn gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
    )
}

/// An answer's body read from the instance as it is sent on; the connection goes
/// back to the pool at its end (and is closed if the body is dropped before).
/// An instance that sends nothing more for the call's timeout fails the body
/// (the client's connection is then cut), so a stalled body does not hold it forever.
#[derive(Debug)]
pub struct Streamed {
    conn: Option<Conn>,
    left: Left,
    pool: Pool,
    reusable: bool,
    /// The longest wait for more of the body.
    patience: Duration,
    /// When the wait for more of the body ends.
    deadline: Instant,
}

#[derive(Debug)]
enum Left {
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
}

impl Streamed {
    fn new(
        mut conn: Conn,
        framing: Framing,
        pool: Pool,
        reusable: bool,
        patience: Duration,
    ) -> Self {
        // The body's first wait sends its pending ACK too.
        conn.acked = false;
        let left = match framing {
            Framing::Length(n) => Left::Length(n),
            Framing::Chunked => Left::Chunked(ChunkedDecoder::default()),
            Framing::Empty => Left::Length(0),
            Framing::UntilClose => Left::UntilClose,
        };
        Self {
            conn: Some(conn),
            left,
            pool,
            reusable,
            patience,
            deadline: Instant::now() + patience,
        }
    }

    pub(crate) fn is_end(&self) -> bool {
        self.conn.is_none() || matches!(self.left, Left::Length(0))
    }

    pub(crate) fn size_hint(&self) -> SizeHint {
        match self.left {
            Left::Length(n) => SizeHint::with_exact(n),
            _ => SizeHint::default(),
        }
    }

    fn finish(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            conn.used = Instant::now();
            give_back(&self.pool, conn, self.reusable);
        }
    }

    /// The next piece of the body; `None` at its end.
    pub(crate) fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match &mut self.left {
                Left::Length(0) => {
                    self.finish();
                    return Poll::Ready(None);
                }
                Left::Length(n) if !conn.buf.is_empty() => {
                    let take = (*n).min(conn.buf.len() as u64);
                    *n -= take;
                    // take ≤ buf.len(), a usize.
                    let data = conn.buf.split_to(take as usize).freeze();
                    return Poll::Ready(Some(Ok(data)));
                }
                Left::Chunked(d) => match d.decode(&mut conn.buf) {
                    Ok(Some(Chunk::Data(b))) => return Poll::Ready(Some(Ok(b))),
                    Ok(Some(Chunk::End)) => {
                        self.finish();
                        return Poll::Ready(None);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        self.conn = None;
                        return Poll::Ready(Some(Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            e,
                        ))));
                    }
                },
                Left::UntilClose if !conn.buf.is_empty() => {
                    let data = conn.buf.split().freeze();
                    return Poll::Ready(Some(Ok(data)));
                }
                Left::Length(_) | Left::UntilClose => {}
            }
            conn.ack_once();
            reserve(&mut conn.buf);
            match conn.stream.poll_fill(cx, &mut conn.buf) {
                Poll::Ready(Ok(0)) => {
                    self.conn = None;
                    return Poll::Ready(match self.left {
                        Left::UntilClose => None,
                        _ => Some(Err(io::ErrorKind::UnexpectedEof.into())),
                    });
                }
                Poll::Ready(Ok(_)) => self.deadline = Instant::now() + self.patience,
                Poll::Ready(Err(e)) => {
                    self.conn = None;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Pending => {
                    if !expired(conn.timer.as_mut(), self.deadline, cx) {
                        return Poll::Pending;
                    }
                    self.conn = None;
                    let why = format!("no more of the answer body for {:?}", self.patience);
                    return Poll::Ready(Some(Err(io::Error::new(io::ErrorKind::TimedOut, why))));
                }
            }
        }
    }
}
