//! The deadlines of a connection served by hyper (the API; the gateway's HTTP/2):
//! hyper sees only its own header timeout, so the connection's [`Activity`]
//! (requests in flight, when it went idle, when a head started, whether a write
//! waits) is kept beside it and [`watch`] says when it must close: the wait for
//! a (first) request, a head that takes too long, a client that stopped reading,
//! or a reclaim. [`verdict`] is the pure decision.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use crate::slot::{instant_of, key_of, Slot};
use crate::timeouts::Timeouts;

/// What a connection is doing, shared by its I/O, its requests and its watch.
#[derive(Debug)]
pub struct Activity {
    slot: Arc<Slot>,
    timeouts: Timeouts,
    in_flight: AtomicUsize,
    /// When the connection last became idle (accepted, or its last answer ended).
    since: AtomicU64,
    /// The first byte read while idle (a head started); 0 when none.
    head: AtomicU64,
    /// Since when a write has waited for the client; 0 when none.
    stall: AtomicU64,
    served: AtomicU64,
    /// Whether anything was read yet (the first read tells HTTP/2 from HTTP/1).
    read_any: AtomicBool,
    /// HTTP/2: frames arrive while idle (pings, settings), so no head is timed.
    h2: AtomicBool,
}

/// What an HTTP/2 connection with prior knowledge sends first.
const H2_PREFACE_START: &[u8] = b"PRI * HTTP/2";

/// A copy of an [`Activity`]'s state; times are keys ([`crate::key_of`], ms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub in_flight: usize,
    pub since: u64,
    pub head: u64,
    pub stall: u64,
    pub served: u64,
}

/// What [`verdict`] decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to do before this key.
    Until(u64),
    /// Close the connection.
    Close(Why),
}

/// Why a connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// No request within the idle (or first-request) wait.
    Idle,
    /// A request head did not arrive whole in time.
    Head,
    /// The client took no part of an answer for the body timeout.
    Stalled,
    /// The budget needed its place.
    Reclaimed,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 4)
}

/// When the connection described by `s` must close, as of `now`.
pub fn verdict(s: &Snapshot, now: u64, t: &Timeouts) -> Verdict {
    let mut end = match s.in_flight {
        // A request in flight (a blocking query, an event stream) has no wait limit.
        0 => {
            let wait = if s.served == 0 {
                t.first_request()
            } else {
                t.idle
            };
            let idle_end = s.since.saturating_add(ms(wait));
            match s.head {
                0 => (idle_end, Why::Idle),
                head => (idle_end.min(head.saturating_add(ms(t.head))), Why::Head),
            }
        }
        _ => (u64::MAX, Why::Idle),
    };
    if s.stall != 0 {
        let stalled = s.stall.saturating_add(ms(t.body));
        if stalled < end.0 {
            end = (stalled, Why::Stalled);
        }
    }
    match end {
        (at, why) if now >= at => Verdict::Close(why),
        // Busy: look again a body timeout later (a write may start to wait meanwhile).
        (u64::MAX, _) => Verdict::Until(now.saturating_add(ms(t.body))),
        (at, _) => Verdict::Until(at),
    }
}

impl Activity {
    /// A new connection's activity: idle, waiting for its first request.
    pub fn new(slot: Arc<Slot>, timeouts: Timeouts) -> Arc<Self> {
        let now = Instant::now();
        slot.idle(key_of(now + timeouts.first_request()));
        Arc::new(Self {
            slot,
            timeouts,
            in_flight: AtomicUsize::new(0),
            since: AtomicU64::new(key_of(now)),
            head: AtomicU64::new(0),
            stall: AtomicU64::new(0),
            served: AtomicU64::new(0),
            read_any: AtomicBool::new(false),
            h2: AtomicBool::new(false),
        })
    }

    /// A request starts; it is in flight until the returned guard drops (keep
    /// it in the answer's body: [`crate::Guarded`]).
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.served.fetch_add(1, Ordering::Relaxed);
        if self.in_flight.fetch_add(1, Ordering::AcqRel) == 0 {
            // A reclaim that came first closes the connection after this request.
            self.slot.busy();
        }
        InFlight(self.clone())
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            in_flight: self.in_flight.load(Ordering::Acquire),
            since: self.since.load(Ordering::Relaxed),
            head: self.head.load(Ordering::Relaxed),
            stall: self.stall.load(Ordering::Relaxed),
            served: self.served.load(Ordering::Relaxed),
        }
    }

    /// `bytes` were read: while idle, an HTTP/1 head started.
    fn read_some(&self, bytes: &[u8]) {
        if !self.read_any.swap(true, Ordering::Relaxed) {
            let n = bytes.len().min(H2_PREFACE_START.len());
            if bytes[..n] == H2_PREFACE_START[..n] {
                self.h2.store(true, Ordering::Relaxed);
            }
        }
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.head.load(Ordering::Relaxed) == 0
            && !self.h2.load(Ordering::Relaxed)
        {
            self.head.store(key_of(Instant::now()), Ordering::Relaxed);
        }
    }

    fn write_waits(&self, waits: bool) {
        let stalled = self.stall.load(Ordering::Relaxed) != 0;
        if waits && !stalled {
            self.stall.store(key_of(Instant::now()), Ordering::Relaxed);
        } else if !waits && stalled {
            self.stall.store(0, Ordering::Relaxed);
        }
    }
}

