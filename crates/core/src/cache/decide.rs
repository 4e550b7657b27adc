//! Whether to store a response ([RFC 9111 §3]) and whether a stored one may
//! answer a request ([RFC 9111 §4]).
//!
//! Policies:
//! - Only `GET` responses are stored, and `POST` responses that RFC 9110
//!   §9.3.3 makes reusable for a later `GET` ([`post_storage_decision`]:
//!   explicit freshness, `Content-Location` naming the target, status `200`
//!   or `203`). A stored `GET` response also answers
//!   `HEAD` (RFC 9110 §9.3.2: "The server SHOULD send the same header fields
//!   in response to a HEAD request as it would have sent if the request
//!   method had been GET"), without its content: see [`answers_method`].
//!   [`reuse_decision`] does not look at the method; check it first.
//! - `206` and `304` are never stored as a whole response: this cache does
//!   not combine partial content (§3.3, §3.4), so cache-tests.fyi
//!   `partial-store-partial-*` (optimal) are not met; a stored `200` can
//!   still answer a `Range` request (the caller cuts the range).
//! - A qualified `no-cache="a, b"` only forces validation while the stored
//!   response still holds one of the listed fields; [`super::storable_headers`]
//!   drops them before storing, after which the rest is reused (§5.2.2.4
//!   allows exactly this: the fields "MUST NOT be sent in the response to a
//!   subsequent request without successful revalidation").
//! - A response whose `Vary` holds `*` is not stored: it "always fails to
//!   match" (§4.1), so storing it would only waste space.
//! - `must-understand` with a status this cache understands (every status
//!   [`storage_decision`] would otherwise store) overrides `no-store`
//!   (§5.2.2.3).
//! - `Set-Cookie`: a shared cache may decline what §3 allows; which
//!   responses carrying the field it stores is its [`SetCookiePolicy`]
//!   (by default those with an explicit lifetime, never on heuristic
//!   freshness alone).
//!
//! [RFC 9111 §3]: https://www.rfc-editor.org/rfc/rfc9111#section-3
//! [RFC 9111 §4]: https://www.rfc-editor.org/rfc/rfc9111#section-4

use std::str::FromStr;

use http::header::CONTENT_LOCATION;
use http::header::{AUTHORIZATION, EXPIRES, SET_COOKIE};
use http::{HeaderMap, Method, StatusCode, Uri};

use super::directives::{FieldNames, MaxStale, RequestDirectives};
use super::freshness::{Freshness, LifetimeSource, freshness, heuristically_cacheable};
use super::{CacheConfig, Stored};
use crate::HttpDate;

/// Why a response may not be stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotStorable {
    /// The method is not `GET` (§3: "the request method is understood by
    /// the cache"), or a `POST` response's `Content-Location` does not name
    /// the target (RFC 9110 §9.3.3).
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
    /// `must-understand` with a status code this cache does not know
    /// (§5.2.2.3, see [`understood_status`]).
    StatusNotUnderstood,
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

/// Whether this cache knows the caching rules of `status`: the final status
/// codes RFC 9110 §15 defines, other than `206` and `304`, which it does not
/// store whole. Only `must-understand` asks (§5.2.2.3); any other final
/// status may be stored under the usual rules.
pub fn understood_status(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200..=205 | 300..=303 | 305 | 307 | 308 | 400..=418 | 421 | 422 | 426 | 500..=505
    )
}

/// Whether a stored `GET` response may answer a request with `method`:
/// `GET`, and `HEAD` (send the stored header fields without the content;
/// RFC 9110 §9.3.2). Other methods never use a stored response here.
pub fn answers_method(method: &Method) -> bool {
    *method == Method::GET || *method == Method::HEAD
}

