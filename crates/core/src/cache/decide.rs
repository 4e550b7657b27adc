//! Whether to store a response ([RFC 9111 §3]) and whether a stored one may
//! answer a request ([RFC 9111 §4]).
//!
//! Policies:
//! - Only `GET` responses are stored; a `HEAD` may be answered from a
//!   stored `GET` by the caller (RFC 9110 §9.3.2), which this module allows
//!   through [`reuse_decision`] taking any safe method the caller maps.
//! - `206` and `304` are never stored as a whole response: this cache does
//!   not combine partial content (§3.3, §3.4).
//! - A response whose `Vary` holds `*` is not stored: it "always fails to
//!   match" (§4.1), so storing it would only waste space.
//! - `must-understand` with a status this cache understands (every status
//!   [`storage_decision`] would otherwise store) overrides `no-store`
//!   (§5.2.2.3).
//!
//! [RFC 9111 §3]: https://www.rfc-editor.org/rfc/rfc9111#section-3
//! [RFC 9111 §4]: https://www.rfc-editor.org/rfc/rfc9111#section-4

use http::header::{AUTHORIZATION, EXPIRES};
use http::{HeaderMap, Method, StatusCode};

use super::directives::{FieldNames, MaxStale, RequestDirectives};
use super::freshness::{Freshness, freshness, heuristically_cacheable};
use super::{CacheConfig, CacheKind, Stored};

/// Why a response may not be stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotStorable {
    /// The method is not `GET` (§3: "the request method is understood by the cache").
    Method,
    /// The status is not final, or is one this cache does not store whole (206, 304).
    Status,
    /// `no-store` in the request or the response (§5.2.1.5, §5.2.2.5).
    NoStore,
    /// `private` in a shared cache (§5.2.2.7).
    Private,
    /// `Authorization` in a shared cache without an explicit permission (§3.5).
    Authorization,
    /// `Vary: *` (§4.1).
    VaryStar,
    /// Nothing makes it cacheable: no explicit freshness, not
    /// heuristically cacheable, not `public` (§3).
    NoFreshnessInformation,
}

/// The §3 decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreDecision {
    /// Store it.
    Store,
    /// Do not.
    DoNotStore(NotStorable),
}

/// §3: "A cache MUST NOT store a response to a request unless" every
/// condition holds; the first that fails is the reason.
pub fn storage_decision(
    config: &CacheConfig,
    method: &Method,
    request: &HeaderMap,
    status: StatusCode,
    response: &HeaderMap,
) -> StoreDecision {
    use StoreDecision::DoNotStore;
    if *method != Method::GET {
        return DoNotStore(NotStorable::Method);
    }
    // "the response status code is final" and understood.
    let understood = status.as_u16() >= 200
        && status != StatusCode::PARTIAL_CONTENT
        && status != StatusCode::NOT_MODIFIED
        && status.as_u16() < 600;
    if !understood {
        return DoNotStore(NotStorable::Status);
    }
    let directives = config.response_directives(response);
    let request_directives = RequestDirectives::from_headers(request);
    // §5.2.2.3: "a cache that understands and conforms to the requirements
    // of a response's status code MAY ignore no-store" with must-understand.
    let no_store = directives.no_store && !directives.must_understand;
    if no_store || request_directives.no_store {
        return DoNotStore(NotStorable::NoStore);
    }
    let shared = config.kind == CacheKind::Shared;
    if shared && directives.private == Some(FieldNames::All) {
        return DoNotStore(NotStorable::Private);
    }
    // §3.5: "A shared cache MUST NOT use a cached response to a request
    // with an Authorization header field ... unless" must-revalidate,
    // public or s-maxage allows it.
    if shared
        && request.contains_key(AUTHORIZATION)
        && !(directives.must_revalidate || directives.public || directives.s_maxage.is_some())
    {
        return DoNotStore(NotStorable::Authorization);
    }
    if super::validate::vary_names(response).is_none() {
        return DoNotStore(NotStorable::VaryStar);
    }
    let explicit = response.contains_key(EXPIRES)
        || directives.max_age.is_some()
        || (shared && directives.s_maxage.is_some());
    let permitted = explicit
        || directives.public
        || (!shared && directives.private.is_some())
        || heuristically_cacheable(status);
    if !permitted {
        return DoNotStore(NotStorable::NoFreshnessInformation);
    }
    StoreDecision::Store
}

