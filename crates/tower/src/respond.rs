//! The answer that goes out once the layer holds the handler's response:
//! the core's one plan ([`revalidate_core::answer::plan`]) decides, and
//! this room only turns the plan into a status, header fields and a body
//! (a 304, a 412 problem, the response as it is, a 206 of one range or of
//! several as `multipart/byteranges`, a 416 problem). The 304 and 412 a
//! lookup decides before the handler are built here too.

use std::ops::RangeInclusive;

use bytes::{Bytes, BytesMut};
use http::header::{ACCEPT_RANGES, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, response};
use http_body::Body;
use revalidate_core::answer::{
    Plan, Segment, content_range, multipart_layout, plan, range_length, unsatisfied_range,
};
use revalidate_core::{Condition, not_modified_headers};

use crate::body::ConditionalBody;
use crate::context::RequestContext;
use crate::decide;
use crate::problem;
use crate::tag::single_etag;

/// The response body as the layer holds it.
pub(crate) enum Content<B> {
    /// Not read: handed on, or dropped unread for a 304.
    Unread(B),
    /// Read whole.
    Read {
        data: Bytes,
        trailers: Option<HeaderMap>,
    },
}

/// Answers from the response the handler gave. The core's [`plan`] makes
/// every decision (the preconditions in the order of [RFC 9110 §13.2.2],
/// then `Range`, [RFC 9110 §14.2]); this only turns the plan into a status,
/// header fields and a body.
///
/// [RFC 9110 §13.2.2]: https://www.rfc-editor.org/rfc/rfc9110#section-13.2.2
/// [RFC 9110 §14.2]: https://www.rfc-editor.org/rfc/rfc9110#section-14.2
pub(crate) fn answer<B: Body>(
    ctx: &RequestContext,
    mut parts: response::Parts,
    content: Content<B>,
) -> Response<ConditionalBody<B>> {
    let validators = decide::response_validators(&ctx.pre, &parts.headers);
    // The length of what the layer read. An unread body (a stream, or one
    // above the limit) has none, and the plan then ignores `Range`, which
    // §14.2 allows: the layer cannot cut bytes it does not hold.
    let length = match &content {
        Content::Unread(_) => None,
        Content::Read { data, .. } => Some(data.len() as u64),
    };
    let planned = plan(
        &ctx.method,
        &ctx.pre,
        &ctx.range,
        parts.status,
        &validators,
        length,
        ctx.now,
    )
    .for_coding(parts.headers.contains_key(CONTENT_ENCODING));
    match (planned, content) {
        (Plan::NotModified, _) => {
            // §15.4.5: "The server generating a 304 response MUST generate any
            // of the following header fields that would have been sent in a
            // 200 (OK) response to the same request: Content-Location, Date,
            // ETag, and Vary; Cache-Control and Expires": the core's
            // `not_modified_headers` keeps them from the 200's fields.
            // The body is dropped unread: a deferred body is never rendered.
            parts.status = StatusCode::NOT_MODIFIED;
            // Copying the few kept fields is cheaper than removing each
            // dropped name from the map.
            parts.headers = not_modified_headers(&parts.headers);
            Response::from_parts(parts, ConditionalBody::empty())
        }
        (Plan::PreconditionFailed(condition), _) => {
            precondition_failed(condition, parts.headers.get(ETAG).cloned())
        }
        // Without a length the plan is `Full`: the response goes on as it is.
        (_, Content::Unread(body)) => Response::from_parts(parts, ConditionalBody::pass_through(body)),
        (Plan::Full, Content::Read { data, trailers }) => {
            accept_ranges(ctx, &mut parts);
            whole(ctx, parts, data, trailers)
        }
        (Plan::Partial(range), Content::Read { data, trailers }) => {
            accept_ranges(ctx, &mut parts);
            partial(ctx, parts, &range, data, trailers)
        }
        (Plan::Multipart(ranges), Content::Read { data, trailers }) => {
            accept_ranges(ctx, &mut parts);
            multipart(ctx, parts, &ranges, data, trailers)
        }
        (Plan::Unsatisfiable, Content::Read { data, .. }) => range_not_satisfiable(parts, data.len() as u64),
    }
}

/// `Accept-Ranges: bytes` on a 200 whose bytes the layer holds, and so can
/// cut (RFC 9110 §14.3). A handler's own `Accept-Ranges` stays; one hash
/// probe either way.
fn accept_ranges(ctx: &RequestContext, parts: &mut response::Parts) {
    if ctx.settings.ranges && parts.status == StatusCode::OK {
        parts
            .headers
            .entry(ACCEPT_RANGES)
            .or_insert_with(|| HeaderValue::from_static("bytes"));
    }
}

