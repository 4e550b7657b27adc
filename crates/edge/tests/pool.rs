//! Origin pools over real sockets: round robin and least connections
//! over two origins, passive ejection and its cool-down, active health
//! checks, HTTPS to an origin verified by `origin_ca` (and refused with a
//! wrong one), HTTP/2 to an origin (h2c and h2 by ALPN), and failover
//! while one of two origins is killed under load.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use revalidate_edge::config::PoolConfig;
use revalidate_edge::pool::{Balance, EjectionSettings, HealthSettings, OriginProtocol, PoolSettings};
use revalidate_listener::testing::tls::{TestCa, TestCert};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::support::TestEdge;

/// What an origin of these tests saw of one request.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    host: String,
    version: Version,
    sni: Option<String>,
    method: http::Method,
}

/// How a test origin is served.
#[derive(Clone, Default)]
struct Serving {
    /// TLS with this certificate (ALPN `h2` when `h2`).
    tls: Option<TestCert>,
    /// HTTP/2 only (h2c without TLS).
    h2: bool,
    /// How long each ordinary answer takes.
    delay: Duration,
}

/// An origin that answers every path with its name (`no-store`, so every
/// request is a miss), `/healthz` with `200` or (while `failing_health`)
/// `503`, and paths under `/slow` once released (at most ten seconds
/// later). Killing it closes its listener and every connection.
struct Origin {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    failing_health: Arc<AtomicBool>,
    /// Ordinary requests received and not answered yet.
    in_flight: Arc<AtomicUsize>,
    release_slow: watch::Sender<bool>,
    kill: watch::Sender<bool>,
}

impl Origin {
    async fn start(name: &'static str, serving: Serving) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(listener, name, serving)
    }

    fn start_on(listener: TcpListener, name: &'static str, serving: Serving) -> Self {
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let failing_health = Arc::new(AtomicBool::new(false));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let (kill, killed) = watch::channel(false);
        let (release_slow, released) = watch::channel(false);
        let acceptor = serving.tls.as_ref().map(|cert| tls_acceptor(cert, serving.h2));
        let (record, failing, busy) = (
            Arc::clone(&seen),
            Arc::clone(&failing_health),
            Arc::clone(&in_flight),
        );
        let mut accept_killed = killed.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(_) => continue,
                    },
                    _ = accept_killed.wait_for(|k| *k) => return,
                };
                let (record, failing, busy) = (Arc::clone(&record), Arc::clone(&failing), Arc::clone(&busy));
                let (acceptor, h2, delay) = (acceptor.clone(), serving.h2, serving.delay);
                let released = released.clone();
                let mut connection_killed = killed.clone();
                tokio::spawn(async move {
                    let serve = async move {
                        match acceptor {
                            Some(acceptor) => {
                                let Ok(stream) = acceptor.accept(stream).await else {
                                    return;
                                };
                                let sni = stream.get_ref().1.server_name().map(str::to_owned);
                                let service = service(name, sni, record, failing, busy, delay, released);
                                serve_connection(TokioIo::new(stream), service, h2).await;
                            }
                            None => {
                                let service = service(name, None, record, failing, busy, delay, released);
                                serve_connection(TokioIo::new(stream), service, h2).await;
                            }
                        }
                    };
                    tokio::select! {
                        () = serve => {}
                        _ = connection_killed.wait_for(|k| *k) => {}
                    }
                });
            }
        });
        Self {
            addr,
            seen,
            failing_health,
            in_flight,
            release_slow,
            kill,
        }
    }

    /// Ordinary (not health-check) requests it received.
    fn requests(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path != "/healthz")
            .cloned()
            .collect()
    }

    fn count(&self) -> usize {
        self.requests().len()
    }

    fn health_checks(&self) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == "/healthz")
            .count()
    }

    /// Closes the listener and every connection.
    fn kill(&self) {
        let _ = self.kill.send(true);
    }

    fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr)
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.kill();
    }
}

