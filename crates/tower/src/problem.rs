//! The small `application/problem+json` bodies ([RFC 9457]) of the
//! responses the layer writes itself, 412 and 416: the core's documents
//! ([`revalidate_core::problem`]) with the layer's texts.
//!
//! [RFC 9457]: https://www.rfc-editor.org/rfc/rfc9457

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, StatusCode};
use revalidate_core::Condition;
use revalidate_core::problem::{PROBLEM_JSON, Problem};

/// The body of a 412 that the layer answered, saying which field failed.
pub(crate) fn precondition_failed(condition: Option<Condition>) -> Bytes {
    let detail = match condition {
        Some(Condition::IfMatch) => {
            "If-Match does not list the current entity-tag: the resource changed since the client read it. Fetch it again and retry with the new ETag."
        }
        Some(Condition::IfUnmodifiedSince) => {
            "The resource was modified after the If-Unmodified-Since date. Fetch it again and retry."
        }
        Some(Condition::IfNoneMatch) => {
            "If-None-Match matches the current representation, so the request was not applied."
        }
        _ => "A precondition of the request did not hold.",
    };
    let field = condition.map_or("", Condition::as_str);
    problem(
        StatusCode::PRECONDITION_FAILED,
        "Precondition Failed",
        detail,
        field,
    )
}

/// The body of a 416 for a `Range` that does not overlap the representation.
pub(crate) fn range_not_satisfiable() -> Bytes {
    problem(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "Range Not Satisfiable",
        "No range in the Range field overlaps the representation; Content-Range gives its length.",
        "range",
    )
}

/// The document from the core's one builder ([`Problem`]), with the
/// failed field as the `field` extension member (RFC 9457 §3.2).
fn problem(status: StatusCode, title: &str, detail: &str, field: &str) -> Bytes {
    let mut problem = Problem::new(status, title).with_detail(detail);
    if !field.is_empty() {
        problem = problem.with_member("field", field);
    }
    Bytes::from(problem.to_json())
}

/// `Content-Type` and `Content-Length` for a problem body.
pub(crate) fn headers(body: &Bytes) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(2);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    headers
}
