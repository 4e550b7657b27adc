//! Answering a `GET` or `HEAD` from a complete representation: the one
//! plan the origin, the tower layer and the edge follow once they hold the
//! selected representation's status, validators and length.
//!
//! [`plan`] runs the steps of [RFC 9110 §13.2.2] in order, then `Range`
//! ([RFC 9110 §14.2]), and returns a [`Plan`] that says what to send:
//! `304`, `412`, the response as it is, `206` with one range or a
//! `multipart/byteranges` body, or `416`. The shells only turn a plan into
//! bytes: [`content_range`] and [`unsatisfied_range`] format the
//! `Content-Range` of a `206` and a `416`, and [`multipart_layout`] lays out
//! a `multipart/byteranges` body ([RFC 9110 §14.6]) as literal pieces and
//! slices of the representation.
//!
//! ```
//! use http::{HeaderMap, Method, StatusCode};
//! use revalidate_core::answer::{Plan, RangeField, plan};
//! use revalidate_core::{EntityTag, HttpDate, Preconditions, Validators};
//!
//! let mut request = HeaderMap::new();
//! request.insert("range", "bytes=0-3".parse().unwrap());
//! let current = Validators::new().with_etag(EntityTag::strong("v1").unwrap());
//! let now = HttpDate::from_unix_seconds(1_771_372_800).unwrap();
//! let answer = plan(
//!     &Method::GET,
//!     &Preconditions::from_headers(&request),
//!     &RangeField::from_headers(&request),
//!     StatusCode::OK,
//!     &current,
//!     Some(10),
//!     now,
//! );
//! assert_eq!(answer, Plan::Partial(0..=3));
//! assert_eq!(answer.status(), Some(StatusCode::PARTIAL_CONTENT));
//! ```
//!
//! # Policies where the RFC leaves a choice
//!
//! Every shell follows these, so a client gets the same answer from the
//! origin, from the layer and from the edge:
//!
//! - A single range that covers the whole representation (`bytes=0-`) gets
//!   a `206`, as nginx, Apache Traffic Server and Go's `ServeContent` send:
//!   media players send `bytes=0-` to learn whether ranges work and read a
//!   `200` as "no".
//! - Several ranges get one `multipart/byteranges` body, in the order asked
//!   and without coalescing; more than two overlapping ranges, or ranges
//!   whose multipart body would not fit in a `u64`, make the field ignored
//!   (§14.2: a server "MAY ignore or reject a Range header field that
//!   contains ... more than two overlapping ranges").
//! - A field that arrives on several lines (`Range` is not a list field,
//!   RFC 9110 §5.3), that is not visible ASCII, that has a position past
//!   `u64` ([`crate::range::positions_fit_u64`]) or that does not parse is
//!   ignored (§14.2: "A server MAY ignore the Range header field").
//! - A representation with a `Content-Encoding` is not sent as a
//!   `multipart/byteranges` body ([`Plan::for_coding`]): several ranges get
//!   the whole response.
//! - Only a `200` is cut into ranges; the preconditions are ignored for a
//!   status other than 2xx or 412 (§13.2.1, a MUST).
//!
//! [RFC 9110 §13.2.2]: https://www.rfc-editor.org/rfc/rfc9110#section-13.2.2
//! [RFC 9110 §14.2]: https://www.rfc-editor.org/rfc/rfc9110#section-14.2
//! [RFC 9110 §14.6]: https://www.rfc-editor.org/rfc/rfc9110#section-14.6

use std::ops::RangeInclusive;

use http::header::RANGE;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_range_header::RangeUnsatisfiableError;

use crate::date::HttpDate;
use crate::precondition::{Condition, Outcome, Preconditions};
use crate::validators::Validators;

