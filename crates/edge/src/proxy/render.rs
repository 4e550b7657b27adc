//! Pure builders of the responses the edge sends: a stored response turned
//! into the answer the core's plan ([`revalidate_core::answer::plan`])
//! chose (`304`, `412`, the response as it is, `206` of one range or of
//! several as `multipart/byteranges`, `416`), the answer to a client whose
//! request caused a fill, the problems the edge answers for the origin or
//! the client, the requests it answers itself, and the fields every
//! response leaves with ([`decorate`]). They read no clock, count nothing
//! and do no IO; the state machine decides, counts and labels.

use std::ops::RangeInclusive;

use bytes::Bytes;
use http::header::{
    AGE, ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, HeaderValue, VIA,
};
use http::{HeaderMap, Method, Response, StatusCode};
use revalidate_core::answer::{
    Plan, Segment, content_range, multipart_layout, range_length, unsatisfied_range,
};
use revalidate_core::cache::{CACHE_STATUS, StoredHead};
use revalidate_core::{EntityTag, not_modified_headers};

use crate::body::{EdgeBody, empty, full, pieces};
use crate::decide::{ALLOWED_METHODS, Route};
use crate::entry::HitAnswer;
use crate::problem::{IntoEdgeResponse, Problem};
use crate::upstream::Failure;

/// Adds what every response the edge sends carries: `Age` when served
/// from the cache ([RFC 9111 §4]: "When a stored response is used to
/// satisfy a request without validation, a cache MUST generate an Age
/// header field (Section 5.1), replacing any present in the response with
/// a value equal to the stored response's current_age"), `Via` ([RFC 9110
/// §7.6.3]: "A proxy MUST send an appropriate Via header field ... in each
/// message that it forwards"), and this cache's `Cache-Status` member
/// appended to any from caches closer to the origin ([RFC 9211 §2]).
///
/// [RFC 9111 §4]: https://www.rfc-editor.org/rfc/rfc9111#section-4
/// [RFC 9110 §7.6.3]: https://www.rfc-editor.org/rfc/rfc9110#section-7.6.3
/// [RFC 9211 §2]: https://www.rfc-editor.org/rfc/rfc9211#section-2
pub(super) fn decorate(
    headers: &mut HeaderMap,
    age: Option<u64>,
    cache_status: &HeaderValue,
    via: &HeaderValue,
) {
    if let Some(age) = age {
        headers.insert(AGE, revalidate_core::cache::age_header_value(age));
    }
    headers.append(VIA, via.clone());
    let status = match headers.get(CACHE_STATUS).and_then(|v| v.to_str().ok()) {
        Some(previous) if !previous.trim().is_empty() => {
            let mut joined = Vec::with_capacity(previous.len() + 2 + cache_status.len());
            joined.extend_from_slice(previous.as_bytes());
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(cache_status.as_bytes());
            HeaderValue::from_bytes(&joined).unwrap_or_else(|_| cache_status.clone())
        }
        _ => cache_status.clone(),
    };
    headers.insert(CACHE_STATUS, status);
}

/// How the header set of an answer from a stored response is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Head {
    /// The stored fields whole, or those of a `304` for them
    /// ([`plain_headers`]): not built yet, because a plain hit takes them
    /// from the entry's memo ([`crate::entry::ResponseEntry::hit_headers`]).
    Plain(HitAnswer),
    /// Built with the response.
    Built,
}

