//! Every wait has a bound, contention converges, and one cache and pool
//! serve reads and updates: real sockets, a real `revalidate serve`.

use std::time::{Duration, Instant};

use revalidate_client::{
    CacheMiddleware, CacheStorage, CachingClient, ClientError, Source, Timeouts, Update, UpdateError, Written,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::Served;

/// A server that accepts connections and then writes `reply` (possibly
/// nothing) and never another byte; the sockets stay open.
async fn stalling_server(reply: &'static [u8]) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            // The request head first: a reply sent before it is no answer.
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && socket.read_exact(&mut byte).await.is_ok() {
                head.push(byte[0]);
            }
            let _ = socket.write_all(reply).await;
            held.push(socket);
        }
    });
    format!("http://{addr}/slow")
}

const SHORT: Timeouts = Timeouts {
    connect: Duration::from_secs(2),
    response: Duration::from_millis(300),
};

/// (case, what the server sends before it stalls)
const STALLS: [(&str, &[u8]); 3] = [
    ("accepts and never answers", b""),
    ("sends half a head", b"HTTP/1.1 200 OK\r\ncontent-le"),
    (
        "sends the head and part of the body",
        b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\ncache-control: max-age=60\r\n\r\nhello",
    ),
];

/// Whatever the server does short of answering, the call fails within the
/// response timeout, says it timed out and names the request.
#[tokio::test]
async fn stalled_server_fails_within_the_timeout() {
    for (case, reply) in STALLS {
        let url = stalling_server(reply).await;

        let client = CachingClient::with_timeouts(SHORT).unwrap();
        let started = Instant::now();
        let error = client.get(&url).await.unwrap_err();
        let waited = started.elapsed();
        assert!(waited >= SHORT.response, "{case}: failed early, after {waited:?}");
        assert!(waited < Duration::from_secs(5), "{case}: took {waited:?}");
        let ClientError::Transport(transport) = &error else {
            panic!("{case}: expected a transport error, got {error}");
        };
        assert!(transport.is_timeout(), "{case}: {error}");
        assert!(
            error.to_string().starts_with(&format!("GET {url} timed out")),
            "{case}: {error}"
        );

        let started = Instant::now();
        let error = client
            .updater()
            .update(&url, |_: Option<Value>| {
                Ok::<_, std::convert::Infallible>(Update::Keep)
            })
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5), "{case}: update");
        let UpdateError::Transport(transport) = &error else {
            panic!("{case}: expected a transport error, got {error}");
        };
        assert!(transport.is_timeout(), "{case}: {error}");
        assert!(
            error.to_string().contains(&format!("GET {url}")),
            "{case}: {error}"
        );

        // The middleware bounds a request on a client that has no timeout.
        let plain = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(CacheMiddleware::new().with_response_timeout(Some(SHORT.response)))
            .build();
        let started = Instant::now();
        let error = plain.get(&url).send().await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5), "{case}: middleware");
        assert!(error.is_timeout(), "{case}: {error}");
    }
}

#[test]
fn default_timeouts_bound_connect_and_response() {
    let defaults = Timeouts::default();
    assert_eq!(defaults.connect, Duration::from_secs(10));
    assert_eq!(defaults.response, Duration::from_secs(30));
}

/// A refused connection is an error that names the request, not a hang.
#[tokio::test]
async fn refused_connection_names_the_request() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/gone", listener.local_addr().unwrap());
    drop(listener);
    let error = CachingClient::new().unwrap().get(&url).await.unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with(&format!("GET {url}: cannot connect")),
        "{error}"
    );
}

