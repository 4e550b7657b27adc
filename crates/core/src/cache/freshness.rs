//! Freshness lifetime and age ([RFC 9111 §4.2]).
//!
//! Policies:
//! - A response without a valid `Date` is dated by its arrival: RFC 9110
//!   §6.6.1, "A recipient with a clock that receives a response message
//!   without a Date header field MUST record the time it was received and
//!   append a corresponding Date header field to the message's header
//!   section if it is cached or forwarded downstream".
//! - An `Expires` that is not one valid HTTP-date (`0`, `-1`, two lines)
//!   makes the response stale from the start (§5.3 MUST, quoted below).
//! - `Age` is read as [RFC 9111 §5.1] says: of a list (one line `0, 7200`
//!   or several lines, which RFC 9110 §5.3 makes one list) the first member
//!   counts ("a cache encountering a message with a list-based Age field
//!   value SHOULD use the first member of the field value, discarding
//!   subsequent ones"); a first member that is not delta-seconds (`abc`,
//!   `-7200`, `7200.0`, `7200;foo=bar`) makes the cache ignore the field
//!   ("If the field value (after discarding additional members, as per
//!   above) is invalid ..., a cache SHOULD ignore the field"), so the age
//!   comes from `Date` and the response delay alone (§4.2.3). A value past
//!   2^31 is 2^31 (§1.2.2).
//! - A response from a targeted field (RFC 9213) ignores `Expires`.
//! - `Date`, `Expires` and `Last-Modified` are read by
//!   [`HttpDate::parse_lenient`]: names in any case (§4.2 SHOULD), and a
//!   day name that is not the date's weekday does not make the date
//!   invalid (the grammar only asks for a day name; RFC 9110 §5.6.7
//!   encourages robust parsing), so `Expires: Thu Aug  8 02:01:18 2050` is
//!   8 August 2050, not "already expired".
//! - Heuristic freshness is a [`CacheConfig::heuristic_percent`] of the time
//!   since `Last-Modified`, capped at [`CacheConfig::heuristic_max`], or
//!   the configured [`CacheConfig::heuristic_lifetime`] when there is one.
//! - [`CacheConfig::lifetime_override`], when configured, is the lifetime
//!   whatever the response says (`DEVIATION(ttl-override)`).
//!
//! [RFC 9111 §4.2]: https://www.rfc-editor.org/rfc/rfc9111#section-4.2
//! [RFC 9111 §5.1]: https://www.rfc-editor.org/rfc/rfc9111#section-5.1

use http::header::{AGE, DATE, EXPIRES, LAST_MODIFIED};
use http::{HeaderMap, HeaderValue, StatusCode};

use super::directives::{DELTA_SECONDS_MAX, ResponseDirectives, delta_seconds};
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
    /// §4.2.2 heuristic: from `Last-Modified`, or the configured
    /// [`CacheConfig::heuristic_lifetime`].
    Heuristic,
    /// The configured [`CacheConfig::lifetime_override`]
    /// (`DEVIATION(ttl-override)`).
    Override,
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

    /// The same stored response's freshness `seconds` later. Its lifetime
    /// and directives do not change while it stays stored unchanged; only
    /// its age grows, by the resident time (§4.2.3). A cache that worked
    /// the freshness out once, when the response arrived, gets it for any
    /// later time from this without reading the header fields again.
    pub fn after(&self, seconds: u64) -> Self {
        Self {
            age: self.age.saturating_add(seconds),
            directives: self.directives.clone(),
            ..*self
        }
    }

    /// Seconds of freshness left (0 once stale).
    pub fn remaining(&self) -> u64 {
        self.lifetime.saturating_sub(self.age)
    }

    /// Freshness left in seconds, negative once stale: the RFC 9211 `ttl`
    /// ([`ttl()`] of its lifetime and age).
    pub fn ttl(&self) -> i64 {
        ttl(self.lifetime, self.age)
    }

    /// Whether a directive forbids serving this response stale in a cache
    /// of `kind` (§4.2.4; see [`ResponseDirectives::forbids_stale`]).
    pub fn forbids_stale(&self, kind: CacheKind) -> bool {
        self.directives.forbids_stale(kind == CacheKind::Shared)
    }

    /// The `Age` field to send with the stored response now (§5.1).
    pub fn age_header_value(&self) -> HeaderValue {
        age_header_value(self.age)
    }
}

/// The `Age` field value for an age in seconds: §5.1, "If a cache receives
/// a value larger than the largest positive integer it can represent, or if
/// any of its age calculations overflows, it MUST transmit an Age header
/// field with a value of 2147483648 (2^31)." Ages are capped there.
pub fn age_header_value(age: u64) -> HeaderValue {
    HeaderValue::from(age.min(DELTA_SECONDS_MAX))
}

