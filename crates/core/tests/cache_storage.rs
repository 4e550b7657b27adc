//! Storing (RFC 9111 §3) and reusing (§4) beyond the basic tables in
//! `cache.rs`: must-understand, qualified private / no-cache, HEAD, the
//! request directives' edges, stale-if-error.

use http::{HeaderMap, HeaderName, Method, StatusCode};
use revalidate_core::cache::*;

use crate::support::{CACHE_NOW as NOW, date_at as date, headers, secs};

fn decide(
    config: &CacheConfig,
    status: u16,
    request: &[(&str, &str)],
    response: &[(&str, &str)],
) -> StoreDecision {
    storage_decision(
        config,
        &Method::GET,
        &headers(request),
        StatusCode::from_u16(status).unwrap(),
        &headers(response),
    )
}

#[test]
fn storage_table() {
    let shared = CacheConfig::shared();
    let private = CacheConfig::private();
    use NotStorable::*;
    use StoreDecision::{DoNotStore, Store};
    #[allow(clippy::type_complexity)]
    let cases: &[(
        &str,
        &CacheConfig,
        u16,
        &[(&str, &str)],
        &[(&str, &str)],
        StoreDecision,
    )] = &[
        (
            "status-599-must-understand: §3 must-understand needs an understood status",
            &shared,
            599,
            &[],
            &[("cache-control", "max-age=3600, must-understand")],
            DoNotStore(StatusNotUnderstood),
        ),
        (
            "§5.2.2.3: must-understand with a known status overrides no-store",
            &shared,
            200,
            &[],
            &[("cache-control", "max-age=60, must-understand, no-store")],
            Store,
        ),
        (
            "must-understand and no-store with an unknown status",
            &shared,
            299,
            &[],
            &[("cache-control", "max-age=60, must-understand, no-store")],
            DoNotStore(StatusNotUnderstood),
        ),
        (
            "status-599-fresh: an unknown status is stored under explicit freshness",
            &shared,
            599,
            &[],
            &[("cache-control", "max-age=60")],
            Store,
        ),
        (
            "§5.2.2.7: a qualified private is stored by a shared cache (fields removed)",
            &shared,
            200,
            &[],
            &[("cache-control", "private=\"set-cookie\", max-age=60")],
            Store,
        ),
        (
            "§3: private permits storing in a private cache without other freshness",
            &private,
            299,
            &[],
            &[("cache-control", "private")],
            Store,
        ),
        (
            "§3: no-cache alone does not make an unknown status storable",
            &shared,
            299,
            &[],
            &[("cache-control", "no-cache")],
            DoNotStore(NoFreshnessInformation),
        ),
        (
            "§3.5: Authorization in a private cache is fine",
            &private,
            200,
            &[("authorization", "Basic eA==")],
            &[("cache-control", "max-age=60")],
            Store,
        ),
        (
            "§5.2.1.5: request no-store",
            &private,
            200,
            &[("cache-control", "no-store")],
            &[("cache-control", "max-age=60")],
            DoNotStore(NoStore),
        ),
        (
            "RFC 9213: targeted no-store wins over Cache-Control",
            &shared,
            200,
            &[],
            &[("cache-control", "max-age=60"), ("cdn-cache-control", "no-store")],
            DoNotStore(NoStore),
        ),
        (
            "RFC 9213 §2.2: Expires does not count next to a targeted field",
            &shared,
            299,
            &[],
            &[
                ("cdn-cache-control", "must-revalidate"),
                ("expires", "Thu, 01 Jan 2037 00:00:00 GMT"),
            ],
            DoNotStore(NoFreshnessInformation),
        ),
        (
            "1xx is not final",
            &shared,
            103,
            &[],
            &[("cache-control", "max-age=60")],
            DoNotStore(Status),
        ),
        (
            "206 is not stored whole",
            &shared,
            206,
            &[],
            &[("cache-control", "max-age=60")],
            DoNotStore(Status),
        ),
    ];
    for (name, config, status, request, response, expected) in cases {
        assert_eq!(decide(config, *status, request, response), *expected, "{name}");
    }
    // storage_decision itself stores GET responses only; a POST response
    // goes through post_storage_decision (post_storage_table).
    assert_eq!(
        storage_decision(
            &shared,
            &http::Method::POST,
            &HeaderMap::new(),
            StatusCode::OK,
            &headers(&[("cache-control", "max-age=60")])
        ),
        DoNotStore(Method)
    );
}