/// What to send in answer to a `GET` or `HEAD`, once the selected
/// representation is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// `304 Not Modified` ([RFC 9110 §15.4.5]), with the header set of
    /// [`not_modified_headers`](crate::not_modified_headers).
    ///
    /// [RFC 9110 §15.4.5]: https://www.rfc-editor.org/rfc/rfc9110#section-15.4.5
    NotModified,
    /// `412 Precondition Failed` ([RFC 9110 §15.5.13]), and the field that
    /// failed (`If-Match` or `If-Unmodified-Since`), for the problem
    /// document and logs.
    ///
    /// [RFC 9110 §15.5.13]: https://www.rfc-editor.org/rfc/rfc9110#section-15.5.13
    PreconditionFailed(Option<Condition>),
    /// The response as it is: its own status, all of its content.
    Full,
    /// `206 Partial Content` with this one range ([RFC 9110 §15.3.7]),
    /// `Content-Range` from [`content_range`].
    ///
    /// [RFC 9110 §15.3.7]: https://www.rfc-editor.org/rfc/rfc9110#section-15.3.7
    Partial(RangeInclusive<u64>),
    /// `206 Partial Content` with these ranges as a `multipart/byteranges`
    /// body ([`multipart_layout`]), in the order asked.
    Multipart(Vec<RangeInclusive<u64>>),
    /// `416 Range Not Satisfiable` ([RFC 9110 §15.5.17]): no range overlaps
    /// the representation; `Content-Range` from [`unsatisfied_range`].
    ///
    /// [RFC 9110 §15.5.17]: https://www.rfc-editor.org/rfc/rfc9110#section-15.5.17
    Unsatisfiable,
}

impl Plan {
    /// The plan for a representation with a `Content-Encoding`
    /// (`content_coded`): several ranges become the whole response. Each
    /// part of a `multipart/byteranges` body is a slice of the coded bytes,
    /// but a `Content-Encoding` on the `206` would say the multipart body
    /// itself is coded ([RFC 9110 §8.4]), and a part cannot carry the
    /// coding of the representation it was cut from; §14.2 lets a server
    /// ignore the `Range` instead. A single range of coded bytes is sent as
    /// a `206` with the coding, as §14.1.2 defines ranges over the selected
    /// representation's bytes.
    ///
    /// [RFC 9110 §8.4]: https://www.rfc-editor.org/rfc/rfc9110#section-8.4
    #[must_use]
    pub fn for_coding(self, content_coded: bool) -> Self {
        match self {
            Self::Multipart(_) if content_coded => Self::Full,
            other => other,
        }
    }

    /// The status to send, or `None` for [`Plan::Full`], which keeps the
    /// response's own.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::NotModified => Some(StatusCode::NOT_MODIFIED),
            Self::PreconditionFailed(_) => Some(StatusCode::PRECONDITION_FAILED),
            Self::Full => None,
            Self::Partial(_) | Self::Multipart(_) => Some(StatusCode::PARTIAL_CONTENT),
            Self::Unsatisfiable => Some(StatusCode::RANGE_NOT_SATISFIABLE),
        }
    }
}

/// A request's `Range` field, read once: its one line, or nothing when the
/// field is absent or is to be ignored whatever the representation (several
/// lines, or a value that is not visible ASCII).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeField {
    value: Option<HeaderValue>,
}

impl RangeField {
    /// Reads the `Range` field of a request.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut lines = headers.get_all(RANGE).iter();
        match (lines.next(), lines.next()) {
            (Some(value), None) => Self::from_value(value),
            _ => Self::default(),
        }
    }

    /// A field of one line.
    pub fn from_value(value: &HeaderValue) -> Self {
        let value = value.to_str().is_ok().then(|| value.clone());
        Self { value }
    }

    /// Whether there is a field to apply (one line, visible ASCII).
    pub fn is_present(&self) -> bool {
        self.value.is_some()
    }

    /// The field's value, if it is to be applied.
    pub fn value(&self) -> Option<&HeaderValue> {
        self.value.as_ref()
    }
}

/// What to send in answer to `method` from a representation the response
/// to the same request without preconditions would give `status`, with
/// `current` validators and `length` bytes of content (`None` when the
/// content is not at hand, as for a stream: `Range` is then ignored, which
/// §14.2 allows), at `now`.
///
/// The preconditions run first (§13.2.2: `If-Match`, `If-Unmodified-Since`,
/// `If-None-Match`, `If-Modified-Since`, `If-Range`), then the `Range`
/// ([`range_plan`]).
pub fn plan(
    method: &Method,
    preconditions: &Preconditions,
    range: &RangeField,
    status: StatusCode,
    current: &Validators,
    length: Option<u64>,
    now: HttpDate,
) -> Plan {
    // §13.2.1: "A server MUST ignore all received preconditions if its
    // response to the same request without those conditions ... would have
    // been a status code other than a 2xx (Successful) or 412".
    let (outcome, decided_by) = if status.is_success() || status == StatusCode::PRECONDITION_FAILED {
        let evaluation = preconditions.evaluate_detailed(method, current, now);
        (evaluation.outcome, evaluation.decided_by)
    } else {
        (Outcome::Proceed, None)
    };
    match outcome {
        Outcome::NotModified => Plan::NotModified,
        Outcome::PreconditionFailed => Plan::PreconditionFailed(decided_by),
        Outcome::Proceed | Outcome::IgnoreRange => match length {
            Some(length) => range_plan(method, outcome, range, status, length),
            None => Plan::Full,
        },
    }
}

