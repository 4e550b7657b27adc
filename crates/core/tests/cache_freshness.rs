//! Freshness lifetime and age (RFC 9111 §4.2, §5.1, §5.3), rows named
//! after the sentence or cache-tests.fyi id they check.

use http::{HeaderMap, StatusCode};
use revalidate_core::cache::directives::DELTA_SECONDS_MAX;
use revalidate_core::cache::freshness::age_value;
use revalidate_core::cache::*;

use crate::support::{CACHE_NOW as NOW, date_at as date, headers, secs};

fn stored(map: &HeaderMap) -> Stored<'_> {
    Stored {
        status: StatusCode::OK,
        headers: map,
        request_time: secs(NOW),
        response_time: secs(NOW),
    }
}

#[test]
fn age_field_table() {
    let cases: &[(&str, &[&str], u64)] = &[
        ("absent is 0", &[], 0),
        ("one delta-seconds", &["7200"], 7200),
        ("surrounding whitespace is fine", &[" 30 "], 30),
        (
            "§1.2.2: overflow is 2^31",
            &["99999999999999999999"],
            DELTA_SECONDS_MAX,
        ),
        // §5.1: "a cache SHOULD ignore the field" when its value is invalid.
        ("age-parse-nonnumeric", &["abc"], 0),
        ("age-parse-negative", &["-7200"], 0),
        ("age-parse-float", &["7200.0"], 0),
        ("age-parse-parameter", &["7200;foo=bar"], 0),
        ("an empty Age", &[""], 0),
        ("only commas", &[" , ,"], 0),
        // §5.1: "SHOULD use the first member of the field value, discarding subsequent ones";
        // several lines are one list (RFC 9110 §5.3), empty members skipped (§5.6.1.2).
        ("age-parse-suffix", &["7200, 0"], 7200),
        ("age-parse-prefix", &["0, 7200"], 0),
        ("age-parse-suffix-twoline", &["7200", "0"], 7200),
        ("age-parse-prefix-twoline", &["0", "7200"], 0),
        ("age-parse-dup-0", &["0, 0"], 0),
        ("age-parse-dup-0-twoline", &["0", "0"], 0),
        ("age-parse-dup-old (not added up)", &["3600", "3600"], 3600),
        ("an empty first member is skipped", &[", 30"], 30),
        ("an empty first line is skipped", &["", "30"], 30),
        ("an invalid first member voids the field", &["x, 30"], 0),
        ("age-parse-large", &["2147483648"], DELTA_SECONDS_MAX),
        (
            "age-parse-larger: §1.2.2 caps at 2^31",
            &["2147483649"],
            DELTA_SECONDS_MAX,
        ),
    ];
    for (name, lines, expected) in cases {
        let pairs: Vec<(&str, &str)> = lines.iter().map(|l| ("age", *l)).collect();
        assert_eq!(age_value(&headers(&pairs)), *expected, "{name}");
    }
}

#[test]
fn age_header_value_is_capped_at_2_pow_31() {
    // §5.1: "it MUST transmit an Age header field with a value of 2147483648".
    assert_eq!(age_header_value(5), "5");
    assert_eq!(age_header_value(DELTA_SECONDS_MAX + 10), "2147483648");
    assert_eq!(age_header_value(u64::MAX), "2147483648");
}

#[test]
fn freshness_table() {
    let shared = CacheConfig::shared();
    let private = CacheConfig::private();
    let d = date;
    #[allow(clippy::type_complexity)]
    let cases: Vec<(&str, &CacheConfig, Vec<(&str, String)>, u64, LifetimeSource)> = vec![
        (
            "§5.3: Expires `0` is already expired",
            &shared,
            vec![("expires", "0".into()), ("date", d(NOW))],
            0,
            LifetimeSource::Expires,
        ),
        (
            "§4.2: a cache matches dates case-insensitively (freshness-expires-wrong-case-*)",
            &shared,
            vec![
                ("expires", d(NOW + 600).to_uppercase()),
                ("date", d(NOW).to_lowercase()),
            ],
            600,
            LifetimeSource::Expires,
        ),
        (
            "§4.2.1: two Expires lines are invalid, so expired",
            &shared,
            vec![("expires", d(NOW + 60)), ("expires", d(NOW + 90))],
            0,
            LifetimeSource::Expires,
        ),
        (
            "RFC 9213 §2.2: a targeted field makes the cache ignore Expires",
            &shared,
            vec![
                ("cdn-cache-control", "must-revalidate".into()),
                ("expires", d(NOW + 600)),
                ("date", d(NOW)),
            ],
            0,
            LifetimeSource::None,
        ),
        (
            "surrogate-max-age-expires (CDN-Cache-Control form): targeted max-age beats a past Expires",
            &shared,
            vec![
                ("cdn-cache-control", "max-age=3600".into()),
                ("expires", d(NOW - 10_000)),
                ("date", d(NOW)),
            ],
            3600,
            LifetimeSource::MaxAge,
        ),
        (
            "§4.2.2: heuristic is 10 % of Date − Last-Modified",
            &shared,
            vec![("last-modified", d(NOW - 1000)), ("date", d(NOW))],
            100,
            LifetimeSource::Heuristic,
        ),
        (
            "heuristic is capped",
            &shared,
            vec![("last-modified", d(0)), ("date", d(NOW))],
            24 * 60 * 60,
            LifetimeSource::Heuristic,
        ),
        (
            "a Last-Modified after Date gives no heuristic lifetime",
            &shared,
            vec![("last-modified", d(NOW + 1000)), ("date", d(NOW))],
            0,
            LifetimeSource::Heuristic,
        ),
        (
            "freshness-max-age-s-maxage-private: a private cache ignores s-maxage",
            &private,
            vec![("cache-control", "s-maxage=3600, max-age=1".into())],
            1,
            LifetimeSource::MaxAge,
        ),
    ];
    for (name, config, pairs, lifetime, source) in cases {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let map = headers(&pairs);
        let f = freshness(config, &stored(&map), secs(NOW));
        assert_eq!((f.lifetime, f.source), (lifetime, source), "{name}");
    }
}

