//! Test support: a counting handler, probe bodies that record whether the
//! layer read them, and helpers to run one request through a layer.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Empty, Full};
use revalidate_core::HttpDate;
use revalidate_tower::{ConditionalLayer, NoLookup};
use tower::{Layer, Service, ServiceExt, service_fn};

/// The layer's clock in every test: 2026-02-18T00:00:00Z.
pub(crate) const NOW: u64 = 1_771_372_800;
/// The `Last-Modified` of the test representation: a day before [`NOW`].
pub(crate) const MODIFIED: u64 = NOW - 86_400;

pub(crate) fn date(secs: u64) -> HttpDate {
    HttpDate::from_unix_seconds(secs).unwrap()
}

pub(crate) fn http_date(secs: u64) -> String {
    date(secs).to_string()
}

/// The layer with the test clock.
pub(crate) fn layer() -> ConditionalLayer<NoLookup> {
    ConditionalLayer::new().clock(|| date(NOW))
}

/// The JSON document the default handler sends.
pub(crate) const DOC: &str = "{\"id\":1,\"name\":\"widget\",\"tags\":[\"a\",\"b\",\"c\"]}";

/// What the handler saw and did, shared with the test.
#[derive(Clone, Default)]
pub(crate) struct Seen {
    calls: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<HeaderMap>>>,
}

impl Seen {
    pub(crate) fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// The header fields of the last request the handler received.
    pub(crate) fn last_request(&self) -> HeaderMap {
        self.requests.lock().unwrap().last().cloned().unwrap_or_default()
    }

    /// Records one call.
    pub(crate) fn record(&self, headers: &HeaderMap) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.requests.lock().unwrap().push(headers.clone());
    }
}

/// A handler answering every request with `status`, `headers` and `body`.
pub(crate) fn handler(
    status: StatusCode,
    headers: &[(&'static str, &'static str)],
    body: &'static str,
) -> (
    impl Service<Request<Empty<Bytes>>, Response = Response<Full<Bytes>>, Error = Infallible, Future: Send>
    + Clone
    + Send
    + 'static,
    Seen,
) {
    let seen = Seen::default();
    let recorder = seen.clone();
    let headers: Vec<(&'static str, &'static str)> = headers.to_vec();
    let service = service_fn(move |request: Request<Empty<Bytes>>| {
        recorder.record(request.headers());
        let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        *response.status_mut() = status;
        for (name, value) in &headers {
            response
                .headers_mut()
                .append(*name, HeaderValue::from_static(value));
        }
        std::future::ready(Ok::<_, Infallible>(response))
    });
    (service, seen)
}

/// The default handler: 200, JSON, `Cache-Control`, `Last-Modified`.
pub(crate) fn json_handler() -> (
    impl Service<Request<Empty<Bytes>>, Response = Response<Full<Bytes>>, Error = Infallible, Future: Send>
    + Clone
    + Send
    + 'static,
    Seen,
) {
    handler(
        StatusCode::OK,
        &[
            ("content-type", "application/json"),
            ("cache-control", "max-age=60"),
            ("last-modified", "Tue, 17 Feb 2026 00:00:00 GMT"),
        ],
        DOC,
    )
}

/// The header fields of a table row.
pub(crate) type Fields<'a> = Vec<(&'a str, &'a str)>;

/// The same, with values built at run time.
pub(crate) type OwnedFields<'a> = Vec<(&'a str, String)>;

/// A request with a method, target and header fields.
pub(crate) fn request(method: &str, headers: &[(&str, &str)]) -> Request<Empty<Bytes>> {
    let mut builder = Request::builder().method(method).uri("/doc");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Empty::new()).unwrap()
}

/// A finished response: status, headers and the whole body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// Reads a response to the end.
pub(crate) async fn read<B>(response: Response<B>) -> Answer
where
    B: Body,
    B::Error: std::fmt::Debug,
{
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// Sends one request through `layer` around `service`.
pub(crate) async fn send<L, S>(layer: &L, service: S, request: Request<Empty<Bytes>>) -> Answer
where
    L: Layer<S>,
    L::Service:
        Service<Request<Empty<Bytes>>, Response = Response<revalidate_tower::ConditionalBody<Full<Bytes>>>>,
    <L::Service as Service<Request<Empty<Bytes>>>>::Error: std::fmt::Debug,
{
    let response = layer.layer(service).oneshot(request).await.unwrap();
    read(response).await
}

/// The strong `ETag` the layer gives [`DOC`] from the JSON handler.
pub(crate) async fn doc_etag() -> String {
    let (service, _) = json_handler();
    let answer = send(&layer(), service, request("GET", &[])).await;
    answer.header("etag").unwrap().to_owned()
}

/// A body that records every poll, for proving that the layer did not read
/// it. It yields its chunks, then ends, or fails if `fail` is set; with
/// `yielding`, each frame comes one poll late (`Pending`, woken at once).
pub(crate) struct ProbeBody {
    chunks: VecDeque<Bytes>,
    hint: SizeHint,
    polls: Arc<AtomicUsize>,
    fail: bool,
    yielding: bool,
    yielded: bool,
}

/// The poll counter of a [`ProbeBody`].
#[derive(Clone)]
pub(crate) struct Polls(Arc<AtomicUsize>);

impl Polls {
    pub(crate) fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl ProbeBody {
    /// A stream of `chunks` that announces `hint`.
    pub(crate) fn new(chunks: &[&'static str], hint: SizeHint) -> (Self, Polls) {
        let polls = Arc::new(AtomicUsize::new(0));
        let body = Self {
            chunks: chunks.iter().map(|c| Bytes::from_static(c.as_bytes())).collect(),
            hint,
            polls: Arc::clone(&polls),
            fail: false,
            yielding: false,
            yielded: false,
        };
        (body, Polls(polls))
    }

    /// The same, failing after its chunks.
    pub(crate) fn failing(mut self) -> Self {
        self.fail = true;
        self
    }

    /// The same, not ready before each frame and the end: a body that
    /// arrives over several polls.
    pub(crate) fn yielding(mut self) -> Self {
        self.yielding = true;
        self
    }
}

/// The error a failing [`ProbeBody`] yields.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ProbeError;

impl Body for ProbeBody {
    type Data = Bytes;
    type Error = ProbeError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ProbeError>>> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        if self.yielding && !self.yielded {
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.yielded = false;
        if let Some(chunk) = self.chunks.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        if self.fail {
            self.fail = false;
            return Poll::Ready(Some(Err(ProbeError)));
        }
        Poll::Ready(None)
    }

    fn size_hint(&self) -> SizeHint {
        self.hint
    }
}