/// The response with all of its content, as the handler made it.
fn whole<B: Body>(
    ctx: &RequestContext,
    mut parts: response::Parts,
    data: Bytes,
    trailers: Option<HeaderMap>,
) -> Response<ConditionalBody<B>> {
    if ctx.method == Method::HEAD {
        // The same fields as the GET, without the body: the length the GET
        // would send stays, or a server below would write 0 from the empty body.
        if !parts.headers.contains_key(CONTENT_LENGTH) {
            parts
                .headers
                .insert(CONTENT_LENGTH, HeaderValue::from(data.len()));
        }
        return Response::from_parts(parts, ConditionalBody::empty());
    }
    Response::from_parts(parts, ConditionalBody::full(data, trailers))
}

/// A `206` with one range. [RFC 9110 §15.3.7.1]: "If a single part is being
/// transferred, the server generating the 206 response MUST generate a
/// Content-Range header field, describing what range of the selected
/// representation is enclosed"; the other fields a 200 would carry (`ETag`,
/// `Cache-Control`, `Vary`, ...) stay, as §15.3.7 requires.
///
/// [RFC 9110 §15.3.7.1]: https://www.rfc-editor.org/rfc/rfc9110#section-15.3.7.1
fn partial<B: Body>(
    ctx: &RequestContext,
    mut parts: response::Parts,
    range: &RangeInclusive<u64>,
    data: Bytes,
    trailers: Option<HeaderMap>,
) -> Response<ConditionalBody<B>> {
    let Some(slice) = slice(&data, *range.start(), range_length(range)) else {
        // Not reached: the plan's range lies within the bytes it was
        // planned for. The whole representation is still a valid answer.
        return whole(ctx, parts, data, trailers);
    };
    parts.status = StatusCode::PARTIAL_CONTENT;
    parts
        .headers
        .insert(CONTENT_RANGE, content_range(range, data.len() as u64));
    parts
        .headers
        .insert(CONTENT_LENGTH, HeaderValue::from(range_length(range)));
    without_body_for_head(ctx, parts, slice)
}

/// A `206` with several ranges, as one `multipart/byteranges` body laid out
/// by the core ([RFC 9110 §14.6]). [RFC 9110 §15.3.7.2]: "the server
/// generating the 206 response MUST generate a "multipart/byteranges"
/// content, as defined in Section 14.6, and a Content-Type header field
/// containing the "multipart/byteranges" media type and its required
/// boundary parameter. To avoid confusion with single-part responses, a
/// server MUST NOT generate a Content-Range header field in the HTTP header
/// section of a multiple part response".
///
/// [RFC 9110 §14.6]: https://www.rfc-editor.org/rfc/rfc9110#section-14.6
/// [RFC 9110 §15.3.7.2]: https://www.rfc-editor.org/rfc/rfc9110#section-15.3.7.2
fn multipart<B: Body>(
    ctx: &RequestContext,
    mut parts: response::Parts,
    ranges: &[RangeInclusive<u64>],
    data: Bytes,
    trailers: Option<HeaderMap>,
) -> Response<ConditionalBody<B>> {
    let octets = HeaderValue::from_static("application/octet-stream");
    let part_type = parts.headers.get(CONTENT_TYPE).unwrap_or(&octets);
    // The boundary comes from the version's tag, so that the origin, the
    // layer and the edge send the same bytes for the same request.
    let tag = single_etag(&parts.headers);
    let tag_bytes = match (&tag, parts.headers.get(ETAG)) {
        (Some(tag), _) => tag.opaque(),
        (None, Some(field)) => field.as_bytes(),
        (None, None) => &[],
    };
    let layout = multipart_layout(ranges, data.len() as u64, part_type, tag_bytes);
    let body = if ctx.method == Method::HEAD {
        Bytes::new()
    } else {
        match multipart_body(&data, &layout.segments, layout.length) {
            Some(body) => body,
            // Not reached, as in `partial`.
            None => return whole(ctx, parts, data, trailers),
        }
    };
    parts.status = StatusCode::PARTIAL_CONTENT;
    parts.headers.remove(CONTENT_RANGE);
    parts.headers.insert(CONTENT_TYPE, layout.content_type);
    parts
        .headers
        .insert(CONTENT_LENGTH, HeaderValue::from(layout.length));
    without_body_for_head(ctx, parts, body)
}

