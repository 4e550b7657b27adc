//! RFC 9110 §13.2.2 and §14 tables for `revalidate_core::answer`, the one
//! plan the origin, the tower layer and the edge follow.

use http::{HeaderValue, Method, StatusCode};
use proptest::prelude::*;
use revalidate_core::answer::*;
use revalidate_core::{Condition, EntityTag, HttpDate, Outcome, Preconditions, Validators};

use crate::support::headers;

/// Name, method, `Range`, the preconditions' outcome, status, length, plan.
type RangeCase = (
    &'static str,
    Method,
    Option<&'static str>,
    Outcome,
    StatusCode,
    u64,
    Plan,
);
/// Name, method, request fields, status, plan.
type PlanCase = (
    &'static str,
    Method,
    &'static [(&'static str, &'static str)],
    StatusCode,
    Plan,
);

fn now() -> HttpDate {
    HttpDate::from_unix_seconds(1_771_372_800).unwrap()
}

fn field(range: Option<&str>) -> RangeField {
    range.map_or_else(RangeField::default, |r| {
        RangeField::from_value(&HeaderValue::from_str(r).unwrap())
    })
}

/// RFC 9110 §14.1.2, §14.2 and the policies above, over 10 bytes.
#[test]
fn range_table() {
    use Outcome::{IgnoreRange, Proceed};
    let ok = StatusCode::OK;
    let cases: Vec<RangeCase> = vec![
        ("no field", Method::GET, None, Proceed, ok, 10, Plan::Full),
        (
            "first four",
            Method::GET,
            Some("bytes=0-3"),
            Proceed,
            ok,
            10,
            Plan::Partial(0..=3),
        ),
        (
            "suffix",
            Method::GET,
            Some("bytes=-3"),
            Proceed,
            ok,
            10,
            Plan::Partial(7..=9),
        ),
        (
            "open",
            Method::GET,
            Some("bytes=5-"),
            Proceed,
            ok,
            10,
            Plan::Partial(5..=9),
        ),
        (
            "past the end is cut",
            Method::GET,
            Some("bytes=5-100"),
            Proceed,
            ok,
            10,
            Plan::Partial(5..=9),
        ),
        (
            "the whole, asked as one range: 206",
            Method::GET,
            Some("bytes=0-"),
            Proceed,
            ok,
            10,
            Plan::Partial(0..=9),
        ),
        (
            "the whole, closed",
            Method::GET,
            Some("bytes=0-9"),
            Proceed,
            ok,
            10,
            Plan::Partial(0..=9),
        ),
        (
            "unit case-insensitive",
            Method::GET,
            Some("Bytes=0-3"),
            Proceed,
            ok,
            10,
            Plan::Partial(0..=3),
        ),
        (
            "two",
            Method::GET,
            Some("bytes=0-1,4-5"),
            Proceed,
            ok,
            10,
            Plan::Multipart(vec![0..=1, 4..=5]),
        ),
        (
            "two overlapping",
            Method::GET,
            Some("bytes=0-5,2-8"),
            Proceed,
            ok,
            10,
            Plan::Multipart(vec![0..=5, 2..=8]),
        ),
        (
            "in the order asked",
            Method::GET,
            Some("bytes=4-5,0-1"),
            Proceed,
            ok,
            10,
            Plan::Multipart(vec![4..=5, 0..=1]),
        ),
        (
            "more than two overlapping: ignored",
            Method::GET,
            Some("bytes=0-5,1-6,2-7,3-8"),
            Proceed,
            ok,
            10,
            Plan::Full,
        ),
        (
            "starts at the end",
            Method::GET,
            Some("bytes=10-"),
            Proceed,
            ok,
            10,
            Plan::Unsatisfiable,
        ),
        (
            "past the end",
            Method::GET,
            Some("bytes=20-30"),
            Proceed,
            ok,
            10,
            Plan::Unsatisfiable,
        ),
        (
            "empty representation",
            Method::GET,
            Some("bytes=0-"),
            Proceed,
            ok,
            0,
            Plan::Unsatisfiable,
        ),
        (
            "zero suffix",
            Method::GET,
            Some("bytes=-0"),
            Proceed,
            ok,
            10,
            Plan::Unsatisfiable,
        ),
        (
            "unknown unit",
            Method::GET,
            Some("items=0-3"),
            Proceed,
            ok,
            10,
            Plan::Full,
        ),
        (
            "garbage",
            Method::GET,
            Some("bytes=garbage"),
            Proceed,
            ok,
            10,
            Plan::Full,
        ),
        (
            "reversed",
            Method::GET,
            Some("bytes=5-3"),
            Proceed,
            ok,
            10,
            Plan::Full,
        ),
        (
            "If-Range false",
            Method::GET,
            Some("bytes=0-3"),
            IgnoreRange,
            ok,
            10,
            Plan::Full,
        ),
        (
            "HEAD",
            Method::HEAD,
            Some("bytes=0-3"),
            Proceed,
            ok,
            10,
            Plan::Full,
        ),
        (
            "POST",
            Method::POST,
            Some("bytes=0-3"),
            Proceed,
            ok,
            10,
            Plan::Full,
        ),
        (
            "not a 200",
            Method::GET,
            Some("bytes=0-3"),
            Proceed,
            StatusCode::NOT_FOUND,
            10,
            Plan::Full,
        ),
        (
            "a 203 is not cut",
            Method::GET,
            Some("bytes=0-3"),
            Proceed,
            StatusCode::NON_AUTHORITATIVE_INFORMATION,
            10,
            Plan::Full,
        ),
        (
            "a position past u64 (fuzz: reversed spec hidden by the parser)",
            Method::GET,
            Some("bytes=12777777-,77777777744674203544018829142-999999899999999999999"),
            Proceed,
            ok,
            100,
            Plan::Full,
        ),
    ];
    for (name, method, range, outcome, status, len, expected) in cases {
        assert_eq!(
            range_plan(&method, outcome, &field(range), status, len),
            expected,
            "{name}"
        );
    }
}

