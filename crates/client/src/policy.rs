//! The RFC 9111 decisions the client needs, taken from
//! [`revalidate_core::cache`] with a private-cache configuration. This
//! module only adapts the client's stored type (clock readings as
//! `SystemTime`, the request fields `Vary` names kept beside the response)
//! to the core's view (Unix seconds, header maps), and the core's reuse
//! decision to what this client does with it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, Method, StatusCode};
use revalidate_core::cache::{self, CacheConfig, StoreDecision, Stored};

use crate::storage::StoredResponse;

fn config() -> CacheConfig {
    CacheConfig::private()
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn view(stored: &StoredResponse) -> Stored<'_> {
    Stored {
        status: stored.status,
        headers: &stored.headers,
        request_time: unix_seconds(stored.request_time),
        response_time: unix_seconds(stored.response_time),
    }
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
}

/// The core's §4 decision, as this client acts on it: a response within a
/// `stale-while-revalidate` window is revalidated before it is returned
/// (the client has no background task to refresh it), and `only-if-cached`
/// without a usable response goes to the network like any other miss.
pub(crate) fn reuse(request: &HeaderMap, stored: &StoredResponse, now: SystemTime) -> Reuse {
    match cache::reuse_decision(&config(), &view(stored), request, unix_seconds(now)) {
        cache::Reuse::Fresh { age } | cache::Reuse::StaleAllowed { age } => Reuse::Fresh {
            age: Duration::from_secs(age),
        },
        cache::Reuse::StaleWhileRevalidate { .. }
        | cache::Reuse::Revalidate
        | cache::Reuse::GatewayTimeout => Reuse::Revalidate,
    }
}

/// Whether a stored response was selected by a request like this one (§4.1).
pub(crate) fn vary_matches(stored: &StoredResponse, request: &HeaderMap) -> bool {
    cache::vary_matches(&stored.headers, &stored.request_headers, request)
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

/// Applies a 304's fields to the stored response (§3.2).
pub(crate) fn update_headers(stored: &mut HeaderMap, not_modified: &HeaderMap) {
    cache::update_stored_headers(stored, not_modified);
}

/// Drops what a cache must not store (§3.1).
pub(crate) fn storable_headers(mut headers: HeaderMap) -> HeaderMap {
    cache::strip_hop_by_hop(&mut headers);
    headers
}
