//! `Vary` ([RFC 9111 §4.1]), the conditional request ([§4.3.1]), the 304
//! that answers it ([§4.3.4]) and how it updates the stored fields
//! ([§3.2]), and the fields a cache never stores ([§3.1]).
//!
//! Policies:
//! - `Vary` values are compared after normalising them, which §4.1 allows
//!   ("by combining multiple header fields with the same field name ... or
//!   normalizing both header field values in a way that is known to have
//!   identical semantics according to the header field's specification"):
//!   every field's lines are combined and each comma-separated element is
//!   trimmed of whitespace (case kept); `Accept-Encoding`, `Accept-Language`
//!   and `Accept-Charset`, whose members are case-insensitive tokens with
//!   optional weights (RFC 9110 §12.5), are also lowercased, stripped of
//!   whitespace inside a member and sorted, so `en, de` matches `De, EN`.
//!   Sorting treats members of equal weight as unordered, as RFC 9110 §12.4.2
//!   weights do. cache-tests.fyi `vary-normalise-lang-select` (a request
//!   whose negotiation would pick the stored `Content-Language`) is not met:
//!   that needs the origin's negotiation rules.
//! - A field a request lacks differs from the same field sent empty.
//! - A 304 with an entity-tag refreshes the stored response whose tag it
//!   names (strong comparison for strong tags, weak for weak, §4.3.4); one
//!   without a tag refreshes the response whose validators were sent.
//!
//! [RFC 9111 §4.1]: https://www.rfc-editor.org/rfc/rfc9111#section-4.1
//! [§4.3.1]: https://www.rfc-editor.org/rfc/rfc9111#section-4.3.1
//! [§4.3.4]: https://www.rfc-editor.org/rfc/rfc9111#section-4.3.4
//! [§3.2]: https://www.rfc-editor.org/rfc/rfc9111#section-3.2
//! [§3.1]: https://www.rfc-editor.org/rfc/rfc9111#section-3.1

use http::header::{
    CONNECTION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    IF_RANGE, LAST_MODIFIED, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, RANGE, TE, TRAILER, TRANSFER_ENCODING,
    UPGRADE, VARY,
};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use super::directives::FieldNames;
use super::{CacheConfig, Stored};
use crate::{EntityTag, HttpDate, Validators};

/// The field names a response's `Vary` lists (lowercased), or `None` for
/// `Vary: *`.
pub fn vary_names(response: &HeaderMap) -> Option<Vec<HeaderName>> {
    let mut names = Vec::new();
    for line in response.get_all(VARY) {
        let Ok(line) = line.to_str() else { continue };
        for name in line.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "*" {
                return None;
            }
            if let Ok(name) = HeaderName::from_bytes(name.as_bytes())
                && !names.contains(&name)
            {
                names.push(name);
            }
        }
    }
    Some(names)
}

/// Fields whose list members are case-insensitive and unordered apart from
/// their weights (RFC 9110 §12.5.1, §12.5.3, §12.5.4).
fn is_unordered_token_list(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "accept-encoding" | "accept-language" | "accept-charset"
    )
}

/// All lines of `name` in `headers`, combined and normalised (module
/// docs), or `None` when absent.
fn normalised(headers: &HeaderMap, name: &HeaderName) -> Option<Vec<u8>> {
    if !headers.contains_key(name) {
        return None;
    }
    let unordered = is_unordered_token_list(name);
    let mut elements: Vec<Vec<u8>> = Vec::new();
    for line in headers.get_all(name) {
        for element in line.as_bytes().split(|&b| b == b',') {
            let element = element.trim_ascii();
            if element.is_empty() {
                continue;
            }
            if unordered {
                let mut compact: Vec<u8> = element
                    .iter()
                    .filter(|b| !b.is_ascii_whitespace())
                    .map(u8::to_ascii_lowercase)
                    .collect();
                compact.shrink_to_fit();
                elements.push(compact);
            } else {
                elements.push(element.to_vec());
            }
        }
    }
    if unordered {
        elements.sort();
    }
    Some(elements.join(&b", "[..]))
}

/// §4.1: the request fields `response`'s `Vary` names, copied from
/// `request` as they are: what a cache keeps beside a stored response so
/// that [`vary_matches`] can compare a later request with the one that
/// chose it. Empty for `Vary: *` (which never matches) and for a response
/// without `Vary`.
pub fn vary_request_fields(response: &HeaderMap, request: &HeaderMap) -> HeaderMap {
    let mut fields = HeaderMap::new();
    for name in vary_names(response).unwrap_or_default() {
        for value in request.get_all(&name) {
            fields.append(name.clone(), value.clone());
        }
    }
    fields
}

