//! The RFC 9111 decisions the client needs, as pure functions over header
//! maps and times.
//!
//! TODO(core-cache): every function here is a local shim for what
//! `revalidate_core::cache` is being written to provide (directive parsing,
//! the storage decision for a private cache, freshness and age, the reuse
//! decision, Vary matching, the conditional request and the 304 header
//! update). When it lands, this module shrinks to calls into it; the
//! client shell in [`crate::client`] does not change.

use std::time::{Duration, SystemTime};

use http::header::{
    AGE, CACHE_CONTROL, CONNECTION, CONTENT_LENGTH, DATE, ETAG, EXPIRES, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    LAST_MODIFIED, PRAGMA, TRANSFER_ENCODING, UPGRADE, VARY,
};
use http::{HeaderMap, HeaderName, Method, StatusCode};
use revalidate_core::{EntityTag, HttpDate};

use crate::store::StoredResponse;

/// "If a cache receives a delta-seconds value greater than the greatest
/// integer it can represent, or if any of its subsequent calculations
/// overflows, the cache MUST consider the value to be 2147483648 (2^31)"
/// ([RFC 9111 §1.2.2](https://www.rfc-editor.org/rfc/rfc9111#section-1.2.2)).
const DELTA_SECONDS_MAX: u64 = 2_147_483_648;

/// The heuristic freshness cap: 10% of the time since Last-Modified, but
/// never more than a day.
const HEURISTIC_CAP: Duration = Duration::from_secs(24 * 60 * 60);

/// Cache-Control directives, lower-cased names with optional values.
/// TODO(core-cache): `revalidate_core::cache` directives parsing.
#[derive(Clone, Debug, Default)]
pub(crate) struct Directives(Vec<(String, Option<String>)>);

impl Directives {
    pub(crate) fn from_headers(headers: &HeaderMap) -> Self {
        let mut directives = Vec::new();
        for line in headers.get_all(CACHE_CONTROL) {
            let Ok(line) = line.to_str() else { continue };
            for member in split_outside_quotes(line) {
                let (name, value) = match member.split_once('=') {
                    Some((name, value)) => (name.trim(), Some(unquote(value.trim()))),
                    None => (member.trim(), None),
                };
                if !name.is_empty() {
                    directives.push((name.to_ascii_lowercase(), value));
                }
            }
        }
        Self(directives)
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }

    /// The first occurrence's delta-seconds; `Some(None)` when present but
    /// invalid.
    pub(crate) fn seconds(&self, name: &str) -> Option<Option<u64>> {
        let (_, value) = self.0.iter().find(|(n, _)| n == name)?;
        Some(value.as_deref().and_then(delta_seconds))
    }
}

fn split_outside_quotes(line: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&line[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&line[start..]);
    parts
}

fn unquote(value: &str) -> String {
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                out.push(if c == '\\' {
                    chars.next().unwrap_or('\\')
                } else {
                    c
                });
            }
            out
        }
        None => value.to_owned(),
    }
}

fn delta_seconds(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(
        value
            .parse::<u64>()
            .map_or(DELTA_SECONDS_MAX, |v| v.min(DELTA_SECONDS_MAX)),
    )
}

fn date_field(headers: &HeaderMap, name: HeaderName) -> Option<HttpDate> {
    HttpDate::from_field(headers.get_all(name).iter()).ok()
}

