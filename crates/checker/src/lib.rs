//! `revalidate check URL…`: an audit of any site's validators, conditional
//! requests, caching and CDN behaviour.
//!
//! REDbot probes `If-None-Match`, `If-Modified-Since`, `Range` and gzip.
//! This checker also sends `If-None-Match` lists, `*` and `W/` forms,
//! `If-Modified-Since` next to `If-None-Match` both ways (a foreign tag with a
//! current date, and a matching tag with an old date, which stock nginx
//! answers 200), `If-Modified-Since` later than `Last-Modified` (stock
//! nginx: 200) and not a date, `If-Match` and `If-Unmodified-Since` on `GET`
//! from both sides, preconditions on a missing sibling path, stale
//! `If-Range`s, `HEAD`,
//! each content coding's tag back, the same request to every node behind a
//! name, the origin behind a CDN, and (only with `--unsafe`) conditional
//! writes and two racing writers.
//!
//! # Map
//!
//! | module | IO? | what it holds |
//! |---|---|---|
//! | [`model`] | no | [`Recording`]: every [`Exchange`] (request, status, fields, capped body, hash, timing) |
//! | [`plan`] | no | [`plan::next_batch`]: which probes to send, given what came back so far |
//! | [`probe`] | **yes** | [`probe::Transport`] (real sockets: reqwest with redirects and decompression off, a raw HTTP/1.1 connection for bytes after a 304), [`probe::record`] runs the plan |
//! | [`rules`] | no | [`rules::evaluate`]: pure functions from a recording to [`Finding`]s, every judgement through `revalidate-core` |
//! | [`finding`] | no | [`Severity`], [`finding::Rule`] (stable id, RFC section, fix), [`finding::RULES`] |
//! | [`report`] | no | human text (colour through anstyle/anstream) and JSON lines; [`report::exit_code_failing_on`] (`--fail-on`) |
//! | [`html`] | no | the self-contained HTML report (maud): findings by URL, RFC links, fixes, the exchanges behind each ([`rules::evidence`]) |
//! | [`assets`] | no | `--assets`: the scripts, stylesheets and images an HTML page links to (scraper), at most [`assets::MAX_ASSETS`] |
//!
//! A check is `record` (IO) then `evaluate` (pure) then `render` (pure):
//! rules are tested on hand-built recordings without a network.
//!
//! # Rules
//!
//! Errors break a MUST or give clients wrong content; warnings break a
//! SHOULD or waste caching; infos explain.
//!
//! | id | severity | section |
//! |---|---|---|
//! | `unexpected-status` | warning | RFC 9110 §15 |
//! | `redirect-not-followed` | warning | RFC 9110 §15.4 |
//! | `probe-failed` | warning | RFC 9110 §9.3.1 |
//! | `no-validators` | warning | RFC 9110 §8.8.3 |
//! | `etag-malformed` | error | RFC 9110 §8.8.3 |
//! | `last-modified-malformed` | error | RFC 9110 §8.8.2 |
//! | `last-modified-in-future` | error | RFC 9110 §8.8.2.1 |
//! | `etag-unstable` | error | RFC 9110 §8.8.3 |
//! | `last-modified-unstable` | warning | RFC 9110 §8.8.2 |
//! | `etag-same-for-different-bytes` | error | RFC 9110 §8.8.1 |
//! | `if-none-match-ignored` | warning | RFC 9110 §13.1.2 |
//! | `if-none-match-weak-comparison` | error | RFC 9110 §8.8.3.2 |
//! | `if-none-match-list` | error | RFC 9110 §13.1.2 |
//! | `if-none-match-star` | warning | RFC 9110 §13.1.2 |
//! | `not-modified-for-changed-content` | error | RFC 9110 §13.1.2 |
//! | `conditional-unexpected-status` | error | RFC 9110 §13.2.2 |
//! | `if-modified-since-ignored` | warning | RFC 9110 §13.1.3 |
//! | `if-modified-since-later-date-ignored` | warning | RFC 9110 §13.1.3 |
//! | `if-modified-since-not-ignored` | error | RFC 9110 §13.1.3 |
//! | `if-match-not-evaluated` | error | RFC 9110 §13.1.1 |
//! | `if-match-weak-comparison` | error | RFC 9110 §8.8.3.2 |
//! | `if-match-current-refused` | error | RFC 9110 §13.1.1 |
//! | `if-unmodified-since-not-evaluated` | error | RFC 9110 §13.1.4 |
//! | `if-unmodified-since-current-refused` | error | RFC 9110 §13.1.4 |
//! | `if-unmodified-since-not-ignored` | error | RFC 9110 §13.1.4 |
//! | `precondition-evaluated-on-error` | error | RFC 9110 §13.2.1 |
//! | `not-modified-missing-fields` | error | RFC 9110 §15.4.5 |
//! | `not-modified-extra-metadata` | warning | RFC 9110 §15.4.5 |
//! | `not-modified-different-etag` | error | RFC 9110 §15.4.5 |
//! | `not-modified-content-length` | error | RFC 9110 §8.6 |
//! | `not-modified-has-body` | error | RFC 9112 §6.3 |
//! | `head-status-differs` | error | RFC 9110 §9.3.2 |
//! | `head-validators-differ` | error | RFC 9110 §9.3.2 |
//! | `head-fields-differ` | warning | RFC 9110 §9.3.2 |
//! | `range-inconsistent` | error | RFC 9110 §14.4 |
//! | `range-validators-differ` | error | RFC 9110 §15.3.7 |
//! | `range-ignored` | warning | RFC 9110 §14.3 |
//! | `if-range-stale-gave-partial` | error | RFC 9110 §13.1.5 |
//! | `if-range-match-ignored` | warning | RFC 9110 §13.1.5 |
//! | `encoding-same-strong-etag` | error | RFC 9110 §8.8.3.3 |
//! | `encoding-etag-round-trip` | warning | RFC 9110 §13.1.2 |
//! | `vary-missing-accept-encoding` | error | RFC 9110 §12.5.5 |
//! | `vary-inconsistent` | warning | RFC 9111 §4.1 |
//! | `vary-star` | warning | RFC 9111 §4.1 |
//! | `vary-fragments-cache` | warning | RFC 9111 §4.1 |
//! | `cache-control-syntax` | warning | RFC 9111 §5.2 |
//! | `cache-control-conflict` | warning | RFC 9111 §5.2.2 |
//! | `expires-malformed` | warning | RFC 9111 §5.3 |
//! | `freshness-heuristic` | warning | RFC 9111 §4.2.2 |
//! | `freshness` | info | RFC 9111 §4.2 |
//! | `etag-differs-between-nodes` | error | RFC 9110 §8.8.3 |
//! | `last-modified-differs-between-nodes` | warning | RFC 9110 §8.8.2 |
//! | `content-differs-between-nodes` | warning | RFC 9110 §8.8.1 |
//! | `node-revalidation-fails` | error | RFC 9110 §13.1.2 |
//! | `cdn-detected` | info | RFC 9111 §5.1 |
//! | `cdn-answers-not-modified` | info | RFC 9111 §4.3.2 |
//! | `cdn-etag-differs-from-origin` | error | RFC 9110 §8.8.3 |
//! | `cdn-last-modified-differs-from-origin` | warning | RFC 9110 §8.8.2 |
//! | `cdn-stale-etag` | error | RFC 9111 §4.2.4 |
//! | `cdn-holds-older-copy` | info | RFC 9111 §4.2 |
//! | `cdn-same-etag-different-bytes` | error | RFC 9110 §8.8.1 |
//! | `if-match-ignored` | error | RFC 9110 §13.1.1 |
//! | `if-unmodified-since-ignored` | error | RFC 9110 §13.1.4 |
//! | `create-only-not-enforced` | error | RFC 9110 §13.1.2 |
//! | `write-despite-precondition-failure` | error | RFC 9110 §13.1.1 |
//! | `unconditional-write-accepted` | info | RFC 6585 §3 |
//! | `preconditions-required` | info | RFC 6585 §3 |
//! | `lost-update` | error | RFC 9110 §13.1.1 |
//! | `conditional-write-refused` | error | RFC 9110 §13.1.1 |
//! | `writes-skipped` | info | RFC 9110 §9.3.4 |
//!
//! # Audit: every precondition rule, probed from both sides
//!
//! Each rule of RFC 9110 §13 is probed where it should hold and where it
//! should fail, so a server that always answers one way is caught
//! (probes are [`ProbeKind`]s; `W:` needs `--unsafe`). Each rule has a
//! test server broken in exactly that way (`tests/broken.rs`).
//!
//! | rule | RFC 9110 | probes: holds / fails | both sides? |
//! |---|---|---|---|
//! | `If-None-Match` with the current tag → 304 | §13.1.2 | `IfNoneMatch(Exact)` / `(Foreign)` | yes |
//! | weak comparison for `If-None-Match` | §13.1.2, §8.8.3.2 | `IfNoneMatch(Weak)` / `(Foreign)` | yes |
//! | lists | §13.1.2, §13.1.1 | `IfNoneMatch(List)`, `IfMatch(List)` / the `Foreign` forms | yes |
//! | `*` | §13.1.2, §13.1.1 | `IfNoneMatch(Star)`, `IfMatch(Star)` on the resource; `W: CreateOnlyExisting` → 412 | the "no representation" side only through §13.2.1 (the checker never creates resources) |
//! | `If-Match` on `GET`: match → 2xx, no match → 412 | §13.1.1 | `IfMatch(Current)` / `IfMatch(Foreign)` | yes |
//! | strong comparison for `If-Match` | §13.1.1, §8.8.3.2 | `IfMatch(Current)` / `IfMatch(Weak)` | yes |
//! | `If-Match` on writes, lost updates | §13.1.1 | `W: RaceA`+`RaceB` (one wins) / `W: IfMatchStale` | yes |
//! | `If-Modified-Since` not later than `Last-Modified`… | §13.1.3 | `IfModifiedSince(AtLastModified)`, `(AfterLastModified)` / `(BeforeLastModified)` | yes (the later date: stock nginx's `if_modified_since exact`) |
//! | …ignored next to `If-None-Match` | §13.1.3, §13.2.2 | `InmWithOldIms` (304) / `InmWithIms` (200) | yes (the first: stock nginx) |
//! | …ignored when not a date | §13.1.3 | `IfModifiedSince(Invalid)` (200) / `(AtLastModified)` | yes |
//! | …ignored unless `GET`/`HEAD` | §13.1.3 | `W: Unconditional` carries it (no 304/412) / `IfModifiedSince(AtLastModified)` | yes, with `--unsafe` |
//! | …a date in the server's future | §13.1.3 | not probed: RFC 9110 dropped RFC 7232's "invalid", and both answers are allowed; `AfterLastModified` stays within `Date` | — |
//! | `If-Unmodified-Since` | §13.1.4 | `IfUnmodifiedSince(AtLastModified)` (2xx, when `Last-Modified` is strong) / `(BeforeLastModified)`, `W: IfUnmodifiedSinceStale` (412) | yes |
//! | …ignored next to `If-Match` | §13.1.4, §13.2.2 | `IfUnmodifiedSince(WithIfMatch)` (2xx) / `(BeforeLastModified)` | yes (stock nginx evaluates both) |
//! | …ignored when not a date | §13.1.4 | `IfUnmodifiedSince(Invalid)` (2xx) / `(BeforeLastModified)` | yes |
//! | `If-Range` | §13.1.5 | `IfRange(CurrentTag)` (206) / `(StaleTag)`, `(WeakTag)`, `(StaleDate)` (200) | yes for tags; a matching date may only be honoured when strong, so its 206 side is the server's call |
//! | evaluation order | §13.2.2 | the pairs above that send two fields (`InmWithIms`, `InmWithOldIms`, `WithIfMatch`) | yes |
//! | not evaluated when the answer would be neither 2xx nor 412 | §13.2.1 | `MissingPlain` (404) / `MissingIfMatch` (`If-Match: *` must stay 404) | yes |
//! | 304 header fields | §15.4.5 | every 304 compared with the 200 | a correct 304 gives no finding |
//!
//! RFC 9111 (freshness, `Vary`, a cache's own 304s, stale copies) is
//! observed from the responses; behind a CDN the same §13 probes test the
//! cache's answers.
//!
//! # Policies
//!
//! - Redirects are reported (`redirect-not-followed`), never followed.
//! - Probes go out on fresh connections, so a server that writes a body
//!   after a 304 cannot corrupt the next answer; the raw probe (plain
//!   `http://` only) reads the bytes after the 304's header section.
//! - Bodies are kept up to [`model::BODY_CAP`] and hashed whole.
//! - `--origin` without a path takes the checked URL's path and query.
//! - `--header 'Name: value'` fields go with every probe, conditional
//!   follow-ups included, but never replace a field the probe sets itself
//!   (its preconditions, `Range`, `Accept-Encoding`, a node's `Host`);
//!   the preconditions, `Range` and the framing fields cannot be given at
//!   all ([`probe::parse_header_field`]). Reports redact their values.
//! - `--assets` parses each checked page that is uncoded HTML and checks
//!   the scripts, stylesheets and images it links to (same-origin or not,
//!   each once per run, at most [`assets::MAX_ASSETS`] per page, the cut
//!   reported), with the same probes and settings, four URLs at a time;
//!   an asset on another origin than its page gets no `--header` fields
//!   (they often carry credentials).
//! - The §13.2.1 probes `GET` the checked path with
//!   [`model::MISSING_SUFFIX`] appended, a sibling that should not exist.
//! - Default nodes are every A/AAAA record of the host, when there are at
//!   least two.
//! - Writes (`--unsafe`) send back the bytes the server sent, refused
//!   writes first, then two racing writers, then restore the original bytes
//!   with `If-Match`.
//!
//! # Public dependencies
//!
//! Types of these crates appear in this crate's API on purpose; each is
//! re-exported, so a caller can name the same version:
//!
//! - [`http`](https://docs.rs/http/1) 1.x: the recorded methods, status codes and header fields,
//!   [`Settings::headers`].
//! - [`bytes`] 1.x: recorded bodies.
//! - [`revalidate_core`] (same version): the recorded times
//!   ([`HttpDate`](revalidate_core::HttpDate)) and validators.
//! - [`Url`]: reqwest's re-export of `url::Url` (url 2.x), the URL a
//!   [`probe::Transport`] is sent and [`probe::record`] checks.
//!
//! [`Severity`] implements [`serde`] 1.x `Serialize` (its JSON name).