/// The answer `plan` makes of the stored response `meta` with `body`, for
/// `method`. The header set of a [`Head::Plain`] answer is left empty.
pub(super) fn from_stored(
    method: &Method,
    plan: Plan,
    meta: &StoredHead,
    body: &Bytes,
) -> (Response<EdgeBody>, Head) {
    match plan {
        Plan::NotModified => (
            with_status(StatusCode::NOT_MODIFIED, empty()),
            Head::Plain(HitAnswer::NotModified),
        ),
        Plan::Full => (
            with_status(meta.status, unless_head(method, body.clone())),
            Head::Plain(HitAnswer::Full),
        ),
        Plan::PreconditionFailed(_) => (precondition_failed(&meta.headers), Head::Built),
        Plan::Partial(range) => match partial(method, meta, &range, body) {
            Some(response) => (response, Head::Built),
            // Not reached: the plan's range lies within the body it was
            // planned for; the whole response is still a valid answer.
            None => from_stored(method, Plan::Full, meta, body),
        },
        Plan::Multipart(ranges) => match multipart(method, meta, &ranges, body) {
            Some(response) => (response, Head::Built),
            None => from_stored(method, Plan::Full, meta, body),
        },
        Plan::Unsatisfiable => (range_not_satisfiable(body.len() as u64), Head::Built),
    }
}

/// The header set of the stored response whole (with `Content-Length` set
/// to the stored body's `len`) or of a `304` for it.
pub(super) fn plain_headers(meta: &StoredHead, answer: HitAnswer, len: u64) -> HeaderMap {
    match answer {
        // RFC 9110 §15.4.5: "The server generating a 304 response MUST
        // generate any of the following header fields that would have been
        // sent in a 200 (OK) response to the same request: Content-Location,
        // Date, ETag, and Vary; Cache-Control and Expires": the core's
        // `not_modified_headers` keeps those of the stored fields.
        HitAnswer::NotModified => not_modified_headers(&meta.headers),
        HitAnswer::Full => {
            let mut headers = meta.headers.clone();
            if meta.status != StatusCode::NO_CONTENT && meta.status != StatusCode::NOT_MODIFIED {
                headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
            }
            headers
        }
    }
}

/// The answer `plan` makes of a response from the origin whose body is
/// still arriving (`body`: the client's half, or nothing). Its length is
/// not at hand, so the plan is `304`, `412` or the response as it is.
pub(super) fn from_origin(
    plan: &Plan,
    status: StatusCode,
    headers: HeaderMap,
    body: EdgeBody,
) -> Response<EdgeBody> {
    match plan {
        Plan::NotModified => {
            let mut response = with_status(StatusCode::NOT_MODIFIED, body);
            *response.headers_mut() = not_modified_headers(&headers);
            response
        }
        Plan::PreconditionFailed(_) => precondition_failed(&headers),
        _ => {
            let mut response = with_status(status, body);
            *response.headers_mut() = headers;
            response
        }
    }
}

/// `412` from the cache: the client's `If-Match` or `If-Unmodified-Since`
/// failed against the stored (or just fetched) response. The stored `ETag`
/// goes along so that the client can see what is current.
pub(super) fn precondition_failed(stored: &HeaderMap) -> Response<EdgeBody> {
    let mut problem = Problem::new(StatusCode::PRECONDITION_FAILED, "Precondition Failed")
        .with_detail("The representation does not match the request's If-Match or If-Unmodified-Since.");
    if let Some(etag) = stored.get(ETAG) {
        problem = problem.with_header(ETAG, etag.clone());
    }
    problem.into_edge_response()
}

/// A `206` with one range. [RFC 9110 §15.3.7.1]: "If a single part is being
/// transferred, the server generating the 206 response MUST generate a
/// Content-Range header field, describing what range of the selected
/// representation is enclosed". The stored fields stay, which covers
/// [RFC 9110 §15.3.7]: "A server that generates a 206 response MUST
/// generate the following header fields ... if the field would have been
/// sent in a 200 (OK) response to the same request: Date, Cache-Control,
/// ETag, Expires, Content-Location, and Vary" (the same holds for
/// [`multipart`]). `None` if the range lies outside `body`.
///
/// [RFC 9110 §15.3.7]: https://www.rfc-editor.org/rfc/rfc9110#section-15.3.7
/// [RFC 9110 §15.3.7.1]: https://www.rfc-editor.org/rfc/rfc9110#section-15.3.7.1
fn partial(
    method: &Method,
    meta: &StoredHead,
    range: &RangeInclusive<u64>,
    body: &Bytes,
) -> Option<Response<EdgeBody>> {
    let slice = slice(body, *range.start(), range_length(range))?;
    let mut response = with_status(StatusCode::PARTIAL_CONTENT, unless_head(method, slice));
    let headers = response.headers_mut();
    *headers = meta.headers.clone();
    headers.insert(CONTENT_RANGE, content_range(range, body.len() as u64));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(range_length(range)));
    Some(response)
}

