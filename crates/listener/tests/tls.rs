//! The TLS listener: ALPN, SNI, reloads, bounded handshakes, with
//! certificates made by the test and a real rustls and hyper client.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use revalidate_listener::testing::tls::{TestCa, TestCert};
use revalidate_listener::tls::{CertError, CertificateSettings};
use revalidate_listener::{Limits, TlsSettings};
use rustls_pki_types::ServerName;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::support::{GET, PATIENCE, Server, closed_by_server, exchange, patient};

/// Opens a TLS connection to `addr` asking for `name`, offering `alpn`.
async fn connect(
    addr: SocketAddr,
    ca: &TestCa,
    name: &str,
    alpn: &[&[u8]],
) -> std::io::Result<TlsStream<TcpStream>> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(ca.client_config(alpn)));
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(name.to_owned()).unwrap();
    connector.connect(name, tcp).await
}

/// The leaf certificate the server presented.
fn leaf(stream: &TlsStream<TcpStream>) -> Vec<u8> {
    stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// An HTTP client on one TLS connection, of the protocol ALPN chose.
enum Client {
    Http1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    Http2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

impl Client {
    async fn over(stream: TlsStream<TcpStream>) -> Self {
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        let io = TokioIo::new(stream);
        if h2 {
            let (sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .unwrap();
            tokio::spawn(connection);
            Self::Http2(sender)
        } else {
            let (sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
            tokio::spawn(connection);
            Self::Http1(sender)
        }
    }

    async fn send(&mut self, method: &str, path: &str, body: &'static [u8]) -> (Response<()>, Bytes) {
        let request = Request::builder()
            .method(method)
            .uri(format!("https://test{path}"))
            .header("host", "test")
            .body(Full::new(Bytes::from_static(body)))
            .unwrap();
        let response = match self {
            Self::Http1(sender) => {
                let mut request = request;
                *request.uri_mut() = path.parse().unwrap();
                sender.send_request(request).await.unwrap()
            }
            Self::Http2(sender) => sender.send_request(request).await.unwrap(),
        };
        let (parts, body) = response.into_parts();
        let body = tokio::time::timeout(PATIENCE, body.collect())
            .await
            .unwrap()
            .unwrap()
            .to_bytes();
        (Response::from_parts(parts, ()), body)
    }

    async fn get(&mut self, path: &str) -> (Response<()>, Bytes) {
        self.send("GET", path, b"").await
    }
}

/// A directory with the certificates of one test.
struct Pki {
    ca: TestCa,
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Self {
        Self {
            ca: TestCa::new(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn write(&self, cert: &TestCert, stem: &str) -> (PathBuf, PathBuf) {
        cert.write(self.dir.path(), stem)
    }

    /// Settings listening anywhere, with `cert` as the default.
    fn settings(&self, default: (PathBuf, PathBuf)) -> TlsSettings {
        TlsSettings {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            cert: Some(default.0),
            key: Some(default.1),
            ..TlsSettings::default()
        }
    }
}

/// Polls `connect` until a new connection is served `want`; fails after
/// [`PATIENCE`].
async fn wait_for_leaf(addr: SocketAddr, ca: &TestCa, want: &TestCert, what: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let stream = connect(addr, ca, "localhost", &[b"h2"]).await.unwrap();
        if leaf(&stream) == want.der {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: new connections still get the old certificate"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn alpn_h2_and_http11_are_both_served_on_one_tls_port_beside_the_cleartext_one() {
    let pki = Pki::new();
    let cert = pki.ca.issue(&["localhost"]);
    let server = Server::start_tls(patient(), pki.settings(pki.write(&cert, "site"))).await;
    let addr = server.tls_addr.unwrap();
    // (offered, negotiated, HTTP version)
    type Case = (&'static [&'static [u8]], Option<&'static [u8]>, Version);
    let cases: [Case; 4] = [
        (&[b"h2", b"http/1.1"], Some(b"h2"), Version::HTTP_2),
        (&[b"http/1.1", b"h2"], Some(b"h2"), Version::HTTP_2),
        (&[b"http/1.1"], Some(b"http/1.1"), Version::HTTP_11),
        (&[], None, Version::HTTP_11),
    ];
    for (offered, negotiated, version) in cases {
        let stream = connect(addr, &pki.ca, "localhost", offered).await.unwrap();
        assert_eq!(stream.get_ref().1.alpn_protocol(), negotiated, "{offered:?}");
        let mut client = Client::over(stream).await;
        for _ in 0..2 {
            let (response, body) = client.get("/").await;
            assert_eq!(
                (response.status().as_u16(), response.version()),
                (200, version),
                "{offered:?}"
            );
            assert_eq!(&body[..], b"hello");
        }
    }
    let mut plain = server.connect().await;
    assert_eq!(
        exchange(&mut plain, GET).await,
        "HTTP/1.1 200 OK",
        "cleartext as before"
    );
    assert_eq!(
        server.metric("test_connections_accepted_total"),
        5.0,
        "one cap and count for both"
    );
}

/// RFC 7301 §3.2: a client that offers ALPN without a protocol the
/// server has is refused (`no_application_protocol`), and the failed
/// handshake is counted.
#[tokio::test]
async fn a_client_offering_no_common_alpn_protocol_is_refused_and_counted() {
    let pki = Pki::new();
    let server = Server::start_tls(
        patient(),
        pki.settings(pki.write(&pki.ca.issue(&["localhost"]), "site")),
    )
    .await;
    let refused = connect(server.tls_addr.unwrap(), &pki.ca, "localhost", &[b"spdy/3"]).await;
    assert!(refused.is_err(), "an unknown protocol was accepted");
    server
        .wait_for(|s| s.closed("tls_handshake_failed"), 1.0, "failed handshakes")
        .await;
}

/// The listener says `Connection: close` after answering an HTTP/1
/// request before reading its body (RFC 9112 §9.6); over HTTP/2 the
/// field is connection-specific and must never be sent (RFC 9113
/// §8.2.2): the stream is reset instead.
#[tokio::test]
async fn an_early_answer_says_connection_close_over_http1_and_never_over_h2() {
    let pki = Pki::new();
    let server = Server::start_tls(
        patient(),
        pki.settings(pki.write(&pki.ca.issue(&["localhost"]), "site")),
    )
    .await;
    let addr = server.tls_addr.unwrap();
    let body: &'static [u8] = &[b'x'; 100_000];
    let mut h1 = Client::over(connect(addr, &pki.ca, "localhost", &[b"http/1.1"]).await.unwrap()).await;
    let (response, _) = h1.send("POST", "/reject", body).await;
    assert_eq!(response.status(), 413);
    assert_eq!(response.headers().get("connection").unwrap(), "close");
    let mut h2 = Client::over(connect(addr, &pki.ca, "localhost", &[b"h2"]).await.unwrap()).await;
    let (response, _) = h2.send("POST", "/reject", body).await;
    assert_eq!(
        (response.status().as_u16(), response.version()),
        (413, Version::HTTP_2)
    );
    for field in [
        "connection",
        "keep-alive",
        "transfer-encoding",
        "upgrade",
        "proxy-connection",
    ] {
        assert!(
            response.headers().get(field).is_none(),
            "{field} over h2: {response:?}"
        );
    }
    let (response, _) = h2.get("/").await;
    assert_eq!(response.status(), 200, "the h2 connection carries on");
}

#[tokio::test]
async fn sni_picks_the_certificate_of_the_name_asked_for() {
    let pki = Pki::new();
    let default = pki.ca.issue(&["localhost", "other.test"]);
    let api = pki.ca.issue(&["api.test"]);
    let wild = pki.ca.issue(&["*.wild.test"]);
    let from_san = pki.ca.issue(&["san.test", "alias.test"]);
    let mut settings = pki.settings(pki.write(&default, "default"));
    for (cert, stem, names) in [
        (&api, "api", vec!["api.test".to_owned()]),
        (&wild, "wild", vec!["*.wild.test".to_owned()]),
        (&from_san, "san", Vec::new()),
    ] {
        let (cert, key) = pki.write(cert, stem);
        settings.certificates.push(CertificateSettings {
            cert,
            key,
            server_names: names,
        });
    }
    let server = Server::start_tls(patient(), settings.clone()).await;
    let addr = server.tls_addr.unwrap();
    for (name, want) in [
        ("api.test", &api),
        ("a.wild.test", &wild),
        ("san.test", &from_san),
        ("alias.test", &from_san),
        ("other.test", &default),
        ("localhost", &default),
    ] {
        let stream = connect(addr, &pki.ca, name, &[b"h2"]).await.unwrap();
        assert!(leaf(&stream) == want.der, "{name} got another certificate");
        let (response, _) = Client::over(stream).await.get("/").await;
        assert_eq!(response.status(), 200, "{name}");
    }

    // Without a default, a name no certificate covers is refused.
    settings.cert = None;
    settings.key = None;
    let strict = Server::start_tls(patient(), settings).await;
    assert!(
        connect(strict.tls_addr.unwrap(), &pki.ca, "other.test", &[])
            .await
            .is_err()
    );
    strict
        .wait_for(|s| s.closed("tls_handshake_failed"), 1.0, "failed handshakes")
        .await;
    let stream = connect(strict.tls_addr.unwrap(), &pki.ca, "api.test", &[])
        .await
        .unwrap();
    assert!(leaf(&stream) == api.der);
}

#[tokio::test]
async fn a_changed_certificate_file_is_used_for_new_connections_while_an_open_one_keeps_working() {
    let pki = Pki::new();
    let old = pki.ca.issue(&["localhost"]);
    let files = pki.write(&old, "site");
    let server = Server::start_tls(patient(), pki.settings(files.clone())).await;
    let addr = server.tls_addr.unwrap();
    let stream = connect(addr, &pki.ca, "localhost", &[b"h2"]).await.unwrap();
    assert!(leaf(&stream) == old.der);
    let mut open = Client::over(stream).await;
    assert_eq!(open.get("/").await.0.status(), 200);

    let new = pki.ca.issue(&["localhost"]);
    new.replace(&files.0, &files.1);
    wait_for_leaf(addr, &pki.ca, &new, "after the files changed").await;
    assert_eq!(
        open.get("/").await.0.status(),
        200,
        "the open connection was dropped"
    );
}

#[tokio::test]
async fn sighup_reloads_the_certificates_while_an_open_connection_keeps_working() {
    let pki = Pki::new();
    let old = pki.ca.issue(&["localhost"]);
    let files = pki.write(&old, "site");
    let settings = TlsSettings {
        // Only the signal may reload.
        watch: false,
        ..pki.settings(files.clone())
    };
    let server = Server::start_tls(patient(), settings).await;
    let addr = server.tls_addr.unwrap();
    let mut open = Client::over(connect(addr, &pki.ca, "localhost", &[b"http/1.1"]).await.unwrap()).await;
    assert_eq!(open.get("/").await.0.status(), 200);

    let new = pki.ca.issue(&["localhost"]);
    new.replace(&files.0, &files.1);
    let stream = connect(addr, &pki.ca, "localhost", &[b"h2"]).await.unwrap();
    assert!(
        leaf(&stream) == old.der,
        "reloaded without a signal while watch = false"
    );
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_for_leaf(addr, &pki.ca, &new, "after SIGHUP").await;
    assert_eq!(
        open.get("/").await.0.status(),
        200,
        "the open connection was dropped"
    );
}

#[tokio::test]
async fn a_reload_with_a_broken_expired_or_mismatched_file_keeps_the_certificate_in_force() {
    let pki = Pki::new();
    let good = pki.ca.issue(&["localhost"]);
    let files = pki.write(&good, "site");
    let settings = TlsSettings {
        watch: false,
        ..pki.settings(files.clone())
    };
    let server = Server::start_tls(patient(), settings).await;
    let addr = server.tls_addr.unwrap();
    let store = server.certificates.clone().unwrap();
    let other = pki.ca.issue(&["localhost"]);
    let expired = pki.ca.issue_valid(
        &["localhost"],
        revalidate_listener::testing::tls::days_from_now(-30),
        revalidate_listener::testing::tls::days_from_now(-1),
    );
    let not_yet = pki.ca.issue_valid(
        &["localhost"],
        revalidate_listener::testing::tls::days_from_now(2),
        revalidate_listener::testing::tls::days_from_now(30),
    );
    let mismatched = TestCert {
        key_pem: good.key_pem.clone(),
        ..other.clone()
    };
    let garbage = TestCert {
        chain_pem: "not a certificate\n".into(),
        ..other.clone()
    };
    for (case, broken, expected) in [
        ("mismatched key", &mismatched, "does not match"),
        ("expired", &expired, "expired on"),
        ("not yet valid", &not_yet, "is not valid before"),
        ("garbage", &garbage, "no usable PEM certificate"),
    ] {
        broken.replace(&files.0, &files.1);
        let error: CertError = store.reload().unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains(expected) && !message.contains('\n'),
            "{case}: {message}"
        );
        let stream = connect(addr, &pki.ca, "localhost", &[b"h2"]).await.unwrap();
        assert!(
            leaf(&stream) == good.der,
            "{case}: the certificate in force changed"
        );
        let (response, _) = Client::over(stream).await.get("/").await;
        assert_eq!(response.status(), 200, "{case}");
    }
    std::fs::remove_file(&files.1).unwrap();
    assert!(store.reload().unwrap_err().to_string().starts_with("cannot read"));
    let stream = connect(addr, &pki.ca, "localhost", &[]).await.unwrap();
    assert!(
        leaf(&stream) == good.der,
        "missing key: the certificate in force changed"
    );
}

/// A client that opens a TCP connection to the TLS port and sends
/// nothing is closed at the handshake timeout, long before the header
/// timeout, and counted as a failed handshake.
#[tokio::test]
async fn a_silent_tcp_client_on_the_tls_port_is_closed_at_the_handshake_timeout() {
    let pki = Pki::new();
    let settings = TlsSettings {
        handshake_timeout_ms: 500,
        ..pki.settings(pki.write(&pki.ca.issue(&["localhost"]), "site"))
    };
    let server = Server::start_tls(patient(), settings).await;
    let mut silent = TcpStream::connect(server.tls_addr.unwrap()).await.unwrap();
    let connected = Instant::now();
    let closed = closed_by_server(&mut silent).await;
    let after = closed - connected;
    // The coarse clock may fire a little early: not before half; and far
    // before the header timeout (a minute).
    assert!(
        after >= Duration::from_millis(250) && after < Duration::from_secs(10),
        "closed after {after:?}"
    );
    assert_eq!(server.closed("tls_handshake_timeout"), 1.0);
    server.wait_for(Server::open, 0.0, "open connections").await;
}

/// The handshake is bounded by the header timeout too, when that is the
/// shorter.
#[tokio::test]
async fn the_handshake_is_bounded_by_the_header_timeout_when_it_is_shorter() {
    let pki = Pki::new();
    let settings = TlsSettings {
        handshake_timeout_ms: 60_000,
        ..pki.settings(pki.write(&pki.ca.issue(&["localhost"]), "site"))
    };
    let server = Server::start_tls(
        Limits {
            header_timeout_ms: 500,
            ..patient()
        },
        settings,
    )
    .await;
    let mut silent = TcpStream::connect(server.tls_addr.unwrap()).await.unwrap();
    let connected = Instant::now();
    let after = closed_by_server(&mut silent).await - connected;
    assert!(after < Duration::from_secs(10), "closed after {after:?}");
    assert_eq!(server.closed("tls_handshake_timeout"), 1.0);
}

/// Plain HTTP sent to the TLS port fails the handshake at once: closed,
/// counted, no lingering.
#[tokio::test]
async fn plain_http_on_the_tls_port_fails_the_handshake_and_is_counted() {
    let pki = Pki::new();
    let server = Server::start_tls(
        patient(),
        pki.settings(pki.write(&pki.ca.issue(&["localhost"]), "site")),
    )
    .await;
    let mut stream = TcpStream::connect(server.tls_addr.unwrap()).await.unwrap();
    stream.write_all(GET).await.unwrap();
    closed_by_server(&mut stream).await;
    server
        .wait_for(|s| s.closed("tls_handshake_failed"), 1.0, "failed handshakes")
        .await;
    assert_eq!(server.closed("error"), 0.0);
}
