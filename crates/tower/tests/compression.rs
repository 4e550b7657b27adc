//! tower-http's `CompressionLayer` between the two layers: every coding
//! gets its own tag, and conditionals carrying those tags round-trip.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::io::Read;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{Empty, Full};
use revalidate_core::{EntityTag, Validators};
use revalidate_tower::{Current, ETagLayer};
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_http::compression::CompressionLayer;

use crate::support::{Answer, Fields, Seen, layer, read, request};

/// Header fields written in a table.
type StaticFields = &'static [(&'static str, &'static str)];

/// A JSON document large enough to be compressed (tower-http skips bodies
/// under 32 bytes).
fn document() -> String {
    let items: Vec<String> = (0..64)
        .map(|i| format!("{{\"id\":{i},\"name\":\"item {i}\"}}"))
        .collect();
    format!("[{}]", items.join(","))
}

/// What the test handler's future resolves to.
type Reply = Result<Response<Full<Bytes>>, Infallible>;

fn app_handler(
    seen: Seen,
) -> impl tower::Service<
    Request<Empty<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = Ready<Reply>,
> + Clone {
    service_fn(move |request: Request<Empty<Bytes>>| {
        seen.record(request.headers());
        let mut response = Response::new(Full::new(Bytes::from(document())));
        response
            .headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        ready(Ok::<_, Infallible>(response))
    })
}

/// One request through `ConditionalLayer` → `CompressionLayer` → `ETagLayer`.
async fn send(fields: &[(&str, &str)]) -> (Answer, Seen) {
    send_method("GET", fields).await
}

async fn send_method(method: &str, fields: &[(&str, &str)]) -> (Answer, Seen) {
    let seen = Seen::default();
    let service = ServiceBuilder::new()
        .layer(layer())
        .layer(CompressionLayer::new())
        .layer(ETagLayer::new())
        .service(app_handler(seen.clone()));
    let response = service.oneshot(request(method, fields)).await.unwrap();
    (read(response).await, seen)
}

fn gunzip(data: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(data)
        .read_to_string(&mut out)
        .unwrap();
    out
}

/// The identity tag, as the layers send it to a client that accepts no coding.
async fn identity_tag() -> String {
    let (answer, _) = send(&[("accept-encoding", "identity")]).await;
    answer.header("etag").unwrap().to_owned()
}

fn coded(identity: &str, coding: &str) -> String {
    format!("{}-{coding}\"", identity.trim_end_matches('"'))
}

#[tokio::test]
async fn each_coding_gets_its_own_tag() {
    let identity = identity_tag().await;
    let (gzip, _) = send(&[("accept-encoding", "gzip")]).await;
    let (br, _) = send(&[("accept-encoding", "br")]).await;
    let (none, _) = send(&[]).await;
    assert_eq!(gzip.header("content-encoding"), Some("gzip"));
    assert_eq!(br.header("content-encoding"), Some("br"));
    assert_eq!(gzip.header("etag"), Some(coded(&identity, "gzip").as_str()));
    assert_eq!(br.header("etag"), Some(coded(&identity, "br").as_str()));
    assert_eq!(none.header("etag"), Some(identity.as_str()));
    for answer in [&gzip, &br, &none] {
        assert!(
            answer
                .headers
                .get_all("vary")
                .iter()
                .any(|v| v.to_str().unwrap().contains("accept-encoding")),
            "every variant varies on Accept-Encoding: {answer:?}"
        );
        assert_eq!(
            answer.headers.get_all("etag").iter().count(),
            1,
            "exactly one ETag"
        );
    }
    assert_eq!(gunzip(&gzip.body), document());
    assert_eq!(none.body, document());
}