/// RFC 9110 §9.3.3: a `POST` response is stored (to answer a later `GET`)
/// only with explicit freshness and a `Content-Location` naming the target.
#[test]
fn post_storage_table() {
    use NotStorable::*;
    use StoreDecision::{DoNotStore, Store};
    let shared = CacheConfig::shared();
    let target: http::Uri = "http://origin.example:8080/items/1?x=1".parse().unwrap();
    #[allow(clippy::type_complexity)]
    let cases: &[(&str, u16, &[(&str, &str)], &[(&str, &str)], StoreDecision)] = &[
        (
            "method-POST: absolute Content-Location equal to the target, max-age",
            200,
            &[],
            &[
                ("cache-control", "max-age=3600"),
                ("content-location", "http://origin.example:8080/items/1?x=1"),
            ],
            Store,
        ),
        (
            "an absolute-path reference resolves against the target (§8.7)",
            200,
            &[],
            &[
                ("cache-control", "max-age=60"),
                ("content-location", "/items/1?x=1"),
            ],
            Store,
        ),
        (
            "a relative reference with dot segments",
            203,
            &[],
            &[
                ("cache-control", "s-maxage=60"),
                ("content-location", "../items/./1?x=1"),
            ],
            Store,
        ),
        (
            "the host is compared case-insensitively",
            200,
            &[],
            &[
                ("expires", "Thu, 01 Jan 2099 00:00:00 GMT"),
                ("content-location", "http://ORIGIN.example:8080/items/1?x=1"),
            ],
            Store,
        ),
        (
            "no Content-Location",
            200,
            &[],
            &[("cache-control", "max-age=60")],
            DoNotStore(Method),
        ),
        (
            "Content-Location names another resource",
            200,
            &[],
            &[("cache-control", "max-age=60"), ("content-location", "/items/2")],
            DoNotStore(Method),
        ),
        (
            "Content-Location with another query",
            200,
            &[],
            &[("cache-control", "max-age=60"), ("content-location", "/items/1")],
            DoNotStore(Method),
        ),
        (
            "Content-Location on another origin",
            200,
            &[],
            &[
                ("cache-control", "max-age=60"),
                ("content-location", "http://other.example:8080/items/1?x=1"),
            ],
            DoNotStore(Method),
        ),
        (
            "two Content-Location lines",
            200,
            &[],
            &[
                ("cache-control", "max-age=60"),
                ("content-location", "/items/1?x=1"),
                ("content-location", "/items/1?x=1"),
            ],
            DoNotStore(Method),
        ),
        (
            "§9.3.3: heuristic freshness is not explicit",
            200,
            &[],
            &[
                ("last-modified", "Thu, 01 Jan 2015 00:00:00 GMT"),
                ("content-location", "/items/1?x=1"),
            ],
            DoNotStore(NoFreshnessInformation),
        ),
        (
            "public alone is not explicit freshness",
            200,
            &[],
            &[("cache-control", "public"), ("content-location", "/items/1?x=1")],
            DoNotStore(NoFreshnessInformation),
        ),
        (
            "201 Created: its content describes the outcome, not the target",
            201,
            &[],
            &[
                ("cache-control", "max-age=60"),
                ("content-location", "/items/1?x=1"),
            ],
            DoNotStore(Status),
        ),
        (
            "the other §3 rules hold: no-store",
            200,
            &[],
            &[
                ("cache-control", "max-age=60, no-store"),
                ("content-location", "/items/1?x=1"),
            ],
            DoNotStore(NoStore),
        ),
        (
            "the other §3 rules hold: Authorization in a shared cache",
            200,
            &[("authorization", "Bearer x")],
            &[
                ("cache-control", "max-age=60"),
                ("content-location", "/items/1?x=1"),
            ],
            DoNotStore(Authorization),
        ),
    ];
    for (name, status, request, response, expected) in cases {
        let decision = post_storage_decision(
            &shared,
            &headers(request),
            StatusCode::from_u16(*status).unwrap(),
            &headers(response),
            &target,
        );
        assert_eq!(decision, *expected, "{name}");
    }
}

