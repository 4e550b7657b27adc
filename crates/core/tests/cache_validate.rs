//! Vary (RFC 9111 §4.1), validation (§4.3) and the 304 update (§3.2).

use http::{HeaderMap, Method, StatusCode};
use revalidate_core::cache::*;
use revalidate_core::{HttpDate, Outcome, Preconditions};

use crate::support::{CACHE_NOW as NOW, date_at as date, headers, secs};

#[test]
fn vary_normalisation_table() {
    #[allow(clippy::type_complexity)]
    let cases: &[(&str, &str, &[(&str, &str)], &[(&str, &str)], bool)] = &[
        (
            "vary-normalise-lang-order",
            "Accept-Language",
            &[("accept-language", "en, de")],
            &[("accept-language", "de, en")],
            true,
        ),
        (
            "vary-normalise-lang-case",
            "Accept-Language",
            &[("accept-language", "en, de")],
            &[("accept-language", "eN, De")],
            true,
        ),
        (
            "weights stay with their members",
            "accept-language",
            &[("accept-language", "en;q=0.5, de")],
            &[("accept-language", "de, EN; q=0.5")],
            true,
        ),
        (
            "different weights differ",
            "accept-language",
            &[("accept-language", "en;q=0.5, de")],
            &[("accept-language", "en, de;q=0.5")],
            false,
        ),
        (
            "accept-encoding is a token list too",
            "Accept-Encoding",
            &[("accept-encoding", "gzip, br")],
            &[("accept-encoding", "BR,gzip")],
            true,
        ),
        (
            "other fields keep case",
            "Foo",
            &[("foo", "a")],
            &[("foo", "A")],
            false,
        ),
        (
            "other fields keep order",
            "Foo",
            &[("foo", "a, b")],
            &[("foo", "b, a")],
            false,
        ),
        (
            "vary-normalise-combine",
            "Foo",
            &[("foo", "1, 2")],
            &[("foo", "1"), ("foo", "2")],
            true,
        ),
        ("absent differs from empty", "Foo", &[], &[("foo", "")], false),
        (
            "Vary names are case-insensitive",
            "FOO",
            &[("foo", "1")],
            &[("Foo", "1")],
            true,
        ),
        (
            "an empty Vary matches everything",
            "",
            &[("foo", "1")],
            &[("foo", "2")],
            true,
        ),
    ];
    for (name, vary, stored_request, request, expected) in cases {
        let response = headers(&[("vary", vary)]);
        let (a, b) = (headers(stored_request), headers(request));
        assert_eq!(vary_matches(&response, &a, &b), *expected, "{name}");
        // The edge's secondary key must agree with vary_matches.
        assert_eq!(
            secondary_key(&response, &a) == secondary_key(&response, &b),
            *expected,
            "{name}: secondary_key"
        );
    }
    assert!(!vary_matches(
        &headers(&[("vary", "*")]),
        &HeaderMap::new(),
        &HeaderMap::new()
    ));
    assert_eq!(
        secondary_key(&headers(&[("vary", "foo, *")]), &HeaderMap::new()),
        None
    );
}

