//! Byte ranges of dynamic responses: the layer cuts them out of the bytes
//! it read, after checking `If-Range` against the current validators.

use http::StatusCode;

use crate::support::{
    DOC, Fields, MODIFIED, doc_etag, handler, http_date, json_handler, layer, request, send,
};

#[tokio::test]
async fn range_table() {
    let tag = doc_etag().await;
    let weak = format!("W/{tag}");
    let len = DOC.len();
    let modified = http_date(MODIFIED);
    let other_date = http_date(MODIFIED - 10);
    let last = format!("bytes={}-", len - 1);
    #[rustfmt::skip]
    let cases: Vec<(&str, Fields<'_>, StatusCode, &[u8])> = vec![
        ("range_without_if_range", vec![("range", "bytes=0-5")], StatusCode::PARTIAL_CONTENT, &DOC.as_bytes()[0..=5]),
        ("suffix_range", vec![("range", "bytes=-4")], StatusCode::PARTIAL_CONTENT, &DOC.as_bytes()[len - 4..]),
        ("open_range_last_byte", vec![("range", &last)], StatusCode::PARTIAL_CONTENT, &DOC.as_bytes()[len - 1..]),
        ("if_range_current_tag", vec![("range", "bytes=1-3"), ("if-range", &tag)], StatusCode::PARTIAL_CONTENT, &DOC.as_bytes()[1..=3]),
        ("if_range_stale_tag_full", vec![("range", "bytes=1-3"), ("if-range", "\"stale\"")], StatusCode::OK, DOC.as_bytes()),
        // §13.1.5: If-Range uses the strong comparison.
        ("if_range_weak_tag_full", vec![("range", "bytes=1-3"), ("if-range", &weak)], StatusCode::OK, DOC.as_bytes()),
        ("if_range_exact_date", vec![("range", "bytes=1-3"), ("if-range", &modified)], StatusCode::PARTIAL_CONTENT, &DOC.as_bytes()[1..=3]),
        ("if_range_other_date_full", vec![("range", "bytes=1-3"), ("if-range", &other_date)], StatusCode::OK, DOC.as_bytes()),
        ("if_range_garbage_full", vec![("range", "bytes=1-3"), ("if-range", "garbage")], StatusCode::OK, DOC.as_bytes()),
        ("past_the_end_416", vec![("range", "bytes=9999-")], StatusCode::RANGE_NOT_SATISFIABLE, b""),
        // Several ranges get a multipart 206: `two_ranges_get_a_multipart_206`.
        ("unknown_unit_full", vec![("range", "items=0-1")], StatusCode::OK, DOC.as_bytes()),
        // A range covering everything is still a 206 (the core's policy).
        ("whole_range_206", vec![("range", "bytes=0-")], StatusCode::PARTIAL_CONTENT, DOC.as_bytes()),
        // If-None-Match is evaluated before Range (§13.2.2 step 3 before 5).
        ("inm_match_beats_range", vec![("range", "bytes=0-1"), ("if-none-match", &tag)], StatusCode::NOT_MODIFIED, b""),
    ];
    for (name, fields, status, body) in cases {
        let (service, seen) = json_handler();
        let answer = send(&layer(), service, request("GET", &fields)).await;
        assert_eq!(answer.status, status, "{name}: {answer:?}");
        if status == StatusCode::RANGE_NOT_SATISFIABLE {
            assert_eq!(
                answer.header("content-range"),
                Some(format!("bytes */{len}").as_str()),
                "{name}"
            );
            assert_eq!(
                answer.header("content-type"),
                Some("application/problem+json"),
                "{name}"
            );
            continue;
        }
        assert_eq!(&answer.body[..], body, "{name}");
        if status == StatusCode::PARTIAL_CONTENT {
            let start = DOC
                .as_bytes()
                .windows(body.len())
                .position(|w| w == body)
                .unwrap();
            let expected = format!("bytes {start}-{}/{len}", start + body.len() - 1);
            assert_eq!(answer.header("content-range"), Some(expected.as_str()), "{name}");
            assert_eq!(
                answer.header("content-length"),
                Some(body.len().to_string().as_str()),
                "{name}"
            );
            assert_eq!(
                answer.header("etag"),
                Some(tag.as_str()),
                "{name}: a 206 names the full representation"
            );
        }
        if fields.iter().any(|(n, _)| *n == "if-range") {
            assert!(
                seen.last_request().get("range").is_none(),
                "{name}: with If-Range the handler is asked for the whole representation"
            );
        }
    }
}

#[tokio::test]
async fn head_ignores_range() {
    let (service, _) = json_handler();
    let answer = send(&layer(), service, request("HEAD", &[("range", "bytes=0-1")])).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.is_empty());
}

/// A handler that serves ranges itself gets `Range` when there is no
/// `If-Range`, and its 206 goes out as it is.
#[tokio::test]
async fn handler_206_passes() {
    let (service, seen) = handler(
        StatusCode::PARTIAL_CONTENT,
        &[("content-range", "bytes 0-1/100"), ("etag", "\"file-1\"")],
        "ab",
    );
    let answer = send(&layer(), service, request("GET", &[("range", "bytes=0-1")])).await;
    assert_eq!(answer.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(answer.body, "ab");
    assert_eq!(seen.last_request()["range"], "bytes=0-1");
}

#[tokio::test]
async fn ranges_can_be_switched_off() {
    let (service, seen) = json_handler();
    let answer = send(
        &layer().ranges(false),
        service,
        request("GET", &[("range", "bytes=0-1")]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, DOC.as_bytes());
    assert!(answer.header("accept-ranges").is_none());
    assert_eq!(seen.last_request()["range"], "bytes=0-1");
}
