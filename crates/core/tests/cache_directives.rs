//! `Cache-Control` grammar (RFC 9111 §5.2) and targeted fields (RFC 9213),
//! each row named after the sentence or cache-tests.fyi id it checks.

use http::HeaderName;
use revalidate_core::cache::directives::DELTA_SECONDS_MAX;
use revalidate_core::cache::*;

use crate::support::headers;

fn cc(lines: &[&str]) -> ResponseDirectives {
    ResponseDirectives::from_lines(lines.iter().map(|l| l.as_bytes()))
}

fn targeted(lines: &[&str]) -> Option<ResponseDirectives> {
    ResponseDirectives::from_targeted_lines(lines.iter().map(|l| l.as_bytes()))
}

fn names(list: &[&'static str]) -> FieldNames {
    FieldNames::Only(list.iter().map(|n| HeaderName::from_static(n)).collect())
}

#[test]
fn cache_control_grammar_table() {
    let cases: &[(&str, &[&str], ResponseDirectives)] = &[
        (
            "freshness-max-age-space-before-equals: `max-age =3600` is no directive",
            &["max-age =3600"],
            ResponseDirectives::default(),
        ),
        (
            "freshness-max-age-space-after-equals: `max-age= 3600` is an invalid value, so 0",
            &["max-age= 3600"],
            ResponseDirectives {
                max_age: Some(0),
                ..Default::default()
            },
        ),
        (
            "freshness-max-age-quoted: §5.2 recipients accept the quoted form",
            &["max-age=\"3600\""],
            ResponseDirectives {
                max_age: Some(3600),
                ..Default::default()
            },
        ),
        (
            "freshness-max-age-ignore-quoted: a quoted max-age is not a directive",
            &["extension=\"max-age=3600\", max-age=1"],
            ResponseDirectives {
                max_age: Some(1),
                ..Default::default()
            },
        ),
        (
            "a quoted string with an escaped quote and comma",
            &[r#"ext="a\", max-age=9", no-store"#],
            ResponseDirectives {
                no_store: true,
                ..Default::default()
            },
        ),
        (
            "an unterminated quoted string is an invalid value",
            &["max-age=\"3600"],
            ResponseDirectives {
                max_age: Some(0),
                ..Default::default()
            },
        ),
        (
            "freshness-max-age-decimal-zero: `3600.0` is not delta-seconds, so stale",
            &["max-age=3600.0"],
            ResponseDirectives {
                max_age: Some(0),
                ..Default::default()
            },
        ),
        (
            "freshness-max-age-100a: trailing alpha is invalid",
            &["max-age=3600a"],
            ResponseDirectives {
                max_age: Some(0),
                ..Default::default()
            },
        ),
        (
            "freshness-max-age-two-fresh-stale-sepline: first occurrence across lines (§4.2.1)",
            &["max-age=1800", "max-age=1"],
            ResponseDirectives {
                max_age: Some(1800),
                ..Default::default()
            },
        ),
        (
            "freshness-max-age-max-plus: §1.2.2 caps delta-seconds at 2^31",
            &["max-age=99999999999999999999999"],
            ResponseDirectives {
                max_age: Some(DELTA_SECONDS_MAX),
                ..Default::default()
            },
        ),
        (
            "empty elements and whitespace are skipped",
            &[" , ,\tpublic ,, immutable,"],
            ResponseDirectives {
                public: true,
                immutable: true,
                ..Default::default()
            },
        ),
        (
            "RFC 5861 windows, invalid ones grant nothing",
            &["stale-while-revalidate=30, stale-if-error=abc"],
            ResponseDirectives {
                stale_while_revalidate: Some(30),
                ..Default::default()
            },
        ),
        (
            "qualified private and no-cache keep their field lists (§5.2.2.4, §5.2.2.7)",
            &[r#"private="Set-Cookie", no-cache="a, b""#],
            ResponseDirectives {
                private: Some(names(&["set-cookie"])),
                no_cache: Some(names(&["a", "b"])),
                ..Default::default()
            },
        ),
        (
            "a token argument to no-cache names one field",
            &["no-cache=x-a"],
            ResponseDirectives {
                no_cache: Some(names(&["x-a"])),
                ..Default::default()
            },
        ),
        (
            "must-understand, no-transform, proxy-revalidate, must-revalidate",
            &[
                "MUST-UNDERSTAND, no-transform",
                "proxy-revalidate, must-revalidate",
            ],
            ResponseDirectives {
                must_understand: true,
                no_transform: true,
                proxy_revalidate: true,
                must_revalidate: true,
                ..Default::default()
            },
        ),
    ];
    for (name, lines, expected) in cases {
        assert_eq!(&cc(lines), expected, "{name}");
    }
}

#[test]
fn request_directives_table() {
    #[allow(clippy::type_complexity)]
    let cases: &[(&str, &[(&str, &str)], RequestDirectives)] = &[
        (
            "max-stale with an invalid value accepts no staleness",
            &[("cache-control", "max-stale=soon")],
            RequestDirectives {
                max_stale: Some(MaxStale::Seconds(0)),
                ..Default::default()
            },
        ),
        (
            "a request with neither Cache-Control nor Pragma asks for nothing",
            &[("accept", "*/*"), ("if-none-match", "\"v1\"")],
            RequestDirectives::default(),
        ),
        (
            "pragma-request-extension: an unknown Pragma means nothing",
            &[("pragma", "unrecognised-extension")],
            RequestDirectives::default(),
        ),
        (
            "Pragma: no-cache among other pragma directives",
            &[("pragma", "x-foo, No-Cache")],
            RequestDirectives {
                no_cache: true,
                ..Default::default()
            },
        ),
        (
            "an empty Cache-Control still switches Pragma off (§5.4)",
            &[("cache-control", ""), ("pragma", "no-cache")],
            RequestDirectives::default(),
        ),
        (
            "request stale-if-error (RFC 5861 §4) and min-fresh",
            &[("cache-control", "stale-if-error=60, min-fresh=5, max-age=\"7\"")],
            RequestDirectives {
                stale_if_error: Some(60),
                min_fresh: Some(5),
                max_age: Some(7),
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

#[test]
fn targeted_field_table() {
    let cases: &[(&str, &[&str], Option<ResponseDirectives>)] = &[
        (
            "RFC 9213 §2.1: a dictionary of directives",
            &["max-age=60, must-revalidate"],
            Some(ResponseDirectives {
                max_age: Some(60),
                must_revalidate: true,
                targeted: true,
                ..Default::default()
            }),
        ),
        (
            "lines are combined before parsing (RFC 8941 §4.2)",
            &["no-store", "s-maxage=5"],
            Some(ResponseDirectives {
                no_store: true,
                s_maxage: Some(5),
                targeted: true,
                ..Default::default()
            }),
        ),
        (
            "a later duplicate key wins (RFC 8941 §4.2.2)",
            &["max-age=1, max-age=600"],
            Some(ResponseDirectives {
                max_age: Some(600),
                targeted: true,
                ..Default::default()
            }),
        ),
        (
            "parameters are ignored",
            &["max-age=60;foo=bar, public;x"],
            Some(ResponseDirectives {
                max_age: Some(60),
                public: true,
                targeted: true,
                ..Default::default()
            }),
        ),
        (
            "a Boolean false leaves the directive off",
            &["no-store=?0, max-age=10"],
            Some(ResponseDirectives {
                max_age: Some(10),
                targeted: true,
                ..Default::default()
            }),
        ),
        (
            "a String max-age is invalid freshness, so 0",
            &["max-age=\"60\""],
            Some(ResponseDirectives {
                max_age: Some(0),
                targeted: true,
                ..Default::default()
            }),
        ),
        (
            "a negative Integer is invalid freshness, so 0",
            &["max-age=-1"],
            Some(ResponseDirectives {
                max_age: Some(0),
                targeted: true,
                ..Default::default()
            }),
        ),
        (
            "qualified private as a String, no-cache as an Inner List",
            &[r#"private="set-cookie", no-cache=("a" b)"#],
            Some(ResponseDirectives {
                private: Some(names(&["set-cookie"])),
                no_cache: Some(names(&["a", "b"])),
                targeted: true,
                ..Default::default()
            }),
        ),
        (
            "decimals, byte sequences and unknown keys still parse",
            &["ext=1.5, bin=:aGk=:, other=tok/en, max-age=5"],
            Some(ResponseDirectives {
                max_age: Some(5),
                targeted: true,
                ..Default::default()
            }),
        ),
        ("RFC 9213 §2.1: an empty field is ignored", &[""], None),
        ("an absent field is ignored", &[], None),
        (
            "an uppercase key is a parse error, so ignored",
            &["Max-Age=60"],
            None,
        ),
        ("a trailing comma is a parse error", &["max-age=60,"], None),
        ("a space before `=` is a parse error", &["max-age =60"], None),
        (
            "Surrogate-Control's `;target` syntax is not a dictionary",
            &["max-age=3600;"],
            None,
        ),
        ("an unterminated string is a parse error", &["no-cache=\"a"], None),
        (
            "a 16-digit integer is a parse error",
            &["max-age=1234567890123456"],
            None,
        ),
        ("a bad boolean is a parse error", &["no-store=?2"], None),
    ];
    for (name, lines, expected) in cases {
        assert_eq!(&targeted(lines), expected, "{name}");
    }
}

#[test]
fn targeted_field_replaces_cache_control_only_when_valid() {
    let shared = CacheConfig::shared();
    // surrogate-fresh-cc-nostore, in CDN-Cache-Control form.
    let map = headers(&[
        ("cache-control", "no-store"),
        ("cdn-cache-control", "max-age=10000"),
    ]);
    let d = shared.response_directives(&map);
    assert!(!d.no_store && d.max_age == Some(10000) && d.targeted);
    // surrogate-max-age-long-cc-max-age: the targeted field wins even when shorter.
    let map = headers(&[
        ("cache-control", "max-age=3600"),
        ("cdn-cache-control", "max-age=1"),
    ]);
    assert_eq!(shared.response_directives(&map).max_age, Some(1));
    // An invalid targeted field falls back to Cache-Control (RFC 9213 §2.1).
    let map = headers(&[
        ("cache-control", "max-age=3600"),
        ("cdn-cache-control", "max-age=1,"),
    ]);
    let d = shared.response_directives(&map);
    assert_eq!((d.max_age, d.targeted), (Some(3600), false));
    // A private cache does not read it unless configured to.
    let map = headers(&[
        ("cache-control", "max-age=3600"),
        ("cdn-cache-control", "max-age=1"),
    ]);
    assert_eq!(
        CacheConfig::private().response_directives(&map).max_age,
        Some(3600)
    );
}

#[test]
fn forbids_stale_table() {
    let cases: &[(&str, &str, bool, bool)] = &[
        (
            "§5.2.2.2 must-revalidate, both kinds",
            "max-age=1, must-revalidate",
            true,
            true,
        ),
        (
            "§5.2.2.8 proxy-revalidate, shared only",
            "max-age=1, proxy-revalidate",
            true,
            false,
        ),
        ("§5.2.2.10 s-maxage, shared only", "s-maxage=1", true, false),
        ("§5.2.2.4 unqualified no-cache", "no-cache", true, true),
        (
            "qualified no-cache is handled per field",
            "no-cache=\"a\"",
            false,
            false,
        ),
        ("nothing", "max-age=1, stale-while-revalidate=9", false, false),
    ];
    for (name, line, shared, private) in cases {
        let d = cc(&[line]);
        assert_eq!(d.forbids_stale(true), *shared, "{name} (shared)");
        assert_eq!(d.forbids_stale(false), *private, "{name} (private)");
    }
}