fn service(
    name: &'static str,
    sni: Option<String>,
    record: Arc<Mutex<Vec<Seen>>>,
    failing: Arc<AtomicBool>,
    busy: Arc<AtomicUsize>,
    delay: Duration,
    released: watch::Receiver<bool>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send,
> + Clone {
    hyper::service::service_fn(move |request: Request<Incoming>| {
        let path = request.uri().path().to_owned();
        let seen = Seen {
            path: path.clone(),
            host: request
                .headers()
                .get("host")
                .map_or_else(String::new, |h| h.to_str().unwrap().to_owned()),
            version: request.version(),
            sni: sni.clone(),
            method: request.method().clone(),
        };
        record.lock().unwrap().push(seen);
        let (failing, busy, mut released) = (Arc::clone(&failing), Arc::clone(&busy), released.clone());
        async move {
            let body = request.into_body().collect().await.unwrap().to_bytes();
            if path == "/healthz" {
                let status = match failing.load(Ordering::SeqCst) {
                    true => StatusCode::SERVICE_UNAVAILABLE,
                    false => StatusCode::OK,
                };
                let mut response = Response::new(Full::new(Bytes::new()));
                *response.status_mut() = status;
                return Ok(response);
            }
            busy.fetch_add(1, Ordering::SeqCst);
            if path.starts_with("/slow") {
                let _ = tokio::time::timeout(Duration::from_secs(10), released.wait_for(|r| *r)).await;
            } else {
                tokio::time::sleep(delay).await;
            }
            busy.fetch_sub(1, Ordering::SeqCst);
            let answer = match body.is_empty() {
                true => Bytes::from_static(name.as_bytes()),
                false => Bytes::from(format!("{name} got {}", String::from_utf8_lossy(&body))),
            };
            let mut response = Response::new(Full::new(answer));
            response
                .headers_mut()
                .insert("cache-control", http::HeaderValue::from_static("no-store"));
            Ok(response)
        }
    })
}

async fn serve_connection<S, Io>(io: Io, service: S, h2: bool)
where
    S: hyper::service::HttpService<Incoming, ResBody = Full<Bytes>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    Io: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    if h2 {
        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(io, service)
            .await;
    } else {
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(io, service)
            .await;
    }
}

