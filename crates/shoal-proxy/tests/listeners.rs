//! Listener protocols and limits: h2c (prior knowledge) beside HTTP/1.1 on the same port.

mod common;

use bytes::Bytes;
use common::*;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use shoal_proxy::{Hooks, RouteTable};

#[tokio::test]
async fn h2c_and_http1_share_the_gateway() {
    let u = Upstream::start("u").await;
    let h = Harness::start(
        table(
            vec![spec("svc", "1")],
            &[record("svc", &u, "1")],
            &RouteTable::default(),
        ),
        Hooks::default(),
    )
    .await;
    let h2: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build(HttpConnector::new());
    for _ in 0..3 {
        let req = Request::builder()
            .uri(format!("http://{}/h2", h.gateway))
            .header("host", "svc")
            .body(Full::new(Bytes::new()))
            .expect("request");
        let resp = h2.request(req).await.expect("h2c answer");
        assert_eq!(resp.version(), http::Version::HTTP_2);
        assert_eq!(resp.status(), 200);
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["path"], "/h2");
    }
    assert_eq!(get(&client(), h.gateway, "svc", "/h1").await.status, 200);
}