#[test]
fn update304_header_list() {
    // cache-tests.fyi update304: which stored fields a 304 replaces (§3.2).
    let updated = [
        ("test-header", "A", "B"),
        ("content-foo", "A", "B"),
        ("cache-control", "max-age=1", "max-age=3600"),
        ("content-location", "/foo", "/bar"),
        (
            "content-security-policy",
            "default-src 'self'",
            "default-src 'self' cdn.example.com",
        ),
        ("content-type", "text/plain", "text/plain;charset=utf-8"),
        ("clear-site-data", "cache", "cookies"),
        (
            "expires",
            "Fri, 01 Jan 2038 01:01:01 GMT",
            "Mon, 11 Jan 2038 11:11:11 GMT",
        ),
        ("public-key-pins", "A", "B"),
        ("set-cookie", "a=b", "a=c"),
        ("x-frame-options", "deny", "sameorigin"),
    ];
    let kept = [
        ("content-encoding", "A", "B"),
        ("content-length", "5", "10"),
        (
            "content-md5",
            "rL0Y20zC+Fzt72VPzMSk2A==",
            "N7UdGUp1E+RbVvZSTy1R8g==",
        ),
        ("content-range", "A", "B"),
        ("etag", "\"abcdef\"", "\"ghijkl\""),
    ];
    for (name, old, new) in updated.iter().chain(kept.iter()) {
        let mut stored = headers(&[(name, old)]);
        update_stored_headers(&mut stored, &headers(&[(name, new)]));
        let expected = if kept.iter().any(|(k, _, _)| k == name) {
            old
        } else {
            new
        };
        assert_eq!(
            stored.get(*name).unwrap(),
            expected,
            "304-etag-update-response-{name}"
        );
    }
    // Fields the 304 marks hop-by-hop are not taken.
    let mut stored = headers(&[("x-a", "1")]);
    update_stored_headers(
        &mut stored,
        &headers(&[("connection", "x-a"), ("x-a", "2"), ("keep-alive", "5")]),
    );
    assert_eq!(stored.get("x-a").unwrap(), "1");
    assert!(!stored.contains_key("keep-alive") && !stored.contains_key("connection"));
    // Repeated fields replace the stored lines as a whole.
    let mut stored = headers(&[("set-cookie", "a=1"), ("set-cookie", "b=1")]);
    update_stored_headers(
        &mut stored,
        &headers(&[("set-cookie", "a=2"), ("set-cookie", "c=2")]),
    );
    let cookies: Vec<_> = stored.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=2", "c=2"]);
}

#[test]
fn validation_response_table() {
    let stored = headers(&[
        ("etag", "\"v1\""),
        ("last-modified", "Wed, 01 Jan 2020 00:00:00 GMT"),
    ]);
    #[allow(clippy::type_complexity)]
    let cases: &[(&str, u16, &[(&str, &str)], bool, Validation)] = &[
        (
            "§4.3.4: a 304 with the stored strong tag",
            304,
            &[("etag", "\"v1\"")],
            true,
            Validation::NotModified,
        ),
        (
            "§4.3.4 MUST NOT: a 304 naming another strong tag",
            304,
            &[("etag", "\"v2\"")],
            true,
            Validation::NotModifiedMismatch,
        ),
        (
            "304-lm-use-stored-Test-Header: a 304 with the same Last-Modified",
            304,
            &[("last-modified", "Wed, 01 Jan 2020 00:00:00 GMT")],
            false,
            Validation::NotModified,
        ),
        (
            "a 304 without validators answers what was asked",
            304,
            &[],
            true,
            Validation::NotModified,
        ),
        (
            "an unsolicited 304 without validators selects nothing",
            304,
            &[],
            false,
            Validation::NotModifiedMismatch,
        ),
        (
            "§4.3.3: a 5xx may let the stored one be served",
            503,
            &[],
            true,
            Validation::ServerError,
        ),
        (
            "§4.3.3: a full response replaces it",
            200,
            &[("etag", "\"v2\"")],
            true,
            Validation::Replace,
        ),
        ("a 404 replaces it too", 404, &[], true, Validation::Replace),
    ];
    for (name, status, response, asked, expected) in cases {
        let status = StatusCode::from_u16(*status).unwrap();
        assert_eq!(
            on_validation_response(status, &headers(response), &stored, *asked),
            *expected,
            "{name}"
        );
    }
}

#[test]
fn revalidation_request_replaces_the_clients_conditionals() {
    let stored = headers(&[("etag", "\"v1\""), ("last-modified", &date(NOW - 100))]);
    let client = headers(&[
        ("if-none-match", "\"client\""),
        ("if-modified-since", &date(NOW - 5)),
        ("range", "bytes=0-1"),
        ("if-range", "\"v1\""),
        ("accept", "text/html"),
        ("if-match", "\"v1\""),
    ]);
    let out = revalidation_request_headers([&stored], &client);
    assert_eq!(out.get("if-none-match").unwrap(), "\"v1\"");
    assert_eq!(out.get("if-modified-since").unwrap(), date(NOW - 100).as_str());
    assert!(!out.contains_key("range") && !out.contains_key("if-range"));
    assert_eq!(out.get("accept").unwrap(), "text/html");
    assert_eq!(out.get("if-match").unwrap(), "\"v1\"");
}

