//! Shared-cache safety and request framing through the edge, each against
//! a fake origin that records what it receives:
//!
//! - `set-cookie-not-shared`: with `cache_set_cookie = "never"` (as
//!   Varnish's and nginx's defaults) a `Cache-Control: max-age=60`
//!   response with `Set-Cookie` is not stored: three clients, the first
//!   one's cookie reaches only it, and the origin sees three requests
//!   (the edge's default, `"explicit"`, would store this one: the origin
//!   gave it an explicit lifetime);
//! - `x-forwarded-host-not-forwarded`: a client's `X-Forwarded-Host` (and
//!   `Forwarded: host=`) never reaches the origin, so an origin that
//!   reflects it cannot poison the shared entry;
//! - `get-with-body`: a `GET` carrying a body reaches the origin without
//!   the body's framing fields (the edge forwards no body on a fill), so
//!   an origin that waits for a declared body answers at once.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{Context, REQUEST_TIMEOUT};
use crate::fake_origin::{FakeOrigin, Reply};
use crate::process::{ConfigFile, Server, keys, millis, server_notes};
use crate::report::{Checks, Observation, ms, secs};
use crate::wire;

pub(crate) const EXPECTED_SET_COOKIE: &str = "with cache_set_cookie = \"never\", an origin answers max-age=60 \
                                              with Set-Cookie: session=...; of three different clients through \
                                              the edge only the first gets the first session cookie, and the \
                                              origin sees 3 requests";
pub(crate) const EXPECTED_FORWARDED_HOST: &str = "a client sends X-Forwarded-Host: evil.example (and Forwarded: \
                                                  host=evil.example) to a URL whose origin reflects them: the \
                                                  origin never sees them, later clients never get evil.example";
pub(crate) const EXPECTED_GET_WITH_BODY: &str = "a GET with a 10-byte body (Content-Length: 10) through the edge: \
                                                 the origin sees no Content-Length/Transfer-Encoding and answers \
                                                 at once; the client's answer comes within 2 s (the edge's \
                                                 response timeout is 4 s)";

/// Settings the shared-cache cases give the edge, written out even where
/// they are the defaults, so the config says what is being relied on.
fn shared_cache_config() -> ConfigFile {
    ConfigFile::new()
        .with(keys::CACHE_SET_COOKIE, "never")
        .with(keys::TRUSTED_PROXIES, toml::Value::Array(Vec::new()))
}

pub(crate) async fn set_cookie(ctx: Arc<Context>) -> anyhow::Result<Observation> {
    let origin = FakeOrigin::start(|_, earlier| Reply::Full {
        status: 200,
        headers: vec![
            ("Cache-Control".to_owned(), "max-age=60".to_owned()),
            (
                "Set-Cookie".to_owned(),
                format!("session=s{}; Path=/; HttpOnly", earlier + 1),
            ),
        ],
        body: b"hello".to_vec(),
    })
    .await?;
    let edge = Server::edge(&ctx, "edge", &origin.base_url(), shared_cache_config()).await?;
    let mut checks = Checks::default();
    let mut cookies = Vec::new();
    for _ in 0..3 {
        // A new connection each: three different clients.
        let ending = wire::exchange(
            edge.addr,
            &wire::request("GET", "/cookie", &[], b""),
            REQUEST_TIMEOUT,
            false,
        )
        .await;
        let got: Vec<String> = ending
            .response()
            .map(|r| r.headers_named("set-cookie").map(str::to_owned).collect())
            .unwrap_or_default();
        cookies.push((ending.summary(), got));
    }
    let first_cookie = "session=s1;";
    let has_first = |got: &[String]| got.iter().any(|c| c.starts_with(first_cookie));
    checks.check(
        "client 1 gets its cookie",
        has_first(&cookies[0].1),
        format!("{}, Set-Cookie {:?}", cookies[0].0, cookies[0].1),
    );
    for (i, (summary, got)) in cookies.iter().enumerate().skip(1) {
        checks.check(
            format!("client {} does not get client 1's cookie", i + 1),
            !has_first(got) && summary == "200",
            format!("{summary}, Set-Cookie {got:?}"),
        );
    }
    let seen = origin.count("/cookie");
    checks.check(
        "the origin sees every request",
        seen == 3,
        format!("{seen} of 3 requests"),
    );
    let mut observation = checks.into_observation();
    observation.details.extend(server_notes([&edge]));
    Ok(observation)
}