/// The README's example, run as a doctest (not part of the API).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub mod assets;
pub mod finding;
pub mod html;
pub mod model;
pub mod plan;
pub mod probe;
pub mod report;
pub mod rules;

use std::net::SocketAddr;
use std::time::Duration;

pub use bytes;
pub use http;
pub use reqwest::Url;
pub use revalidate_core;

pub use finding::{Finding, Rule, Severity};
pub use html::render_html;
pub use model::{CheckOptions, Exchange, ProbeKind, RecordedResponse, Recording};
pub use probe::CheckError;
pub use report::{
    Checked, FailOn, UrlReport, exit_code, exit_code_failing_on, render_json, render_json_failing_on,
    render_text,
};

/// What `revalidate check` was asked.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Nodes to compare (`--backend`); empty for every A/AAAA record.
    pub backends: Vec<SocketAddr>,
    /// The origin behind a CDN (`--origin`).
    pub origin: Option<String>,
    /// Whether write checks may run (`--unsafe`).
    pub unsafe_writes: bool,
    /// The timeout per request.
    pub timeout: Duration,
    /// Fields sent with every probe (`--header`), unless the probe sets
    /// the same field itself.
    pub headers: http::HeaderMap,
    /// Whether to check the assets each HTML page links to (`--assets`).
    pub assets: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            backends: Vec::new(),
            origin: None,
            unsafe_writes: false,
            timeout: Duration::from_secs(10),
            headers: http::HeaderMap::new(),
            assets: false,
        }
    }
}

