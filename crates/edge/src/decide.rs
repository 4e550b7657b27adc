//! The edge's own pure decisions, around the core's: which requests the
//! cache handles (and which the edge answers itself), the primary cache
//! key, the core's answer plan for a client's `GET`/`HEAD` with the edge's
//! policy on `If-Match` ([`client_plan`]), and which responses the core
//! would store that the edge declines to (`Set-Cookie`). Revalidation
//! answers are the core's ([`revalidate_core::cache::on_validation_response`]);
//! the header sets sent to the origin are [`crate::forward`]'s, those sent
//! to the client the proxy's.
//!
//! Nothing here does IO or reads a clock; [`crate::proxy`] does, and calls
//! these.

use http::{HeaderMap, Method, StatusCode};
use revalidate_core::answer::{Plan, RangeField, plan};
use revalidate_core::cache::{CacheConfig, SetCookiePolicy, Stored};
use revalidate_core::purge::PURGE_PATH;
use revalidate_core::{HttpDate, Preconditions, Validators};

/// What the edge does with a request, by method and target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// The purge API (only when a token is configured).
    Purge,
    /// `GET` or `HEAD`: through the cache.
    Cacheable,
    /// Any other method: to the origin, then invalidate on success (§4.4).
    Pass,
    /// `OPTIONS *`: a question about the server itself, which the edge
    /// answers ([RFC 9110 §9.3.7]: `200` with `Allow`).
    ///
    /// [RFC 9110 §9.3.7]: https://www.rfc-editor.org/rfc/rfc9110#section-9.3.7
    ServerOptions,
    /// The asterisk form with any method but `OPTIONS` (RFC 9112 §3.2.4:
    /// "only used for a server-wide OPTIONS request"): `400`.
    AsteriskTarget,
    /// `CONNECT`: a reverse proxy opens no tunnels: `405` with `Allow`.
    Connect,
}

/// The methods the edge handles, for `Allow` (on `OPTIONS *` and a `405`
/// to `CONNECT`).
pub const ALLOWED_METHODS: &str = "GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE";

/// Routes a request by its method and its target's path (`*` for the
/// asterisk form).
pub fn route(method: &Method, path: &str, purge_enabled: bool) -> Route {
    if path == "*" {
        return if *method == Method::OPTIONS {
            Route::ServerOptions
        } else {
            Route::AsteriskTarget
        };
    }
    if purge_enabled && path == PURGE_PATH {
        return Route::Purge;
    }
    // `/metrics` is the origin's path like any other: the edge's own
    // metrics are on its admin listener (`revalidate_listener::admin`).
    if *method == Method::GET || *method == Method::HEAD {
        Route::Cacheable
    } else if *method == Method::CONNECT {
        Route::Connect
    } else {
        Route::Pass
    }
}

/// The primary cache key of a request target (its path and query): the
/// scheme it came on and the site's name (`prefix`, [`key_prefix`]), then
/// the target (normalised by the site's
/// rules before this), as `https://site/path?query`. The scheme is in the
/// key as in nginx's default `$scheme$proxy_host$request_uri`: the origin
/// learns it (`X-Forwarded-Proto`) and may answer differently (a redirect
/// to `https`). The site's name, not the client's `Host`, is the host
/// part: every host name of a site is answered with the same origin
/// request (whose `Host` is the origin's), so they share entries, and no
/// client can grow the cache with made-up host names.
pub fn primary_key(prefix: &str, target: &str) -> String {
    let mut key = String::with_capacity(prefix.len() + target.len());
    key.push_str(prefix);
    key.push_str(target);
    key
}

/// The start of every key of `site` under `scheme` ([`primary_key`]'s
/// `prefix`): `https://site`. An edge makes its two once.
pub fn key_prefix(scheme: &str, site: &str) -> String {
    format!("{scheme}://{site}")
}

/// The schemes a key may carry, for purges and invalidations, which reach
/// both.
pub const KEY_SCHEMES: [&str; 2] = ["http", "https"];

