//! Tiered caching: leaf edges that name a shield edge (`shields`) send
//! their misses and revalidations there instead of to the origin. The
//! shield collapses them, answers the leaves' conditional requests from
//! its own store, and routes each request by the `Host` the leaf kept.

use std::net::SocketAddr;
use std::sync::Arc;

use revalidate_edge::clock::{Clock, ManualClock};
use revalidate_edge::config::EdgeConfig;

use crate::support::{Reply, Served, TestOrigin, clock, serve_config};

/// An origin answering `<name> <path>` with a minute's lifetime and the
/// ETag `"<path>"`, and `304` to a request that has it.
async fn origin(clock: &Arc<ManualClock>, name: &'static str) -> TestOrigin {
    TestOrigin::start(Arc::clone(clock), move |seen| {
        let etag = format!("\"{}\"", seen.path.trim_start_matches('/'));
        let reply = match seen.header("if-none-match") == Some(etag.as_str()) {
            true => Reply::status(304),
            false => Reply::ok(&format!("{name} {}", seen.path)),
        };
        reply.header("cache-control", "max-age=60").header("etag", &etag)
    })
    .await
}

async fn edge(text: &str, clock: &Arc<ManualClock>) -> Served {
    let config: EdgeConfig = toml::from_str(text).unwrap();
    config.validate().unwrap();
    let clock: Arc<dyn Clock> = Arc::clone(clock) as Arc<dyn Clock>;
    serve_config(&config, clock).await
}

