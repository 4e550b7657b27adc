//! Several sites on one edge, from a configuration file's `[[sites]]`:
//! routing by host, `421` for other hosts, `400` for requests without a
//! usable `Host`, separate cache entries per site, key rules, purges per
//! site and across sites, the `site` label.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use revalidate_edge::Sites;
use revalidate_edge::clock::{Clock, ManualClock};
use revalidate_edge::config::EdgeConfig;

use crate::support::{Reply, Served, TestOrigin, clock, metric_value, raw_exchange, serve_config};

const SITE_A_TOKEN: &str = "site-a-token-0123456789";
const SITE_B_TOKEN: &str = "site-b-token-0123456789";
const ALL_SITES_TOKEN: &str = "all-sites-token-0123456789";

/// Two origins, each answering `<name> <path>` with a lifetime of an hour
/// and the tag `t`, and an edge with sites `a` (`a.test`, `*.a.test`,
/// query parameters sorted and `utm_*` dropped) and `b` (`b.test`).
struct TwoSites {
    a: TestOrigin,
    b: TestOrigin,
    addr: SocketAddr,
    sites: Sites,
    client: reqwest::Client,
    _served: Served,
}

async fn origin(clock: &Arc<ManualClock>, name: &'static str) -> TestOrigin {
    TestOrigin::start(Arc::clone(clock), move |seen| {
        Reply::ok(&format!("{name} {}", seen.path))
            .header("cache-control", "max-age=3600")
            .header("cache-tag", "t")
    })
    .await
}

impl TwoSites {
    async fn start() -> Self {
        let clock = clock();
        let (a, b) = (origin(&clock, "A").await, origin(&clock, "B").await);
        let text = format!(
            r#"
            purge_token = "{ALL_SITES_TOKEN}"
            [[sites]]
            name = "a"
            hosts = ["a.test", "*.a.test"]
            origin = "http://{a}"
            purge_token = "{SITE_A_TOKEN}"
            [sites.cache_key]
            query = "sort"
            drop = ["utm_*"]
            [[sites]]
            name = "b"
            hosts = ["B.test"]
            origin = "http://{b}"
            purge_token = "{SITE_B_TOKEN}"
            "#,
            a = a.addr,
            b = b.addr,
        );
        let config: EdgeConfig = toml::from_str(&text).unwrap();
        config.validate().unwrap();
        let served = serve_config(&config, clock).await;
        Self {
            a,
            b,
            addr: served.addr,
            sites: served.sites.clone(),
            client: reqwest::Client::new(),
            _served: served,
        }
    }

    async fn request(
        &self,
        method: reqwest::Method,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String, String, String) {
        let mut request = self
            .client
            .request(method, format!("http://{}{path}", self.addr))
            .header("host", host)
            .body(body.to_owned());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let (cache_status, content_type) = (header("cache-status"), header("content-type"));
        (status, cache_status, content_type, response.text().await.unwrap())
    }

    /// `GET` on `host`: the status, whether it was a hit, and the body.
    async fn get(&self, host: &str, path: &str) -> (u16, bool, String) {
        let (status, cache_status, _, body) = self.request(reqwest::Method::GET, host, path, &[], "").await;
        (status, cache_status.contains("; hit"), body)
    }

    async fn purge(&self, host: &str, token: &str, body: &str) -> u16 {
        let bearer = format!("Bearer {token}");
        self.request(
            reqwest::Method::POST,
            host,
            revalidate_core::purge::PURGE_PATH,
            &[("authorization", &bearer), ("content-type", "application/json")],
            body,
        )
        .await
        .0
    }
}

