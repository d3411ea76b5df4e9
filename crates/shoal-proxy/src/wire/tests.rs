//! The wire functions on hand-written messages: heads, framing, chunked bodies.

use super::*;
use crate::fields::HeaderLookup;
use crate::trace::TraceContext;

fn map(pairs: &[(&'static str, &'static str)]) -> Fields {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_static(v));
    }
    Fields::map(h)
}

fn request(text: &str) -> RequestHead {
    let mut buf = BytesMut::from(text.as_bytes());
    parse_request(&mut buf).expect("ok").expect("complete")
}

#[test]
fn a_request_head_is_parsed_whole_or_not_at_all() {
    let raw = b"GET /a?b=1 HTTP/1.1\r\nHost: svc\r\nX-A: 1\r\nX-A: 2\r\n\r\nNEXT";
    let mut partial = BytesMut::from(&raw[..20]);
    assert!(parse_request(&mut partial).expect("partial").is_none());
    assert_eq!(partial.len(), 20, "an incomplete head stays in the buffer");
    let mut buf = BytesMut::from(&raw[..]);
    let head = parse_request(&mut buf).expect("ok").expect("complete");
    assert_eq!(&buf[..], b"NEXT");
    assert_eq!(head.method, Method::GET);
    assert_eq!(head.uri, "/a?b=1");
    assert_eq!(head.version, Version::HTTP_11);
    assert!(
        matches!(head.fields, Fields::Raw(_)),
        "a few fields are kept raw"
    );
    assert_eq!(head.fields.header("host"), Some(&b"svc"[..]));
    let mut xa = Vec::new();
    head.fields.each(|n, v| {
        if n == b"X-A" {
            xa.push(v.to_vec());
        }
    });
    assert_eq!(xa, [b"1", b"2"]);
}

#[test]
fn a_head_with_many_fields_or_a_connection_list_takes_the_map_path() {
    let mut many = String::from("GET / HTTP/1.1\r\n");
    for i in 0..40 {
        many.push_str(&format!("x-{i}: {i}\r\n"));
    }
    many.push_str("\r\n");
    let head = request(&many);
    assert!(matches!(&head.fields, Fields::Map(m) if m.len() == 40));
    let head = request("GET / HTTP/1.1\r\nConnection: x-hop\r\nX-Hop: 1\r\n\r\n");
    assert!(matches!(head.fields, Fields::Map(_)));
}

#[test]
fn a_request_goes_to_the_instance_rewritten() {
    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let head = request(&format!(
        "POST /v2/x HTTP/1.1\r\nHost: svc\r\nConnection: keep-alive\r\nKeep-Alive: 5\r\n\
         X-Flag-New: 1\r\nX-Version: 99\r\nX-Shoal-Caller: forged\r\nX-Trace-Id: forged\r\n\
         traceparent: {incoming}\r\nContent-Length: 9\r\n\r\n"
    ));
    let trace = TraceContext::from_headers(
        &head.fields,
        &mut rand::rng(),
        &crate::sample::Sampler::default(),
    );
    let stamp = Stamp {
        version: "23",
        trace: &trace,
        caller: "web",
        flags: None,
    };
    let mut out = Vec::new();
    write_request_head(
        &mut out,
        &head.method,
        "/x",
        &head.fields,
        Extra {
            stamp: Some(&stamp),
            upgrade: Some(b"websocket"),
        },
        &"a",
        4,
    );
    let want = format!(
        "POST /x HTTP/1.1\r\nHost: svc\r\nX-Flag-New: 1\r\nx-version: 23\r\n\
         traceparent: {}\r\nx-trace-id: 4bf92f3577b34da6a3ce929d0e0e4736\r\n\
         x-shoal-caller: web\r\nconnection: upgrade\r\nupgrade: websocket\r\n\
         content-length: 4\r\n\r\n",
        trace.header()
    );
    assert_eq!(String::from_utf8_lossy(&out), want);
    assert_eq!(trace.parent_span_id(), Some("00f067aa0ba902b7"));
}