/// Status codes that are heuristically cacheable
/// ([RFC 9110 §15.1](https://www.rfc-editor.org/rfc/rfc9110#section-15.1)).
fn heuristically_cacheable(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200 | 203 | 204 | 206 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// Whether a private cache may store this response
/// ([RFC 9111 §3](https://www.rfc-editor.org/rfc/rfc9111#section-3)).
/// `Authorization` and `private` do not prevent it: those rules bind
/// shared caches only (§3.5, §5.2.2.7).
/// TODO(core-cache): `storage_decision` with `CacheKind::Private`.
pub(crate) fn may_store(
    method: &Method,
    request: &HeaderMap,
    status: StatusCode,
    response: &HeaderMap,
) -> bool {
    let request_cc = Directives::from_headers(request);
    let response_cc = Directives::from_headers(response);
    // §3: "the request method is understood by the cache" — only GET here.
    let understood = *method == Method::GET;
    // §3: "the response status code is final"; 206 and 304 are never
    // stored whole (this cache does not combine partial content).
    let final_status =
        status.as_u16() >= 200 && status != StatusCode::PARTIAL_CONTENT && status != StatusCode::NOT_MODIFIED;
    // §5.2.1.5, §5.2.2.5: no-store in either message.
    let no_store = request_cc.has("no-store") || response_cc.has("no-store");
    // §3: the response must give some reason to store it.
    let allowed = response.contains_key(EXPIRES)
        || response_cc.has("max-age")
        || response_cc.has("public")
        || response_cc.has("private")
        || heuristically_cacheable(status);
    understood && final_status && !no_store && allowed
}

/// The freshness lifetime ([RFC 9111 §4.2.1](https://www.rfc-editor.org/rfc/rfc9111#section-4.2.1)).
/// TODO(core-cache): freshness lifetime.
pub(crate) fn freshness_lifetime(stored: &StoredResponse) -> Duration {
    let cc = Directives::from_headers(&stored.headers);
    // A private cache ignores s-maxage. An invalid max-age makes the
    // response stale: "a cache SHOULD consider responses with invalid
    // freshness information to be stale" (§4.2.1).
    if let Some(max_age) = cc.seconds("max-age") {
        return Duration::from_secs(max_age.unwrap_or(0));
    }
    if stored.headers.contains_key(EXPIRES) {
        let Some(expires) = date_field(&stored.headers, EXPIRES) else {
            // §5.3: "A cache recipient MUST interpret invalid date formats,
            // especially the value "0", as representing a time in the past".
            return Duration::ZERO;
        };
        let date = date_field(&stored.headers, DATE)
            .or_else(|| HttpDate::from_system_time(stored.response_time).ok());
        return match date {
            Some(date) => Duration::from_secs(expires.seconds_since(date)),
            None => Duration::ZERO,
        };
    }
    // §4.2.2 heuristic freshness, only where allowed.
    if heuristically_cacheable(stored.status) || cc.has("public") {
        let date = date_field(&stored.headers, DATE)
            .or_else(|| HttpDate::from_system_time(stored.response_time).ok());
        if let (Some(date), Some(modified)) = (date, date_field(&stored.headers, LAST_MODIFIED)) {
            return Duration::from_secs(date.seconds_since(modified) / 10).min(HEURISTIC_CAP);
        }
    }
    Duration::ZERO
}

/// The current age ([RFC 9111 §4.2.3](https://www.rfc-editor.org/rfc/rfc9111#section-4.2.3)).
/// TODO(core-cache): age calculation.
pub(crate) fn current_age(stored: &StoredResponse, now: SystemTime) -> Duration {
    let age_value = stored
        .headers
        .get(AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(delta_seconds)
        .map_or(Duration::ZERO, Duration::from_secs);
    let date_value = date_field(&stored.headers, DATE).map(HttpDate::to_system_time);
    let apparent_age = date_value
        .and_then(|date| stored.response_time.duration_since(date).ok())
        .unwrap_or(Duration::ZERO);
    let response_delay = stored
        .response_time
        .duration_since(stored.request_time)
        .unwrap_or(Duration::ZERO);
    let corrected_age_value = age_value.saturating_add(response_delay);
    let corrected_initial_age = apparent_age.max(corrected_age_value);
    let resident_time = now.duration_since(stored.response_time).unwrap_or(Duration::ZERO);
    corrected_initial_age.saturating_add(resident_time)
}

/// What to do with a stored response that matches a request.
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

/// Whether a stored response can be served as is
/// ([RFC 9111 §4](https://www.rfc-editor.org/rfc/rfc9111#section-4), §4.2, §5.2).
/// TODO(core-cache): `reuse_decision`.
pub(crate) fn reuse(request: &HeaderMap, stored: &StoredResponse, now: SystemTime) -> Reuse {
    let request_cc = Directives::from_headers(request);
    let response_cc = Directives::from_headers(&stored.headers);
    let age = current_age(stored, now);
    let lifetime = freshness_lifetime(stored);
    // §5.2.2.4: no-cache on the response: "the response MUST NOT be used to
    // satisfy any other request without forwarding it for validation".
    // A qualified no-cache="field" is treated as unqualified (conservative).
    if response_cc.has("no-cache") {
        return Reuse::Revalidate;
    }
    // §5.2.1.4: request no-cache asks for validation; §5.4: Pragma: no-cache
    // counts only when there is no Cache-Control.
    let pragma_no_cache = !request.contains_key(CACHE_CONTROL)
        && request.get_all(PRAGMA).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.to_ascii_lowercase().contains("no-cache"))
        });
    if request_cc.has("no-cache") || pragma_no_cache {
        return Reuse::Revalidate;
    }
    // §5.2.1.1 max-age: the client will not accept an older response.
    if let Some(max_age) = request_cc.seconds("max-age")
        && age > Duration::from_secs(max_age.unwrap_or(0))
    {
        return Reuse::Revalidate;
    }
    // §5.2.1.3 min-fresh: it must stay fresh at least this long.
    if let Some(min_fresh) = request_cc.seconds("min-fresh")
        && lifetime.saturating_sub(age) < Duration::from_secs(min_fresh.unwrap_or(DELTA_SECONDS_MAX))
    {
        return Reuse::Revalidate;
    }
    if lifetime > age {
        return Reuse::Fresh { age };
    }
    // §5.2.2.2 must-revalidate: "the cache MUST NOT use the response to
    // satisfy subsequent requests without successful validation".
    let may_serve_stale = !response_cc.has("must-revalidate")
        && match request_cc.seconds("max-stale") {
            // §5.2.1.2: max-stale without a value accepts any staleness.
            Some(None) => request_cc.0.iter().any(|(n, v)| n == "max-stale" && v.is_none()),
            Some(Some(limit)) => age.saturating_sub(lifetime) <= Duration::from_secs(limit),
            None => false,
        };
    if may_serve_stale {
        Reuse::Fresh { age }
    } else {
        Reuse::Revalidate
    }
}

