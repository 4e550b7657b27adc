//! HTTP caching ([RFC 9111]) as pure decisions, for the edge (a shared
//! cache) and the client (a private cache).
//!
//! Nothing here stores anything. A cache keeps, per stored response, its
//! status, its header fields, the request fields its `Vary` names, and two
//! clock readings: when the request was sent and when the response arrived
//! ([`StoredHead`], read through its [`Stored`] view). These functions look
//! at that and at the new request and say what to do next; time is always
//! an argument, an [`HttpDate`](crate::HttpDate), the crate's one time type.
//!
//! | module | RFC | what it decides |
//! |---|---|---|
//! | [`directives`] | 9111 §5.2, 9213 | `Cache-Control` / `CDN-Cache-Control` parsed once: [`ResponseDirectives`], [`RequestDirectives`] |
//! | [`mod@freshness`] | 9111 §4.2, §5.1, §5.3 | [`freshness()`]: lifetime (explicit or heuristic) and [`current_age`]; [`age_header_value`]; [`ttl()`] for `Cache-Status` (RFC 9211 §2.4) |
//! | [`decide`] | 9111 §3, §4 | [`storage_decision`]: may it be stored ([`post_storage_decision`] for a `POST` response that answers a later `GET`, RFC 9110 §9.3.3); [`SetCookiePolicy`]: which responses carrying `Set-Cookie` a shared cache stores of those; [`reuse_decision`]: serve, serve stale, or validate; [`stale_if_error_allows`]; [`answers_method`] (HEAD from a stored GET) |
//! | [`validate`] | 9111 §3.1, §3.2, §4.1, §4.3 | [`vary_matches`] / [`secondary_key`]; [`storable_headers`]; [`conditional_request_headers`] / [`revalidation_request_headers`]; [`on_validation_response`]; [`not_modified_selects`]; [`update_stored_headers`]; [`stored_validators`] for client conditionals; [`head_freshens`] |
//! | [`invalidate`] | 9111 §4.4 | [`invalidation_targets`]: which URIs an unsafe request invalidates |
//! | [`status`] | 9211 | [`CACHE_STATUS`], the field name; [`CacheStatus`]: the field value |
//! | [`stored`] | 9111 §4.1, §4.2.3 | [`StoredHead`]: what a cache keeps of a response besides its body (serde with the `serde` feature); [`Stored`]: the view the decisions read |
//!
//! A shared cache runs a `GET` (or `HEAD`) like this:
//!
//! 1. look up the stored responses for the URI; keep those whose
//!    [`vary_matches`] the request (the edge keys them by [`secondary_key`]);
//! 2. [`reuse_decision`]: `Fresh` / `StaleAllowed` → serve with
//!    [`age_header_value`], answering the client's conditionals against
//!    [`stored_validators`]; `StaleWhileRevalidate` → serve and refresh in
//!    the background; `Revalidate` → send [`revalidation_request_headers`];
//!    `GatewayTimeout` → 504;
//! 3. the origin's answer: [`on_validation_response`] → `NotModified`:
//!    [`update_stored_headers`] and serve; `ServerError`: serve stale if
//!    [`stale_if_error_allows`]; `Replace` / a miss: [`storage_decision`],
//!    then store [`storable_headers`];
//! 4. any unsafe method: drop the [`invalidation_targets`].
//!
//! Policies where the RFCs leave a choice are listed in each module's docs.
//! cache-tests.fyi cases the decisions do not meet (all replayed in
//! `tests/cache_suite.rs`):
//! - `vary-normalise-lang-select` (optimal): needs the origin's
//!   negotiation, not a normalisation;
//! - `partial-store-partial-*` (optimal): `206` responses are not stored
//!   (no combining of partial content, §3.3–§3.4).
//!
//! [RFC 9111]: https://www.rfc-editor.org/rfc/rfc9111

pub mod decide;
pub mod directives;
pub mod freshness;
pub mod invalidate;
pub mod status;
pub mod stored;
pub mod validate;

use http::{HeaderMap, HeaderName};

/// `CDN-Cache-Control`, the targeted field for CDNs and edges
/// ([RFC 9213 §2](https://www.rfc-editor.org/rfc/rfc9213#section-2)).
pub const CDN_CACHE_CONTROL: HeaderName = HeaderName::from_static("cdn-cache-control");