/// RFC 9110 §13.2.2's order, then the range, for a 200 of 10 bytes
/// tagged "v1".
#[test]
fn plan_table() {
    let current = Validators::new()
        .with_etag(EntityTag::strong("v1").unwrap())
        .with_last_modified(HttpDate::from_unix_seconds(1_771_372_000).unwrap());
    let cases: &[PlanCase] = &[
        ("plain", Method::GET, &[], StatusCode::OK, Plan::Full),
        (
            "INM match",
            Method::GET,
            &[("if-none-match", "\"v1\"")],
            StatusCode::OK,
            Plan::NotModified,
        ),
        (
            "INM match, HEAD",
            Method::HEAD,
            &[("if-none-match", "\"v1\"")],
            StatusCode::OK,
            Plan::NotModified,
        ),
        (
            "INM match beats range",
            Method::GET,
            &[("if-none-match", "\"v1\""), ("range", "bytes=0-1")],
            StatusCode::OK,
            Plan::NotModified,
        ),
        (
            "IM mismatch",
            Method::GET,
            &[("if-match", "\"v0\"")],
            StatusCode::OK,
            Plan::PreconditionFailed(Some(Condition::IfMatch)),
        ),
        (
            "IM mismatch beats INM",
            Method::GET,
            &[("if-match", "\"v0\""), ("if-none-match", "\"v1\"")],
            StatusCode::OK,
            Plan::PreconditionFailed(Some(Condition::IfMatch)),
        ),
        (
            "If-Range match",
            Method::GET,
            &[("range", "bytes=0-1"), ("if-range", "\"v1\"")],
            StatusCode::OK,
            Plan::Partial(0..=1),
        ),
        (
            "If-Range mismatch",
            Method::GET,
            &[("range", "bytes=0-1"), ("if-range", "\"v0\"")],
            StatusCode::OK,
            Plan::Full,
        ),
        (
            "If-Range weak never matches",
            Method::GET,
            &[("range", "bytes=0-1"), ("if-range", "W/\"v1\"")],
            StatusCode::OK,
            Plan::Full,
        ),
        (
            "two Range lines: ignored",
            Method::GET,
            &[("range", "bytes=0-1"), ("range", "bytes=2-3")],
            StatusCode::OK,
            Plan::Full,
        ),
        // §13.2.1: preconditions are ignored for a 404.
        (
            "404 ignores INM",
            Method::GET,
            &[("if-none-match", "*")],
            StatusCode::NOT_FOUND,
            Plan::Full,
        ),
        (
            "404 ignores IM",
            Method::GET,
            &[("if-match", "\"v0\"")],
            StatusCode::NOT_FOUND,
            Plan::Full,
        ),
        (
            "IMS not modified",
            Method::GET,
            &[("if-modified-since", "Wed, 18 Feb 2026 00:00:00 GMT")],
            StatusCode::OK,
            Plan::NotModified,
        ),
    ];
    for (name, method, fields, status, expected) in cases {
        let headers = headers(fields);
        let got = plan(
            method,
            &Preconditions::from_headers(&headers),
            &RangeField::from_headers(&headers),
            *status,
            &current,
            Some(10),
            now(),
        );
        assert_eq!(&got, expected, "{name}");
    }
}