pub(crate) async fn forwarded_host(ctx: Arc<Context>) -> anyhow::Result<Observation> {
    let origin = FakeOrigin::start(|request, _| {
        let body = format!(
            "x-forwarded-host: {}\nforwarded: {}\n",
            request.header("x-forwarded-host").unwrap_or("(none)"),
            request.header("forwarded").unwrap_or("(none)")
        );
        Reply::ok(
            &[("Cache-Control", "max-age=60"), ("Content-Type", "text/plain")],
            body,
        )
    })
    .await?;
    let edge = Server::edge(&ctx, "edge", &origin.base_url(), shared_cache_config()).await?;
    let mut checks = Checks::default();
    let poisoned = [
        ("X-Forwarded-Host", "evil.example"),
        ("Forwarded", "host=evil.example"),
    ];
    let mut bodies = Vec::new();
    for client in 0..3 {
        let headers: &[(&str, &str)] = if client == 0 { &poisoned } else { &[] };
        let ending = wire::exchange(
            edge.addr,
            &wire::request("GET", "/xfh", headers, b""),
            REQUEST_TIMEOUT,
            false,
        )
        .await;
        let body = ending
            .response()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .unwrap_or_default();
        bodies.push((ending.summary(), body));
    }
    let reached: Vec<String> = origin
        .requests()
        .iter()
        .flat_map(|r| {
            let mut values: Vec<String> = Vec::new();
            for name in ["x-forwarded-host", "forwarded"] {
                values.extend(r.header_values(name).into_iter().map(|v| format!("{name}: {v}")));
            }
            values
        })
        .filter(|v| v.contains("evil.example"))
        .collect();
    checks.check(
        "the origin never sees the client's forwarded host",
        reached.is_empty(),
        if reached.is_empty() {
            format!("{} requests, none with evil.example", origin.requests().len())
        } else {
            format!("it received {reached:?}")
        },
    );
    for (i, (summary, body)) in bodies.iter().enumerate() {
        checks.check(
            if i == 0 {
                "client 1 (who sent it) does not get evil.example back".to_owned()
            } else {
                format!("client {} never gets evil.example", i + 1)
            },
            summary == "200" && !body.contains("evil.example"),
            format!("{summary}, body {body:?}"),
        );
    }
    let mut observation = checks.into_observation();
    observation.details.extend(server_notes([&edge]));
    Ok(observation)
}

/// The edge's `response_timeout_ms` in `get-with-body`.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(4);
/// "At once": half the response timeout.
const ANSWER_BOUND: Duration = Duration::from_secs(2);

pub(crate) async fn get_with_body(ctx: Arc<Context>) -> anyhow::Result<Observation> {
    let origin = FakeOrigin::start(|_, _| Reply::ok(&[("Cache-Control", "max-age=60")], "ok")).await?;
    let config = ConfigFile::new().set("response_timeout_ms", millis(RESPONSE_TIMEOUT));
    let edge = Server::edge(&ctx, "edge", &origin.base_url(), config).await?;
    let mut checks = Checks::default();
    let request = wire::request("GET", "/gwb", &[("Content-Length", "10")], b"0123456789");
    let started = Instant::now();
    let ending = wire::exchange(edge.addr, &request, REQUEST_TIMEOUT, false).await;
    let took = started.elapsed();
    checks.check(
        "the client's answer",
        ending.status() == Some(200) && took <= ANSWER_BOUND,
        format!(
            "{} after {} (bound {})",
            ending.summary(),
            ms(took),
            secs(ANSWER_BOUND)
        ),
    );
    let arrived = origin.wait_for("/gwb", 1, REQUEST_TIMEOUT).await;
    let framing: Vec<String> = origin
        .requests()
        .iter()
        .filter(|r| r.target == "/gwb")
        .flat_map(|r| {
            let mut values: Vec<String> = Vec::new();
            for name in ["content-length", "transfer-encoding"] {
                values.extend(r.header_values(name).into_iter().map(|v| format!("{name}: {v}")));
            }
            values
        })
        .collect();
    let body_bytes: usize = origin
        .requests()
        .iter()
        .filter(|r| r.target == "/gwb")
        .map(|r| r.body_len)
        .sum();
    checks.check(
        "what the origin received",
        arrived && framing.is_empty(),
        if !arrived {
            "no request reached the origin".to_owned()
        } else if framing.is_empty() {
            format!("a GET without framing fields ({body_bytes} body bytes)")
        } else {
            format!("a GET with {framing:?} and {body_bytes} body bytes")
        },
    );
    let mut observation = checks.into_observation();
    observation.details.extend(server_notes([&edge]));
    Ok(observation)
}
