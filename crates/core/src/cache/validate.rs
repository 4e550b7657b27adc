//! `Vary` ([RFC 9111 §4.1]), the conditional request ([§4.3.1]), the 304
//! that answers it ([§4.3.4]) and how it updates the stored fields
//! ([§3.2]), and the fields a cache never stores ([§3.1]).
//!
//! Policies:
//! - `Vary` values are compared after combining all lines of a field with
//!   `", "` and trimming whitespace around each element; case is kept
//!   (§4.1 allows normalising "in a way that is known to have identical
//!   semantics", and only whitespace is safe for every field).
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
    CONNECTION, CONTENT_LENGTH, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, TE, TRAILER,
    TRANSFER_ENCODING, UPGRADE, VARY,
};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::{EntityTag, HttpDate};

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

/// All lines of `name` in `headers`, combined and normalised, or `None`
/// when absent.
fn normalised(headers: &HeaderMap, name: &HeaderName) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    for line in headers.get_all(name) {
        for element in line.as_bytes().split(|&b| b == b',') {
            let element = element.trim_ascii();
            if element.is_empty() {
                continue;
            }
            let buf = out.get_or_insert_with(Vec::new);
            if !buf.is_empty() {
                buf.extend_from_slice(b", ");
            }
            buf.extend_from_slice(element);
        }
    }
    if out.is_none() && headers.contains_key(name) {
        out = Some(Vec::new());
    }
    out
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

/// Fields a 304 does not change in the stored response: hop-by-hop fields
/// (§3.1) and `Content-Length`, which describes the 304's own empty body
/// (§3.2: "Caches are required to update a stored response's header fields
/// from another (non-stored) response ... with the following exceptions").
fn not_updated(name: &HeaderName) -> bool {
    is_hop_by_hop(name) || *name == CONTENT_LENGTH
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    *name == CONNECTION
        || *name == TRANSFER_ENCODING
        || *name == UPGRADE
        || *name == TE
        || *name == TRAILER
        || matches!(
            name.as_str(),
            "keep-alive" | "proxy-connection" | "proxy-authenticate" | "proxy-authorization"
        )
}

/// §3.2: "the cache MUST add each header field in the provided response to
/// the stored response, replacing field values that are already present",
/// except the fields that describe only that message.
pub fn update_stored_headers(stored: &mut HeaderMap, from_304: &HeaderMap) {
    let mut replaced: Vec<&HeaderName> = Vec::new();
    for (name, value) in from_304 {
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

/// §3.1: "a cache MUST NOT store ... the Connection header field and
/// header fields listed in it", nor the other hop-by-hop fields (RFC 9110
/// §7.6.1). Removes them in place.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    let hop: Vec<HeaderName> = headers.keys().filter(|n| is_hop_by_hop(n)).cloned().collect();
    for name in hop {
        headers.remove(name);
    }
}
