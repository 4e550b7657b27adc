//! Invalidation (RFC 9111 §4.4) and `Cache-Status` (RFC 9211) beyond the
//! rows in `cache.rs`.

use http::{Method, StatusCode, Uri};
use revalidate_core::cache::*;

use crate::support::headers;

#[test]
fn invalidation_reference_resolution_table() {
    let target: Uri = "http://example.test/a/b?q=1".parse().unwrap();
    #[allow(clippy::type_complexity)]
    let cases: &[(&str, Method, &[(&str, &str)], &[&str])] = &[
        (
            "invalidate-M-SEARCH: a method of unknown safety invalidates",
            Method::from_bytes(b"M-SEARCH").unwrap(),
            &[],
            &["http://example.test/a/b?q=1"],
        ),
        (
            "RFC 3986 §5.2.4: dot segments are removed",
            Method::POST,
            &[("location", "../c/./d"), ("content-location", "/x/../y")],
            &[
                "http://example.test/a/b?q=1",
                "http://example.test/c/d",
                "http://example.test/y",
            ],
        ),
        (
            "a query-only reference keeps the path",
            Method::PUT,
            &[("location", "?page=2")],
            &["http://example.test/a/b?q=1", "http://example.test/a/b?page=2"],
        ),
        (
            "a fragment is dropped; a fragment-only reference is the target itself",
            Method::PUT,
            &[("location", "c#top"), ("content-location", "#frag")],
            &["http://example.test/a/b?q=1", "http://example.test/a/c"],
        ),
        (
            "§4.4 MUST NOT: another scheme is another origin",
            Method::DELETE,
            &[("location", "https://example.test/a/c")],
            &["http://example.test/a/b?q=1"],
        ),
        (
            "§4.4 MUST NOT: another port is another origin",
            Method::DELETE,
            &[("location", "http://example.test:8080/a/c")],
            &["http://example.test/a/b?q=1"],
        ),
        (
            "a network-path reference on the same host",
            Method::PATCH,
            &[("location", "//EXAMPLE.test/z")],
            &["http://example.test/a/b?q=1", "http://EXAMPLE.test/z"],
        ),
        (
            "an unparsable Location is skipped",
            Method::POST,
            &[("location", "http://[bad")],
            &["http://example.test/a/b?q=1"],
        ),
    ];
    for (name, method, response, expected) in cases {
        let got = invalidation_targets(method, StatusCode::OK, &target, &headers(response));
        let got: Vec<String> = got.iter().map(ToString::to_string).collect();
        assert_eq!(got, *expected, "{name}");
    }
    // invalidate-POST-failed: a 5xx invalidates nothing.
    assert!(invalidation_targets(&Method::POST, StatusCode::BAD_GATEWAY, &target, &headers(&[])).is_empty());
}

#[test]
fn cache_status_forward_tokens() {
    // RFC 9211 §2.2: every fwd value.
    let cases = [
        (Forward::Bypass, "bypass"),
        (Forward::Method, "method"),
        (Forward::UriMiss, "uri-miss"),
        (Forward::VaryMiss, "vary-miss"),
        (Forward::Miss, "miss"),
        (Forward::Request, "request"),
        (Forward::Stale, "stale"),
        (Forward::Partial, "partial"),
    ];
    for (forward, token) in cases {
        assert_eq!(
            CacheStatus::forward("c", forward).to_text(),
            format!("c; fwd={token}")
        );
    }
    assert_eq!(
        CacheStatus::hit("edge").ttl(-5).detail("stale served").to_text(),
        r#"edge; hit; ttl=-5; detail="stale served""#
    );
    // A non-ASCII name cannot break the field value.
    let value = CacheStatus::hit("caché").to_header_value();
    assert_eq!(value, r#""cach?"; hit"#);
}
