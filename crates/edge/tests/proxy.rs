//! The proxy over real sockets: a scripted origin on 127.0.0.1:0 with
//! request counters, the edge in front of it on a manual clock.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use http::Method;
use revalidate_edge::clock::{Clock, SystemClock};

use crate::support::{Reply, Seen, TestEdge, TestOrigin, by_path, clock, eventually};

const LAST_MODIFIED: &str = "Wed, 01 Jan 2020 00:00:00 GMT";

type Route = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;
type Fields<'a> = Vec<(&'a str, &'a str)>;

fn fixed(reply: Reply) -> Route {
    Arc::new(move |_| reply.clone())
}

/// Each case stores a response, moves the clock, and asks again: does the
/// second request come from the cache?
#[tokio::test]
async fn storing_and_reuse_by_response_directives() {
    let ten_days_ago =
        revalidate_core::HttpDate::from_unix_seconds(SystemClock.now().unix_seconds() - 10 * 86_400)
            .unwrap()
            .to_string();
    let in_an_hour = revalidate_core::HttpDate::from_unix_seconds(SystemClock.now().unix_seconds() + 3600)
        .unwrap()
        .to_string();
    let cases: Vec<(&str, Fields<'_>, bool)> = vec![
        ("max-age", vec![("cache-control", "max-age=60")], true),
        ("no-store", vec![("cache-control", "max-age=60, no-store")], false),
        ("private", vec![("cache-control", "private, max-age=60")], false),
        ("no-cache", vec![("cache-control", "no-cache, max-age=60")], false),
        (
            "s-maxage",
            vec![("cache-control", "max-age=0, s-maxage=60")],
            true,
        ),
        (
            "cdn-cache-control",
            vec![("cache-control", "no-store"), ("cdn-cache-control", "max-age=60")],
            true,
        ),
        (
            "surrogate-control",
            vec![("cache-control", "no-store"), ("surrogate-control", "max-age=60")],
            true,
        ),
        ("expires", vec![("expires", in_an_hour.as_str())], true),
        ("heuristic", vec![("last-modified", ten_days_ago.as_str())], true),
        ("nothing", vec![], false),
        (
            "vary-star",
            vec![("cache-control", "max-age=60"), ("vary", "*")],
            false,
        ),
    ];
    let mut routes: HashMap<String, Route> = HashMap::new();
    for (name, headers, _) in &cases {
        let mut reply = Reply::ok(name);
        for (n, v) in headers {
            reply = reply.header(n, v);
        }
        routes.insert(format!("/{name}"), fixed(reply));
    }
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), by_path(routes)).await;
    let edge = TestEdge::start(origin.addr, clock).await;
    for (name, _, _) in &cases {
        let path = format!("/{name}");
        let first = edge.get(&path, &[]).await;
        assert_eq!((first.status, first.body.as_str()), (200, *name), "{name}");
        assert!(
            first
                .cache_status()
                .starts_with("edge; fwd=uri-miss; fwd-status=200"),
            "{name}: {}",
            first.cache_status()
        );
    }
    edge.advance(5);
    for (name, _, reused) in &cases {
        let path = format!("/{name}");
        let second = edge.get(&path, &[]).await;
        assert_eq!(second.body, *name, "{name}");
        assert_eq!(second.is_hit(), *reused, "{name}: {}", second.cache_status());
        assert_eq!(origin.count(&path), if *reused { 1 } else { 2 }, "{name}");
        if *reused {
            assert_eq!(second.header("age"), Some("5"), "{name}: Age on a hit");
        }
        assert!(second.header("via").unwrap().contains("1.1 edge"), "{name}");
    }
}

/// Request directives against a response stored with `max-age=60` and one
/// with `max-age=10`, both 20 s old.
#[tokio::test]
async fn request_directives() {
    let cases: Vec<(&str, &str, &str, bool)> = vec![
        // (name, response cache-control, request cache-control, reused)
        ("plain", "max-age=60", "", true),
        ("no-cache", "max-age=60", "no-cache", false),
        ("max-age-below-age", "max-age=60", "max-age=10", false),
        ("max-age-above-age", "max-age=60", "max-age=100", true),
        ("min-fresh-too-long", "max-age=60", "min-fresh=50", false),
        ("min-fresh-ok", "max-age=60", "min-fresh=10", true),
        ("stale-plain", "max-age=10", "", false),
        ("max-stale-enough", "max-age=10", "max-stale=30", true),
        ("max-stale-short", "max-age=10", "max-stale=5", false),
        ("max-stale-any", "max-age=10", "max-stale", true),
        (
            "max-stale-must-revalidate",
            "max-age=10, must-revalidate",
            "max-stale",
            false,
        ),
        (
            "max-stale-proxy-revalidate",
            "max-age=10, proxy-revalidate",
            "max-stale",
            false,
        ),
    ];
    let mut routes: HashMap<String, Route> = HashMap::new();
    for (name, response, _, _) in &cases {
        routes.insert(
            format!("/{name}"),
            fixed(Reply::ok(name).header("cache-control", response)),
        );
    }
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), by_path(routes)).await;
    let edge = TestEdge::start(origin.addr, clock).await;
    for (name, ..) in &cases {
        edge.get(&format!("/{name}"), &[]).await;
    }
    edge.advance(20);
    for (name, _, request, reused) in &cases {
        let path = format!("/{name}");
        let headers: Vec<(&str, &str)> = if request.is_empty() {
            vec![]
        } else {
            vec![("cache-control", request)]
        };
        let answer = edge.get(&path, &headers).await;
        assert_eq!(answer.status, 200, "{name}");
        assert_eq!(answer.is_hit(), *reused, "{name}: {}", answer.cache_status());
        assert_eq!(origin.count(&path), if *reused { 1 } else { 2 }, "{name}");
    }
}

