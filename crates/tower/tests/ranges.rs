//! Byte ranges of dynamic responses: the layer cuts them out of the bytes
//! it read, after checking `If-Range` against the current validators, as
//! the core's plan says (one range or a whole-body range: 206; several: a
//! `multipart/byteranges` 206; none overlapping: 416).

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

/// `bytes=0-` asks for everything: a 206 whose `Content-Range` names the
/// whole representation, not a 200 (media players send it to learn
/// whether ranges work, and read a 200 as "no").
#[tokio::test]
async fn whole_range_gets_206() {
    let tag = doc_etag().await;
    let len = DOC.len();
    let (service, _) = json_handler();
    let answer = send(&layer(), service, request("GET", &[("range", "bytes=0-")])).await;
    assert_eq!(answer.status, StatusCode::PARTIAL_CONTENT, "{answer:?}");
    let whole = format!("bytes 0-{}/{len}", len - 1);
    assert_eq!(answer.header("content-range"), Some(whole.as_str()));
    assert_eq!(answer.header("content-length"), Some(len.to_string().as_str()));
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.header("accept-ranges"), Some("bytes"));
    assert_eq!(answer.header("etag"), Some(tag.as_str()));
    assert_eq!(answer.body, DOC.as_bytes());
}

/// Two ranges: one `multipart/byteranges` 206 (RFC 9110 §14.6), each part
/// with the representation's media type and its own `Content-Range`, the
/// boundary taken from the entity-tag, and no `Content-Range` in the
/// header section (§15.3.7.2).
#[tokio::test]
async fn two_ranges_get_a_multipart_206() {
    let tag = doc_etag().await;
    let len = DOC.len();
    let boundary = format!("revalidate-{}", tag.trim_matches('"'));
    let expected = format!(
        "--{boundary}\r\nContent-Type: application/json\r\nContent-Range: bytes 0-1/{len}\r\n\r\n{{\"\
         \r\n--{boundary}\r\nContent-Type: application/json\r\nContent-Range: bytes 4-5/{len}\r\n\r\n\":\
         \r\n--{boundary}--\r\n"
    );
    let (service, _) = json_handler();
    let answer = send(&layer(), service, request("GET", &[("range", "bytes=0-1,4-5")])).await;
    assert_eq!(answer.status, StatusCode::PARTIAL_CONTENT, "{answer:?}");
    assert_eq!(
        answer.header("content-type"),
        Some(format!("multipart/byteranges; boundary={boundary}").as_str())
    );
    assert_eq!(answer.body, expected.as_bytes());
    assert_eq!(
        answer.header("content-length"),
        Some(expected.len().to_string().as_str())
    );
    assert!(answer.header("content-range").is_none(), "{answer:?}");
    assert_eq!(answer.header("etag"), Some(tag.as_str()));
    assert_eq!(answer.header("cache-control"), Some("max-age=60"));
    assert_eq!(answer.header("accept-ranges"), Some("bytes"));

    // With a current If-Range the same ranges are served.
    let (service, seen) = json_handler();
    let guarded = send(
        &layer(),
        service,
        request("GET", &[("range", "bytes=0-1,4-5"), ("if-range", &tag)]),
    )
    .await;
    assert_eq!(guarded.status, StatusCode::PARTIAL_CONTENT, "{guarded:?}");
    assert_eq!(guarded.body, expected.as_bytes());
    assert!(seen.last_request().get("range").is_none());
}

/// A handler's own tag names the boundary; a response without
/// `Content-Type` gets `application/octet-stream` parts. Ranges keep the
/// order asked.
#[tokio::test]
async fn multipart_parts_in_the_order_asked() {
    let (service, _) = handler(StatusCode::OK, &[("etag", "\"v1\"")], "abcdefgh");
    let answer = send(&layer(), service, request("GET", &[("range", "bytes=4-5,0-2")])).await;
    let expected = "--revalidate-v1\r\n\
                    Content-Type: application/octet-stream\r\n\
                    Content-Range: bytes 4-5/8\r\n\
                    \r\n\
                    ef\r\n\
                    --revalidate-v1\r\n\
                    Content-Type: application/octet-stream\r\n\
                    Content-Range: bytes 0-2/8\r\n\
                    \r\n\
                    abc\r\n\
                    --revalidate-v1--\r\n";
    assert_eq!(answer.status, StatusCode::PARTIAL_CONTENT, "{answer:?}");
    assert_eq!(
        answer.header("content-type"),
        Some("multipart/byteranges; boundary=revalidate-v1")
    );
    assert_eq!(answer.body, expected.as_bytes());
    assert_eq!(
        answer.header("content-length"),
        Some(expected.len().to_string().as_str())
    );
    assert_eq!(answer.header("etag"), Some("\"v1\""));
}