/// Which responses carrying `Set-Cookie` each [`SetCookiePolicy`] stores
/// (fields as they would be kept, the response arriving at `NOW`).
#[test]
fn set_cookie_policy_table() {
    let shared = CacheConfig::shared();
    let private = CacheConfig::private();
    let now = date(NOW);
    let later = date(NOW + 3600);
    let earlier = date(NOW - 3600);
    let cookie = ("set-cookie", "session=1");
    // (name, config, fields, never, explicit, always)
    #[allow(clippy::type_complexity)]
    let cases: &[(&str, &CacheConfig, Vec<(&str, &str)>, bool, bool, bool)] = &[
        (
            "no Set-Cookie: every policy stores (heuristic freshness)",
            &shared,
            vec![("last-modified", &earlier)],
            true,
            true,
            true,
        ),
        (
            "headers-store-Set-Cookie, other-set-cookie: max-age is the origin's declaration",
            &shared,
            vec![cookie, ("cache-control", "max-age=3600")],
            false,
            true,
            true,
        ),
        (
            "s-maxage in a shared cache",
            &shared,
            vec![cookie, ("cache-control", "s-maxage=60")],
            false,
            true,
            true,
        ),
        (
            "s-maxage is not a lifetime for a private cache, and nothing else is explicit",
            &private,
            vec![
                cookie,
                ("cache-control", "s-maxage=60"),
                ("last-modified", &earlier),
            ],
            false,
            false,
            true,
        ),
        (
            "a future Expires",
            &shared,
            vec![cookie, ("date", &now), ("expires", &later)],
            false,
            true,
            true,
        ),
        (
            "the targeted field's lifetime (RFC 9213)",
            &shared,
            vec![cookie, ("cdn-cache-control", "max-age=60")],
            false,
            true,
            true,
        ),
        (
            "the targeted field replaces Expires (RFC 9213 §2.2): no explicit lifetime left",
            &shared,
            vec![
                cookie,
                ("cdn-cache-control", "public"),
                ("date", &now),
                ("expires", &later),
                ("last-modified", &earlier),
            ],
            false,
            false,
            true,
        ),
        (
            "heuristic freshness alone (§4.2.2) is the cache's guess, not the origin's word",
            &shared,
            vec![cookie, ("last-modified", &earlier)],
            false,
            false,
            true,
        ),
        (
            "public alone",
            &shared,
            vec![cookie, ("cache-control", "public"), ("last-modified", &earlier)],
            false,
            false,
            true,
        ),
        (
            "max-age=0: stale on arrival, every reuse would follow a validation",
            &shared,
            vec![cookie, ("cache-control", "max-age=0, must-revalidate")],
            false,
            false,
            true,
        ),
        (
            "§5.3: an invalid Expires is in the past",
            &shared,
            vec![cookie, ("expires", "0"), ("last-modified", &earlier)],
            false,
            false,
            true,
        ),
        (
            "an Expires in the past",
            &shared,
            vec![cookie, ("date", &now), ("expires", &earlier)],
            false,
            false,
            true,
        ),
        (
            "an Age beyond max-age: stale on arrival",
            &shared,
            vec![cookie, ("cache-control", "max-age=60"), ("age", "120")],
            false,
            false,
            true,
        ),
        (
            "an Age within max-age",
            &shared,
            vec![cookie, ("cache-control", "max-age=60"), ("age", "30")],
            false,
            true,
            true,
        ),
    ];
    for (name, config, fields, never, explicit, always) in cases {
        let map = headers(fields);
        let stored = Stored {
            status: StatusCode::OK,
            headers: &map,
            request_time: secs(NOW),
            response_time: secs(NOW),
        };
        for (policy, expected) in [
            (SetCookiePolicy::Never, never),
            (SetCookiePolicy::Explicit, explicit),
            (SetCookiePolicy::Always, always),
        ] {
            assert_eq!(policy.allows(config, &stored), *expected, "{name}: {policy:?}");
        }
    }
    assert_eq!(SetCookiePolicy::default(), SetCookiePolicy::Explicit);
    for policy in [
        SetCookiePolicy::Never,
        SetCookiePolicy::Explicit,
        SetCookiePolicy::Always,
    ] {
        assert_eq!(policy.name().parse::<SetCookiePolicy>(), Ok(policy));
    }
    let error = "Explicit".parse::<SetCookiePolicy>().unwrap_err().to_string();
    assert!(error.contains("\"never\", \"explicit\" or \"always\""), "{error}");
}

#[test]
fn understood_statuses_and_methods() {
    for code in [200, 203, 204, 301, 308, 404, 410, 501, 503] {
        assert!(understood_status(StatusCode::from_u16(code).unwrap()), "{code}");
    }
    for code in [206, 299, 304, 306, 419, 499, 599] {
        assert!(!understood_status(StatusCode::from_u16(code).unwrap()), "{code}");
    }
    // RFC 9110 §9.3.2: a stored GET answers HEAD.
    assert!(answers_method(&Method::GET) && answers_method(&Method::HEAD));
    assert!(!answers_method(&Method::POST) && !answers_method(&Method::OPTIONS));
}

