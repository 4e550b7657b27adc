//! Shared by the criterion bench and the instruction-count example: a
//! JSON handler, and one request/response exchange polled to the end with a
//! no-op waker (no runtime, no sockets).

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::header::{ACCEPT, HOST, IF_NONE_MATCH, USER_AGENT};
use http::{HeaderValue, Request, Response};
use http_body::Body;
use http_body_util::{Empty, Full};
use serde_json::{Value, json};
use tower::{Service, service_fn};

/// A JSON array of records, about `bytes` long when serialised.
pub(crate) fn document(bytes: usize) -> Value {
    let record = |i: usize| json!({"id": i, "name": format!("item {i}"), "price": 1999, "tags": ["a", "b"]});
    let one = serde_json::to_vec(&record(1000)).map_or(64, |v| v.len() + 1);
    Value::Array((0..bytes / one).map(record).collect())
}

/// What the handler's future resolves to.
pub(crate) type Reply = Result<Response<Full<Bytes>>, Infallible>;

/// The handler: serialises the shared document on every call. The
/// document sits behind an `Arc`, as application state does in axum, so
/// cloning the service (which a layer with a lookup does per request) is
/// cheap.
pub(crate) fn handler(
    doc: Arc<Value>,
) -> impl Service<
    Request<Empty<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = Ready<Reply>,
> + Clone {
    service_fn(move |_request: Request<Empty<Bytes>>| {
        let body = serde_json::to_vec(&*doc).unwrap_or_default();
        let mut response = Response::new(Full::new(Bytes::from(body)));
        response
            .headers_mut()
            .insert("content-type", http::HeaderValue::from_static("application/json"));
        ready(Ok(response))
    })
}

/// Polls a future that never waits to completion.
pub(crate) fn complete<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// Calls the service once and reads the whole body, as a server writes it.
pub(crate) fn exchange<S, B>(service: &mut S, request: Request<Empty<Bytes>>) -> (u16, usize)
where
    S: Service<Request<Empty<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: Body,
    B::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    while service.poll_ready(&mut cx).is_pending() {}
    let response = complete(service.call(request)).expect("the bench services never fail");
    let status = response.status().as_u16();
    let mut body = pin!(response.into_body());
    let mut len = 0;
    while let Poll::Ready(Some(frame)) = body.as_mut().poll_frame(&mut cx) {
        if let Ok(data) = frame.expect("bench bodies never fail").into_data() {
            len += bytes::Buf::remaining(&data);
        }
    }
    (status, len)
}

pub(crate) fn get(inm: Option<&str>) -> Request<Empty<Bytes>> {
    // Field names as constants, as hyper hands them to a service: the
    // harness should not spend more than a server would.
    let mut builder = Request::builder()
        .uri("/items")
        .header(HOST, HeaderValue::from_static("bench"))
        .header(ACCEPT, HeaderValue::from_static("application/json"))
        .header(USER_AGENT, HeaderValue::from_static("bench/1"));
    if let Some(tag) = inm {
        builder = builder.header(IF_NONE_MATCH, tag);
    }
    builder.body(Empty::new()).expect("valid request")
}
