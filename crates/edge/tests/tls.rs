//! `revalidate edge` over TLS, in front of a real `revalidate serve`: the
//! answers it gives from its cache (304, 412, 206, HEAD) carry the same
//! fields over HTTP/2 as over HTTP/1.1, none connection-specific (RFC 9113
//! §8.2.2); a body of several MiB arrives whole over HTTP/2; requests that
//! came over TLS reach the origin with `X-Forwarded-Proto: https`.

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::{Client, Method, Response, StatusCode, Version};
use revalidate_edge::clock::SystemClock;
use revalidate_edge::storage::{MemoryConfig, MemoryStorage};
use revalidate_edge::{Edge, EdgeSettings};
use revalidate_listener::access_log::Format;
use revalidate_listener::testing::tls::{TestCa, connection_specific_fields, field_names_but_date};
use revalidate_listener::{AccessLog, AccessLogSettings, TlsListener, TlsSettings};

use crate::support::{Reply, Site, TestOrigin, clock};

/// The size of `long/big.bin`: several MiB, far more than one HTTP/2 window.
const BIG: usize = 6 << 20;

struct TlsEdge {
    addr: SocketAddr,
    plain: SocketAddr,
    ca: TestCa,
    _certs: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// An edge in front of `origin` with a TLS listener.
async fn edge(origin: SocketAddr) -> TlsEdge {
    edge_logged(origin, None).await
}

/// [`edge`], logging to `access_log`.
async fn edge_logged(origin: SocketAddr, access_log: Option<AccessLog>) -> TlsEdge {
    let ca = TestCa::new();
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = ca.issue(&["localhost"]).write(certs.path(), "edge");
    let settings = TlsSettings {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        cert: Some(cert),
        key: Some(key),
        ..TlsSettings::default()
    };
    let tls = TlsListener::bind(&settings).await.unwrap();
    let addr = tls.local_addr().unwrap();
    let storage = MemoryStorage::new(MemoryConfig::new(64 << 20)).unwrap();
    let edge = Edge::new(
        EdgeSettings::new(format!("http://{origin}").parse().unwrap()),
        storage.into(),
        Arc::new(SystemClock),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(
        revalidate_edge::server::EdgeServer::new(listener, edge)
            .tls(Some(tls))
            .access_log(access_log)
            .serve(async move {
                let _ = stopped.await;
            }),
    );
    TlsEdge {
        addr,
        plain,
        ca,
        _certs: certs,
        _stop: stop,
    }
}

/// A real origin with a page and a big file that stay fresh for an hour.
async fn site() -> (Site, Vec<u8>) {
    let site = Site::start().await;
    site.write("long/page.html", "<!doctype html><p>cached over TLS</p>\n");
    let big: Vec<u8> = (0..BIG).map(|i| (i % 253) as u8).collect();
    std::fs::write(site.root.path().join("long/big.bin"), &big).unwrap();
    (site, big)
}

impl TlsEdge {
    fn client(&self, protocol: &[u8]) -> Client {
        let builder = Client::builder()
            .use_preconfigured_tls(self.ca.client_config(&[protocol]))
            .resolve("localhost", self.addr);
        let builder = if protocol == b"h2" {
            builder
        } else {
            builder.http1_only()
        };
        builder.build().unwrap()
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// Fills the cache with `path`; returns its `ETag`.
    async fn fill(&self, path: &str) -> String {
        let response = self.client(b"h2").get(self.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let etag = response.headers()["etag"].to_str().unwrap().to_owned();
        let _ = response.bytes().await.unwrap();
        etag
    }

    /// The same request over HTTP/1.1 and HTTP/2, both answered from the
    /// cache: same status and field names (but `Date`), none
    /// connection-specific over HTTP/2.
    async fn both(&self, method: Method, path: &str, headers: &[(&str, &str)]) -> (Response, Response) {
        let mut answers = Vec::new();
        for (protocol, version) in [
            (&b"http/1.1"[..], Version::HTTP_11),
            (&b"h2"[..], Version::HTTP_2),
        ] {
            let mut request = self.client(protocol).request(method.clone(), self.url(path));
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.version(), version, "{method} {path}");
            let cache_status = response.headers()["cache-status"].to_str().unwrap().to_owned();
            assert!(cache_status.contains("hit"), "{method} {path}: {cache_status}");
            answers.push(response);
        }
        let h2 = answers.pop().unwrap();
        let h1 = answers.pop().unwrap();
        assert_eq!(
            connection_specific_fields(h2.headers()),
            Vec::<String>::new(),
            "{method} {path}"
        );
        assert_eq!(h1.status(), h2.status(), "{method} {path}");
        assert_eq!(
            field_names_but_date(h1.headers()),
            field_names_but_date(h2.headers()),
            "{method} {path} {headers:?}: h1 {:?} h2 {:?}",
            h1.headers(),
            h2.headers()
        );
        (h1, h2)
    }
}

#[tokio::test]
async fn a_304_from_the_edge_over_h2_has_the_same_fields_as_over_http11() {
    let (site, _) = site().await;
    let edge = edge(site.origin).await;
    let etag = edge.fill("/long/page.html").await;
    let (h1, h2) = edge
        .both(Method::GET, "/long/page.html", &[("if-none-match", &etag)])
        .await;
    assert_eq!(h2.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(h2.headers()["etag"], etag.as_str());
    assert!(h1.bytes().await.unwrap().is_empty() && h2.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_412_and_a_206_from_the_edge_over_h2_have_the_same_fields_as_over_http11() {
    let (site, big) = site().await;
    let edge = edge(site.origin).await;
    edge.fill("/long/big.bin").await;
    let (_, h2) = edge
        .both(Method::GET, "/long/big.bin", &[("if-match", "\"other\"")])
        .await;
    assert_eq!(h2.status(), StatusCode::PRECONDITION_FAILED);
    let (h1, h2) = edge
        .both(Method::GET, "/long/big.bin", &[("range", "bytes=1000-1999")])
        .await;
    assert_eq!(h2.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        h2.headers()["content-range"],
        format!("bytes 1000-1999/{BIG}").as_str()
    );
    assert_eq!(&h1.bytes().await.unwrap()[..], &big[1000..2000]);
    assert_eq!(&h2.bytes().await.unwrap()[..], &big[1000..2000]);
}

#[tokio::test]
async fn head_from_the_edge_over_h2_has_the_same_fields_as_over_http11() {
    let (site, _) = site().await;
    let edge = edge(site.origin).await;
    edge.fill("/long/big.bin").await;
    let (h1, h2) = edge.both(Method::HEAD, "/long/big.bin", &[]).await;
    assert_eq!(h2.status(), StatusCode::OK);
    assert_eq!(h2.headers()["content-length"], BIG.to_string().as_str());
    assert!(h1.bytes().await.unwrap().is_empty() && h2.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_body_of_several_mib_arrives_whole_over_h2_from_the_origin_and_from_the_cache() {
    let (site, big) = site().await;
    let edge = edge(site.origin).await;
    let client = edge.client(b"h2");
    for round in ["miss", "hit"] {
        let response = client.get(edge.url("/long/big.bin")).send().await.unwrap();
        assert_eq!(response.version(), Version::HTTP_2);
        let cache_status = response.headers()["cache-status"].to_str().unwrap().to_owned();
        assert!(cache_status.contains(round), "{round}: {cache_status}");
        assert!(response.bytes().await.unwrap() == big, "{round}");
    }
    let (a, b) = tokio::join!(
        client.get(edge.url("/long/big.bin")).send(),
        client.get(edge.url("/long/big.bin")).send()
    );
    let (a, b) = tokio::join!(a.unwrap().bytes(), b.unwrap().bytes());
    assert!(a.unwrap() == big && b.unwrap() == big);
}

/// A request that came over TLS reaches the origin with
/// `X-Forwarded-Proto: https`; one on the cleartext listener with `http`.
#[tokio::test]
async fn requests_over_tls_reach_the_origin_with_x_forwarded_proto_https() {
    let origin = TestOrigin::start(clock(), |_| Reply::ok("x").header("cache-control", "no-store")).await;
    let edge = edge(origin.addr).await;
    let response = edge.client(b"h2").get(edge.url("/tls")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = reqwest::get(format!("http://{}/plain", edge.plain))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        origin.requests("/tls")[0].header("x-forwarded-proto"),
        Some("https")
    );
    assert_eq!(
        origin.requests("/plain")[0].header("x-forwarded-proto"),
        Some("http")
    );
}

#[tokio::test]
async fn the_access_log_has_each_request_over_h2_with_the_cache_verdict_and_the_origin_status() {
    let (site, _) = site().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edge.log");
    let settings = AccessLogSettings {
        path: Some(path.clone()),
        format: Format::Json,
        flush_ms: 10,
        ..AccessLogSettings::default()
    };
    let edge = edge_logged(site.origin, Some(AccessLog::open(&settings, None).unwrap())).await;
    edge.fill("/long/page.html").await;
    let hit = edge
        .client(b"h2")
        .get(edge.url("/long/page.html"))
        .send()
        .await
        .unwrap();
    assert_eq!(hit.status(), StatusCode::OK);
    let _ = hit.bytes().await.unwrap();
    let post = edge
        .client(b"h2")
        .post(edge.url("/long/page.html"))
        .body("x")
        .send()
        .await
        .unwrap();
    let post_status = post.status().as_u16();
    let _ = post.bytes().await.unwrap();

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let lines: Vec<serde_json::Value> = loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.lines().count() >= 3 {
            break text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "3 lines within 20 s: {text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    for line in &lines {
        assert_eq!(line["protocol"], "HTTP/2.0", "{line}");
        assert_eq!(line["target"], "/long/page.html", "{line}");
    }
    let [miss, hit, pass] = &lines[..] else {
        panic!("three lines, not {lines:#?}")
    };
    assert_eq!(
        (miss["cache"].as_str(), miss["upstream_status"].as_u64()),
        (Some("miss"), Some(200)),
        "{miss}"
    );
    assert_eq!(
        (hit["cache"].as_str(), hit.get("upstream_status")),
        (Some("hit"), None),
        "{hit}"
    );
    assert!(hit.get("upstream_ms").is_none(), "{hit}");
    assert_eq!(pass["method"], "POST");
    assert_eq!(pass["cache"], "pass", "{pass}");
    assert_eq!(pass["upstream_status"], post_status, "{pass}");
    assert_eq!(pass["status"], post_status, "{pass}");
    assert!(pass["upstream_ms"].as_f64().is_some(), "{pass}");
}