fn tls_acceptor(cert: &TestCert, h2: bool) -> tokio_rustls::TlsAcceptor {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    config.alpn_protocols = match h2 {
        true => vec![b"h2".to_vec()],
        false => vec![b"http/1.1".to_vec()],
    };
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

fn pool_of(urls: &[String]) -> PoolSettings {
    PoolSettings::of(urls.iter().map(|u| u.parse().unwrap()).collect())
}

/// An edge (system clock) in front of `pool`.
async fn edge(pool: PoolSettings) -> TestEdge {
    let unused: SocketAddr = "127.0.0.1:9".parse().unwrap();
    TestEdge::start_on(unused, None, move |settings| {
        settings.pool = pool;
        settings.connect_timeout = Duration::from_secs(2);
    })
    .await
}

/// The value of the series `name` whose labels include every one of
/// `labels` (`key="value"`).
fn metric(edge: &TestEdge, name: &str, labels: &[&str]) -> f64 {
    let text = edge.edge.render_metrics();
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .find(|line| labels.iter().all(|label| line.contains(label)))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

fn origin_label(origin: &Origin) -> String {
    format!("origin=\"{}\"", origin.addr)
}

/// Waits until `condition` holds, for at most ten seconds.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn round_robin_spreads_over_two_origins_with_each_ones_host() {
    let (a, b) = (
        Origin::start("a", Serving::default()).await,
        Origin::start("b", Serving::default()).await,
    );
    let edge = edge(pool_of(&[a.url("http"), b.url("http")])).await;
    let mut bodies = Vec::new();
    for i in 0..10 {
        let answer = edge
            .get(&format!("/page-{i}"), &[("host", "attacker.example")])
            .await;
        assert_eq!(answer.status, 200);
        bodies.push(answer.body);
    }
    assert_eq!((a.count(), b.count()), (5, 5), "{bodies:?}");
    for pair in bodies.chunks(2) {
        assert_ne!(pair[0], pair[1], "in turn: {bodies:?}");
    }
    for (origin, seen) in [(&a, a.requests()), (&b, b.requests())] {
        assert!(
            seen.iter().all(|s| s.host == origin.addr.to_string()),
            "each origin sees its own authority as Host, never the client's: {seen:?}"
        );
    }
    let duration = metric(
        &edge,
        "revalidate_edge_origin_duration_seconds_count",
        &[&origin_label(&b), "status_class=\"2xx\""],
    );
    assert_eq!(duration, 5.0, "the origin label is the member's authority");
}

#[tokio::test]
async fn least_connections_prefers_the_idle_origin() {
    let (a, b) = (
        Origin::start("a", Serving::default()).await,
        Origin::start("b", Serving::default()).await,
    );
    let mut pool = pool_of(&[a.url("http"), b.url("http")]);
    pool.balance = Balance::LeastConnections;
    let edge = Arc::new(edge(pool).await);
    let slow = tokio::spawn({
        let edge = Arc::clone(&edge);
        async move { edge.get("/slow", &[]).await.status }
    });
    eventually("one origin holds the slow request", || a.count() + b.count() == 1).await;
    let (busy, idle) = if a.count() == 1 { (&a, &b) } else { (&b, &a) };
    for i in 0..6 {
        assert_eq!(edge.get(&format!("/fast-{i}"), &[]).await.status, 200);
    }
    assert_eq!(busy.count(), 1, "nothing more while it is busy");
    assert_eq!(idle.count(), 6);
    let _ = a.release_slow.send(true);
    let _ = b.release_slow.send(true);
    assert_eq!(slow.await.unwrap(), 200);
    // Both idle again: spread once more.
    for i in 0..4 {
        edge.get(&format!("/again-{i}"), &[]).await;
    }
    assert!(busy.count() > 1, "the busy origin gets requests again once idle");
}

#[tokio::test]
async fn connect_failures_eject_a_member_until_the_cool_down_ends() {
    let a = Origin::start("a", Serving::default()).await;
    // A port nobody listens on (for now).
    let parked = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b_addr = parked.local_addr().unwrap();
    drop(parked);
    let mut pool = pool_of(&[a.url("http"), format!("http://{b_addr}")]);
    pool.ejection = EjectionSettings {
        consecutive_failures: 2,
        cool_down: Duration::from_millis(500),
    };
    let edge = edge(pool).await;
    let b_label = format!("origin=\"{b_addr}\"");
    // Every request is answered: those sent to the dead member fail over.
    let mut i = 0;
    while metric(&edge, "revalidate_edge_origin_ejections_total", &[&b_label]) < 1.0 {
        assert!(i < 20, "ejected after two connect failures");
        assert_eq!(edge.get(&format!("/p-{i}"), &[]).await.status, 200);
        i += 1;
    }
    let connect = &[b_label.as_str(), "kind=\"connect\""];
    assert_eq!(metric(&edge, "revalidate_edge_origin_errors_total", connect), 2.0);
    assert_eq!(metric(&edge, "revalidate_edge_origin_up", &[&b_label]), 0.0);
    // While ejected, nothing is sent to it (no more connect errors); this
    // runs well within the cool-down on any machine or the check below
    // says so.
    let started = Instant::now();
    for j in 0..6 {
        assert_eq!(edge.get(&format!("/q-{j}"), &[]).await.status, 200);
    }
    if started.elapsed() < Duration::from_millis(500) {
        assert_eq!(metric(&edge, "revalidate_edge_origin_errors_total", connect), 2.0);
    }
    // After the cool-down it is up again and, listening now, gets requests.
    eventually("the cool-down ends", || {
        metric(&edge, "revalidate_edge_origin_up", &[&b_label]) == 1.0
    })
    .await;
    let b = Origin::start_on(TcpListener::bind(b_addr).await.unwrap(), "b", Serving::default());
    for j in 0..4 {
        assert_eq!(edge.get(&format!("/r-{j}"), &[]).await.status, 200);
    }
    assert!(b.count() >= 1, "back in the turn after the cool-down");
}

#[tokio::test]
async fn health_checks_mark_a_member_down_and_up_again() {
    let (a, b) = (
        Origin::start("a", Serving::default()).await,
        Origin::start("b", Serving::default()).await,
    );
    let mut pool = pool_of(&[a.url("http"), b.url("http")]);
    pool.health = Some(HealthSettings {
        path: "/healthz".parse().unwrap(),
        interval: Duration::from_millis(20),
        timeout: Duration::from_secs(1),
        healthy_threshold: 2,
        unhealthy_threshold: 2,
    });
    let edge = edge(pool).await;
    let b_label = origin_label(&b);
    eventually("the checks run", || b.health_checks() >= 2).await;
    b.failing_health.store(true, Ordering::SeqCst);
    eventually("b is marked down", || {
        metric(&edge, "revalidate_edge_origin_up", &[&b_label]) == 0.0
    })
    .await;
    let before = b.count();
    for i in 0..6 {
        assert_eq!(edge.get(&format!("/p-{i}"), &[]).await.body, "a");
    }
    assert_eq!(b.count(), before, "a member marked down gets no requests");
    b.failing_health.store(false, Ordering::SeqCst);
    eventually("b is marked up", || {
        metric(&edge, "revalidate_edge_origin_up", &[&b_label]) == 1.0
    })
    .await;
    for i in 0..4 {
        edge.get(&format!("/q-{i}"), &[]).await;
    }
    assert!(b.count() > before, "back in the turn");
    assert_eq!(
        metric(&edge, "revalidate_edge_origin_ejections_total", &[&b_label]),
        0.0,
        "health checks do not eject"
    );
}

/// A PEM file holding `ca`'s certificate, and the pool settings of one
/// `https://localhost:PORT` member verified by it (through the file
/// form, as `revalidate edge` reads it).
fn https_pool(dir: &std::path::Path, origin: &Origin, ca: &TestCa, protocol: &str) -> PoolSettings {
    let path = dir.join("origin-ca.pem");
    std::fs::write(&path, ca.pem()).unwrap();
    let text = format!(
        "origin = \"https://localhost:{}\"\norigin_ca = {:?}\norigin_protocol = \"{protocol}\"",
        origin.addr.port(),
        path.display().to_string()
    );
    toml::from_str::<PoolConfig>(&text).unwrap().settings().unwrap()
}

#[tokio::test]
async fn an_https_origin_is_verified_by_origin_ca_with_its_host_as_sni() {
    let ca = TestCa::new();
    let serving = Serving {
        tls: Some(ca.issue(&["localhost"])),
        ..Serving::default()
    };
    let origin = Origin::start("secure", serving).await;
    let dir = tempfile::tempdir().unwrap();
    let edge = edge(https_pool(dir.path(), &origin, &ca, "http1")).await;
    let answer = edge.get("/doc", &[]).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "secure"));
    let seen = origin.requests();
    assert_eq!(seen[0].sni.as_deref(), Some("localhost"));
    assert_eq!(seen[0].host, format!("localhost:{}", origin.addr.port()));
    assert_eq!(seen[0].version, Version::HTTP_11);

    // Another authority's certificate: the handshake fails, 502.
    let stranger = TestCa::new();
    let other_dir = tempfile::tempdir().unwrap();
    let refused = edge_with_ca(other_dir.path(), &origin, &stranger).await;
    let answer = refused.get("/doc", &[]).await;
    assert_eq!(answer.status, 502, "{answer:?}");
    assert!(answer.cache_status().contains("origin-unreachable"), "{answer:?}");
    assert_eq!(origin.requests().len(), 1, "nothing reached the origin");
}