#[test]
fn storable_headers_table() {
    let shared = CacheConfig::shared();
    let private = CacheConfig::private();
    #[allow(clippy::type_complexity)]
    let cases: &[(&str, &CacheConfig, &[(&str, &str)], &[&str], &[&str])] = &[
        (
            "headers-omit-headers-listed-in-Connection (§3.1)",
            &shared,
            &[("connection", "a, b"), ("a", "1"), ("b", "2"), ("c", "3")],
            &["c"],
            &["connection", "a", "b"],
        ),
        (
            "headers-store-*: §3.1 hop-by-hop and proxy fields are not stored",
            &shared,
            &[
                ("keep-alive", "x"),
                ("proxy-authenticate", "x"),
                ("proxy-authentication-info", "x"),
                ("proxy-authorization", "x"),
                ("proxy-connection", "x"),
                ("te", "x"),
                ("transfer-encoding", "x"),
                ("upgrade", "x"),
                ("set-cookie", "a=b"),
                ("content-md5", "x"),
            ],
            &["set-cookie", "content-md5"],
            &[
                "keep-alive",
                "proxy-authenticate",
                "proxy-authentication-info",
                "te",
                "upgrade",
            ],
        ),
        (
            "§5.2.2.7: a shared cache drops the fields a qualified private names",
            &shared,
            &[
                ("cache-control", "private=\"set-cookie\", max-age=9"),
                ("set-cookie", "a=b"),
                ("x", "1"),
            ],
            &["x", "cache-control"],
            &["set-cookie"],
        ),
        (
            "a private cache keeps them",
            &private,
            &[
                ("cache-control", "private=\"set-cookie\", max-age=9"),
                ("set-cookie", "a=b"),
            ],
            &["set-cookie"],
            &[],
        ),
        (
            "headers-omit-headers-listed-in-Cache-Control-no-cache (§5.2.2.4)",
            &private,
            &[
                ("cache-control", "no-cache=\"a, b\""),
                ("a", "1"),
                ("b", "2"),
                ("c", "3"),
            ],
            &["c"],
            &["a", "b"],
        ),
    ];
    for (name, config, response, kept, dropped) in cases {
        let out = storable_headers(config, &headers(response));
        for field in *kept {
            assert!(out.contains_key(*field), "{name}: {field} kept");
        }
        for field in *dropped {
            assert!(!out.contains_key(*field), "{name}: {field} dropped");
        }
    }
}

fn reuse(config: &CacheConfig, response: &[(&str, &str)], request: &[(&str, &str)], now: u64) -> Reuse {
    let map = headers(response);
    let stored = Stored {
        status: StatusCode::OK,
        headers: &map,
        request_time: secs(NOW),
        response_time: secs(NOW),
    };
    reuse_decision(config, &stored, &headers(request), secs(now))
}

