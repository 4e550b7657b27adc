//! `revalidate serve` over TLS: the conditional answers (304, 412, 206,
//! HEAD) carry the same fields over HTTP/2 as over HTTP/1.1, none of them
//! connection-specific (RFC 9113 §8.2.2), and a body of several MiB
//! arrives whole over HTTP/2 (flow control does not stall it).

use std::net::SocketAddr;

use reqwest::{Client, Method, Response, StatusCode, Version};
use revalidate_listener::testing::tls::{TestCa, connection_specific_fields, field_names_but_date};
use revalidate_listener::{TlsListener, TlsSettings};
use revalidate_origin::config::OriginConfig;
use revalidate_origin::server::Origin;

/// The size of `big.bin`: several MiB, far more than one HTTP/2 window.
const BIG: usize = 6 << 20;

struct Tls {
    addr: SocketAddr,
    ca: TestCa,
    big: Vec<u8>,
    _dirs: [tempfile::TempDir; 3],
}

/// An origin serving a small page and `big.bin` on a TLS listener.
async fn origin() -> Tls {
    origin_with(TlsSettings::default().handshake_timeout_ms).await
}

/// [`origin`] with its TLS handshake bounded by `handshake_timeout_ms`.
async fn origin_with(handshake_timeout_ms: u64) -> Tls {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let certs = tempfile::tempdir().unwrap();
    std::fs::write(
        root.path().join("index.html"),
        "<!doctype html><p>hello over TLS</p>\n",
    )
    .unwrap();
    let big: Vec<u8> = (0..BIG).map(|i| (i % 251) as u8).collect();
    std::fs::write(root.path().join("big.bin"), &big).unwrap();
    let ca = TestCa::new();
    let (cert, key) = ca.issue(&["localhost"]).write(certs.path(), "origin");
    let config = OriginConfig {
        root: root.path().into(),
        data: data.path().into(),
        tls: TlsSettings {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            cert: Some(cert),
            key: Some(key),
            handshake_timeout_ms,
            ..TlsSettings::default()
        },
        ..OriginConfig::default()
    };
    config.validate().unwrap();
    let tls = TlsListener::bind(&config.tls).await.unwrap();
    let addr = tls.local_addr().unwrap();
    let origin = Origin::open(&config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    tokio::spawn(origin.serve_tls(listener, Some(tls), None, std::future::pending()));
    Tls {
        addr,
        ca,
        big,
        _dirs: [root, data, certs],
    }
}

impl Tls {
    /// A client that speaks only `protocol` (ALPN `h2` or `http/1.1`) and
    /// trusts the test's authority only.
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

    /// The same request over HTTP/1.1 and HTTP/2; checks the versions,
    /// that no HTTP/2 field is connection-specific, and that both carry
    /// the same status and field names (but `Date`); returns the two
    /// responses.
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

    async fn etag(&self, path: &str) -> String {
        let response = self.client(b"h2").get(self.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.headers()["etag"].to_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn a_304_over_h2_has_the_same_fields_as_over_http11() {
    let origin = origin().await;
    let etag = origin.etag("/").await;
    let (h1, h2) = origin.both(Method::GET, "/", &[("if-none-match", &etag)]).await;
    assert_eq!(h2.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(h2.headers()["etag"], etag.as_str());
    assert!(h1.bytes().await.unwrap().is_empty() && h2.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_412_over_h2_has_the_same_fields_as_over_http11() {
    let origin = origin().await;
    let (_, h2) = origin
        .both(Method::GET, "/", &[("if-match", "\"not-the-current-tag\"")])
        .await;
    assert_eq!(h2.status(), StatusCode::PRECONDITION_FAILED);
    // A write that lost its race, on the API.
    let client = origin.client(b"h2");
    let created = client
        .put(origin.url("/api/notes/a"))
        .header("content-type", "application/json")
        .header("if-none-match", "*")
        .body("{\"text\":\"hi\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let mut answers = Vec::new();
    for protocol in [&b"http/1.1"[..], &b"h2"[..]] {
        let response = origin
            .client(protocol)
            .put(origin.url("/api/notes/a"))
            .header("content-type", "application/json")
            .header("if-match", "\"stale\"")
            .body("{\"text\":\"lost\"}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
        answers.push(field_names_but_date(response.headers()));
    }
    assert_eq!(answers[0], answers[1]);
}

#[tokio::test]
async fn a_range_over_h2_is_a_206_with_the_same_fields_as_over_http11() {
    let origin = origin().await;
    let (h1, h2) = origin
        .both(Method::GET, "/big.bin", &[("range", "bytes=100-199")])
        .await;
    assert_eq!(h2.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        h2.headers()["content-range"],
        format!("bytes 100-199/{BIG}").as_str()
    );
    let expected = &origin.big[100..200];
    assert_eq!(&h1.bytes().await.unwrap()[..], expected);
    assert_eq!(&h2.bytes().await.unwrap()[..], expected);
}

#[tokio::test]
async fn head_over_h2_has_the_same_fields_as_over_http11_and_no_body() {
    let origin = origin().await;
    let (h1, h2) = origin.both(Method::HEAD, "/big.bin", &[]).await;
    assert_eq!(h2.status(), StatusCode::OK);
    assert_eq!(h2.headers()["content-length"], BIG.to_string().as_str());
    assert!(h1.bytes().await.unwrap().is_empty() && h2.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_body_of_several_mib_arrives_whole_over_h2() {
    let origin = origin().await;
    let client = origin.client(b"h2");
    // Twice on one connection, and two at once: the connection window is
    // shared and must be given back.
    for _ in 0..2 {
        let response = client.get(origin.url("/big.bin")).send().await.unwrap();
        assert_eq!(response.version(), Version::HTTP_2);
        assert!(response.bytes().await.unwrap() == origin.big);
    }
    let (a, b) = tokio::join!(
        client.get(origin.url("/big.bin")).send(),
        client.get(origin.url("/big.bin")).send()
    );
    let (a, b) = tokio::join!(a.unwrap().bytes(), b.unwrap().bytes());
    assert!(a.unwrap() == origin.big && b.unwrap() == origin.big);
}

/// A client that connects to the TLS port and sends nothing is closed at
/// the handshake timeout and counted in the origin's `/metrics`.
#[tokio::test]
async fn a_silent_client_on_the_tls_port_is_closed_and_counted_in_metrics() {
    let origin = origin_with(300).await;
    let mut silent = tokio::net::TcpStream::connect(origin.addr).await.unwrap();
    revalidate_listener::testing::closed_by_server(&mut silent).await;
    let series = "revalidate_connections_closed_total{reason=\"tls_handshake_timeout\"} 1";
    let deadline = std::time::Instant::now() + revalidate_listener::testing::PATIENCE;
    loop {
        let text = origin
            .client(b"h2")
            .get(origin.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.lines().any(|line| line == series) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no {series} in\n{text}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