/// The `Range` step alone ([RFC 9110 §14.2]), for a shell that evaluated
/// the preconditions before it knew the length (the tower layer does, so
/// that a `304` or `412` never runs the handler): what to send once they
/// passed with `outcome`. Returns [`Plan::Full`], [`Plan::Partial`],
/// [`Plan::Multipart`] or [`Plan::Unsatisfiable`].
///
/// [RFC 9110 §14.2]: https://www.rfc-editor.org/rfc/rfc9110#section-14.2
pub fn range_plan(
    method: &Method,
    outcome: Outcome,
    range: &RangeField,
    status: StatusCode,
    length: u64,
) -> Plan {
    // §14.2: "A server MUST ignore a Range header field received with a
    // request method that is unrecognized or for which range handling is
    // not defined. For this specification, GET is the only method for
    // which range handling is defined." Only a whole 200 is cut.
    if *method != Method::GET || status != StatusCode::OK {
        return Plan::Full;
    }
    // §13.1.5: "the recipient MUST ignore the Range header field" when the
    // If-Range condition is false; the evaluator reports IgnoreRange.
    if outcome != Outcome::Proceed {
        return Plan::Full;
    }
    let Some(text) = range.value().and_then(|value| value.to_str().ok()) else {
        return Plan::Full;
    };
    // A position past u64 would reach the parser as u64::MAX and hide a
    // reversed range (found by `fuzz/` target `range`).
    if !crate::range::positions_fit_u64(text.as_bytes()) {
        return Plan::Full;
    }
    let parsed = match http_range_header::parse_range_header(text) {
        Ok(parsed) => parsed,
        Err(RangeUnsatisfiableError::Unsatisfiable) => return Plan::Unsatisfiable,
        // §14.2: "An origin server MUST ignore a Range header field that
        // contains a range unit it does not understand"; other syntax
        // errors "MAY" be ignored.
        Err(_) => return Plan::Full,
    };
    match parsed.validate(length) {
        // A suffix range of an empty representation: all of it (nothing).
        Ok(ranges) if ranges.is_empty() => Plan::Full,
        Ok(mut ranges) if ranges.len() == 1 => Plan::Partial(ranges.remove(0)),
        Ok(ranges) if !multipart_length_fits(&ranges) => Plan::Full,
        Ok(ranges) => Plan::Multipart(ranges),
        // §14.1.1/§15.5.17: none of the ranges overlaps the representation.
        Err(RangeUnsatisfiableError::Unsatisfiable) => Plan::Unsatisfiable,
        // More than two overlapping ranges, or too many.
        Err(_) => Plan::Full,
    }
}

/// The `Content-Range` of a `206` with one range ([RFC 9110 §14.4]):
/// `bytes first-last/complete`.
///
/// [RFC 9110 §14.4]: https://www.rfc-editor.org/rfc/rfc9110#section-14.4
pub fn content_range(range: &RangeInclusive<u64>, complete_length: u64) -> HeaderValue {
    let text = format!("bytes {}-{}/{complete_length}", range.start(), range.end());
    HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static("bytes */0"))
}

/// The `Content-Range` of a `416` ([RFC 9110 §15.5.17]: "a server
/// generating a 416 (Range Not Satisfiable) response to a byte-range
/// request SHOULD generate a Content-Range header field specifying the
/// current length of the selected representation"): `bytes */complete`.
///
/// [RFC 9110 §15.5.17]: https://www.rfc-editor.org/rfc/rfc9110#section-15.5.17
pub fn unsatisfied_range(complete_length: u64) -> HeaderValue {
    HeaderValue::try_from(format!("bytes */{complete_length}"))
        .unwrap_or_else(|_| HeaderValue::from_static("bytes */0"))
}

/// How many bytes a range holds.
pub fn range_length(range: &RangeInclusive<u64>) -> u64 {
    range.end() - range.start() + 1
}

/// Room left for the part headers and delimiters of a multipart body,
/// each far below a KiB: [`multipart_layout`] cannot overflow when the
/// ranges' bytes leave this much of a u64 free.
const MULTIPART_HEAD_ROOM: u64 = 1 << 32;

