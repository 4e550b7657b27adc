//! Prometheus metrics for the origin: requests by method and status, 304s
//! and 412s, bytes saved by 304s, and a latency histogram.
//!
//! The recorder is owned by the server rather than installed globally, so
//! several servers in one process (the tests) keep separate counts.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, StatusCode};
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

/// A response extension that handlers put on a 304: the length of the
/// representation the client did not have to download again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BytesSaved(pub u64);

/// The server's metrics registry.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    handles: Arc<Handles>,
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
}

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
        });
        let metrics = Self {
            recorder: Arc::new(recorder),
            handle,
            handles: Arc::new(handles),
        };
        metrics.describe();
        metrics
    }

    fn describe(&self) {
        metrics::with_local_recorder(self.recorder.as_ref(), || {
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
            metrics::describe_histogram!(
                LATENCY,
                metrics::Unit::Seconds,
                "Time from request head to response head"
            );
        });
    }

    /// Records one finished request.
    pub fn record(&self, method: &Method, status: StatusCode, bytes_saved: Option<u64>, seconds: f64) {
        let h = &self.handles;
        let method_index = method_index(method);
        let slot = method_index * STATUS_SLOTS + usize::from(status.as_u16()) % STATUS_SLOTS;
        h.requests[slot]
            .get_or_init(|| {
                metrics::with_local_recorder(self.recorder.as_ref(), || {
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

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        self.handle.run_upkeep();
        self.handle.render()
    }

    /// The `/metrics` response.
    pub fn response(&self) -> Response {
        let mut response = self.render().into_response();
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
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

/// Axum middleware that records every request in `metrics`.
pub async fn track(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let response = next.run(request).await;
    let saved = response.extensions().get::<BytesSaved>().map(|b| b.0);
    metrics.record(&method, response.status(), saved, started.elapsed().as_secs_f64());
    response
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
    }
}
