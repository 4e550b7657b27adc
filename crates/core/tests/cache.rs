//! RFC 9111 tables for `revalidate_core::cache`, each row named after the
//! sentence (or the cache-tests.fyi test) it checks.

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode, Uri};
use proptest::prelude::*;
use revalidate_core::cache::directives::DELTA_SECONDS_MAX;
use revalidate_core::cache::status::Forward;
use revalidate_core::cache::*;

use crate::support::{CACHE_NOW as NOW, date_at as date, headers, secs};

/// Header fields as (name, value) pairs.
type Fields<'a> = Vec<(&'a str, &'a str)>;

#[test]
fn response_directive_parsing_table() {
    let cases: &[(&str, &[&str], ResponseDirectives)] = &[
        (
            "quoted commas do not split (cc-parse: no-cache with quoted field list)",
            &[r#"no-cache="set-cookie, x-a", max-age=5"#],
            ResponseDirectives {
                no_cache: Some(FieldNames::Only(vec![
                    HeaderName::from_static("set-cookie"),
                    HeaderName::from_static("x-a"),
                ])),
                max_age: Some(5),
                ..Default::default()
            },
        ),
        (
            "names are case-insensitive (§5.2)",
            &["MAX-AGE=10, Public"],
            ResponseDirectives {
                max_age: Some(10),
                public: true,
                ..Default::default()
            },
        ),
        (
            "first of duplicates wins (§4.2.1)",
            &["max-age=10, max-age=20"],
            ResponseDirectives {
                max_age: Some(10),
                ..Default::default()
            },
        ),
        (
            "invalid max-age is stale: negative (§4.2.1)",
            &["max-age=-1"],
            ResponseDirectives {
                max_age: Some(0),
                ..Default::default()
            },
        ),
        (
            "invalid max-age is stale: fraction",
            &["max-age=1.5"],
            ResponseDirectives {
                max_age: Some(0),
                ..Default::default()
            },
        ),
        (
            "quoted max-age value is read (cc-parse: max-age with quotes)",
            &[r#"max-age="3600""#],
            ResponseDirectives {
                max_age: Some(3600),
                ..Default::default()
            },
        ),
        (
            "delta-seconds overflow is 2^31 (§1.2.2)",
            &["max-age=99999999999999999999"],
            ResponseDirectives {
                max_age: Some(DELTA_SECONDS_MAX),
                ..Default::default()
            },
        ),
        (
            "directives on several field lines combine",
            &["s-maxage=60", "must-revalidate, stale-if-error=30"],
            ResponseDirectives {
                s_maxage: Some(60),
                must_revalidate: true,
                stale_if_error: Some(30),
                ..Default::default()
            },
        ),
        (
            "extensions and empty elements are ignored (§5.2.3)",
            &[",, foo=bar, immutable, stale-while-revalidate=9,"],
            ResponseDirectives {
                immutable: true,
                stale_while_revalidate: Some(9),
                ..Default::default()
            },
        ),
        (
            "unqualified private and no-store",
            &["private, no-store, must-understand"],
            ResponseDirectives {
                private: Some(FieldNames::All),
                no_store: true,
                must_understand: true,
                ..Default::default()
            },
        ),
    ];
    for (name, lines, expected) in cases {
        let map = headers(&lines.iter().map(|l| ("cache-control", *l)).collect::<Vec<_>>());
        assert_eq!(&ResponseDirectives::from_headers(&map), expected, "{name}");
    }
}

#[test]
fn request_directive_parsing_table() {
    #[allow(clippy::type_complexity)]
    let cases: &[(&str, &[(&str, &str)], RequestDirectives)] = &[
        (
            "max-stale without a value accepts any staleness (§5.2.1.2)",
            &[("cache-control", "max-stale")],
            RequestDirectives {
                max_stale: Some(MaxStale::Any),
                ..Default::default()
            },
        ),
        (
            "max-stale with a value",
            &[("cache-control", "max-stale=5, min-fresh=2")],
            RequestDirectives {
                max_stale: Some(MaxStale::Seconds(5)),
                min_fresh: Some(2),
                ..Default::default()
            },
        ),
        (
            "Pragma: no-cache without Cache-Control (§5.4)",
            &[("pragma", "no-cache")],
            RequestDirectives {
                no_cache: true,
                ..Default::default()
            },
        ),
        (
            "Pragma is ignored next to Cache-Control (§5.4)",
            &[("pragma", "no-cache"), ("cache-control", "max-age=10")],
            RequestDirectives {
                max_age: Some(10),
                ..Default::default()
            },
        ),
        (
            "only-if-cached and no-store",
            &[("cache-control", "only-if-cached, no-store")],
            RequestDirectives {
                only_if_cached: true,
                no_store: true,
                ..Default::default()
            },
        ),
    ];
    for (name, pairs, expected) in cases {
        assert_eq!(
            &RequestDirectives::from_headers(&headers(pairs)),
            expected,
            "{name}"
        );
    }
}

fn stored(status: u16, pairs: &[(&str, &str)]) -> HeaderMap {
    let _ = status;
    headers(pairs)
}

fn at(status: u16, map: &HeaderMap, request_time: u64, response_time: u64) -> Stored<'_> {
    Stored {
        status: StatusCode::from_u16(status).unwrap(),
        headers: map,
        request_time: secs(request_time),
        response_time: secs(response_time),
    }
}

#[test]
fn freshness_lifetime_table() {
    let shared = CacheConfig::shared();
    let private = CacheConfig::private();
    let d = date(NOW);
    let cases: Vec<(&str, &CacheConfig, u16, HeaderMap, u64, LifetimeSource)> = vec![
        (
            "s-maxage wins over max-age in a shared cache (§4.2.1)",
            &shared,
            200,
            stored(
                200,
                &[("cache-control", "max-age=10, s-maxage=100"), ("date", &d)],
            ),
            100,
            LifetimeSource::SMaxAge,
        ),
        (
            "a private cache ignores s-maxage (§5.2.2.10)",
            &private,
            200,
            stored(
                200,
                &[("cache-control", "max-age=10, s-maxage=100"), ("date", &d)],
            ),
            10,
            LifetimeSource::MaxAge,
        ),
        (
            "max-age wins over Expires (§4.2.1)",
            &shared,
            200,
            stored(
                200,
                &[
                    ("cache-control", "max-age=10"),
                    ("expires", &date(NOW + 500)),
                    ("date", &d),
                ],
            ),
            10,
            LifetimeSource::MaxAge,
        ),
        (
            "Expires minus Date (§4.2.1)",
            &shared,
            200,
            stored(200, &[("expires", &date(NOW + 500)), ("date", &d)]),
            500,
            LifetimeSource::Expires,
        ),
        (
            "Expires: 0 is already expired (§5.3 MUST)",
            &shared,
            200,
            stored(
                200,
                &[
                    ("expires", "0"),
                    ("date", &d),
                    ("last-modified", &date(NOW - 10_000)),
                ],
            ),
            0,
            LifetimeSource::Expires,
        ),
        (
            "heuristic: 10 % of Date minus Last-Modified (§4.2.2)",
            &shared,
            200,
            stored(200, &[("last-modified", &date(NOW - 10_000)), ("date", &d)]),
            1_000,
            LifetimeSource::Heuristic,
        ),
        (
            "no heuristic for a status not heuristically cacheable (201)",
            &shared,
            201,
            stored(201, &[("last-modified", &date(NOW - 10_000)), ("date", &d)]),
            0,
            LifetimeSource::None,
        ),
        (
            "public makes any status heuristically cacheable (§4.2.2)",
            &shared,
            201,
            stored(
                201,
                &[
                    ("cache-control", "public"),
                    ("last-modified", &date(NOW - 10_000)),
                    ("date", &d),
                ],
            ),
            1_000,
            LifetimeSource::Heuristic,
        ),
        (
            "CDN-Cache-Control replaces Cache-Control in the edge (RFC 9213 §2.1)",
            &shared,
            200,
            stored(
                200,
                &[
                    ("cache-control", "max-age=10"),
                    ("cdn-cache-control", "max-age=600"),
                    ("date", &d),
                ],
            ),
            600,
            LifetimeSource::MaxAge,
        ),
        (
            "CDN-Cache-Control means nothing to a private cache",
            &private,
            200,
            stored(
                200,
                &[
                    ("cache-control", "max-age=10"),
                    ("cdn-cache-control", "max-age=600"),
                    ("date", &d),
                ],
            ),
            10,
            LifetimeSource::MaxAge,
        ),
    ];
    for (name, config, status, map, lifetime, source) in &cases {
        let f = freshness(config, &at(*status, map, NOW, NOW), secs(NOW));
        assert_eq!((f.lifetime, f.source), (*lifetime, *source), "{name}");
    }
}

#[test]
fn age_follows_the_section_4_2_3_formula() {
    // Date 10 s before arrival, Age 5 from upstream, 2 s in flight, 30 s resident.
    let map = headers(&[("date", &date(NOW - 10)), ("age", "5")]);
    let s = at(200, &map, NOW - 2, NOW);
    // apparent 10; corrected age value 5 + 2 = 7; initial max(10, 7) = 10; + 30.
    assert_eq!(current_age(&s, secs(NOW + 30)), 40);
    // An invalid Age is ignored (RFC 9111 §5.1 SHOULD): Date and residence alone.
    let map = headers(&[("date", &date(NOW)), ("age", "abc")]);
    assert_eq!(current_age(&at(200, &map, NOW, NOW), secs(NOW + 3)), 3);
    // Of a list, the first member counts (§5.1 SHOULD).
    let map = headers(&[("date", &date(NOW)), ("age", "60, 7200")]);
    assert_eq!(current_age(&at(200, &map, NOW, NOW), secs(NOW + 3)), 63);
    // A Date in the future gives no negative apparent age.
    let map = headers(&[("date", &date(NOW + 100))]);
    assert_eq!(current_age(&at(200, &map, NOW, NOW), secs(NOW)), 0);
}

proptest! {
    /// The age against a model written with signed arithmetic straight
    /// from the §4.2.3 pseudo-code.
    #[test]
    fn age_matches_a_signed_model(
        date_offset in -5_000i64..5_000,
        age_value in proptest::option::of(0u64..100_000),
        delay in 0u64..100,
        resident in 0u64..100_000,
    ) {
        let response_time = NOW;
        let date_value = (NOW as i64 + date_offset) as u64;
        let mut pairs = vec![("date".to_owned(), date(date_value))];
        if let Some(age) = age_value {
            pairs.push(("age".to_owned(), age.to_string()));
        }
        let map = headers(&pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect::<Vec<_>>());
        let got = current_age(&at(200, &map, response_time - delay, response_time), secs(response_time + resident));
        let apparent = (response_time as i64 - date_value as i64).max(0);
        let corrected = age_value.unwrap_or(0) as i64 + delay as i64;
        let model = apparent.max(corrected) + resident as i64;
        prop_assert_eq!(got as i64, model);
    }

    /// Directive parsing never panics, whatever the bytes.
    #[test]
    fn directive_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(value) = HeaderValue::from_bytes(&bytes) {
            let mut map = HeaderMap::new();
            map.insert("cache-control", value.clone());
            map.insert("vary", value);
            let _ = ResponseDirectives::from_headers(&map);
            let _ = RequestDirectives::from_headers(&map);
            let _ = secondary_key(&map, &map);
        }
    }
}