/// §4.1: whether a new request matches the request that a stored response
/// was chosen for, on every field its `Vary` names. `stored_request` needs
/// only those fields. `Vary: *` never matches.
pub fn vary_matches(stored_response: &HeaderMap, stored_request: &HeaderMap, request: &HeaderMap) -> bool {
    let Some(names) = vary_names(stored_response) else {
        return false;
    };
    names
        .iter()
        .all(|name| normalised(stored_request, name) == normalised(request, name))
}

/// A storage key suffix for the variant `request` selects under the
/// response's `Vary`: the normalised values of the named fields, so two
/// requests get the same key exactly when [`vary_matches`] would say so.
/// `None` for `Vary: *`.
pub fn secondary_key(response: &HeaderMap, request: &HeaderMap) -> Option<String> {
    let names = vary_names(response)?;
    let mut key = String::new();
    for name in names {
        key.push_str(name.as_str());
        match normalised(request, &name) {
            Some(value) => {
                key.push('=');
                // Percent-escape so no value can forge a separator.
                for &b in &value {
                    if b.is_ascii_alphanumeric() || b" -_.,;=/*+".contains(&b) {
                        key.push(char::from(b));
                    } else {
                        key.push_str(&format!("%{b:02X}"));
                    }
                }
            }
            None => key.push('!'),
        }
        key.push('\n');
    }
    Some(key)
}

/// §4.3.1: the validators to send when revalidating `stored`: its
/// entity-tag in `If-None-Match` ("the cache SHOULD generate an
/// If-None-Match header field containing all of the entity tags"), and its
/// `Last-Modified` in `If-Modified-Since`.
pub fn conditional_request_headers<'a>(stored: impl IntoIterator<Item = &'a HeaderMap>) -> HeaderMap {
    let mut tags: Vec<HeaderValue> = Vec::new();
    let mut modified: Option<HttpDate> = None;
    for headers in stored {
        if let Some(tag) = headers.get(ETAG).and_then(|v| EntityTag::from_header(v).ok()) {
            let value = tag.to_header_value();
            if !tags.contains(&value) {
                tags.push(value);
            }
        }
        if let Ok(date) = HttpDate::from_field(headers.get_all(LAST_MODIFIED)) {
            modified = Some(modified.map_or(date, |m| m.max(date)));
        }
    }
    let mut out = HeaderMap::new();
    if !tags.is_empty() {
        let joined = tags
            .iter()
            .map(|t| String::from_utf8_lossy(t.as_bytes()).into_owned())
            .collect::<Vec<_>>()
            .join(", ");
        if let Ok(value) = HeaderValue::from_str(&joined) {
            out.insert(IF_NONE_MATCH, value);
        }
    }
    if let Some(date) = modified {
        out.insert(IF_MODIFIED_SINCE, date.to_header_value());
    }
    out
}

/// §4.3.1 for a cache revalidating on behalf of a client: the client's
/// `request` header fields with its own `If-None-Match` and
/// `If-Modified-Since` replaced by the validators of the `stored`
/// responses ([`conditional_request_headers`]), and `Range` / `If-Range`
/// removed, so the origin's answer is a `304` or a full response the cache
/// can store. The cache then answers the client's own conditionals and
/// range from the refreshed stored response (§4.3.2). Hop-by-hop fields are
/// the caller's concern (they belong to the client's connection).
pub fn revalidation_request_headers<'a>(
    stored: impl IntoIterator<Item = &'a HeaderMap>,
    request: &HeaderMap,
) -> HeaderMap {
    let mut out = request.clone();
    for name in [IF_NONE_MATCH, IF_MODIFIED_SINCE, RANGE, IF_RANGE] {
        out.remove(name);
    }
    for (name, value) in &conditional_request_headers(stored) {
        out.insert(name.clone(), value.clone());
    }
    out
}