/// A `206` with several ranges as one `multipart/byteranges` body laid out
/// by the core ([RFC 9110 §14.6]), each part with the stored
/// `Content-Type` (or `application/octet-stream`) and its `Content-Range`.
/// [RFC 9110 §15.3.7.2]: "the server generating the 206 response MUST
/// generate a "multipart/byteranges" content, as defined in Section 14.6,
/// and a Content-Type header field containing the "multipart/byteranges"
/// media type and its required boundary parameter. To avoid confusion with
/// single-part responses, a server MUST NOT generate a Content-Range header
/// field in the HTTP header section of a multiple part response". The body
/// is the layout's literal pieces and slices of the stored body, sent as
/// they are (nothing copied). `None` if a range lies outside `body`.
///
/// [RFC 9110 §14.6]: https://www.rfc-editor.org/rfc/rfc9110#section-14.6
/// [RFC 9110 §15.3.7.2]: https://www.rfc-editor.org/rfc/rfc9110#section-15.3.7.2
fn multipart(
    method: &Method,
    meta: &StoredHead,
    ranges: &[RangeInclusive<u64>],
    body: &Bytes,
) -> Option<Response<EdgeBody>> {
    let octets = HeaderValue::from_static("application/octet-stream");
    let part_type = meta.headers.get(CONTENT_TYPE).unwrap_or(&octets);
    // The boundary comes from the version's tag, as the origin and the
    // tower layer derive it, so that every node sends the same bytes for
    // the same request.
    let etag = single_etag(&meta.headers);
    let tag: &[u8] = match (&etag, meta.headers.get(ETAG)) {
        (Some(etag), _) => etag.opaque(),
        (None, Some(field)) => field.as_bytes(),
        (None, None) => &[],
    };
    let layout = multipart_layout(ranges, body.len() as u64, part_type, tag);
    let mut parts = Vec::with_capacity(layout.segments.len());
    for segment in layout.segments {
        parts.push(match segment {
            Segment::Literal(text) => Bytes::from(text),
            Segment::Slice { start, len } => slice(body, start, len)?,
        });
    }
    let content = if *method == Method::HEAD {
        empty()
    } else {
        pieces(parts)
    };
    let mut response = with_status(StatusCode::PARTIAL_CONTENT, content);
    let headers = response.headers_mut();
    *headers = meta.headers.clone();
    headers.remove(CONTENT_RANGE);
    headers.insert(CONTENT_TYPE, layout.content_type);
    headers.insert(CONTENT_LENGTH, HeaderValue::from(layout.length));
    Some(response)
}

/// `416` for a representation of `len` bytes, with the `Content-Range`
/// that [RFC 9110 §15.5.17] asks for ("SHOULD generate a Content-Range
/// header field specifying the current length").
///
/// [RFC 9110 §15.5.17]: https://www.rfc-editor.org/rfc/rfc9110#section-15.5.17
fn range_not_satisfiable(len: u64) -> Response<EdgeBody> {
    Problem::new(StatusCode::RANGE_NOT_SATISFIABLE, "Range Not Satisfiable")
        .with_detail("None of the requested ranges overlaps the stored representation.")
        .with_header(CONTENT_RANGE, unsatisfied_range(len))
        .into_edge_response()
}