/// A body the handler coded itself (`Content-Encoding`): several ranges
/// get the whole 200, as from the origin (a multipart body under the
/// outer `Content-Encoding` would claim the multipart itself is coded,
/// RFC 9110 §8.4); one range of the coded bytes is a 206 with the coding.
#[tokio::test]
async fn a_coded_body_gets_no_multipart() {
    let fields = [("etag", "\"v1\""), ("content-encoding", "gzip")];
    let (service, _) = handler(StatusCode::OK, &fields, "abcdefgh");
    let answer = send(&layer(), service, request("GET", &[("range", "bytes=4-5,0-2")])).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(answer.body, b"abcdefgh".as_slice());
    assert_eq!(answer.header("content-encoding"), Some("gzip"));
    let (service, _) = handler(StatusCode::OK, &fields, "abcdefgh");
    let answer = send(&layer(), service, request("GET", &[("range", "bytes=4-5")])).await;
    assert_eq!(answer.status, StatusCode::PARTIAL_CONTENT, "{answer:?}");
    assert_eq!(answer.body, b"ef".as_slice());
    assert_eq!(answer.header("content-range"), Some("bytes 4-5/8"));
}

/// HEAD has no range handling (RFC 9110 §14.2: GET is the only method
/// for which it is defined): one range or several, a 200 with the GET's
/// header fields and no body.
#[tokio::test]
async fn head_with_range_gets_200_without_body() {
    let tag = doc_etag().await;
    for range in ["bytes=0-1", "bytes=0-", "bytes=0-1,4-5", "bytes=9999-"] {
        let (service, _) = json_handler();
        let answer = send(&layer(), service, request("HEAD", &[("range", range)])).await;
        assert_eq!(answer.status, StatusCode::OK, "{range}: {answer:?}");
        assert!(answer.body.is_empty(), "{range}");
        assert!(answer.header("content-range").is_none(), "{range}");
        assert_eq!(
            answer.header("content-length"),
            Some(DOC.len().to_string().as_str()),
            "{range}"
        );
        assert_eq!(answer.header("content-type"), Some("application/json"), "{range}");
        assert_eq!(answer.header("etag"), Some(tag.as_str()), "{range}");
    }
}

/// An `If-Range` that names another version makes the `Range` ignored
/// (RFC 9110 §13.1.5): the whole representation with 200, for one range
/// and for several, and never a 416.
#[tokio::test]
async fn if_range_mismatch_gets_the_whole_200() {
    let other_date = http_date(MODIFIED - 10);
    #[rustfmt::skip]
    let cases: Vec<(&str, &str)> = vec![
        ("bytes=1-3", "\"stale\""),
        ("bytes=0-1,4-5", "\"stale\""),
        ("bytes=0-", "\"stale\""),
        ("bytes=9999-", "\"stale\""),
        ("bytes=1-3", &other_date),
    ];
    for (range, if_range) in cases {
        let (service, seen) = json_handler();
        let answer = send(
            &layer(),
            service,
            request("GET", &[("range", range), ("if-range", if_range)]),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{range} {if_range}: {answer:?}");
        assert_eq!(answer.body, DOC.as_bytes(), "{range} {if_range}");
        assert!(answer.header("content-range").is_none(), "{range} {if_range}");
        assert_eq!(
            answer.header("content-type"),
            Some("application/json"),
            "{range} {if_range}"
        );
        assert!(
            seen.last_request().get("range").is_none(),
            "{range} {if_range}: the handler is asked for the whole representation"
        );
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
