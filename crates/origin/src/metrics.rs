//! Prometheus metrics for the origin: requests by method and status, 304s
//! and 412s, bytes saved by 304s, a latency histogram, and the purges sent
//! to edges after writes (`revalidate_edge_purges_sent_total{result}`, one
//! per purge and edge: `ok` once the edge acknowledged it, `failed` for
//! each delivery attempt that failed and will be retried), the outbox's
//! state per edge (`revalidate_edge_purge_backlog{edge}`, purges not yet
//! acknowledged; `revalidate_edge_purge_oldest_age_seconds{edge}`, the age
//! of the oldest of them, as last seen by this node),
//! `revalidate_edge_purge_lag_seconds` (a histogram: from the write's
//! commit to the edge's acknowledgement) and
//! `revalidate_edge_purges_dropped_total{edge}` (purges dropped past the
//! backlog bound, replaced by a purge of everything; see
//! [`crate::edge_purge`]), and the client
//! connections of the front door (`revalidate_connections_open`,
//! `revalidate_connections_accepted_total`,
//! `revalidate_connections_closed_total{reason}` with reasons `finished`,
//! `header_timeout`, `idle_timeout`, `send_timeout`, `evicted`, `shutdown`,
//! `error`, `tls_handshake_failed`, `tls_handshake_timeout`,
//! `revalidate_accept_errors_total` and
//! `revalidate_access_log_dropped_total`, the access-log lines dropped
//! because the writer fell behind; see [`revalidate_listener::metrics`]).
//!
//! They are served at `/metrics` on the public listener, or on the admin
//! listener when one is configured (`[admin]`, then the public `/metrics`
//! is `404`).
//!
//! The recorder is owned by the server rather than installed globally, so
//! several servers in one process (the tests) keep separate counts.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Method, StatusCode};
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use revalidate_listener::ConnectionMetrics;

/// A response extension that handlers put on a 304: the length of the
/// representation the client did not have to download again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BytesSaved(pub u64);

/// The server's metrics registry.
#[derive(Clone)]
pub struct Metrics {
    // One Arc for all: a clone per request is one atomic add.
    inner: Arc<MetricsInner>,
}

struct MetricsInner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    handles: Handles,
}

/// Handles registered once, so recording a request is a few atomic adds
/// rather than a registry lookup with label allocation per request.
struct Handles {
    not_modified: Counter,
    precondition_failed: Counter,
    bytes_saved: Counter,
    latency: Histogram,
    /// `requests_total{method, status}`, registered on first use; indexed
    /// by method label and status code.
    requests: Box<[OnceLock<Counter>]>,
    /// `edge_purges_sent_total{result="ok"}` and `{result="failed"}`,
    /// registered on first use so an origin without edges does not show them.
    edge_purges: [OnceLock<Counter>; 2],
    /// The front door's connection counters.
    connections: ConnectionMetrics,
}

const EDGE_PURGES: &str = "revalidate_edge_purges_sent_total";
const EDGE_PURGE_BACKLOG: &str = "revalidate_edge_purge_backlog";
const EDGE_PURGE_OLDEST_AGE: &str = "revalidate_edge_purge_oldest_age_seconds";
const EDGE_PURGE_LAG: &str = "revalidate_edge_purge_lag_seconds";
const EDGE_PURGES_DROPPED: &str = "revalidate_edge_purges_dropped_total";
const EDGE_PURGE_LAG_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

const METHOD_LABELS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER",
];
/// Status codes are 100..=999 by `http`'s parser.
const STATUS_SLOTS: usize = 1000;

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// How often [`Metrics::spawn_upkeep`] drains histogram samples.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

