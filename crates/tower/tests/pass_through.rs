//! What the layer must hand on without reading: streams, bodies above the
//! limit, non-2xx, `no-store`. Each case uses a body that counts its polls.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body::{Body, SizeHint};
use http_body_util::{BodyExt, Empty};
use revalidate_core::{EntityTag, Validators};
use revalidate_tower::{ConditionalBody, DeferredBody, KnownValidators};
use tower::{Layer, ServiceExt, service_fn};

use crate::support::{ProbeBody, ProbeError, layer, read, request};

/// Runs `request` through the layer around a handler that returns `status`,
/// `headers` and a probe body; returns the response before its body is read.
async fn through(
    layer: &revalidate_tower::ConditionalLayer,
    status: StatusCode,
    headers: &[(&'static str, &'static str)],
    body: ProbeBody,
    request: Request<Empty<Bytes>>,
) -> Response<ConditionalBody<ProbeBody>> {
    let headers = headers.to_vec();
    let body = Arc::new(std::sync::Mutex::new(Some(body)));
    let service = service_fn(move |_: Request<Empty<Bytes>>| {
        let mut response = Response::new(body.lock().unwrap().take().unwrap());
        *response.status_mut() = status;
        for (name, value) in &headers {
            response
                .headers_mut()
                .append(*name, HeaderValue::from_static(value));
        }
        std::future::ready(Ok::<_, Infallible>(response))
    });
    layer.layer(service).oneshot(request).await.unwrap()
}

/// Header fields written in a table.
type StaticFields = &'static [(&'static str, &'static str)];

fn exact(n: u64) -> SizeHint {
    SizeHint::with_exact(n)
}

#[tokio::test]
async fn pass_through_table() {
    let small = layer().max_body(16);
    #[rustfmt::skip]
    let cases: &[(&str, StatusCode, StaticFields, SizeHint, StaticFields)] = &[
        ("stream_without_length", StatusCode::OK, &[], SizeHint::new(), &[]),
        ("stream_with_lower_bound_only", StatusCode::OK, &[], { let mut h = SizeHint::new(); h.set_lower(4); h }, &[]),
        ("above_limit_by_size_hint", StatusCode::OK, &[], exact(17), &[]),
        ("above_limit_by_content_length", StatusCode::OK, &[("content-length", "4096")], SizeHint::new(), &[]),
        ("not_found", StatusCode::NOT_FOUND, &[], exact(4), &[("if-none-match", "*")]),
        ("server_error", StatusCode::INTERNAL_SERVER_ERROR, &[], exact(4), &[]),
        ("created_redirect", StatusCode::SEE_OTHER, &[("location", "/x")], exact(4), &[]),
        ("no_store", StatusCode::OK, &[("cache-control", "private, no-store")], exact(4), &[("if-none-match", "*")]),
        ("no_store_any_case", StatusCode::OK, &[("cache-control", "No-Store")], exact(4), &[]),
    ];
    for (name, status, headers, hint, fields) in cases {
        let (body, polls) = ProbeBody::new(&["data"], *hint);
        let response = through(&small, *status, headers, body, request("GET", fields)).await;
        assert_eq!(polls.count(), 0, "{name}: the layer read the body");
        assert!(response.body().is_pass_through(), "{name}");
        assert_eq!(response.status(), *status, "{name}: status untouched");
        assert!(response.headers().get("etag").is_none(), "{name}: no tag");
        for (field, value) in *headers {
            assert_eq!(response.headers()[*field], *value, "{name}: {field} untouched");
        }
        let answer = read(response).await;
        assert_eq!(answer.body, "data", "{name}: the body goes on whole");
    }
}

/// A handler's tag makes reading the body unnecessary: a 304 drops it
/// unread, a 200 hands it on.
#[tokio::test]
async fn tagged_body_is_not_read() {
    for (inm, status) in [("\"h1\"", StatusCode::NOT_MODIFIED), ("\"h0\"", StatusCode::OK)] {
        let (body, polls) = ProbeBody::new(&["data"], exact(4));
        let response = through(
            &layer(),
            StatusCode::OK,
            &[("etag", "\"h1\"")],
            body,
            request("GET", &[("if-none-match", inm)]),
        )
        .await;
        assert_eq!(response.status(), status);
        assert_eq!(polls.count(), 0, "{inm}");
    }
}

