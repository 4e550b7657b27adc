//! Durable edge purges over real sockets: origins on SQLite and
//! PostgreSQL with `[edge_purge]`, and a fake edge (a real HTTP server on
//! its own runtime, so that stopping it closes its sockets as a dead
//! process would) that records every purge request it receives.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use revalidate_core::purge::{PURGE_PATH, PurgeRequest};
use revalidate_origin::config::{EdgePurgeConfig, OriginConfig};
use revalidate_origin::server::Origin;
use tokio::net::TcpListener;

use crate::racing_writers::pg_url;

const TOKEN: &str = "edge-purge-test-token";

/// What the fake edge saw: each purge request, when it arrived.
#[derive(Default)]
struct Seen {
    purges: Vec<(Instant, PurgeRequest)>,
    in_flight: u32,
    most_in_flight: u32,
}

/// A purge API on its own thread and runtime.
struct FakeEdge {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    stop: Option<(tokio::sync::oneshot::Sender<()>, std::thread::JoinHandle<()>)>,
}

impl FakeEdge {
    /// Starts on `addr` (`127.0.0.1:0` for any port); each request takes
    /// `delay`, so that overlapping deliveries would show.
    fn start(addr: SocketAddr, delay: Duration, seen: Arc<Mutex<Seen>>) -> Self {
        let (bound_tx, bound_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let state = Arc::clone(&seen);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = bind_retrying(addr).await;
                bound_tx.send(listener.local_addr().unwrap()).unwrap();
                let app = Router::new()
                    .route(PURGE_PATH, post(purge))
                    .with_state((state, delay));
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = stop_rx => {}
                }
            });
            // Dropping the runtime ends every connection task: the sockets close.
        });
        Self {
            addr: bound_rx.recv_timeout(Duration::from_secs(10)).unwrap(),
            seen,
            stop: Some((stop_tx, thread)),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn stop(&mut self) {
        if let Some((stop, thread)) = self.stop.take() {
            let _ = stop.send(());
            thread.join().unwrap();
        }
    }

    /// Every URL purged, in the order received.
    fn urls(&self) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        seen.purges.iter().flat_map(|(_, p)| p.urls.clone()).collect()
    }

    /// When `url` was first purged at or after `since`.
    fn purged_after(&self, url: &str, since: Instant) -> Option<Instant> {
        let seen = self.seen.lock().unwrap();
        seen.purges
            .iter()
            .find(|(at, p)| *at >= since && p.urls.iter().any(|u| u == url))
            .map(|(at, _)| *at)
    }
}

impl Drop for FakeEdge {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The port of a stopped edge may take a moment to be free again.
async fn bind_retrying(addr: SocketAddr) -> TcpListener {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpListener::bind(addr).await {
            Ok(listener) => return listener,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("cannot bind {addr}: {e}"),
        }
    }
}

async fn purge(
    State((seen, delay)): State<(Arc<Mutex<Seen>>, Duration)>,
    headers: http::HeaderMap,
    body: axum::body::Bytes,
) -> http::StatusCode {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {TOKEN}")) {
        return http::StatusCode::UNAUTHORIZED;
    }
    let Ok(request) = PurgeRequest::from_json(&body) else {
        return http::StatusCode::BAD_REQUEST;
    };
    {
        let mut seen = seen.lock().unwrap();
        seen.in_flight += 1;
        seen.most_in_flight = seen.most_in_flight.max(seen.in_flight);
        seen.purges.push((Instant::now(), request));
    }
    tokio::time::sleep(delay).await;
    seen.lock().unwrap().in_flight -= 1;
    http::StatusCode::OK
}

fn edge_purge(edges: Vec<String>) -> EdgePurgeConfig {
    EdgePurgeConfig {
        edges,
        token: TOKEN.into(),
        timeout_ms: 1_000,
        cdn_max_age: Some(3600),
    }
}

/// An origin node serving on a real socket; dropping the directories
/// ends it with the test.
struct Node {
    addr: SocketAddr,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    root: std::path::PathBuf,
}

