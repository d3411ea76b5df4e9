//! Small I/O pieces of the listener loop (`h1.rs`) and the upstream client
//! (`client.rs`): room to read into (both), and a deadline kept by a timer that
//! is re-armed only when it fires before the deadline (the client; the listener
//! loop inlines the same logic beside its stop signal).

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Sleep};

/// A client connection a listener serves: TCP, or TLS over TCP.
pub(crate) trait ClientIo: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> ClientIo for T {}

/// Room to read into. An empty buffer starts again at the front of its
/// allocation (free once the last message's head is dropped), so a connection
/// keeps reusing the same, warm, memory instead of walking through it.
pub(crate) fn reserve(buf: &mut BytesMut) {
    const SIZE: usize = 8 * 1024;
    let room = buf.capacity() - buf.len();
    if (buf.is_empty() && room < SIZE) || room < 1024 {
        buf.reserve(SIZE);
    }
}

/// `f`'s output, or `None` once `deadline` passes. `timer` belongs to the
/// connection and outlives this call: it is moved only when it would fire after
/// `deadline`, or when it fires before it (see [`expired`]), so a busy
/// connection does not touch the timer wheel per message.
pub(crate) async fn within<T>(
    mut timer: Pin<&mut Sleep>,
    deadline: Instant,
    f: impl Future<Output = T>,
) -> Option<T> {
    if timer.deadline() > deadline {
        timer.as_mut().reset(deadline);
    }
    tokio::pin!(f);
    poll_fn(|cx| {
        if let Poll::Ready(v) = f.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        match expired(timer.as_mut(), deadline, cx) {
            true => Poll::Ready(None),
            false => Poll::Pending,
        }
    })
    .await
}

/// Whether `deadline` passed, by the connection's timer: re-armed to `deadline`
/// when it fires early; otherwise it wakes the task (`cx`) when it fires.
pub(crate) fn expired(mut timer: Pin<&mut Sleep>, deadline: Instant, cx: &mut Context<'_>) -> bool {
    loop {
        if timer.as_mut().poll(cx).is_pending() {
            return false;
        }
        if Instant::now() >= deadline {
            return true;
        }
        timer.as_mut().reset(deadline);
    }
}