/// A surrogate key (tag) as a site stores it: its name, a space (which a
/// tag cannot hold: tags are split on it) and the tag.
pub fn site_tag(site: &str, tag: &str) -> String {
    format!("{site} {tag}")
}

/// Why the edge declines to store a response the core would store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Declined {
    /// It sets a cookie and the `cache_set_cookie` policy
    /// ([`SetCookiePolicy`]) does not store it: by default, one without an
    /// explicit lifetime that is still fresh on arrival. RFC 9111 lets a
    /// cache decline to store any response (§2: "caching is an entirely
    /// OPTIONAL feature of HTTP"; §3 lists when a cache MUST NOT store,
    /// never when it must), so this is a policy, not a deviation.
    SetCookie,
}

impl Declined {
    /// The `Cache-Status` detail.
    pub fn token(self) -> &'static str {
        match self {
            Self::SetCookie => "set-cookie",
        }
    }
}

/// Whether the edge declines to store `stored` (fields as they would be
/// stored, 304 updates applied), which the core's `storage_decision`
/// allows, under its `Set-Cookie` policy.
pub fn declines_to_store(
    cache: &CacheConfig,
    stored: &Stored<'_>,
    set_cookie: SetCookiePolicy,
) -> Option<Declined> {
    (!set_cookie.allows(cache, stored)).then_some(Declined::SetCookie)
}

/// The core's plan ([`revalidate_core::answer::plan`]) for answering a
/// client's `GET`/`HEAD` from a complete response the edge holds: `status`,
/// its `validators` (for a stored response the core's
/// [`revalidate_core::cache::stored_validators`]) and a body of `length`
/// bytes when it is at hand (`None` while it still streams from the
/// origin, which leaves `Range` ignored, as [RFC 9110 §14.2] allows). The
/// client's preconditions run in the order of [RFC 9110 §13.2.2], then its
/// `Range`; a single range (`bytes=0-` too) gets a `206`, several a
/// `multipart/byteranges` `206`.
///
/// Policy: `If-Match` and `If-Unmodified-Since` on a `GET` or `HEAD` are
/// evaluated against the stored response, like `If-None-Match`: a fresh
/// stored response is the selected representation as far as this request
/// is concerned (§13.1.1 lets a cache evaluate them). Unsafe methods are
/// never answered from the cache; their preconditions go to the origin.
///
/// [RFC 9110 §13.2.2]: https://www.rfc-editor.org/rfc/rfc9110#section-13.2.2
/// [RFC 9110 §14.2]: https://www.rfc-editor.org/rfc/rfc9110#section-14.2
pub fn client_plan(
    method: &Method,
    request: &HeaderMap,
    status: StatusCode,
    validators: &Validators,
    length: Option<u64>,
    now: HttpDate,
) -> Plan {
    plan(
        method,
        &Preconditions::from_headers(request),
        &RangeField::from_headers(request),
        status,
        validators,
        length,
        now,
    )
}