#[tokio::test]
async fn coded_tags_round_trip() {
    let identity = identity_tag().await;
    let gzip = coded(&identity, "gzip");
    let br = coded(&identity, "br");
    let both = format!("{gzip}, {br}");
    #[rustfmt::skip]
    let cases: Vec<(&str, Fields<'_>, StatusCode, &str)> = vec![
        ("gzip_tag_gzip_request_304", vec![("accept-encoding", "gzip"), ("if-none-match", &gzip)], StatusCode::NOT_MODIFIED, &gzip),
        ("gzip_tag_identity_request_200", vec![("accept-encoding", "identity"), ("if-none-match", &gzip)], StatusCode::OK, &identity),
        ("gzip_tag_no_accept_encoding_200", vec![("if-none-match", &gzip)], StatusCode::OK, &identity),
        ("identity_tag_gzip_request_200", vec![("accept-encoding", "gzip"), ("if-none-match", &identity)], StatusCode::OK, &gzip),
        ("identity_tag_identity_request_304", vec![("if-none-match", &identity)], StatusCode::NOT_MODIFIED, &identity),
        ("gzip_tag_br_request_200", vec![("accept-encoding", "br"), ("if-none-match", &gzip)], StatusCode::OK, &br),
        ("list_br_request_304", vec![("accept-encoding", "br"), ("if-none-match", &both)], StatusCode::NOT_MODIFIED, &br),
        ("if_match_gzip_tag_gzip_request", vec![("accept-encoding", "gzip"), ("if-match", &gzip)], StatusCode::OK, &gzip),
        ("if_match_identity_tag_gzip_request_412", vec![("accept-encoding", "gzip"), ("if-match", &identity)], StatusCode::PRECONDITION_FAILED, &gzip),
        ("if_range_identity_206", vec![("range", "bytes=0-9"), ("if-range", &identity)], StatusCode::PARTIAL_CONTENT, &identity),
        ("if_range_gzip_tag_identity_request_full", vec![("range", "bytes=0-9"), ("if-range", &gzip)], StatusCode::OK, &identity),
        // The layer does not hold compressed bytes, so it does not cut ranges out of them.
        ("if_range_gzip_tag_gzip_request_full", vec![("accept-encoding", "gzip"), ("range", "bytes=0-9"), ("if-range", &gzip)], StatusCode::OK, &gzip),
    ];
    for (name, fields, status, etag) in cases {
        let (answer, _) = send(&fields).await;
        assert_eq!(answer.status, status, "{name}: {answer:?}");
        assert_eq!(answer.header("etag"), Some(etag), "{name}");
        if status == StatusCode::NOT_MODIFIED {
            assert!(answer.body.is_empty(), "{name}");
            assert!(answer.header("content-encoding").is_none(), "{name}");
            assert!(
                answer
                    .headers
                    .get_all("vary")
                    .iter()
                    .any(|v| v.to_str().unwrap().contains("accept-encoding")),
                "{name}: the 304 carries Vary"
            );
        }
        if status == StatusCode::PARTIAL_CONTENT {
            assert_eq!(answer.body, document()[..10], "{name}");
        }
    }
}

/// With a lookup, the lookup's tag is coded the same way, and a client's
/// coded tag is recognised before the handler runs.
#[tokio::test]
async fn lookup_tags_are_coded_and_recognised() {
    fn v7(_: &http::request::Parts) -> Ready<Option<Current>> {
        ready(Some(Current::new(
            Validators::new().with_etag(EntityTag::strong("v7").unwrap()),
        )))
    }
    /// One request: what goes in, what must come out, and whether the handler ran.
    struct Row {
        name: &'static str,
        method: &'static str,
        fields: StaticFields,
        status: StatusCode,
        etag: Option<&'static str>,
        called: bool,
    }
    let row = |name, method, fields, status, etag, called| Row {
        name,
        method,
        fields,
        status,
        etag,
        called,
    };
    #[rustfmt::skip]
    let cases = [
        row("gzip_200_coded_tag", "GET", &[("accept-encoding", "gzip")], StatusCode::OK, Some("\"v7-gzip\""), true),
        row("identity_200_plain_tag", "GET", &[], StatusCode::OK, Some("\"v7\""), true),
        row("gzip_tag_gzip_request_304_before_handler", "GET", &[("accept-encoding", "gzip"), ("if-none-match", "\"v7-gzip\"")], StatusCode::NOT_MODIFIED, Some("\"v7-gzip\""), false),
        row("gzip_tag_identity_request_runs_handler", "GET", &[("accept-encoding", "identity"), ("if-none-match", "\"v7-gzip\"")], StatusCode::OK, Some("\"v7\""), true),
        row("stale_gzip_tag_runs_handler", "GET", &[("accept-encoding", "gzip"), ("if-none-match", "\"v6-gzip\"")], StatusCode::OK, Some("\"v7-gzip\""), true),
        row("put_if_match_gzip_tag_runs", "PUT", &[("if-match", "\"v7-gzip\"")], StatusCode::OK, None, true),
        row("put_if_match_stale_gzip_tag_412", "PUT", &[("if-match", "\"v6-gzip\"")], StatusCode::PRECONDITION_FAILED, Some("\"v7\""), false),
    ];
    for with_etag_layer in [false, true] {
        for Row {
            name,
            method,
            fields,
            status,
            etag,
            called,
        } in &cases
        {
            let seen = Seen::default();
            let outer = ServiceBuilder::new()
                .layer(layer().with_lookup(v7 as fn(&http::request::Parts) -> Ready<Option<Current>>))
                .layer(CompressionLayer::new());
            let response = if with_etag_layer {
                outer
                    .layer(ETagLayer::new())
                    .service(app_handler(seen.clone()))
                    .oneshot(request(method, fields))
                    .await
                    .unwrap()
                    .map(http_body_util::BodyExt::boxed_unsync)
            } else {
                outer
                    .service(app_handler(seen.clone()))
                    .oneshot(request(method, fields))
                    .await
                    .unwrap()
                    .map(http_body_util::BodyExt::boxed_unsync)
            };
            let answer = read(response).await;
            assert_eq!(
                answer.status, *status,
                "{name} (ETagLayer: {with_etag_layer}): {answer:?}"
            );
            assert_eq!(
                answer.header("etag"),
                *etag,
                "{name} (ETagLayer: {with_etag_layer})"
            );
            assert_eq!(
                seen.calls(),
                usize::from(*called),
                "{name} (ETagLayer: {with_etag_layer})"
            );
        }
    }
}
