//! The bodies of an HTTP/2 exchange with an instance: the request's (whole, or
//! a client's stream passed on as it arrives) and the answer's (frames with a
//! stall timeout).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::Body as _;
use http_body_util::{Full, LengthLimitError, Limited};
use hyper::body::{Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::conn_io::expired;
use crate::forward::grpc_failed;
use crate::verdict::Verdict;

/// How much of a streamed request body is kept to send again when an instance
/// did not take the request (a connection going away); past it, it cannot be.
const REPLAY_BYTES: usize = 64 * 1024;

/// A client's HTTP/2 request body passed on as it arrives, bounded by the
/// proxy's body limit. Each attempt reads it through its own handle; what was
/// read is kept (up to [`REPLAY_BYTES`]) so a request that an instance did not
/// take can go again with its whole body.
#[derive(Debug)]
pub(crate) struct RequestStream(Arc<Mutex<Shared>>);

#[derive(Debug)]
pub(crate) struct Shared {
    body: Limited<Incoming>,
    /// The frames read so far, in order (while `replayable`).
    read: Vec<Frame<Bytes>>,
    read_bytes: usize,
    /// Everything read is in `read`: a new handle can start from the beginning.
    replayable: bool,
    /// Passed the limit (the send then fails for that reason).
    over: bool,
    /// The newest handle's number: only it may read (an older attempt's is done).
    current: u64,
}

impl RequestStream {
    pub(crate) fn new(body: Limited<Incoming>) -> Self {
        Self(Arc::new(Mutex::new(Shared {
            body,
            read: Vec::new(),
            read_bytes: 0,
            replayable: true,
            over: false,
            current: 0,
        })))
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A body for one more attempt, from the beginning, unless part of it was
    /// read and not kept.
    pub(super) fn handle(&self) -> Option<ReqBody> {
        let mut s = self.lock();
        if !s.replayable {
            return None;
        }
        s.current += 1;
        Some(ReqBody::Stream {
            shared: self.0.clone(),
            at: 0,
            handle: s.current,
        })
    }

    /// Whether another attempt can send the body whole.
    pub(super) fn replayable(&self) -> bool {
        self.lock().replayable
    }

    pub(super) fn passed_limit(&self) -> bool {
        self.lock().over
    }
}

/// A copy of a data or trailers frame.
fn copy(f: &Frame<Bytes>) -> Frame<Bytes> {
    match (f.data_ref(), f.trailers_ref()) {
        (Some(d), _) => Frame::data(d.clone()),
        (None, Some(t)) => Frame::trailers(t.clone()),
        (None, None) => Frame::data(Bytes::new()),
    }
}

/// What goes to an HTTP/2 instance as a request body.
pub(crate) enum ReqBody {
    Whole(Full<Bytes>),
    /// Handle number `handle` on a [`RequestStream`], `at` frames into it.
    Stream {
        shared: Arc<Mutex<Shared>>,
        at: usize,
        handle: u64,
    },
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl http_body::Body for ReqBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let (shared, at, handle) = match self.get_mut() {
            ReqBody::Whole(b) => return Pin::new(b).poll_frame(cx).map_err(|e| match e {}),
            ReqBody::Stream { shared, at, handle } => (shared, at, *handle),
        };
        let mut s = shared.lock().unwrap_or_else(PoisonError::into_inner);
        if s.current != handle {
            return Poll::Ready(Some(Err(
                "the request went again on another connection".into()
            )));
        }
        // Frames an earlier handle read first.
        if let Some(f) = s.read.get(*at) {
            *at += 1;
            return Poll::Ready(Some(Ok(copy(f))));
        }
        let frame = match Pin::new(&mut s.body).poll_frame(cx) {
            Poll::Ready(Some(Ok(f))) => f,
            Poll::Ready(Some(Err(e))) => {
                if e.is::<LengthLimitError>() {
                    s.over = true;
                }
                return Poll::Ready(Some(Err(e)));
            }
            other => return other,
        };
        if s.replayable {
            s.read_bytes += frame.data_ref().map_or(0, Bytes::len);
            if s.read_bytes <= REPLAY_BYTES {
                s.read.push(copy(&frame));
                *at += 1;
            } else {
                s.replayable = false;
                s.read = Vec::new();
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReqBody::Whole(b) => b.is_end_stream(),
            ReqBody::Stream { shared, at, .. } => {
                let s = shared.lock().unwrap_or_else(PoisonError::into_inner);
                *at >= s.read.len() && s.body.is_end_stream()
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReqBody::Whole(b) => b.size_hint(),
            // What this handle has still to give: the frames kept that it has
            // not given yet, then the rest of the client's body.
            ReqBody::Stream { shared, at, .. } => {
                let s = shared.lock().unwrap_or_else(PoisonError::into_inner);
                let kept: usize = s
                    .read
                    .get(*at..)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|f| f.data_ref().map(Bytes::len))
                    .sum();
                let kept = kept as u64;
                let rest = s.body.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(rest.lower() + kept);
                if let Some(upper) = rest.upper() {
                    hint.set_upper(upper + kept);
                }
                hint
            }
        }
    }
}

/// An answer body from an HTTP/2 instance, frame by frame (data, then any
/// trailers). An instance that sends nothing more for the call's timeout fails
/// it, as a stalled HTTP/1.1 body does (the client's stream is then reset or
/// its connection cut). A gRPC answer's outcome, when its status comes in
/// the trailers, is recorded here as they pass.
#[derive(Debug)]
pub struct H2Body {
    body: Incoming,
    /// The longest wait for the next frame.
    patience: Duration,
    deadline: Instant,
    timer: Pin<Box<Sleep>>,
    failed: bool,
    verdict: Option<Box<Verdict>>,
}

impl H2Body {
    pub(super) fn new(body: Incoming, patience: Duration) -> Self {
        let deadline = Instant::now() + patience;
        Self {
            body,
            patience,
            deadline,
            timer: Box::pin(tokio::time::sleep_until(deadline)),
            failed: false,
            verdict: None,
        }
    }

    /// Records `v` when the trailers come instead of now.
    pub(crate) fn defer(&mut self, v: Verdict) {
        self.verdict = Some(Box::new(v));
    }

    /// The deferred outcome, if there is one.
    pub(crate) fn verdict_mut(&mut self) -> Option<&mut Verdict> {
        self.verdict.as_deref_mut()
    }

    /// Records the deferred outcome, if any is left.
    fn settle(&mut self, ok: bool) {
        if let Some(v) = self.verdict.take() {
            v.settle(ok);
        }
    }

    pub(crate) fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        if self.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.body).poll_frame(cx) {
            Poll::Ready(frame) => {
                self.deadline = Instant::now() + self.patience;
                if self.verdict.is_some() {
                    match &frame {
                        // The status is in the trailers; without them, there is none.
                        Some(Ok(f)) => {
                            if let Some(t) = f.trailers_ref() {
                                let status = t.get("grpc-status").map(|v| v.as_bytes());
                                self.settle(!grpc_failed(status) && status.is_some());
                            }
                        }
                        Some(Err(_)) | None => self.settle(false),
                    }
                }
                Poll::Ready(frame.map(|r| r.map_err(io::Error::other)))
            }
            Poll::Pending if !expired(self.timer.as_mut(), self.deadline, cx) => Poll::Pending,
            Poll::Pending => {
                self.settle(false);
                self.failed = true;
                let why = format!("no more of the answer body for {:?}", self.patience);
                Poll::Ready(Some(Err(io::Error::new(io::ErrorKind::TimedOut, why))))
            }
        }
    }

    /// The next piece of data, trailers passed over (for HTTP/1.1 clients,
    /// whose answers here carry none).
    pub(crate) fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        loop {
            match self.poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => return Poll::Ready(Some(Ok(data))),
                    Err(_trailers) => continue,
                },
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    pub(crate) fn is_end_stream(&self) -> bool {
        self.failed || self.body.is_end_stream()
    }

    pub(crate) fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