/// §3: "A cache MUST NOT store a response to a request unless" every
/// condition holds; the first that fails is the reason.
///
/// A `Store` still needs [`super::storable_headers`] applied to the
/// response fields before they are kept.
pub fn storage_decision(
    config: &CacheConfig,
    method: &Method,
    request: &HeaderMap,
    status: StatusCode,
    response: &HeaderMap,
) -> StoreDecision {
    use StoreDecision::DoNotStore;
    // §3: "the request method is understood by the cache". GET only: see
    // the module docs.
    if *method != Method::GET {
        return DoNotStore(NotStorable::Method);
    }
    // §3: "the response status code is final"; 206 and 304 are not stored
    // whole (module docs).
    let final_status = status.as_u16() >= 200
        && status != StatusCode::PARTIAL_CONTENT
        && status != StatusCode::NOT_MODIFIED
        && status.as_u16() < 600;
    if !final_status {
        return DoNotStore(NotStorable::Status);
    }
    let directives = config.response_directives(response);
    // §3: "if the response status code is 206 or 304, or the must-understand
    // cache directive (see Section 5.2.2.3) is present: the cache
    // understands the response status code".
    if directives.must_understand && !understood_status(status) {
        return DoNotStore(NotStorable::StatusNotUnderstood);
    }
    let request_directives = RequestDirectives::from_headers(request);
    // §5.2.2.3: "When a cache that implements the must-understand directive
    // receives a response that includes it, the cache SHOULD ignore the
    // no-store directive if it understands the status code."
    let no_store = directives.no_store && !directives.must_understand;
    // §5.2.2.5: "a cache MUST NOT store any part of either the immediate
    // request or the response"; §5.2.1.5: the request directive says the
    // same.
    if no_store || request_directives.no_store {
        return DoNotStore(NotStorable::NoStore);
    }
    let shared = config.is_shared();
    // §5.2.2.7: unqualified private means "a shared cache MUST NOT store
    // the response"; a qualified one only removes the listed fields
    // (`storable_headers`).
    if shared && directives.private.as_ref().is_some_and(FieldNames::is_all) {
        return DoNotStore(NotStorable::Private);
    }
    // §3.5: "A shared cache MUST NOT use a cached response to a request
    // with an Authorization header field ... to satisfy any other request
    // unless the response contains a Cache-Control field with a response
    // directive (Section 5.2.2) that allows it to be stored by a shared
    // cache": must-revalidate, public or s-maxage.
    if shared
        && request.contains_key(AUTHORIZATION)
        && !(directives.must_revalidate || directives.public || directives.s_maxage.is_some())
    {
        return DoNotStore(NotStorable::Authorization);
    }
    if super::validate::vary_names(response).is_none() {
        return DoNotStore(NotStorable::VaryStar);
    }
    // §3: "the response contains at least one of: a public response
    // directive; a private response directive, if the cache is not shared;
    // an Expires header field; a max-age response directive; if the cache
    // is shared: an s-maxage response directive; a cache extension
    // directive that allows it to be cached; a status code that is defined
    // as heuristically cacheable".
    let explicit =
        (!directives.targeted && response.contains_key(EXPIRES)) || directives.has_explicit_age(shared);
    let permitted = explicit
        || directives.public
        || (!shared && directives.private.is_some())
        || heuristically_cacheable(status);
    if !permitted {
        return DoNotStore(NotStorable::NoFreshnessInformation);
    }
    StoreDecision::Store
}

/// §3 for a response to `POST` on `target` (an absolute URI), to be stored
/// as the response to a later `GET` or `HEAD` of `target`.
///
/// [RFC 9110 §9.3.3]: "Responses to POST requests are only cacheable when
/// they include explicit freshness information (see Section 4.2.1 of
/// \[CACHING\]) and a Content-Location header field that has the same value
/// as the POST's target URI (Section 8.7). A cached POST response can be
/// reused to satisfy a later GET or HEAD request." §8.7: a `Content-Location`
/// that "refers (after conversion to absolute form) to a URI that is the
/// same as the target URI" says the content "is a current representation
/// of that resource". Policy: only `200` and `203`, the statuses whose
/// content is a representation of the target, and every other §3 rule as
/// for `GET` ([`storage_decision`]). A `POST` still invalidates the target
/// first (§4.4, [`super::invalidation_targets`]); this response then
/// replaces what was stored.
///
/// [RFC 9110 §9.3.3]: https://www.rfc-editor.org/rfc/rfc9110#section-9.3.3
pub fn post_storage_decision(
    config: &CacheConfig,
    request: &HeaderMap,
    status: StatusCode,
    response: &HeaderMap,
    target: &Uri,
) -> StoreDecision {
    use StoreDecision::DoNotStore;
    if !matches!(status.as_u16(), 200 | 203) {
        return DoNotStore(NotStorable::Status);
    }
    // §9.3.3: "a Content-Location header field that has the same value as
    // the POST's target URI".
    let mut lines = response.get_all(CONTENT_LOCATION).iter();
    let names_target = match (lines.next(), lines.next()) {
        (Some(line), None) => line
            .to_str()
            .ok()
            .is_some_and(|value| super::invalidate::refers_to(target, value.trim())),
        _ => false,
    };
    if !names_target {
        return DoNotStore(NotStorable::Method);
    }
    // §9.3.3: "explicit freshness information"; `public` or a heuristic
    // is not.
    let directives = config.response_directives(response);
    let explicit = (!directives.targeted && response.contains_key(EXPIRES))
        || directives.has_explicit_age(config.is_shared());
    if !explicit {
        return DoNotStore(NotStorable::NoFreshnessInformation);
    }
    storage_decision(config, &Method::GET, request, status, response)
}

