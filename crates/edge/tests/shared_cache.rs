//! What a shared cache must not share: one client's cookie, answers an
//! origin built from request fields that are not in the cache key, and one
//! edge's view of a stored response with another edge over the same
//! storage.

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use revalidate_core::HttpDate;
use revalidate_core::cache::SetCookiePolicy;
use revalidate_edge::EdgeSettings;
use revalidate_edge::clock::{Clock, SystemClock};
use revalidate_edge::storage::{MemoryConfig, MemoryStorage};

use crate::support::{Reply, Seen, TestEdge, TestOrigin, clock};

/// An origin that hands every client a new session cookie on a response
/// that says `max-age=60`: an explicit lifetime.
fn cookie_origin(seen: &Seen) -> Reply {
    Reply::ok("page").header("cache-control", "max-age=60").header(
        "set-cookie",
        &format!("session={}; Path=/; HttpOnly", seen.number),
    )
}

/// The same cookie on a response whose only freshness is the heuristic
/// one (a `Last-Modified` ten days back), as most session-setting pages
/// are.
fn heuristic_cookie_origin(seen: &Seen) -> Reply {
    let ten_days_ago = HttpDate::from_unix_seconds(SystemClock.now().unix_seconds() - 10 * 86_400).unwrap();
    Reply::ok("page")
        .header("last-modified", &ten_days_ago.to_string())
        .header(
            "set-cookie",
            &format!("session={}; Path=/; HttpOnly", seen.number),
        )
}

/// Asks `path` three times as three clients: each must get its own cookie
/// from the origin, never a stored one, and `Cache-Status` must say why
/// nothing was stored.
async fn each_client_gets_its_own_cookie(edge: &TestEdge, origin: &TestOrigin, path: &str) {
    for client in 1..=3 {
        let answer = edge.get(path, &[]).await;
        assert_eq!(answer.status, 200);
        let cookie = format!("session={client}; Path=/; HttpOnly");
        assert_eq!(
            answer.header("set-cookie"),
            Some(cookie.as_str()),
            "client {client}"
        );
        assert!(!answer.is_hit(), "client {client}: {}", answer.cache_status());
        assert!(
            !answer.cache_status().contains("stored") && answer.cache_status().contains("detail=set-cookie"),
            "client {client}: {}",
            answer.cache_status()
        );
    }
    assert_eq!(origin.count(path), 3);
    assert_eq!(edge.metric("revalidate_edge_storage_memory_entries").await, 0.0);
}

/// By default (`cache_set_cookie = "explicit"`) a response that sets a
/// cookie is stored only when the origin gave it an explicit lifetime: on
/// heuristic freshness alone it is not (RFC 9111 lets a cache decline to
/// store), so each client gets its own cookie from the origin.
#[tokio::test]
async fn by_default_a_set_cookie_response_without_an_explicit_lifetime_is_not_stored() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), heuristic_cookie_origin).await;
    let edge = TestEdge::start(origin.addr, clock).await;
    each_client_gets_its_own_cookie(&edge, &origin, "/account").await;
}

/// By default a response that sets a cookie and says `max-age=60` is
/// stored with its `Set-Cookie` (RFC 9111 §3.1: a cache "MUST include all
/// received response header fields ... when storing a response"): the
/// origin declared it reusable, so later clients get the stored response,
/// cookie included (cache-tests.fyi `headers-store-Set-Cookie`,
/// `other-set-cookie`).
#[tokio::test]
async fn by_default_a_set_cookie_response_with_an_explicit_lifetime_is_stored_whole() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), cookie_origin).await;
    let edge = TestEdge::start(origin.addr, clock).await;
    let first = edge.get("/shared", &[]).await;
    assert!(
        first.cache_status().contains("stored"),
        "{}",
        first.cache_status()
    );
    let second = edge.get("/shared", &[]).await;
    assert!(second.is_hit(), "{}", second.cache_status());
    assert_eq!(second.header("set-cookie"), Some("session=1; Path=/; HttpOnly"));
    assert_eq!(origin.count("/shared"), 1);
}

