//! A request and its answer as they pass through the pipeline: the listener's
//! protocol (`h1.rs`, `h2.rs`) makes the one and writes the other; their fields
//! stay raw when they arrived so (see `fields.rs`).

use http::{HeaderValue, Method, Response, StatusCode, Uri};

use crate::body::{Body, ReqBody};
use crate::fields::Fields;
use crate::headers::X_TRACE_ID;

/// A client's request.
#[derive(Debug)]
pub(crate) struct ClientRequest {
    pub method: Method,
    pub uri: Uri,
    pub fields: Fields,
    pub body: ReqBody,
    /// Whether it asks to switch protocols (HTTP/1.1 `Connection: upgrade` and
    /// `Upgrade`, no body): the `Upgrade` goes on to the instance.
    pub upgrade: bool,
}

/// An answer to a client: an instance's, or Shoal's own.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub fields: Fields,
    /// The `X-Trace-Id` sent with the answer (in place of any the instance sent).
    pub trace_id: Option<[u8; 32]>,
    pub body: Body,
}

impl Answer {
    pub(crate) fn new(status: StatusCode, fields: Fields, body: Body) -> Self {
        Self {
            status,
            fields,
            trace_id: None,
            body,
        }
    }

    /// The answer as a response with every field in its map (for HTTP/2 clients).
    pub(crate) fn into_response(self) -> Response<Body> {
        let mut headers = self.fields.into_map();
        if let Some(mut v) = self
            .trace_id
            .and_then(|id| HeaderValue::from_bytes(&id).ok())
        {
            // New for every request: HPACK gains nothing from indexing it, and
            // each insert would evict a field that repeats.
            v.set_sensitive(true);
            headers.insert(X_TRACE_ID, v);
        }
        let mut resp = Response::new(self.body);
        *resp.status_mut() = self.status;
        *resp.headers_mut() = headers;
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Requests and answers move through several layers of async functions, each
    /// move a copy: their fields and streamed bodies are boxed so they stay small
    /// (callgrind: ~1.7k instructions per request went to these copies before).
    #[test]
    fn requests_and_answers_stay_small_to_move() {
        assert!(std::mem::size_of::<Fields>() <= 48);
        assert!(std::mem::size_of::<Body>() <= 48);
        assert!(std::mem::size_of::<Answer>() <= 128);
        assert!(std::mem::size_of::<ClientRequest>() <= 200);
    }
}