/// No usable response from the origin (`502`/`504`), or a fault in the
/// client's own upload (`400`/`408`). After the client's fault the rest of
/// its upload will not be read, so the connection cannot carry another
/// request: `Connection: close` ([RFC 9112 §9.6]). A fill sends no upload,
/// so only a forwarded request meets that.
///
/// [RFC 9112 §9.6]: https://www.rfc-editor.org/rfc/rfc9112#section-9.6
pub(super) fn failure(failure: Failure) -> Response<EdgeBody> {
    let mut problem = Problem::new(failure.status(), failure.title()).with_detail(failure.detail());
    if failure.origin_error().is_none() {
        problem = problem.with_header(CONNECTION, HeaderValue::from_static("close"));
    }
    problem.into_edge_response()
}

/// `502` for a `304` the origin sent to a fill, which carries no
/// validators: nothing to refresh and no body for the client.
pub(super) fn unsolicited_not_modified() -> Response<EdgeBody> {
    Problem::new(StatusCode::BAD_GATEWAY, "Unsolicited 304 from the origin")
        .with_detail("The origin answered 304 Not Modified to a request without validators.")
        .into_edge_response()
}

/// [RFC 9111 §5.2.1.7]: with `only-if-cached` and nothing usable stored, a
/// cache "SHOULD either respond using a stored response ... or respond
/// with a 504 (Gateway Timeout) status code".
///
/// [RFC 9111 §5.2.1.7]: https://www.rfc-editor.org/rfc/rfc9111#section-5.2.1.7
pub(super) fn only_if_cached() -> Response<EdgeBody> {
    Problem::new(StatusCode::GATEWAY_TIMEOUT, "Not in cache")
        .with_detail("The request said only-if-cached and the edge holds no usable response for it.")
        .into_edge_response()
}

/// The requests the edge answers itself, without the origin: `OPTIONS *`,
/// `CONNECT`, and the asterisk form with another method.
pub(super) fn edge_answer(route: Route) -> Response<EdgeBody> {
    let allow = HeaderValue::from_static(ALLOWED_METHODS);
    match route {
        // RFC 9110 §9.3.7: "An OPTIONS request with an asterisk ("*") as
        // the request target applies to the server in general"; "A
        // server generating a successful response to OPTIONS SHOULD send
        // any header that might indicate optional features implemented
        // by the server ... (e.g., Allow)", and with no content it sends
        // "Content-Length" 0.
        Route::ServerOptions => {
            let mut response = Response::new(empty());
            response.headers_mut().insert(ALLOW, allow);
            response
                .headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
            response
        }
        // RFC 9110 §9.3.6: CONNECT asks for a tunnel, which a reverse
        // proxy in front of one origin does not open; §15.5.6: a 405
        // "MUST generate an Allow header field".
        Route::Connect => Problem::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
            .with_detail("The edge is a reverse proxy for one origin; it opens no tunnels.")
            .with_header(ALLOW, allow)
            .into_edge_response(),
        // RFC 9112 §3.2.4: the asterisk form "is only used for a
        // server-wide OPTIONS request".
        _ => Problem::new(StatusCode::BAD_REQUEST, "Bad Request")
            .with_detail("The request target \"*\" is only for OPTIONS.")
            .into_edge_response(),
    }
}

/// The response's entity-tag, when its `ETag` is one line that parses.
fn single_etag(headers: &HeaderMap) -> Option<EntityTag> {
    let mut lines = headers.get_all(ETAG).iter();
    match (lines.next(), lines.next()) {
        (Some(value), None) => EntityTag::from_header(value).ok(),
        _ => None,
    }
}

/// `len` bytes of `body` from `start`, without copying; `None` if they lie
/// outside it.
fn slice(body: &Bytes, start: u64, len: u64) -> Option<Bytes> {
    let start = usize::try_from(start).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    (end <= body.len()).then(|| body.slice(start..end))
}

/// `body`, or nothing for a `HEAD` ([RFC 9110 §9.3.2]: "the server MUST NOT
/// send content in the response"; the header fields stay those of the
/// `GET`).
///
/// [RFC 9110 §9.3.2]: https://www.rfc-editor.org/rfc/rfc9110#section-9.3.2
fn unless_head(method: &Method, body: Bytes) -> EdgeBody {
    if *method == Method::HEAD {
        empty()
    } else {
        full(body)
    }
}