/// The `ttl` parameter of `Cache-Status` ([RFC 9211 §2.4]): the freshness
/// `lifetime` minus the current `age`, in seconds, negative once stale.
/// Apart from [`Freshness::ttl`] so that a cache holding a stored
/// response's lifetime and a later age need not build a [`Freshness`]
/// (and copy its directives) to label it.
///
/// [RFC 9211 §2.4]: https://www.rfc-editor.org/rfc/rfc9211#section-2.4
pub fn ttl(lifetime: u64, age: u64) -> i64 {
    let lifetime = i64::try_from(lifetime).unwrap_or(i64::MAX);
    let age = i64::try_from(age).unwrap_or(i64::MAX);
    lifetime.saturating_sub(age)
}

/// The freshness of `stored` at `now`.
pub fn freshness(config: &CacheConfig, stored: &Stored<'_>, now: HttpDate) -> Freshness {
    let directives = config.response_directives(stored.headers);
    let (lifetime, source) = lifetime(config, stored, &directives);
    Freshness {
        lifetime,
        source,
        age: current_age(stored, now),
        directives,
    }
}

/// A date field of the stored response: one line holding an HTTP-date,
/// matched case-insensitively ([RFC 9111 §4.2] SHOULD) and without holding
/// a wrong day name against the date (see [`HttpDate::parse_lenient`]).
///
/// [RFC 9111 §4.2]: https://www.rfc-editor.org/rfc/rfc9111#section-4.2
fn date_of(headers: &HeaderMap, name: http::HeaderName) -> Option<u64> {
    let mut lines = headers.get_all(name).iter();
    let (Some(line), None) = (lines.next(), lines.next()) else {
        return None;
    };
    HttpDate::parse_lenient(line.as_bytes())
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
    // DEVIATION(ttl-override): an operator's override replaces §4.2.1's
    // explicit lifetime (see `CacheConfig::lifetime_override`).
    if let Some(lifetime) = config.lifetime_override {
        return (lifetime, LifetimeSource::Override);
    }
    if config.kind == CacheKind::Shared
        && let Some(s_maxage) = directives.s_maxage
    {
        return (s_maxage, LifetimeSource::SMaxAge);
    }
    if let Some(max_age) = directives.max_age {
        return (max_age, LifetimeSource::MaxAge);
    }
    let date = date_of(stored.headers, DATE).unwrap_or(stored.response_time.unix_seconds());
    if !directives.targeted && stored.headers.contains_key(EXPIRES) {
        // §5.3: "A cache recipient MUST interpret invalid date formats,
        // especially the value "0", as representing a time in the past
        // (i.e., "already expired")."
        return match date_of(stored.headers, EXPIRES) {
            Some(expires) => (expires.saturating_sub(date), LifetimeSource::Expires),
            None => (0, LifetimeSource::Expires),
        };
    }
    // §4.2.2: "a cache MUST NOT use heuristics to determine freshness when
    // an explicit expiration time is present in the stored response" (the
    // returns above), and heuristics are for statuses "defined as
    // heuristically cacheable" or responses "marked explicitly cacheable
    // (e.g., with a public response directive)".
    let heuristic_allowed = heuristically_cacheable(stored.status) || directives.public;
    if heuristic_allowed && let Some(lifetime) = config.heuristic_lifetime {
        return (lifetime, LifetimeSource::Heuristic);
    }
    if heuristic_allowed && let Some(modified) = date_of(stored.headers, LAST_MODIFIED) {
        let heuristic = date
            .saturating_sub(modified)
            .saturating_mul(config.heuristic_percent)
            / 100;
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
/// `Age` is read as described in the module docs ([RFC 9111 §5.1]):
/// absent or invalid is 0, otherwise its first member.
///
/// [RFC 9111 §5.1]: https://www.rfc-editor.org/rfc/rfc9111#section-5.1
pub fn current_age(stored: &Stored<'_>, now: HttpDate) -> u64 {
    let response_time = stored.response_time.unix_seconds();
    let age_value = age_value(stored.headers);
    let date_value = date_of(stored.headers, DATE).unwrap_or(response_time);
    let apparent_age = response_time.saturating_sub(date_value);
    let response_delay = stored.response_time.seconds_since(stored.request_time);
    let corrected_age_value = age_value.saturating_add(response_delay);
    let corrected_initial_age = apparent_age.max(corrected_age_value);
    let resident_time = now.seconds_since(stored.response_time);
    corrected_initial_age.saturating_add(resident_time)
}

/// The `age_value` of §4.2.3 from the stored `Age` field: its first list
/// member ([RFC 9111 §5.1] SHOULD), empty members skipped as RFC 9110
/// §5.6.1.2 asks of list recipients; 0 when absent or when that member is
/// not delta-seconds (§5.1: "a cache SHOULD ignore the field").
///
/// [RFC 9111 §5.1]: https://www.rfc-editor.org/rfc/rfc9111#section-5.1
pub fn age_value(headers: &HeaderMap) -> u64 {
    let first = headers
        .get_all(AGE)
        .iter()
        .flat_map(|line| line.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .find(|member| !member.is_empty());
    first
        .and_then(|member| std::str::from_utf8(member).ok())
        .and_then(delta_seconds)
        .unwrap_or(0)
}
