//! A scriptable origin and an edge in front of it, both on 127.0.0.1:0;
//! and a real `revalidate serve` origin ([`Site`]).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use revalidate_edge::clock::{Clock, ManualClock};
use revalidate_edge::config::EdgeConfig;
use revalidate_edge::entry::DecodedEntry;
use revalidate_edge::storage::{AnyStorage, MemoryConfig, MemoryStorage};
use revalidate_edge::{Edge, EdgeSettings, Sites};
use revalidate_origin::config::{CacheControlRule, OriginConfig};
use revalidate_origin::server::Origin;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// What the test origin answers.
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    pub(crate) delay: Duration,
}

impl Reply {
    pub(crate) fn ok(body: &str) -> Self {
        Self {
            status: 200,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
            delay: Duration::ZERO,
        }
    }

    pub(crate) fn status(status: u16) -> Self {
        Self {
            status,
            ..Self::ok("")
        }
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub(crate) fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// A request the test origin received.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    /// 1 for the first request to this path, and so on.
    pub(crate) number: usize,
}

impl Seen {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

/// An origin whose answers a closure scripts; it records every request and
/// dates every response by the shared test clock.
pub(crate) struct TestOrigin {
    pub(crate) addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl TestOrigin {
    pub(crate) async fn start(
        clock: Arc<ManualClock>,
        handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let handler: Handler = Arc::new(handler);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let record = Arc::clone(&seen);
        let mut accept_stopped = stopped.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    accepted = listener.accept() => accepted.unwrap(),
                    _ = accept_stopped.wait_for(|s| *s) => return,
                };
                let mut connection_stopped = stopped.clone();
                let (record, handler, clock) =
                    (Arc::clone(&record), Arc::clone(&handler), Arc::clone(&clock));
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let (record, handler, clock) =
                        (Arc::clone(&record), Arc::clone(&handler), Arc::clone(&clock));
                    async move {
                        let path = request.uri().path_and_query().unwrap().as_str().to_owned();
                        let seen = {
                            let mut record = record.lock().unwrap();
                            let number = record.iter().filter(|s| s.path == path).count() + 1;
                            let seen = Seen {
                                method: request.method().clone(),
                                path,
                                headers: request.headers().clone(),
                                number,
                            };
                            record.push(seen.clone());
                            seen
                        };
                        let _ = request.into_body().collect().await;
                        let reply = handler(&seen);
                        tokio::time::sleep(reply.delay).await;
                        let mut response = Response::new(Full::new(Bytes::from(reply.body)));
                        *response.status_mut() = StatusCode::from_u16(reply.status).unwrap();
                        let date = clock.now();
                        response.headers_mut().insert("date", date.to_header_value());
                        for (name, value) in reply.headers {
                            let name = http::HeaderName::from_bytes(name.as_bytes()).unwrap();
                            if name == "date" {
                                response.headers_mut().remove("date");
                            }
                            response
                                .headers_mut()
                                .append(name, HeaderValue::from_str(&value).unwrap());
                        }
                        Ok::<_, Infallible>(response)
                    }
                });
                tokio::spawn(async move {
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                    tokio::select! {
                        _ = connection => {}
                        _ = connection_stopped.wait_for(|s| *s) => {}
                    }
                });
            }
        });
        Self { addr, seen, stop }
    }

    /// Requests received for `path`.
    pub(crate) fn requests(&self, path: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }

    /// How many requests it received for paths starting with `prefix`.
    pub(crate) fn seen_under(&self, prefix: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path.starts_with(prefix))
            .count()
    }

    pub(crate) fn count(&self, path: &str) -> usize {
        self.requests(path).len()
    }

    /// Closes the listener and every open connection: the origin is down.
    pub(crate) fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for TestOrigin {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A response as the test client saw it.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn cache_status(&self) -> &str {
        self.header("cache-status").unwrap_or("")
    }

    pub(crate) fn is_hit(&self) -> bool {
        self.cache_status().contains("; hit")
    }
}

/// An edge in front of `origin`, on a manual clock, served on 127.0.0.1:0.
pub(crate) struct TestEdge {
    pub(crate) addr: SocketAddr,
    /// `None` on the system clock.
    pub(crate) clock: Option<Arc<ManualClock>>,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    /// The edge itself, for its metrics (served on the admin listener,
    /// which these tests do not start).
    pub(crate) edge: Edge,
}

