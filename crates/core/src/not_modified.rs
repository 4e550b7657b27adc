//! The header set of a `304 Not Modified` response ([RFC 9110 §15.4.5]).
//!
//! "The server generating a 304 response MUST generate any of the following
//! header fields that would have been sent in a 200 (OK) response to the
//! same request: Content-Location, Date, ETag, and Vary; Cache-Control and
//! Expires". "Since the goal of a 304 response is to minimize information
//! transfer when the recipient already has one or more cached
//! representations, a sender SHOULD NOT generate representation metadata
//! other than the above listed fields unless said metadata exists for the
//! purpose of guiding cache updates (e.g., Last-Modified might be useful if
//! the response does not have an ETag field)."
//!
//! [RFC 9110 §15.4.5]: https://www.rfc-editor.org/rfc/rfc9110#section-15.4.5

use http::header::{self, HeaderName};
use http::{HeaderMap, Response, StatusCode};

/// Names of the fields a 304 MUST carry when the 200 to the same request
/// would have: "Content-Location, Date, ETag, and Vary; Cache-Control and
/// Expires" ([RFC 9110 §15.4.5]). [`not_modified_headers`] keeps all of
/// them; a checker compares a server's 304 against this list.
///
/// [RFC 9110 §15.4.5]: https://www.rfc-editor.org/rfc/rfc9110#section-15.4.5
pub const NOT_MODIFIED_REQUIRED: [&str; 6] = [
    "cache-control",
    "content-location",
    "date",
    "etag",
    "expires",
    "vary",
];

/// Names of the fields a 304 drops from the 200's headers: representation metadata
/// ([RFC 9110 §8]) and message framing ([RFC 9112 §6]), which would describe
/// content the 304 does not carry.
///
/// [RFC 9110 §8]: https://www.rfc-editor.org/rfc/rfc9110#section-8
/// [RFC 9112 §6]: https://www.rfc-editor.org/rfc/rfc9112#section-6
pub const NOT_MODIFIED_DROPS: &[&str] = &[
    "content-type",
    "content-encoding",
    "content-language",
    "content-length",
    "content-range",
    "content-disposition",
    "transfer-encoding",
    "accept-ranges",
    "trailer",
    "content-md5",
    "content-digest",
    "repr-digest",
    "digest",
];

fn is_dropped(name: &HeaderName) -> bool {
    NOT_MODIFIED_DROPS.contains(&name.as_str())
}

/// Turns the headers a 200 would carry into those of the matching 304, in
/// place.
///
/// Kept: `Cache-Control`, `Content-Location`, `Date`, `ETag`, `Expires`,
/// `Vary` (the MUST list), `Last-Modified` when there is no `ETag`, and
/// fields that are not about the representation (`Set-Cookie`, `Server`,
/// application fields). Dropped: [`NOT_MODIFIED_DROPS`], and
/// `Last-Modified` when an `ETag` is present, since the `ETag` already
/// guides the cache update.
pub fn strip_to_not_modified(headers: &mut HeaderMap) {
    for name in NOT_MODIFIED_DROPS {
        headers.remove(*name);
    }
    if headers.contains_key(header::ETAG) {
        headers.remove(header::LAST_MODIFIED);
    }
}

/// The headers of a 304 built from the headers a 200 would carry; see
/// [`strip_to_not_modified`].
///
/// ```
/// use http::HeaderMap;
/// use revalidate_core::not_modified_headers;
///
/// let mut ok = HeaderMap::new();
/// ok.insert("etag", "\"abc123\"".parse().unwrap());
/// ok.insert("cache-control", "public, max-age=3600".parse().unwrap());
/// ok.insert("content-type", "text/css".parse().unwrap());
/// ok.insert("content-length", "1024".parse().unwrap());
/// let h = not_modified_headers(&ok);
/// assert_eq!(h.len(), 2);
/// assert!(h.contains_key("etag") && h.contains_key("cache-control"));
/// ```
pub fn not_modified_headers(ok_headers: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(ok_headers.keys_len());
    for name in ok_headers.keys() {
        if is_dropped(name) {
            continue;
        }
        if name == header::LAST_MODIFIED && ok_headers.contains_key(header::ETAG) {
            continue;
        }
        for value in ok_headers.get_all(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    headers
}

/// A complete `304 Not Modified` response with no body, from the headers a
/// 200 would carry.
pub fn not_modified_response(ok_headers: &HeaderMap) -> Response<()> {
    let mut response = Response::new(());
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    *response.headers_mut() = not_modified_headers(ok_headers);
    response
}
