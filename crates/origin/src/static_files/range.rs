//! `Range` requests ([RFC 9110 §14]): which bytes to send. Pure.
//!
//! [RFC 9110 §14]: https://www.rfc-editor.org/rfc/rfc9110#section-14

use std::ops::RangeInclusive;

use http::{HeaderValue, Method};
use http_range_header::RangeUnsatisfiableError;
use revalidate_core::Outcome;

/// What part of the selected representation to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangePlan {
    /// All of it, `200`.
    Full,
    /// One range, `206` with `Content-Range`.
    Single(RangeInclusive<u64>),
    /// Several ranges, `206 multipart/byteranges`.
    Multiple(Vec<RangeInclusive<u64>>),
    /// None of the ranges overlaps the representation: `416`.
    Unsatisfiable,
}

/// Decides from the request, the precondition outcome and the length of
/// the selected representation. Call it only after the preconditions
/// passed (§13.2.2 puts `Range` last), with their outcome.
pub fn plan_range(method: &Method, range_lines: &[HeaderValue], outcome: Outcome, len: u64) -> RangePlan {
    // §14.2: "A server MUST ignore a Range header field received with a
    // request method that is unrecognized or for which range handling is
    // not defined. For this specification, GET is the only method for
    // which range handling is defined."
    if *method != Method::GET {
        return RangePlan::Full;
    }
    // §13.1.5: "the recipient MUST ignore the Range header field" when the
    // If-Range condition is false; the core reports that as IgnoreRange.
    if outcome == Outcome::IgnoreRange {
        return RangePlan::Full;
    }
    let [line] = range_lines else {
        // Absent, or repeated (not a list field, so invalid): ignore.
        return RangePlan::Full;
    };
    let Ok(text) = line.to_str() else {
        return RangePlan::Full;
    };
    // A position past u64 would reach the parser as u64::MAX and hide a
    // reversed range (found by `fuzz/` target `range`): "A server MAY
    // ignore the Range header field" (§14.2).
    if !revalidate_core::range::positions_fit_u64(text.as_bytes()) {
        return RangePlan::Full;
    }
    let parsed = match http_range_header::parse_range_header(text) {
        Ok(parsed) => parsed,
        // §14.2: "An origin server MUST ignore a Range header field that
        // contains a range unit it does not understand." Syntax errors
        // and abusive shapes: "A server MAY ignore the Range header field".
        Err(RangeUnsatisfiableError::Unsatisfiable) => return RangePlan::Unsatisfiable,
        Err(_) => return RangePlan::Full,
    };
    match parsed.validate(len) {
        // Only on an empty representation with a suffix range: send it all.
        Ok(ranges) if ranges.is_empty() => RangePlan::Full,
        Ok(mut ranges) if ranges.len() == 1 => RangePlan::Single(ranges.remove(0)),
        // Overlapping ranges of a representation past 2^63 bytes could add
        // up to a body whose length a u64 cannot hold; §14.2 lets a server
        // ignore overlapping ranges, and the whole is the one answer left.
        Ok(ranges) if !multipart_length_fits(&ranges) => RangePlan::Full,
        Ok(ranges) => RangePlan::Multiple(ranges),
        Err(RangeUnsatisfiableError::Unsatisfiable) => RangePlan::Unsatisfiable,
        // Many overlapping ranges: §14.2 lets a server "ignore or reject
        // ... a ranges-specifier with more than two overlapping ranges".
        Err(_) => RangePlan::Full,
    }
}

/// Room left for the part headers and delimiters of a multipart body,
/// each far below a KiB: [`multipart_segments`] cannot overflow when the
/// ranges' bytes leave this much of a u64 free.
const MULTIPART_HEAD_ROOM: u64 = 1 << 32;

/// Whether the bytes of `ranges` and their part headers fit in a u64.
fn multipart_length_fits(ranges: &[RangeInclusive<u64>]) -> bool {
    ranges
        .iter()
        .try_fold(0u64, |sum, range| {
            sum.checked_add(range.end() - range.start() + 1)
        })
        .and_then(|sum| sum.checked_add(MULTIPART_HEAD_ROOM))
        .is_some()
}

/// One piece of a `multipart/byteranges` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// Literal bytes (part headers, the closing delimiter).
    Literal(bytes::Bytes),
    /// Bytes `start..start+len` of the representation.
    Slice {
        /// First byte.
        start: u64,
        /// How many.
        len: u64,
    },
}

