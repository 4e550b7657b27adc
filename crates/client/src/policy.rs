//! The RFC 9111 decisions the client needs, taken from
//! [`revalidate_core::cache`] with a private-cache configuration. The
//! client stores the core's [`StoredHead`](revalidate_core::cache::StoredHead),
//! so this module only adapts the core's reuse decision to what this
//! client does with it.

use std::time::Duration;

use http::header::CACHE_CONTROL;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use revalidate_core::HttpDate;
use revalidate_core::cache::{self, CacheConfig, RequestDirectives, StoreDecision};

use crate::storage::StoredResponse;

fn config() -> CacheConfig {
    CacheConfig::private()
}

/// Whether a private cache may store this response (RFC 9111 §3).
/// `Authorization` and `private` do not prevent it: those rules bind shared
/// caches only (§3.5, §5.2.2.7).
pub(crate) fn may_store(
    method: &Method,
    request: &HeaderMap,
    status: StatusCode,
    response: &HeaderMap,
) -> bool {
    cache::storage_decision(&config(), method, request, status, response) == StoreDecision::Store
}

/// What the client does with a stored response that matches a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reuse {
    /// Serve it without contacting the origin.
    Fresh {
        /// The `Age` to send with it.
        age: Duration,
    },
    /// Validate it first (a conditional request).
    Revalidate,
    /// The request has `only-if-cached` and the stored response cannot be
    /// used without validation: answer 504 (§5.2.1.7).
    GatewayTimeout,
}

/// The core's §4 decision, as this client acts on it: a response within a
/// `stale-while-revalidate` window is revalidated before it is returned
/// (the client has no background task to refresh it).
pub(crate) fn reuse(request: &HeaderMap, stored: &StoredResponse, now: HttpDate) -> Reuse {
    match cache::reuse_decision(&config(), &stored.head.view(), request, now) {
        cache::Reuse::Fresh { age } | cache::Reuse::StaleAllowed { age } => Reuse::Fresh {
            age: Duration::from_secs(age),
        },
        cache::Reuse::StaleWhileRevalidate { .. } | cache::Reuse::Revalidate => Reuse::Revalidate,
        cache::Reuse::GatewayTimeout => Reuse::GatewayTimeout,
    }
}

/// Whether the request has `Cache-Control: only-if-cached` (§5.2.1.7).
pub(crate) fn only_if_cached(request: &HeaderMap) -> bool {
    request.contains_key(CACHE_CONTROL) && RequestDirectives::from_headers(request).only_if_cached
}

/// The stored response's current age (§4.2.3).
pub(crate) fn current_age(stored: &StoredResponse, now: HttpDate) -> Duration {
    Duration::from_secs(cache::current_age(&stored.head.view(), now))
}

/// The statuses RFC 5861 §4 counts as an error for `stale-if-error`:
/// "an error is any situation that would result in a 500, 502, 503, or 504
/// HTTP response status code being returned".
pub(crate) fn is_error_for_stale(status: StatusCode) -> bool {
    matches!(status.as_u16(), 500 | 502 | 503 | 504)
}

/// Whether `stale-if-error` in the response or the request lets a stale
/// `stored` be sent because the server failed (RFC 5861 §4).
pub(crate) fn stale_if_error_allows(request: &HeaderMap, stored: &StoredResponse, now: HttpDate) -> bool {
    cache::stale_if_error_allows(&config(), &stored.head.view(), request, now)
}

/// Whether `stored` may be sent, however stale, while the server cannot be
/// reached. §4.2.4: "A cache SHOULD NOT generate a stale response unless
/// it is disconnected or doing so is explicitly permitted by the client or
/// origin server"; and still "MUST NOT generate a stale response if it is
/// prohibited by an explicit in-protocol directive". The core's
/// stale-if-error rule checks exactly those prohibitions, so it is asked
/// with an unbounded window (delta-seconds cap at 2^31, §1.2.2).
pub(crate) fn stale_if_disconnected_allows(
    request: &HeaderMap,
    stored: &StoredResponse,
    now: HttpDate,
) -> bool {
    let mut request = request.clone();
    request.append(
        CACHE_CONTROL,
        HeaderValue::from_static("stale-if-error=2147483648"),
    );
    cache::stale_if_error_allows(&config(), &stored.head.view(), &request, now)
}

/// Whether a stored response was selected by a request like this one (§4.1).
pub(crate) fn vary_matches(stored: &StoredResponse, request: &HeaderMap) -> bool {
    stored.head.vary_matches(request)
}

/// The validators to send when revalidating a stored response (§4.3.1).
pub(crate) fn conditional_headers(stored: &HeaderMap) -> HeaderMap {
    cache::conditional_request_headers([stored])
}

/// Whether a 304 to our conditional request refreshes this stored
/// response (§4.3.4).
pub(crate) fn not_modified_selects(stored: &HeaderMap, not_modified: &HeaderMap) -> bool {
    cache::not_modified_selects(stored, not_modified, true)
}

/// Drops what a cache must not store (§3.1).
pub(crate) fn storable_headers(mut headers: HeaderMap) -> HeaderMap {
    cache::strip_hop_by_hop(&mut headers);
    headers
}
