//! `Range` ([RFC 9110 §14]): the core's `answer::range_plan` (through
//! `answer::plan`), the one plan the origin, the tower layer and the edge
//! follow, which reads the field with the `http-range-header` crate,
//! against a model of §14.1.1–§14.2 written here.
//!
//! Properties: every range lies within the representation; a `206` only for
//! a satisfiable range; `416` carries `bytes */len`; an invalid field or
//! another unit is ignored (`200`); the plan reaches the model's answer,
//! except where §14.2 lets a server ignore an abusive field ("more than two
//! overlapping ranges", very many ranges or empty elements, numbers too long
//! to mean anything), where `200` is also accepted; a multipart body's
//! announced length is the sum of its parts; without the content at hand
//! no range is planned.
//!
//! Input: 8 bytes picking the representation's length, 1 byte picking the
//! method, then `Range` field lines separated by `\n`.
//!
//! [RFC 9110 §14]: https://www.rfc-editor.org/rfc/rfc9110#section-14
#![no_main]

use std::ops::RangeInclusive;

use http::header::RANGE;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use libfuzzer_sys::fuzz_target;
use revalidate_core::answer::{
    Plan, RangeField, Segment, content_range, multipart_layout, plan, range_length, range_plan,
    unsatisfied_range,
};
use revalidate_core::{HttpDate, Outcome, Preconditions, Validators};

/// What the model expects.
#[derive(Debug, PartialEq, Eq)]
enum Expected {
    /// `200`: no range applies.
    Full,
    /// `206` with these ranges, in the order asked.
    Partial(Vec<RangeInclusive<u64>>),
    /// `416`.
    Unsatisfiable,
}

enum Spec {
    /// `first-pos "-" [ last-pos ]`.
    Int(u128, Option<u128>),
    /// `"-" suffix-length`.
    Suffix(u128),
}

/// `1*DIGIT`, saturating far above any length; the digit count for the
/// "too long to mean anything" allowance.
fn digits(text: &str) -> Option<(u128, usize)> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value = text.bytes().fold(0u128, |v, b| {
        v.saturating_mul(10).saturating_add(u128::from(b - b'0'))
    });
    Some((value, text.len()))
}

/// What §14.2 also lets a server answer instead of the strict answer.
#[derive(Clone, Copy, Debug, Default)]
struct Leeway {
    /// "MAY ignore": `200`.
    ignore: bool,
    /// "MAY ... reject" an invalid ranges-specifier: `416`.
    reject: bool,
}