fn combined(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut values = headers.get_all(name).iter().peekable();
    values.peek()?;
    let parts: Vec<String> = values
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
        .collect();
    Some(parts.join(","))
}

/// The field names listed by `Vary`, lower-cased; `None` for `Vary: *`.
fn vary_names(headers: &HeaderMap) -> Option<Vec<String>> {
    let mut names = Vec::new();
    for line in headers.get_all(VARY) {
        for name in String::from_utf8_lossy(line.as_bytes()).split(',') {
            let name = name.trim().to_ascii_lowercase();
            if name == "*" {
                return None;
            }
            if !name.is_empty() {
                names.push(name);
            }
        }
    }
    Some(names)
}

/// The request header fields a response's `Vary` names, kept as its
/// secondary key.
pub(crate) fn secondary_key(response: &HeaderMap, request: &HeaderMap) -> HeaderMap {
    let mut key = HeaderMap::new();
    for name in vary_names(response).unwrap_or_default() {
        let Ok(name) = HeaderName::try_from(name) else {
            continue;
        };
        for value in request.get_all(&name) {
            key.append(name.clone(), value.clone());
        }
    }
    key
}

/// Whether a stored response was selected by a request like this one
/// ([RFC 9111 §4.1](https://www.rfc-editor.org/rfc/rfc9111#section-4.1)):
/// every field its `Vary` names must match, after combining lines and
/// trimming whitespace; "A stored response with a Vary header field value
/// containing a member "*" always fails to match".
/// TODO(core-cache): Vary matching.
pub(crate) fn vary_matches(stored: &StoredResponse, request: &HeaderMap) -> bool {
    let Some(names) = vary_names(&stored.headers) else {
        return false;
    };
    names
        .iter()
        .all(|name| combined(&stored.request_headers, name) == combined(request, name))
}