/// The segments of a `multipart/byteranges` body ([RFC 9110 §14.6]) and
/// its total length. [`plan_range`] only plans ranges whose total fits in a
/// u64; past that the length saturates rather than wrapping.
///
/// [RFC 9110 §14.6]: https://www.rfc-editor.org/rfc/rfc9110#section-14.6
pub fn multipart_segments(
    ranges: &[RangeInclusive<u64>],
    total_len: u64,
    content_type: &str,
    boundary: &str,
) -> (Vec<Segment>, u64) {
    let mut segments = Vec::with_capacity(ranges.len() * 2 + 1);
    let mut length = 0u64;
    for (i, range) in ranges.iter().enumerate() {
        let lead = if i == 0 { "" } else { "\r\n" };
        let head = format!(
            "{lead}--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: bytes {}-{}/{total_len}\r\n\r\n",
            range.start(),
            range.end()
        );
        length = length.saturating_add(head.len() as u64);
        segments.push(Segment::Literal(head.into()));
        let len = range.end() - range.start() + 1;
        length = length.saturating_add(len);
        segments.push(Segment::Slice {
            start: *range.start(),
            len,
        });
    }
    let tail = format!("\r\n--{boundary}--\r\n");
    length = length.saturating_add(tail.len() as u64);
    segments.push(Segment::Literal(tail.into()));
    (segments, length)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(method: Method, range: Option<&str>, outcome: Outcome, len: u64) -> RangePlan {
        let lines: Vec<HeaderValue> = range
            .map(|r| HeaderValue::from_str(r).unwrap())
            .into_iter()
            .collect();
        plan_range(&method, &lines, outcome, len)
    }

    #[test]
    fn table() {
        use Outcome::{IgnoreRange, Proceed};
        use RangePlan::*;
        let cases: Vec<(Method, Option<&str>, Outcome, u64, RangePlan)> = vec![
            (Method::GET, None, Proceed, 10, Full),
            (Method::GET, Some("bytes=0-3"), Proceed, 10, Single(0..=3)),
            (Method::GET, Some("bytes=-3"), Proceed, 10, Single(7..=9)),
            (Method::GET, Some("bytes=5-"), Proceed, 10, Single(5..=9)),
            (Method::GET, Some("bytes=5-100"), Proceed, 10, Single(5..=9)),
            (
                Method::GET,
                Some("bytes=0-1,4-5"),
                Proceed,
                10,
                Multiple(vec![0..=1, 4..=5]),
            ),
            (Method::GET, Some("bytes=10-"), Proceed, 10, Unsatisfiable),
            (Method::GET, Some("bytes=20-30"), Proceed, 10, Unsatisfiable),
            (Method::GET, Some("bytes=0-"), Proceed, 0, Unsatisfiable),
            (
                Method::GET,
                Some("bytes=0-5,2-8"),
                Proceed,
                10,
                Multiple(vec![0..=5, 2..=8]),
            ),
            (Method::GET, Some("bytes=0-5,1-6,2-7,3-8"), Proceed, 10, Full),
            (Method::GET, Some("items=0-3"), Proceed, 10, Full),
            (Method::GET, Some("bytes=garbage"), Proceed, 10, Full),
            (Method::GET, Some("bytes=0-3"), IgnoreRange, 10, Full),
            (Method::HEAD, Some("bytes=0-3"), Proceed, 10, Full),
        ];
        for (method, range, outcome, len, expected) in cases {
            assert_eq!(
                plan(method.clone(), range, outcome, len),
                expected,
                "{method} {range:?} {len}"
            );
        }
    }

    /// Found by `fuzz/` (target `range`, `fuzz/regressions/range/`): two
    /// overlapping ranges of a representation near u64::MAX bytes made the
    /// multipart body's length overflow (a panic with overflow checks, a
    /// wrong `Content-Length` without).
    #[test]
    fn overlapping_ranges_whose_multipart_length_overflows_u64_are_ignored() {
        let len = u64::MAX - 5;
        assert_eq!(
            plan(Method::GET, Some("bytes=1-,0-"), Outcome::Proceed, len),
            RangePlan::Full
        );
        // Half as long, the same ranges are planned and laid out.
        let len = u64::MAX / 4;
        let RangePlan::Multiple(ranges) = plan(Method::GET, Some("bytes=1-,0-"), Outcome::Proceed, len)
        else {
            panic!("two overlapping ranges of a quarter of u64 fit");
        };
        let (_, body_len) = multipart_segments(&ranges, len, "text/plain", "B");
        assert!(body_len > 2 * (len - 1) && body_len < u64::MAX);
    }

    /// Found by `fuzz/` (target `range`): the second spec is reversed
    /// (§14.1.1: invalid), but both its numbers are past u64 and the range
    /// parser read them as u64::MAX, so the field passed as valid and the
    /// first range got a 206. A position past u64 makes the field ignored.
    #[test]
    fn a_reversed_range_past_u64_is_not_hidden_by_the_parser() {
        let field = "bytes=12777777-,77777777744674203544018829142-999999899999999999999";
        assert_eq!(
            plan(Method::GET, Some(field), Outcome::Proceed, u64::MAX),
            RangePlan::Full
        );
        assert_eq!(
            plan(Method::GET, Some(field), Outcome::Proceed, 100),
            RangePlan::Full
        );
    }

    #[test]
    fn multipart_length_matches_segments() {
        let (segments, len) = multipart_segments(&[0..=1, 4..=5], 10, "text/plain", "B");
        let sum: u64 = segments
            .iter()
            .map(|s| match s {
                Segment::Literal(b) => b.len() as u64,
                Segment::Slice { len, .. } => *len,
            })
            .sum();
        assert_eq!(sum, len);
    }
}
