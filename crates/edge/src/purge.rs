//! The purge API's HTTP handling: `POST` to
//! [`PURGE_PATH`](revalidate_core::purge::PURGE_PATH) with a bearer token,
//! off unless a token is configured. The wire format (the path, the
//! `{"urls", "prefixes", "tags"}` body and the `{"purged": ...}` answer) is
//! the core's, [`revalidate_core::purge`], shared with the origin that
//! sends it; here are the token check, the body limits, what a URL purge
//! matches and the storage the purges go to.
//!
//! A purge reaches one site: the one whose host the request was sent to,
//! with that site's `purge_token`. With several sites, the top-level
//! `purge_token` reaches every site from any site's host. Within a site:
//!
//! - a URL (a path, or an absolute URL of which the path and query count)
//!   is normalised by the site's key rules and purged under both schemes;
//!   a URL without a query also purges every query variant of it
//!   (`/a` purges `/a?page=2`), a URL with one purges that variant;
//! - a prefix (a path prefix: `/blog/`) purges every key of the site
//!   under it, both schemes;
//! - a tag purges the site's objects carrying it (tags are stored per
//!   site).
//!
//! Purges are durable when the answer (`200`, with counts) is sent: they
//! survive a restart of an edge with a `--cache-dir`. The next request for
//! a purged response goes to the origin.
//!
//! **Through the tiers**: on a leaf whose site fetches from shields, a
//! valid purge is first sent on to every shield (same body, same
//! `Authorization`, the site's `Host`) and applied here only after they
//! answered, so that the leaf's next fetch cannot bring back from a shield
//! the version the purge is about (whatever order the origin's purges
//! arrive in). A shield that did not acknowledge it makes the answer `502`
//! (the purge is applied here all the same); the origin's purger retries a
//! `5xx`, and purges are idempotent.

use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, AUTHORIZATION, CONNECTION, HeaderValue, WWW_AUTHENTICATE};
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use revalidate_core::purge::{PurgeCounts, PurgeRequest, PurgeResponse};
use subtle::ConstantTimeEq;

use crate::body::{BoxError, EdgeBody, full};
use crate::decide::{KEY_SCHEMES, key_prefix, primary_key, site_tag};
use crate::entry::DecodedEntry;
use crate::metrics::{EdgeMetrics, PurgeKind};
use crate::pool::Pool;
use crate::problem::{IntoEdgeResponse, Problem};
use crate::sites::KeyRules;
use crate::storage::{AnyStorage, Storage};
use crate::upload::ReadError;
use crate::upstream::Failure;

/// What the purge API works with, lent by the proxy for one request: the
/// token, the storage it purges, the counters it bumps, and the bound on
/// silence in the request body. Nothing else of the proxy, so that this
/// module does not depend on it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PurgeApi<'a> {
    /// The site's bearer token; `None` (and no `all_sites`) turns the API
    /// off (`404`).
    pub(crate) token: Option<&'a str>,
    /// The token that reaches every site, and their names.
    pub(crate) all_sites: Option<(&'a str, &'a [String])>,
    /// The site the request came to.
    pub(crate) site: &'a str,
    /// Its key rules, which URLs to purge are normalised by.
    pub(crate) cache_key: &'a KeyRules,
    /// Where purges are recorded.
    pub(crate) storage: &'a AnyStorage<DecodedEntry>,
    /// `revalidate_edge_purges_total`.
    pub(crate) metrics: &'a EdgeMetrics,
    /// The longest silence allowed between two chunks of the request body.
    pub(crate) client_body_timeout: Duration,
    /// The site's upstream pool: when its members are shields, a purge
    /// goes to them before it is applied here.
    pub(crate) upstream: &'a Pool,
}

/// The largest purge request body.
const BODY_LIMIT: usize = 64 * 1024;

/// Compares in constant time ([`subtle::ConstantTimeEq`]), so that the time
/// taken does not tell how much of a guessed token was right. Tokens of
/// another length differ at once: the time may tell the length, which is
/// no help in guessing the bytes.
fn same_token(given: &[u8], expected: &[u8]) -> bool {
    bool::from(given.ct_eq(expected))
}