/// Which responses carrying `Set-Cookie` a shared cache stores, of those
/// [`storage_decision`] allows.
///
/// RFC 9111 §3.1: a cache "MUST include all received response header
/// fields ... when storing a response", `Set-Cookie` among them; §7.3: "the
/// Set-Cookie response header field ... does not inhibit caching; a
/// cacheable response with a Set-Cookie header field can be (and often
/// is) used to satisfy subsequent requests to caches". §3 lists when a
/// cache MUST NOT store, never when it must (§2: caching is "an entirely
/// OPTIONAL feature of HTTP"). So storing such a response whole and
/// declining to store it are both conformant; storing it without its
/// `Set-Cookie` is not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SetCookiePolicy {
    /// Never store a response carrying `Set-Cookie` (Varnish's built-in
    /// VCL, nginx's `proxy_cache`, most CDNs).
    Never,
    /// Store it only when the origin declared it reusable: an explicit
    /// freshness lifetime for this cache (`s-maxage` in a shared cache,
    /// `max-age`, `Expires`, or the targeted field's, RFC 9213) that has
    /// not run out when it arrives ([`SetCookiePolicy::allows`]). Never on
    /// heuristic freshness (§4.2.2) or `public` alone, and never a response
    /// that is stale on arrival (`max-age=0`, an `Expires` in the past or
    /// invalid, §5.3), whose every reuse would follow a validation that
    /// hands the stored cookie to the next client.
    #[default]
    Explicit,
    /// Store it like any other response (§3.1).
    Always,
}

impl SetCookiePolicy {
    /// Its name in configuration: `never`, `explicit` or `always`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Never => "never",
            Self::Explicit => "explicit",
            Self::Always => "always",
        }
    }

    /// Whether `stored` (a response [`storage_decision`] allows, its fields
    /// as they would be kept: [`super::storable_headers`] applied, so a
    /// cookie named in `no-cache="Set-Cookie"` or `private="Set-Cookie"` is
    /// already gone) may be stored under this policy. Always true without
    /// `Set-Cookie`.
    pub fn allows(self, config: &CacheConfig, stored: &Stored<'_>) -> bool {
        if !stored.headers.contains_key(SET_COOKIE) {
            return true;
        }
        match self {
            Self::Never => false,
            Self::Always => true,
            Self::Explicit => {
                // §4.2.1: the explicit lifetimes, in the order a cache reads
                // them; the heuristic of §4.2.2 is the cache's guess, not
                // the origin's declaration.
                let f = freshness(config, stored, stored.response_time);
                matches!(
                    f.source,
                    LifetimeSource::SMaxAge | LifetimeSource::MaxAge | LifetimeSource::Expires
                ) && f.is_fresh()
            }
        }
    }
}

/// A [`SetCookiePolicy`] name that is not one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownSetCookiePolicy(pub String);

impl std::fmt::Display for UnknownSetCookiePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown Set-Cookie policy {:?}: expected \"never\", \"explicit\" or \"always\"",
            self.0
        )
    }
}

impl std::error::Error for UnknownSetCookiePolicy {}

impl FromStr for SetCookiePolicy {
    type Err = UnknownSetCookiePolicy;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        [Self::Never, Self::Explicit, Self::Always]
            .into_iter()
            .find(|policy| policy.name() == text)
            .ok_or_else(|| UnknownSetCookiePolicy(text.to_owned()))
    }
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
/// ([`answers_method`]) and `Vary` ([`super::vary_matches`]); check those
/// first. At `now`.
///
/// §4: "When presented with a request, a cache MUST NOT reuse a stored
/// response unless: ... the stored response is one of the following: fresh
/// (see Section 4.2), or allowed to be served stale (see Section 4.2.4), or
/// successfully validated (see Section 4.3)." The first two give `Fresh`,
/// `StaleAllowed` or `StaleWhileRevalidate`; the third is `Revalidate`.
pub fn reuse_decision(
    config: &CacheConfig,
    stored: &Stored<'_>,
    request: &HeaderMap,
    now: HttpDate,
) -> Reuse {
    reuse_decision_with(config, stored, &freshness(config, stored, now), request)
}

/// [`reuse_decision`] for a caller that already has `stored`'s
/// [`Freshness`] at the time of the request (from [`freshness()`], or
/// [`Freshness::after`] on one worked out earlier).
pub fn reuse_decision_with(
    config: &CacheConfig,
    stored: &Stored<'_>,
    f: &Freshness,
    request: &HeaderMap,
) -> Reuse {
    let request = RequestDirectives::from_headers(request);
    let decision = decide(config, stored, f, &request);
    if request.only_if_cached && decision == Reuse::Revalidate {
        // §5.2.1.7: "the cache SHOULD either respond using a stored
        // response consistent with the other constraints of the request or
        // respond with a 504 (Gateway Timeout) status code".
        return Reuse::GatewayTimeout;
    }
    decision
}