#[test]
fn content_range_values() {
    assert_eq!(content_range(&(0..=3), 10), "bytes 0-3/10");
    assert_eq!(unsatisfied_range(10), "bytes */10");
    assert_eq!(range_length(&(5..=9)), 5);
}

#[test]
fn a_field_that_is_not_visible_ascii_is_not_present() {
    let value = HeaderValue::from_bytes(b"bytes=0-1\xff").unwrap();
    assert!(!RangeField::from_value(&value).is_present());
    assert!(RangeField::from_value(&HeaderValue::from_static("bytes=0-1")).is_present());
}

/// Found by `fuzz/` (target `range`): two overlapping ranges of a
/// representation near u64::MAX bytes made the multipart body's length
/// overflow.
#[test]
fn overlapping_ranges_whose_multipart_length_overflows_u64_are_ignored() {
    let len = u64::MAX - 5;
    let ok = StatusCode::OK;
    assert_eq!(
        range_plan(
            &Method::GET,
            Outcome::Proceed,
            &field(Some("bytes=1-,0-")),
            ok,
            len
        ),
        Plan::Full
    );
    let len = u64::MAX / 4;
    let Plan::Multipart(ranges) = range_plan(
        &Method::GET,
        Outcome::Proceed,
        &field(Some("bytes=1-,0-")),
        ok,
        len,
    ) else {
        panic!("two overlapping ranges of a quarter of u64 fit");
    };
    let layout = multipart_layout(&ranges, len, &HeaderValue::from_static("text/plain"), b"B");
    assert!(layout.length > 2 * (len - 1) && layout.length < u64::MAX);
}

#[test]
fn multipart_layout_is_exact() {
    let layout = multipart_layout(
        &[0..=1, 4..=5],
        10,
        &HeaderValue::from_static("text/plain"),
        b"\"ab c\"",
    );
    assert_eq!(
        layout.content_type,
        "multipart/byteranges; boundary=revalidate-abc"
    );
    let sum: u64 = layout
        .segments
        .iter()
        .map(|s| match s {
            Segment::Literal(text) => text.len() as u64,
            Segment::Slice { len, .. } => *len,
        })
        .sum();
    assert_eq!(sum, layout.length);
    let text: String = layout
        .segments
        .iter()
        .map(|s| match s {
            Segment::Literal(text) => text.clone(),
            Segment::Slice { start, len } => format!("<{start}+{len}>"),
        })
        .collect();
    assert_eq!(
        text,
        "--revalidate-abc\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/10\r\n\r\n<0+2>\
         \r\n--revalidate-abc\r\nContent-Type: text/plain\r\nContent-Range: bytes 4-5/10\r\n\r\n<4+2>\
         \r\n--revalidate-abc--\r\n"
    );
}

/// One `range-spec` of the model: `first-last`, `first-` or `-suffix`.
#[derive(Clone, Debug)]
enum Spec {
    Closed(u64, u64),
    Open(u64),
    Suffix(u64),
}

impl Spec {
    fn text(&self) -> String {
        match self {
            Self::Closed(first, last) => format!("{first}-{last}"),
            Self::Open(first) => format!("{first}-"),
            Self::Suffix(n) => format!("-{n}"),
        }
    }