/// Last-Modified alone still gets 304 by date for a stream, without reading it.
#[tokio::test]
async fn dated_stream_gets_304_unread() {
    let (body, polls) = ProbeBody::new(&["data"], SizeHint::new());
    let response = through(
        &layer(),
        StatusCode::OK,
        &[("last-modified", "Tue, 17 Feb 2026 00:00:00 GMT")],
        body,
        request("GET", &[("if-modified-since", "Tue, 17 Feb 2026 00:00:00 GMT")]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(polls.count(), 0);
}

/// A body that announced 4 bytes and sent more: the layer stops at its
/// limit and hands on what it read plus the rest, untagged; also when the
/// body is not ready between its chunks.
#[tokio::test]
async fn body_longer_than_announced_resumes() {
    for yielding in [false, true] {
        let (body, _) = ProbeBody::new(&["0123456789", "abcdefghij", "KLMNOPQRST"], exact(4));
        let body = if yielding { body.yielding() } else { body };
        let response = through(
            &layer().max_body(16),
            StatusCode::OK,
            &[],
            body,
            request("GET", &[]),
        )
        .await;
        assert!(response.headers().get("etag").is_none(), "yielding: {yielding}");
        let answer = read(response).await;
        assert_eq!(
            answer.body, "0123456789abcdefghijKLMNOPQRST",
            "yielding: {yielding}"
        );
    }
}

/// A body that is not ready at the first poll, or arrives in several
/// chunks, is read whole over as many polls as it takes: the same tag, the
/// same bytes and the same 304 as a body that arrives at once.
#[tokio::test]
async fn body_arriving_over_several_polls_is_read_whole() {
    const JSON: StaticFields = &[("content-type", "application/json")];
    let (at_once, _) = ProbeBody::new(&["{\"a\":1}"], exact(7));
    let response = through(&layer(), StatusCode::OK, JSON, at_once, request("GET", &[])).await;
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let cases: [(&[&'static str], bool); 3] = [
        (&["{\"a\":1}"], true),
        (&["{\"a\"", ":1}"], false),
        (&["{\"a\"", ":1}"], true),
    ];
    for (chunks, yielding) in cases {
        let case = format!("{chunks:?}, yielding: {yielding}");
        let probe = || {
            let (body, _) = ProbeBody::new(chunks, exact(7));
            if yielding { body.yielding() } else { body }
        };
        let answer = read(through(&layer(), StatusCode::OK, JSON, probe(), request("GET", &[])).await).await;
        assert_eq!(answer.status, StatusCode::OK, "{case}");
        assert_eq!(answer.header("etag"), Some(etag.as_str()), "{case}");
        assert_eq!(answer.body, "{\"a\":1}", "{case}");
        let revalidation = request("GET", &[("if-none-match", etag.as_str())]);
        let answer = read(through(&layer(), StatusCode::OK, JSON, probe(), revalidation).await).await;
        assert_eq!(answer.status, StatusCode::NOT_MODIFIED, "{case}");
        assert!(answer.body.is_empty(), "{case}");
    }
}

/// A body that fails while the layer reads it: the error reaches the
/// server as it would without the layer, after the bytes read so far.
#[tokio::test]
async fn body_error_while_reading_is_handed_on() {
    let (body, _) = ProbeBody::new(&["ab"], exact(4));
    let response = through(&layer(), StatusCode::OK, &[], body.failing(), request("GET", &[])).await;
    assert!(response.headers().get("etag").is_none());
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, "ab");
    assert_eq!(body.frame().await.unwrap().unwrap_err(), ProbeError);
}

/// A handler that knows its validators returns them as an extension and
/// its body deferred: on 304 the body is never rendered.
#[tokio::test]
async fn deferred_body_is_not_rendered_for_304() {
    for (inm, status, rendered) in [
        ("\"doc-3\"", StatusCode::NOT_MODIFIED, false),
        ("\"doc-2\"", StatusCode::OK, true),
    ] {
        let flag = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&flag);
        let service = service_fn(move |_: Request<Empty<Bytes>>| {
            let seen = Arc::clone(&seen);
            let body = DeferredBody::new(move || {
                seen.store(true, Ordering::SeqCst);
                "{\"expensive\":true}"
            });
            let mut response = Response::new(body);
            response.extensions_mut().insert(KnownValidators(
                Validators::new().with_etag(EntityTag::strong("doc-3").unwrap()),
            ));
            std::future::ready(Ok::<_, Infallible>(response))
        });
        let response = layer()
            .layer(service)
            .oneshot(request("GET", &[("if-none-match", inm)]))
            .await
            .unwrap();
        assert_eq!(response.status(), status);
        assert_eq!(response.headers()["etag"], "\"doc-3\"");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(flag.load(Ordering::SeqCst), rendered, "{inm}");
        assert_eq!(body.is_empty(), !rendered);
        assert!(!body.is_empty() || status == StatusCode::NOT_MODIFIED);
    }
}

#[tokio::test]
async fn size_hint_of_read_body_is_exact() {
    let (body, _) = ProbeBody::new(&["ab", "cd"], exact(4));
    let response = through(&layer(), StatusCode::OK, &[], body, request("GET", &[])).await;
    assert_eq!(response.body().size_hint().exact(), Some(4));
    assert!(response.headers().contains_key("etag"));
    assert_eq!(read(response).await.body, "abcd");
}