fn with_status(status: StatusCode, body: EdgeBody) -> Response<EdgeBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use http_body_util::BodyExt;

    use super::*;

    fn meta(fields: &[(&'static str, &'static str)]) -> StoredHead {
        let mut headers = HeaderMap::new();
        for (name, value) in fields {
            headers.append(*name, HeaderValue::from_static(value));
        }
        StoredHead {
            status: StatusCode::OK,
            headers,
            request_time: revalidate_core::HttpDate::UNIX_EPOCH,
            response_time: revalidate_core::HttpDate::UNIX_EPOCH,
            vary_request: HeaderMap::new(),
        }
    }

    async fn bytes(response: Response<EdgeBody>) -> Bytes {
        response.into_body().collect().await.unwrap().to_bytes()
    }

    #[test]
    fn decorate_sets_age_and_appends_cache_status() {
        let mut served = HeaderMap::new();
        served.insert("age", HeaderValue::from_static("100"));
        served.insert("cache-status", HeaderValue::from_static("origin-cache; hit"));
        let ours = HeaderValue::from_static("edge; hit");
        decorate(&mut served, Some(5), &ours, &HeaderValue::from_static("1.1 edge"));
        assert_eq!(served.get_all("age").iter().count(), 1);
        assert_eq!(served.get("age").unwrap(), "5");
        assert_eq!(
            served.get("cache-status").unwrap(),
            "origin-cache; hit, edge; hit"
        );
        let mut fresh = HeaderMap::new();
        decorate(&mut fresh, None, &ours, &HeaderValue::from_static("1.1 edge"));
        assert!(fresh.get("age").is_none());
        assert_eq!(fresh.get("cache-status").unwrap(), "edge; hit");
    }

    #[test]
    fn slices_outside_the_body_are_none_not_panics() {
        let body = Bytes::from_static(b"0123456789");
        assert_eq!(slice(&body, 2, 3).unwrap(), "234");
        assert_eq!(slice(&body, 0, 10).unwrap(), "0123456789");
        assert_eq!(slice(&body, 10, 0).unwrap(), "");
        assert!(slice(&body, 8, 3).is_none());
        assert!(slice(&body, 11, 0).is_none());
        assert!(slice(&body, u64::MAX, 2).is_none());
    }

    #[tokio::test]
    async fn several_ranges_are_one_multipart_body_with_the_stored_fields() {
        let stored = meta(&[
            ("etag", "W/\"v1\""),
            ("cache-control", "max-age=60"),
            ("content-range", "bytes 0-9/10"),
        ]);
        let body = Bytes::from_static(b"0123456789");
        let (response, head) = from_stored(&Method::GET, Plan::Multipart(vec![8..=9, 0..=0]), &stored, &body);
        assert_eq!(head, Head::Built);
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
        let headers = response.headers().clone();
        assert_eq!(
            headers.get("content-type").unwrap(),
            "multipart/byteranges; boundary=revalidate-v1"
        );
        assert!(headers.get("content-range").is_none());
        assert_eq!(headers.get("cache-control").unwrap(), "max-age=60");
        let expected = "--revalidate-v1\r\nContent-Type: application/octet-stream\r\n\
                        Content-Range: bytes 8-9/10\r\n\r\n89\r\n\
                        --revalidate-v1\r\nContent-Type: application/octet-stream\r\n\
                        Content-Range: bytes 0-0/10\r\n\r\n0\r\n--revalidate-v1--\r\n";
        assert_eq!(
            headers.get("content-length").unwrap(),
            expected.len().to_string().as_str()
        );
        assert_eq!(bytes(response).await, expected);
        // HEAD: the same fields, no content.
        let (head_response, _) =
            from_stored(&Method::HEAD, Plan::Multipart(vec![8..=9, 0..=0]), &stored, &body);
        assert_eq!(head_response.headers(), &headers);
        assert!(bytes(head_response).await.is_empty());
    }
}