impl TestEdge {
    pub(crate) async fn start(origin: SocketAddr, clock: Arc<ManualClock>) -> Self {
        Self::start_with(origin, clock, |_| {}).await
    }

    pub(crate) async fn start_with(
        origin: SocketAddr,
        clock: Arc<ManualClock>,
        tweak: impl FnOnce(&mut EdgeSettings),
    ) -> Self {
        Self::start_on(origin, Some(clock), tweak).await
    }

    /// On the manual clock, or the system clock with `None`.
    pub(crate) async fn start_on(
        origin: SocketAddr,
        clock: Option<Arc<ManualClock>>,
        tweak: impl FnOnce(&mut EdgeSettings),
    ) -> Self {
        let storage = MemoryStorage::new(MemoryConfig::new(16 << 20)).unwrap();
        Self::start_over(origin, clock, storage.into(), tweak).await
    }

    /// Over `storage`, which other edges may share.
    pub(crate) async fn start_over(
        origin: SocketAddr,
        clock: Option<Arc<ManualClock>>,
        storage: AnyStorage<DecodedEntry>,
        tweak: impl FnOnce(&mut EdgeSettings),
    ) -> Self {
        let mut settings = EdgeSettings::new(format!("http://{origin}").parse().unwrap());
        settings.cache_name = "edge".into();
        settings.response_timeout = Duration::from_secs(5);
        tweak(&mut settings);
        let edge_clock: Arc<dyn Clock> = match &clock {
            Some(clock) => clock.clone(),
            None => Arc::new(revalidate_edge::clock::SystemClock),
        };
        let edge = Edge::new(settings, storage, edge_clock);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(revalidate_edge::server::serve(
            listener,
            edge.clone(),
            16 * 1024,
            async move {
                let _ = stopped.await;
            },
        ));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            addr,
            clock,
            client,
            stop: Some(stop),
            edge,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        self.send(Method::GET, path, headers, "").await
    }

    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap();
        let mut request = self.client.request(method, self.url(path)).body(body.to_owned());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let mut headers = HeaderMap::new();
        for (name, value) in response.headers() {
            headers.append(
                http::HeaderName::from_bytes(name.as_str().as_bytes()).unwrap(),
                HeaderValue::from_bytes(value.as_bytes()).unwrap(),
            );
        }
        let body = response.text().await.unwrap();
        Answer {
            status,
            headers,
            body,
        }
    }

    pub(crate) fn advance(&self, seconds: u64) {
        self.clock.as_ref().expect("a manual clock").advance(seconds);
    }

    /// The value of one series of the edge's metrics: `name{label="v",…}`
    /// names the series whose labels include those given (the `site`
    /// label, say, need not be).
    pub(crate) async fn metric(&self, series: &str) -> f64 {
        metric_value(&self.edge.render_metrics(), series)
    }
}

impl Drop for TestEdge {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The value in a Prometheus text exposition of the series `name{…}`
/// whose labels include the given ones (summed over those that match);
/// 0 when none does.
pub(crate) fn metric_value(text: &str, series: &str) -> f64 {
    let (name, wanted) = split_series(series);
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (line_name, labels) = split_series(series);
            (line_name == name && wanted.iter().all(|label| labels.contains(label)))
                .then(|| value.trim().parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

fn split_series(series: &str) -> (&str, Vec<&str>) {
    match series.split_once('{') {
        None => (series, Vec::new()),
        Some((name, labels)) => (
            name,
            labels
                .trim_end_matches('}')
                .split(',')
                .filter(|label| !label.is_empty())
                .collect(),
        ),
    }
}

/// A clock at the current time, shared by the origin and the edge.
pub(crate) fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new())
}

/// Waits (bounded) until `check` holds.
pub(crate) async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Routes by path for table tests: each case's path gets its own script.
pub(crate) fn by_path(routes: HashMap<String, Handler>) -> impl Fn(&Seen) -> Reply {
    move |seen| match routes.get(&seen.path) {
        Some(route) => route(seen),
        None => Reply::status(404),
    }
}

/// A real `revalidate serve` (static files and the JSON API on a SQLite
/// file) on 127.0.0.1:0. Files under `fresh/` are fresh for 2 s, under
/// `long/` for an hour.
pub(crate) struct Site {
    pub(crate) origin: SocketAddr,
    pub(crate) root: tempfile::TempDir,
    pub(crate) data: tempfile::TempDir,
}

impl Site {
    pub(crate) async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(listener, |_| {}).await
    }