#[tokio::test]
async fn revalidation_304_updates_the_stored_headers() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |seen: &Seen| {
        if seen.number == 1 {
            return Reply::ok("body one")
                .header("etag", "\"v1\"")
                .header("cache-control", "max-age=10")
                .header("x-version", "a")
                .header("content-type", "text/plain");
        }
        assert_eq!(
            seen.header("if-none-match"),
            Some("\"v1\""),
            "the conditional request carries the stored ETag"
        );
        Reply::status(304)
            .header("etag", "\"v1\"")
            .header("cache-control", "max-age=100")
            .header("x-version", "b")
            .header("content-type", "text/html")
    })
    .await;
    let edge = TestEdge::start(origin.addr, clock).await;
    edge.get("/r", &[]).await;
    edge.advance(11);
    let refreshed = edge.get("/r", &[]).await;
    assert_eq!(refreshed.status, 200);
    assert_eq!(refreshed.body, "body one");
    assert_eq!(refreshed.header("x-version"), Some("b"));
    assert_eq!(refreshed.header("content-type"), Some("text/html"));
    assert_eq!(refreshed.header("etag"), Some("\"v1\""));
    assert!(
        refreshed.cache_status().contains("fwd=stale; fwd-status=304"),
        "{}",
        refreshed.cache_status()
    );
    // The new max-age=100 applies from the validation on.
    edge.advance(50);
    let hit = edge.get("/r", &[]).await;
    assert!(hit.is_hit(), "{}", hit.cache_status());
    assert_eq!(
        (hit.body.as_str(), hit.header("x-version")),
        ("body one", Some("b"))
    );
    assert_eq!(origin.count("/r"), 2);
    assert_eq!(
        edge.metric("revalidate_edge_revalidations_total{origin_status=\"304\"}")
            .await,
        1.0
    );
}

#[tokio::test]
async fn revalidation_200_replaces_the_stored_response() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |seen: &Seen| match seen.number {
        1 => Reply::ok("one")
            .header("etag", "\"v1\"")
            .header("cache-control", "max-age=10"),
        _ => Reply::ok("two")
            .header("etag", "\"v2\"")
            .header("cache-control", "max-age=10"),
    })
    .await;
    let edge = TestEdge::start(origin.addr, clock).await;
    assert_eq!(edge.get("/r", &[]).await.body, "one");
    edge.advance(11);
    let replaced = edge.get("/r", &[]).await;
    assert_eq!(replaced.body, "two");
    assert!(
        replaced
            .cache_status()
            .contains("fwd=stale; fwd-status=200; ttl=10; stored"),
        "{}",
        replaced.cache_status()
    );
    let hit = edge.get("/r", &[]).await;
    assert_eq!((hit.body.as_str(), hit.is_hit()), ("two", true));
    assert_eq!(origin.requests("/r")[1].header("if-none-match"), Some("\"v1\""));
    assert_eq!(
        edge.metric("revalidate_edge_revalidations_total{origin_status=\"200\"}")
            .await,
        1.0
    );
}

/// The server hands the client's address to the proxy, which adds it to
/// `X-Forwarded-For` on every request it sends to the origin. The peer
/// here is trusted (`trusted_proxies`), so its own chain is appended to;
/// an untrusted client's chain is dropped
/// (`shared_cache::client_x_forwarded_host_never_reaches_the_origin`).
#[tokio::test]
async fn the_origin_sees_the_client_address_in_x_forwarded_for() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |_: &Seen| {
        Reply::ok("x").header("cache-control", "max-age=60")
    })
    .await;
    let edge = TestEdge::start_with(origin.addr, clock, |s| {
        s.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    // (case, method, path, the client's own X-Forwarded-For, what the origin sees)
    let cases: [(&str, Method, &str, Fields<'_>, &str); 3] = [
        ("cache fill", Method::GET, "/xff", vec![], "127.0.0.1"),
        ("pass", Method::POST, "/xff-post", vec![], "127.0.0.1"),
        (
            "appended",
            Method::GET,
            "/xff-chain",
            vec![("x-forwarded-for", "192.0.2.7")],
            "192.0.2.7, 127.0.0.1",
        ),
    ];
    for (case, method, path, fields, expected) in cases {
        edge.send(method, path, &fields, "").await;
        let seen = origin.requests(path);
        assert_eq!(seen.len(), 1, "{case}");
        assert_eq!(seen[0].header("x-forwarded-for"), Some(expected), "{case}");
    }
}

#[tokio::test]
async fn an_unsolicited_304_is_a_502() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |_: &Seen| {
        Reply::status(304).header("etag", "\"x\"")
    })
    .await;
    let edge = TestEdge::start(origin.addr, clock).await;
    let answer = edge.get("/u", &[]).await;
    assert_eq!(answer.status, 502);
    assert_eq!(answer.header("content-type"), Some("application/problem+json"));
}

#[tokio::test]
async fn a_304_for_another_validator_is_not_used_and_the_edge_fetches_again() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |seen: &Seen| match seen.number {
        1 => Reply::ok("old")
            .header("etag", "\"v1\"")
            .header("cache-control", "max-age=1"),
        2 => Reply::status(304).header("etag", "\"other\""),
        _ => Reply::ok("new")
            .header("etag", "\"v3\"")
            .header("cache-control", "max-age=60"),
    })
    .await;
    let edge = TestEdge::start(origin.addr, clock).await;
    edge.get("/m", &[]).await;
    edge.advance(5);
    let answer = edge.get("/m", &[]).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "new"));
    let seen = origin.requests("/m");
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[1].header("if-none-match"), Some("\"v1\""));
    assert_eq!(
        seen[2].header("if-none-match"),
        None,
        "the retry is unconditional"
    );
}