#[test]
fn decided_flags_replace_the_clients_and_others_pass() {
    let head = request(
        "GET /x HTTP/1.1\r\nHost: svc\r\nx-FLAG-new: 1\r\nX-Flagship: keep\r\n\
         X-Flag-Other: 1\r\n\r\n",
    );
    let trace = TraceContext::from_headers(
        &head.fields,
        &mut rand::rng(),
        &crate::sample::Sampler::default(),
    );
    let stamp = Stamp {
        version: "",
        trace: &trace,
        caller: "gateway",
        flags: Some(b"X-Flag-new: 0\r\n"),
    };
    let mut out = Vec::new();
    let extra = Extra {
        stamp: Some(&stamp),
        upgrade: None,
    };
    write_request_head(&mut out, &head.method, "/x", &head.fields, extra, &"a", 0);
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("X-Flagship: keep\r\n"), "{text}");
    assert!(
        !text.contains("x-FLAG-new"),
        "the client's is dropped: {text}"
    );
    assert!(
        !text.contains("X-Flag-Other"),
        "every X-Flag-* of the client: {text}"
    );
    assert!(text.contains("X-Flag-new: 0\r\n"), "{text}");
}

#[test]
fn bad_heads_are_errors() {
    assert!(matches!(
        parse_request(&mut BytesMut::from(
            &b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"[..]
        )),
        Err(WireError::Malformed(_))
    ));
    let mut many = String::from("GET / HTTP/1.1\r\n");
    for i in 0..=MAX_HEADERS {
        many.push_str(&format!("x-{i}: 1\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(
        parse_request(&mut BytesMut::from(many.as_bytes())).map(|_| ()),
        Err(WireError::TooManyHeaders)
    );
    assert!(parse_response(&mut BytesMut::from(&b"HTTP/1.1 999x OK\r\n\r\n"[..])).is_err());
}

#[test]
fn a_response_head_is_parsed() {
    let mut buf = BytesMut::from(&b"HTTP/1.0 404 Not Found\r\nContent-Length: 3\r\n\r\nabc"[..]);
    let head = parse_response(&mut buf).expect("ok").expect("complete");
    assert_eq!(&buf[..], b"abc");
    assert!(
        matches!(head.fields, Fields::Raw(_)),
        "a few fields are kept raw"
    );
    assert!(head.fields.has(Known::ContentLength));
    assert_eq!(
        Meta::of(&head.fields).response_framing(false, head.status),
        Ok(Framing::Length(3))
    );
    assert_eq!(head.status, StatusCode::NOT_FOUND);
    assert_eq!(head.version, Version::HTTP_10);
}

#[test]
fn request_framing_follows_rfc_9112() {
    assert_eq!(request_framing(&map(&[])), Ok(Framing::Empty));
    assert_eq!(
        request_framing(&map(&[("content-length", "12")])),
        Ok(Framing::Length(12))
    );
    assert_eq!(
        request_framing(&map(&[("content-length", "3"), ("content-length", "3")])),
        Ok(Framing::Length(3))
    );
    assert!(request_framing(&map(&[("content-length", "3"), ("content-length", "4")])).is_err());
    assert!(request_framing(&map(&[("content-length", "-1")])).is_err());
    assert!(request_framing(&map(&[("content-length", "+1")])).is_err());
    assert_eq!(
        request_framing(&map(&[("transfer-encoding", "gzip, chunked")])),
        Ok(Framing::Chunked)
    );
    assert!(request_framing(&map(&[("transfer-encoding", "chunked, gzip")])).is_err());
    assert!(request_framing(&map(&[
        ("transfer-encoding", "chunked"),
        ("content-length", "3")
    ]))
    .is_err());
}

fn response_framing_of(
    head_request: bool,
    status: StatusCode,
    h: &Fields,
) -> Result<Framing, WireError> {
    Meta::of(h).response_framing(head_request, status)
}

#[test]
fn response_framing_knows_bodiless_answers() {
    let cl = map(&[("content-length", "5")]);
    assert_eq!(
        response_framing_of(true, StatusCode::OK, &cl),
        Ok(Framing::Empty)
    );
    assert_eq!(
        response_framing_of(false, StatusCode::NO_CONTENT, &cl),
        Ok(Framing::Empty)
    );
    assert_eq!(
        response_framing_of(false, StatusCode::OK, &cl),
        Ok(Framing::Length(5))
    );
    assert_eq!(
        response_framing_of(false, StatusCode::OK, &map(&[])),
        Ok(Framing::UntilClose)
    );
    assert_eq!(
        response_framing_of(
            false,
            StatusCode::OK,
            &map(&[("transfer-encoding", "chunked")])
        ),
        Ok(Framing::Chunked)
    );
}

#[test]
fn expect_and_connection_tokens_are_read_in_one_pass() {
    let m = Meta::of(&map(&[
        ("expect", "100-Continue"),
        ("connection", "keep-alive, Upgrade"),
    ]));
    assert!(m.expects_continue());
    assert!(m.keep_alive(Version::HTTP_10));
    assert!(!Meta::of(&map(&[])).expects_continue());
}

#[test]
fn keep_alive_by_version_and_connection() {
    assert!(keep_alive(Version::HTTP_11, &map(&[])));
    assert!(!keep_alive(
        Version::HTTP_11,
        &map(&[("connection", "Close")])
    ));
    assert!(!keep_alive(Version::HTTP_10, &map(&[])));
    assert!(keep_alive(
        Version::HTTP_10,
        &map(&[("connection", "keep-alive")])
    ));
}

#[test]
fn heads_are_written_with_our_own_length() {
    let mut out = Vec::new();
    let h = map(&[("x-a", "1"), ("content-length", "99")]);
    let none = Extra::default();
    write_request_head(&mut out, &Method::POST, "/p", &h, none, &"10.0.0.1:80", 4);
    assert_eq!(
        out,
        b"POST /p HTTP/1.1\r\nhost: 10.0.0.1:80\r\nx-a: 1\r\ncontent-length: 4\r\n\r\n"
    );
    let mut out = Vec::new();
    let host = map(&[("host", "s")]);
    write_request_head(&mut out, &Method::GET, "/", &host, none, &"x", 0);
    assert_eq!(out, b"GET / HTTP/1.1\r\nhost: s\r\n\r\n");

    let answer = |send, connection| {
        let mut out = Vec::new();
        write_response_head(&mut out, StatusCode::OK, &h, None, send, connection, b"D");
        out
    };
    assert_eq!(
        answer(Send::Length(2), Some("close")),
        b"HTTP/1.1 200 OK\r\nx-a: 1\r\ncontent-length: 2\r\nconnection: close\r\ndate: D\r\n\r\n"
    );
    assert_eq!(
        answer(Send::Bodiless, None),
        b"HTTP/1.1 200 OK\r\nx-a: 1\r\ncontent-length: 99\r\ndate: D\r\n\r\n"
    );
}

#[test]
fn an_instance_answer_passes_raw_with_our_trace_id() {
    let mut buf = BytesMut::from(
        &b"HTTP/1.1 200 OK\r\nServer: up\r\nConnection: keep-alive\r\nX-Trace-Id: theirs\r\n\
           Date: Thu, 01 Jan 1970 00:00:00 GMT\r\nContent-Length: 2\r\n\r\nok"[..],
    );
    let head = parse_response(&mut buf).expect("ok").expect("complete");
    assert!(matches!(head.fields, Fields::Raw(_)));
    let mut out = Vec::new();
    let (status, f) = (head.status, &head.fields);
    write_response_head(
        &mut out,
        status,
        f,
        Some(b"ours"),
        Send::Length(2),
        None,
        b"D",
    );
    assert_eq!(
        String::from_utf8_lossy(&out),
        "HTTP/1.1 200 OK\r\nServer: up\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n\
         x-trace-id: ours\r\ncontent-length: 2\r\n\r\n"
    );
}

fn decode_all(input: &[u8], step: usize) -> Result<Vec<u8>, WireError> {
    let mut d = ChunkedDecoder::default();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut fed = 0;
    loop {
        match d.decode(&mut buf)? {
            Some(Chunk::Data(b)) => out.extend_from_slice(&b),
            Some(Chunk::End) => return Ok(out),
            None if fed < input.len() => {
                let end = (fed + step).min(input.len());
                buf.extend_from_slice(&input[fed..end]);
                fed = end;
            }
            None => return Err(WireError::Chunked("truncated")),
        }
    }
}

#[test]
fn chunked_bodies_decode_at_any_split() {
    let body =
        b"4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: 1\r\n\r\n";
    for step in [1, 2, 3, 7, body.len()] {
        assert_eq!(
            decode_all(body, step).expect("decodes"),
            b"Wikipedia in\r\n\r\nchunks."
        );
    }
}

#[test]
fn bad_chunked_bodies_are_errors() {
    assert!(decode_all(b"zz\r\n", 4).is_err());
    assert!(decode_all(b"3\r\nabcX\r\n0\r\n\r\n", 100).is_err());
    assert!(decode_all(b"1234567890abcdef0\r\n", 100).is_err());
    let long = vec![b'1'; MAX_CHUNK_LINE + 10];
    assert!(decode_all(&long, 100).is_err());
}