/// Whether the bytes of `ranges` and their part headers fit in a u64.
fn multipart_length_fits(ranges: &[RangeInclusive<u64>]) -> bool {
    ranges
        .iter()
        .try_fold(0u64, |sum, range| sum.checked_add(range_length(range)))
        .and_then(|sum| sum.checked_add(MULTIPART_HEAD_ROOM))
        .is_some()
}

/// One piece of a `multipart/byteranges` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// Literal bytes: a part's delimiter and headers, or the closing
    /// delimiter.
    Literal(String),
    /// Bytes `start..start + len` of the representation.
    Slice {
        /// First byte.
        start: u64,
        /// How many.
        len: u64,
    },
}

/// A `multipart/byteranges` body ([RFC 9110 §14.6]) laid out: its media
/// type (with the boundary), its pieces and its length.
///
/// [RFC 9110 §14.6]: https://www.rfc-editor.org/rfc/rfc9110#section-14.6
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MultipartLayout {
    /// The `Content-Type` of the `206`:
    /// `multipart/byteranges; boundary=…`.
    pub content_type: HeaderValue,
    /// The body's pieces, in order.
    pub segments: Vec<Segment>,
    /// The body's length, its `Content-Length`.
    pub length: u64,
}

/// Lays out the `multipart/byteranges` body of `ranges` of a
/// representation of `complete_length` bytes whose media type is
/// `part_type`, each part with its own `Content-Type` and `Content-Range`
/// (§14.6). The boundary is derived from `tag` (the representation's
/// entity-tag, or any text that names this version), so that the same
/// request gets the same bytes from every node, and a cache can compare
/// them.
///
/// Call it with the ranges of a [`Plan::Multipart`], whose total fits in a
/// `u64`; past that the length saturates rather than wrapping.
pub fn multipart_layout(
    ranges: &[RangeInclusive<u64>],
    complete_length: u64,
    part_type: &HeaderValue,
    tag: &[u8],
) -> MultipartLayout {
    let boundary = boundary_for(tag);
    let part_type = part_type.to_str().unwrap_or("application/octet-stream");
    let mut segments = Vec::with_capacity(ranges.len() * 2 + 1);
    let mut length = 0u64;
    for (i, range) in ranges.iter().enumerate() {
        let lead = if i == 0 { "" } else { "\r\n" };
        let head = format!(
            "{lead}--{boundary}\r\nContent-Type: {part_type}\r\nContent-Range: bytes {}-{}/{complete_length}\r\n\r\n",
            range.start(),
            range.end()
        );
        length = length.saturating_add(head.len() as u64);
        segments.push(Segment::Literal(head));
        let len = range_length(range);
        length = length.saturating_add(len);
        segments.push(Segment::Slice {
            start: *range.start(),
            len,
        });
    }
    let tail = format!("\r\n--{boundary}--\r\n");
    length = length.saturating_add(tail.len() as u64);
    segments.push(Segment::Literal(tail));
    let content_type = HeaderValue::try_from(format!("multipart/byteranges; boundary={boundary}"))
        .unwrap_or_else(|_| HeaderValue::from_static("multipart/byteranges; boundary=revalidate"));
    MultipartLayout {
        content_type,
        segments,
        length,
    }
}

/// A boundary ([RFC 2046 §5.1.1]: 1 to 70 of `bchars`) from a version's
/// tag: `revalidate-` and the tag's letters, digits, `-`, `_` and `.`
/// (others dropped, so that it is also a token for the `boundary`
/// parameter), cut to fit.
///
/// [RFC 2046 §5.1.1]: https://www.rfc-editor.org/rfc/rfc2046#section-5.1.1
fn boundary_for(tag: &[u8]) -> String {
    const PREFIX: &str = "revalidate-";
    let mut boundary = String::with_capacity(70);
    boundary.push_str(PREFIX);
    boundary.extend(
        tag.iter()
            .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            .take(70 - PREFIX.len())
            .map(|&b| char::from(b)),
    );
    boundary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_are_short_and_plain() {
        assert_eq!(boundary_for(b""), "revalidate-");
        assert_eq!(boundary_for(&[b'x'; 200]).len(), 70);
        assert!(
            boundary_for(b"a/b c\"d")
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        );
        assert_eq!(boundary_for(b"\"x-1_2.3\""), "revalidate-x-1_2.3");
    }
}