#[tokio::test]
async fn concurrent_misses_and_revalidations_send_one_origin_request() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |seen: &Seen| {
        Reply::ok(&format!("version {}", seen.number))
            .header("cache-control", "max-age=60")
            .header("etag", &format!("\"{}\"", seen.number))
            .delay(Duration::from_millis(300))
    })
    .await;
    let edge = Arc::new(TestEdge::start(origin.addr, clock).await);
    for round in 1..=2 {
        let requests: Vec<_> = (0..10)
            .map(|_| {
                let edge = Arc::clone(&edge);
                tokio::spawn(async move { edge.get("/c", &[]).await })
            })
            .collect();
        let mut collapsed = 0;
        for request in requests {
            let answer = request.await.unwrap();
            assert_eq!(answer.body, format!("version {round}"));
            if answer.cache_status().contains("collapsed") {
                collapsed += 1;
            }
        }
        assert_eq!(origin.count("/c"), round, "round {round}: one origin request");
        assert!(collapsed >= 9, "round {round}: {collapsed} collapsed");
        edge.advance(61);
    }
    assert!(
        edge.metric("revalidate_edge_requests_total{outcome=\"collapsed\"}")
            .await
            >= 18.0
    );
}

/// Followers share what their leader fetched for them even when it is
/// stale on arrival (`max-age=0`): it is as new as what they would have got.
#[tokio::test]
async fn concurrent_requests_for_an_always_stale_response_still_collapse() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |seen: &Seen| {
        Reply::ok(&format!("version {}", seen.number))
            .header("cache-control", "max-age=0")
            .delay(Duration::from_millis(300))
    })
    .await;
    let edge = Arc::new(TestEdge::start(origin.addr, clock).await);
    let requests: Vec<_> = (0..8)
        .map(|_| {
            let edge = Arc::clone(&edge);
            tokio::spawn(async move { edge.get("/c0", &[]).await })
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.unwrap().body, "version 1");
    }
    assert_eq!(origin.count("/c0"), 1);
    // A later request revalidates as max-age=0 says.
    assert_eq!(edge.get("/c0", &[]).await.body, "version 2");
}

/// A plain hit's fields are kept with the stored response for as long as
/// its age stays the same; each row asks after moving the clock and must
/// get the `Age`, `ttl` and status of its own moment (a whole response, a
/// `304` to the client's `If-None-Match`, a `HEAD`), never a neighbour's.
#[tokio::test]
async fn plain_hits_carry_the_age_and_ttl_of_the_second_they_are_served_in() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |_: &Seen| {
        Reply::ok("kept body")
            .header("etag", "\"k\"")
            .header("cache-control", "max-age=60")
    })
    .await;
    let edge = TestEdge::start(origin.addr, clock).await;
    edge.get("/kept", &[]).await;
    let inm: Fields<'_> = vec![("if-none-match", "\"k\"")];
    let max_stale: Fields<'_> = vec![("cache-control", "max-stale")];
    // (seconds to move first, method, request fields, status, Age, Cache-Status)
    let rows = [
        (2, Method::GET, vec![], 200, "2", "edge; hit; ttl=58"),
        (0, Method::GET, inm.clone(), 304, "2", "edge; hit; ttl=58"),
        (0, Method::HEAD, vec![], 200, "2", "edge; hit; ttl=58"),
        (0, Method::GET, vec![], 200, "2", "edge; hit; ttl=58"),
        (3, Method::GET, inm, 304, "5", "edge; hit; ttl=55"),
        (0, Method::GET, vec![], 200, "5", "edge; hit; ttl=55"),
        (70, Method::GET, max_stale, 200, "75", "edge; hit; ttl=-15"),
    ];
    for (row, (advance, method, fields, status, age, cache_status)) in rows.into_iter().enumerate() {
        edge.advance(advance);
        let answer = edge.send(method.clone(), "/kept", &fields, "").await;
        let got = (answer.status, answer.header("age"), answer.cache_status());
        assert_eq!(
            got,
            (status, Some(age), cache_status),
            "row {row}: {method} {fields:?}"
        );
        match status {
            304 => assert_eq!(answer.header("content-length"), None, "row {row}"),
            _ => assert_eq!(answer.header("content-length"), Some("9"), "row {row}"),
        }
        let body = if method == Method::GET && status == 200 {
            "kept body"
        } else {
            ""
        };
        assert_eq!(answer.body, body, "row {row}");
        assert_eq!(answer.header("via"), Some("1.1 edge"), "row {row}");
    }
    assert_eq!(origin.count("/kept"), 1);
}

/// RFC 9211: a request answered from what another request's origin fetch
/// stored went forward with it (`fwd`, `collapsed`, §2.8 and the §3
/// example `fwd=uri-miss; collapsed`); it is not a `hit`, which §2.1 keeps
/// for requests that were not forwarded. It used to say
/// `hit; ttl=0; collapsed`.
#[tokio::test]
async fn a_request_collapsed_onto_a_revalidation_says_fwd_stale_collapsed_not_hit() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |seen: &Seen| {
        let reply = if seen.number == 1 {
            Reply::ok("v1")
        } else {
            Reply::status(304)
        };
        reply
            .header("etag", "\"1\"")
            .header("cache-control", "max-age=60")
            .delay(Duration::from_millis(300))
    })
    .await;
    let edge = Arc::new(TestEdge::start(origin.addr, clock).await);
    // (case, seconds to move the clock first, the leader's member, the followers')
    let cases = [
        (
            "miss",
            0,
            "edge; fwd=uri-miss; fwd-status=200; ttl=60; stored",
            "edge; fwd=uri-miss; fwd-status=200; ttl=60; collapsed",
        ),
        (
            "revalidation answered 304",
            61,
            "edge; fwd=stale; fwd-status=304; ttl=60; stored",
            "edge; fwd=stale; fwd-status=304; ttl=60; collapsed",
        ),
    ];
    for (round, (case, advance, leader, follower)) in cases.into_iter().enumerate() {
        edge.advance(advance);
        let requests: Vec<_> = (0..6)
            .map(|_| {
                let edge = Arc::clone(&edge);
                tokio::spawn(async move { edge.get("/collapsed", &[]).await })
            })
            .collect();
        let mut statuses = Vec::new();
        for request in requests {
            let answer = request.await.unwrap();
            assert_eq!((answer.status, answer.body.as_str()), (200, "v1"), "{case}");
            statuses.push(answer.cache_status().to_owned());
        }
        assert_eq!(
            origin.count("/collapsed"),
            round + 1,
            "{case}: one origin request"
        );
        assert_eq!(
            statuses.iter().filter(|s| *s == leader).count(),
            1,
            "{case}: {statuses:?}"
        );
        let followers = statuses.iter().filter(|s| *s == follower).count();
        assert!(followers >= 4, "{case}: {statuses:?}");
        // A late request that found the refreshed response is a plain hit.
        let late = "edge; hit; ttl=60";
        assert!(
            statuses.iter().all(|s| s == leader || s == follower || s == late),
            "{case}: {statuses:?}"
        );
    }
}

