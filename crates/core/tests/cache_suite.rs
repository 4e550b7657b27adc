//! The cache-tests.fyi cases (http-cache-tests 0.4.5; the `age-parse` rows as the current suite has them) that the core's
//! decisions settle on their own, replayed as decisions: store the first
//! response ([`storage_decision`], [`storable_headers`], and in a shared
//! cache the default [`SetCookiePolicy`]), wait 3 s when the
//! test pauses, then ask [`vary_matches`] and [`reuse_decision`] about the
//! second request. Each row is named by the test id; `kind` is the suite's
//! (`required`, `optimal` or `check`). Header values written `@N` are HTTP-dates N
//! seconds from the first request, as the suite's integer dates are.
//!
//! Rows whose `gap` is set are cases the core deliberately answers the
//! other way (documented in `revalidate_core::cache`); the test asserts
//! that answer so a change of behaviour shows up here.

use crate::support::secs;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use revalidate_core::HttpDate;
use revalidate_core::cache::*;

const T0: u64 = 1_771_372_800;
/// `pause_after` in the suite waits 3 seconds.
const PAUSE: u64 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Required,
    Optimal,
    /// The suite's `check`: informational, no verdict either way.
    Check,
}

/// What the origin saw for the second request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    /// Nothing: the cache answered (`cached`).
    Cached,
    /// An unconditional request (`not_cached`).
    NotCached,
    /// A request with `If-None-Match` (`etag_validated`; counts as `not_cached` too).
    EtagValidated,
    /// A request with `If-Modified-Since` only (`lm_validated`).
    LmValidated,
}

use Kind::{Check, Optimal, Required};
use Seen::{Cached, EtagValidated, LmValidated, NotCached};

type Fields = &'static [(&'static str, &'static str)];

struct Case {
    id: &'static str,
    kind: Kind,
    private: bool,
    status: u16,
    response: Fields,
    first: Fields,
    second: Fields,
    pause: bool,
    expect: Seen,
    gap: Option<&'static str>,
}

const fn case(id: &'static str, kind: Kind, response: Fields, pause: bool, expect: Seen) -> Case {
    Case {
        id,
        kind,
        private: false,
        status: 200,
        response,
        first: &[],
        second: &[],
        pause,
        expect,
        gap: None,
    }
}

impl Case {
    const fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
    const fn requests(mut self, first: Fields, second: Fields) -> Self {
        self.first = first;
        self.second = second;
        self
    }
    const fn private(mut self) -> Self {
        self.private = true;
        self
    }
    const fn gap(mut self, why: &'static str) -> Self {
        self.gap = Some(why);
        self
    }
}

fn materialise(fields: Fields) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in fields {
        let value = match value.strip_prefix('@') {
            Some(offset) => {
                let offset: i64 = offset.parse().unwrap();
                HttpDate::from_unix_seconds(T0.checked_add_signed(offset).unwrap())
                    .unwrap()
                    .to_header_value()
            }
            None => HeaderValue::from_str(value).unwrap(),
        };
        map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), value);
    }
    map
}

fn replay(case: &Case) -> Seen {
    let config = if case.private {
        CacheConfig::private()
    } else {
        CacheConfig::shared()
    };
    let status = StatusCode::from_u16(case.status).unwrap();
    let first = materialise(case.first);
    let response = materialise(case.response);
    if storage_decision(&config, &Method::GET, &first, status, &response) != StoreDecision::Store {
        return NotCached;
    }
    let kept = storable_headers(&config, &response);
    let stored = Stored {
        status,
        headers: &kept,
        request_time: secs(T0),
        response_time: secs(T0),
    };
    // A shared cache's default `Set-Cookie` policy (`other-set-cookie`).
    if config.is_shared() && !SetCookiePolicy::default().allows(&config, &stored) {
        return NotCached;
    }
    let second = materialise(case.second);
    if !vary_matches(&kept, &first, &second) {
        return NotCached;
    }
    let now = T0 + if case.pause { PAUSE } else { 0 };
    match reuse_decision(&config, &stored, &second, secs(now)) {
        Reuse::Fresh { .. } | Reuse::StaleAllowed { .. } | Reuse::StaleWhileRevalidate { .. } => Cached,
        Reuse::Revalidate | Reuse::GatewayTimeout => {
            let conditional = conditional_request_headers([&kept]);
            if conditional.contains_key("if-none-match") {
                EtagValidated
            } else if conditional.contains_key("if-modified-since") {
                LmValidated
            } else {
                NotCached
            }
        }
    }
}