#[test]
fn heuristic_percent_overflow_saturates() {
    let config = CacheConfig {
        heuristic_percent: u64::MAX,
        heuristic_max: 7,
        ..CacheConfig::shared()
    };
    let map = headers(&[("last-modified", &date(0)), ("date", &date(NOW))]);
    assert_eq!(freshness(&config, &stored(&map), secs(NOW)).lifetime, 7);
}

#[test]
fn ttl_is_negative_once_stale() {
    let map = headers(&[("cache-control", "max-age=10"), ("date", &date(NOW))]);
    let config = CacheConfig::shared();
    assert_eq!(freshness(&config, &stored(&map), secs(NOW + 4)).ttl(), 6);
    assert_eq!(freshness(&config, &stored(&map), secs(NOW + 25)).ttl(), -15);
}

#[test]
fn ttl_of_a_lifetime_and_an_age() {
    // (lifetime, age, ttl): what a cache holding a lifetime and a later age
    // writes in `Cache-Status` (RFC 9211 §2.4), the same as `Freshness::ttl`.
    let cases = [
        (10, 4, 6),
        (10, 10, 0),
        (10, 25, -15),
        (0, DELTA_SECONDS_MAX, -2_147_483_648),
        (u64::MAX, 0, i64::MAX),
        (0, u64::MAX, -i64::MAX),
        (u64::MAX, u64::MAX, 0),
    ];
    for (lifetime, age, expected) in cases {
        assert_eq!(ttl(lifetime, age), expected, "lifetime {lifetime}, age {age}");
    }
}

#[test]
fn missing_date_uses_the_arrival_time() {
    // RFC 9110 §6.6.1: the recipient records the time it was received.
    let map = headers(&[("expires", &date(NOW + 60))]);
    let f = freshness(&CacheConfig::shared(), &stored(&map), secs(NOW + 10));
    assert_eq!((f.lifetime, f.age), (60, 10));
}

/// A cache may work freshness out once, when the response arrives, and
/// age it afterwards: [`Freshness::after`] then gives what [`freshness()`]
/// gives at the later time, and so does the reuse decision made from it.
#[test]
fn freshness_worked_out_at_arrival_and_aged_equals_freshness_later() {
    let responses = [
        headers(&[("cache-control", "max-age=60")]),
        headers(&[("cache-control", "max-age=60"), ("age", "20")]),
        headers(&[("last-modified", &date(NOW - 1000)), ("date", &date(NOW - 5))]),
        headers(&[("cache-control", "s-maxage=30, stale-while-revalidate=60")]),
        headers(&[("cache-control", "no-cache=\"set-cookie\", max-age=100")]),
    ];
    let config = CacheConfig::shared();
    let plain = HeaderMap::new();
    for response in &responses {
        let stored = stored(response);
        let arrival = freshness(&config, &stored, secs(NOW));
        for later in [0, 1, 29, 30, 59, 60, 61, 500, 5000] {
            let now = NOW + later;
            let aged = arrival.after(later);
            assert_eq!(
                aged,
                freshness(&config, &stored, secs(now)),
                "{response:?} +{later}"
            );
            assert_eq!(
                reuse_decision_with(&config, &stored, &aged, &plain),
                reuse_decision(&config, &stored, &plain, secs(now)),
                "{response:?} +{later}"
            );
        }
    }
}