#[test]
fn storage_decision_table() {
    let shared = CacheConfig::shared();
    let private = CacheConfig::private();
    let none = HeaderMap::new();
    let auth = headers(&[("authorization", "Bearer x")]);
    let request_no_store = headers(&[("cache-control", "no-store")]);
    let cases: Vec<(
        &str,
        &CacheConfig,
        Method,
        &HeaderMap,
        u16,
        HeaderMap,
        StoreDecision,
    )> = vec![
        (
            "a plain 200 is heuristically cacheable",
            &shared,
            Method::GET,
            &none,
            200,
            headers(&[]),
            StoreDecision::Store,
        ),
        (
            "POST is not stored",
            &shared,
            Method::POST,
            &none,
            200,
            headers(&[("cache-control", "max-age=60")]),
            StoreDecision::DoNotStore(NotStorable::Method),
        ),
        (
            "206 is not stored whole (§3.3)",
            &shared,
            Method::GET,
            &none,
            206,
            headers(&[("cache-control", "max-age=60")]),
            StoreDecision::DoNotStore(NotStorable::Status),
        ),
        (
            "no-store (§5.2.2.5)",
            &shared,
            Method::GET,
            &none,
            200,
            headers(&[("cache-control", "no-store, max-age=60")]),
            StoreDecision::DoNotStore(NotStorable::NoStore),
        ),
        (
            "must-understand overrides no-store for an understood status (§5.2.2.3)",
            &shared,
            Method::GET,
            &none,
            200,
            headers(&[("cache-control", "no-store, must-understand, max-age=60")]),
            StoreDecision::Store,
        ),
        (
            "request no-store (§5.2.1.5)",
            &shared,
            Method::GET,
            &request_no_store,
            200,
            headers(&[("cache-control", "max-age=60")]),
            StoreDecision::DoNotStore(NotStorable::NoStore),
        ),
        (
            "private in a shared cache (§5.2.2.7)",
            &shared,
            Method::GET,
            &none,
            200,
            headers(&[("cache-control", "private, max-age=60")]),
            StoreDecision::DoNotStore(NotStorable::Private),
        ),
        (
            "private in a private cache",
            &private,
            Method::GET,
            &none,
            200,
            headers(&[("cache-control", "private, max-age=60")]),
            StoreDecision::Store,
        ),
        (
            "Authorization in a shared cache (§3.5)",
            &shared,
            Method::GET,
            &auth,
            200,
            headers(&[("cache-control", "max-age=60")]),
            StoreDecision::DoNotStore(NotStorable::Authorization),
        ),
        (
            "Authorization with public (§3.5)",
            &shared,
            Method::GET,
            &auth,
            200,
            headers(&[("cache-control", "public, max-age=60")]),
            StoreDecision::Store,
        ),
        (
            "Authorization with s-maxage (§3.5)",
            &shared,
            Method::GET,
            &auth,
            200,
            headers(&[("cache-control", "s-maxage=60")]),
            StoreDecision::Store,
        ),
        (
            "Authorization in a private cache",
            &private,
            Method::GET,
            &auth,
            200,
            headers(&[("cache-control", "max-age=60")]),
            StoreDecision::Store,
        ),
        (
            "Vary: * never matches (§4.1)",
            &shared,
            Method::GET,
            &none,
            200,
            headers(&[("cache-control", "max-age=60"), ("vary", "accept, *")]),
            StoreDecision::DoNotStore(NotStorable::VaryStar),
        ),
        (
            "201 without freshness information (§3)",
            &shared,
            Method::GET,
            &none,
            201,
            headers(&[]),
            StoreDecision::DoNotStore(NotStorable::NoFreshnessInformation),
        ),
        (
            "201 with max-age",
            &shared,
            Method::GET,
            &none,
            201,
            headers(&[("cache-control", "max-age=60")]),
            StoreDecision::Store,
        ),
        (
            "a 1xx is not final",
            &shared,
            Method::GET,
            &none,
            103,
            headers(&[("cache-control", "max-age=60")]),
            StoreDecision::DoNotStore(NotStorable::Status),
        ),
    ];
    for (name, config, method, request, status, response, expected) in &cases {
        let got = storage_decision(
            config,
            method,
            request,
            StatusCode::from_u16(*status).unwrap(),
            response,
        );
        assert_eq!(got, *expected, "{name}");
    }
}

