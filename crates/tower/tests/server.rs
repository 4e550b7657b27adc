//! One real axum server on 127.0.0.1:0, spoken to over raw TCP so the
//! wire bytes can be checked: a 304 and a HEAD response carry no body, and
//! a multipart 206 is framed by its own length.

use std::net::SocketAddr;

use axum::Router;
use axum::handler::Handler;
use axum::routing::get;
use revalidate_tower::{ConditionalLayer, ETagLayer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;

use crate::support::DOC;

async fn spawn(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // The task ends with the test's runtime.
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Sends `request` on a fresh connection and reads until the server closes it.
async fn exchange(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_to_end(&mut out))
        .await
        .expect("the server closes the connection")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

fn field<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn app() -> Router {
    Router::new()
        .route(
            "/doc",
            get(|| async { ([("content-type", "application/json")], DOC) }),
        )
        .route(
            "/big",
            get(|| async {
                (
                    [("content-type", "application/json")],
                    format!("[{}]", vec![DOC; 40].join(",")),
                )
            }),
        )
}

/// The two ways to apply the layer that keep HEAD tagged like GET (the
/// layer sits inside the route, where the GET body still exists):
/// `Router::layer` on the routes, and `Handler::layer` on one handler, the
/// cheaper one (axum boxes and clones the route once more per request for
/// a router layer). The same wire bytes from both.
#[tokio::test]
async fn real_server_304_has_no_body() {
    let doc = || async { ([("content-type", "application/json")], DOC) };
    let cases = [
        ("Router::layer", app().layer(ConditionalLayer::new())),
        (
            "Handler::layer",
            Router::new().route("/doc", get(doc.layer(ConditionalLayer::new()))),
        ),
    ];
    for (how, app) in cases {
        let addr = spawn(app).await;
        let ok = exchange(addr, "GET /doc HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{how}: {ok}");
        assert!(ok.ends_with(DOC), "{how}: {ok}");
        let etag = field(&ok, "etag").unwrap().to_owned();
        assert_eq!(
            field(&ok, "content-length"),
            Some(DOC.len().to_string().as_str()),
            "{how}"
        );

        let request =
            format!("GET /doc HTTP/1.1\r\nHost: t\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n");
        let not_modified = exchange(addr, &request).await;
        assert!(
            not_modified.starts_with("HTTP/1.1 304 Not Modified\r\n"),
            "{how}: {not_modified}"
        );
        assert!(
            not_modified.ends_with("\r\n\r\n"),
            "{how}: nothing after the head: {not_modified:?}"
        );
        assert_eq!(field(&not_modified, "etag"), Some(etag.as_str()), "{how}");
        for absent in ["content-length", "transfer-encoding", "content-type"] {
            assert!(
                field(&not_modified, absent).is_none(),
                "{how}: {absent} in {not_modified}"
            );
        }

        let head = exchange(addr, "HEAD /doc HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await;
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{how}: {head}");
        assert!(head.ends_with("\r\n\r\n"), "{how}: HEAD has no body: {head:?}");
        assert_eq!(field(&head, "etag"), Some(etag.as_str()), "{how}");
        assert_eq!(
            field(&head, "content-length"),
            Some(DOC.len().to_string().as_str()),
            "{how}"
        );

        let ranged = exchange(
            addr,
            &format!("GET /doc HTTP/1.1\r\nHost: t\r\nRange: bytes=0-4\r\nIf-Range: {etag}\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert!(
            ranged.starts_with("HTTP/1.1 206 Partial Content\r\n"),
            "{how}: {ranged}"
        );
        assert!(ranged.ends_with(&DOC[..5]), "{how}: {ranged}");
    }
}

/// Ranges on the wire, through axum and hyper: `bytes=0-` is a 206 of
/// everything, two ranges a `multipart/byteranges` 206 whose
/// `Content-Length` is the multipart body's, and a HEAD with `Range` a 200
/// head with no body.
#[tokio::test]
async fn real_server_ranges() {
    let addr = spawn(app().layer(ConditionalLayer::new())).await;
    let len = DOC.len();

    let whole = exchange(
        addr,
        "GET /doc HTTP/1.1\r\nHost: t\r\nRange: bytes=0-\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(whole.starts_with("HTTP/1.1 206 Partial Content\r\n"), "{whole}");
    let content_range = format!("bytes 0-{}/{len}", len - 1);
    assert_eq!(field(&whole, "content-range"), Some(content_range.as_str()));
    assert_eq!(field(&whole, "content-length"), Some(len.to_string().as_str()));
    assert!(whole.ends_with(&format!("\r\n\r\n{DOC}")), "{whole}");
    let etag = field(&whole, "etag").unwrap().to_owned();

    let two = exchange(
        addr,
        "GET /doc HTTP/1.1\r\nHost: t\r\nRange: bytes=0-1,4-5\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(two.starts_with("HTTP/1.1 206 Partial Content\r\n"), "{two}");
    let boundary = format!("revalidate-{}", etag.trim_matches('"'));
    let expected = format!(
        "--{boundary}\r\nContent-Type: application/json\r\nContent-Range: bytes 0-1/{len}\r\n\r\n{}\
         \r\n--{boundary}\r\nContent-Type: application/json\r\nContent-Range: bytes 4-5/{len}\r\n\r\n{}\
         \r\n--{boundary}--\r\n",
        &DOC[0..2],
        &DOC[4..6],
    );
    let content_type = format!("multipart/byteranges; boundary={boundary}");
    assert_eq!(field(&two, "content-type"), Some(content_type.as_str()));
    assert_eq!(
        field(&two, "content-length"),
        Some(expected.len().to_string().as_str())
    );
    assert!(field(&two, "content-range").is_none(), "{two}");
    assert_eq!(
        two.split_once("\r\n\r\n").map(|(_, body)| body),
        Some(expected.as_str())
    );

    let head = exchange(
        addr,
        "HEAD /doc HTTP/1.1\r\nHost: t\r\nRange: bytes=0-1,4-5\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.ends_with("\r\n\r\n"), "HEAD has no body: {head:?}");
    assert!(field(&head, "content-range").is_none(), "{head}");
    assert_eq!(field(&head, "content-length"), Some(len.to_string().as_str()));
    assert_eq!(field(&head, "etag"), Some(etag.as_str()));
}

#[tokio::test]
async fn real_server_compressed_variant_round_trip() {
    let layers = ServiceBuilder::new()
        .layer(ConditionalLayer::new())
        .layer(CompressionLayer::new())
        .layer(ETagLayer::new());
    let addr = spawn(app().layer(layers)).await;
    let gzip = exchange(
        addr,
        "GET /big HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(field(&gzip, "content-encoding"), Some("gzip"), "{gzip}");
    let etag = field(&gzip, "etag").unwrap().to_owned();
    assert!(etag.ends_with("-gzip\""), "{etag}");

    let again = format!(
        "GET /big HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n"
    );
    let not_modified = exchange(addr, &again).await;
    assert!(
        not_modified.starts_with("HTTP/1.1 304 Not Modified\r\n"),
        "{not_modified}"
    );
    assert!(not_modified.ends_with("\r\n\r\n"), "{not_modified:?}");
    assert!(field(&not_modified, "vary").unwrap().contains("accept-encoding"));

    let identity = format!(
        "GET /big HTTP/1.1\r\nHost: t\r\nAccept-Encoding: identity\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n"
    );
    let full = exchange(addr, &identity).await;
    assert!(full.starts_with("HTTP/1.1 200 OK\r\n"), "{full}");
    assert!(full.ends_with("]"), "identity body: {full}");
}
