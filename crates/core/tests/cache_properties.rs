//! Property tests for `revalidate_core::cache`: every parser survives
//! arbitrary bytes, directive parsing agrees with a model of the §5.2
//! grammar, and the Vary key agrees with Vary matching.

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use proptest::prelude::*;
use revalidate_core::cache::directives::DELTA_SECONDS_MAX;
use revalidate_core::cache::*;

use crate::support::{CACHE_NOW as NOW, secs};

fn map_of(pairs: &[(&'static str, HeaderValue)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(HeaderName::from_static(name), value.clone());
    }
    map
}

/// How one directive is written: `(name, value)`, value quoted or not.
#[derive(Clone, Debug)]
struct Written {
    name: &'static str,
    seconds: Option<u64>,
    quoted: bool,
    upper: bool,
}

fn written() -> impl Strategy<Value = Written> {
    let names = prop::sample::select(vec![
        "max-age",
        "s-maxage",
        "no-store",
        "public",
        "must-revalidate",
        "immutable",
        "stale-while-revalidate",
        "x-ext",
    ]);
    (
        names,
        prop::option::of(0u64..5_000_000_000),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(name, seconds, quoted, upper)| Written {
            name,
            seconds,
            quoted,
            upper,
        })
}

fn render(w: &Written) -> String {
    let name = if w.upper {
        w.name.to_ascii_uppercase()
    } else {
        w.name.to_owned()
    };
    match w.seconds {
        Some(s) if w.quoted => format!("{name}=\"{s}\""),
        Some(s) => format!("{name}={s}"),
        None => name,
    }
}

proptest! {
    /// Every parser in the module takes any bytes without panicking.
    #[test]
    fn cache_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        let _ = ResponseDirectives::from_lines([bytes.as_slice()]);
        let _ = ResponseDirectives::from_targeted_lines([bytes.as_slice()]);
        if let Ok(value) = HeaderValue::from_bytes(&bytes) {
            let fields: Vec<(&'static str, HeaderValue)> = [
                "cache-control", "cdn-cache-control", "pragma", "vary", "age", "date", "expires",
                "last-modified", "etag", "connection", "location", "content-location",
                "accept-language",
            ]
            .into_iter()
            .map(|n| (n, value.clone()))
            .collect();
            let map = map_of(&fields);
            let config = CacheConfig::shared();
            let _ = RequestDirectives::from_headers(&map);
            let _ = storage_decision(&config, &Method::GET, &map, StatusCode::OK, &map);
            let stored = Stored { status: StatusCode::OK, headers: &map, request_time: secs(NOW), response_time: secs(NOW) };
            let _ = reuse_decision(&config, &stored, &map, secs(NOW + 10));
            let _ = stale_if_error_allows(&config, &stored, &map, secs(NOW + 10));
            let _ = secondary_key(&map, &map);
            let _ = vary_matches(&map, &map, &map);
            let _ = conditional_request_headers([&map]);
            let _ = storable_headers(&config, &map);
            let _ = on_validation_response(StatusCode::NOT_MODIFIED, &map, &map, false);
            let _ = head_freshens(&map, &map);
            let mut copy = map.clone();
            update_stored_headers(&mut copy, &map);
            let target: http::Uri = "http://example.test/a/b".parse().unwrap();
            let _ = invalidation_targets(&Method::POST, StatusCode::OK, &target, &map);
        }
    }

    /// Parsing agrees with a model of the grammar: the first occurrence of
    /// each (case-insensitive) name, values capped at 2^31, quoted or not.
    #[test]
    fn directive_parsing_matches_model(
        list in proptest::collection::vec(written(), 0..8),
        split_at in 0usize..8,
        spaces in any::<bool>(),
    ) {
        let sep = if spaces { " ,\t " } else { "," };
        let rendered: Vec<String> = list.iter().map(render).collect();
        let cut = split_at.min(rendered.len());
        let lines = [rendered[..cut].join(sep), rendered[cut..].join(sep)];
        let got = ResponseDirectives::from_lines(lines.iter().map(String::as_bytes));
        let first = |name: &str| list.iter().find(|w| w.name == name);
        let seconds_or_zero = |name: &str| first(name).map(|w| w.seconds.map_or(0, |s| s.min(DELTA_SECONDS_MAX)));
        prop_assert_eq!(got.max_age, seconds_or_zero("max-age"));
        prop_assert_eq!(got.s_maxage, seconds_or_zero("s-maxage"));
        prop_assert_eq!(
            got.stale_while_revalidate,
            first("stale-while-revalidate").and_then(|w| w.seconds.map(|s| s.min(DELTA_SECONDS_MAX)))
        );
        prop_assert_eq!(got.no_store, first("no-store").is_some());
        prop_assert_eq!(got.public, first("public").is_some());
        prop_assert_eq!(got.must_revalidate, first("must-revalidate").is_some());
        prop_assert_eq!(got.immutable, first("immutable").is_some());
    }

    /// Two requests get the same secondary key exactly when Vary matches them.
    #[test]
    fn secondary_key_agrees_with_vary_matches(
        vary in prop::sample::subsequence(vec!["accept-language", "accept-encoding", "x-a"], 0..=3),
        a in proptest::collection::vec((0usize..3, "[a-cA-C ;=.0-9]{0,6}"), 0..4),
        b in proptest::collection::vec((0usize..3, "[a-cA-C ;=.0-9]{0,6}"), 0..4),
    ) {
        let names = ["accept-language", "accept-encoding", "x-a"];
        let build = |fields: &[(usize, String)]| {
            let pairs: Vec<(&'static str, HeaderValue)> = fields
                .iter()
                .filter_map(|(i, v)| HeaderValue::from_str(v).ok().map(|v| (names[*i], v)))
                .collect();
            map_of(&pairs)
        };
        let response = map_of(&[("vary", HeaderValue::from_str(&vary.join(", ")).unwrap())]);
        let (a, b) = (build(&a), build(&b));
        prop_assert_eq!(
            vary_matches(&response, &a, &b),
            secondary_key(&response, &a) == secondary_key(&response, &b)
        );
        prop_assert!(vary_matches(&response, &a, &a));
    }

    /// `Fresh` is only ever answered for a response that is fresh, and with
    /// the age `current_age` computes.
    #[test]
    fn fresh_answers_are_fresh(
        max_age in 0u64..1_000,
        age in proptest::option::of(0u64..2_000),
        elapsed in 0u64..2_000,
        request in prop::sample::select(vec!["", "max-age=100", "min-fresh=50", "max-stale", "max-stale=30", "no-cache"]),
    ) {
        let mut pairs = vec![("cache-control", HeaderValue::from_str(&format!("max-age={max_age}")).unwrap())];
        if let Some(age) = age {
            pairs.push(("age", HeaderValue::from(age)));
        }
        let map = map_of(&pairs);
        let stored = Stored { status: StatusCode::OK, headers: &map, request_time: secs(NOW), response_time: secs(NOW) };
        let config = CacheConfig::shared();
        let request = map_of(&[("cache-control", HeaderValue::from_static(request))]);
        let f = freshness(&config, &stored, secs(NOW + elapsed));
        match reuse_decision(&config, &stored, &request, secs(NOW + elapsed)) {
            Reuse::Fresh { age } => {
                prop_assert!(f.is_fresh());
                prop_assert_eq!(age, current_age(&stored, secs(NOW + elapsed)));
            }
            Reuse::StaleAllowed { .. } => prop_assert!(!f.is_fresh()),
            _ => {}
        }
    }
}