async fn edge_with_ca(dir: &std::path::Path, origin: &Origin, ca: &TestCa) -> TestEdge {
    edge(https_pool(dir, origin, ca, "http1")).await
}

#[tokio::test]
async fn http2_to_the_origin_with_prior_knowledge_and_by_alpn() {
    // h2c: HTTP/2 over cleartext, prior knowledge.
    let cleartext = Origin::start(
        "h2c",
        Serving {
            h2: true,
            ..Serving::default()
        },
    )
    .await;
    let mut pool = pool_of(&[cleartext.url("http")]);
    pool.protocol = OriginProtocol::Http2;
    let edge = edge(pool).await;
    for i in 0..3 {
        let answer = edge.get(&format!("/h2c-{i}"), &[]).await;
        assert_eq!((answer.status, answer.body.as_str()), (200, "h2c"));
    }
    let seen = cleartext.requests();
    assert!(seen.iter().all(|s| s.version == Version::HTTP_2), "{seen:?}");
    assert_eq!(seen[0].host, cleartext.addr.to_string());

    // h2 over TLS, chosen by ALPN.
    let ca = TestCa::new();
    let secure = Origin::start(
        "h2",
        Serving {
            tls: Some(ca.issue(&["localhost"])),
            h2: true,
            ..Serving::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let edge = self::edge(https_pool(dir.path(), &secure, &ca, "http2")).await;
    let answer = edge.get("/over-tls", &[]).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "h2"));
    assert_eq!(secure.requests()[0].version, Version::HTTP_2);
}

