//! Conditional GET and HEAD against the tags and dates of the handler's
//! response: the layer hashes the body, then evaluates.

use http::StatusCode;

use crate::support::{
    DOC, MODIFIED, NOW, OwnedFields, doc_etag, handler, http_date, json_handler, layer, request, send,
};

/// Replaces `{T}` with the document's tag and `{T-weak}` with its weak form.
fn fill(value: &str, tag: &str) -> String {
    value.replace("{T-weak}", &format!("W/{tag}")).replace("{T}", tag)
}

#[tokio::test]
async fn hashed_tag_is_strong_stable_and_set_once() {
    let tag = doc_etag().await;
    assert!(tag.starts_with('"') && !tag.starts_with("W/"), "{tag}");
    assert_eq!(tag.len(), 34, "32 hex digits in quotes: {tag}");
    assert_eq!(doc_etag().await, tag);
}

#[tokio::test]
async fn conditional_get_table() {
    let tag = doc_etag().await;
    let modified = http_date(MODIFIED);
    let earlier = http_date(MODIFIED - 1);
    let future = http_date(NOW + 3600);
    #[rustfmt::skip]
    let cases: &[(&str, &str, OwnedFields<'_>, StatusCode)] = &[
        ("unconditional", "GET", vec![], StatusCode::OK),
        ("inm_match", "GET", vec![("if-none-match", "{T}".into())], StatusCode::NOT_MODIFIED),
        ("inm_weak_form_matches_weakly", "GET", vec![("if-none-match", "{T-weak}".into())], StatusCode::NOT_MODIFIED),
        ("inm_list_with_match", "GET", vec![("if-none-match", "\"x\", W/\"y\", {T}".into())], StatusCode::NOT_MODIFIED),
        ("inm_list_on_two_lines", "GET", vec![("if-none-match", "\"x\"".into()), ("if-none-match", "{T}".into())], StatusCode::NOT_MODIFIED),
        ("inm_star", "GET", vec![("if-none-match", "*".into())], StatusCode::NOT_MODIFIED),
        ("inm_other", "GET", vec![("if-none-match", "\"other\"".into())], StatusCode::OK),
        ("inm_invalid_is_ignored", "GET", vec![("if-none-match", "not-a-tag".into())], StatusCode::OK),
        ("ims_equal", "GET", vec![("if-modified-since", modified.clone())], StatusCode::NOT_MODIFIED),
        ("ims_earlier", "GET", vec![("if-modified-since", earlier.clone())], StatusCode::OK),
        // DEVIATION(future-ims) in revalidate-core: a date past the server's clock is ignored.
        ("ims_in_the_future_is_ignored", "GET", vec![("if-modified-since", future)], StatusCode::OK),
        ("ims_invalid_is_ignored", "GET", vec![("if-modified-since", "yesterday".into())], StatusCode::OK),
        // RFC 9110 §13.1.3: "A recipient MUST ignore If-Modified-Since if the request contains an If-None-Match".
        ("inm_miss_beats_ims_hit", "GET", vec![("if-none-match", "\"other\"".into()), ("if-modified-since", modified.clone())], StatusCode::OK),
        ("inm_hit_beats_ims_miss", "GET", vec![("if-none-match", "{T}".into()), ("if-modified-since", earlier.clone())], StatusCode::NOT_MODIFIED),
        ("if_match_current", "GET", vec![("if-match", "{T}".into())], StatusCode::OK),
        ("if_match_other", "GET", vec![("if-match", "\"other\"".into())], StatusCode::PRECONDITION_FAILED),
        // §13.1.1: If-Match uses the strong comparison, which a weak tag never passes.
        ("if_match_weak_form_fails", "GET", vec![("if-match", "{T-weak}".into())], StatusCode::PRECONDITION_FAILED),
        ("ius_after_modification", "GET", vec![("if-unmodified-since", modified.clone())], StatusCode::OK),
        ("ius_before_modification", "GET", vec![("if-unmodified-since", earlier)], StatusCode::PRECONDITION_FAILED),
        // The byte-for-byte fast path for a sole If-None-Match must not skip the fields §13.2.2 evaluates first.
        ("inm_match_with_if_match_other_fails", "GET", vec![("if-match", "\"other\"".into()), ("if-none-match", "{T}".into())], StatusCode::PRECONDITION_FAILED),
        ("inm_match_with_ius_before_modification_fails", "GET", vec![("if-unmodified-since", http_date(MODIFIED - 1)), ("if-none-match", "{T}".into())], StatusCode::PRECONDITION_FAILED),
        ("head_inm_match", "HEAD", vec![("if-none-match", "{T}".into())], StatusCode::NOT_MODIFIED),
        ("head_ims_equal", "HEAD", vec![("if-modified-since", modified)], StatusCode::NOT_MODIFIED),
        // §13.2.1: preconditions are ignored for OPTIONS.
        ("options_ignores_inm", "OPTIONS", vec![("if-none-match", "{T}".into())], StatusCode::OK),
    ];
    for (name, method, fields, expected) in cases {
        let filled: Vec<(&str, String)> = fields.iter().map(|(n, v)| (*n, fill(v, &tag))).collect();
        let fields: Vec<(&str, &str)> = filled.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let (service, seen) = json_handler();
        let answer = send(&layer(), service, request(method, &fields)).await;
        assert_eq!(answer.status, *expected, "{name}: {answer:?}");
        assert_eq!(
            seen.calls(),
            1,
            "{name}: without a lookup the handler always runs"
        );
        match answer.status {
            StatusCode::OK if *method == "GET" => {
                assert_eq!(answer.body, DOC.as_bytes(), "{name}");
                assert_eq!(answer.header("etag"), Some(tag.as_str()), "{name}");
            }
            StatusCode::NOT_MODIFIED => {
                assert!(answer.body.is_empty(), "{name}: a 304 has no body");
                assert_eq!(answer.header("etag"), Some(tag.as_str()), "{name}");
            }
            StatusCode::PRECONDITION_FAILED => {
                assert_eq!(
                    answer.header("content-type"),
                    Some("application/problem+json"),
                    "{name}"
                );
                let problem: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
                assert_eq!(problem["status"], 412, "{name}");
                assert_eq!(
                    answer.header("etag"),
                    Some(tag.as_str()),
                    "{name}: the 412 names the current tag"
                );
            }
            _ => {}
        }
    }
}

/// RFC 9110 §15.4.5: the 304 carries Cache-Control, Content-Location, Date,
/// ETag, Expires and Vary as the 200 would, and no content metadata.
#[tokio::test]
async fn not_modified_header_set() {
    let headers = [
        ("content-type", "application/json"),
        ("content-language", "en"),
        ("cache-control", "max-age=60"),
        ("content-location", "/doc.json"),
        ("date", "Wed, 18 Feb 2026 00:00:00 GMT"),
        ("expires", "Wed, 18 Feb 2026 00:01:00 GMT"),
        ("vary", "accept-language"),
        ("last-modified", "Tue, 17 Feb 2026 00:00:00 GMT"),
        ("set-cookie", "seen=1"),
        ("x-app", "kept"),
    ];
    let (service, _) = handler(StatusCode::OK, &headers, DOC);
    let ok = send(&layer(), service, request("GET", &[])).await;
    let tag = ok.header("etag").unwrap().to_owned();
    assert_eq!(ok.header("content-type"), Some("application/json"));

    let (service, _) = handler(StatusCode::OK, &headers, DOC);
    let answer = send(&layer(), service, request("GET", &[("if-none-match", &tag)])).await;
    assert_eq!(answer.status, StatusCode::NOT_MODIFIED);
    for kept in [
        "cache-control",
        "content-location",
        "date",
        "etag",
        "expires",
        "vary",
        "set-cookie",
        "x-app",
    ] {
        assert_eq!(answer.headers.get(kept), ok.headers.get(kept), "{kept} is kept");
    }
    for dropped in [
        "content-type",
        "content-language",
        "content-length",
        "accept-ranges",
        "last-modified",
    ] {
        assert!(
            answer.headers.get(dropped).is_none(),
            "{dropped} is dropped: {answer:?}"
        );
    }
}

#[tokio::test]
async fn head_has_the_get_fields_and_no_body() {
    let (service, _) = json_handler();
    let get = send(&layer(), service, request("GET", &[])).await;
    let (service, _) = json_handler();
    let head = send(&layer(), service, request("HEAD", &[])).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_eq!(head.header("etag"), get.header("etag"));
    assert_eq!(
        head.header("content-length"),
        Some(DOC.len().to_string().as_str())
    );
    assert_eq!(head.header("accept-ranges"), Some("bytes"));
}

/// A handler's own tag wins, weak or strong, and is compared as the RFC
/// says: weakly for If-None-Match, strongly for If-Match.
#[tokio::test]
async fn handler_weak_tag_is_respected() {
    let fields = [("content-type", "application/json"), ("etag", "W/\"rev-9\"")];
    #[rustfmt::skip]
    let cases: &[(&str, &str, &str, StatusCode)] = &[
        ("no_condition_keeps_tag", "if-modified-since", "nonsense", StatusCode::OK),
        ("inm_weak_equal", "if-none-match", "W/\"rev-9\"", StatusCode::NOT_MODIFIED),
        ("inm_strong_form_weak_compare", "if-none-match", "\"rev-9\"", StatusCode::NOT_MODIFIED),
        ("if_match_weak_never_passes", "if-match", "W/\"rev-9\"", StatusCode::PRECONDITION_FAILED),
    ];
    for (name, field, value, expected) in cases {
        let (service, _) = handler(StatusCode::OK, &fields, DOC);
        let answer = send(&layer(), service, request("GET", &[(field, value)])).await;
        assert_eq!(answer.status, *expected, "{name}");
        assert_eq!(
            answer.header("etag"),
            Some("W/\"rev-9\""),
            "{name}: the handler's tag is kept"
        );
    }
}

#[tokio::test]
async fn different_bodies_get_different_tags() {
    let (a, _) = handler(
        StatusCode::OK,
        &[("content-type", "application/json")],
        "{\"v\":1}",
    );
    let (b, _) = handler(
        StatusCode::OK,
        &[("content-type", "application/json")],
        "{\"v\":2}",
    );
    let a = send(&layer(), a, request("GET", &[])).await;
    let b = send(&layer(), b, request("GET", &[])).await;
    assert_ne!(a.header("etag"), b.header("etag"));
}

/// Responses to other methods are not the selected representation: no tag.
#[tokio::test]
async fn post_response_is_not_tagged() {
    let (service, seen) = json_handler();
    let tag = doc_etag().await;
    let answer = send(&layer(), service, request("POST", &[("if-none-match", &tag)])).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(seen.calls(), 1);
    assert!(answer.header("etag").is_none());
    assert_eq!(answer.body, DOC.as_bytes());
}

/// The 304 of an exact `If-None-Match` (answered before any parsing) and
/// the 304 of the tag's weak form (answered by the core's evaluation) carry
/// the same fields.
#[tokio::test]
async fn sole_if_none_match_fast_path_sends_the_core_header_set() {
    let tag = doc_etag().await;
    let mut answers = Vec::new();
    for value in [tag.clone(), format!("W/{tag}")] {
        let (service, _) = json_handler();
        let answer = send(
            &layer(),
            service,
            request("GET", &[("if-none-match", value.as_str())]),
        )
        .await;
        assert_eq!(answer.status, StatusCode::NOT_MODIFIED, "{value}");
        let mut names: Vec<String> = answer.headers.keys().map(|n| n.as_str().to_owned()).collect();
        names.sort();
        answers.push((names, answer.header("etag").map(str::to_owned)));
    }
    assert_eq!(answers[0], answers[1]);
}
