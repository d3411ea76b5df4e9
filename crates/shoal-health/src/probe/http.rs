//! Consul's HTTP check: `<Method> <url>` with its headers and body over HTTP/1.1 (TLS for
//! `https://`), redirects followed (up to 10, as Go's client), 2xx passing, 429 warning,
//! anything else critical; output `HTTP <method> <url>: <status> Output: <body tail>`.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, ACCEPT, CONNECTION, HOST, LOCATION, USER_AGENT};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use super::url::{parse_url, resolve, Url};
use super::{dial, tls, HttpProbe, Report, MAX_BODY_OUTPUT};
use crate::check::http::AbortOnDrop;

/// Consul's `User-Agent` for checks (sent unless the check's headers set one).
pub const USER_AGENT_VALUE: &str = "Consul Health Check";
const ACCEPT_VALUE: &str = "text/plain, text/*, */*";
const MAX_REDIRECTS: usize = 10;

/// Passing for 2xx, warning for 429, critical otherwise (Consul's mapping).
pub(crate) fn classify(status: StatusCode, output: String) -> Report {
    if status.is_success() {
        Report::passing(output)
    } else if status == StatusCode::TOO_MANY_REQUESTS {
        Report::warning(output)
    } else {
        Report::critical(output)
    }
}

/// How Go names a request in its errors: `Get`, `Post`, ...
pub(crate) fn go_op(method: &str) -> String {
    let method = if method.is_empty() { "GET" } else { method };
    let mut chars = method.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + &chars.as_str().to_lowercase(),
        None => String::new(),
    }
}

/// The request after a redirect: 301, 302 and 303 turn into a body-less GET (HEAD stays),
/// 307 and 308 repeat the method and body, as Go's client does.
pub(crate) fn after_redirect(status: StatusCode, method: &str, body: &str) -> (String, String) {
    match status.as_u16() {
        301..=303 if method != "HEAD" => ("GET".to_string(), String::new()),
        _ => (method.to_string(), body.to_string()),
    }
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

pub(crate) async fn check(p: &HttpProbe) -> Report {
    let op = go_op(&p.method);
    let fail = |e: String| Report::critical(format!("{op} \"{}\": {e}", p.url));
    let mut method = if p.method.is_empty() {
        "GET".to_string()
    } else {
        p.method.clone()
    };
    let mut body = p.body.clone();
    let mut url = match parse_url(&p.url) {
        Ok(u) => u,
        Err(e) => return fail(e),
    };
    for _ in 0..=MAX_REDIRECTS {
        let (status, location, tail) =
            match exchange(&url, &method, &p.headers, &body, &p.tls).await {
                Ok(r) => r,
                Err(e) => return fail(e),
            };
        match location.filter(|_| is_redirect(status)) {
            Some(location) => {
                url = match resolve(&url, &location) {
                    Ok(next) => next,
                    Err(e) => return fail(format!("failed to follow redirect: {e}")),
                };
                (method, body) = after_redirect(status, &method, &body);
            }
            None => {
                let shown = if p.method.is_empty() {
                    "GET"
                } else {
                    &p.method
                };
                return classify(
                    status,
                    format!("HTTP {shown} {}: {status} Output: {tail}", p.url),
                );
            }
        }
    }
    fail(format!("stopped after {MAX_REDIRECTS} redirects"))
}

type Exchange = (StatusCode, Option<String>, String);

/// One request on a fresh connection: status, `Location`, and the last bytes of the body.
async fn exchange(
    url: &Url,
    method: &str,
    headers: &[(String, String)],
    body: &str,
    tls_opts: &tls::TlsOptions,
) -> Result<Exchange, String> {
    let request = build(url, method, headers, body)?;
    let tcp = dial(&url.host, url.port)
        .await
        .map_err(|e| format!("dial tcp {}:{}: {e}", url.host, url.port))?;
    if url.tls {
        let stream = tls::connect(tcp, &url.host, tls_opts, &[b"http/1.1"]).await?;
        send(stream, request).await
    } else {
        send(tcp, request).await
    }
}

fn build(
    url: &Url,
    method: &str,
    headers: &[(String, String)],
    body: &str,
) -> Result<Request<Full<Bytes>>, String> {
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| format!("net/http: invalid method {method:?}"))?;
    let mut request = Request::builder()
        .method(method)
        .uri(url.target.as_str())
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| format!("invalid request: {e}"))?;
    let h = request.headers_mut();
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("net/http: invalid header field name {name:?}"))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("net/http: invalid header field value for {name:?}"))?;
        h.append(name, value);
    }
    if !h.contains_key(HOST) {
        let host = HeaderValue::from_str(&url.authority)
            .map_err(|_| format!("invalid host {:?}", url.authority))?;
        h.insert(HOST, host);
    }
    if !h.contains_key(USER_AGENT) {
        h.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    }
    if !h.contains_key(ACCEPT) {
        h.insert(ACCEPT, HeaderValue::from_static(ACCEPT_VALUE));
    }
    // Consul's check client keeps no connection alive between runs.
    h.insert(CONNECTION, HeaderValue::from_static("close"));
    Ok(request)
}