/// `not_cached` only asks that the origin saw the request.
fn satisfies(seen: Seen, expect: Seen) -> bool {
    seen == expect || (expect == NotCached && seen != Cached)
}

const LM_EXPIRES: Fields = &[("expires", "@5000"), ("last-modified", "@-3000"), ("date", "@0")];

#[rustfmt::skip]
const CASES: &[Case] = &[
    // cc-freshness
    case("freshness-max-age", Optimal, &[("cache-control", "max-age=3600")], true, Cached),
    case("freshness-max-age-0", Required, &[("cache-control", "max-age=0")], true, NotCached),
    case("freshness-max-age-max-minus-1", Optimal, &[("cache-control", "max-age=2147483647")], true, Cached),
    case("freshness-max-age-max", Optimal, &[("cache-control", "max-age=2147483648")], true, Cached),
    case("freshness-max-age-max-plus-1", Optimal, &[("cache-control", "max-age=2147483649")], true, Cached),
    case("freshness-max-age-max-plus", Optimal, &[("cache-control", "max-age=99999999999")], true, Cached),
    case("freshness-max-age-age", Required, &[("date", "@0"), ("cache-control", "max-age=3600"), ("age", "7200")], true, NotCached),
    case("freshness-max-age-expires", Optimal, &[("cache-control", "max-age=3600"), ("expires", "@-7200"), ("date", "@0")], true, Cached),
    case("freshness-max-age-expires-invalid", Optimal, &[("cache-control", "max-age=3600"), ("expires", "0"), ("date", "@0")], true, Cached),
    case("freshness-max-age-0-expires", Required, &[("expires", "@3600"), ("cache-control", "max-age=0"), ("date", "@0")], true, NotCached),
    case("freshness-max-age-extension", Optimal, &[("cache-control", "foobar, max-age=3600")], true, Cached),
    case("freshness-max-age-case-insenstive", Optimal, &[("cache-control", "MaX-aGe=3600")], true, Cached),
    case("freshness-max-age-negative", Required, &[("cache-control", "max-age=-3600")], true, NotCached),
    case("freshness-max-age-s-maxage-private", Required, &[("cache-control", "s-maxage=3600, max-age=1")], true, NotCached).private(),
    case("freshness-max-age-s-maxage-private-multiple", Required, &[("cache-control", "s-maxage=3600"), ("cache-control", "max-age=1")], true, NotCached).private(),
    case("freshness-s-maxage-shared", Required, &[("cache-control", "s-maxage=3600")], true, Cached),
    case("freshness-max-age-s-maxage-shared-longer", Required, &[("cache-control", "max-age=3600, s-maxage=1")], true, NotCached),
    case("freshness-max-age-s-maxage-shared-longer-reversed", Required, &[("cache-control", "s-maxage=1, max-age=3600")], true, NotCached),
    case("freshness-max-age-s-maxage-shared-longer-multiple", Required, &[("cache-control", "max-age=3600"), ("cache-control", "s-maxage=1")], true, NotCached),
    case("freshness-max-age-s-maxage-shared-shorter", Optimal, &[("cache-control", "max-age=1, s-maxage=3600")], true, Cached),
    case("freshness-max-age-s-maxage-shared-shorter-expires", Optimal, &[("expires", "@-10"), ("cache-control", "max-age=0, s-maxage=3600")], true, Cached),
    // cc-parse (the required and optimal ones)
    case("freshness-max-age-single-quoted", Required, &[("cache-control", "max-age='3600'")], true, NotCached),
    case("freshness-max-age-ignore-quoted", Required, &[("cache-control", "extension=\"max-age=3600\", max-age=1")], true, NotCached),
    case("freshness-max-age-ignore-quoted-rev", Required, &[("cache-control", "max-age=1, extension=\"max-age=3600\"")], true, NotCached),
    case("freshness-max-age-ignore-quoted-all", Required, &[("cache-control", "extension=\"max-age=3600\", max-age=\"1\"")], true, NotCached),
    case("freshness-max-age-ignore-quoted-all-rev", Required, &[("cache-control", "max-age=\"1\", extension=\"max-age=3600\"")], true, NotCached),
    case("freshness-max-age-leading-zero", Optimal, &[("cache-control", "max-age=003600")], true, Cached),
    // age-parse
    // age-parse, as the current suite (cache-tests b55b8bd) has them: RFC 9111 §5.1, the first member
    // of a list counts and an invalid value is ignored. (0.4.5 expected every list or invalid value
    // to make the response stale.)
    case("age-parse-nonnumeric", Required, &[("date", "@0"), ("cache-control", "max-age=3600"), ("age", "abc")], true, Cached),
    case("age-parse-negative", Required, &[("date", "@0"), ("cache-control", "max-age=3600"), ("age", "-7200")], true, Cached),
    case("age-parse-float", Required, &[("date", "@0"), ("cache-control", "max-age=3600"), ("age", "7200.0")], true, Cached),
    case("age-parse-large-minus-one", Required, &[("date", "@0"), ("cache-control", "max-age=3600"), ("age", "2147483647")], true, NotCached),
    case("age-parse-large", Required, &[("date", "@0"), ("cache-control", "max-age=3600"), ("age", "2147483648")], true, NotCached),
    case("age-parse-larger", Required, &[("date", "@0"), ("cache-control", "max-age=3600"), ("age", "2147483649")], true, NotCached),
    case("age-parse-suffix", Required, &[("date", "@0"), ("cache-control", "max-age=3600"), ("age", "7200, 0")], true, NotCached),
    case("age-parse-prefix", Required, &[("date", "@0"), ("cache-control", "max-age=3600"), ("age", "0, 7200")], true, Cached),
    case("age-parse-suffix-twoline", Required, &[("date", "@0"), ("cache-control", "max-age=3600"), ("age", "7200"), ("age", "0")], true, NotCached),
    case("age-parse-prefix-twoline", Required, &[("date", "@0"), ("cache-control", "max-age=3600"), ("age", "0"), ("age", "7200")], true, Cached),
    case("age-parse-dup-0", Required, &[("date", "@0"), ("cache-control", "max-age=3600"), ("age", "0, 0")], true, Cached),
    case("age-parse-dup-0-twoline", Required, &[("date", "@0"), ("cache-control", "max-age=3600"), ("age", "0"), ("age", "0")], true, Cached),
    case("age-parse-dup-old", Required, &[("date", "@0"), ("cache-control", "max-age=10000"), ("age", "3600"), ("age", "3600")], true, Cached),
    // The suite's `check` kind (no verdict): a parameter makes the value invalid for §5.1's
    // delta-seconds, so the field is ignored and the response is fresh.
    case("age-parse-parameter", Check, &[("date", "@0"), ("cache-control", "max-age=3600"), ("age", "7200;foo=bar")], true, Cached),
    case("age-parse-numeric-parameter", Check, &[("date", "@0"), ("cache-control", "max-age=3600"), ("age", "7200;foo=111")], true, Cached),
    // expires
    case("freshness-expires-future", Optimal, &[("expires", "@2592000"), ("date", "@0")], true, Cached),
    case("freshness-expires-past", Required, &[("expires", "@-2592000"), ("date", "@0")], true, NotCached),
    case("freshness-expires-present", Required, &[("expires", "@0"), ("date", "@0")], false, NotCached),
    case("freshness-expires-old-date", Required, &[("expires", "@300"), ("date", "@400")], true, NotCached),
    case("freshness-expires-invalid", Required, &[("expires", "0"), ("date", "@0")], true, NotCached),
    case("freshness-expires-ansi-c", Optimal, &[("expires", "Thu Aug  8 02:01:18 2050"), ("date", "@0")], true, Cached),
    case("freshness-expires-wrong-case-weekday", Optimal, &[("expires", "THU, 18 Aug 2050 02:01:18 GMT"), ("date", "@0")], true, Cached),
    case("freshness-expires-invalid-date", Optimal, &[("date", "foo"), ("expires", "@10")], false, Cached),
    case("freshness-expires-age-slow-date", Required, &[("date", "@-10"), ("expires", "@10"), ("age", "25")], false, NotCached),
    case("freshness-expires-age-fast-date", Required, &[("date", "@10"), ("expires", "@20"), ("age", "15")], false, NotCached),
    // cc-response
    case("cc-resp-private-shared", Required, &[("cache-control", "private, max-age=3600")], false, NotCached),
    case("cc-resp-private-private", Optimal, &[("cache-control", "private, max-age=3600")], false, Cached).private(),
    case("cc-resp-no-store", Required, &[("cache-control", "no-store")], false, NotCached),
    case("cc-resp-no-store-case-insensitive", Required, &[("cache-control", "No-StOrE")], false, NotCached),
    case("cc-resp-no-store-fresh", Required, &[("cache-control", "max-age=10000, no-store"), ("expires", "@10000"), ("date", "@0")], false, NotCached),
    case("cc-resp-no-cache", Required, &[("cache-control", "max-age=10000, no-cache"), ("expires", "@10000"), ("date", "@0")], false, NotCached),
    case("cc-resp-no-cache-case-insensitive", Required, &[("cache-control", "max-age=10000, No-CaChE"), ("expires", "@10000"), ("date", "@0")], false, NotCached),
    case("cc-resp-no-cache-revalidate", Optimal, &[("cache-control", "no-cache"), ("etag", "\"abcd\"")], false, EtagValidated),
    case("cc-resp-no-cache-revalidate-fresh", Optimal, &[("cache-control", "max-age=10000, no-cache"), ("expires", "@10000"), ("date", "@0"), ("etag", "\"abcd\"")], false, EtagValidated),
    case("headers-omit-headers-listed-in-Cache-Control-no-cache-single", Optimal, &[("cache-control", "no-cache=\"a\""), ("a", "1"), ("b", "2"), ("cache-control", "max-age=3600"), ("date", "@0")], true, Cached),
    case("cc-resp-must-revalidate-fresh", Optimal, &[("cache-control", "max-age=10000, must-revalidate"), ("etag", "\"abcd\"")], false, Cached),
    case("cc-resp-must-revalidate-stale", Required, &[("cache-control", "max-age=2, must-revalidate"), ("etag", "\"abcd\"")], true, EtagValidated),
    case("cc-resp-immutable-fresh", Optimal, &[("cache-control", "max-age=10000, immutable"), ("etag", "\"abcd\"")], true, Cached),
    case("cc-resp-immutable-stale", Required, &[("cache-control", "max-age=2, immutable"), ("etag", "\"abcd\"")], true, EtagValidated),
    // stale (required ones: no stale answer when a directive forbids it)
    case("stale-close-must-revalidate", Required, &[("cache-control", "max-age=2, must-revalidate")], true, NotCached),
    case("stale-close-proxy-revalidate", Required, &[("cache-control", "max-age=2, proxy-revalidate")], true, NotCached),
    case("stale-close-no-cache", Required, &[("cache-control", "max-age=2, no-cache")], true, NotCached),
    case("stale-close-s-maxage=2", Required, &[("cache-control", "max-age=2, s-maxage=2")], true, NotCached),
    // heuristic-freshness
    case("heuristic-200-cached", Optimal, &[("last-modified", "@-86400"), ("date", "@0")], false, Cached),
    case("heuristic-201-not_cached", Required, &[("last-modified", "@-86400"), ("date", "@0")], false, NotCached).status(201),
    case("heuristic-202-not_cached", Required, &[("last-modified", "@-86400"), ("date", "@0")], false, NotCached).status(202),
    case("heuristic-203-cached", Optimal, &[("last-modified", "@-86400"), ("date", "@0")], false, Cached).status(203),
    case("heuristic-204-cached", Optimal, &[("last-modified", "@-86400"), ("date", "@0")], false, Cached).status(204),
    case("heuristic-403-not_cached", Required, &[("last-modified", "@-86400"), ("date", "@0")], false, NotCached).status(403),
    case("heuristic-404-cached", Optimal, &[("last-modified", "@-86400"), ("date", "@0")], false, Cached).status(404),
    case("heuristic-405-cached", Optimal, &[("last-modified", "@-86400"), ("date", "@0")], false, Cached).status(405),
    case("heuristic-410-cached", Optimal, &[("last-modified", "@-86400"), ("date", "@0")], false, Cached).status(410),
    case("heuristic-414-cached", Optimal, &[("last-modified", "@-86400"), ("date", "@0")], false, Cached).status(414),
    case("heuristic-501-cached", Optimal, &[("last-modified", "@-86400"), ("date", "@0")], false, Cached).status(501),
    case("heuristic-502-not_cached", Required, &[("last-modified", "@-86400"), ("date", "@0")], false, NotCached).status(502),
    case("heuristic-503-not_cached", Required, &[("last-modified", "@-86400"), ("date", "@0")], false, NotCached).status(503),
    case("heuristic-504-not_cached", Required, &[("last-modified", "@-86400"), ("date", "@0")], false, NotCached).status(504),
    case("heuristic-599-not_cached", Required, &[("last-modified", "@-86400"), ("date", "@0")], false, NotCached).status(599),
    case("heuristic-599-cached", Optimal, &[("last-modified", "@-86400"), ("date", "@0"), ("cache-control", "public")], false, Cached).status(599),
    // status: fresh ones are reused, stale ones are not, whatever the code
    case("status-200-fresh", Optimal, &[("expires", "@100000"), ("last-modified", "@0"), ("date", "@0")], false, Cached),
    case("status-200-stale", Required, &[("expires", "@-5000"), ("last-modified", "@-100000"), ("date", "@0")], false, NotCached),
    case("status-299-fresh", Optimal, &[("expires", "@100000"), ("last-modified", "@0"), ("date", "@0")], false, Cached).status(299),
    case("status-299-stale", Required, &[("expires", "@-5000"), ("last-modified", "@-100000"), ("date", "@0")], false, NotCached).status(299),
    case("status-302-fresh", Optimal, &[("expires", "@100000"), ("last-modified", "@0"), ("date", "@0")], false, Cached).status(302),
    case("status-307-stale", Required, &[("expires", "@-5000"), ("last-modified", "@-100000"), ("date", "@0")], false, NotCached).status(307),
    case("status-400-fresh", Optimal, &[("expires", "@100000"), ("last-modified", "@0"), ("date", "@0")], false, Cached).status(400),
    case("status-499-fresh", Optimal, &[("expires", "@100000"), ("last-modified", "@0"), ("date", "@0")], false, Cached).status(499),
    case("status-500-fresh", Optimal, &[("expires", "@100000"), ("last-modified", "@0"), ("date", "@0")], false, Cached).status(500),
    case("status-503-stale", Required, &[("expires", "@-5000"), ("last-modified", "@-100000"), ("date", "@0")], false, NotCached).status(503),
    case("status-599-fresh", Optimal, &[("expires", "@100000"), ("last-modified", "@0"), ("date", "@0")], false, Cached).status(599),
    case("status-599-stale", Required, &[("expires", "@-5000"), ("last-modified", "@-100000"), ("date", "@0")], false, NotCached).status(599),
    case("status-599-must-understand", Required, &[("cache-control", "max-age=3600, must-understand")], false, NotCached).status(599),
    // vary
    case("vary-match", Optimal, &[("expires", "@5000"), ("last-modified", "@-3000"), ("date", "@0"), ("vary", "Foo")], false, Cached)
        .requests(&[("foo", "1")], &[("foo", "1")]),
    case("vary-no-match", Required, &[("expires", "@5000"), ("last-modified", "@-3000"), ("date", "@0"), ("vary", "Foo")], false, NotCached)
        .requests(&[("foo", "1")], &[("foo", "2")]),
    case("vary-omit-stored", Required, &[("expires", "@5000"), ("last-modified", "@-3000"), ("date", "@0"), ("vary", "Foo")], false, NotCached)
        .requests(&[], &[("foo", "1")]),
    case("vary-omit", Required, &[("expires", "@5000"), ("last-modified", "@-3000"), ("date", "@0"), ("vary", "Foo")], false, NotCached)
        .requests(&[("foo", "1")], &[]),
    case("vary-cache-key", Optimal, &[("expires", "@5000"), ("last-modified", "@-3000"), ("date", "@0"), ("vary", "Foo")], false, Cached)
        .requests(&[("foo", "1"), ("other", "2")], &[("foo", "1"), ("other", "3")]),
    case("vary-2-match", Optimal, &[("expires", "@5000"), ("last-modified", "@-3000"), ("date", "@0"), ("vary", "Foo, Bar")], false, Cached)
        .requests(&[("foo", "1"), ("bar", "abc")], &[("foo", "1"), ("bar", "abc")]),
    case("vary-2-no-match", Required, &[("expires", "@5000"), ("last-modified", "@-3000"), ("date", "@0"), ("vary", "Foo, Bar")], false, NotCached)
        .requests(&[("foo", "1"), ("bar", "abc")], &[("foo", "2"), ("bar", "abc")]),
    case("vary-2-match-omit", Required, &[("expires", "@5000"), ("last-modified", "@-3000"), ("date", "@0"), ("vary", "Foo, Bar")], false, NotCached)
        .requests(&[("foo", "1")], &[]),
    case("vary-3-order", Required, &[("expires", "@5000"), ("last-modified", "@-3000"), ("date", "@0"), ("vary", "Foo, Bar, Baz")], false, NotCached)
        .requests(&[("foo", "1"), ("bar", "abc4"), ("baz", "789")], &[("foo", "1"), ("bar", "abc"), ("baz", "789")]),
    case("vary-3-omit", Optimal, &[("expires", "@5000"), ("last-modified", "@-3000"), ("date", "@0"), ("vary", "Foo, Bar, Baz")], false, Cached)
        .requests(&[("foo", "1"), ("baz", "789")], &[("foo", "1"), ("baz", "789")]),
    case("vary-star", Required, &[("expires", "@5000"), ("last-modified", "@-3000"), ("date", "@0"), ("vary", "*")], false, NotCached)
        .requests(&[("foo", "1"), ("baz", "789")], &[("foo", "1"), ("baz", "789")]),
    case("vary-normalise-combine", Optimal, &[("expires", "@5000"), ("last-modified", "@-3000"), ("date", "@0"), ("vary", "Foo")], false, Cached)
        .requests(&[("foo", "1, 2")], &[("foo", "1"), ("foo", "2")]),
    case("vary-normalise-lang-order", Optimal, &[("expires", "@5000"), ("last-modified", "@-3000"), ("date", "@0"), ("vary", "Accept-Language")], false, Cached)
        .requests(&[("accept-language", "en, de")], &[("accept-language", "de, en")]),
    case("vary-normalise-lang-case", Optimal, &[("expires", "@5000"), ("last-modified", "@-3000"), ("date", "@0"), ("vary", "Accept-Language")], false, Cached)
        .requests(&[("accept-language", "en, de")], &[("accept-language", "eN, De")]),
    case("vary-normalise-lang-space", Optimal, &[("expires", "@5000"), ("last-modified", "@-3000"), ("date", "@0"), ("vary", "Accept-Language")], false, Cached)
        .requests(&[("accept-language", "en, de")], &[("accept-language", " en ,   de")]),
    case("vary-normalise-lang-select", Optimal, &[("expires", "@5000"), ("last-modified", "@-3000"), ("date", "@0"), ("vary", "Accept-Language"), ("content-language", "de")], false, Cached)
        .requests(&[("accept-language", "en, de")], &[("accept-language", "fr;q=0.5, de;q=1.0")])
        .gap("selecting a variant by the origin's negotiation is not a normalisation"),
    case("vary-normalise-space", Optimal, &[("expires", "@5000"), ("last-modified", "@-3000"), ("date", "@0"), ("vary", "Foo")], false, Cached)
        .requests(&[("foo", "1,2")], &[("foo", " 1, 2 ")]),
    // vary-parse
    case("vary-syntax-star-star", Required, &[("expires", "@5000"), ("date", "@0"), ("vary", "*, *")], false, NotCached),
    case("vary-syntax-star-star-lines", Required, &[("expires", "@5000"), ("date", "@0"), ("vary", "*"), ("vary", "*")], false, NotCached),
    case("vary-syntax-empty-star", Required, &[("expires", "@5000"), ("date", "@0"), ("vary", ", *")], false, NotCached),
    case("vary-syntax-empty-star-lines", Required, &[("expires", "@5000"), ("date", "@0"), ("vary", ""), ("vary", "*")], false, NotCached),
    case("vary-syntax-star-foo", Required, &[("expires", "@5000"), ("date", "@0"), ("vary", "*, Foo")], false, NotCached),
    case("vary-syntax-foo-star", Required, &[("expires", "@5000"), ("date", "@0"), ("vary", "Foo, *")], false, NotCached),
    // auth
    case("other-authorization", Required, &[("expires", "@2592000"), ("date", "@0")], true, NotCached)
        .requests(&[("authorization", "FOO")], &[]),
    case("other-authorization-public", Optimal, &[("cache-control", "max-age=3600, public"), ("date", "@0")], true, Cached)
        .requests(&[("authorization", "FOO")], &[]),
    case("other-authorization-must-revalidate", Optimal, &[("cache-control", "max-age=3600, must-revalidate"), ("date", "@0")], true, Cached)
        .requests(&[("authorization", "FOO")], &[]),
    case("other-authorization-smaxage", Optimal, &[("cache-control", "s-maxage=3600"), ("date", "@0")], true, Cached)
        .requests(&[("authorization", "FOO")], &[]),
    // other
    case("other-set-cookie", Optimal, &[("cache-control", "max-age=3600"), ("set-cookie", "a=b")], false, Cached),
    case("other-cookie", Optimal, &[("cache-control", "max-age=3600")], false, Cached).requests(&[], &[("cookie", "a=b")]),
    // conditional-lm (the cache's own validation request)
    case("conditional-lm-stale", Optimal, &[("cache-control", "max-age=2"), ("last-modified", "@-3000"), ("date", "@0")], true, LmValidated),
    case("conditional-etag-strong-generate", Optimal, &[("expires", "@1"), ("etag", "\"abcdef\""), ("date", "@0")], true, EtagValidated),
    case("conditional-etag-weak-generate-weak", Optimal, &[("expires", "@1"), ("etag", "W/\"abcdef\""), ("date", "@0")], true, EtagValidated),
    case("conditional-etag-vary-headers", Required, &[("expires", "@1"), ("etag", "\"abcdef\""), ("date", "@0"), ("vary", "Abc")], true, EtagValidated)
        .requests(&[("abc", "123")], &[("abc", "123")]),
];