pub use decide::{
    NotStorable, Reuse, SetCookiePolicy, StoreDecision, UnknownSetCookiePolicy, answers_method,
    post_storage_decision, reuse_decision, reuse_decision_with, stale_if_error_allows, storage_decision,
    understood_status,
};
pub use directives::{FieldNames, MaxStale, RequestDirectives, ResponseDirectives};
pub use freshness::{Freshness, LifetimeSource, age_header_value, current_age, freshness, ttl};
pub use invalidate::invalidation_targets;
pub use status::{CACHE_STATUS, CacheStatus, Forward};
pub use stored::{Stored, StoredHead};
pub use validate::{
    NOT_UPDATED_FROM_304, Validation, conditional_request_headers, head_freshens, not_modified_selects,
    on_validation_response, revalidation_request_headers, secondary_key, storable_headers, stored_validators,
    strip_hop_by_hop, update_stored_headers, vary_matches, vary_names, vary_request_fields,
};

/// Whose rules apply: a shared cache (a CDN edge, a proxy) or a private one
/// (a browser, an API client). They differ on `private`, `s-maxage`,
/// `proxy-revalidate` and `Authorization` (§3.5, §5.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheKind {
    /// Serves many users.
    Shared,
    /// Serves one user.
    Private,
}

/// How a cache applies the rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// Shared or private.
    pub kind: CacheKind,
    /// The fraction of (`Date` − `Last-Modified`) used as a heuristic
    /// freshness lifetime, in percent; §4.2.2 suggests "no more than some
    /// fraction", typically 10 %.
    pub heuristic_percent: u64,
    /// The longest heuristic lifetime, in seconds.
    pub heuristic_max: u64,
    /// A heuristic lifetime in seconds that replaces the `Last-Modified`
    /// fraction (an operator's "default TTL", nginx's `proxy_cache_valid`
    /// for responses without `Cache-Control` or `Expires`): it applies
    /// exactly where §4.2.2 allows a heuristic, to responses without an
    /// explicit expiration time whose status is heuristically cacheable
    /// or that are marked `public`, with or without `Last-Modified`.
    /// RFC 9111 §4.2.2 leaves the heuristic to the cache ("a cache MAY
    /// assign a heuristic expiration time"), so this is no deviation.
    pub heuristic_lifetime: Option<u64>,
    /// A lifetime in seconds that replaces every explicit one (`s-maxage`,
    /// `max-age`, `Expires`) and the heuristic: `DEVIATION(ttl-override)`.
    /// RFC 9111 §4.2.1 says the lifetime comes from those fields; an
    /// operator who knows better than the origin (Souin's `ttl`, nginx's
    /// `proxy_ignore_headers Cache-Control Expires` with
    /// `proxy_cache_valid`) may override it. Only the lifetime changes:
    /// what may be stored (`no-store`, `private`) and reused without
    /// revalidation (`no-cache`, `must-revalidate`) is decided as always.
    pub lifetime_override: Option<u64>,
    /// A targeted field (RFC 9213) that, when present and holding at least
    /// one directive, replaces `Cache-Control` for this cache's own
    /// decisions, such as `cdn-cache-control`.
    pub targeted_field: Option<HeaderName>,
}

impl CacheConfig {
    /// A shared cache honouring `CDN-Cache-Control`, 10 % heuristic capped
    /// at a day.
    pub fn shared() -> Self {
        Self {
            kind: CacheKind::Shared,
            heuristic_percent: 10,
            heuristic_max: 24 * 60 * 60,
            heuristic_lifetime: None,
            lifetime_override: None,
            targeted_field: Some(CDN_CACHE_CONTROL),
        }
    }

    /// A private cache, 10 % heuristic capped at a day.
    pub fn private() -> Self {
        Self {
            kind: CacheKind::Private,
            heuristic_percent: 10,
            heuristic_max: 24 * 60 * 60,
            heuristic_lifetime: None,
            lifetime_override: None,
            targeted_field: None,
        }
    }

    /// The directives of `response` as this cache reads them: the targeted
    /// field when configured, present, valid and not empty (RFC 9213 §2.2:
    /// the cache "MUST ignore the Cache-Control and Expires header fields
    /// in that response, unless no valid, non-empty value is available"),
    /// else `Cache-Control`.
    pub fn response_directives(&self, response: &HeaderMap) -> ResponseDirectives {
        if let Some(field) = &self.targeted_field
            && response.contains_key(field)
            && let Some(targeted) = ResponseDirectives::from_targeted_lines(
                response.get_all(field).iter().map(http::HeaderValue::as_bytes),
            )
        {
            return targeted;
        }
        ResponseDirectives::from_headers(response)
    }

    /// Whether this is a shared cache.
    pub fn is_shared(&self) -> bool {
        self.kind == CacheKind::Shared
    }
}