/// The surrogate keys a response carries, for purging by tag: the
/// space- or comma-separated values of `Cache-Tag` and `Surrogate-Key`.
pub fn surrogate_tags(headers: &HeaderMap) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for name in ["cache-tag", "surrogate-key"] {
        for value in headers.get_all(name) {
            let Ok(value) = value.to_str() else { continue };
            for tag in value.split([',', ' ', '\t']).filter(|t| !t.is_empty()) {
                if !tags.iter().any(|t| t == tag) {
                    tags.push(tag.to_owned());
                }
            }
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use http::HeaderValue;
    use revalidate_core::Condition;

    use super::*;

    #[test]
    fn the_primary_key_is_scheme_site_and_target() {
        let cases = [
            ("http", "default", "/a?b=1", "http://default/a?b=1"),
            ("https", "www.example.com", "/", "https://www.example.com/"),
            ("http", "s", "http://client.example/p", "http://s/p"),
        ];
        for (scheme, site, target, key) in cases {
            let uri: http::Uri = target.parse().unwrap();
            let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
            assert_eq!(primary_key(&key_prefix(scheme, site), target), key);
        }
        assert_eq!(site_tag("a", "t"), "a t");
    }

    fn headers(fields: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in fields {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    const NOW: HttpDate = match HttpDate::from_unix_seconds(1_771_372_800) {
        Some(now) => now,
        None => HttpDate::MAX,
    };

    #[test]
    fn routes() {
        let cases = [
            (Method::GET, "/metrics", false, Route::Cacheable),
            (Method::POST, "/metrics", false, Route::Pass),
            (Method::GET, "/a", false, Route::Cacheable),
            (Method::HEAD, "/a", false, Route::Cacheable),
            (Method::DELETE, "/a", false, Route::Pass),
            (Method::POST, PURGE_PATH, true, Route::Purge),
            (Method::POST, PURGE_PATH, false, Route::Pass),
            (Method::GET, PURGE_PATH, true, Route::Purge),
            (Method::OPTIONS, "*", false, Route::ServerOptions),
            (Method::OPTIONS, "/a", false, Route::Pass),
            (Method::GET, "*", false, Route::AsteriskTarget),
            (Method::HEAD, "*", false, Route::AsteriskTarget),
            (Method::POST, "*", true, Route::AsteriskTarget),
            (Method::CONNECT, "", false, Route::Connect),
            (Method::CONNECT, "*", false, Route::AsteriskTarget),
        ];
        for (method, path, purge, expected) in cases {
            assert_eq!(route(&method, path, purge), expected, "{method} {path}");
        }
    }

    #[test]
    fn client_plans_from_a_stored_response() {
        let stored = headers(&[
            ("etag", "\"v1\""),
            ("last-modified", "Wed, 01 Jan 2020 00:00:00 GMT"),
            ("content-length", "10"),
        ]);
        let validators = Validators::from_response_headers(&stored);
        let get = Method::GET;
        type Fields<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(&str, Fields<'_>, Plan)] = &[
            ("plain", &[], Plan::Full),
            ("inm match", &[("if-none-match", "\"v1\"")], Plan::NotModified),
            (
                "inm weak match",
                &[("if-none-match", "W/\"v1\"")],
                Plan::NotModified,
            ),
            (
                "inm list",
                &[("if-none-match", "\"a\", \"v1\"")],
                Plan::NotModified,
            ),
            ("inm star", &[("if-none-match", "*")], Plan::NotModified),
            ("inm other", &[("if-none-match", "\"v2\"")], Plan::Full),
            ("inm malformed is ignored", &[("if-none-match", "v1")], Plan::Full),
            (
                "ims equal",
                &[("if-modified-since", "Wed, 01 Jan 2020 00:00:00 GMT")],
                Plan::NotModified,
            ),
            (
                "ims earlier",
                &[("if-modified-since", "Tue, 31 Dec 2019 00:00:00 GMT")],
                Plan::Full,
            ),
            (
                "ims malformed is ignored",
                &[("if-modified-since", "yesterday")],
                Plan::Full,
            ),
            (
                "inm beats ims",
                &[
                    ("if-none-match", "\"v2\""),
                    ("if-modified-since", "Wed, 01 Jan 2020 00:00:00 GMT"),
                ],
                Plan::Full,
            ),
            (
                "if-match fails",
                &[("if-match", "\"v2\"")],
                Plan::PreconditionFailed(Some(Condition::IfMatch)),
            ),
            ("if-match passes", &[("if-match", "\"v1\"")], Plan::Full),
            (
                "ius fails",
                &[("if-unmodified-since", "Tue, 31 Dec 2019 00:00:00 GMT")],
                Plan::PreconditionFailed(Some(Condition::IfUnmodifiedSince)),
            ),
            ("range", &[("range", "bytes=2-4")], Plan::Partial(2..=4)),
            ("suffix range", &[("range", "bytes=-3")], Plan::Partial(7..=9)),
            ("open range", &[("range", "bytes=8-")], Plan::Partial(8..=9)),
            ("unsatisfiable", &[("range", "bytes=20-30")], Plan::Unsatisfiable),
            ("bad range ignored", &[("range", "lines=1-2")], Plan::Full),
            (
                "a reversed range past u64 (fuzz: the parser saturated it) ignores the field",
                &[(
                    "range",
                    "bytes=2-4,77777777744674203544018829142-999999899999999999999",
                )],
                Plan::Full,
            ),
            (
                "two range lines ignored (fuzz: the edge read only the first)",
                &[("range", "bytes=0-1"), ("range", "bytes=2-3")],
                Plan::Full,
            ),
            (
                "two ranges: multipart, in the order asked",
                &[("range", "bytes=0-1,4-5")],
                Plan::Multipart(vec![0..=1, 4..=5]),
            ),
            (
                "the whole body as one range: 206",
                &[("range", "bytes=0-")],
                Plan::Partial(0..=9),
            ),
            (
                "if-range match",
                &[("range", "bytes=0-1"), ("if-range", "\"v1\"")],
                Plan::Partial(0..=1),
            ),
            (
                "if-range mismatch",
                &[("range", "bytes=0-1"), ("if-range", "\"v0\"")],
                Plan::Full,
            ),
        ];
        for (name, request, expected) in cases {
            let answer = client_plan(
                &get,
                &headers(request),
                StatusCode::OK,
                &validators,
                Some(10),
                NOW,
            );
            assert_eq!(&answer, expected, "{name}");
        }
        // Preconditions do not apply to a stored 404 (RFC 9110 §13.2.1).
        let answer = client_plan(
            &get,
            &headers(&[("if-none-match", "\"v1\"")]),
            StatusCode::NOT_FOUND,
            &validators,
            Some(10),
            NOW,
        );
        assert_eq!(answer, Plan::Full);
        // HEAD never gets a range.
        let answer = client_plan(
            &Method::HEAD,
            &headers(&[("range", "bytes=0-1")]),
            StatusCode::OK,
            &validators,
            Some(10),
            NOW,
        );
        assert_eq!(answer, Plan::Full);
    }

    #[test]
    fn set_cookie_responses_are_declined_by_policy() {
        let cache = CacheConfig::shared();
        fn view(map: &HeaderMap) -> Stored<'_> {
            Stored {
                status: StatusCode::OK,
                headers: map,
                request_time: NOW,
                response_time: NOW,
            }
        }
        let explicit = headers(&[("set-cookie", "session=1"), ("cache-control", "max-age=60")]);
        let heuristic = headers(&[
            ("set-cookie", "session=1"),
            ("last-modified", "Wed, 01 Jan 2020 00:00:00 GMT"),
        ]);
        let plain = headers(&[("cache-control", "max-age=60")]);
        let declined = Some(Declined::SetCookie);
        for (fields, policy, expected) in [
            (&explicit, SetCookiePolicy::Never, declined),
            (&explicit, SetCookiePolicy::Explicit, None),
            (&explicit, SetCookiePolicy::Always, None),
            (&heuristic, SetCookiePolicy::Explicit, declined),
            (&heuristic, SetCookiePolicy::Always, None),
            (&plain, SetCookiePolicy::Never, None),
        ] {
            assert_eq!(
                declines_to_store(&cache, &view(fields), policy),
                expected,
                "{policy:?} {fields:?}"
            );
        }
        assert_eq!(Declined::SetCookie.token(), "set-cookie");
    }

    #[test]
    fn tags_from_cache_tag_and_surrogate_key() {
        let h = headers(&[
            ("cache-tag", "a, b"),
            ("surrogate-key", "b c"),
            ("cache-tag", "d"),
        ]);
        assert_eq!(surrogate_tags(&h), ["a", "b", "d", "c"]);
    }
}