/// 64 updaters of one counter on a real `revalidate serve` (SQLite) with
/// the default retry policy, `clients` clients (as many processes would
/// have: own caches, own pools) of `64 / clients` updaters each, every
/// updater adding 1 `each` times: no update is lost and none gives up.
async fn sixty_four_updaters(clients: usize, each: usize) {
    const UPDATERS: usize = 64;
    let origin = Served::start(&[]).await;
    let url = origin.url("/api/counters/contended");
    let clients: Vec<CachingClient> = (0..clients).map(|_| CachingClient::new().unwrap()).collect();
    let created = clients[0]
        .updater()
        .create(&url, json!({ "n": 0 }))
        .await
        .unwrap();
    assert_eq!(created.written, Written::Created);

    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..UPDATERS {
        let (url, updater) = (url.clone(), clients[i % clients.len()].updater());
        tasks.push(tokio::spawn(async move {
            let mut runs = Vec::new();
            for _ in 0..each {
                let began = Instant::now();
                let updated = updater
                    .update(&url, |current: Option<Value>| {
                        let n = current.and_then(|v| v["n"].as_u64()).unwrap_or(0);
                        Ok::<_, std::convert::Infallible>(Update::Replace(json!({ "n": n + 1 })))
                    })
                    .await;
                match updated {
                    Ok(updated) => runs.push((began.elapsed(), updated.attempts)),
                    Err(error) => panic!("an update gave up: {error}"),
                }
            }
            runs
        }));
    }
    let mut runs = Vec::new();
    for task in tasks {
        runs.extend(task.await.unwrap());
    }
    let total = started.elapsed();
    let final_value: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    assert_eq!(
        final_value["n"].as_u64().unwrap(),
        (UPDATERS * each) as u64,
        "lost updates"
    );

    runs.sort();
    let latency = |q: f64| runs[((runs.len() - 1) as f64 * q) as usize].0;
    let attempts: Vec<u32> = runs.iter().map(|r| r.1).collect();
    eprintln!(
        "64 updaters over {} clients: {} updates in {total:.2?}; per update p50 {:.1?} p99 {:.1?} max {:.1?}; attempts max {}, mean {:.2}",
        clients.len(),
        runs.len(),
        latency(0.5),
        latency(0.99),
        latency(1.0),
        attempts.iter().max().unwrap(),
        attempts.iter().sum::<u32>() as f64 / attempts.len() as f64,
    );
}

/// All 64 through one client: they take turns per URL, no `412` at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_updaters_on_one_client_converge() {
    sixty_four_updaters(1, 5).await;
}

/// Eight clients of eight: the clients race each other (8-way `412`s),
/// and the retry policy converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_updaters_on_eight_clients_converge() {
    sixty_four_updaters(8, 5).await;
}

/// 64 clients of one: 64-way `412` races, only the retry policy between
/// them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_updaters_on_sixty_four_clients_converge() {
    sixty_four_updaters(64, 2).await;
}

/// Reads and updates share one cache: the updater's write invalidates
/// what the client stored, so the next read sees the new value; the
/// updater's read validated the stored response rather than refetching.
#[tokio::test]
async fn reads_and_updates_share_one_cache() {
    let origin = Served::start(&[]).await;
    let url = origin.url("/api/docs/shared");
    let client = CachingClient::new().unwrap();
    let updater = client.updater();
    assert!(std::ptr::eq(client.storage(), updater.client().storage()));
    assert!(std::ptr::eq(client.transport(), updater.client().transport()));

    updater.create(&url, json!({ "v": 1 })).await.unwrap();
    assert_eq!(client.get(&url).await.unwrap().source, Source::Network);
    assert_eq!(client.get(&url).await.unwrap().source, Source::Revalidated);
    assert_eq!(client.storage().load(&url).len(), 1);

    let updated = updater
        .update(&url, |_: Option<Value>| {
            Ok::<_, std::convert::Infallible>(Update::Replace(json!({ "v": 2 })))
        })
        .await
        .unwrap();
    assert!(
        client.storage().load(&url).is_empty(),
        "the successful PUT invalidated the stored response (RFC 9111 §4.4)"
    );
    let after = client.get(&url).await.unwrap();
    assert_eq!(after.source, Source::Network);
    assert_eq!(
        serde_json::from_slice::<Value>(&after.body).unwrap(),
        json!({ "v": 2 })
    );
    assert_eq!(after.headers["etag"], updated.etag.unwrap().to_string());

    // Keep reads through the cache: the stored response is validated (304).
    let kept = updater
        .update(&url, |_: Option<Value>| {
            Ok::<_, std::convert::Infallible>(Update::Keep)
        })
        .await
        .unwrap();
    assert_eq!(kept.value, Some(json!({ "v": 2 })));
    assert_eq!(client.get(&url).await.unwrap().source, Source::Revalidated);
}
