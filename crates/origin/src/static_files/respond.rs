//! Response assembly: the core's plan for the selected representation
//! ([`revalidate_core::answer::plan`]: the preconditions of RFC 9110
//! §13.2.2, then `Range`, §14.2) turned into a response from its
//! [`Template`] and its [`Source`].
//!
//! A content-coded representation (a precompressed or
//! compressed-on-the-fly variant) gets the whole of it instead of a
//! `multipart/byteranges` body, by the core's rule for every shell
//! ([`Plan::for_coding`]); a single range of a coded variant is served
//! over the coded bytes, as the `Content-Encoding` on the `206` says.

use std::borrow::Cow;

use axum::body::Body;
use axum::response::Response;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};
use revalidate_core::Validators;
use revalidate_core::answer::{self, Plan};

use super::body::{Pieces, Source, body_of};
use super::failure::Detour;
use super::request::StaticRequest;
use super::template::Template;
use crate::problem::Problem;

/// Answers `request` from the representation `template` describes: 304,
/// 412, 200, 206 (one range or multipart) or 416. `source` is called only
/// when the response has a body, so a 304, a 412 or a HEAD never touches
/// the bytes. A shared template (a kept one) is cloned only for the
/// header map of a response that has one; an owned one is moved.
///
/// Fails with [`Detour::FileChanged`] when a [`Source::Stated`] file
/// changed before it could be read, and with [`Detour::Io`] when reading
/// failed.
pub(super) fn respond(
    request: &StaticRequest,
    template: Cow<'_, Template>,
    source: impl FnOnce() -> Source,
) -> Result<Response, Detour> {
    let len = template.len();
    // §13.2.2 fixes the order: If-Match, If-Unmodified-Since,
    // If-None-Match, If-Modified-Since, If-Range, and only then Range
    // (§14.2). The core decides them all, for every shell alike.
    let plan = answer::plan(
        &request.method,
        &request.preconditions,
        &request.range,
        StatusCode::OK,
        template.validators(),
        Some(len),
        request.now,
    )
    .for_coding(template.encoded());
    let (status, pieces, body_len, headers) = match plan {
        Plan::NotModified => {
            // §15.4.5: the 304 carries the fields a 200 would have sent
            // among Content-Location, Date, ETag, Vary, Cache-Control and
            // Expires; the template holds them.
            return Ok(not_modified(request, template.not_modified_headers(), len));
        }
        Plan::PreconditionFailed(_) => return Ok(precondition_failed(template.validators())),
        Plan::Unsatisfiable => return Ok(unsatisfiable(len)),
        Plan::Full => (
            StatusCode::OK,
            Pieces::Slice { start: 0, len },
            len,
            ok_headers(template),
        ),
        Plan::Partial(range) => {
            let part_len = answer::range_length(&range);
            let mut headers = ok_headers(template);
            // §15.3.7.1: "a Content-Range header field describing what
            // range of the selected representation is enclosed".
            headers.insert(header::CONTENT_RANGE, answer::content_range(&range, len));
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(part_len));
            let pieces = Pieces::Slice {
                start: *range.start(),
                len: part_len,
            };
            (StatusCode::PARTIAL_CONTENT, pieces, part_len, headers)
        }
        Plan::Multipart(ranges) => {
            let part_type = template
                .ok_headers()
                .get(header::CONTENT_TYPE)
                .cloned()
                .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream"));
            // The boundary comes from the entity-tag, so every node sends
            // the same bytes for the same request.
            let tag = template
                .validators()
                .etag()
                .map_or(&b""[..], |etag| etag.opaque());
            let layout = answer::multipart_layout(&ranges, len, &part_type, tag);
            let mut headers = ok_headers(template);
            headers.insert(header::CONTENT_TYPE, layout.content_type);
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(layout.length));
            (
                StatusCode::PARTIAL_CONTENT,
                Pieces::Multipart(layout.segments),
                layout.length,
                headers,
            )
        }
    };
    let body = if request.method == Method::HEAD {
        Body::empty()
    } else {
        body_of(source(), pieces, body_len)?
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

/// The 200's header map: a clone of a shared template's, or an owned
/// template's own.
fn ok_headers(template: Cow<'_, Template>) -> HeaderMap {
    match template {
        Cow::Borrowed(template) => template.ok_headers().clone(),
        Cow::Owned(template) => template.into_ok_headers(),
    }
}

/// A 304 with `headers`; the `len` bytes it saved are counted into the
/// request's metrics when it has them, else noted on the response for a
/// [`TrackLayer`](crate::metrics::TrackLayer) (a response extension costs
/// two allocations, about a twentieth of a whole 304).
fn not_modified(request: &StaticRequest, headers: HeaderMap, len: u64) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    *response.headers_mut() = headers;
    match &request.metrics {
        Some(metrics) => metrics.record_bytes_saved(len),
        None => {
            response.extensions_mut().insert(crate::metrics::BytesSaved(len));
        }
    }
    response
}

/// The 412 for a file: its current ETag, and a problem saying to re-fetch.
fn precondition_failed(validators: &Validators) -> Response {
    let mut problem = Problem::new(StatusCode::PRECONDITION_FAILED, "Precondition Failed")
        .with_detail("The file does not match the request's preconditions; fetch it again.")
        .with_header(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Some(etag) = validators.etag() {
        problem = problem.with_header(header::ETAG, etag.to_header_value());
    }
    problem.into_response()
}

/// The 416 for a representation of `len` bytes.
fn unsatisfiable(len: u64) -> Response {
    let mut response = Problem::new(StatusCode::RANGE_NOT_SATISFIABLE, "Range Not Satisfiable")
        .with_detail(format!("The selected representation is {len} bytes long."))
        .with_header(header::VARY, HeaderValue::from_static("accept-encoding"))
        .into_response();
    // §15.5.17: "a server generating a 416 (Range Not Satisfiable) response
    // to a byte-range request SHOULD generate a Content-Range header field
    // specifying the current length of the selected representation".
    response
        .headers_mut()
        .insert(header::CONTENT_RANGE, answer::unsatisfied_range(len));
    response
}