/// Checks one URL over the network; with [`Settings::assets`], lists the
/// assets it links to when it is an HTML page (checking them is
/// [`check_all`]'s work).
pub async fn check_url(url: &str, settings: &Settings) -> UrlReport {
    check_one(url, settings, settings.assets).await
}

async fn check_one(url: &str, settings: &Settings, find_assets: bool) -> UrlReport {
    let outcome = async {
        let parsed = probe::parse_url(url)?;
        let backends = probe::nodes_of(&parsed, &settings.backends).await;
        let origin = settings
            .origin
            .as_deref()
            .map(|o| probe::origin_for(o, &parsed))
            .transpose()?;
        let transport = probe::HttpTransport::new(&parsed, &backends, settings.timeout)?
            .with_headers(settings.headers.clone());
        let options = CheckOptions {
            backends,
            origin,
            unsafe_writes: settings.unsafe_writes,
        };
        let recording = probe::record(&transport, &parsed, options).await?;
        let mut result = checked(&recording);
        if find_assets
            && let Some(initial) = recording.initial()
            && initial.status.is_success()
            && assets::is_html(initial)
        {
            let html = String::from_utf8_lossy(&initial.body);
            result.assets = Some(assets::linked_assets(&parsed, &html));
        }
        Ok(result)
    }
    .await;
    UrlReport {
        url: url.to_owned(),
        outcome,
        linked_from: None,
    }
}