/// What to do with a stored response that matches the request (§4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reuse {
    /// Fresh enough for this request: send it, with `Age: age`.
    Fresh {
        /// The `Age` to send.
        age: u64,
    },
    /// Stale, but the request's `max-stale` accepts it (§4.2.4): send it.
    StaleAllowed {
        /// The `Age` to send.
        age: u64,
    },
    /// Stale within `stale-while-revalidate`: send it now and refresh in
    /// the background (RFC 5861 §3).
    StaleWhileRevalidate {
        /// The `Age` to send.
        age: u64,
    },
    /// Send a conditional request first (§4.3).
    Revalidate,
    /// `only-if-cached` and nothing usable: answer 504 (§5.2.1.7).
    GatewayTimeout,
}

/// The §4 decision for a stored response that matches the request's method
/// and `Vary` (check those with [`super::vary_matches`] first), at `now`.
pub fn reuse_decision(config: &CacheConfig, stored: &Stored<'_>, request: &HeaderMap, now: u64) -> Reuse {
    let f = freshness(config, stored, now);
    let request = RequestDirectives::from_headers(request);
    let decision = decide(config, &f, &request);
    if request.only_if_cached && decision == Reuse::Revalidate {
        // §5.2.1.7: "the cache SHOULD either respond using a stored
        // response consistent with the other constraints of the request or
        // respond with a 504 (Gateway Timeout) status code".
        return Reuse::GatewayTimeout;
    }
    decision
}

fn decide(config: &CacheConfig, f: &Freshness, request: &RequestDirectives) -> Reuse {
    let age = f.age;
    let shared = config.kind == CacheKind::Shared;
    // §5.2.2.4: "the no-cache response directive ... indicates that the
    // response MUST NOT be used to satisfy any other request without
    // forwarding it for validation". Field-qualified no-cache is treated
    // the same (the stricter reading the RFC allows).
    if f.directives.no_cache.is_some() {
        return Reuse::Revalidate;
    }
    // §5.2.1.4: request no-cache: "a cache MUST NOT use a stored response
    // to satisfy the request without successful validation".
    if request.no_cache {
        return Reuse::Revalidate;
    }
    // §5.2.1.1 max-age, §5.2.1.3 min-fresh.
    if let Some(max_age) = request.max_age
        && age > max_age
    {
        return Reuse::Revalidate;
    }
    let min_fresh = request.min_fresh.unwrap_or(0);
    if f.is_fresh() && f.remaining() > min_fresh {
        return Reuse::Fresh { age };
    }
    if f.is_fresh() {
        // Fresh, but not for long enough for this request.
        return Reuse::Revalidate;
    }
    // Stale from here on. §4.2.4: "A cache MUST NOT generate a stale
    // response if it is prohibited by an explicit in-protocol directive
    // (e.g., by a no-cache response directive, a must-revalidate response
    // directive, or an applicable s-maxage or proxy-revalidate response
    // directive)".
    let must_revalidate = f.directives.must_revalidate
        || (shared && (f.directives.proxy_revalidate || f.directives.s_maxage.is_some()));
    if must_revalidate {
        return Reuse::Revalidate;
    }
    let staleness = f.staleness();
    match request.max_stale {
        Some(MaxStale::Any) => return Reuse::StaleAllowed { age },
        Some(MaxStale::Seconds(limit)) if staleness <= limit => return Reuse::StaleAllowed { age },
        _ => {}
    }
    if let Some(window) = f.directives.stale_while_revalidate
        && staleness <= window
        && request.max_age.is_none()
        && request.min_fresh.is_none()
    {
        return Reuse::StaleWhileRevalidate { age };
    }
    Reuse::Revalidate
}

/// Whether a stale `stored` response may be sent because the origin failed
/// (unreachable, or a 5xx), per `stale-if-error` in the response or the
/// request (RFC 5861 §4), at `now`. Never when the response or the cache
/// kind forbids serving stale (§4.2.4).
pub fn stale_if_error_allows(
    config: &CacheConfig,
    stored: &Stored<'_>,
    request: &HeaderMap,
    now: u64,
) -> bool {
    let f = freshness(config, stored, now);
    let shared = config.kind == CacheKind::Shared;
    if f.directives.no_cache.is_some()
        || f.directives.must_revalidate
        || (shared && (f.directives.proxy_revalidate || f.directives.s_maxage.is_some()))
    {
        return false;
    }
    let request = RequestDirectives::from_headers(request);
    let window = match (f.directives.stale_if_error, request.stale_if_error) {
        (Some(a), Some(b)) => a.max(b),
        (a, b) => a.or(b).unwrap_or(0),
    };
    f.staleness() <= window && (window > 0 || f.is_fresh())
}