#[tokio::test]
async fn stale_while_revalidate_serves_stale_and_refreshes_in_the_background() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |seen: &Seen| {
        Reply::ok(&format!("v{}", seen.number))
            .header("cache-control", "max-age=1, stale-while-revalidate=60")
            .header("etag", &format!("\"{}\"", seen.number))
    })
    .await;
    let edge = TestEdge::start(origin.addr, clock).await;
    edge.get("/swr", &[]).await;
    edge.advance(10);
    let stale = edge.get("/swr", &[]).await;
    assert_eq!(stale.body, "v1");
    assert!(stale.cache_status().contains("hit") && stale.cache_status().contains("stale-while-revalidate"));
    eventually("the background refresh", || origin.count("/swr") == 2).await;
    assert_eq!(origin.requests("/swr")[1].header("if-none-match"), Some("\"1\""));
    let mut refreshed = edge.get("/swr", &[]).await;
    for _ in 0..100 {
        if refreshed.body == "v2" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        refreshed = edge.get("/swr", &[]).await;
    }
    assert_eq!((refreshed.body.as_str(), refreshed.is_hit()), ("v2", true));
    assert_eq!(origin.count("/swr"), 2);
    assert!(
        edge.metric("revalidate_edge_stale_total{reason=\"stale-while-revalidate\"}")
            .await
            >= 1.0
    );
}

#[tokio::test]
async fn stale_if_error_serves_stale_on_5xx_and_when_the_origin_is_down() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |seen: &Seen| {
        match (seen.path.as_str(), seen.number) {
            (_, 1) if seen.path.starts_with("/sie") => {
                Reply::ok("kept").header("cache-control", "max-age=1, stale-if-error=60")
            }
            (_, 1) => Reply::ok("plain").header("cache-control", "max-age=1"),
            _ => Reply::status(503).header("content-type", "text/plain"),
        }
    })
    .await;
    let edge = TestEdge::start(origin.addr, clock.clone()).await;
    for path in ["/sie-5xx", "/sie-down", "/plain"] {
        edge.get(path, &[]).await;
    }
    edge.advance(10);
    let stale = edge.get("/sie-5xx", &[]).await;
    assert_eq!((stale.status, stale.body.as_str()), (200, "kept"));
    assert!(
        stale.cache_status().contains("fwd-status=503") && stale.cache_status().contains("stale-if-error")
    );
    let passed = edge.get("/plain", &[]).await;
    assert_eq!(passed.status, 503, "without stale-if-error the 5xx goes through");
    // The origin goes away (listener and connections closed).
    origin.stop();
    let down = edge.get("/sie-down", &[]).await;
    assert_eq!(
        (down.status, down.body.as_str()),
        (200, "kept"),
        "{}",
        down.cache_status()
    );
    assert!(
        down.cache_status().contains("stale-if-error"),
        "{}",
        down.cache_status()
    );
    let plain = edge.get("/plain", &[]).await;
    assert_eq!(plain.status, 502, "without stale-if-error: 502");
    assert_eq!(
        edge.metric("revalidate_edge_stale_total{reason=\"stale-if-error\"}")
            .await,
        2.0
    );
    // Beyond the window: the error goes through.
    edge.advance(100);
    assert_eq!(edge.get("/sie-down", &[]).await.status, 502);
}

#[tokio::test]
async fn only_if_cached() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |_: &Seen| {
        Reply::ok("x").header("cache-control", "max-age=10")
    })
    .await;
    let edge = TestEdge::start(origin.addr, clock).await;
    let only = [("cache-control", "only-if-cached")];
    let nothing = edge.get("/o", &only).await;
    assert_eq!(nothing.status, 504);
    assert_eq!(nothing.header("content-type"), Some("application/problem+json"));
    assert_eq!(origin.count("/o"), 0);
    edge.get("/o", &[]).await;
    assert_eq!(edge.get("/o", &only).await.status, 200);
    edge.advance(11);
    assert_eq!(
        edge.get("/o", &only).await.status,
        504,
        "stale and not allowed: 504"
    );
    assert_eq!(origin.count("/o"), 1);
}

