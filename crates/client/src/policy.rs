//! The RFC 9111 decisions the client needs, taken from
//! [`revalidate_core::cache`] with a private-cache configuration. The
//! client stores the core's [`StoredHead`](revalidate_core::cache::StoredHead),
//! so this module only adapts the core's reuse decision to what this
//! client does with it.

use std::time::Duration;

use http::{HeaderMap, Method, StatusCode};
use revalidate_core::HttpDate;
use revalidate_core::cache::{self, CacheConfig, StoreDecision};

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
}

/// The core's §4 decision, as this client acts on it: a response within a
/// `stale-while-revalidate` window is revalidated before it is returned
/// (the client has no background task to refresh it), and `only-if-cached`
/// without a usable response goes to the network like any other miss.
pub(crate) fn reuse(request: &HeaderMap, stored: &StoredResponse, now: HttpDate) -> Reuse {
    match cache::reuse_decision(&config(), &stored.head.view(), request, now) {
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