/// The bytes of a `multipart/byteranges` body: its literal pieces, and the
/// slices of `data` between them. `None` if a slice lies outside `data`.
fn multipart_body(data: &Bytes, segments: &[Segment], length: u64) -> Option<Bytes> {
    let mut body = BytesMut::with_capacity(usize::try_from(length).unwrap_or(0));
    for segment in segments {
        match segment {
            Segment::Literal(text) => body.extend_from_slice(text.as_bytes()),
            Segment::Slice { start, len } => body.extend_from_slice(&slice(data, *start, *len)?),
        }
    }
    Some(body.freeze())
}

/// `len` bytes of `data` from `start`, without copying; `None` if they lie
/// outside it.
fn slice(data: &Bytes, start: u64, len: u64) -> Option<Bytes> {
    let start = usize::try_from(start).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    (end <= data.len()).then(|| data.slice(start..end))
}

/// The response with `body`, or with none for a HEAD: "The HEAD method is
/// identical to GET except that the server MUST NOT send content in the
/// response" ([RFC 9110 §9.3.2]); the header fields stay those of the GET.
///
/// [RFC 9110 §9.3.2]: https://www.rfc-editor.org/rfc/rfc9110#section-9.3.2
fn without_body_for_head<B: Body>(
    ctx: &RequestContext,
    parts: response::Parts,
    body: Bytes,
) -> Response<ConditionalBody<B>> {
    if ctx.method == Method::HEAD {
        return Response::from_parts(parts, ConditionalBody::empty());
    }
    Response::from_parts(parts, ConditionalBody::full(body, None))
}

pub(crate) fn not_modified<B: Body>(headers: HeaderMap) -> Response<ConditionalBody<B>> {
    let mut response = Response::new(ConditionalBody::empty());
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    *response.headers_mut() = headers;
    response
}

/// A 412 with a problem body ([RFC 9110 §15.5.13]), carrying the current
/// `ETag` so the client can see what changed.
///
/// [RFC 9110 §15.5.13]: https://www.rfc-editor.org/rfc/rfc9110#section-15.5.13
pub(crate) fn precondition_failed<B: Body>(
    condition: Option<Condition>,
    etag: Option<HeaderValue>,
) -> Response<ConditionalBody<B>> {
    let body = problem::precondition_failed(condition);
    let mut headers = problem::headers(&body);
    if let Some(etag) = etag {
        headers.insert(ETAG, etag);
    }
    let mut response = Response::new(ConditionalBody::full(body, None));
    *response.status_mut() = StatusCode::PRECONDITION_FAILED;
    *response.headers_mut() = headers;
    response
}

/// A 416: "a server generating a 416 (Range Not Satisfiable) response to
/// a byte-range request SHOULD generate a Content-Range header field
/// specifying the current length of the selected representation"
/// ([RFC 9110 §15.5.17]); the core formats it.
///
/// [RFC 9110 §15.5.17]: https://www.rfc-editor.org/rfc/rfc9110#section-15.5.17
fn range_not_satisfiable<B: Body>(mut parts: response::Parts, len: u64) -> Response<ConditionalBody<B>> {
    let body = problem::range_not_satisfiable();
    let etag = parts.headers.remove(ETAG);
    parts.status = StatusCode::RANGE_NOT_SATISFIABLE;
    parts.headers = problem::headers(&body);
    parts.headers.remove(CONTENT_ENCODING);
    parts.headers.insert(CONTENT_RANGE, unsatisfied_range(len));
    if let Some(etag) = etag {
        parts.headers.insert(ETAG, etag);
    }
    Response::from_parts(parts, ConditionalBody::full(body, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_outside_the_bytes_are_none_not_panics() {
        let data = Bytes::from_static(b"abcdef");
        assert_eq!(slice(&data, 1, 2).as_deref(), Some(&b"bc"[..]));
        assert_eq!(slice(&data, 0, 6).as_deref(), Some(&b"abcdef"[..]));
        assert_eq!(slice(&data, 5, 2), None);
        assert_eq!(slice(&data, u64::MAX, 1), None);
        assert_eq!(slice(&data, 1, u64::MAX), None);
        let segments = [
            Segment::Literal("<".into()),
            Segment::Slice { start: 2, len: 2 },
            Segment::Literal(">".into()),
        ];
        assert_eq!(multipart_body(&data, &segments, 4).as_deref(), Some(&b"<cd>"[..]));
        let outside = [Segment::Slice { start: 4, len: 9 }];
        assert_eq!(multipart_body(&data, &outside, 9), None);
    }
}
