//! The origin's admin listener over real sockets: `/metrics` moves there
//! from the public listener, `/readyz` pings the database (and says why
//! not), `/healthz` turns `503` while graceful shutdown drains a response
//! in flight, and the admin listener stops with the server.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use revalidate_origin::config::OriginConfig;
use revalidate_origin::metrics::Metrics;
use revalidate_origin::server::{self, Origin, OriginAdmin};
use revalidate_origin::static_files::{StaticConfig, StaticFiles};
use tokio::net::TcpListener;

struct Got {
    status: u16,
    content_type: String,
    cache_control: String,
    allow: String,
    body: String,
}

async fn get(method: reqwest::Method, url: String) -> Got {
    let response = reqwest::Client::new().request(method, url).send().await.unwrap();
    let field = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (content_type, cache_control, allow) =
        (field("content-type"), field("cache-control"), field("allow"));
    Got {
        status: response.status().as_u16(),
        content_type,
        cache_control,
        allow,
        body: response.text().await.unwrap(),
    }
}

#[tokio::test]
async fn with_an_admin_listener_metrics_health_and_readiness_are_there_and_public_metrics_is_gone() {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("index.html"), "hello").unwrap();
    let config = OriginConfig {
        root: root.path().into(),
        data: data.path().into(),
        admin: Some(revalidate_listener::AdminSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
        }),
        ..OriginConfig::default()
    };
    let origin = Origin::open(&config).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (public, admin_addr) = (listener.local_addr().unwrap(), admin.local_addr().unwrap());
    tokio::spawn(origin.serve(listener, Some(admin), std::future::pending()));
    let at = |path: &str| format!("http://{admin_addr}{path}");

    assert_eq!(
        get(reqwest::Method::GET, format!("http://{public}/"))
            .await
            .status,
        200
    );
    assert_eq!(
        get(reqwest::Method::GET, format!("http://{public}/metrics"))
            .await
            .status,
        404,
        "the public /metrics is gone once the admin listener has it"
    );
    let metrics = get(reqwest::Method::GET, at("/metrics")).await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.content_type.starts_with("text/plain; version=0.0.4"),
        "{}",
        metrics.content_type
    );
    assert_eq!(metrics.cache_control, "no-store");
    assert!(
        metrics
            .body
            .contains("revalidate_http_requests_total{method=\"GET\",status=\"200\"} 1"),
        "{}",
        metrics.body
    );
    let health = get(reqwest::Method::GET, at("/healthz")).await;
    assert_eq!(
        (health.status, health.body.as_str()),
        (200, r#"{"status":"serving"}"#)
    );
    assert_eq!(health.content_type, "application/json");
    let ready = get(reqwest::Method::GET, at("/readyz")).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    let ready: serde_json::Value = serde_json::from_str(&ready.body).unwrap();
    assert_eq!(
        ready,
        serde_json::json!({"status": "ready", "checks": {"database": "ok (sqlite)"}})
    );
    let head = get(reqwest::Method::HEAD, at("/healthz")).await;
    assert_eq!((head.status, head.body.as_str()), (200, ""));

    let post = get(reqwest::Method::POST, at("/healthz")).await;
    assert_eq!(post.status, 405);
    assert_eq!(post.allow, "GET, HEAD");
    assert_eq!(post.content_type, "application/problem+json");
    let other = get(reqwest::Method::GET, at("/index.html")).await;
    assert_eq!(other.status, 404);
    assert_eq!(other.content_type, "application/problem+json");
}