#[test]
fn cache_tests_fyi_decisions() {
    let mut failures = Vec::new();
    for case in CASES {
        let seen = replay(case);
        let met = satisfies(seen, case.expect);
        match (case.gap, met) {
            (None, false) => failures.push(format!(
                "{} ({:?}): expected {:?}, got {seen:?}",
                case.id, case.kind, case.expect
            )),
            (Some(why), true) => {
                failures.push(format!("{}: documented gap ({why}) no longer holds", case.id));
            }
            _ => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn cache_tests_fyi_gaps_are_few() {
    let gaps: Vec<&str> = CASES.iter().filter(|c| c.gap.is_some()).map(|c| c.id).collect();
    let required_gaps = CASES
        .iter()
        .filter(|c| c.gap.is_some() && c.kind == Required)
        .count();
    assert_eq!(required_gaps, 0, "{gaps:?}");
    let optimal = CASES.iter().filter(|c| c.kind == Optimal).count();
    let optimal_gaps = CASES
        .iter()
        .filter(|c| c.gap.is_some() && c.kind == Optimal)
        .count();
    assert!(
        optimal_gaps * 10 <= optimal,
        "{optimal_gaps} of {optimal} optimal cases are gaps"
    );
}

#[test]
fn other_age_gen_and_update() {
    // other-age-gen, other-age-update-expires, other-age-update-max-age: the
    // Age sent after a 3 s pause exceeds 2 (and the upstream 30 + 2).
    let config = CacheConfig::shared();
    for (id, response, floor) in [
        (
            "other-age-gen",
            materialise(&[("expires", "@2592000"), ("date", "@0")]),
            2,
        ),
        (
            "other-age-update-expires",
            materialise(&[("expires", "@2592000"), ("date", "@0"), ("age", "30")]),
            32,
        ),
        (
            "other-age-update-max-age",
            materialise(&[("cache-control", "max-age=600"), ("date", "@0"), ("age", "30")]),
            32,
        ),
    ] {
        let stored = Stored {
            status: StatusCode::OK,
            headers: &response,
            request_time: secs(T0),
            response_time: secs(T0),
        };
        let f = freshness(&config, &stored, secs(T0 + PAUSE));
        let sent: u64 = f.age_header_value().to_str().unwrap().parse().unwrap();
        assert!(sent > floor, "{id}: Age {sent}");
        assert!(
            matches!(
                reuse_decision(&config, &stored, &HeaderMap::new(), secs(T0 + PAUSE)),
                Reuse::Fresh { .. }
            ),
            "{id}"
        );
    }
}

#[test]
fn lm_expires_fixture_is_heuristic_free() {
    // status-* and vary-* rows carry Expires, so no heuristic is involved.
    let config = CacheConfig::shared();
    let map = materialise(LM_EXPIRES);
    let stored = Stored {
        status: StatusCode::OK,
        headers: &map,
        request_time: secs(T0),
        response_time: secs(T0),
    };
    assert_eq!(
        freshness(&config, &stored, secs(T0)).source,
        LifetimeSource::Expires
    );
}