/// §5.2.2.4 / §4: the stored response holds a field that `no-cache`
/// withholds until validation (all of it for unqualified `no-cache`).
fn no_cache_applies(stored: &Stored<'_>, f: &Freshness) -> bool {
    match &f.directives.no_cache {
        None => false,
        Some(FieldNames::All) => true,
        Some(FieldNames::Only(names)) => names.iter().any(|n| stored.headers.contains_key(n)),
    }
}

fn decide(config: &CacheConfig, stored: &Stored<'_>, f: &Freshness, request: &RequestDirectives) -> Reuse {
    let age = f.age;
    // §5.2.2.4: "The no-cache response directive, in its unqualified form
    // (without an argument), indicates that the response MUST NOT be used
    // to satisfy any other request without forwarding it for validation and
    // receiving a successful response". The qualified form: see the module
    // docs.
    if no_cache_applies(stored, f) {
        return Reuse::Revalidate;
    }
    // §5.2.1.4: request no-cache: "a cache MUST NOT use a stored response
    // to satisfy the request without successful validation on the origin
    // server".
    if request.no_cache {
        return Reuse::Revalidate;
    }
    // §5.2.1.1: max-age: "the client prefers a response whose age is less
    // than or equal to the specified number of seconds".
    if let Some(max_age) = request.max_age
        && age > max_age
    {
        return Reuse::Revalidate;
    }
    if f.is_fresh() {
        // §5.2.1.3: min-fresh: "the client prefers a response whose
        // freshness lifetime is no less than its current age plus the
        // specified time in seconds".
        return if f.remaining() >= request.min_fresh.unwrap_or(0) {
            Reuse::Fresh { age }
        } else {
            Reuse::Revalidate
        };
    }
    // Stale from here on. §4.2.4: "A cache MUST NOT generate a stale
    // response if it is prohibited by an explicit in-protocol directive
    // (e.g., by a no-cache response directive, a must-revalidate response
    // directive, or an applicable s-maxage or proxy-revalidate response
    // directive)".
    if f.forbids_stale(config.kind) {
        return Reuse::Revalidate;
    }
    let staleness = f.staleness();
    // §5.2.1.2: max-stale: "the client will accept a response that has
    // exceeded its freshness lifetime by no more than the specified number
    // of seconds. If no value is assigned to max-stale, then the client
    // will accept a stale response of any age." min-fresh cannot be met by
    // a stale response, so it rules this out.
    if request.min_fresh.is_none() {
        match request.max_stale {
            Some(MaxStale::Any) => return Reuse::StaleAllowed { age },
            Some(MaxStale::Seconds(limit)) if staleness <= limit => return Reuse::StaleAllowed { age },
            _ => {}
        }
    }
    // RFC 5861 §3: stale-while-revalidate "indicates that caches MAY serve
    // the response in which it appears after it becomes stale, up to the
    // indicated number of seconds". Not when the request asked for a
    // bounded age or freshness.
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
/// (unreachable, or a `500`, `502`, `503` or `504`), per `stale-if-error` in
/// the response or the request (RFC 5861 §4), at `now`. A fresh response
/// always may. Never when a directive forbids serving stale (§4.2.4), when
/// the request has `no-cache`, or while a `no-cache` field is still stored.
pub fn stale_if_error_allows(
    config: &CacheConfig,
    stored: &Stored<'_>,
    request: &HeaderMap,
    now: HttpDate,
) -> bool {
    let f = freshness(config, stored, now);
    let request = RequestDirectives::from_headers(request);
    // §5.2.1.4: the client's no-cache needs "successful validation on the
    // origin server", which an error is not.
    if no_cache_applies(stored, &f) || request.no_cache {
        return false;
    }
    if f.is_fresh() {
        return true;
    }
    if f.forbids_stale(config.kind) {
        return false;
    }
    // RFC 5861 §4: the response directive lets caches serve it stale for
    // that long on error; the request directive says the client accepts
    // that. Either grants; the longer window wins.
    let window = match (f.directives.stale_if_error, request.stale_if_error) {
        (Some(a), Some(b)) => a.max(b),
        (a, b) => a.or(b).unwrap_or(0),
    };
    (f.directives.stale_if_error.is_some() || request.stale_if_error.is_some()) && f.staleness() <= window
}