    /// RFC 9110 §14.1.2, read from the text: the bytes a valid spec selects
    /// of `len`, or `None` when it is unsatisfiable.
    fn selects(&self, len: u64) -> Option<std::ops::RangeInclusive<u64>> {
        match *self {
            // "last-pos ... if the value is greater than or equal to the
            // current length ... the byte range is interpreted as the
            // remainder of the representation"; satisfiable "if the
            // first-pos is less than the current length".
            Self::Closed(first, last) if first < len => Some(first..=last.min(len - 1)),
            Self::Open(first) if first < len => Some(first..=len - 1),
            // "a suffix-range ... is satisfiable if suffix-length > 0";
            // longer than the representation, it selects all of it.
            Self::Suffix(n) if n > 0 && len > 0 => Some(len - n.min(len)..=len - 1),
            _ => None,
        }
    }
}

fn spec() -> impl Strategy<Value = Spec> {
    prop_oneof![
        (0u64..40, 0u64..40).prop_map(|(a, b)| Spec::Closed(a.min(b), a.max(b))),
        (0u64..40).prop_map(Spec::Open),
        (0u64..40).prop_map(Spec::Suffix),
    ]
}

/// How many ranges start at or before the end of another that starts
/// earlier (or at the same place): the "overlapping" count §14.2 names.
fn overlaps(ranges: &[std::ops::RangeInclusive<u64>]) -> usize {
    let mut by_start: Vec<(u64, u64)> = ranges.iter().map(|r| (*r.start(), *r.end())).collect();
    by_start.sort_unstable();
    let mut count = 0;
    let mut max_end = by_start[0].1;
    for &(start, end) in &by_start[1..] {
        if start <= max_end {
            count += 1;
        }
        max_end = max_end.max(end);
    }
    count
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

    /// The range step against a model written from §14.1.2 and §14.2: the
    /// satisfiable specs' ranges, in the order asked, one → 206, several →
    /// multipart 206, none → 416 (an empty representation with a positive
    /// suffix: nothing to cut, the whole); with more than two overlapping
    /// ranges the field may be ignored (200), which is the only other
    /// answer allowed.
    #[test]
    fn range_plan_matches_the_model(specs in proptest::collection::vec(spec(), 1..6), len in 0u64..48) {
        let text = format!("bytes={}", specs.iter().map(Spec::text).collect::<Vec<_>>().join(","));
        let field = RangeField::from_value(&HeaderValue::from_str(&text).unwrap());
        let got = range_plan(&Method::GET, Outcome::Proceed, &field, StatusCode::OK, len);
        let ranges: Vec<_> = specs.iter().filter_map(|s| s.selects(len)).collect();
        let strict = match ranges.as_slice() {
            [] if len == 0 && specs.iter().any(|s| matches!(s, Spec::Suffix(n) if *n > 0)) => Plan::Full,
            [] => Plan::Unsatisfiable,
            [one] => Plan::Partial(one.clone()),
            _ => Plan::Multipart(ranges.clone()),
        };
        let may_ignore = ranges.len() > 1 && overlaps(&ranges) >= 2;
        prop_assert!(
            got == strict || (may_ignore && got == Plan::Full),
            "{text} of {len}: got {got:?}, model {strict:?}"
        );
        // The same field never gets a range for a HEAD, a 404 or after a
        // failed If-Range.
        prop_assert_eq!(range_plan(&Method::HEAD, Outcome::Proceed, &field, StatusCode::OK, len), Plan::Full);
        prop_assert_eq!(range_plan(&Method::GET, Outcome::Proceed, &field, StatusCode::NOT_FOUND, len), Plan::Full);
        prop_assert_eq!(range_plan(&Method::GET, Outcome::IgnoreRange, &field, StatusCode::OK, len), Plan::Full);
    }
}

/// A content-coded representation is never sent as multipart (the outer
/// `Content-Encoding` would describe the multipart body); one range of the
/// coded bytes is.
#[test]
fn a_content_coded_representation_gets_no_multipart() {
    assert_eq!(Plan::Multipart(vec![0..=1, 4..=5]).for_coding(true), Plan::Full);
    assert_eq!(
        Plan::Multipart(vec![0..=1, 4..=5]).for_coding(false),
        Plan::Multipart(vec![0..=1, 4..=5])
    );
    assert_eq!(Plan::Partial(0..=1).for_coding(true), Plan::Partial(0..=1));
    assert_eq!(Plan::NotModified.for_coding(true), Plan::NotModified);
}
