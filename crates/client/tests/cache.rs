//! The private-cache rules as tables of steps, over the in-memory
//! transport and a manual clock: each step advances the clock, sends a
//! request, and says whether the server must see it (and with which
//! validators) and where the answer must come from.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, Response};
use revalidate_client::{CacheStorage, CachingClient, InMemoryTransport, ManualClock, MemoryCache, Source};
use revalidate_core::HttpDate;

const T0: u64 = 1_700_000_000;
const URL: &str = "http://origin.test/thing";

pub(crate) fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0)
}

fn date(secs: u64) -> String {
    HttpDate::from_unix_seconds(secs).unwrap().to_string()
}

/// What the server answers (a `Date` of the clock's time is added unless
/// the reply sets one).
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: &'static str,
}

pub(crate) fn reply(status: u16, headers: &[(&'static str, &str)], body: &'static str) -> Reply {
    Reply {
        status,
        headers: headers.iter().map(|(n, v)| (*n, (*v).to_owned())).collect(),
        body,
    }
}

struct Step {
    advance: u64,
    method: Method,
    request: Vec<(&'static str, &'static str)>,
    /// `None`: the server must not be contacted.
    reply: Option<Reply>,
    /// Header fields the request the server saw must carry…
    sent: Vec<(&'static str, String)>,
    /// …and must not carry.
    not_sent: Vec<&'static str>,
    source: Source,
    body: &'static str,
    /// Header fields the caller must get.
    got: Vec<(&'static str, &'static str)>,
}

fn step(advance: u64, reply: Option<Reply>, source: Source, body: &'static str) -> Step {
    Step {
        advance,
        method: Method::GET,
        request: Vec::new(),
        reply,
        sent: Vec::new(),
        not_sent: Vec::new(),
        source,
        body,
        got: Vec::new(),
    }
}

impl Step {
    fn request(mut self, headers: &[(&'static str, &'static str)]) -> Self {
        self.request = headers.to_vec();
        self
    }
    fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }
    fn sent(mut self, headers: &[(&'static str, &str)]) -> Self {
        self.sent = headers.iter().map(|(n, v)| (*n, (*v).to_owned())).collect();
        self
    }
    fn not_sent(mut self, names: &[&'static str]) -> Self {
        self.not_sent = names.to_vec();
        self
    }
    fn got(mut self, headers: &[(&'static str, &'static str)]) -> Self {
        self.got = headers.to_vec();
        self
    }
}

/// A transport answering with `replies` in order, stamping `Date`.
pub(crate) fn scripted(clock: &ManualClock, replies: Vec<Reply>) -> InMemoryTransport {
    let replies = Arc::new(Mutex::new(VecDeque::from(replies)));
    let clock = clock.clone();
    InMemoryTransport::new(move |_request| {
        use revalidate_client::Clock;
        let reply = replies
            .lock()
            .unwrap()
            .pop_front()
            .expect("an unexpected request");
        let mut response = Response::builder().status(reply.status);
        if !reply.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("date")) {
            response = response.header(
                "date",
                HttpDate::from_system_time(clock.now()).unwrap().to_string(),
            );
        }
        for (name, value) in &reply.headers {
            response = response.header(*name, value.as_str());
        }
        response.body(Bytes::from_static(reply.body.as_bytes())).unwrap()
    })
}

async fn run(case: &str, steps: Vec<Step>) {
    let clock = ManualClock::new(start());
    let mut replies = Vec::new();
    let mut plan = Vec::new();
    for mut s in steps {
        let expects_request = s.reply.is_some();
        if let Some(reply) = s.reply.take() {
            replies.push(reply);
        }
        plan.push((expects_request, s));
    }
    let transport = scripted(&clock, replies);
    let client = CachingClient::from_parts(transport.clone(), MemoryCache::default(), clock.clone());
    for (i, (expects_request, s)) in plan.into_iter().enumerate() {
        let at = format!("{case}, step {i}");
        clock.advance(Duration::from_secs(s.advance));
        let before = transport.request_count();
        let mut request = Request::builder().method(s.method.clone()).uri(URL);
        for (name, value) in &s.request {
            request = request.header(*name, *value);
        }
        let response = client.send(request.body(Bytes::new()).unwrap()).await.unwrap();
        let sent = transport.requests();
        if expects_request {
            assert_eq!(sent.len(), before + 1, "{at}: the server must be asked");
            let seen = sent.last().unwrap().headers();
            for (name, value) in &s.sent {
                assert_eq!(
                    seen.get(*name).map(|v| v.to_str().unwrap()),
                    Some(value.as_str()),
                    "{at}: request field {name}"
                );
            }
            for name in &s.not_sent {
                assert!(!seen.contains_key(*name), "{at}: {name} must not be sent");
            }
        } else {
            assert_eq!(sent.len(), before, "{at}: served without a request");
        }
        assert_eq!(response.source, s.source, "{at}: source");
        assert_eq!(response.body, s.body.as_bytes(), "{at}: body");
        for (name, value) in &s.got {
            assert_eq!(
                response.headers.get(*name).map(|v| v.to_str().unwrap()),
                Some(*value),
                "{at}: response field {name}"
            );
        }
    }
}

fn ok(headers: &[(&'static str, &str)], body: &'static str) -> Option<Reply> {
    Some(reply(200, headers, body))
}

fn not_modified(headers: &[(&'static str, &str)]) -> Option<Reply> {
    Some(reply(304, headers, ""))
}

#[tokio::test]
async fn fresh_response_is_served_without_a_request() {
    run(
        "fresh",
        vec![
            step(
                0,
                ok(&[("cache-control", "max-age=60"), ("etag", "\"a\"")], "v1"),
                Source::Network,
                "v1",
            ),
            step(10, None, Source::Cache, "v1").got(&[("age", "10"), ("etag", "\"a\"")]),
            step(49, None, Source::Cache, "v1").got(&[("age", "59")]),
        ],
    )
    .await;
}

#[tokio::test]
async fn stale_response_is_revalidated_with_if_none_match_and_if_modified_since() {
    let lm = date(T0 - 3600);
    run(
        "stale",
        vec![
            step(
                0,
                ok(
                    &[
                        ("cache-control", "max-age=60"),
                        ("etag", "\"a\""),
                        ("last-modified", &lm),
                    ],
                    "v1",
                ),
                Source::Network,
                "v1",
            )
            .not_sent(&["if-none-match", "if-modified-since"]),
            step(61, not_modified(&[("etag", "\"a\"")]), Source::Revalidated, "v1")
                .sent(&[("if-none-match", "\"a\""), ("if-modified-since", &lm)]),
            // The 304 refreshed the response: fresh again for 60 s.
            step(30, None, Source::Cache, "v1").got(&[("age", "30")]),
        ],
    )
    .await;
}

#[tokio::test]
async fn directive_parsing_edge_cases() {
    run(
        "quoted comma inside a directive value",
        vec![
            step(
                0,
                ok(&[("cache-control", "private=\"x, max-age=0\", max-age=60")], "v1"),
                Source::Network,
                "v1",
            ),
            step(59, None, Source::Cache, "v1"),
        ],
    )
    .await;
    run(
        "directives across field lines, case-insensitive",
        vec![
            step(
                0,
                ok(
                    &[("cache-control", "Max-Age=60"), ("cache-control", "NO-STORE")],
                    "v1",
                ),
                Source::Network,
                "v1",
            ),
            step(1, ok(&[], "v1"), Source::Network, "v1"),
        ],
    )
    .await;
    run(
        "invalid max-age is stale",
        vec![
            step(
                0,
                ok(&[("cache-control", "max-age=soon"), ("etag", "\"a\"")], "v1"),
                Source::Network,
                "v1",
            ),
            step(0, not_modified(&[("etag", "\"a\"")]), Source::Revalidated, "v1"),
        ],
    )
    .await;
    run(
        "huge max-age saturates at 2^31",
        vec![
            step(
                0,
                ok(&[("cache-control", "max-age=99999999999999999999")], "v1"),
                Source::Network,
                "v1",
            ),
            step(2_000_000_000, None, Source::Cache, "v1"),
        ],
    )
    .await;
}

#[tokio::test]
async fn server_error_during_revalidation_keeps_the_stored_response() {
    run(
        "503 then 304",
        vec![
            step(
                0,
                ok(&[("cache-control", "max-age=10"), ("etag", "\"a\"")], "v1"),
                Source::Network,
                "v1",
            ),
            step(11, Some(reply(503, &[], "down")), Source::Network, "down")
                .sent(&[("if-none-match", "\"a\"")]),
            step(1, not_modified(&[("etag", "\"a\"")]), Source::Revalidated, "v1")
                .sent(&[("if-none-match", "\"a\"")]),
        ],
    )
    .await;
}

#[tokio::test]
async fn not_modified_updates_the_stored_header_fields() {
    run(
        "304 headers",
        vec![
            step(
                0,
                ok(
                    &[
                        ("cache-control", "max-age=10"),
                        ("etag", "\"a\""),
                        ("x-version", "1"),
                        ("content-length", "2"),
                    ],
                    "v1",
                ),
                Source::Network,
                "v1",
            ),
            step(
                11,
                not_modified(&[
                    ("cache-control", "max-age=120"),
                    ("etag", "\"a\""),
                    ("x-version", "2"),
                    ("content-length", "0"),
                ]),
                Source::Revalidated,
                "v1",
            )
            .got(&[
                ("x-version", "2"),
                ("cache-control", "max-age=120"),
                ("content-length", "2"),
            ]),
            // Fresh under the new max-age, with the new fields.
            step(100, None, Source::Cache, "v1").got(&[("x-version", "2")]),
            step(21, not_modified(&[("etag", "\"a\"")]), Source::Revalidated, "v1"),
        ],
    )
    .await;
}

#[tokio::test]
async fn changed_response_replaces_the_stored_one() {
    run(
        "200 replaces",
        vec![
            step(
                0,
                ok(&[("cache-control", "max-age=10"), ("etag", "\"a\"")], "v1"),
                Source::Network,
                "v1",
            ),
            step(
                11,
                ok(&[("cache-control", "max-age=10"), ("etag", "\"b\"")], "v2"),
                Source::Network,
                "v2",
            )
            .sent(&[("if-none-match", "\"a\"")]),
            step(1, None, Source::Cache, "v2").got(&[("etag", "\"b\"")]),
            step(10, not_modified(&[("etag", "\"b\"")]), Source::Revalidated, "v2")
                .sent(&[("if-none-match", "\"b\"")]),
        ],
    )
    .await;
}

#[tokio::test]
async fn no_store_is_not_kept() {
    run(
        "response no-store",
        vec![
            step(
                0,
                ok(
                    &[("cache-control", "no-store, max-age=60"), ("etag", "\"a\"")],
                    "v1",
                ),
                Source::Network,
                "v1",
            ),
            step(
                1,
                ok(&[("cache-control", "no-store"), ("etag", "\"a\"")], "v1"),
                Source::Network,
                "v1",
            )
            .not_sent(&["if-none-match"]),
        ],
    )
    .await;
    run(
        "request no-store",
        vec![
            step(
                0,
                ok(&[("cache-control", "max-age=60")], "v1"),
                Source::Network,
                "v1",
            )
            .request(&[("cache-control", "no-store")]),
            step(
                1,
                ok(&[("cache-control", "max-age=60")], "v1"),
                Source::Network,
                "v1",
            ),
            step(1, None, Source::Cache, "v1"),
        ],
    )
    .await;
}

#[tokio::test]
async fn vary_selects_the_variant() {
    let vary = [
        ("cache-control", "max-age=60"),
        ("vary", "Accept-Language"),
        ("etag", "\"en\""),
    ];
    let vary_fr = [
        ("cache-control", "max-age=60"),
        ("vary", "Accept-Language"),
        ("etag", "\"fr\""),
    ];
    run(
        "vary accept-language",
        vec![
            step(0, ok(&vary, "hello"), Source::Network, "hello").request(&[("accept-language", "en")]),
            step(1, ok(&vary_fr, "bonjour"), Source::Network, "bonjour")
                .request(&[("accept-language", "fr")]),
            step(1, None, Source::Cache, "hello").request(&[("accept-language", "en")]),
            step(1, None, Source::Cache, "bonjour").request(&[("accept-language", "fr")]),
            // A request without the field matches neither stored variant.
            step(1, ok(&vary, "hello"), Source::Network, "hello"),
        ],
    )
    .await;
    run(
        "vary star never matches",
        vec![
            step(
                0,
                ok(&[("cache-control", "max-age=60"), ("vary", "*")], "v1"),
                Source::Network,
                "v1",
            ),
            step(
                1,
                ok(&[("cache-control", "max-age=60"), ("vary", "*")], "v1"),
                Source::Network,
                "v1",
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn authorization_is_fine_for_a_private_cache() {
    run(
        "authorization",
        vec![
            step(
                0,
                ok(&[("cache-control", "private, max-age=60")], "mine"),
                Source::Network,
                "mine",
            )
            .request(&[("authorization", "Bearer t")]),
            step(1, None, Source::Cache, "mine").request(&[("authorization", "Bearer t")]),
        ],
    )
    .await;
}

#[tokio::test]
async fn request_no_cache_forces_revalidation() {
    let fresh = [("cache-control", "max-age=600"), ("etag", "\"a\"")];
    for (case, request) in [
        ("cache-control: no-cache", ("cache-control", "no-cache")),
        ("pragma: no-cache", ("pragma", "no-cache")),
        ("max-age=0", ("cache-control", "max-age=0")),
        ("min-fresh beyond lifetime", ("cache-control", "min-fresh=900")),
    ] {
        run(
            case,
            vec![
                step(0, ok(&fresh, "v1"), Source::Network, "v1"),
                step(1, None, Source::Cache, "v1"),
                step(1, not_modified(&[("etag", "\"a\"")]), Source::Revalidated, "v1")
                    .request(&[request])
                    .sent(&[("if-none-match", "\"a\"")]),
            ],
        )
        .await;
    }
}

#[tokio::test]
async fn response_no_cache_is_stored_but_always_revalidated() {
    // What `revalidate serve` sends for JSON resources.
    run(
        "response no-cache",
        vec![
            step(
                0,
                ok(&[("cache-control", "no-cache"), ("etag", "\"a\"")], "v1"),
                Source::Network,
                "v1",
            ),
            step(0, not_modified(&[("etag", "\"a\"")]), Source::Revalidated, "v1")
                .sent(&[("if-none-match", "\"a\"")]),
            step(0, not_modified(&[("etag", "\"a\"")]), Source::Revalidated, "v1"),
        ],
    )
    .await;
}

#[tokio::test]
async fn freshness_from_expires_and_heuristics() {
    let expires = date(T0 + 100);
    let lm = date(T0 - 1000);
    run(
        "expires",
        vec![
            step(
                0,
                ok(&[("expires", &expires), ("etag", "\"a\"")], "v1"),
                Source::Network,
                "v1",
            ),
            step(99, None, Source::Cache, "v1"),
            step(2, not_modified(&[("etag", "\"a\"")]), Source::Revalidated, "v1"),
        ],
    )
    .await;
    run(
        "invalid expires is in the past",
        vec![
            step(
                0,
                ok(&[("expires", "0"), ("etag", "\"a\"")], "v1"),
                Source::Network,
                "v1",
            ),
            step(0, not_modified(&[("etag", "\"a\"")]), Source::Revalidated, "v1"),
        ],
    )
    .await;
    run(
        "heuristic: 10% of the time since Last-Modified",
        vec![
            step(0, ok(&[("last-modified", &lm)], "v1"), Source::Network, "v1"),
            step(99, None, Source::Cache, "v1"),
            step(2, not_modified(&[]), Source::Revalidated, "v1").sent(&[("if-modified-since", &lm)]),
        ],
    )
    .await;
    run(
        "no validators and no freshness: plain request",
        vec![
            step(0, ok(&[], "v1"), Source::Network, "v1"),
            step(0, ok(&[], "v2"), Source::Network, "v2").not_sent(&["if-none-match", "if-modified-since"]),
        ],
    )
    .await;
}

#[tokio::test]
async fn must_revalidate_and_max_stale() {
    run(
        "max-stale serves stale",
        vec![
            step(
                0,
                ok(&[("cache-control", "max-age=10"), ("etag", "\"a\"")], "v1"),
                Source::Network,
                "v1",
            ),
            step(20, None, Source::Cache, "v1").request(&[("cache-control", "max-stale=15")]),
            step(10, not_modified(&[("etag", "\"a\"")]), Source::Revalidated, "v1")
                .request(&[("cache-control", "max-stale=15")]),
        ],
    )
    .await;
    run(
        "must-revalidate overrides max-stale",
        vec![
            step(
                0,
                ok(
                    &[
                        ("cache-control", "max-age=10, must-revalidate"),
                        ("etag", "\"a\""),
                    ],
                    "v1",
                ),
                Source::Network,
                "v1",
            ),
            step(20, not_modified(&[("etag", "\"a\"")]), Source::Revalidated, "v1")
                .request(&[("cache-control", "max-stale")]),
        ],
    )
    .await;
}

#[tokio::test]
async fn unsafe_method_invalidates_and_own_validators_bypass() {
    let fresh = [("cache-control", "max-age=600"), ("etag", "\"a\"")];
    run(
        "PUT invalidates",
        vec![
            step(0, ok(&fresh, "v1"), Source::Network, "v1"),
            step(1, Some(reply(204, &[], "")), Source::Network, "").method(Method::PUT),
            step(1, ok(&fresh, "v2"), Source::Network, "v2").not_sent(&["if-none-match"]),
            step(1, None, Source::Cache, "v2"),
        ],
    )
    .await;
    run(
        "a failed PUT does not invalidate",
        vec![
            step(0, ok(&fresh, "v1"), Source::Network, "v1"),
            step(1, Some(reply(412, &[], "")), Source::Network, "").method(Method::PUT),
            step(1, None, Source::Cache, "v1"),
        ],
    )
    .await;
    run(
        "caller's own If-None-Match goes to the server",
        vec![
            step(0, ok(&fresh, "v1"), Source::Network, "v1"),
            step(1, not_modified(&[("etag", "\"a\"")]), Source::Network, "")
                .request(&[("if-none-match", "\"a\"")])
                .sent(&[("if-none-match", "\"a\"")]),
        ],
    )
    .await;
}

/// A 304 naming another entity-tag than the stored one cannot refresh it
/// (RFC 9111 §4.3.4): the stored response is dropped and the request is
/// repeated without validators.
#[tokio::test]
async fn not_modified_for_another_tag_refetches() {
    let clock = ManualClock::new(start());
    let transport = scripted(
        &clock,
        vec![
            reply(200, &[("cache-control", "max-age=10"), ("etag", "\"a\"")], "v1"),
            reply(304, &[("etag", "\"zzz\"")], ""),
            reply(200, &[("cache-control", "max-age=10"), ("etag", "\"zzz\"")], "v2"),
        ],
    );
    let client = CachingClient::from_parts(transport.clone(), MemoryCache::default(), clock.clone());
    assert_eq!(client.get(URL).await.unwrap().source, Source::Network);
    clock.advance(Duration::from_secs(11));
    let again = client.get(URL).await.unwrap();
    assert_eq!(
        (again.source, again.body.as_ref()),
        (Source::Network, b"v2".as_slice())
    );
    let sent = transport.requests();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[1].headers()["if-none-match"], "\"a\"");
    assert!(!sent[2].headers().contains_key("if-none-match"));
    assert_eq!(client.storage().load(URL).len(), 1);
}