/// `cache_set_cookie = "never"` (Varnish's built-in VCL, nginx's
/// `proxy_cache`) declines even a response with an explicit lifetime.
#[tokio::test]
async fn with_never_a_set_cookie_response_is_not_stored() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), cookie_origin).await;
    let edge = TestEdge::start_with(origin.addr, clock, |s| {
        s.cache_set_cookie = SetCookiePolicy::Never;
    })
    .await;
    each_client_gets_its_own_cookie(&edge, &origin, "/account").await;
}

/// Concurrent requests for a response that sets a cookie and that the
/// edge declines to store: the leader's response is not stored, so the
/// others go to the origin themselves and each gets its own cookie, never
/// the leader's.
#[tokio::test]
async fn requests_waiting_for_a_declined_set_cookie_fill_get_their_own_cookies() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |seen: &Seen| {
        heuristic_cookie_origin(seen).delay(Duration::from_millis(200))
    })
    .await;
    let edge = Arc::new(TestEdge::start(origin.addr, clock).await);
    let requests: Vec<_> = (0..4)
        .map(|_| {
            let edge = Arc::clone(&edge);
            tokio::spawn(async move { edge.get("/account", &[]).await })
        })
        .collect();
    let mut cookies = Vec::new();
    for request in requests {
        let answer = request.await.unwrap();
        cookies.push(answer.header("set-cookie").unwrap().to_owned());
    }
    cookies.sort();
    cookies.dedup();
    assert_eq!(cookies.len(), 4, "{cookies:?}");
    assert_eq!(origin.count("/account"), 4);
}

/// `cache_set_cookie = "always"` stores such responses like any other (RFC
/// 9111 §3.1), heuristic freshness too, for an origin that marks what must
/// not be shared with `private` or `no-cache="Set-Cookie"`.
#[tokio::test]
async fn with_always_a_heuristically_fresh_set_cookie_response_is_stored() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), heuristic_cookie_origin).await;
    let edge = TestEdge::start_with(origin.addr, clock, |s| {
        s.cache_set_cookie = SetCookiePolicy::Always;
    })
    .await;
    let first = edge.get("/shared", &[]).await;
    assert!(
        first.cache_status().contains("stored"),
        "{}",
        first.cache_status()
    );
    let second = edge.get("/shared", &[]).await;
    assert!(second.is_hit(), "{}", second.cache_status());
    assert_eq!(origin.count("/shared"), 1);
}

/// Whatever the policy, a cookie the origin names in
/// `no-cache="Set-Cookie"` is not kept (RFC 9111 §5.2.2.4), so the
/// response is stored without it and later clients get no cookie.
#[tokio::test]
async fn a_cookie_named_in_no_cache_is_never_stored() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |seen: &Seen| {
        heuristic_cookie_origin(seen).header("cache-control", "max-age=60, no-cache=\"Set-Cookie\"")
    })
    .await;
    let edge = TestEdge::start_with(origin.addr, clock, |s| {
        s.cache_set_cookie = SetCookiePolicy::Never;
    })
    .await;
    let first = edge.get("/page", &[]).await;
    assert_eq!(first.header("set-cookie"), Some("session=1; Path=/; HttpOnly"));
    assert!(
        first.cache_status().contains("stored"),
        "{}",
        first.cache_status()
    );
    let second = edge.get("/page", &[]).await;
    assert!(second.is_hit(), "{}", second.cache_status());
    assert_eq!(second.header("set-cookie"), None);
    assert_eq!(origin.count("/page"), 1);
}

/// The client-supplied forwarding fields a shared cache must not pass on.
const CLIENT_FORWARDING: [(&str, &str); 7] = [
    ("x-forwarded-host", "evil.example"),
    ("forwarded", "for=192.0.2.1;host=evil.example;proto=https"),
    ("x-forwarded-for", "192.0.2.1"),
    ("x-forwarded-proto", "https"),
    ("x-forwarded-port", "8443"),
    ("x-forwarded-prefix", "/evil"),
    ("x-real-ip", "192.0.2.1"),
];