const LATENCY: &str = "revalidate_http_request_duration_seconds";
const LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A new, empty registry.
    pub fn new() -> Self {
        let builder = PrometheusBuilder::new();
        // Only fails for an empty bucket list, which this is not.
        let builder = builder
            .set_buckets_for_metric(Matcher::Full(LATENCY.into()), LATENCY_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full(EDGE_PURGE_LAG.into()), EDGE_PURGE_LAG_BUCKETS)
            })
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        let handles = metrics::with_local_recorder(&recorder, || Handles {
            not_modified: metrics::counter!("revalidate_http_not_modified_total"),
            precondition_failed: metrics::counter!("revalidate_http_precondition_failed_total"),
            bytes_saved: metrics::counter!("revalidate_http_bytes_saved_total"),
            latency: metrics::histogram!(LATENCY),
            requests: (0..METHOD_LABELS.len() * STATUS_SLOTS)
                .map(|_| OnceLock::new())
                .collect(),
            edge_purges: [OnceLock::new(), OnceLock::new()],
            connections: ConnectionMetrics::register("revalidate"),
        });
        let metrics = Self {
            inner: Arc::new(MetricsInner {
                recorder,
                handle,
                handles,
            }),
        };
        metrics.describe();
        metrics
    }

    fn describe(&self) {
        metrics::with_local_recorder(&self.inner.recorder, || {
            metrics::describe_counter!(
                "revalidate_http_requests_total",
                "HTTP requests by method and status"
            );
            metrics::describe_counter!(
                "revalidate_http_not_modified_total",
                "304 Not Modified responses sent"
            );
            metrics::describe_counter!(
                "revalidate_http_precondition_failed_total",
                "412 Precondition Failed responses sent"
            );
            metrics::describe_counter!(
                "revalidate_http_bytes_saved_total",
                metrics::Unit::Bytes,
                "Representation bytes not sent because a 304 answered instead"
            );
            metrics::describe_counter!(
                EDGE_PURGES,
                "Purges of written API URLs sent to edges, one per write and edge, by result"
            );
            metrics::describe_gauge!(
                EDGE_PURGE_BACKLOG,
                "Purges recorded for this edge and not yet acknowledged, as last seen by this node"
            );
            metrics::describe_gauge!(
                EDGE_PURGE_OLDEST_AGE,
                metrics::Unit::Seconds,
                "Age of the oldest purge not yet acknowledged by this edge, as last seen by this node"
            );
            metrics::describe_histogram!(
                EDGE_PURGE_LAG,
                metrics::Unit::Seconds,
                "Time from a write's commit (its purge recorded) to the edge's acknowledgement"
            );
            metrics::describe_counter!(
                EDGE_PURGES_DROPPED,
                "Purges dropped past the backlog bound; the edge gets a purge of everything instead"
            );
            metrics::describe_histogram!(
                LATENCY,
                metrics::Unit::Seconds,
                "Time from request head to response head"
            );
        });
    }

    /// Records one finished request.
    pub fn record(&self, method: &Method, status: StatusCode, bytes_saved: Option<u64>, seconds: f64) {
        self.record_slot(method_index(method), status, bytes_saved, seconds);
    }

    fn record_slot(&self, method_index: usize, status: StatusCode, bytes_saved: Option<u64>, seconds: f64) {
        let h = &self.inner.handles;
        let slot = method_index * STATUS_SLOTS + usize::from(status.as_u16()) % STATUS_SLOTS;
        h.requests[slot]
            .get_or_init(|| {
                metrics::with_local_recorder(&self.inner.recorder, || {
                    metrics::counter!(
                        "revalidate_http_requests_total",
                        "method" => METHOD_LABELS[method_index],
                        "status" => status.as_str().to_owned()
                    )
                })
            })
            .increment(1);
        if status == StatusCode::NOT_MODIFIED {
            h.not_modified.increment(1);
            if let Some(bytes) = bytes_saved {
                h.bytes_saved.increment(bytes);
            }
        } else if status == StatusCode::PRECONDITION_FAILED {
            h.precondition_failed.increment(1);
        }
        h.latency.record(seconds);
    }

    /// Counts the bytes a `304` saved, for a handler that knows these
    /// metrics (cheaper than a [`BytesSaved`] extension on the response;
    /// the `304` itself is counted by [`TrackLayer`] from its status).
    pub fn record_bytes_saved(&self, bytes: u64) {
        self.inner.handles.bytes_saved.increment(bytes);
    }

    /// Counts `writes` purges sent to one edge: acknowledged (`ok`) or
    /// in a failed attempt (`failed`).
    pub fn record_edge_purges(&self, ok: bool, writes: u64) {
        let (slot, result) = if ok { (0, "ok") } else { (1, "failed") };
        self.inner.handles.edge_purges[slot]
            .get_or_init(|| {
                metrics::with_local_recorder(
                    &self.inner.recorder,
                    || metrics::counter!(EDGE_PURGES, "result" => result),
                )
            })
            .increment(writes);
    }

    /// The outbox's state for `edge`: purges owed, and the age of the
    /// oldest (zero when none).
    pub fn set_edge_purge_backlog(&self, edge: &str, pending: u64, oldest_age_seconds: f64) {
        metrics::with_local_recorder(&self.inner.recorder, || {
            #[allow(clippy::cast_precision_loss)] // a count far below 2^52
            metrics::gauge!(EDGE_PURGE_BACKLOG, "edge" => edge.to_owned()).set(pending as f64);
            metrics::gauge!(EDGE_PURGE_OLDEST_AGE, "edge" => edge.to_owned()).set(oldest_age_seconds);
        });
    }

    /// Records the lag of acknowledged purges, in seconds each.
    pub fn record_edge_purge_lags(&self, lags: impl IntoIterator<Item = f64>) {
        metrics::with_local_recorder(&self.inner.recorder, || {
            let histogram = metrics::histogram!(EDGE_PURGE_LAG);
            for lag in lags {
                histogram.record(lag);
            }
        });
    }

    /// Counts purges for `edge` dropped past the backlog bound.
    pub fn record_edge_purges_dropped(&self, edge: &str, dropped: u64) {
        metrics::with_local_recorder(&self.inner.recorder, || {
            metrics::counter!(EDGE_PURGES_DROPPED, "edge" => edge.to_owned()).increment(dropped);
        });
    }

    /// The handles the front door counts client connections into.
    pub fn connection_metrics(&self) -> ConnectionMetrics {
        self.inner.handles.connections.clone()
    }

    /// Drains recorded histogram samples into their buckets every few
    /// seconds until the last clone of these metrics is dropped.
    ///
    /// The exporter keeps each latency sample until an upkeep runs; without
    /// a scrape (none configured, or a scraper that stopped), memory grew by
    /// about 20 bytes per request (30 MB in 10 s at 150k requests/s) and the
    /// sample blocks' allocation showed in the tail latency.
    pub fn spawn_upkeep(&self) {
        revalidate_listener::metrics::spawn_upkeep(
            Arc::downgrade(&self.inner),
            |inner| &inner.handle,
            UPKEEP_EVERY,
        );
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        self.inner.handle.run_upkeep();
        self.inner.handle.render()
    }

    /// The `/metrics` response, `Cache-Control: no-store`: an edge in front
    /// forwards `/metrics` like any path, and must not keep the counts.
    pub fn response(&self) -> Response {
        let mut response = self.render().into_response();
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// Index into [`METHOD_LABELS`]. Methods outside the standard set share
/// one label, so a client cannot grow the registry without bound by
/// inventing methods.
fn method_index(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::PATCH => 4,
        Method::DELETE => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

/// A tower layer that counts every request of the service it wraps: its
/// method and status, 304s and 412s, bytes saved, and the latency.
///
/// A hand-written layer rather than `axum::middleware::from_fn`: that one
/// boxes a future and clones the inner service per request, which showed
/// in the profile of a 304 (a few percent of its instructions).
#[derive(Clone, Debug)]
pub struct TrackLayer {
    metrics: Metrics,
}

impl TrackLayer {
    /// Counts into `metrics`.
    pub fn new(metrics: Metrics) -> Self {
        Self { metrics }
    }
}

impl<S> tower::Layer<S> for TrackLayer {
    type Service = Track<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Track {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service of [`TrackLayer`].
#[derive(Clone, Debug)]
pub struct Track<S> {
    inner: S,
    metrics: Metrics,
}

impl<S, B> tower::Service<http::Request<B>> for Track<S>
where
    S: tower::Service<http::Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = TrackFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        TrackFuture {
            started: Instant::now(),
            method: method_index(request.method()),
            metrics: self.metrics.clone(),
            inner: self.inner.call(request),
        }
    }
}

impl Metrics {
    /// Counts the response of a request with `method` as [`TrackLayer`]
    /// does, for a service that calls its handler itself: the clock starts
    /// now, and `handle` makes the future to count.
    pub fn track<F>(&self, method: &Method, handle: impl FnOnce() -> F) -> TrackFuture<F> {
        let method = method_index(method);
        TrackFuture {
            started: Instant::now(),
            method,
            metrics: self.clone(),
            inner: handle(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Track`]: records when the response head is ready.
    pub struct TrackFuture<F> {
        #[pin]
        inner: F,
        started: Instant,
        method: usize,
        metrics: Metrics,
    }
}

impl<F, E> std::future::Future for TrackFuture<F>
where
    F: std::future::Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        if let Ok(response) = &result {
            let saved = response.extensions().get::<BytesSaved>().map(|b| b.0);
            this.metrics.record_slot(
                *this.method,
                response.status(),
                saved,
                this.started.elapsed().as_secs_f64(),
            );
        }
        std::task::Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_renders() {
        let m = Metrics::new();
        m.record(&Method::GET, StatusCode::NOT_MODIFIED, Some(1024), 0.0002);
        m.record(&Method::PUT, StatusCode::PRECONDITION_FAILED, None, 0.001);
        m.record(
            &Method::from_bytes(b"BREW").unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            None,
            0.001,
        );
        let text = m.render();
        assert!(
            text.contains("revalidate_http_requests_total{method=\"GET\",status=\"304\"} 1"),
            "{text}"
        );
        assert!(text.contains("revalidate_http_bytes_saved_total 1024"), "{text}");
        assert!(
            text.contains("revalidate_http_precondition_failed_total 1"),
            "{text}"
        );
        assert!(text.contains("method=\"OTHER\""), "{text}");
        assert!(
            text.contains("revalidate_http_request_duration_seconds_bucket"),
            "{text}"
        );
        assert!(!text.contains("revalidate_edge_purges_sent_total{"), "{text}");
        for series in [
            "revalidate_connections_open 0",
            "revalidate_connections_accepted_total 0",
            "revalidate_connections_closed_total{reason=\"header_timeout\"} 0",
            "revalidate_accept_errors_total 0",
        ] {
            assert!(text.contains(series), "{series} in {text}");
        }
        m.record_edge_purges(true, 2);
        m.record_edge_purges(false, 1);
        let text = m.render();
        assert!(
            text.contains("revalidate_edge_purges_sent_total{result=\"ok\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("revalidate_edge_purges_sent_total{result=\"failed\"} 1"),
            "{text}"
        );
    }
}