async fn send<I>(io: I, request: Request<Full<Bytes>>) -> Result<Exchange, String>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("handshake failed: {e}"))?;
    let driver = AbortOnDrop(tokio::spawn(connection));
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("{e}"))?;
    let status = response.status();
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut body = response.into_body();
    let mut tail: Vec<u8> = Vec::new();
    // Read it all (bounded by the check's timeout), keeping the last MAX_BODY_OUTPUT bytes.
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(data) = frame.data_ref() {
            tail.extend_from_slice(data);
            if tail.len() > MAX_BODY_OUTPUT {
                tail.drain(..tail.len() - MAX_BODY_OUTPUT);
            }
        }
    }
    drop(driver);
    Ok((
        status,
        location,
        String::from_utf8_lossy(&tail).into_owned(),
    ))
}

/// Stops the connection task when the exchange ends or its timeout cancels it.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::CheckOutcome;

    #[test]
    fn statuses_follow_consul() {
        let outcome = |code: u16| {
            StatusCode::from_u16(code)
                .map(|s| classify(s, "x".into()).outcome)
                .ok()
        };
        assert_eq!(outcome(200), Some(CheckOutcome::Passing));
        assert_eq!(outcome(299), Some(CheckOutcome::Passing));
        assert_eq!(outcome(429), Some(CheckOutcome::Warning("x".into())));
        for code in [100, 304, 404, 500, 503] {
            assert_eq!(outcome(code), Some(CheckOutcome::Critical("x".into())));
        }
    }

    #[test]
    fn go_names_requests() {
        assert_eq!(go_op(""), "Get");
        assert_eq!(go_op("POST"), "Post");
        assert_eq!(go_op("put"), "Put");
    }

    #[test]
    fn redirects_change_the_method_as_go_does() {
        let r = |code: u16, m: &str| {
            StatusCode::from_u16(code)
                .map(|s| after_redirect(s, m, "b"))
                .ok()
        };
        assert_eq!(r(302, "POST"), Some(("GET".into(), String::new())));
        assert_eq!(r(301, "HEAD"), Some(("HEAD".into(), "b".into())));
        assert_eq!(r(307, "POST"), Some(("POST".into(), "b".into())));
        assert_eq!(r(308, "PUT"), Some(("PUT".into(), "b".into())));
    }

    #[test]
    fn requests_carry_consul_defaults_and_user_headers() {
        let url = parse_url("http://127.0.0.1:8080/h").unwrap_or_else(|e| panic!("{e}"));
        let headers = vec![
            ("X-Token".to_string(), "a".to_string()),
            ("X-Token".to_string(), "b".to_string()),
            ("Host".to_string(), "virtual.test".to_string()),
        ];
        let req = build(&url, "POST", &headers, "{}").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(req.method(), "POST");
        assert_eq!(req.uri(), "/h");
        let h = req.headers();
        assert_eq!(h.get_all("x-token").iter().count(), 2);
        assert_eq!(h[HOST], "virtual.test");
        assert_eq!(h[USER_AGENT], USER_AGENT_VALUE);
        assert!(build(&url, "BAD METHOD", &[], "").is_err());
        assert!(build(&url, "GET", &[("bad name".into(), "v".into())], "").is_err());
        let req = build(&url, "GET", &[], "").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(req.headers()[HOST], "127.0.0.1:8080");
    }
}