#[tokio::test]
async fn hosts_choose_sites_and_another_host_gets_421_never_another_sites_content() {
    let edge = TwoSites::start().await;
    let cases = [
        ("a.test", "A /x"),
        ("A.TEST:80", "A /x"),
        ("www.a.test", "A /x"),
        ("deep.er.a.test", "A /x"),
        ("b.test", "B /x"),
        ("b.test.", "B /x"),
    ];
    for (host, body) in cases {
        let (status, _, got) = edge.get(host, "/x").await;
        assert_eq!((status, got.as_str()), (200, body), "{host}");
    }
    for host in ["c.test", "a.test.evil", "xa.test", "127.0.0.1"] {
        let (status, cache_status, content_type, body) =
            edge.request(reqwest::Method::GET, host, "/x", &[], "").await;
        assert_eq!(status, 421, "{host}");
        assert_eq!(content_type, "application/problem+json", "{host}");
        assert!(
            body.contains("Misdirected Request") && !body.contains("A /x") && !body.contains("B /x"),
            "{body}"
        );
        assert_eq!(cache_status, "", "{host}");
    }
    // Every origin request carried the origin's own authority as Host.
    for (origin, count) in [(&edge.a, 4), (&edge.b, 2)] {
        let seen = origin.requests("/x");
        assert_eq!(seen.len(), 1, "one fill per site, then hits ({count} requests)");
        assert_eq!(seen[0].header("host"), Some(origin.addr.to_string().as_str()));
    }
    let metrics = edge.sites.render_metrics();
    assert_eq!(
        metric_value(
            &metrics,
            "revalidate_edge_requests_total{site=\"a\",outcome=\"hit\"}"
        ),
        3.0
    );
    assert_eq!(
        metric_value(
            &metrics,
            "revalidate_edge_requests_total{site=\"b\",outcome=\"miss\"}"
        ),
        1.0
    );
    assert_eq!(
        metric_value(
            &metrics,
            "revalidate_edge_unrouted_total{reason=\"unknown-host\"}"
        ),
        4.0
    );
}

#[tokio::test]
async fn one_path_on_two_sites_is_two_entries() {
    let edge = TwoSites::start().await;
    for _ in 0..2 {
        assert_eq!(edge.get("a.test", "/same").await.2, "A /same");
        assert_eq!(edge.get("b.test", "/same").await.2, "B /same");
    }
    assert!(edge.get("a.test", "/same").await.1);
    assert!(edge.get("b.test", "/same").await.1);
    assert_eq!((edge.a.count("/same"), edge.b.count("/same")), (1, 1));
}

#[tokio::test]
async fn a_sites_key_rules_rewrite_the_target_the_origin_and_the_key_see() {
    let edge = TwoSites::start().await;
    let (_, hit, body) = edge.get("a.test", "/p?b=1&utm_source=mail&a=2").await;
    assert!(!hit);
    assert_eq!(body, "A /p?a=2&b=1");
    for target in ["/p?a=2&b=1", "/p?b=1&a=2", "/p?utm_medium=x&a=2&b=1&utm_id=3"] {
        let (status, hit, body) = edge.get("a.test", target).await;
        assert_eq!(
            (status, hit, body.as_str()),
            (200, true, "A /p?a=2&b=1"),
            "{target}"
        );
    }
    assert_eq!(edge.a.count("/p?a=2&b=1"), 1);
    // Site b keeps queries as sent.
    assert_eq!(edge.get("b.test", "/p?b=1&a=2").await.2, "B /p?b=1&a=2");
    assert!(!edge.get("b.test", "/p?a=2&b=1").await.1);
}