/// Client conditionals answered from a fresh stored response, without the origin.
#[tokio::test]
async fn client_conditionals_are_answered_from_the_cache() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |_: &Seen| {
        Reply::ok("0123456789")
            .header("etag", "\"v1\"")
            .header("last-modified", LAST_MODIFIED)
            .header("cache-control", "max-age=600")
            .header("content-type", "text/plain")
    })
    .await;
    let edge = TestEdge::start(origin.addr, clock).await;
    // A miss with If-None-Match: the fill is unconditional, the client still gets its 304.
    let first = edge.get("/cond", &[("if-none-match", "\"v1\"")]).await;
    assert_eq!(first.status, 304);
    assert_eq!(origin.requests("/cond")[0].header("if-none-match"), None);
    let cases: Vec<(&str, Fields<'_>, u16, &str)> = vec![
        ("inm match", vec![("if-none-match", "\"v1\"")], 304, ""),
        ("inm list", vec![("if-none-match", "\"x\", W/\"v1\"")], 304, ""),
        ("inm star", vec![("if-none-match", "*")], 304, ""),
        ("inm other", vec![("if-none-match", "\"x\"")], 200, "0123456789"),
        (
            "inm malformed is ignored",
            vec![("if-none-match", "v1")],
            200,
            "0123456789",
        ),
        ("ims equal", vec![("if-modified-since", LAST_MODIFIED)], 304, ""),
        (
            "ims earlier",
            vec![("if-modified-since", "Tue, 31 Dec 2019 00:00:00 GMT")],
            200,
            "0123456789",
        ),
        (
            "ims malformed is ignored",
            vec![("if-modified-since", "soon")],
            200,
            "0123456789",
        ),
        ("if-match fails", vec![("if-match", "\"x\"")], 412, ""),
        ("if-match passes", vec![("if-match", "\"v1\"")], 200, "0123456789"),
        (
            "ius fails",
            vec![("if-unmodified-since", "Tue, 31 Dec 2019 00:00:00 GMT")],
            412,
            "",
        ),
        ("range", vec![("range", "bytes=2-5")], 206, "2345"),
        ("suffix range", vec![("range", "bytes=-3")], 206, "789"),
        (
            "if-range match",
            vec![("range", "bytes=0-1"), ("if-range", "\"v1\"")],
            206,
            "01",
        ),
        (
            "if-range stale",
            vec![("range", "bytes=0-1"), ("if-range", "\"v0\"")],
            200,
            "0123456789",
        ),
        ("unsatisfiable", vec![("range", "bytes=50-60")], 416, ""),
    ];
    for (name, headers, status, body) in &cases {
        let answer = edge.get("/cond", headers).await;
        assert_eq!(answer.status, *status, "{name}");
        assert!(answer.is_hit(), "{name}: {}", answer.cache_status());
        if *status == 304 {
            assert_eq!(answer.header("etag"), Some("\"v1\""), "{name}");
            assert_eq!(
                answer.header("content-type"),
                None,
                "{name}: a 304 carries no representation metadata"
            );
            assert!(answer.body.is_empty(), "{name}");
        }
        if *status == 206 {
            assert!(answer.header("content-range").unwrap().ends_with("/10"), "{name}");
        }
        if *status == 412 || *status == 416 {
            assert_eq!(
                answer.header("content-type"),
                Some("application/problem+json"),
                "{name}"
            );
        } else {
            assert_eq!(answer.body, *body, "{name}");
        }
    }
    assert_eq!(origin.count("/cond"), 1);
    assert!(edge.metric("revalidate_edge_not_modified_total").await >= 5.0);
    // HEAD from the stored GET.
    let head = edge.send(Method::HEAD, "/cond", &[], "").await;
    assert_eq!(
        (head.status, head.body.as_str(), head.header("content-length")),
        (200, "", Some("10"))
    );
    assert_eq!(origin.count("/cond"), 1);
}

/// Ranges answered from a stored response under the core's plan: several
/// ranges are one `multipart/byteranges` `206` (RFC 9110 §14.6,
/// §15.3.7.2), byte for byte what the origin and the tower layer would
/// send; the whole body asked as one range is a `206` too.
#[tokio::test]
async fn ranges_of_a_stored_response_are_206_single_or_multipart() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |_: &Seen| {
        Reply::ok("0123456789")
            .header("etag", "\"v1\"")
            .header("cache-control", "max-age=600")
            .header("content-type", "text/plain")
    })
    .await;
    let edge = TestEdge::start(origin.addr, clock).await;
    assert_eq!(edge.get("/ranges", &[]).await.status, 200);

    let two = edge.get("/ranges", &[("range", "bytes=0-1,4-5")]).await;
    assert_eq!(two.status, 206);
    assert!(two.is_hit(), "{}", two.cache_status());
    assert_eq!(
        two.header("content-type"),
        Some("multipart/byteranges; boundary=revalidate-v1")
    );
    assert_eq!(
        two.header("content-range"),
        None,
        "a multipart 206 has no Content-Range of its own (§15.3.7.2)"
    );
    let expected = "--revalidate-v1\r\n\
                    Content-Type: text/plain\r\n\
                    Content-Range: bytes 0-1/10\r\n\
                    \r\n\
                    01\r\n\
                    --revalidate-v1\r\n\
                    Content-Type: text/plain\r\n\
                    Content-Range: bytes 4-5/10\r\n\
                    \r\n\
                    45\r\n\
                    --revalidate-v1--\r\n";
    assert_eq!(two.body, expected);
    assert_eq!(
        two.header("content-length"),
        Some(expected.len().to_string().as_str())
    );
    assert_eq!(two.header("etag"), Some("\"v1\""));
    assert_eq!(two.header("age"), Some("0"));

    let all = edge.get("/ranges", &[("range", "bytes=0-")]).await;
    assert_eq!(all.status, 206);
    assert!(all.is_hit(), "{}", all.cache_status());
    assert_eq!(all.header("content-range"), Some("bytes 0-9/10"));
    assert_eq!(all.header("content-length"), Some("10"));
    assert_eq!(all.header("content-type"), Some("text/plain"));
    assert_eq!(all.body, "0123456789");
    assert_eq!(origin.count("/ranges"), 1);
}