#[test]
fn dates_are_read_leniently_by_caches_only() {
    // RFC 9111 §4.2: "a cache recipient SHOULD match the field value case-insensitively";
    // RFC 9110 §5.6.7: HTTP-date "is case sensitive" for everyone else, and
    // the grammar asks for a day-name, not the date's weekday ("recipients
    // of timestamp values are encouraged to be robust").
    use revalidate_core::HttpDate;
    let canonical = HttpDate::parse(b"Thu, 18 Aug 2050 02:01:18 GMT").unwrap();
    for text in [
        "THU, 18 Aug 2050 02:01:18 GMT",
        "Thu, 18 AUG 2050 02:01:18 GMT",
        "Thu, 18 Aug 2050 02:01:18 gMT",
        "thursday, 18-aug-50 02:01:18 gmt",
        "THU AUG 18 02:01:18 2050",
        "FRI, 18 Aug 2050 02:01:18 GMT",
        "Mon, 18 Aug 2050 02:01:18 GMT",
        "Wednesday, 18-Aug-50 02:01:18 GMT",
        "Sun Aug 18 02:01:18 2050",
    ] {
        assert!(
            HttpDate::parse(text.as_bytes()).is_err(),
            "{text} is not an HTTP-date"
        );
        assert_eq!(HttpDate::parse_lenient(text.as_bytes()), Ok(canonical), "{text}");
    }
    // freshness-expires-ansi-c: 8 August 2050 is a Monday.
    assert_eq!(
        HttpDate::parse_lenient(b"Thu Aug  8 02:01:18 2050"),
        HttpDate::parse(b"Mon Aug  8 02:01:18 2050")
    );
    for bad in [
        "",
        "0",
        "THU, 18 AUG 2050 02:01:18 UTC",
        "Thu, 18 Aug 2050 02:01:18 GMTX",
        "Thu, 18 Aug 2050 02:01:18 GMT and more text to be longer than any date",
        "Foo, 18 Aug 2050 02:01:18 GMT",
        "Thursday, 18 Aug 2050 02:01:18 GMT",
        "Thu, 18-Aug-50 02:01:18 GMT",
        "Thu, 31 Feb 2050 02:01:18 GMT",
        "Thu, 18 Aug 2050 25:01:18 GMT",
        "Aug 18 02:01:18 2050",
    ] {
        assert!(HttpDate::parse_lenient(bad.as_bytes()).is_err(), "{bad}");
    }
}

/// An operator's lifetimes: `heuristic_lifetime` is the §4.2.2 heuristic
/// where one is allowed, `lifetime_override` replaces every lifetime
/// (DEVIATION(ttl-override)).
#[test]
fn configured_lifetimes_table() {
    let default_ttl = CacheConfig {
        heuristic_lifetime: Some(600),
        ..CacheConfig::shared()
    };
    let override_ttl = CacheConfig {
        lifetime_override: Some(60),
        ..CacheConfig::shared()
    };
    let d = |t: u64| date(t);
    type Case<'a> = (
        &'a str,
        &'a CacheConfig,
        StatusCode,
        Vec<(&'a str, String)>,
        u64,
        LifetimeSource,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            "a default applies without any lifetime",
            &default_ttl,
            StatusCode::OK,
            vec![("date", d(NOW))],
            600,
            LifetimeSource::Heuristic,
        ),
        (
            "a default replaces the Last-Modified fraction",
            &default_ttl,
            StatusCode::OK,
            vec![("last-modified", d(NOW - 1000)), ("date", d(NOW))],
            600,
            LifetimeSource::Heuristic,
        ),
        (
            "§4.2.2: max-age wins over a default",
            &default_ttl,
            StatusCode::OK,
            vec![("cache-control", "max-age=5".into())],
            5,
            LifetimeSource::MaxAge,
        ),
        (
            "§4.2.2: an invalid Expires is explicit, so no default",
            &default_ttl,
            StatusCode::OK,
            vec![("expires", "0".into()), ("date", d(NOW))],
            0,
            LifetimeSource::Expires,
        ),
        (
            "§4.2.2: a status that is not heuristically cacheable gets no default",
            &default_ttl,
            StatusCode::CREATED,
            vec![("date", d(NOW))],
            0,
            LifetimeSource::None,
        ),
        (
            "... unless marked public",
            &default_ttl,
            StatusCode::CREATED,
            vec![("cache-control", "public".into())],
            600,
            LifetimeSource::Heuristic,
        ),
        (
            "an override replaces max-age",
            &override_ttl,
            StatusCode::OK,
            vec![("cache-control", "s-maxage=9, max-age=5".into())],
            60,
            LifetimeSource::Override,
        ),
        (
            "an override replaces Expires",
            &override_ttl,
            StatusCode::OK,
            vec![("expires", d(NOW + 10_000)), ("date", d(NOW))],
            60,
            LifetimeSource::Override,
        ),
        (
            "an override applies without any lifetime",
            &override_ttl,
            StatusCode::CREATED,
            vec![],
            60,
            LifetimeSource::Override,
        ),
    ];
    for (name, config, status, pairs, lifetime, source) in cases {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let map = headers(&pairs);
        let stored = Stored {
            status,
            ..stored(&map)
        };
        let f = freshness(config, &stored, secs(NOW));
        assert_eq!((f.lifetime, f.source), (lifetime, source), "{name}");
    }
}
