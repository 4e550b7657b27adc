//! Freshness lifetime and age ([RFC 9111 §4.2]).
//!
//! Policies:
//! - A response without `Date` is dated by its arrival (§4.2.1 lets the
//!   cache use "the time at which the message was received").
//! - Heuristic freshness is a [`CacheConfig::heuristic_percent`] of the time
//!   since `Last-Modified`, capped at [`CacheConfig::heuristic_max`].
//!
//! [RFC 9111 §4.2]: https://www.rfc-editor.org/rfc/rfc9111#section-4.2

use http::header::{AGE, DATE, EXPIRES, LAST_MODIFIED};
use http::{HeaderMap, StatusCode};

use super::directives::{ResponseDirectives, delta_seconds};
use super::{CacheConfig, CacheKind, Stored};
use crate::HttpDate;

/// Where the freshness lifetime came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LifetimeSource {
    /// `s-maxage` (shared caches only).
    SMaxAge,
    /// `max-age`.
    MaxAge,
    /// `Expires` − `Date`.
    Expires,
    /// §4.2.2 heuristic from `Last-Modified`.
    Heuristic,
    /// Nothing: the response is stale from the start.
    None,
}

/// A stored response's freshness at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Freshness {
    /// The freshness lifetime, seconds.
    pub lifetime: u64,
    /// Where it came from.
    pub source: LifetimeSource,
    /// The current age, seconds (§4.2.3).
    pub age: u64,
    /// The response's directives as this cache reads them.
    pub directives: ResponseDirectives,
}

impl Freshness {
    /// §4.2: "fresh if its age has not yet exceeded its freshness lifetime".
    pub fn is_fresh(&self) -> bool {
        self.age < self.lifetime
    }

    /// Seconds past the lifetime (0 while fresh).
    pub fn staleness(&self) -> u64 {
        self.age.saturating_sub(self.lifetime)
    }

    /// Seconds of freshness left (0 once stale).
    pub fn remaining(&self) -> u64 {
        self.lifetime.saturating_sub(self.age)
    }
}

/// The freshness of `stored` at `now`.
pub fn freshness(config: &CacheConfig, stored: &Stored<'_>, now: u64) -> Freshness {
    let directives = config.response_directives(stored.headers);
    let (lifetime, source) = lifetime(config, stored, &directives);
    Freshness {
        lifetime,
        source,
        age: current_age(stored, now),
        directives,
    }
}

fn date_of(headers: &HeaderMap, name: http::HeaderName) -> Option<u64> {
    HttpDate::from_field(headers.get_all(name))
        .ok()
        .map(HttpDate::unix_seconds)
}

/// §4.2.1 in its order: `s-maxage` (shared), `max-age`, `Expires` − `Date`,
/// then the §4.2.2 heuristic.
fn lifetime(
    config: &CacheConfig,
    stored: &Stored<'_>,
    directives: &ResponseDirectives,
) -> (u64, LifetimeSource) {
    if config.kind == CacheKind::Shared
        && let Some(s_maxage) = directives.s_maxage
    {
        return (s_maxage, LifetimeSource::SMaxAge);
    }
    if let Some(max_age) = directives.max_age {
        return (max_age, LifetimeSource::MaxAge);
    }
    let date = date_of(stored.headers, DATE).unwrap_or(stored.response_time);
    if stored.headers.contains_key(EXPIRES) {
        // §5.3: "A cache recipient MUST interpret invalid date formats,
        // especially the value "0", as representing a time in the past
        // (i.e., "already expired")."
        return match date_of(stored.headers, EXPIRES) {
            Some(expires) => (expires.saturating_sub(date), LifetimeSource::Expires),
            None => (0, LifetimeSource::Expires),
        };
    }
    // §4.2.2: "a cache MUST NOT use heuristics to determine freshness when
    // an explicit expiration time is present"; only heuristically
    // cacheable statuses, or responses marked public.
    if (heuristically_cacheable(stored.status) || directives.public)
        && let Some(modified) = date_of(stored.headers, LAST_MODIFIED)
    {
        let heuristic = date.saturating_sub(modified) * config.heuristic_percent / 100;
        return (heuristic.min(config.heuristic_max), LifetimeSource::Heuristic);
    }
    (0, LifetimeSource::None)
}

/// Status codes "defined as heuristically cacheable" (RFC 9110 §15.1).
pub fn heuristically_cacheable(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200 | 203 | 204 | 206 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// The current age, exactly the §4.2.3 calculation:
///
/// ```text
/// apparent_age = max(0, response_time - date_value);
/// response_delay = response_time - request_time;
/// corrected_age_value = age_value + response_delay;
/// corrected_initial_age = max(apparent_age, corrected_age_value);
/// resident_time = now - response_time;
/// current_age = corrected_initial_age + resident_time;
/// ```
///
/// An `Age` that is not a valid delta-seconds counts as absent (§5.1: "a
/// cache SHOULD ignore" invalid values); with several values, the first.
pub fn current_age(stored: &Stored<'_>, now: u64) -> u64 {
    let age_value = stored
        .headers
        .get(AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| delta_seconds(v.split(',').next().unwrap_or("").trim()))
        .unwrap_or(0);
    let date_value = date_of(stored.headers, DATE).unwrap_or(stored.response_time);
    let apparent_age = stored.response_time.saturating_sub(date_value);
    let response_delay = stored.response_time.saturating_sub(stored.request_time);
    let corrected_age_value = age_value.saturating_add(response_delay);
    let corrected_initial_age = apparent_age.max(corrected_age_value);
    let resident_time = now.saturating_sub(stored.response_time);
    corrected_initial_age.saturating_add(resident_time)
}