/// A request in flight; the connection is idle again when the last one drops.
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        if a.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            let now = Instant::now();
            a.since.store(key_of(now), Ordering::Relaxed);
            a.head.store(0, Ordering::Relaxed);
            a.slot.idle(key_of(now + a.timeouts.idle));
        }
    }
}

/// Resolves when the connection must close, and why.
pub async fn watch(activity: &Activity) -> Why {
    loop {
        let now = key_of(Instant::now());
        match verdict(&activity.snapshot(), now, &activity.timeouts) {
            Verdict::Close(why) => return why,
            Verdict::Until(at) => tokio::select! {
                () = tokio::time::sleep_until(instant_of(at)) => {}
                () = activity.slot.reclaimed() => return Why::Reclaimed,
            },
        }
    }
}

/// A connection's I/O, telling its [`Activity`] when a head starts and when a write waits.
#[derive(Debug)]
pub struct Watched<T> {
    io: T,
    activity: Arc<Activity>,
}

impl<T> Watched<T> {
    pub fn new(io: T, activity: Arc<Activity>) -> Self {
        Self { io, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read_some(&buf.filled()[before..]);
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        self.activity.write_waits(r.is_pending());
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.activity.write_waits(r.is_pending());
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.io).poll_flush(cx);
        self.activity.write_waits(r.is_pending());
        r
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timeouts = Timeouts {
        head: Duration::from_secs(10),
        body: Duration::from_secs(30),
        idle: Duration::from_secs(60),
    };

    fn at(since: u64) -> Snapshot {
        Snapshot {
            since,
            ..Snapshot::default()
        }
    }

    #[test]
    fn a_silent_new_connection_gets_the_head_timeout() {
        let s = at(1_000);
        assert_eq!(verdict(&s, 1_000, &T), Verdict::Until(11_000));
        assert_eq!(verdict(&s, 11_000, &T), Verdict::Close(Why::Idle));
    }

    #[test]
    fn an_idle_keep_alive_connection_gets_the_idle_timeout() {
        let s = Snapshot {
            served: 3,
            ..at(1_000)
        };
        assert_eq!(verdict(&s, 5_000, &T), Verdict::Until(61_000));
        assert_eq!(verdict(&s, 61_000, &T), Verdict::Close(Why::Idle));
    }

    #[test]
    fn a_started_head_must_end_within_the_head_timeout() {
        let s = Snapshot {
            served: 1,
            head: 30_000,
            ..at(1_000)
        };
        assert_eq!(verdict(&s, 30_000, &T), Verdict::Until(40_000));
        assert_eq!(verdict(&s, 40_000, &T), Verdict::Close(Why::Head));
        // ... but never past the idle wait.
        let late = Snapshot { head: 58_000, ..s };
        assert_eq!(verdict(&late, 58_000, &T), Verdict::Until(61_000));
    }

    #[test]
    fn a_request_in_flight_is_never_timed_out_by_idle_or_head() {
        // A blocking query of 10 minutes, an event stream of an hour.
        let s = Snapshot {
            in_flight: 1,
            served: 1,
            head: 500,
            ..at(1_000)
        };
        assert_eq!(
            verdict(&s, 3_600_000, &T),
            Verdict::Until(3_600_000 + 30_000),
            "only looked at again a body timeout later"
        );
    }

    #[test]
    fn a_client_that_stops_reading_is_cut_after_the_body_timeout() {
        let s = Snapshot {
            in_flight: 1,
            served: 1,
            stall: 100_000,
            ..at(1_000)
        };
        assert_eq!(verdict(&s, 110_000, &T), Verdict::Until(130_000));
        assert_eq!(verdict(&s, 130_000, &T), Verdict::Close(Why::Stalled));
    }

    #[tokio::test(start_paused = true)]
    async fn activity_follows_requests_and_the_watch_closes_an_idle_connection() {
        let slot = Arc::new(Slot::default());
        let a = Activity::new(slot.clone(), T);
        assert!(slot.idle_key().is_some(), "a new connection is idle");
        let req = a.begin();
        assert_eq!(slot.idle_key(), None, "busy while a request is in flight");
        assert_eq!(a.snapshot().in_flight, 1);
        let watching = tokio::spawn({
            let a = a.clone();
            async move { watch(&a).await }
        });
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert!(!watching.is_finished(), "a long request keeps it open");
        drop(req);
        assert!(slot.idle_key().is_some());
        let why = tokio::time::timeout(Duration::from_secs(61), watching)
            .await
            .expect("closed within the idle timeout")
            .expect("join");
        assert_eq!(why, Why::Idle);
    }

    #[test]
    fn a_head_is_timed_on_http1_but_not_on_http2() {
        let h1 = Activity::new(Arc::new(Slot::default()), T);
        h1.read_some(b"GET / HTTP/1.1\r\n");
        assert_ne!(h1.snapshot().head, 0);
        let h2 = Activity::new(Arc::new(Slot::default()), T);
        h2.read_some(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        // A ping or a window update while idle is not a late head.
        h2.read_some(b"\0\0\x08\x06\0\0\0\0\0");
        assert_eq!(h2.snapshot().head, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reclaim_ends_the_watch() {
        let slot = Arc::new(Slot::default());
        let a = Activity::new(slot.clone(), T);
        let key = slot.idle_key().expect("idle");
        assert!(slot.reclaim(key));
        let why = tokio::time::timeout(Duration::from_secs(1), watch(&a))
            .await
            .expect("at once");
        assert_eq!(why, Why::Reclaimed);
    }
}