#[test]
fn reuse_decision_table() {
    let shared = CacheConfig::shared();
    let d = date(NOW);
    // (name, response fields, seconds since arrival, request fields, expected)
    let cases: Vec<(&str, Fields<'_>, u64, Fields<'_>, Reuse)> = vec![
        (
            "fresh is served",
            vec![("cache-control", "max-age=100")],
            10,
            vec![],
            Reuse::Fresh { age: 10 },
        ),
        (
            "stale is validated",
            vec![("cache-control", "max-age=100")],
            150,
            vec![],
            Reuse::Revalidate,
        ),
        (
            "request no-cache validates (§5.2.1.4)",
            vec![("cache-control", "max-age=100")],
            10,
            vec![("cache-control", "no-cache")],
            Reuse::Revalidate,
        ),
        (
            "request max-age=0 validates (§5.2.1.1)",
            vec![("cache-control", "max-age=100")],
            10,
            vec![("cache-control", "max-age=0")],
            Reuse::Revalidate,
        ),
        (
            "min-fresh beyond what is left validates (§5.2.1.3)",
            vec![("cache-control", "max-age=100")],
            50,
            vec![("cache-control", "min-fresh=60")],
            Reuse::Revalidate,
        ),
        (
            "max-stale accepts stale (§5.2.1.2)",
            vec![("cache-control", "max-age=100")],
            150,
            vec![("cache-control", "max-stale=60")],
            Reuse::StaleAllowed { age: 150 },
        ),
        (
            "max-stale too small validates",
            vec![("cache-control", "max-age=100")],
            150,
            vec![("cache-control", "max-stale=10")],
            Reuse::Revalidate,
        ),
        (
            "must-revalidate beats max-stale (§5.2.2.2 MUST)",
            vec![("cache-control", "max-age=100, must-revalidate")],
            150,
            vec![("cache-control", "max-stale")],
            Reuse::Revalidate,
        ),
        (
            "s-maxage beats max-stale in a shared cache (§4.2.4)",
            vec![("cache-control", "s-maxage=100")],
            150,
            vec![("cache-control", "max-stale")],
            Reuse::Revalidate,
        ),
        (
            "response no-cache always validates (§5.2.2.4)",
            vec![("cache-control", "no-cache, max-age=100")],
            1,
            vec![],
            Reuse::Revalidate,
        ),
        (
            "stale-while-revalidate window (RFC 5861 §3)",
            vec![("cache-control", "max-age=100, stale-while-revalidate=60")],
            150,
            vec![],
            Reuse::StaleWhileRevalidate { age: 150 },
        ),
        (
            "past the stale-while-revalidate window",
            vec![("cache-control", "max-age=100, stale-while-revalidate=60")],
            170,
            vec![],
            Reuse::Revalidate,
        ),
        (
            "only-if-cached with a stale response is a 504 (§5.2.1.7)",
            vec![("cache-control", "max-age=100")],
            150,
            vec![("cache-control", "only-if-cached")],
            Reuse::GatewayTimeout,
        ),
        (
            "only-if-cached with a fresh response is served",
            vec![("cache-control", "max-age=100")],
            10,
            vec![("cache-control", "only-if-cached")],
            Reuse::Fresh { age: 10 },
        ),
    ];
    for (name, response, elapsed, request, expected) in cases {
        let mut response = response;
        response.push(("date", &d));
        let map = headers(&response);
        let got = reuse_decision(
            &shared,
            &at(200, &map, NOW, NOW),
            &headers(&request),
            secs(NOW + elapsed),
        );
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn stale_if_error_table() {
    let shared = CacheConfig::shared();
    let d = date(NOW);
    let cases: Vec<(&str, &str, u64, Fields<'_>, bool)> = vec![
        (
            "within the response's window (RFC 5861 §4)",
            "max-age=10, stale-if-error=60",
            40,
            vec![],
            true,
        ),
        (
            "past the window",
            "max-age=10, stale-if-error=60",
            100,
            vec![],
            false,
        ),
        (
            "the request's window",
            "max-age=10",
            40,
            vec![("cache-control", "stale-if-error=60")],
            true,
        ),
        ("no window: never stale", "max-age=10", 40, vec![], false),
        ("fresh is always fine", "max-age=100", 40, vec![], true),
        (
            "must-revalidate forbids it (§4.2.4)",
            "max-age=10, must-revalidate, stale-if-error=60",
            40,
            vec![],
            false,
        ),
    ];
    for (name, cc, elapsed, request, expected) in cases {
        let map = headers(&[("cache-control", cc), ("date", &d)]);
        let got = stale_if_error_allows(
            &shared,
            &at(200, &map, NOW, NOW),
            &headers(&request),
            secs(NOW + elapsed),
        );
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn vary_table() {
    let response = headers(&[("vary", "Accept-Encoding, accept-language")]);
    let stored_request = headers(&[("accept-encoding", "gzip,  br"), ("accept-language", "en")]);
    let cases: Vec<(&str, HeaderMap, bool)> = vec![
        (
            "same values match",
            headers(&[("accept-encoding", "gzip,  br"), ("accept-language", "en")]),
            true,
        ),
        (
            "whitespace around elements is normalised (§4.1)",
            headers(&[("accept-encoding", "gzip, br"), ("accept-language", "en")]),
            true,
        ),
        (
            "split over two lines is the same field (§5.3 of RFC 9110)",
            headers(&[
                ("accept-encoding", "gzip"),
                ("accept-encoding", "br"),
                ("accept-language", "en"),
            ]),
            true,
        ),
        (
            "a different value does not match",
            headers(&[("accept-encoding", "gzip"), ("accept-language", "en")]),
            false,
        ),
        (
            "absent versus present does not match",
            headers(&[("accept-encoding", "gzip, br")]),
            false,
        ),
    ];
    for (name, request, expected) in &cases {
        assert_eq!(
            vary_matches(&response, &stored_request, request),
            *expected,
            "{name}"
        );
        let same_key = secondary_key(&response, &stored_request) == secondary_key(&response, request);
        assert_eq!(same_key, *expected, "secondary key: {name}");
    }
    let star = headers(&[("vary", "*")]);
    assert!(
        !vary_matches(&star, &HeaderMap::new(), &HeaderMap::new()),
        "Vary: * never matches"
    );
    assert_eq!(secondary_key(&star, &HeaderMap::new()), None);
}

#[test]
fn conditional_request_carries_every_stored_validator() {
    let a = headers(&[("etag", r#""a""#), ("last-modified", &date(NOW - 100))]);
    let b = headers(&[("etag", r#"W/"b""#), ("last-modified", &date(NOW - 50))]);
    let out = conditional_request_headers([&a, &b]);
    assert_eq!(out["if-none-match"], r#""a", W/"b""#);
    assert_eq!(out["if-modified-since"], date(NOW - 50).as_str());
    assert!(conditional_request_headers([&HeaderMap::new()]).is_empty());
}

#[test]
fn not_modified_selection_table() {
    let stored = headers(&[("etag", r#""v1""#), ("last-modified", &date(NOW - 100))]);
    let cases: Vec<(&str, HeaderMap, bool, bool)> = vec![
        (
            "same strong tag (§4.3.4)",
            headers(&[("etag", r#""v1""#)]),
            false,
            true,
        ),
        ("another strong tag", headers(&[("etag", r#""v2""#)]), true, false),
        (
            "weak form of the same tag",
            headers(&[("etag", r#"W/"v1""#)]),
            false,
            true,
        ),
        (
            "no tag, same Last-Modified",
            headers(&[("last-modified", &date(NOW - 100))]),
            false,
            true,
        ),
        (
            "no tag, other Last-Modified",
            headers(&[("last-modified", &date(NOW - 1))]),
            true,
            false,
        ),
        (
            "no validators: the response asked about",
            headers(&[]),
            true,
            true,
        ),
        ("no validators: not asked", headers(&[]), false, false),
    ];
    for (name, not_modified, asked, expected) in &cases {
        assert_eq!(
            not_modified_selects(&stored, not_modified, *asked),
            *expected,
            "{name}"
        );
    }
}

#[test]
fn update_from_304_replaces_fields_but_not_content_length() {
    let mut stored = headers(&[
        ("content-length", "1024"),
        ("cache-control", "max-age=10"),
        ("x-old", "1"),
        ("set-cookie", "a=1"),
        ("set-cookie", "b=2"),
    ]);
    let not_modified = headers(&[
        ("content-length", "0"),
        ("cache-control", "max-age=600"),
        ("set-cookie", "c=3"),
        ("connection", "close"),
    ]);
    update_stored_headers(&mut stored, &not_modified);
    assert_eq!(stored["content-length"], "1024");
    assert_eq!(stored["cache-control"], "max-age=600");
    assert_eq!(stored["x-old"], "1");
    assert_eq!(stored.get_all("set-cookie").iter().count(), 1);
    assert!(stored.get("connection").is_none());
}

#[test]
fn hop_by_hop_fields_are_not_stored() {
    let mut map = headers(&[
        ("connection", "x-private, close"),
        ("x-private", "1"),
        ("keep-alive", "timeout=5"),
        ("transfer-encoding", "chunked"),
        ("content-type", "text/plain"),
    ]);
    strip_hop_by_hop(&mut map);
    assert_eq!(
        map.keys().map(HeaderName::as_str).collect::<Vec<_>>(),
        ["content-type"]
    );
}

#[test]
fn invalidation_table() {
    let target: Uri = "http://example.test/a/b".parse().unwrap();
    let cases: Vec<(&str, Method, u16, Fields<'_>, Vec<&str>)> = vec![
        (
            "POST 201 invalidates the target and same-origin Location (§4.4)",
            Method::POST,
            201,
            vec![("location", "/a/c"), ("content-location", "d")],
            vec![
                "http://example.test/a/b",
                "http://example.test/a/c",
                "http://example.test/a/d",
            ],
        ),
        (
            "another host's Location is left alone (§4.4 MUST NOT)",
            Method::PUT,
            200,
            vec![("location", "http://other.test/a/c")],
            vec!["http://example.test/a/b"],
        ),
        (
            "an error status invalidates nothing",
            Method::DELETE,
            500,
            vec![],
            vec![],
        ),
        (
            "a safe method invalidates nothing",
            Method::GET,
            200,
            vec![("location", "/x")],
            vec![],
        ),
        (
            "a 3xx counts as non-error",
            Method::POST,
            303,
            vec![("location", "http://example.test:80/x")],
            vec!["http://example.test/a/b", "http://example.test:80/x"],
        ),
    ];
    for (name, method, status, response, expected) in cases {
        let got = invalidation_targets(
            &method,
            StatusCode::from_u16(status).unwrap(),
            &target,
            &headers(&response),
        );
        let got: Vec<String> = got.iter().map(ToString::to_string).collect();
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn cache_status_values() {
    assert_eq!(
        CacheStatus::hit("revalidate").ttl(42).to_text(),
        "revalidate; hit; ttl=42"
    );
    assert_eq!(
        CacheStatus::forward("edge-1", Forward::Stale)
            .forward_status(StatusCode::NOT_MODIFIED)
            .stored(true)
            .collapsed(true)
            .to_text(),
        "edge-1; fwd=stale; fwd-status=304; stored; collapsed"
    );
    assert_eq!(
        CacheStatus::forward("my cache", Forward::UriMiss)
            .key("GET \"x\"")
            .to_text(),
        r#""my cache"; fwd=uri-miss; key="GET \"x\"""#
    );
}
