//! The edge's admin listener over real sockets: its metrics there (the
//! latency histograms counting what the counters count), the public
//! `/metrics` forwarded to the origin, `/healthz` turning `503` while
//! graceful shutdown drains a request in flight, `/readyz`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use revalidate_edge::clock::SystemClock;
use revalidate_edge::storage::{MemoryConfig, MemoryStorage};
use revalidate_edge::{Edge, EdgeSettings};
use revalidate_listener::ListenerConfig;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::support::{RawOrigin, Reply, Seen, TestOrigin, clock, read_head};

/// An edge in front of `origin` with an admin listener.
struct AdminEdge {
    public: SocketAddr,
    admin: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl AdminEdge {
    async fn start(origin: SocketAddr) -> Self {
        Self::start_with(origin, ListenerConfig::default()).await
    }

    async fn start_with(origin: SocketAddr, front_door: ListenerConfig) -> Self {
        let settings = EdgeSettings::new(format!("http://{origin}").parse().unwrap());
        let storage = MemoryStorage::new(MemoryConfig::new(16 << 20)).unwrap();
        let edge = Edge::new(settings, storage.into(), Arc::new(SystemClock));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (public, admin_addr) = (listener.local_addr().unwrap(), admin.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(
            revalidate_edge::server::EdgeServer::new(listener, edge)
                .front_door(front_door)
                .admin(Some(admin))
                .serve(async move {
                    let _ = stopped.await;
                }),
        );
        Self {
            public,
            admin: admin_addr,
            stop: Some(stop),
            serving,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.public)
    }

    fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }
}

struct Got {
    status: u16,
    content_type: String,
    cache_control: String,
    allow: String,
    body: String,
}

async fn send(method: reqwest::Method, url: String) -> Got {
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

async fn get(url: String) -> Got {
    send(reqwest::Method::GET, url).await
}

/// The value of the series `name` whose labels include every one of
/// `labels` (`key="value"`), in the Prometheus text `text`.
fn series(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix('{')?;
        let (set, value) = rest.split_once("} ")?;
        let set: Vec<&str> = set.split(',').collect();
        labels
            .iter()
            .all(|label| set.contains(label))
            .then(|| value.trim().parse().ok())?
    })
}

#[tokio::test]
async fn the_public_metrics_path_reaches_the_origin_and_the_admin_listener_has_the_edges() {
    let origin = TestOrigin::start(clock(), |seen: &Seen| match seen.path.as_str() {
        "/metrics" => Reply::ok("origin_own_metric 42\n").header("cache-control", "no-store"),
        _ => Reply::status(404),
    })
    .await;
    let edge = AdminEdge::start(origin.addr).await;

    let public = get(edge.url("/metrics")).await;
    assert_eq!(public.status, 200);
    assert_eq!(public.body, "origin_own_metric 42\n", "the origin's own /metrics");
    assert_eq!(origin.count("/metrics"), 1);

    let admin = get(edge.admin_url("/metrics")).await;
    assert_eq!(admin.status, 200);
    assert!(
        admin.content_type.starts_with("text/plain; version=0.0.4"),
        "{}",
        admin.content_type
    );
    assert_eq!(admin.cache_control, "no-store");
    assert_eq!(
        series(
            &admin.body,
            "revalidate_edge_requests_total",
            &["outcome=\"miss\""]
        ),
        Some(1.0),
        "{}",
        admin.body
    );
    assert!(!admin.body.contains("origin_own_metric"));

    let head = send(reqwest::Method::HEAD, edge.admin_url("/metrics")).await;
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    let post = send(reqwest::Method::POST, edge.admin_url("/metrics")).await;
    assert_eq!((post.status, post.allow.as_str()), (405, "GET, HEAD"));
    assert_eq!(post.content_type, "application/problem+json");
    let other = get(edge.admin_url("/anything")).await;
    assert_eq!(other.status, 404);
    assert_eq!(other.content_type, "application/problem+json");
    assert_eq!(origin.count("/anything"), 0, "the admin listener never forwards");
}

/// Each request's latency lands in its outcome's histogram, and the
/// origin's in the origin histogram by status class, labelled with the
/// origin's authority: the `_count`s match what was sent.
#[tokio::test]
async fn latency_histograms_count_every_request_by_outcome_and_every_origin_answer_by_class() {
    let origin = TestOrigin::start(clock(), |seen: &Seen| match seen.path.as_str() {
        "/cached" => Reply::ok("kept").header("cache-control", "max-age=600"),
        "/gone" => Reply::status(404).header("cache-control", "no-store"),
        _ => Reply::ok("passed"),
    })
    .await;
    let edge = AdminEdge::start(origin.addr).await;
    assert_eq!(get(edge.url("/cached")).await.status, 200);
    for _ in 0..3 {
        assert_eq!(get(edge.url("/cached")).await.body, "kept");
    }
    for _ in 0..2 {
        assert_eq!(send(reqwest::Method::POST, edge.url("/form")).await.status, 200);
    }
    assert_eq!(get(edge.url("/gone")).await.status, 404);

    let text = get(edge.admin_url("/metrics")).await.body;
    let requests = "revalidate_edge_request_duration_seconds_count";
    for (outcome, count) in [("hit", 3.0), ("miss", 2.0), ("pass", 2.0), ("stale", 0.0)] {
        let label = format!("outcome=\"{outcome}\"");
        assert_eq!(
            series(&text, requests, &[&label]),
            Some(count),
            "{outcome}: {text}"
        );
        assert_eq!(
            series(&text, "revalidate_edge_requests_total", &[&label]),
            Some(count),
            "{outcome}: the histogram counts what the counter counts"
        );
    }
    let hit_under_a_second = series(
        &text,
        "revalidate_edge_request_duration_seconds_bucket",
        &["outcome=\"hit\"", "le=\"1\""],
    );
    assert_eq!(hit_under_a_second, Some(3.0), "{text}");
    let origin_label = format!("origin=\"{}\"", origin.addr);
    let origin_count = |class: &str| {
        let class = format!("status_class=\"{class}\"");
        series(
            &text,
            "revalidate_edge_origin_duration_seconds_count",
            &[&origin_label, &class],
        )
    };
    assert_eq!(origin_count("2xx"), Some(3.0), "one miss and two posts: {text}");
    assert_eq!(origin_count("4xx"), Some(1.0), "{text}");
    assert_eq!(origin_count("error"), Some(0.0), "{text}");
}

