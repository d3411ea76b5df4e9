//! [`Guarded`]: an answer's body that keeps its request in flight (see
//! [`crate::Activity`]) until it ends or is dropped, so an event stream or a
//! long answer is never taken for an idle connection.

use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};

use crate::watch::InFlight;

/// A body and the guard of the request it answers.
#[derive(Debug)]
pub struct Guarded<B> {
    body: B,
    in_flight: Option<InFlight>,
}

impl<B> Guarded<B> {
    pub fn new(body: B, in_flight: InFlight) -> Self {
        Self {
            body,
            in_flight: Some(in_flight),
        }
    }
}

impl<B: Body + Unpin> Body for Guarded<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            this.in_flight = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
