//! HTTP caching ([RFC 9111]) as pure decisions, for the edge (a shared
//! cache) and the client (a private cache).
//!
//! Nothing here stores anything. A cache keeps, per stored response, its
//! status, its header fields, the request fields its `Vary` names, and two
//! clock readings: when the request was sent and when the response arrived
//! ([`Stored`]). These functions look at that and at the new request and
//! say what to do next; time is always an argument, in Unix seconds.
//!
//! | module | RFC | what it decides |
//! |---|---|---|
//! | [`directives`] | 9111 §5.2, 9213 | `Cache-Control` / `CDN-Cache-Control` parsed once |
//! | [`mod@freshness`] | 9111 §4.2 | freshness lifetime (explicit or heuristic) and current age |
//! | [`decide`] | 9111 §3, §4 | [`storage_decision`]: may it be stored; [`reuse_decision`]: serve, serve stale, or validate |
//! | [`validate`] | 9111 §3.1, §3.2, §4.1, §4.3 | `Vary` matching, the conditional request, which stored response a 304 refreshes and how |
//! | [`invalidate`] | 9111 §4.4 | which URIs an unsafe request invalidates |
//! | [`status`] | 9211 | the `Cache-Status` field value |
//!
//! Policies where the RFCs leave a choice are listed in each module's docs.
//!
//! [RFC 9111]: https://www.rfc-editor.org/rfc/rfc9111

pub mod decide;
pub mod directives;
pub mod freshness;
pub mod invalidate;
pub mod status;
pub mod validate;

use http::{HeaderMap, HeaderName, StatusCode};

pub use decide::{
    NotStorable, Reuse, StoreDecision, reuse_decision, stale_if_error_allows, storage_decision,
};
pub use directives::{FieldNames, MaxStale, RequestDirectives, ResponseDirectives};
pub use freshness::{Freshness, LifetimeSource, current_age, freshness};
pub use invalidate::invalidation_targets;
pub use status::CacheStatus;
pub use validate::{
    conditional_request_headers, not_modified_selects, secondary_key, strip_hop_by_hop,
    update_stored_headers, vary_matches,
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
            targeted_field: Some(HeaderName::from_static("cdn-cache-control")),
        }
    }

    /// A private cache, 10 % heuristic capped at a day.
    pub fn private() -> Self {
        Self {
            kind: CacheKind::Private,
            heuristic_percent: 10,
            heuristic_max: 24 * 60 * 60,
            targeted_field: None,
        }
    }

    /// The directives of `response` as this cache reads them: the targeted
    /// field when configured, present and not empty (RFC 9213 §2.1), else
    /// `Cache-Control`.
    pub fn response_directives(&self, response: &HeaderMap) -> ResponseDirectives {
        if let Some(field) = &self.targeted_field
            && response.contains_key(field)
        {
            let targeted = ResponseDirectives::from_lines(
                response.get_all(field).iter().map(http::HeaderValue::as_bytes),
            );
            if !targeted.is_empty() {
                return targeted;
            }
        }
        ResponseDirectives::from_headers(response)
    }
}

/// What a cache knows of one stored response.
#[derive(Clone, Copy, Debug)]
pub struct Stored<'a> {
    /// Its status.
    pub status: StatusCode,
    /// Its header fields (after any 304 updates).
    pub headers: &'a HeaderMap,
    /// When the request that fetched (or last validated) it was sent.
    pub request_time: u64,
    /// When that response arrived.
    pub response_time: u64,
}