#[test]
fn reuse_table() {
    let shared = CacheConfig::shared();
    let private = CacheConfig::private();
    let now_date = date(NOW);
    let dated = |cc: &'static str| -> Vec<(&'static str, String)> {
        vec![("cache-control", cc.to_owned()), ("date", now_date.clone())]
    };
    #[allow(clippy::type_complexity)]
    let cases: Vec<(
        &str,
        &CacheConfig,
        Vec<(&str, String)>,
        &[(&str, &str)],
        u64,
        Reuse,
    )> = vec![
        (
            "§5.2.1.3 min-fresh: exactly the remaining freshness is enough",
            &shared,
            dated("max-age=100"),
            &[("cache-control", "min-fresh=40")],
            NOW + 60,
            Reuse::Fresh { age: 60 },
        ),
        (
            "ccreq-min-fresh-age: one second short is not",
            &shared,
            dated("max-age=100"),
            &[("cache-control", "min-fresh=41")],
            NOW + 60,
            Reuse::Revalidate,
        ),
        (
            "§5.2.1.1 max-age: age equal to it is fine",
            &shared,
            dated("max-age=100"),
            &[("cache-control", "max-age=60")],
            NOW + 60,
            Reuse::Fresh { age: 60 },
        ),
        (
            "ccreq-max-stale: within max-stale",
            &shared,
            dated("max-age=1"),
            &[("cache-control", "max-stale=1000")],
            NOW + 3,
            Reuse::StaleAllowed { age: 3 },
        ),
        (
            "max-stale does not override min-fresh",
            &shared,
            dated("max-age=1"),
            &[("cache-control", "max-stale, min-fresh=1")],
            NOW + 3,
            Reuse::Revalidate,
        ),
        (
            "§5.2.2.2: max-stale cannot beat must-revalidate",
            &private,
            dated("max-age=1, must-revalidate"),
            &[("cache-control", "max-stale")],
            NOW + 3,
            Reuse::Revalidate,
        ),
        (
            "§5.2.2.8: proxy-revalidate binds shared caches only",
            &private,
            dated("max-age=1, proxy-revalidate"),
            &[("cache-control", "max-stale")],
            NOW + 3,
            Reuse::StaleAllowed { age: 3 },
        ),
        (
            "RFC 5861 §3: within stale-while-revalidate",
            &shared,
            dated("max-age=1, stale-while-revalidate=10"),
            &[],
            NOW + 5,
            Reuse::StaleWhileRevalidate { age: 5 },
        ),
        (
            "past stale-while-revalidate",
            &shared,
            dated("max-age=1, stale-while-revalidate=10"),
            &[],
            NOW + 12,
            Reuse::Revalidate,
        ),
        (
            "§5.2.1.7 ccreq-oic: only-if-cached and nothing usable is a 504",
            &shared,
            dated("max-age=1"),
            &[("cache-control", "only-if-cached")],
            NOW + 5,
            Reuse::GatewayTimeout,
        ),
        (
            "only-if-cached with a fresh response serves it",
            &shared,
            dated("max-age=100"),
            &[("cache-control", "only-if-cached")],
            NOW + 5,
            Reuse::Fresh { age: 5 },
        ),
        (
            "§5.2.2.4: a qualified no-cache field still stored forces validation",
            &shared,
            vec![
                ("cache-control", "max-age=100, no-cache=\"x-a\"".into()),
                ("x-a", "1".into()),
            ],
            &[],
            NOW + 5,
            Reuse::Revalidate,
        ),
        (
            "once the field is gone the rest is reused",
            &shared,
            dated("max-age=100, no-cache=\"x-a\""),
            &[],
            NOW + 5,
            Reuse::Fresh { age: 5 },
        ),
        (
            "pragma-request-no-cache (check): Pragma without Cache-Control forces validation",
            &shared,
            dated("max-age=100"),
            &[("pragma", "no-cache")],
            NOW + 5,
            Reuse::Revalidate,
        ),
        (
            "pragma-response-no-cache: Pragma in a response means nothing",
            &shared,
            vec![
                ("cache-control", "max-age=100".into()),
                ("pragma", "no-cache".into()),
            ],
            &[],
            NOW + 5,
            Reuse::Fresh { age: 5 },
        ),
    ];
    for (name, config, response, request, now, expected) in cases {
        let response: Vec<(&str, &str)> = response.iter().map(|(n, v)| (*n, v.as_str())).collect();
        assert_eq!(reuse(config, &response, request, now), expected, "{name}");
    }
}

#[test]
fn stale_if_error_table() {
    let shared = CacheConfig::shared();
    #[allow(clippy::type_complexity)]
    let cases: &[(&str, &str, &[(&str, &str)], u64, bool)] = &[
        (
            "stale-sie-503: within the response window",
            "max-age=2, stale-if-error=60",
            &[],
            NOW + 30,
            true,
        ),
        (
            "past the window",
            "max-age=2, stale-if-error=60",
            &[],
            NOW + 63,
            false,
        ),
        (
            "the request directive grants it too",
            "max-age=2",
            &[("cache-control", "stale-if-error=60")],
            NOW + 30,
            true,
        ),
        ("no window, stale", "max-age=2", &[], NOW + 30, false),
        ("fresh always may", "max-age=100", &[], NOW + 30, true),
        (
            "§4.2.4: must-revalidate forbids it",
            "max-age=2, must-revalidate, stale-if-error=60",
            &[],
            NOW + 30,
            false,
        ),
        (
            "§5.2.1.4: request no-cache needs validation, fresh or not",
            "max-age=100",
            &[("cache-control", "no-cache")],
            NOW + 30,
            false,
        ),
    ];
    for (name, cc, request, now, expected) in cases {
        let map = headers(&[("cache-control", cc), ("date", &date(NOW))]);
        let stored = Stored {
            status: StatusCode::OK,
            headers: &map,
            request_time: secs(NOW),
            response_time: secs(NOW),
        };
        assert_eq!(
            stale_if_error_allows(&shared, &stored, &headers(request), secs(*now)),
            *expected,
            "{name}"
        );
    }
}

#[test]
fn no_cache_names_are_header_names() {
    let d = ResponseDirectives::from_headers(&headers(&[("cache-control", "no-cache=\"X-A, x-b\"")]));
    assert_eq!(
        d.no_cache.unwrap().names(),
        &[HeaderName::from_static("x-a"), HeaderName::from_static("x-b")]
    );
}