/// If-Match on an unsafe method goes to the origin, which decides.
#[tokio::test]
async fn preconditions_on_writes_go_to_the_origin() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |seen: &Seen| match seen.method {
        Method::GET => Reply::ok("doc")
            .header("etag", "\"v1\"")
            .header("cache-control", "max-age=600"),
        _ if seen.header("if-match") == Some("\"v1\"") => Reply::status(204),
        _ => Reply::status(412),
    })
    .await;
    let edge = TestEdge::start(origin.addr, clock).await;
    edge.get("/w", &[]).await;
    let refused = edge.send(Method::PUT, "/w", &[("if-match", "\"v0\"")], "x").await;
    assert_eq!(refused.status, 412);
    assert!(
        refused.cache_status().contains("fwd=method"),
        "{}",
        refused.cache_status()
    );
    assert!(
        edge.get("/w", &[]).await.is_hit(),
        "a failed write invalidates nothing"
    );
    let done = edge.send(Method::PUT, "/w", &[("if-match", "\"v1\"")], "x").await;
    assert_eq!(done.status, 204);
    assert_eq!(origin.requests("/w")[2].header("if-match"), Some("\"v1\""));
    assert!(
        !edge.get("/w", &[]).await.is_hit(),
        "a successful write invalidates"
    );
}

#[tokio::test]
async fn unsafe_methods_invalidate_target_location_and_content_location() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |seen: &Seen| {
        match (seen.method.as_str(), seen.path.as_str()) {
            ("GET", _) => Reply::ok(&seen.path).header("cache-control", "max-age=600"),
            ("POST", "/inv/a") => Reply::status(201)
                .header("location", "/inv/b")
                .header("content-location", "c"),
            ("POST", "/inv/d") => Reply::status(500),
            ("DELETE", "/inv/e") => Reply::status(200).header("location", "http://elsewhere.example/inv/f"),
            _ => Reply::status(404),
        }
    })
    .await;
    let edge = TestEdge::start(origin.addr, clock).await;
    let paths = ["/inv/a", "/inv/b", "/inv/c", "/inv/d", "/inv/e", "/inv/f"];
    for path in paths {
        edge.get(path, &[]).await;
    }
    assert_eq!(edge.send(Method::POST, "/inv/a", &[], "{}").await.status, 201);
    assert_eq!(edge.send(Method::POST, "/inv/d", &[], "{}").await.status, 500);
    assert_eq!(edge.send(Method::DELETE, "/inv/e", &[], "").await.status, 200);
    let expected = [
        ("/inv/a", false),
        ("/inv/b", false),
        ("/inv/c", false),
        ("/inv/d", true),
        ("/inv/e", false),
        ("/inv/f", true),
    ];
    for (path, still_stored) in expected {
        let answer = edge.get(path, &[]).await;
        assert_eq!(answer.is_hit(), still_stored, "{path}: {}", answer.cache_status());
    }
    assert!(
        edge.metric("revalidate_edge_purges_total{kind=\"invalidation\"}")
            .await
            >= 4.0
    );
}

/// RFC 9110 §9.3.3: a `POST` response with explicit freshness and a
/// `Content-Location` naming the target answers later `GET`s of the target
/// from the cache (cache-tests.fyi `method-POST`), after invalidating what
/// was stored before (§4.4); one without that `Content-Location`, or with a
/// heuristic lifetime only, is not stored, and the write still invalidates.
#[tokio::test]
async fn a_post_response_naming_its_target_answers_later_gets() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |seen: &Seen| {
        let version = format!("{} {}", seen.method, seen.number);
        match (seen.method.as_str(), seen.path.as_str()) {
            ("GET", _) => Reply::ok(&version).header("cache-control", "max-age=600"),
            ("POST", "/post/same") => Reply::ok(&version)
                .header("cache-control", "max-age=600")
                .header("content-location", "/post/same"),
            ("POST", "/post/other") => Reply::ok(&version)
                .header("cache-control", "max-age=600")
                .header("content-location", "/post/elsewhere"),
            ("POST", "/post/heuristic") => Reply::ok(&version)
                .header("last-modified", "Wed, 01 Jan 2020 00:00:00 GMT")
                .header("content-location", "/post/heuristic"),
            _ => Reply::status(404),
        }
    })
    .await;
    let edge = TestEdge::start(origin.addr, clock).await;
    let paths = ["/post/same", "/post/other", "/post/heuristic"];
    for path in paths {
        assert_eq!(edge.get(path, &[]).await.body, "GET 1");
        assert!(edge.get(path, &[]).await.is_hit(), "{path}");
    }
    let posted = edge.send(Method::POST, "/post/same", &[], "x=1").await;
    assert_eq!((posted.status, posted.body.as_str()), (200, "POST 2"));
    assert!(
        posted.cache_status().contains("stored"),
        "{}",
        posted.cache_status()
    );
    let after = edge.get("/post/same", &[]).await;
    assert!(after.is_hit(), "{}", after.cache_status());
    assert_eq!(after.body, "POST 2", "the POST response replaced the stored GET");
    let head = edge.send(Method::HEAD, "/post/same", &[], "").await;
    assert!(head.is_hit() && head.body.is_empty(), "{}", head.cache_status());
    for path in ["/post/other", "/post/heuristic"] {
        let posted = edge.send(Method::POST, path, &[], "x=1").await;
        assert!(
            !posted.cache_status().contains("stored"),
            "{path}: {}",
            posted.cache_status()
        );
        let after = edge.get(path, &[]).await;
        assert!(
            !after.is_hit(),
            "{path}: the write invalidated, {}",
            after.cache_status()
        );
        assert_eq!(after.body, "GET 3", "{path}");
    }
    assert_eq!(origin.requests("/post/same").len(), 2);
}

/// Cache poisoning through `Host`: the key is the path, so a client-chosen
/// `Host` must never reach the origin, or one client could store another
/// site's page under a path every client shares.
#[tokio::test]
async fn client_host_never_reaches_the_origin() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |seen: &Seen| {
        Reply::ok(seen.header("host").unwrap_or("none")).header("cache-control", "max-age=600")
    })
    .await;
    let edge = TestEdge::start(origin.addr, clock).await;
    let own = origin.addr.to_string();
    let poisoned = edge.get("/poison", &[("host", "evil.example")]).await;
    assert_eq!(poisoned.body, own, "the origin saw the client's Host");
    let next = edge.get("/poison", &[]).await;
    assert!(next.is_hit(), "{}", next.cache_status());
    assert_eq!(next.body, own);
    edge.send(Method::POST, "/poison-write", &[("host", "evil.example")], "{}")
        .await;
    let writes = origin.requests("/poison-write");
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].header("host"), Some(own.as_str()));
}