#[tokio::test]
async fn readyz_with_a_closed_database_is_503_naming_the_database() {
    let data = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/revalidate.db", data.path().display());
    let store = revalidate_store::open(&url).await.unwrap();
    let metrics = Metrics::new();
    let admin_target = OriginAdmin::new(&metrics, Some(store.clone()));
    let app = server::app(axum::Router::new(), "/api/", None, &metrics, false);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_addr = admin.local_addr().unwrap();
    tokio::spawn(server::serve(
        listener,
        app,
        Some((admin, admin_target)),
        std::future::pending(),
    ));
    let ready = get(reqwest::Method::GET, format!("http://{admin_addr}/readyz")).await;
    assert_eq!(ready.status, 200, "{}", ready.body);

    // The pool closed: every database operation now fails.
    store.close().await;
    let ready = get(reqwest::Method::GET, format!("http://{admin_addr}/readyz")).await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.content_type, "application/problem+json");
    let problem: serde_json::Value = serde_json::from_str(&ready.body).unwrap();
    assert_eq!(problem["status"], "unready", "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.starts_with("database: sqlite: "), "{detail}");
    assert!(
        problem["checks"]["database"]
            .as_str()
            .unwrap()
            .starts_with("sqlite: "),
        "{problem}"
    );
    // Liveness is not readiness: the process still serves.
    let health = get(reqwest::Method::GET, format!("http://{admin_addr}/healthz")).await;
    assert_eq!(health.status, 200);
}

/// Polls `url` until it answers `status`, for at most 5 s.
async fn until_status(url: &str, status: u16) -> Got {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = get(reqwest::Method::GET, url.to_owned()).await;
        if got.status == status || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A load balancer must see the node go while it still finishes its
/// requests: from the shutdown signal `/healthz` and `/readyz` answer
/// `503` on the admin listener, which keeps answering until the response
/// in flight on the public listener has ended, and then stops too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_503_while_a_response_in_flight_drains_then_the_admin_listener_stops() {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    // Large enough to fill the socket buffers while the client is not reading.
    let body: Vec<u8> = (0..32 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(root.path().join("big.bin"), &body).unwrap();
    let files = StaticFiles::open(StaticConfig::new(root.path(), data.path())).unwrap();
    let indexing = files.clone();
    tokio::task::spawn_blocking(move || indexing.index_all(false))
        .await
        .unwrap()
        .unwrap();
    let metrics = Metrics::new();
    let app = server::app(axum::Router::new(), "/api/", Some(files), &metrics, false);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_addr: SocketAddr = admin.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server::serve(
        listener,
        app,
        Some((admin, OriginAdmin::new(&metrics, None))),
        async move {
            let _ = stopped.await;
        },
    ));
    let healthz = format!("http://{admin_addr}/healthz");
    assert_eq!(get(reqwest::Method::GET, healthz.clone()).await.status, 200);

    let (first_bytes_tx, first_bytes_rx) = tokio::sync::oneshot::channel();
    let (go_on_tx, go_on_rx) = std::sync::mpsc::channel::<()>();
    let client = std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"GET /big.bin HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut received = vec![0u8; 64 * 1024];
        let n = stream.read(&mut received).unwrap();
        received.truncate(n);
        first_bytes_tx.send(()).unwrap();
        go_on_rx.recv().unwrap();
        stream.read_to_end(&mut received).unwrap();
        received
    });
    first_bytes_rx.await.unwrap();
    stop.send(()).unwrap();

    let draining = until_status(&healthz, 503).await;
    assert_eq!(
        (draining.status, draining.body.as_str()),
        (503, r#"{"status":"draining"}"#)
    );
    let ready = get(reqwest::Method::GET, format!("http://{admin_addr}/readyz")).await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert!(ready.body.contains("draining"), "{}", ready.body);
    assert!(!serving.is_finished(), "a response is still in flight");

    go_on_tx.send(()).unwrap();
    let received = tokio::task::spawn_blocking(move || client.join().unwrap())
        .await
        .unwrap();
    let head_end = received.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(
        received.len() - head_end,
        body.len(),
        "the response in flight ends whole"
    );
    tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("serve returns once the response is done")
        .unwrap()
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(admin_addr).await.is_err(),
        "the admin listener stops with the server"
    );
}