/// The validators to send when revalidating a stored response
/// ([RFC 9111 §4.3.1](https://www.rfc-editor.org/rfc/rfc9111#section-4.3.1)).
/// TODO(core-cache): `conditional_request_headers`.
pub(crate) fn conditional_headers(stored: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(tag) = stored.get(ETAG).and_then(|v| EntityTag::from_header(v).ok()) {
        headers.insert(IF_NONE_MATCH, tag.to_header_value());
    }
    if let Some(modified) = date_field(stored, LAST_MODIFIED) {
        headers.insert(IF_MODIFIED_SINCE, modified.to_header_value());
    }
    headers
}

/// Whether a 304 validates this stored response
/// ([RFC 9111 §4.3.4](https://www.rfc-editor.org/rfc/rfc9111#section-4.3.4)):
/// with a strong entity-tag in the 304, the stored one must be the same; a
/// 304 without an ETag matches the response we asked about.
/// TODO(core-cache): `on_validation_response`.
pub(crate) fn not_modified_selects(stored: &HeaderMap, not_modified: &HeaderMap) -> bool {
    let tag = |h: &HeaderMap| h.get(ETAG).and_then(|v| EntityTag::from_header(v).ok());
    match (tag(not_modified), tag(stored)) {
        (Some(new), Some(old)) => new.strong_eq(&old) || (new.is_weak() && new.weak_eq(&old)),
        (Some(_), None) => false,
        (None, _) => true,
    }
}

/// Fields a cache does not store or update: hop-by-hop fields (§3.1), and
/// `Content-Length`, which a 304 does not describe (§3.2).
fn not_updated(name: &HeaderName) -> bool {
    *name == CONNECTION
        || *name == TRANSFER_ENCODING
        || *name == UPGRADE
        || *name == CONTENT_LENGTH
        || matches!(
            name.as_str(),
            "keep-alive"
                | "proxy-connection"
                | "te"
                | "trailer"
                | "proxy-authenticate"
                | "proxy-authorization"
        )
}

/// Drops what a cache must not store (§3.1).
pub(crate) fn storable_headers(mut headers: HeaderMap) -> HeaderMap {
    let named_by_connection: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .flat_map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .filter_map(|name| HeaderName::try_from(name).ok())
        .collect();
    for name in named_by_connection {
        headers.remove(name);
    }
    for name in [
        CONNECTION,
        TRANSFER_ENCODING,
        UPGRADE,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
        HeaderName::from_static("te"),
        HeaderName::from_static("trailer"),
    ] {
        headers.remove(name);
    }
    headers
}

/// Applies a 304's fields to the stored response
/// ([RFC 9111 §3.2](https://www.rfc-editor.org/rfc/rfc9111#section-3.2)):
/// "the cache MUST add each header field in the provided response to the
/// stored response, replacing field values that are already present",
/// except the fields of [`not_updated`].
/// TODO(core-cache): `update_stored_headers`.
pub(crate) fn update_headers(stored: &mut HeaderMap, not_modified: &HeaderMap) {
    let mut replaced: Vec<&HeaderName> = Vec::new();
    for (name, value) in not_modified {
        if not_updated(name) {
            continue;
        }
        if !replaced.contains(&name) {
            stored.remove(name);
            replaced.push(name);
        }
        stored.append(name.clone(), value.clone());
    }
}
