//! The caching client against `revalidate serve` over real sockets.

use revalidate_client::{CachingClient, Source, Updater};
use serde_json::{Value, json};

use crate::support::Served;

/// A static file is sent `public, no-cache` with a BLAKE3 ETag: stored,
/// revalidated on each use, answered with 304 while unchanged.
#[tokio::test]
async fn static_file_round_trip_200_then_304() {
    let origin = Served::start(&[("site/app.css", b"body { color: red }")]).await;
    let client = CachingClient::new().unwrap();
    let url = origin.url("/site/app.css");

    let first = client.get(&url).await.unwrap();
    assert_eq!(first.source, Source::Network);
    assert_eq!(first.status, 200);
    assert_eq!(first.body, "body { color: red }");
    let etag = first.headers["etag"].clone();

    for _ in 0..2 {
        let again = client.get(&url).await.unwrap();
        assert_eq!(again.source, Source::Revalidated, "a 304 came back");
        assert_eq!(again.status, 200);
        assert_eq!(again.body, "body { color: red }");
        assert_eq!(again.headers["etag"], etag);
    }
    assert!(origin.root.path().join("site/app.css").exists());
}

/// A JSON resource (`no-cache`, strong ETag): 304 while unchanged, the new
/// representation once another client updated it, then 304 again.
#[tokio::test]
async fn json_resource_round_trip_through_an_update() {
    let origin = Served::start(&[]).await;
    let url = origin.url("/api/docs/readme");
    let updater = Updater::new().unwrap();
    updater.create(&url, json!({ "title": "v1" })).await.unwrap();

    let client = CachingClient::new().unwrap();
    let first = client.get(&url).await.unwrap();
    assert_eq!(first.source, Source::Network);
    assert_eq!(
        serde_json::from_slice::<Value>(&first.body).unwrap(),
        json!({ "title": "v1" })
    );

    let second = client.get(&url).await.unwrap();
    assert_eq!(second.source, Source::Revalidated);
    assert_eq!(second.body, first.body);

    let updated = updater
        .update(&url, |_: Option<Value>| {
            Ok::<_, ()>(revalidate_client::Update::Replace(json!({ "title": "v2" })))
        })
        .await
        .unwrap();

    let third = client.get(&url).await.unwrap();
    assert_eq!(third.source, Source::Network, "the 200 replaces the stored v1");
    assert_eq!(
        serde_json::from_slice::<Value>(&third.body).unwrap(),
        json!({ "title": "v2" })
    );
    assert_eq!(third.headers["etag"], updated.etag.unwrap().to_string());

    let fourth = client.get(&url).await.unwrap();
    assert_eq!(fourth.source, Source::Revalidated);
    assert_eq!(fourth.body, third.body);
}

/// The revalidation request as it goes over the wire from the real
/// transport: a raw TCP server records the request heads byte for byte.
#[tokio::test]
async fn revalidation_request_on_the_wire() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let replies: [&[u8]; 2] = [
        b"HTTP/1.1 200 OK\r\ncache-control: max-age=0\r\netag: \"abc\"\r\n\
          last-modified: Tue, 14 Nov 2023 22:13:20 GMT\r\ncontent-length: 5\r\n\r\nhello",
        b"HTTP/1.1 304 Not Modified\r\netag: \"abc\"\r\ncache-control: max-age=60\r\n\r\n",
    ];
    let server = tokio::spawn(async move {
        let mut heads = Vec::new();
        let (mut socket, _) = listener.accept().await.unwrap();
        for reply in replies {
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let mut byte = [0u8; 1];
                socket.read_exact(&mut byte).await.unwrap();
                head.push(byte[0]);
            }
            heads.push(String::from_utf8(head).unwrap());
            socket.write_all(reply).await.unwrap();
        }
        heads
    });

    let client = CachingClient::new().unwrap();
    let url = format!("http://{addr}/wire");
    assert_eq!(client.get(&url).await.unwrap().source, Source::Network);
    let revalidated = client.get(&url).await.unwrap();
    assert_eq!(revalidated.source, Source::Revalidated);
    assert_eq!(revalidated.body, "hello");
    assert_eq!(revalidated.headers["cache-control"], "max-age=60");
    let fresh = client.get(&url).await.unwrap();
    assert_eq!(fresh.source, Source::Cache);

    let heads = server.await.unwrap();
    assert!(heads[0].starts_with("GET /wire HTTP/1.1\r\n"), "{}", heads[0]);
    assert!(!heads[0].contains("if-none-match"), "{}", heads[0]);
    assert!(heads[1].starts_with("GET /wire HTTP/1.1\r\n"), "{}", heads[1]);
    assert!(
        heads[1].contains("\r\nif-none-match: \"abc\"\r\n"),
        "{}",
        heads[1]
    );
    assert!(
        heads[1].contains("\r\nif-modified-since: Tue, 14 Nov 2023 22:13:20 GMT\r\n"),
        "{}",
        heads[1]
    );
}

/// The cache as reqwest middleware in front of `revalidate serve`: a
/// static file comes over the network, then as 304s; one request with
/// `CacheMode::NoStore` takes the full response and leaves the store alone.
#[tokio::test]
async fn middleware_round_trip_against_the_origin() {
    use revalidate_client::{CacheMode, Timeouts};

    let origin = Served::start(&[("site/app.js", b"console.log(1)")]).await;
    let url = origin.url("/site/app.js");
    let client = CachingClient::new().unwrap();
    let http = reqwest_middleware::ClientBuilder::new(Timeouts::default().client_builder().build().unwrap())
        .with(client.middleware())
        .build();
    let source = |response: &reqwest::Response| response.extensions().get::<Source>().copied();

    let first = http.get(&url).send().await.unwrap();
    assert_eq!(source(&first), Some(Source::Network));
    let etag = first.headers()["etag"].clone();
    assert_eq!(first.text().await.unwrap(), "console.log(1)");

    let again = http.get(&url).send().await.unwrap();
    assert_eq!(source(&again), Some(Source::Revalidated), "a 304 came back");
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["etag"], etag);
    assert_eq!(again.text().await.unwrap(), "console.log(1)");

    let bypass = http
        .get(&url)
        .with_extension(CacheMode::NoStore)
        .send()
        .await
        .unwrap();
    assert_eq!(source(&bypass), Some(Source::Network));
    assert_eq!(bypass.text().await.unwrap(), "console.log(1)");
    assert_eq!(client.storage().len(), 1, "the store is the client's");
}