/// §4.3.2: the validators a cache compares a client's conditional request
/// against when it answers from `stored`: its `ETag`, and its
/// `Last-Modified`, or else its `Date`, or else the time it arrived ("If a
/// request contains an If-Modified-Since header field and the Last-Modified
/// header field is not present in a stored response, a cache SHOULD use the
/// stored response's Date field value (or, if no Date field is present, the
/// time that the stored response was received) to evaluate the
/// conditional"). Pass the result to [`crate::Preconditions::evaluate`].
pub fn stored_validators(stored: &Stored<'_>) -> Validators {
    let from_headers = Validators::from_response_headers(stored.headers);
    let mut validators = Validators::new();
    if let Some(tag) = from_headers.etag() {
        validators = validators.with_etag(tag.clone());
    }
    let received = Some(stored.response_time);
    if let Some(modified) = from_headers.last_modified().or(from_headers.date()).or(received) {
        validators = validators.with_last_modified(modified);
    }
    if let Some(date) = from_headers.date().or(received) {
        validators = validators.with_date(date);
    }
    validators
}

/// What the origin's answer to a validation request means for the stored
/// response (§4.3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validation {
    /// A `304` that selects the stored response (§4.3.4): update its header
    /// fields with [`update_stored_headers`], restart its age clock
    /// (`request_time`, `response_time` of this exchange) and serve it.
    NotModified,
    /// A `304` whose validators name a different response: "If none of the
    /// stored responses contain at least one of the same strong validators,
    /// then the cache MUST NOT use the new response to update any stored
    /// responses" (§4.3.4). Fetch again without conditionals.
    NotModifiedMismatch,
    /// A `5xx`: "the cache can send a previously stored response, subject to
    /// its constraints on doing so" (§4.3.3), that is when
    /// [`super::stale_if_error_allows`] says so; otherwise forward this one.
    ServerError,
    /// A full response: "the cache MUST use the full response to satisfy
    /// the request" (§4.3.3), and may store it in place of the old one.
    Replace,
}

/// §4.3.3: classifies the `status` and `response` fields the origin sent
/// for a validation request about `stored` (the stored response's fields).
/// `asked` is whether this cache sent the validators of `stored` (see
/// [`not_modified_selects`]).
pub fn on_validation_response(
    status: StatusCode,
    response: &HeaderMap,
    stored: &HeaderMap,
    asked: bool,
) -> Validation {
    if status == StatusCode::NOT_MODIFIED {
        return if not_modified_selects(stored, response, asked) {
            Validation::NotModified
        } else {
            Validation::NotModifiedMismatch
        };
    }
    if status.is_server_error() {
        return Validation::ServerError;
    }
    Validation::Replace
}

/// §4.3.5: whether a `200` answer to `HEAD` may freshen the stored `GET`
/// response: "the cache SHOULD update the stored response's header fields
/// ... if: the stored response's validators (if any) match the HEAD
/// response's, ... and the Content-Length (if present) matches". An
/// entity-tag is compared strongly (weakly when either is weak), then
/// `Last-Modified`, then `Content-Length`; each only when both have it.
pub fn head_freshens(stored: &HeaderMap, head: &HeaderMap) -> bool {
    let tag = |h: &HeaderMap| h.get(ETAG).and_then(|v| EntityTag::from_header(v).ok());
    if let (Some(new), Some(old)) = (tag(head), tag(stored)) {
        let same = if new.is_weak() || old.is_weak() {
            new.weak_eq(&old)
        } else {
            new.strong_eq(&old)
        };
        if !same {
            return false;
        }
    }
    let date = |h: &HeaderMap| HttpDate::from_field(h.get_all(LAST_MODIFIED)).ok();
    if let (Some(new), Some(old)) = (date(head), date(stored))
        && new != old
    {
        return false;
    }
    match (head.get(CONTENT_LENGTH), stored.get(CONTENT_LENGTH)) {
        (Some(new), Some(old)) => new == old,
        _ => true,
    }
}

/// §4.3.4: whether a 304 refreshes this stored response. With a strong
/// tag in the 304: "the cache MUST ... select all of the stored responses
/// with the same strong validator"; with a weak one, the stored response
/// with the same (weak) tag; without a tag but with `Last-Modified`, a
/// stored response with that date; with neither, the one that was asked
/// about (`asked` true).
pub fn not_modified_selects(stored: &HeaderMap, not_modified: &HeaderMap, asked: bool) -> bool {
    let tag = |h: &HeaderMap| h.get(ETAG).and_then(|v| EntityTag::from_header(v).ok());
    match (tag(not_modified), tag(stored)) {
        (Some(new), Some(old)) => {
            if new.is_weak() {
                new.weak_eq(&old)
            } else {
                new.strong_eq(&old)
            }
        }
        (Some(_), None) => false,
        (None, _) => {
            let date = |h: &HeaderMap| HttpDate::from_field(h.get_all(LAST_MODIFIED)).ok();
            match date(not_modified) {
                Some(new) => date(stored) == Some(new),
                None => asked,
            }
        }
    }
}