/// §14.1.1 `ranges-specifier` for the `bytes` unit, §14.1.2 byte ranges and
/// §14.2 satisfiability. Returns the strict answer and the leeway §14.2
/// gives a server.
fn model(len: u64, text: &str) -> (Expected, Leeway) {
    // `range-unit "=" range-set`; units are case-insensitive (§14.1).
    let Some((unit, set)) = text.split_once('=') else {
        return (Expected::Full, Leeway::default());
    };
    if !unit.eq_ignore_ascii_case("bytes") {
        // §14.2: "An origin server MUST ignore a Range header field that
        // contains a range unit it does not understand."
        return (Expected::Full, Leeway::default());
    }
    let mut specs = Vec::new();
    let mut empty = 0;
    let mut longest_number = 0;
    // `1#range-spec`, with empty elements and OWS around commas accepted
    // (§5.6.1.2), and OWS right after `=` tolerated as the crate does.
    for element in set.split(',') {
        let element = element.trim_matches([' ', '\t']);
        if element.is_empty() {
            empty += 1;
            continue;
        }
        let Some((first, last)) = element.split_once('-') else {
            return (Expected::Full, Leeway::default());
        };
        let spec = if first.is_empty() {
            let Some((n, d)) = digits(last) else {
                return (Expected::Full, Leeway::default());
            };
            longest_number = longest_number.max(d);
            Spec::Suffix(n)
        } else {
            let Some((f, d)) = digits(first) else {
                return (Expected::Full, Leeway::default());
            };
            longest_number = longest_number.max(d);
            let last = if last.is_empty() {
                None
            } else {
                let Some((l, d)) = digits(last) else {
                    return (Expected::Full, Leeway::default());
                };
                longest_number = longest_number.max(d);
                // §14.1.1: "A range-spec is invalid if ... last-pos < first-pos".
                if l < f {
                    // The crate reads numbers past u64 as u64::MAX, where the
                    // order is lost; it then rejects the range (416) rather
                    // than ignoring it, which §14.2 allows as well.
                    let leeway = Leeway {
                        ignore: longest_number > 30 || f > u128::from(u64::MAX),
                        reject: l > u128::from(u64::MAX),
                    };
                    return (Expected::Full, leeway);
                }
                Some(l)
            };
            Spec::Int(f, last)
        };
        specs.push(spec);
    }
    if specs.is_empty() {
        return (Expected::Full, Leeway::default());
    }
    let len128 = u128::from(len);
    let expected = if len == 0 {
        // §14.1.1: "If the selected representation has zero length, the only
        // satisfiable form of range-spec is a suffix-range with a non-zero
        // suffix-length" — which selects nothing, so the empty 200.
        if specs.iter().any(|s| matches!(s, Spec::Suffix(n) if *n > 0)) {
            Expected::Full
        } else {
            Expected::Unsatisfiable
        }
    } else {
        let ranges: Vec<RangeInclusive<u64>> = specs
            .iter()
            .filter_map(|spec| match *spec {
                // §14.1.2: satisfiable when first-pos < length; the end is
                // clamped to the last byte.
                Spec::Int(first, last) if first < len128 => {
                    Some(first as u64..=last.map_or(len - 1, |l| l.min(len128 - 1) as u64))
                }
                Spec::Int(..) => None,
                // "a suffix-range ... is satisfiable if suffix-length > 0";
                // a suffix longer than the representation selects all of it.
                Spec::Suffix(0) => None,
                Spec::Suffix(n) => Some((len128 - n.min(len128)) as u64..=len - 1),
            })
            .collect();
        if ranges.is_empty() {
            Expected::Unsatisfiable
        } else {
            Expected::Partial(ranges)
        }
    };
    // §14.2: "A server that supports range requests MAY ignore or reject a
    // Range header field that contains an invalid ranges-specifier, a
    // ranges-specifier with more than two overlapping ranges, or a set of
    // many small ranges that are not listed in ascending order"; and a
    // recipient need not accept unreasonably many empty elements (§5.6.1.2).
    let mut overlaps = 0;
    if let Expected::Partial(ranges) = &expected {
        let mut by_start: Vec<(u64, u64)> = ranges.iter().map(|r| (*r.start(), *r.end())).collect();
        by_start.sort_unstable();
        let mut max_end = by_start[0].1;
        for &(start, end) in &by_start[1..] {
            if start <= max_end {
                overlaps += 1;
            }
            max_end = max_end.max(end);
        }
    }
    // And overlapping ranges whose parts add up to more than a u64 can
    // count (representations past 2^63 bytes), with 2^32 for part headers.
    let selected: u128 = match &expected {
        Expected::Partial(ranges) => ranges.iter().map(|r| u128::from(r.end() - r.start()) + 1).sum(),
        _ => 0,
    };
    // A position past u64 addresses nothing a server holds; the servers
    // ignore such a field (the crate they parse with saturates it to
    // u64::MAX, which hides a reversed spec).
    let past_u64 = specs.iter().any(|spec| match *spec {
        Spec::Int(first, last) => {
            first > u128::from(u64::MAX) || last.is_some_and(|l| l > u128::from(u64::MAX))
        }
        Spec::Suffix(n) => n > u128::from(u64::MAX),
    });
    let ignore = overlaps >= 2
        || specs.len() > 100
        || empty >= 15
        || longest_number > 30
        || past_u64
        || selected + (1 << 32) > u128::from(u64::MAX);
    (
        expected,
        Leeway {
            ignore,
            reject: false,
        },
    )
}

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = data.split_first_chunk::<9>() else {
        return;
    };
    let raw = u64::from_le_bytes(head[..8].try_into().unwrap());
    // Mostly small lengths, where ranges are satisfiable, and the extremes.
    let len = match raw & 3 {
        0 => (raw >> 2) % 16,
        1 => (raw >> 2) % 100_000,
        2 => u64::MAX - (raw >> 2) % 16,
        _ => raw >> 2,
    };
    let method = match head[8] % 4 {
        0 | 1 => Method::GET,
        2 => Method::HEAD,
        _ => Method::POST,
    };
    // Field lines as an HTTP/1.1 parser hands them over: without OWS around.
    let lines: Vec<HeaderValue> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split(|&b| b == b'\n')
            .filter_map(|l| HeaderValue::from_bytes(l.trim_ascii()).ok())
            .collect()
    };

    let (expected, leeway) = match (&method, lines.as_slice()) {
        (&Method::GET, [line]) => match line.to_str() {
            Ok(text) => model(len, text),
            Err(_) => (Expected::Full, Leeway::default()),
        },
        // No Range, a repeated one (not a list field), or not a GET: ignored.
        _ => (Expected::Full, Leeway::default()),
    };
    let acceptable = |answer: &Expected, strict: &Expected| {
        answer == strict
            || (leeway.ignore && *answer == Expected::Full)
            || (leeway.reject && *answer == Expected::Unsatisfiable)
    };

    let mut request = HeaderMap::new();
    for line in &lines {
        request.append(RANGE, line.clone());
    }
    let field = RangeField::from_headers(&request);
    let now = HttpDate::from_unix_seconds(1_700_000_000).unwrap();
    let no_preconditions = Preconditions::from_headers(&HeaderMap::new());
    let planned = plan(
        &method,
        &no_preconditions,
        &field,
        StatusCode::OK,
        &Validators::new(),
        Some(len),
        now,
    );
    assert_eq!(
        planned,
        range_plan(&method, Outcome::Proceed, &field, StatusCode::OK, len),
        "with no preconditions, the plan is the range step's"
    );
    assert_eq!(
        range_plan(&method, Outcome::IgnoreRange, &field, StatusCode::OK, len),
        Plan::Full,
        "a failed If-Range ignores Range"
    );
    assert_eq!(
        range_plan(&method, Outcome::Proceed, &field, StatusCode::NOT_FOUND, len),
        Plan::Full,
        "only a 200 is cut"
    );
    assert_eq!(
        plan(
            &method,
            &no_preconditions,
            &field,
            StatusCode::OK,
            &Validators::new(),
            None,
            now
        ),
        Plan::Full,
        "no range without the content"
    );
    let as_expected = match &planned {
        Plan::Full => Expected::Full,
        Plan::Partial(r) => {
            assert_eq!(
                content_range(r, len),
                format!("bytes {}-{}/{len}", r.start(), r.end())
            );
            Expected::Partial(vec![r.clone()])
        }
        Plan::Multipart(rs) => {
            assert!(rs.len() > 1);
            let layout = multipart_layout(rs, len, &HeaderValue::from_static("text/plain"), b"v1");
            let mut sum = 0u64;
            for segment in &layout.segments {
                sum += match segment {
                    Segment::Literal(text) => text.len() as u64,
                    Segment::Slice { start, len: n } => {
                        assert!(*n > 0 && start.checked_add(*n).is_some_and(|end| end <= len));
                        *n
                    }
                };
            }
            assert_eq!(sum, layout.length, "multipart length");
            Expected::Partial(rs.clone())
        }
        Plan::Unsatisfiable => {
            // §15.5.17: a 416 "SHOULD" carry `bytes */complete-length`.
            assert_eq!(unsatisfied_range(len), format!("bytes */{len}"));
            Expected::Unsatisfiable
        }
        other => panic!("no preconditions were sent, yet {other:?}"),
    };
    if let Expected::Partial(ranges) = &as_expected {
        for r in ranges {
            assert!(
                r.start() <= r.end() && *r.end() < len && range_length(r) > 0,
                "range {r:?} outside {len}"
            );
        }
    }
    assert!(
        acceptable(&as_expected, &expected),
        "plan: {planned:?}, model: {expected:?} ({leeway:?}) for {lines:?} of {len}"
    );
});