/// Polls `url` until it answers `status`, for at most 5 s.
async fn until_status(url: &str, status: u16) -> Got {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = get(url.to_owned()).await;
        if got.status == status || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// From the shutdown signal `/healthz` and `/readyz` answer `503` while a
/// request is still in flight (its origin holds the answer back); once it
/// has been answered the edge stops, and its admin listener with it.
#[tokio::test]
async fn healthz_is_503_while_a_request_in_flight_drains_then_the_admin_listener_stops() {
    let (release, released) = tokio::sync::watch::channel(false);
    let origin = RawOrigin::start(move |mut stream, _| {
        let mut released = released.clone();
        async move {
            let _head = read_head(&mut stream).await;
            let _ = released.wait_for(|go| *go).await;
            let answer = "HTTP/1.1 200 OK\r\ncache-control: no-store\r\ncontent-length: 4\r\n\r\nslow";
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    })
    .await;
    let mut edge = AdminEdge::start(origin.addr).await;
    let healthz = edge.admin_url("/healthz");
    let serving = get(healthz.clone()).await;
    assert_eq!(
        (serving.status, serving.body.as_str()),
        (200, r#"{"status":"serving"}"#)
    );
    let ready = get(edge.admin_url("/readyz")).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    let ready: serde_json::Value = serde_json::from_str(&ready.body).unwrap();
    assert_eq!(ready["checks"]["origin"], "no request sent yet", "{ready}");
    assert!(
        ready["checks"]["storage"].as_str().unwrap().starts_with("ok"),
        "{ready}"
    );

    let in_flight = tokio::spawn(get(edge.url("/slow")));
    let deadline = Instant::now() + Duration::from_secs(5);
    while origin.accepted() == 0 {
        assert!(Instant::now() < deadline, "the request never reached the origin");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    edge.stop.take().unwrap().send(()).unwrap();

    let draining = until_status(&healthz, 503).await;
    assert_eq!(
        (draining.status, draining.body.as_str()),
        (503, r#"{"status":"draining"}"#)
    );
    let ready = get(edge.admin_url("/readyz")).await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.content_type, "application/problem+json");
    assert!(ready.body.contains("draining"), "{}", ready.body);
    assert!(!in_flight.is_finished(), "the request is still in flight");

    release.send(true).unwrap();
    let answered = in_flight.await.unwrap();
    assert_eq!((answered.status, answered.body.as_str()), (200, "slow"));
    tokio::time::timeout(Duration::from_secs(10), &mut edge.serving)
        .await
        .expect("the edge stops once the request in flight is answered")
        .unwrap()
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(edge.admin).await.is_err(),
        "the admin listener stops with the edge"
    );
}

/// `[connections] drain_delay_ms`: from the shutdown signal `/healthz`
/// says `503` while the public listener still accepts and answers new
/// connections (a 60 s delay, far longer than the test), so that a load
/// balancer moves away before connections are refused; with a short delay
/// it then stops accepting.
#[tokio::test]
async fn with_a_drain_delay_new_connections_are_served_while_healthz_says_503_then_accepting_stops() {
    let origin = TestOrigin::start(clock(), |_: &Seen| {
        Reply::ok("fine").header("cache-control", "no-store")
    })
    .await;
    for (delay_ms, stops) in [(60_000, false), (200, true)] {
        let mut front_door = ListenerConfig::default();
        front_door.connections.drain_delay_ms = delay_ms;
        let mut edge = AdminEdge::start_with(origin.addr, front_door).await;
        assert_eq!(get(edge.url("/a")).await.status, 200);
        edge.stop.take().unwrap().send(()).unwrap();
        let draining = until_status(&edge.admin_url("/healthz"), 503).await;
        assert_eq!(draining.status, 503, "{}", draining.body);
        if !stops {
            // A new connection (reqwest's client is new per request) is still served.
            let served = get(edge.url("/b")).await;
            assert_eq!((served.status, served.body.as_str()), (200, "fine"));
            edge.serving.abort();
            continue;
        }
        tokio::time::timeout(Duration::from_secs(20), &mut edge.serving)
            .await
            .expect("the edge stops after the drain delay")
            .unwrap()
            .unwrap();
        assert!(
            tokio::net::TcpStream::connect(edge.public).await.is_err(),
            "the public listener stops after the drain delay"
        );
    }
}