#[tokio::test]
async fn a_sites_token_purges_that_site_only_and_a_url_covers_its_query_variants() {
    let edge = TwoSites::start().await;
    let paths = ["/x", "/x?page=2", "/y"];
    for host in ["a.test", "b.test"] {
        for path in paths {
            edge.get(host, path).await;
            assert!(edge.get(host, path).await.1, "{host}{path} stored");
        }
    }
    // Another site's token does not open this site's purge API.
    assert_eq!(
        edge.purge("a.test", SITE_B_TOKEN, r#"{"urls": ["/x"]}"#).await,
        401
    );
    assert_eq!(
        edge.purge("a.test", SITE_A_TOKEN, r#"{"urls": ["/x"]}"#).await,
        200
    );
    let hits = |host: &'static str| {
        let edge = &edge;
        async move {
            let mut hits = Vec::new();
            for path in paths {
                hits.push(edge.get(host, path).await.1);
            }
            hits
        }
    };
    assert_eq!(
        hits("a.test").await,
        [false, false, true],
        "/x and its query variant purged on a"
    );
    assert_eq!(hits("b.test").await, [true, true, true], "b untouched");
    // A URL with a query purges that variant only; an absolute URL counts
    // by its path and query.
    assert_eq!(
        edge.purge("b.test", SITE_B_TOKEN, r#"{"urls": ["http://b.test/x?page=2"]}"#)
            .await,
        200
    );
    assert_eq!(hits("b.test").await, [true, false, true]);
    // Tags are per site.
    assert_eq!(
        edge.purge("a.test", SITE_A_TOKEN, r#"{"tags": ["t"]}"#).await,
        200
    );
    assert_eq!(hits("a.test").await, [false, false, false]);
    assert_eq!(hits("b.test").await, [true, true, true]);
    // A prefix must be a path.
    assert_eq!(
        edge.purge("a.test", SITE_A_TOKEN, r#"{"prefixes": ["x"]}"#).await,
        400
    );
}

#[tokio::test]
async fn the_top_level_token_purges_every_site_from_any_sites_host() {
    let edge = TwoSites::start().await;
    for host in ["a.test", "b.test"] {
        edge.get(host, "/p/1").await;
        edge.get(host, "/q").await;
    }
    assert_eq!(
        edge.purge("b.test", ALL_SITES_TOKEN, r#"{"prefixes": ["/p/"]}"#)
            .await,
        200
    );
    for host in ["a.test", "b.test"] {
        assert!(!edge.get(host, "/p/1").await.1, "{host}/p/1 purged");
        assert!(edge.get(host, "/q").await.1, "{host}/q kept");
    }
    // Not from an unknown host.
    assert_eq!(
        edge.purge("c.test", ALL_SITES_TOKEN, r#"{"urls": ["/q"]}"#).await,
        421
    );
}

#[tokio::test]
async fn a_write_through_one_site_invalidates_that_site_only() {
    let edge = TwoSites::start().await;
    for host in ["a.test", "b.test"] {
        edge.get(host, "/doc").await;
    }
    let (status, ..) = edge
        .request(reqwest::Method::PUT, "a.test", "/doc", &[], "new")
        .await;
    assert_eq!(status, 200);
    assert!(
        !edge.get("a.test", "/doc").await.1,
        "a's copy invalidated (RFC 9111 §4.4)"
    );
    assert!(edge.get("b.test", "/doc").await.1, "b's copy kept");
}

/// RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status
/// code to any HTTP/1.1 request message that lacks a Host header field and
/// to any request message that contains more than one Host header field
/// line or a Host header field with an invalid field value."
#[tokio::test]
async fn rfc_9112_3_2_requests_without_one_valid_host_get_400() {
    let edge = TwoSites::start().await;
    let cases: &[(&[u8], &str)] = &[
        (b"GET /x HTTP/1.1\r\n\r\n", "400"),
        (b"GET /x HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n", "400"),
        (b"GET /x HTTP/1.1\r\nHost: a.test/x\r\n\r\n", "400"),
        // HTTP/1.0 may leave it out: no site answers every host here.
        (b"GET /x HTTP/1.0\r\n\r\n", "421"),
        // The absolute form's authority wins over Host (§3.2.2).
        (
            b"GET http://b.test/x HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
            "200",
        ),
    ];
    for (request, status) in cases {
        let answer = raw_exchange(edge.addr, request, Duration::from_secs(5)).await;
        assert!(
            answer.status_line().contains(status),
            "{:?}: {}",
            String::from_utf8_lossy(request),
            answer.text
        );
        if *status == "200" {
            assert_eq!(answer.body(), "B /x");
        } else {
            assert_eq!(answer.header("content-type"), Some("application/problem+json"));
        }
    }
}

/// The configuration of one edge whose sites are given as TOML text.
fn config(text: &str) -> Result<EdgeConfig, String> {
    let config: EdgeConfig = toml::from_str(text).map_err(|e| e.to_string())?;
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

fn site(name: &str, host: &str, origin: SocketAddr) -> String {
    format!("[[sites]]\nname = \"{name}\"\nhosts = [\"{host}\"]\norigin = \"http://{origin}\"\n")
}

/// A reload while clients keep sending requests: no request fails, the
/// new site answers, the changed origin gets the new misses, a broken file
/// changes nothing.
#[tokio::test]
async fn a_reload_under_load_fails_no_request() {
    use revalidate_edge::sites::reload::{ConfigReload, NewSites};
    use revalidate_listener::reload::Reload;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    let clock = clock();
    let (a, a2, b) = (
        origin(&clock, "A").await,
        origin(&clock, "A2").await,
        origin(&clock, "B").await,
    );
    let text = Arc::new(Mutex::new(site("a", "a.test", a.addr)));
    let first = config(&text.lock().unwrap()).unwrap();
    let edge_clock: Arc<dyn Clock> = clock;
    let served = serve_config(&first, Arc::clone(&edge_clock)).await;
    let addr = served.addr;
    let read_text = Arc::clone(&text);
    let reload = Arc::new(ConfigReload::new(
        first,
        Box::new(move || config(&read_text.lock().unwrap())),
        NewSites::new(served.sites.clone(), edge_clock),
    ));

    // Eight clients, each alternating a new path (a miss) and a path
    // every client shares (hits), until told to stop.
    let running = Arc::new(AtomicBool::new(true));
    let (sent, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(Vec::new())));
    let mut clients = Vec::new();
    for client in 0..8 {
        let (running, sent, failed) = (Arc::clone(&running), Arc::clone(&sent), Arc::clone(&failed));
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut n = 0;
            while running.load(Ordering::Relaxed) {
                n += 1;
                let path = if n % 2 == 0 {
                    "/shared".to_owned()
                } else {
                    format!("/c{client}/{n}")
                };
                let outcome = http
                    .get(format!("http://{addr}{path}"))
                    .header("host", "a.test")
                    .send()
                    .await
                    .map(|response| response.status().as_u16());
                sent.fetch_add(1, Ordering::Relaxed);
                if !matches!(outcome, Ok(200)) {
                    failed.lock().unwrap().push(format!("{path}: {outcome:?}"));
                }
            }
        }));
    }
    let http = reqwest::Client::new();
    let status_on = |host: &'static str| {
        let http = http.clone();
        async move {
            http.get(format!("http://{addr}/x"))
                .header("host", host)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let wait_for_load = |at_least: usize| {
        let sent = Arc::clone(&sent);
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while sent.load(Ordering::Relaxed) < at_least {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the clients sent too little"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    let reload_now = |reload: &Arc<ConfigReload>| {
        let reload = Arc::clone(reload);
        async move {
            tokio::task::spawn_blocking(move || reload.reload())
                .await
                .unwrap()
        }
    };

    wait_for_load(200).await;
    assert_eq!(status_on("b.test").await, 421);
    // Site a moves to another origin and site b appears.
    *text.lock().unwrap() = format!("{}{}", site("a", "a.test", a2.addr), site("b", "b.test", b.addr));
    assert_eq!(reload_now(&reload).await, Ok(true));
    assert_eq!(status_on("b.test").await, 200);
    wait_for_load(sent.load(Ordering::Relaxed) + 200).await;
    // The same file again changes nothing; a broken one is refused with
    // its reason, and the sites in force stay.
    assert_eq!(reload_now(&reload).await, Ok(false));
    *text.lock().unwrap() =
        "[[sites]]\nname = \"a\"\nhosts = [\"a.test\"]\norigin = \"ftp://nowhere\"\n".into();
    let refused = reload_now(&reload).await.unwrap_err();
    assert!(
        refused.contains("http://host:port") && !refused.contains('\n'),
        "{refused}"
    );
    *text.lock().unwrap() = "not toml [".into();
    assert!(reload_now(&reload).await.is_err());
    assert_eq!(status_on("b.test").await, 200);
    wait_for_load(sent.load(Ordering::Relaxed) + 200).await;

    running.store(false, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let failed = failed.lock().unwrap();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {:?}",
        failed.len(),
        sent.load(Ordering::Relaxed),
        &failed[..failed.len().min(10)]
    );
    let misses_after_reload = (0..8)
        .map(|client| a2.seen_under(&format!("/c{client}/")))
        .sum::<usize>();
    assert!(
        misses_after_reload > 0,
        "site a's new misses reach its new origin"
    );
}

/// `[[ttl]]` rules by path: a default lifetime for responses without one
/// (a §4.2.2 heuristic), and an override of the origin's
/// (DEVIATION(ttl-override)) that still leaves `no-store` alone.
#[tokio::test]
async fn ttl_rules_give_paths_a_default_or_an_overriding_lifetime() {
    let clock = clock();
    let origin = TestOrigin::start(Arc::clone(&clock), |seen| match seen.path.as_str() {
        "/static/app.js" | "/plain" => Reply::ok("no lifetime"),
        "/feed/private" => Reply::ok("secret").header("cache-control", "no-store"),
        _ => Reply::ok("an hour").header("cache-control", "max-age=3600"),
    })
    .await;
    let text = format!(
        "origin = \"http://{}\"\n\
         [[ttl]]\npath = \"/static/*\"\ndefault_ttl_s = 100\n\
         [[ttl]]\npath = \"/feed*\"\noverride_ttl_s = 5\n",
        origin.addr
    );
    let config = config(&text).unwrap();
    let served = serve_config(&config, clock.clone()).await;
    let addr = served.addr;
    let http = reqwest::Client::new();
    let cache_status = |path: &'static str| {
        let request = http.get(format!("http://{addr}{path}"));
        async move {
            let response = request.send().await.unwrap();
            let status = response
                .headers()
                .get("cache-status")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            response.text().await.unwrap();
            status
        }
    };
    for path in ["/static/app.js", "/plain", "/feed", "/feed/private", "/hour"] {
        cache_status(path).await;
    }
    clock.advance(10);
    let cases = [
        ("/static/app.js", "hit; ttl=90"),
        ("/plain", "fwd=stale"),
        ("/feed", "fwd=stale"),
        ("/feed/private", "fwd=uri-miss"),
        ("/hour", "hit; ttl=3590"),
    ];
    for (path, want) in cases {
        let got = cache_status(path).await;
        assert!(got.contains(want), "{path}: {got} (wanted {want})");
    }
}

/// Two sites, each with a pool of two origins; one origin of site a is
/// killed while clients of both sites keep fetching new paths (every one
/// a miss that reaches a pool): no client sees a 5xx, and each site's
/// answers still come from its own pool.
#[tokio::test]
async fn two_sites_with_two_origin_pools_lose_one_origin_under_load_without_a_5xx() {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    let clock = clock();
    let (a1, a2) = (origin(&clock, "A").await, origin(&clock, "A").await);
    let (b1, b2) = (origin(&clock, "B").await, origin(&clock, "B").await);
    let pool = |name: &str, host: &str, one: SocketAddr, two: SocketAddr| {
        format!(
            "[[sites]]\nname = \"{name}\"\nhosts = [\"{host}\"]\norigins = [\"http://{one}\", \"http://{two}\"]\n"
        )
    };
    let text = format!(
        "{}{}",
        pool("a", "a.test", a1.addr, a2.addr),
        pool("b", "b.test", b1.addr, b2.addr)
    );
    let config = config(&text).unwrap();
    let served = serve_config(&config, clock).await;
    let addr = served.addr;

    let running = Arc::new(AtomicBool::new(true));
    let sent = Arc::new(AtomicUsize::new(0));
    let wrong = Arc::new(Mutex::new(Vec::new()));
    let mut clients = Vec::new();
    for client in 0..4 {
        let (running, sent, wrong) = (Arc::clone(&running), Arc::clone(&sent), Arc::clone(&wrong));
        let (host, name) = if client % 2 == 0 {
            ("a.test", "A")
        } else {
            ("b.test", "B")
        };
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut n = 0;
            while running.load(Ordering::Relaxed) {
                n += 1;
                let path = format!("/c{client}/{n}");
                let answer = http
                    .get(format!("http://{addr}{path}"))
                    .header("host", host)
                    .send()
                    .await;
                let outcome = match answer {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        (status, response.text().await.unwrap_or_default())
                    }
                    Err(e) => (0, e.to_string()),
                };
                sent.fetch_add(1, Ordering::Relaxed);
                if outcome != (200, format!("{name} {path}")) {
                    wrong.lock().unwrap().push(format!("{host}{path}: {outcome:?}"));
                }
            }
        }));
    }
    let wait_for = |at_least: usize| {
        let sent = Arc::clone(&sent);
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while sent.load(Ordering::Relaxed) < at_least {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the clients sent too little"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    wait_for(100).await;
    a1.stop();
    let after_kill = sent.load(Ordering::Relaxed);
    wait_for(after_kill + 300).await;
    running.store(false, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let wrong = wrong.lock().unwrap();
    assert!(
        wrong.is_empty(),
        "{} of {} answers wrong: {:?}",
        wrong.len(),
        sent.load(Ordering::Relaxed),
        &wrong[..wrong.len().min(10)]
    );
    // Both of b's origins and the surviving one of a kept serving.
    assert!(a2.seen_under("/c") > 0 && b1.seen_under("/c") > 0 && b2.seen_under("/c") > 0);
}