/// An origin that builds its page from `X-Forwarded-Host` (as many
/// frameworks do for absolute links) would poison the cache for every
/// client if the edge forwarded a client's value: the field is not in the
/// cache key. The edge forwards none of the client's forwarding fields; it
/// sets its own `X-Forwarded-For` (the peer) and `X-Forwarded-Proto` (the
/// connection's scheme), on fills and on writes alike.
#[tokio::test]
async fn client_x_forwarded_host_never_reaches_the_origin() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |seen: &Seen| {
        let host = seen.header("x-forwarded-host").unwrap_or("edge.example");
        Reply::ok(&format!("<a href=\"http://{host}/next\">")).header("cache-control", "max-age=600")
    })
    .await;
    let edge = TestEdge::start(origin.addr, clock).await;
    let poisoned = edge.get("/page", &CLIENT_FORWARDING).await;
    assert_eq!(poisoned.body, "<a href=\"http://edge.example/next\">");
    assert!(edge.get("/page", &[]).await.is_hit());
    edge.send(Method::POST, "/form", &CLIENT_FORWARDING, "x").await;
    for path in ["/page", "/form"] {
        let seen = &origin.requests(path)[0];
        for (name, _) in CLIENT_FORWARDING {
            let expected = match name {
                "x-forwarded-for" => Some("127.0.0.1"),
                "x-forwarded-proto" => Some("http"),
                _ => None,
            };
            assert_eq!(seen.header(name), expected, "{path}: {name}");
        }
    }
}

/// `trusted_proxies`: a peer inside those ranges (a load balancer in
/// front of the edge) passes its `X-Forwarded-For` chain, appended to,
/// and its `X-Forwarded-Proto`; never `X-Forwarded-Host` or `Forwarded`.
#[tokio::test]
async fn a_trusted_proxy_passes_its_forwarded_for_chain_but_never_the_host() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |_: &Seen| Reply::ok("x")).await;
    let edge = TestEdge::start_with(origin.addr, clock, |s| {
        s.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    edge.get("/behind-lb", &CLIENT_FORWARDING).await;
    let seen = &origin.requests("/behind-lb")[0];
    assert_eq!(seen.header("x-forwarded-for"), Some("192.0.2.1, 127.0.0.1"));
    assert_eq!(seen.header("x-forwarded-proto"), Some("https"));
    for name in [
        "x-forwarded-host",
        "forwarded",
        "x-forwarded-port",
        "x-forwarded-prefix",
        "x-real-ip",
    ] {
        assert_eq!(seen.header(name), None, "{name}");
    }
}

/// Two edges with different cache names over one storage: each answers
/// hits from the one stored response under its own name. What a lookup
/// keeps with a stored object holds the header sets of the edge that
/// decoded it, so another edge decodes its own rather than answering with
/// the first edge's `Cache-Status` (`revalidate_edge::entry::EdgeId`).
#[tokio::test]
async fn edges_over_one_storage_answer_hits_under_their_own_names() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |_: &Seen| {
        Reply::ok("shared").header("cache-control", "max-age=60")
    })
    .await;
    let storage = MemoryStorage::new(MemoryConfig::new(16 << 20)).unwrap();
    let named = |name: &'static str| move |s: &mut EdgeSettings| s.cache_name = name.into();
    let first = TestEdge::start_over(
        origin.addr,
        Some(clock.clone()),
        storage.clone().into(),
        named("first"),
    )
    .await;
    let second = TestEdge::start_over(origin.addr, Some(clock), storage.into(), named("second")).await;
    let stored = first.get("/page", &[]).await;
    assert!(
        stored.cache_status().contains("stored"),
        "{}",
        stored.cache_status()
    );
    // Hits through each edge in turn, the first edge's entry kept first.
    for (edge, name) in [
        (&first, "first"),
        (&second, "second"),
        (&first, "first"),
        (&second, "second"),
    ] {
        let hit = edge.get("/page", &[]).await;
        assert_eq!(hit.body, "shared");
        assert!(
            hit.cache_status().starts_with(&format!("{name}; hit")),
            "{name}: {}",
            hit.cache_status()
        );
    }
    assert_eq!(origin.count("/page"), 1);
}