    /// Serves on `listener`, bound by the caller so that an edge can be
    /// pointed at it before the origin's configuration (which may name the
    /// edge) is complete; `tweak` changes the configuration.
    pub(crate) async fn start_on(listener: TcpListener, tweak: impl FnOnce(&mut OriginConfig)) -> Self {
        let root = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("fresh")).unwrap();
        std::fs::create_dir_all(root.path().join("long")).unwrap();
        let mut config = OriginConfig {
            root: root.path().into(),
            data: data.path().into(),
            ..OriginConfig::default()
        };
        config.static_files.cache_control = vec![
            CacheControlRule {
                pattern: "fresh/**".into(),
                value: "public, max-age=2".into(),
            },
            CacheControlRule {
                pattern: "long/**".into(),
                value: "public, max-age=3600".into(),
            },
        ];
        tweak(&mut config);
        let origin = Origin::open(&config).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(origin.serve(listener, None, std::future::pending()));
        Self {
            origin: addr,
            root,
            data,
        }
    }

    pub(crate) fn write(&self, path: &str, content: &str) {
        write_file(&self.root.path().join(path), content);
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.origin)
    }
}

fn write_file(path: &Path, content: &str) {
    std::fs::write(path, content).unwrap();
}

/// An origin that hands each connection to a script working on the raw
/// socket: for answers a well-behaved server would never give (a body
/// that stops half-way, an answer before the upload was read).
pub(crate) struct RawOrigin {
    pub(crate) addr: SocketAddr,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
    accept_loop: tokio::task::JoinHandle<()>,
}

impl RawOrigin {
    /// `script` gets each accepted connection and its number (1, 2, ...).
    pub(crate) async fn start<F, Fut>(script: F) -> Self
    where
        F: Fn(tokio::net::TcpStream, usize) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        let accept_loop = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let number = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                tokio::spawn(script(stream, number));
            }
        });
        Self {
            addr,
            accepted,
            accept_loop,
        }
    }

    /// Connections accepted so far.
    pub(crate) fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for RawOrigin {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

/// Reads a request or response head (through the blank line) from
/// `stream`; what follows it stays unread unless it came in the same read.
pub(crate) async fn read_head(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// What a raw client read: everything until the peer closed (or the
/// deadline passed, which `closed` tells apart).
#[derive(Debug)]
pub(crate) struct RawAnswer {
    pub(crate) text: String,
    /// Whether the edge closed the connection before the deadline.
    pub(crate) closed: bool,
}

impl RawAnswer {
    pub(crate) fn status_line(&self) -> &str {
        self.text.lines().next().unwrap_or("")
    }

    /// The value of the first header field `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        let head = self.text.split("\r\n\r\n").next()?;
        head.lines().skip(1).find_map(|line| {
            let (field, value) = line.split_once(':')?;
            field.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    /// What follows the head.
    pub(crate) fn body(&self) -> &str {
        self.text.split_once("\r\n\r\n").map_or("", |(_, body)| body)
    }
}

/// Sends `request` (raw bytes) to `addr` and reads until the peer closes
/// or `deadline` passes; `hold_open` keeps the write side open (a client
/// that has not finished its upload).
pub(crate) async fn raw_exchange(addr: SocketAddr, request: &[u8], deadline: Duration) -> RawAnswer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut received = Vec::new();
    let read = tokio::time::timeout(deadline, async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    RawAnswer {
        text: String::from_utf8_lossy(&received).into_owned(),
        closed: read.is_ok(),
    }
}

/// An edge serving the sites of `config` on 127.0.0.1:0, over memory
/// storage, on `clock`; it serves until dropped.
pub(crate) struct Served {
    pub(crate) addr: SocketAddr,
    pub(crate) sites: Sites,
    _stop: oneshot::Sender<()>,
}

pub(crate) async fn serve_config(config: &EdgeConfig, clock: Arc<dyn Clock>) -> Served {
    let storage = MemoryStorage::new(MemoryConfig::new(16 << 20)).unwrap();
    let sites = revalidate_edge::sites::config::open(config, storage.into(), clock).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(revalidate_edge::server::serve(
        listener,
        sites.clone(),
        16 * 1024,
        async move {
            let _ = stopped.await;
        },
    ));
    Served {
        addr,
        sites,
        _stop: stop,
    }
}