const TOKEN: &str = "0123456789abcdef-token";

#[tokio::test]
async fn purge_api_needs_the_token_and_purges_by_url_prefix_and_tag() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |seen: &Seen| {
        let reply = Reply::ok(&seen.path).header("cache-control", "max-age=600");
        match seen.path.as_str() {
            "/q/tagged" => reply.header("cache-tag", "team-a, shared"),
            "/q/keyed" => reply.header("surrogate-key", "team-b shared"),
            _ => reply,
        }
    })
    .await;
    let edge = TestEdge::start_with(origin.addr, clock, |s| s.purge_token = Some(TOKEN.into())).await;
    let paths = ["/p/one?x=1", "/p/two", "/q/tagged", "/q/keyed", "/r/other"];
    for path in paths {
        edge.get(path, &[]).await;
        assert!(edge.get(path, &[]).await.is_hit(), "{path}");
    }
    let purge = |body: &'static str, token: Option<&'static str>| {
        let edge = &edge;
        async move {
            let auth = token.map(|t| format!("Bearer {t}"));
            let mut headers = vec![("content-type", "application/json")];
            if let Some(auth) = &auth {
                headers.push(("authorization", auth.as_str()));
            }
            edge.send(Method::POST, "/_revalidate/purge", &headers, body)
                .await
        }
    };
    let refusals = [
        (purge(r#"{"urls":["/p/two"]}"#, None).await, 401),
        (
            purge(r#"{"urls":["/p/two"]}"#, Some("0123456789abcdef-wrong")).await,
            401,
        ),
        (purge("not json", Some(TOKEN)).await, 400),
        (purge(r#"{"urls":[]}"#, Some(TOKEN)).await, 400),
        (purge(r#"{"paths":["/"]}"#, Some(TOKEN)).await, 400),
        (purge(r#"{"prefixes":[""]}"#, Some(TOKEN)).await, 400),
        (purge(r#"{"urls":["relative"]}"#, Some(TOKEN)).await, 400),
    ];
    for (answer, status) in refusals {
        assert_eq!(answer.status, status, "{}", answer.body);
        assert_eq!(answer.header("content-type"), Some("application/problem+json"));
    }
    let unauthorized = purge("{}", None).await;
    assert!(
        unauthorized
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(edge.get("/_revalidate/purge", &[]).await.status, 405);
    for path in paths {
        assert!(
            edge.get(path, &[]).await.is_hit(),
            "refused purges purge nothing: {path}"
        );
    }

    let by_url = purge(r#"{"urls":["http://edge.example/p/one?x=1"]}"#, Some(TOKEN)).await;
    assert_eq!(by_url.status, 200, "{}", by_url.body);
    assert!(!edge.get("/p/one?x=1", &[]).await.is_hit());
    assert!(edge.get("/p/two", &[]).await.is_hit());
    assert_eq!(purge(r#"{"prefixes":["/p/"]}"#, Some(TOKEN)).await.status, 200);
    assert!(!edge.get("/p/two", &[]).await.is_hit());
    assert_eq!(purge(r#"{"tags":["shared"]}"#, Some(TOKEN)).await.status, 200);
    assert!(!edge.get("/q/tagged", &[]).await.is_hit());
    assert!(!edge.get("/q/keyed", &[]).await.is_hit());
    assert!(edge.get("/r/other", &[]).await.is_hit());
    assert_eq!(
        edge.metric("revalidate_edge_purges_total{kind=\"tag\"}").await,
        1.0
    );
}

#[tokio::test]
async fn without_a_token_the_purge_path_is_an_ordinary_request() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |_: &Seen| Reply::status(404)).await;
    let edge = TestEdge::start(origin.addr, clock).await;
    let answer = edge.send(Method::POST, "/_revalidate/purge", &[], "{}").await;
    assert_eq!(answer.status, 404);
    assert_eq!(origin.count("/_revalidate/purge"), 1);
}

#[tokio::test]
async fn vary_keeps_one_response_per_variant() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |seen: &Seen| {
        let language = seen.header("accept-language").unwrap_or("none").to_owned();
        Reply::ok(&language)
            .header("cache-control", "max-age=600")
            .header("vary", "Accept-Language")
    })
    .await;
    let edge = TestEdge::start(origin.addr, clock).await;
    let cases = [
        ("fr", "fr", false, "uri-miss"),
        ("en", "en", false, "vary-miss"),
        ("fr", "fr", true, ""),
        ("en", "en", true, ""),
        ("", "none", false, "vary-miss"),
        ("", "none", true, ""),
    ];
    for (language, body, hit, why) in cases {
        let headers: Vec<(&str, &str)> = if language.is_empty() {
            vec![]
        } else {
            vec![("accept-language", language)]
        };
        let answer = edge.get("/v", &headers).await;
        assert_eq!(answer.body, body);
        assert_eq!(answer.is_hit(), hit, "{language}: {}", answer.cache_status());
        assert!(
            answer.cache_status().contains(why),
            "{language}: {}",
            answer.cache_status()
        );
    }
    assert_eq!(origin.count("/v"), 3);
}

#[tokio::test]
async fn origin_faults_are_502_or_504_never_500() {
    let clock = clock();
    // Refused: a port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let refused = TestEdge::start(closed_addr, clock.clone()).await;
    let answer = refused.get("/x", &[]).await;
    assert_eq!(answer.status, 502);
    assert_eq!(answer.header("content-type"), Some("application/problem+json"));
    assert!(
        answer.cache_status().contains("origin-unreachable"),
        "{}",
        answer.cache_status()
    );
    assert_eq!(refused.send(Method::POST, "/x", &[], "").await.status, 502);
    assert_eq!(
        refused
            .metric("revalidate_edge_origin_errors_total{kind=\"connect\"}")
            .await,
        2.0
    );

    // Slow: the origin answers after the edge's response timeout.
    let origin = TestOrigin::start(clock.clone(), |_: &Seen| {
        Reply::ok("late").delay(Duration::from_millis(1500))
    })
    .await;
    let slow = TestEdge::start_with(origin.addr, clock, |s| {
        s.response_timeout = Duration::from_millis(200);
    })
    .await;
    let answer = slow.get("/slow", &[]).await;
    assert_eq!(answer.status, 504);
    assert_eq!(answer.header("content-type"), Some("application/problem+json"));
}

/// Wire-exact: a request head over the limit gets 431 from the server.
#[tokio::test]
async fn an_oversized_request_head_gets_431() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |_: &Seen| Reply::ok("x")).await;
    let edge = TestEdge::start(origin.addr, clock).await;
    let addr = edge.addr;
    let response = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let big = "a".repeat(64 * 1024);
        let request = format!("GET / HTTP/1.1\r\nHost: edge\r\nX-Big: {big}\r\n\r\n");
        let _ = stream.write_all(request.as_bytes());
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        String::from_utf8_lossy(&response).into_owned()
    })
    .await
    .unwrap();
    assert!(
        response.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{response:?}"
    );
    assert_eq!(origin.count("/"), 0);
}

#[tokio::test]
async fn metrics_count_what_happened() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |seen: &Seen| match seen.number {
        1 => Reply::ok("0123456789")
            .header("etag", "\"v1\"")
            .header("cache-control", "max-age=10"),
        _ => Reply::status(304).header("etag", "\"v1\""),
    })
    .await;
    let edge = TestEdge::start(origin.addr, clock).await;
    edge.get("/mx", &[]).await; // miss
    edge.get("/mx", &[]).await; // hit
    edge.get("/mx", &[("if-none-match", "\"v1\"")]).await; // hit, 304 to the client
    edge.advance(11);
    edge.get("/mx", &[]).await; // revalidated, 304 from the origin
    let expected = [
        ("revalidate_edge_requests_total{outcome=\"miss\"}", 1.0),
        ("revalidate_edge_requests_total{outcome=\"hit\"}", 2.0),
        ("revalidate_edge_requests_total{outcome=\"revalidated\"}", 1.0),
        ("revalidate_edge_revalidations_total{origin_status=\"304\"}", 1.0),
        ("revalidate_edge_not_modified_total", 1.0),
        // Two hits and one 304 from the origin saved 10 bytes each on the origin link.
        ("revalidate_edge_bytes_saved_total{link=\"origin\"}", 30.0),
        ("revalidate_edge_bytes_saved_total{link=\"client\"}", 10.0),
        ("revalidate_edge_storage_memory_entries", 1.0),
    ];
    for (series, value) in expected {
        assert_eq!(edge.metric(series).await, value, "{series}");
    }
}

/// The race the origin's purge hook left open: the origin reads the old
/// version, then a write commits and its purge reaches the edge while that
/// old response is still on its way. What the fill then stores is as old as
/// the request that fetched it, so the purge covers it and the next request
/// goes to the origin again, instead of the old copy living for its max-age.
#[tokio::test]
async fn a_purge_while_the_fill_is_in_flight_covers_what_the_fill_stores() {
    const TOKEN: &str = "in-flight-purge-token";
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |_: &Seen| {
        Reply::ok("old edition")
            .header("cache-control", "max-age=3600")
            .delay(Duration::from_millis(400))
    })
    .await;
    let edge = TestEdge::start_with(origin.addr, clock, |s| s.purge_token = Some(TOKEN.into())).await;
    let authorization = format!("Bearer {TOKEN}");
    let purge = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        edge.send(
            Method::POST,
            "/_revalidate/purge",
            &[
                ("authorization", &authorization),
                ("content-type", "application/json"),
            ],
            r#"{"urls": ["/doc"]}"#,
        )
        .await
    };
    let (filled, purged) = tokio::join!(edge.get("/doc", &[]), purge);
    assert_eq!(purged.status, 200, "{}", purged.body);
    assert_eq!(filled.body, "old edition");
    assert_eq!(origin.count("/doc"), 1);
    let after = edge.get("/doc", &[]).await;
    assert!(!after.is_hit(), "{}", after.cache_status());
    assert_eq!(origin.count("/doc"), 2);
    // The refill started after the purge, so it is kept.
    assert!(edge.get("/doc", &[]).await.is_hit());
}

/// RFC 9211 §2.6: `collapsed` means the response was reused from another
/// request's forward. A request that waited for a leader whose response
/// could not be stored (`no-store`) then goes forward itself: it was not
/// collapsed, and its Cache-Status says a plain `fwd=uri-miss`.
#[tokio::test]
async fn a_follower_that_must_go_forward_itself_is_not_labelled_collapsed() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |_: &Seen| {
        Reply::ok("private")
            .header("cache-control", "no-store")
            .delay(Duration::from_millis(300))
    })
    .await;
    let edge = Arc::new(TestEdge::start(origin.addr, clock).await);
    let requests: Vec<_> = (0..4)
        .map(|_| {
            let edge = Arc::clone(&edge);
            tokio::spawn(async move { edge.get("/uncacheable", &[]).await })
        })
        .collect();
    for request in requests {
        let answer = request.await.unwrap();
        assert_eq!((answer.status, answer.body.as_str()), (200, "private"));
        assert_eq!(answer.cache_status(), "edge; fwd=uri-miss; fwd-status=200");
    }
    assert_eq!(origin.count("/uncacheable"), 4);
    assert_eq!(
        edge.metric("revalidate_edge_requests_total{outcome=\"collapsed\"}")
            .await,
        0.0
    );
}