async fn get(client: &reqwest::Client, edge: SocketAddr, host: &str, path: &str) -> (u16, String) {
    let response = client
        .get(format!("http://{edge}{path}"))
        .header("host", host)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The request mix: each of two leaves reads each of 20 paths, the
/// lifetime passes, and each reads them all again (revalidations). Every
/// answer is the origin's content.
async fn run_mix(leaves: [SocketAddr; 2], clock: &ManualClock) {
    let client = reqwest::Client::new();
    for round in 0..2 {
        for leaf in leaves {
            for n in 0..20 {
                let path = format!("/p{n}");
                assert_eq!(
                    get(&client, leaf, "site.test", &path).await,
                    (200, format!("O {path}")),
                    "round {round}, leaf {leaf}"
                );
            }
        }
        clock.advance(61);
    }
}

/// Issue 16's "Done when": with two leaves behind a shield the origin gets
/// at most half the requests it gets with the two leaves in front of it
/// directly, on the same request mix. Here exactly half: the second leaf's
/// misses are the shield's hits, and its revalidations are answered `304`
/// by the shield from its store (RFC 9111 §4.3.2), which the first leaf's
/// revalidation refreshed.
#[tokio::test]
async fn two_leaves_behind_a_shield_send_half_the_origin_requests_of_two_leaves_without() {
    let direct_clock = clock();
    let direct_origin = origin(&direct_clock, "O").await;
    let leaf =
        |upstream: String| format!("[[sites]]\nname = \"site\"\nhosts = [\"site.test\"]\n{upstream}\n");
    let direct_origin_line = format!("origin = \"http://{}\"", direct_origin.addr);
    let (a, b) = (
        edge(&leaf(direct_origin_line.clone()), &direct_clock).await,
        edge(&leaf(direct_origin_line), &direct_clock).await,
    );
    run_mix([a.addr, b.addr], &direct_clock).await;
    let direct = direct_origin.seen_under("/p");
    assert_eq!(direct, 80, "each leaf fetches and revalidates each path itself");

    let tiered_clock = clock();
    let tiered_origin = origin(&tiered_clock, "O").await;
    let shield = edge(
        &leaf(format!("origin = \"http://{}\"", tiered_origin.addr)),
        &tiered_clock,
    )
    .await;
    let shield_line = format!("shields = [\"http://{}\"]", shield.addr);
    let (a, b) = (
        edge(&leaf(shield_line.clone()), &tiered_clock).await,
        edge(&leaf(shield_line), &tiered_clock).await,
    );
    run_mix([a.addr, b.addr], &tiered_clock).await;
    let tiered = tiered_origin.seen_under("/p");
    assert!(
        tiered * 2 <= direct,
        "behind a shield the origin saw {tiered} requests, against {direct} without"
    );
    // The second round's requests to the origin were revalidations.
    let revalidations = (0..20)
        .filter(|n| {
            let seen = tiered_origin.requests(&format!("/p{n}"));
            seen.len() == 2 && seen[1].header("if-none-match").is_some()
        })
        .count();
    assert_eq!(
        revalidations, 20,
        "each path was fetched once and revalidated once"
    );
}

/// A shield serving two sites routes each leaf's request by the `Host`
/// the leaf kept (the client's), whether the client sent it as `Host` or
/// the leaf must derive it; never one site's content for another.
#[tokio::test]
async fn a_shield_routes_the_leaves_requests_by_their_host() {
    let clock = clock();
    let (a, b) = (origin(&clock, "A").await, origin(&clock, "B").await);
    let site = |name: &str, upstream: &str| {
        format!("[[sites]]\nname = \"{name}\"\nhosts = [\"{name}.test\"]\n{upstream}\n")
    };
    let shield = edge(
        &format!(
            "{}{}",
            site("a", &format!("origin = \"http://{}\"", a.addr)),
            site("b", &format!("origin = \"http://{}\"", b.addr))
        ),
        &clock,
    )
    .await;
    let shields = format!("shields = [\"http://{}\"]", shield.addr);
    let leaf = edge(&format!("{}{}", site("a", &shields), site("b", &shields)), &clock).await;
    let client = reqwest::Client::new();
    assert_eq!(
        get(&client, leaf.addr, "a.test", "/x").await,
        (200, "A /x".into())
    );
    assert_eq!(
        get(&client, leaf.addr, "b.test", "/x").await,
        (200, "B /x".into())
    );
    assert_eq!(
        a.requests("/x")[0].header("host"),
        Some(a.addr.to_string().as_str())
    );
    // Over HTTP/2 (prior knowledge) the client's host is `:authority`,
    // which the leaf passes on as `Host`.
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .resolve("b.test", leaf.addr)
        .build()
        .unwrap();
    let response = h2
        .get(format!("http://b.test:{}/y", leaf.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "B /y");
}

/// A shielded site names no origin; naming both is a one-line error.
#[test]
fn shields_and_origins_together_are_refused() {
    let text = "shields = [\"http://127.0.0.1:1\"]\norigin = \"http://127.0.0.1:2\"\n";
    let config: EdgeConfig = toml::from_str(text).unwrap();
    let error = config.validate().unwrap_err().to_string();
    assert!(error.contains("shields and origin(s) are both set"), "{error}");
}

/// A purge sent to a leaf alone reaches its shield first: the leaf's next
/// fetch cannot bring the purged version back from the shield, whatever
/// order the origin's purges arrive in. With the shield gone, the leaf
/// still purges itself and answers `502`, so that the sender retries.
#[tokio::test]
async fn a_purge_at_a_leaf_reaches_its_shield_before_it_is_applied() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let clock = clock();
    let version = Arc::new(AtomicU64::new(1));
    let current = Arc::clone(&version);
    let origin = TestOrigin::start(Arc::clone(&clock), move |_| {
        Reply::ok(&format!("v{}", current.load(Ordering::SeqCst))).header("cache-control", "max-age=3600")
    })
    .await;
    const TOKEN: &str = "tier-purge-token-0123456789";
    let site = |upstream: String| {
        format!("[[sites]]\nname = \"s\"\nhosts = [\"s.test\"]\npurge_token = \"{TOKEN}\"\n{upstream}\n")
    };
    let shield = edge(&site(format!("origin = \"http://{}\"", origin.addr)), &clock).await;
    let leaf = edge(&site(format!("shields = [\"http://{}\"]", shield.addr)), &clock).await;
    let client = reqwest::Client::new();
    let purge = |edge: SocketAddr| {
        client
            .post(format!("http://{edge}{}", revalidate_core::purge::PURGE_PATH))
            .header("host", "s.test")
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/json")
            .body(r#"{"urls": ["/x"]}"#)
            .send()
    };
    assert_eq!(get(&client, leaf.addr, "s.test", "/x").await, (200, "v1".into()));
    version.store(2, Ordering::SeqCst);
    assert_eq!(
        get(&client, leaf.addr, "s.test", "/x").await,
        (200, "v1".into()),
        "stored on both tiers"
    );

    assert_eq!(purge(leaf.addr).await.unwrap().status(), 200);
    assert_eq!(
        get(&client, leaf.addr, "s.test", "/x").await,
        (200, "v2".into()),
        "the shield was purged before the leaf fetched again"
    );
    assert_eq!(
        get(&client, shield.addr, "s.test", "/x").await,
        (200, "v2".into())
    );

    version.store(3, Ordering::SeqCst);
    drop(shield);
    let answer = purge(leaf.addr).await.unwrap();
    assert_eq!(answer.status(), 502, "the shield did not acknowledge it");
    assert!(answer.text().await.unwrap().contains("did not answer"));
    assert_eq!(
        get(&client, leaf.addr, "s.test", "/x").await.0,
        502,
        "purged here: no stale copy served"
    );
}