async fn start_node(database: Option<String>, edges: Option<Vec<String>>) -> Node {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("docs")).unwrap();
    std::fs::write(root.path().join("docs/index.html"), "v1").unwrap();
    let config = OriginConfig {
        root: root.path().into(),
        data: data.path().into(),
        database,
        edge_purge: edges.map(edge_purge),
        ..OriginConfig::default()
    };
    let origin = Origin::open(&config).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(origin.serve(listener, None, std::future::pending()));
    Node {
        addr,
        root: root.path().canonicalize().unwrap(),
        _dirs: (root, data),
    }
}

/// A `PUT` of `/api/notes/{id}`; when it was sent and when it returned.
async fn put(client: &reqwest::Client, node: SocketAddr, id: &str, text: &str) -> (Instant, Instant) {
    let sent = Instant::now();
    let response = client
        .put(format!("http://{node}/api/notes/{id}"))
        .header("content-type", "application/json")
        .body(format!(r#"{{"text": "{text}"}}"#))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    (sent, Instant::now())
}

/// Waits until `check` holds, up to `limit`.
async fn within(limit: Duration, what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn metric(node: SocketAddr, name: &str) -> Option<f64> {
    let text = reqwest::get(format!("http://{node}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Waits (up to 10 s) until the metric `name` reads `value`.
async fn metric_becomes(node: SocketAddr, name: &str, value: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = metric(node, name).await;
        if now == Some(value) {
            return;
        }
        assert!(Instant::now() < deadline, "{name} is {now:?}, not {value}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("shared.db").display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_is_purged_at_the_edge_within_the_deadline_on_sqlite() {
    let edge = FakeEdge::start("127.0.0.1:0".parse().unwrap(), Duration::ZERO, Arc::default());
    let node = start_node(None, Some(vec![edge.url()])).await;
    let client = reqwest::Client::new();
    let (_, returned) = put(&client, node.addr, "a", "v1").await;
    within(Duration::from_secs(1), "the edge got the purge", || {
        edge.purged_after("/api/notes/a", returned - Duration::from_secs(1))
            .is_some()
    })
    .await;
    metric_becomes(node.addr, "revalidate_edge_purges_sent_total{result=\"ok\"}", 1.0).await;
    let backlog = format!("revalidate_edge_purge_backlog{{edge=\"{}\"}}", edge.url());
    metric_becomes(node.addr, &backlog, 0.0).await;
    assert!(
        metric(node.addr, "revalidate_edge_purge_lag_seconds_count")
            .await
            .is_some_and(|n| n >= 1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_that_was_down_gets_the_purges_it_missed_in_order() {
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let mut edge = FakeEdge::start("127.0.0.1:0".parse().unwrap(), Duration::ZERO, Arc::clone(&seen));
    let node = start_node(None, Some(vec![edge.url()])).await;
    let addr = edge.addr;
    edge.stop();
    let client = reqwest::Client::new();
    let written = ["a", "b", "a", "c", "d", "b"];
    for (n, id) in written.iter().enumerate() {
        put(&client, node.addr, id, &format!("v{n}")).await;
    }
    // The attempts fail (connection refused) and are kept.
    let backlog = format!("revalidate_edge_purge_backlog{{edge=\"http://{addr}\"}}");
    metric_becomes(node.addr, &backlog, 6.0).await;
    assert!(
        metric(node.addr, "revalidate_edge_purges_sent_total{result=\"failed\"}")
            .await
            .unwrap_or(0.0)
            >= 1.0
    );
    assert!(seen.lock().unwrap().purges.is_empty());

    let back = FakeEdge::start(addr, Duration::ZERO, Arc::clone(&seen));
    // The longest pause between attempts is 5 s.
    within(Duration::from_secs(10), "the missed purges arrived", || {
        back.urls().len() >= 4
    })
    .await;
    assert_eq!(
        back.urls(),
        ["/api/notes/a", "/api/notes/b", "/api/notes/c", "/api/notes/d"],
        "every URL once, in the order first written"
    );
    metric_becomes(node.addr, &backlog, 0.0).await;
    metric_becomes(node.addr, "revalidate_edge_purges_sent_total{result=\"ok\"}", 6.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_file_changed_on_disk_is_purged_at_the_edge() {
    let edge = FakeEdge::start("127.0.0.1:0".parse().unwrap(), Duration::ZERO, Arc::default());
    let node = start_node(None, Some(vec![edge.url()])).await;
    let changed = Instant::now();
    std::fs::write(node.root.join("docs/index.html"), "v2").unwrap();
    std::fs::write(node.root.join("docs/new file.css"), "a {}").unwrap();
    within(
        Duration::from_secs(5),
        "the changed files' URLs were purged",
        || {
            ["/docs/index.html", "/docs/", "/docs/new%20file.css"]
                .iter()
                .all(|url| edge.purged_after(url, changed).is_some())
        },
    )
    .await;
    std::fs::remove_file(node.root.join("docs/new file.css")).unwrap();
    let removed = Instant::now();
    within(
        Duration::from_secs(5),
        "the removed file's URL was purged",
        || edge.purged_after("/docs/new%20file.css", removed).is_some(),
    )
    .await;
}

/// Two nodes on one SQLite file, both delivering; writes through both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_sqlite_file_lose_no_purge() {
    let edge = FakeEdge::start(
        "127.0.0.1:0".parse().unwrap(),
        Duration::from_millis(5),
        Arc::default(),
    );
    let shared = tempfile::tempdir().unwrap();
    let a = start_node(Some(sqlite_url(&shared)), Some(vec![edge.url()])).await;
    let b = start_node(Some(sqlite_url(&shared)), Some(vec![edge.url()])).await;
    concurrent_writes_are_all_purged(&edge, [a.addr, b.addr]).await;
}

/// Writes through both nodes, to a few URLs; every write's URL must be
/// purged at the edge after the write was sent, within a second of its
/// return, and the edge never sees two deliveries at once.
async fn concurrent_writes_are_all_purged(edge: &FakeEdge, nodes: [SocketAddr; 2]) {
    let client = reqwest::Client::new();
    let writers = (0..2).map(|w| {
        let client = client.clone();
        tokio::spawn(async move {
            let mut writes = Vec::new();
            for n in 0..20 {
                let id = format!("r{}", (n + w) % 4);
                let (sent, returned) = put(&client, nodes[(n + w) % 2], &id, &format!("{w}-{n}")).await;
                writes.push((format!("/api/notes/{id}"), sent, returned));
            }
            writes
        })
    });
    let mut writes = Vec::new();
    for writer in writers.collect::<Vec<_>>() {
        writes.extend(writer.await.unwrap());
    }
    for (url, sent, returned) in &writes {
        let deadline = *returned + Duration::from_secs(1);
        within(
            deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(1),
            &format!("{url} purged after its write"),
            || edge.purged_after(url, *sent).is_some_and(|at| at <= deadline),
        )
        .await;
    }
    assert_eq!(
        edge.seen.lock().unwrap().most_in_flight,
        1,
        "one delivery at a time per edge, so purges stay in order"
    );
}

// ----- PostgreSQL --------------------------------------------------------------

/// A fresh schema, and the URL whose connections use it.
async fn pg_schema(url: &str) -> (String, String) {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let schema = format!(
        "rv_purge_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let store = revalidate_store::PostgresStore::open_in_schema(url, &schema)
        .await
        .unwrap();
    store.close().await;
    let separator = if url.contains('?') { '&' } else { '?' };
    (
        format!("{url}{separator}options=-csearch_path%3D{schema}"),
        schema,
    )
}

async fn drop_schema(url: &str, schema: &str) {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
    )))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
}

/// Node A takes a write and is gone right after its commit, before it
/// delivered anything (its runtime is dropped: sockets and database
/// connections closed, as when the process is killed; it never had a
/// deliverer running). Node B, idle on the same database, is woken by the
/// commit's notification and delivers within a second of the write's
/// return.
#[test]
fn a_node_gone_after_its_commit_loses_no_purge_on_postgres() {
    let Some(url) = pg_url("a_node_gone_after_its_commit_loses_no_purge_on_postgres") else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (database, schema) = runtime.block_on(pg_schema(&url));
    let edge = FakeEdge::start("127.0.0.1:0".parse().unwrap(), Duration::ZERO, Arc::default());
    // B delivers; it registers the edge.
    let node_b = runtime.block_on(start_node(Some(database.clone()), Some(vec![edge.url()])));

    for round in 0..5 {
        // A: the API on its own runtime, writing through a store whose
        // writes record purges, with no deliverer.
        let node_a_runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let node_a = node_a_runtime.block_on(async {
            let store = revalidate_store::open(&database)
                .await
                .unwrap()
                .with_purge_outbox("/api/")
                .unwrap();
            let settings = revalidate_origin::api::ApiSettings {
                prefix: "/api/".into(),
                body_limit: 4096,
                require_preconditions: Vec::new(),
                body_read_timeout: Duration::from_secs(5),
                clock: revalidate_origin::clock::system_clock(),
            };
            let metrics = revalidate_origin::metrics::Metrics::new();
            let app = revalidate_origin::server::app(
                revalidate_origin::api::router(store, settings),
                "/api/",
                None,
                &metrics,
                true,
            );
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(revalidate_origin::server::serve(
                listener,
                app,
                None,
                std::future::pending(),
            ));
            addr
        });
        let (_, returned) = runtime
            .block_on(async { put(&reqwest::Client::new(), node_a, "killed", &format!("v{round}")).await });
        // Node A is gone, right after the commit.
        node_a_runtime.shutdown_background();
        let deadline = returned + Duration::from_secs(1);
        runtime.block_on(within(
            Duration::from_secs(1),
            "node B delivered node A's purge",
            || {
                edge.purged_after("/api/notes/killed", returned - Duration::from_millis(500))
                    .is_some()
            },
        ));
        let at = edge
            .purged_after("/api/notes/killed", returned - Duration::from_millis(500))
            .unwrap();
        assert!(at <= deadline, "round {round}: delivered too late");
        println!(
            "node A gone after its commit, round {round}: node B delivered {:?} after the write returned",
            at.saturating_duration_since(returned)
        );
        let _ = &node_b;
    }
    runtime.block_on(drop_schema(&url, &schema));
}

/// Two delivering nodes on one PostgreSQL database: every write's purge
/// arrives, one delivery at a time per edge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_delivering_nodes_on_postgres_lose_and_reorder_nothing() {
    let Some(url) = pg_url("two_delivering_nodes_on_postgres_lose_and_reorder_nothing") else {
        return;
    };
    let (database, schema) = pg_schema(&url).await;
    let edge = FakeEdge::start(
        "127.0.0.1:0".parse().unwrap(),
        Duration::from_millis(5),
        Arc::default(),
    );
    let a = start_node(Some(database.clone()), Some(vec![edge.url()])).await;
    let b = start_node(Some(database), Some(vec![edge.url()])).await;
    concurrent_writes_are_all_purged(&edge, [a.addr, b.addr]).await;
    drop_schema(&url, &schema).await;
}

/// The purge lag with every process up: from a write's return to the
/// edge's receipt, over `REVALIDATE_PURGE_LAG_WRITES` writes (default 50),
/// on SQLite and (when configured) PostgreSQL; printed, and its p99 must
/// stay within the 1 s deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_lag_with_every_process_up() {
    let writes: usize = std::env::var("REVALIDATE_PURGE_LAG_WRITES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(50);
    let mut backends = vec![("sqlite", None, None)];
    if let Some(url) = pg_url("purge_lag_with_every_process_up") {
        let (database, schema) = pg_schema(&url).await;
        backends.push(("postgres", Some(database), Some((url, schema))));
    }
    for (backend, database, cleanup) in backends {
        let edge = FakeEdge::start("127.0.0.1:0".parse().unwrap(), Duration::ZERO, Arc::default());
        let node = start_node(database, Some(vec![edge.url()])).await;
        let client = reqwest::Client::new();
        let mut lags = Vec::with_capacity(writes);
        for n in 0..writes {
            let url = format!("/api/notes/lag{n}");
            let (sent, returned) = put(&client, node.addr, &format!("lag{n}"), "x").await;
            within(Duration::from_secs(5), "the purge arrived", || {
                edge.purged_after(&url, sent).is_some()
            })
            .await;
            let at = edge.purged_after(&url, sent).unwrap();
            lags.push(at.saturating_duration_since(returned));
        }
        lags.sort();
        let p = |q: f64| lags[((lags.len() as f64 * q).ceil() as usize).clamp(1, lags.len()) - 1];
        println!(
            "purge lag ({backend}, {writes} writes): p50 {:?}, p99 {:?}, max {:?}",
            p(0.5),
            p(0.99),
            lags[lags.len() - 1]
        );
        assert!(p(0.99) < Duration::from_secs(1), "{backend}: p99 {:?}", p(0.99));
        if let Some((url, schema)) = cleanup {
            drop_schema(&url, &schema).await;
        }
    }
}

/// A reload's new edges: the deliverer keeps running, the edge taken out
/// gets nothing more, the new one gets the writes from then on; listed
/// again, the first one is purged of everything first (it missed purges).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_edge_set_takes_effect_and_an_edge_listed_again_is_purged_of_everything() {
    use revalidate_store::{Change, JsonText, ResourceKey, Store};
    let first = FakeEdge::start("127.0.0.1:0".parse().unwrap(), Duration::ZERO, Arc::default());
    let second = FakeEdge::start("127.0.0.1:0".parse().unwrap(), Duration::ZERO, Arc::default());
    let dir = tempfile::tempdir().unwrap();
    let store = revalidate_store::open(&sqlite_url(&dir)).await.unwrap();
    let metrics = revalidate_origin::metrics::Metrics::new();
    let purger = revalidate_origin::edge_purge::EdgePurger::start(
        &edge_purge(vec![first.url()]),
        "/api/",
        &metrics,
        &store,
    )
    .await
    .unwrap();
    let write = |purger: &revalidate_origin::edge_purge::EdgePurger, id: &'static str| {
        let store = purger.writing_store();
        let purger = purger.clone();
        async move {
            store
                .write(
                    &ResourceKey::new("notes", id).unwrap(),
                    std::time::SystemTime::now(),
                    |_| Ok::<_, ()>(Change::Put(JsonText::parse(b"{}").unwrap())),
                )
                .await
                .unwrap();
            purger.wake();
        }
    };
    write(&purger, "one").await;
    within(
        Duration::from_secs(1),
        "the first edge got /api/notes/one",
        || first.urls() == ["/api/notes/one"],
    )
    .await;

    let purger = purger
        .replace(&edge_purge(vec![second.url()]), "/v2/")
        .await
        .unwrap();
    write(&purger, "two").await;
    within(
        Duration::from_secs(1),
        "the second edge got /v2/notes/two",
        || second.urls() == ["/v2/notes/two"],
    )
    .await;

    let purger = purger
        .replace(&edge_purge(vec![first.url(), second.url()]), "/v2/")
        .await
        .unwrap();
    write(&purger, "three").await;
    within(Duration::from_secs(5), "both edges got /v2/notes/three", || {
        first.urls().contains(&"/v2/notes/three".to_owned())
            && second.urls().contains(&"/v2/notes/three".to_owned())
    })
    .await;
    assert!(
        !first.urls().contains(&"/v2/notes/two".to_owned()),
        "taken out, it got nothing"
    );
    let seen = first.seen.lock().unwrap();
    assert!(
        seen.purges[1..].iter().any(|(_, p)| p.prefixes == ["/"]),
        "listed again after missing /v2/notes/two: everything is purged"
    );
}
