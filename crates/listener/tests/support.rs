//! A front door serving a small service, its counters, and raw-socket
//! helpers.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
pub(crate) use revalidate_listener::testing::{PATIENCE, closed_by_server, patient};
use revalidate_listener::tls::CertStore;
use revalidate_listener::{
    AccessLog, ConnectionMetrics, FrontDoor, Limits, ListenerConfig, RequestBody, TlsListener, TlsSettings,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// The size of `/big`: more than loopback's socket buffers hold.
pub(crate) const BIG: usize = 64 << 20;

/// A request every test can send.
pub(crate) const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n";

/// A listener serving [`handle`] until dropped or stopped.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    /// The TLS listener's address, when it has one.
    pub(crate) tls_addr: Option<SocketAddr>,
    /// Its certificates.
    pub(crate) certificates: Option<Arc<CertStore>>,
    metrics: PrometheusHandle,
    stop: Option<oneshot::Sender<()>>,
    /// Requests for `/slow` being answered now.
    pub(crate) slow_in_flight: Arc<AtomicUsize>,
    pub(crate) task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    pub(crate) async fn start(limits: Limits) -> Self {
        Self::start_with(limits, None, None).await
    }

    /// A server that logs its requests to `log`.
    pub(crate) async fn start_logged(limits: Limits, log: AccessLog) -> Self {
        Self::start_with(limits, None, Some(log)).await
    }

    /// A server with a TLS listener too, on `127.0.0.1:0`.
    pub(crate) async fn start_tls(limits: Limits, tls: TlsSettings) -> Self {
        Self::start_with(limits, Some(tls), None).await
    }

    async fn start_with(limits: Limits, tls: Option<TlsSettings>, log: Option<AccessLog>) -> Self {
        let recorder = PrometheusBuilder::new().build_recorder();
        let metrics = recorder.handle();
        let counters = metrics::with_local_recorder(&recorder, || ConnectionMetrics::register("test"));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = ListenerConfig {
            connections: limits,
            ..ListenerConfig::default()
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let mut door = FrontDoor::new(listener, config).with_metrics(counters);
        if let Some(log) = log {
            door = door.with_access_log(log);
        }
        let (mut tls_addr, mut certificates) = (None, None);
        if let Some(settings) = tls {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let tls = TlsListener::new(listener, &settings).unwrap();
            tls_addr = Some(tls.local_addr().unwrap());
            certificates = Some(Arc::clone(tls.certificates()));
            door = door.with_tls(tls);
        }
        let slow_in_flight = Arc::new(AtomicUsize::new(0));
        let slow = Arc::clone(&slow_in_flight);
        let task = tokio::spawn(door.serve(
            move |_peer| {
                let slow = Arc::clone(&slow);
                hyper::service::service_fn(move |request| handle(request, Arc::clone(&slow)))
            },
            async move {
                let _ = stopped.await;
            },
        ));
        Self {
            addr,
            tls_addr,
            certificates,
            metrics,
            stop: Some(stop),
            slow_in_flight,
            task: Some(task),
        }
    }

    /// Starts the graceful shutdown.
    pub(crate) fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// A counter or gauge of the rendered metrics, such as
    /// `test_connections_closed_total{reason="idle_timeout"}`.
    pub(crate) fn metric(&self, series: &str) -> f64 {
        let text = self.metrics.render();
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    }

    pub(crate) fn closed(&self, reason: &str) -> f64 {
        self.metric(&format!("test_connections_closed_total{{reason=\"{reason}\"}}"))
    }

    pub(crate) fn slow_requests(&self) -> f64 {
        self.slow_in_flight.load(Ordering::SeqCst) as f64
    }

    pub(crate) fn open(&self) -> f64 {
        self.metric("test_connections_open")
    }

    /// Waits until `series` reaches `value` (or fails after [`PATIENCE`]).
    pub(crate) async fn wait_for(&self, what: impl Fn(&Self) -> f64, value: f64, description: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let now = what(self);
            if now == value {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{description}: still {now}, not {value}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn big() -> Bytes {
    static BIG_BODY: OnceLock<Bytes> = OnceLock::new();
    BIG_BODY.get_or_init(|| Bytes::from(vec![b'x'; BIG])).clone()
}

/// `/` says hello; `/big` is 64 MiB; `/slow` answers after 1 s;
/// `/reject` answers 413 without reading the body; `/consume` reads the
/// whole body, then answers with its length.
async fn handle(
    request: Request<RequestBody>,
    slow: Arc<AtomicUsize>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match request.uri().path() {
        "/big" => Response::new(Full::new(big())),
        "/slow" => {
            slow.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(1)).await;
            slow.fetch_sub(1, Ordering::SeqCst);
            Response::new(Full::new(Bytes::from_static(b"slow")))
        }
        "/reject" => {
            let mut response = Response::new(Full::new(Bytes::from_static(b"too large")));
            *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
            response
        }
        "/consume" => match request.into_body().collect().await {
            Ok(body) => Response::new(Full::new(Bytes::from(body.to_bytes().len().to_string()))),
            Err(_) => {
                let mut response = Response::new(Full::new(Bytes::from_static(b"bad body")));
                *response.status_mut() = StatusCode::BAD_REQUEST;
                response
            }
        },
        _ => Response::new(Full::new(Bytes::from_static(b"hello"))),
    };
    Ok(response)
}

/// Reads one response whose body is `Content-Length` long; returns its
/// status line.
pub(crate) async fn read_response(stream: &mut TcpStream) -> String {
    let head = read_response_head(stream).await;
    head.lines().next().unwrap_or_default().to_owned()
}

/// Reads one response whose body is `Content-Length` long; returns its
/// head (status line and fields, without the blank line).
pub(crate) async fn read_response_head(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&received[..end]).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            while received.len() < end + 4 + length {
                let n = tokio::time::timeout(PATIENCE, stream.read(&mut chunk))
                    .await
                    .expect("the body did not arrive")
                    .unwrap();
                assert!(n > 0, "closed inside the body");
                received.extend_from_slice(&chunk[..n]);
            }
            return head;
        }
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut chunk))
            .await
            .expect("no response")
            .unwrap();
        assert!(
            n > 0,
            "closed before a response: {:?}",
            String::from_utf8_lossy(&received)
        );
        received.extend_from_slice(&chunk[..n]);
    }
}

/// Sends `request` and reads the response's status line.
pub(crate) async fn exchange(stream: &mut TcpStream, request: &[u8]) -> String {
    stream.write_all(request).await.unwrap();
    read_response(stream).await
}