/// The findings of a recording, with its first status, request count and
/// the exchanges' heads.
pub fn checked(recording: &Recording) -> Checked {
    let exchanges = recording
        .exchanges
        .iter()
        .map(|exchange| {
            let mut head = exchange.clone();
            if let Ok(response) = &mut head.response {
                response.body = bytes::Bytes::new();
            }
            head
        })
        .collect();
    Checked {
        status: recording
            .initial()
            .map_or(http::StatusCode::INTERNAL_SERVER_ERROR, |r| r.status),
        requests: recording.exchanges.len(),
        findings: rules::evaluate(recording),
        exchanges,
        assets: None,
    }
}

/// How many linked assets are checked at once (`--assets`).
const ASSETS_IN_FLIGHT: usize = 4;

/// Checks each URL in turn; with [`Settings::assets`], each page's linked
/// assets follow its report, checked a few at a time, each asset once per
/// run (not again when another page links it or it was given itself), and
/// without the `--header` fields when on another origin than the page.
///
/// ```no_run
/// use revalidate_checker::{FailOn, Settings, check_all, exit_code_failing_on, render_text};
///
/// # async fn run() {
/// let urls = vec!["https://example.com/".to_owned(), "https://example.com/app.css".to_owned()];
/// let reports = check_all(&urls, &Settings { assets: true, ..Settings::default() }).await;
/// print!("{}", render_text(&reports, false));
/// std::process::exit(exit_code_failing_on(&reports, FailOn::Error).into());
/// # }
/// ```
pub async fn check_all(urls: &[String], settings: &Settings) -> Vec<UrlReport> {
    use futures_util::StreamExt as _;
    let mut reports = Vec::with_capacity(urls.len());
    let mut seen: std::collections::HashSet<String> = urls.iter().cloned().collect();
    for url in urls {
        let report = check_url(url, settings).await;
        let linked: Vec<String> = report
            .outcome
            .as_ref()
            .ok()
            .and_then(|c| c.assets.as_ref())
            .map(|a| {
                a.urls
                    .iter()
                    .filter(|u| seen.insert((*u).clone()))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        reports.push(report);
        // `--header` fields often carry credentials: like curl on a
        // redirect to another host, they are not sent to another origin.
        let page_origin = probe::parse_url(url).map(|u| u.origin()).ok();
        let without_fields = Settings {
            headers: http::HeaderMap::new(),
            ..settings.clone()
        };
        let assets: Vec<UrlReport> = futures_util::stream::iter(linked)
            .map(|asset| {
                let same_origin =
                    page_origin.is_some() && probe::parse_url(&asset).map(|u| u.origin()).ok() == page_origin;
                let settings = if same_origin { settings } else { &without_fields };
                async move {
                    // An asset's own links are not followed: one level, as REDbot.
                    let mut report = check_one(&asset, settings, false).await;
                    report.linked_from = Some(url.clone());
                    report
                }
            })
            .buffered(ASSETS_IN_FLIGHT)
            .collect()
            .await;
        reports.extend(assets);
    }
    reports
}