/// The issue's goal: with one of two origins killed while clients keep
/// asking, clients see no `5xx` beyond the requests in flight to it at
/// the moment of the kill (and, as fills fail over when no head came,
/// not even those).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_of_two_origins_under_load_gives_clients_no_5xx() {
    let serving = Serving {
        delay: Duration::from_millis(2),
        ..Serving::default()
    };
    let (a, b) = (
        Origin::start("a", serving.clone()).await,
        Origin::start("b", serving).await,
    );
    let edge = Arc::new(edge(pool_of(&[a.url("http"), b.url("http")])).await);
    let sent = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for worker in 0..4 {
        let (edge, sent, stop) = (Arc::clone(&edge), Arc::clone(&sent), Arc::clone(&stop));
        clients.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let answer = edge.get(&format!("/w{worker}-{i}"), &[]).await;
                statuses.push(answer.status);
                sent.fetch_add(1, Ordering::SeqCst);
                i += 1;
            }
            statuses
        }));
    }
    eventually("both origins serve", || a.count() >= 20 && b.count() >= 20).await;
    let in_flight_at_kill = b.in_flight.load(Ordering::SeqCst);
    b.kill();
    let at_kill = sent.load(Ordering::SeqCst);
    eventually("clients go on after the kill", || {
        sent.load(Ordering::SeqCst) >= at_kill + 200
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    let mut server_errors = 0;
    let mut total = 0;
    for client in clients {
        let statuses = client.await.unwrap();
        total += statuses.len();
        server_errors += statuses.iter().filter(|s| **s >= 500).count();
    }
    assert!(
        server_errors <= in_flight_at_kill,
        "{server_errors} 5xx of {total} with {in_flight_at_kill} in flight to the killed origin"
    );
    assert_eq!(server_errors, 0, "fills fail over when no head came");
    let b_label = origin_label(&b);
    assert!(
        metric(&edge, "revalidate_edge_origin_ejections_total", &[&b_label]) >= 1.0,
        "the killed origin was ejected"
    );
}

#[tokio::test]
async fn an_upload_goes_to_the_next_origin_when_the_connection_never_came_up() {
    let live = Origin::start("live", Serving::default()).await;
    let parked = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = parked.local_addr().unwrap();
    drop(parked);
    // Round robin starts at the first member: the dead one.
    let edge = edge(pool_of(&[format!("http://{dead}"), live.url("http")])).await;
    let answer = edge.send(http::Method::POST, "/form", &[], "hello").await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "live got hello"));
    let seen = live.requests();
    assert_eq!((seen.len(), &seen[0].method), (1, &http::Method::POST));
    let connect = &[format!("origin=\"{dead}\""), "kind=\"connect\"".to_owned()];
    let labels: Vec<&str> = connect.iter().map(String::as_str).collect();
    assert_eq!(metric(&edge, "revalidate_edge_origin_errors_total", &labels), 1.0);
}

#[tokio::test]
async fn an_upload_is_not_sent_again_once_the_origin_may_have_seen_it() {
    // The only member answers nothing: the request went out, so it is not
    // repeated elsewhere; the client gets 504 once.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let live = Origin::start("live", Serving::default()).await;
    let unused: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let pool = pool_of(&[format!("http://{silent_addr}"), live.url("http")]);
    let edge = TestEdge::start_on(unused, None, move |settings| {
        settings.pool = pool;
        settings.response_timeout = Duration::from_millis(300);
    })
    .await;
    let answer = edge.send(http::Method::POST, "/form", &[], "hello").await;
    assert_eq!(answer.status, 504, "{answer:?}");
    assert_eq!(live.count(), 0, "a write that may have been seen is not repeated");
    // GET fills, however, go on to the next member after the timeout: of
    // two, one is sent to the silent member first (round robin).
    for path in ["/page-1", "/page-2"] {
        let answer = edge.get(path, &[]).await;
        assert_eq!((answer.status, answer.body.as_str()), (200, "live"));
    }
    let timeouts = [format!("origin=\"{silent_addr}\""), "kind=\"timeout\"".to_owned()];
    let labels: Vec<&str> = timeouts.iter().map(String::as_str).collect();
    assert_eq!(metric(&edge, "revalidate_edge_origin_errors_total", &labels), 2.0);
    drop(silent);
}