fn authorized(request_token: Option<&HeaderValue>, expected: &str) -> bool {
    let Some(value) = request_token.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some((scheme, token)) = value.split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer") && same_token(token.trim().as_bytes(), expected.as_bytes())
}

/// The request target a URL purge matches: the path and query.
fn target_of(url: &str) -> Option<String> {
    if url.starts_with('/') {
        return Some(url.to_owned());
    }
    let uri: http::Uri = url.parse().ok()?;
    uri.scheme()?;
    Some(
        uri.path_and_query()
            .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned()),
    )
}

/// Answers one request to the purge API.
pub(crate) async fn handle<B>(api: PurgeApi<'_>, request: Request<B>) -> Response<EdgeBody>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    if api.token.is_none() && api.all_sites.is_none() {
        return Problem::new(StatusCode::NOT_FOUND, "Not Found").into_edge_response();
    }
    if request.method() != Method::POST {
        return Problem::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
            .with_detail("Purge with POST and a JSON body.")
            .with_header(ALLOW, HeaderValue::from_static("POST"))
            .into_edge_response();
    }
    let given = request.headers().get(AUTHORIZATION).cloned();
    let given = given.as_ref();
    // The shields route the purge by the site's host, as this edge did.
    let host = request.headers().get(http::header::HOST).cloned().or_else(|| {
        request
            .uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    let one_site = [api.site.to_owned()];
    let sites: &[String] = match api.all_sites {
        Some((token, all)) if authorized(given, token) => all,
        _ if api.token.is_some_and(|token| authorized(given, token)) => &one_site,
        _ => &[],
    };
    if sites.is_empty() {
        return Problem::new(StatusCode::UNAUTHORIZED, "Unauthorized")
            .with_detail("The purge API needs `Authorization: Bearer <purge_token>`.")
            .with_header(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"revalidate-edge purge\""),
            )
            .into_edge_response();
    }
    // The same bound between chunks as any upload ([`crate::upload`]).
    let (body, upload) = crate::upload::watch(request.into_body(), api.client_body_timeout);
    let body = match crate::upload::read_limited(body, &upload, BODY_LIMIT).await {
        Ok(body) => body,
        Err(ReadError::Client(fault)) => {
            let failure = Failure::Client(fault);
            return Problem::new(failure.status(), failure.title())
                .with_detail(failure.detail())
                .with_header(CONNECTION, HeaderValue::from_static("close"))
                .into_edge_response();
        }
        Err(ReadError::TooLarge) => {
            return Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "Content Too Large")
                .with_detail(format!("A purge request body holds at most {BODY_LIMIT} bytes."))
                .into_edge_response();
        }
    };
    let purge = match PurgeRequest::from_json(&body) {
        Ok(purge) => purge,
        Err(e) => {
            return Problem::new(StatusCode::BAD_REQUEST, "Invalid purge request")
                .with_detail(format!(
                    "Expected {{\"urls\": [...], \"prefixes\": [...], \"tags\": [...]}}: {e}"
                ))
                .into_edge_response();
        }
    };
    if purge.is_empty() {
        return Problem::new(StatusCode::BAD_REQUEST, "Empty purge request")
            .with_detail("Name at least one URL, prefix or tag.")
            .into_edge_response();
    }
    let mut targets = Vec::with_capacity(purge.urls.len());
    for url in &purge.urls {
        match target_of(url) {
            Some(target) => targets.push(target),
            None => {
                return Problem::new(StatusCode::BAD_REQUEST, "Invalid purge URL")
                    .with_detail(format!(
                        "{url:?} is neither a path starting with '/' nor an absolute URL."
                    ))
                    .into_edge_response();
            }
        }
    }
    if let Some(bad) = purge.prefixes.iter().chain(&purge.tags).find(|s| s.is_empty()) {
        return Problem::new(StatusCode::BAD_REQUEST, "Invalid purge request")
            .with_detail(format!(
                "An empty prefix or tag ({bad:?}) would purge everything or nothing."
            ))
            .into_edge_response();
    }
    if let Some(bad) = purge.prefixes.iter().find(|prefix| !prefix.starts_with('/')) {
        return Problem::new(StatusCode::BAD_REQUEST, "Invalid purge prefix")
            .with_detail(format!(
                "A prefix is the start of a path and begins with '/'; {bad:?} does not."
            ))
            .into_edge_response();
    }
    let PurgeApi {
        storage,
        metrics,
        cache_key,
        upstream,
        ..
    } = api;
    let unacknowledged = match upstream.is_shield_tier() {
        true => upstream.purge_members(given, host.as_ref(), &body).await,
        false => Vec::new(),
    };
    let mut result = Ok(());
    for site in sites {
        for scheme in KEY_SCHEMES {
            let prefix = key_prefix(scheme, site);
            let key = |target: &str| primary_key(&prefix, target);
            for target in &targets {
                let target = cache_key.normalise(target);
                result = result.and(match target.contains('?') {
                    true => storage.purge_url(&key(&target)).await,
                    false => storage.purge_url_with_queries(&key(&target)).await,
                });
            }
            for prefix in &purge.prefixes {
                result = result.and(storage.ban_prefix(&key(prefix)).await);
            }
        }
        for tag in &purge.tags {
            result = result.and(storage.ban_tag(&site_tag(site, tag)).await);
        }
    }
    for (kind, count) in [
        (PurgeKind::Url, targets.len()),
        (PurgeKind::Prefix, purge.prefixes.len()),
        (PurgeKind::Tag, purge.tags.len()),
    ] {
        for _ in 0..count {
            metrics.purge(kind);
        }
    }
    if let Err(e) = result {
        tracing::error!(error = %e, "purge failed");
        return Problem::new(StatusCode::SERVICE_UNAVAILABLE, "Purge not recorded")
            .with_detail(format!("The cache could not record the purge durably: {e}"))
            .into_edge_response();
    }
    if !unacknowledged.is_empty() {
        tracing::warn!(
            shields = unacknowledged.join("; "),
            "a purge did not reach every shield"
        );
        return Problem::new(StatusCode::BAD_GATEWAY, "Purge not acknowledged by every shield")
            .with_detail(format!(
                "Purged here, but not acknowledged upstream ({}); send it again.",
                unacknowledged.join("; ")
            ))
            .into_edge_response();
    }
    let answer = PurgeResponse {
        purged: PurgeCounts {
            prefixes: purge.prefixes.len(),
            tags: purge.tags.len(),
            urls: targets.len(),
        },
    };
    let mut response = Response::new(full(answer.to_json()));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_exactly() {
        let cases = [
            ("Bearer 0123456789abcdef", true),
            ("bearer 0123456789abcdef", true),
            ("Bearer 0123456789abcde", false),
            ("Bearer 0123456789abcdefg", false),
            ("Basic 0123456789abcdef", false),
            ("0123456789abcdef", false),
            ("Bearer ", false),
        ];
        for (header, expected) in cases {
            let value = HeaderValue::from_static(header);
            assert_eq!(authorized(Some(&value), "0123456789abcdef"), expected, "{header}");
        }
        assert!(!authorized(None, "0123456789abcdef"));
    }

    #[test]
    fn same_token_needs_every_byte_and_the_length() {
        let expected = b"0123456789abcdef";
        let cases: [(&[u8], bool); 8] = [
            (b"0123456789abcdef", true),
            (b"0123456789abcdeX", false),
            (b"X123456789abcdef", false),
            (b"0123456789ABCDEF", false),
            (b"0123456789abcde", false),
            (b"0123456789abcdef0", false),
            (b"0123456789abcdef\0", false),
            (b"", false),
        ];
        for (given, same) in cases {
            assert_eq!(same_token(given, expected), same, "{}", given.escape_ascii());
        }
        assert!(!same_token(b"", b"0"));
    }

    #[test]
    fn purge_urls_become_targets() {
        let cases = [
            ("/a?b=1", Some("/a?b=1")),
            ("http://edge.example/a/b?c", Some("/a/b?c")),
            ("http://edge.example", Some("/")),
            ("a/b", None),
            ("", None),
        ];
        for (url, expected) in cases {
            assert_eq!(target_of(url).as_deref(), expected, "{url}");
        }
    }
}