/// Fields a `304` (or a freshening `HEAD`) never changes in the stored
/// response, besides the hop-by-hop fields: §3.2 excepts "Header fields
/// that the cache's stored response depends upon" (its content coding, its
/// digest, its own validator), "Header fields that are automatically
/// processed and removed by the recipient" ("implementations MAY simply
/// refuse to update such fields", naming Content-Range), and "The
/// Content-Length header field". cache-tests.fyi `update304` expects
/// exactly these to keep their stored values.
pub const NOT_UPDATED_FROM_304: [HeaderName; 5] = [
    CONTENT_LENGTH,
    CONTENT_ENCODING,
    CONTENT_RANGE,
    HeaderName::from_static("content-md5"),
    ETAG,
];

fn is_hop_by_hop(name: &HeaderName) -> bool {
    *name == CONNECTION
        || *name == TRANSFER_ENCODING
        || *name == UPGRADE
        || *name == TE
        || *name == TRAILER
        || *name == PROXY_AUTHENTICATE
        || *name == PROXY_AUTHORIZATION
        || matches!(
            name.as_str(),
            "keep-alive" | "proxy-connection" | "proxy-authentication-info"
        )
}

/// The field names listed in `Connection` (RFC 9110 §7.6.1).
fn connection_listed(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect()
}

/// §3.2: "the cache MUST add each header field in the provided response to
/// the stored response, replacing field values that are already present,
/// with the following exceptions": the fields of §3.1 (hop-by-hop, and
/// those the `304`'s `Connection` lists) and [`NOT_UPDATED_FROM_304`].
pub fn update_stored_headers(stored: &mut HeaderMap, from_304: &HeaderMap) {
    let listed = connection_listed(from_304);
    let mut replaced: Vec<&HeaderName> = Vec::new();
    for (name, value) in from_304 {
        if is_hop_by_hop(name) || listed.contains(name) || NOT_UPDATED_FROM_304.contains(name) {
            continue;
        }
        if !replaced.contains(&name) {
            stored.remove(name);
            replaced.push(name);
        }
        stored.append(name.clone(), value.clone());
    }
}

/// The response fields to keep for a response [`super::storage_decision`]
/// said to store: without the §3.1 fields ([`strip_hop_by_hop`]); in a
/// shared cache without the fields a qualified `private="…"` names
/// (§5.2.2.7: "a shared cache MUST NOT store the listed header fields if
/// they are present in the original response but MAY store the remainder
/// of the response message without those header fields"); and without the
/// fields a qualified `no-cache="…"` names (§5.2.2.4: they "MUST NOT be
/// sent in the response to a subsequent request without successful
/// revalidation with the origin server"), so the rest can be reused.
pub fn storable_headers(config: &CacheConfig, response: &HeaderMap) -> HeaderMap {
    let mut headers = response.clone();
    strip_hop_by_hop(&mut headers);
    let directives = config.response_directives(response);
    if config.is_shared()
        && let Some(FieldNames::Only(names)) = &directives.private
    {
        for name in names {
            headers.remove(name);
        }
    }
    if let Some(FieldNames::Only(names)) = &directives.no_cache {
        for name in names {
            headers.remove(name);
        }
    }
    headers
}

/// §3.1: the fields a cache does not store. "The Connection header field
/// and fields whose names are listed in it are required by Section 7.6.1 of
/// \[HTTP\] to be removed before forwarding the message. This MAY be
/// implemented by doing so before storage", likewise the other hop-by-hop
/// fields of RFC 9110 §7.6.1 (`Proxy-Connection`, `Keep-Alive`, `TE`,
/// `Transfer-Encoding`, `Upgrade`, `Trailer`), and "Header fields that are
/// specific to the proxy that a cache uses when forwarding a request MUST
/// NOT be stored ... Proxy-Authenticate ..., Proxy-Authentication-Info
/// ..., and Proxy-Authorization". Removes them in place.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in connection_listed(headers) {
        headers.remove(name);
    }
    let hop: Vec<HeaderName> = headers.keys().filter(|n| is_hop_by_hop(n)).cloned().collect();
    for name in hop {
        headers.remove(name);
    }
}
