//! The 304 header set: RFC 9110 §15.4.5.

use http::StatusCode;
use revalidate_core::{
    NOT_MODIFIED_DROPS, not_modified_headers, not_modified_response, strip_to_not_modified,
};

use crate::support::headers;

/// The headers of a typical 200 for a static asset.
fn full_200() -> http::HeaderMap {
    headers(&[
        ("date", "Fri, 26 Mar 2010 00:05:00 GMT"),
        ("etag", "\"1\""),
        ("last-modified", "Thu, 25 Mar 2010 00:00:00 GMT"),
        ("cache-control", "public, max-age=3600"),
        ("expires", "Fri, 26 Mar 2010 01:05:00 GMT"),
        ("vary", "Accept-Encoding"),
        ("vary", "Accept-Language"),
        ("content-location", "/index.en"),
        ("content-type", "text/plain"),
        ("content-encoding", "gzip"),
        ("content-language", "en"),
        ("content-length", "70"),
        ("accept-ranges", "bytes"),
        ("content-disposition", "inline"),
        ("repr-digest", "sha-256=:x:"),
        ("set-cookie", "a=b"),
        ("x-request-id", "42"),
    ])
}

/// "The server generating a 304 response MUST generate any of the following
/// header fields that would have been sent in a 200 (OK) response to the
/// same request: Content-Location, Date, ETag, and Vary; Cache-Control and
/// Expires".
#[test]
fn rfc9110_15_4_5_must_fields_are_kept() {
    let ok = full_200();
    let h = not_modified_headers(&ok);
    for name in [
        "content-location",
        "date",
        "etag",
        "vary",
        "cache-control",
        "expires",
    ] {
        let before: Vec<_> = ok.get_all(name).iter().collect();
        let after: Vec<_> = h.get_all(name).iter().collect();
        assert_eq!(before, after, "{name}");
    }
    assert_eq!(h.get_all("vary").iter().count(), 2, "every Vary line is kept");
}

/// "a sender SHOULD NOT generate representation metadata other than the
/// above listed fields unless said metadata exists for the purpose of
/// guiding cache updates".
#[test]
fn rfc9110_15_4_5_representation_metadata_is_dropped() {
    let h = not_modified_headers(&full_200());
    for name in NOT_MODIFIED_DROPS {
        assert!(!h.contains_key(*name), "{name} must be dropped");
    }
    assert!(
        !h.contains_key("last-modified"),
        "ETag present: Last-Modified adds nothing"
    );
    assert!(
        h.contains_key("set-cookie") && h.contains_key("x-request-id"),
        "not representation metadata"
    );
}

/// "(e.g., Last-Modified might be useful if the response does not have an
/// ETag field)".
#[test]
fn last_modified_kept_without_etag() {
    let mut ok = full_200();
    ok.remove("etag");
    let h = not_modified_headers(&ok);
    assert_eq!(h.get("last-modified").unwrap(), "Thu, 25 Mar 2010 00:00:00 GMT");
}

/// The in-place form and the allocating form agree; the response is a
/// bodiless 304.
#[test]
fn in_place_and_response_forms_agree() {
    let mut in_place = full_200();
    strip_to_not_modified(&mut in_place);
    assert_eq!(in_place, not_modified_headers(&full_200()));
    let response = not_modified_response(&full_200());
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(response.headers(), &in_place);
}

/// The seed pages' example exchange: a 304 carries ETag and Cache-Control.
#[test]
fn seed_example_304() {
    let ok = headers(&[
        ("etag", "\"abc123\""),
        ("cache-control", "public, max-age=3600"),
        ("content-type", "text/css"),
        ("content-length", "5120"),
    ]);
    let h = not_modified_headers(&ok);
    let names: Vec<_> = h.keys().map(http::HeaderName::as_str).collect();
    assert_eq!(names, ["etag", "cache-control"]);
}