#[test]
fn stored_validators_answer_client_conditionals() {
    // §4.3.2, conditional-lm-fresh-no-lm: without Last-Modified, Date stands in.
    let map = headers(&[("date", &date(NOW - 10)), ("cache-control", "max-age=10000")]);
    let stored = Stored {
        status: StatusCode::OK,
        headers: &map,
        request_time: secs(NOW - 10),
        response_time: secs(NOW - 10),
    };
    let now = HttpDate::from_unix_seconds(NOW).unwrap();
    let ims = headers(&[("if-modified-since", &date(NOW - 3000))]);
    // The stored response (dated NOW-10) is newer than NOW-3000: modified.
    assert_eq!(
        Preconditions::from_headers(&ims).evaluate(&Method::GET, &stored_validators(&stored), now),
        Outcome::Proceed
    );
    let ims = headers(&[("if-modified-since", &date(NOW - 5))]);
    assert_eq!(
        Preconditions::from_headers(&ims).evaluate(&Method::GET, &stored_validators(&stored), now),
        Outcome::NotModified
    );
    // Neither Last-Modified nor Date: the arrival time.
    let bare = HeaderMap::new();
    let stored = Stored {
        headers: &bare,
        ..stored
    };
    assert_eq!(
        stored_validators(&stored).last_modified(),
        HttpDate::from_unix_seconds(NOW - 10)
    );
    // conditional-etag-precedence: the ETag decides.
    let map = headers(&[
        ("etag", "\"abcdef\""),
        ("last-modified", &date(NOW - 5000)),
        ("date", &date(NOW)),
    ]);
    let stored = Stored {
        headers: &map,
        ..stored
    };
    let request = headers(&[
        ("if-none-match", "\"abcdef\""),
        ("if-modified-since", &date(NOW - 6000)),
    ]);
    assert_eq!(
        Preconditions::from_headers(&request).evaluate(&Method::GET, &stored_validators(&stored), now),
        Outcome::NotModified
    );
}

#[test]
fn head_freshening_table() {
    #[allow(clippy::type_complexity)]
    let cases: &[(&str, &[(&str, &str)], &[(&str, &str)], bool)] = &[
        (
            "head-200-update: nothing to compare",
            &[("x", "1")],
            &[("x", "2")],
            true,
        ),
        (
            "§4.3.5: same strong tag",
            &[("etag", "\"a\"")],
            &[("etag", "\"a\"")],
            true,
        ),
        ("different tag", &[("etag", "\"a\"")], &[("etag", "\"b\"")], false),
        (
            "weak against strong compares weakly",
            &[("etag", "\"a\"")],
            &[("etag", "W/\"a\"")],
            true,
        ),
        (
            "different Last-Modified",
            &[("last-modified", "Wed, 01 Jan 2020 00:00:00 GMT")],
            &[("last-modified", "Thu, 02 Jan 2020 00:00:00 GMT")],
            false,
        ),
        (
            "§4.3.5: different Content-Length",
            &[("content-length", "5")],
            &[("content-length", "6")],
            false,
        ),
    ];
    for (name, stored, head, expected) in cases {
        assert_eq!(
            head_freshens(&headers(stored), &headers(head)),
            *expected,
            "{name}"
        );
    }
}

/// §4.1: what a cache keeps of the request beside a stored response with
/// `Vary` — the named fields, every line of each, nothing else — so that
/// `vary_matches` can compare later requests.
#[test]
fn vary_request_fields_keep_exactly_the_named_fields() {
    let response = headers(&[("vary", "Accept-Encoding, accept-language"), ("vary", "X-Mode")]);
    let request = headers(&[
        ("accept-encoding", "gzip"),
        ("accept-encoding", "br"),
        ("accept-language", "en"),
        ("cookie", "a=1"),
        ("user-agent", "t"),
    ]);
    let kept = vary_request_fields(&response, &request);
    assert_eq!(kept.len(), 3, "{kept:?}");
    assert_eq!(
        kept.get_all("accept-encoding").iter().collect::<Vec<_>>(),
        ["gzip", "br"]
    );
    assert_eq!(kept["accept-language"], "en");
    assert!(kept.get("x-mode").is_none() && kept.get("cookie").is_none());
    assert!(vary_matches(&response, &kept, &request));
    assert!(vary_request_fields(&headers(&[("vary", "*")]), &request).is_empty());
    assert!(vary_request_fields(&headers(&[]), &request).is_empty());
}
