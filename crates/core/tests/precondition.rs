//! Preconditions: the examples of RFC 9110 §13.1 and the evaluation order
//! of §13.2.2, as one table.

use http::{Method, StatusCode};
use revalidate_core::{Condition, EntityTagList, HttpDate, IfRange, Outcome, Preconditions, Validators};

use crate::support::{date, headers, strong, weak};

/// Last-Modified of the representation in most rows (RFC 9110 §8.8.2's example).
const LM: &str = "Tue, 15 Nov 1994 12:45:26 GMT";
const LM_MINUS_1: &str = "Tue, 15 Nov 1994 12:45:25 GMT";
const LM_PLUS_1: &str = "Tue, 15 Nov 1994 12:45:27 GMT";
/// The server's clock in most rows: a day after `LM`.
const NOW: &str = "Wed, 16 Nov 1994 12:45:26 GMT";

struct Case {
    name: &'static str,
    method: Method,
    request: &'static [(&'static str, &'static str)],
    current: fn() -> Validators,
    outcome: Outcome,
    decided_by: Option<Condition>,
}

fn xyzzy() -> Validators {
    Validators::new()
        .with_etag(strong("xyzzy"))
        .with_last_modified(date(LM))
}
fn weak_xyzzy() -> Validators {
    Validators::new()
        .with_etag(weak("xyzzy"))
        .with_last_modified(date(LM))
}
fn no_etag() -> Validators {
    Validators::new().with_last_modified(date(LM))
}
fn no_validators() -> Validators {
    Validators::new()
}
fn missing() -> Validators {
    Validators::missing()
}
/// Modified within the second before the response's `Date`: weak.
fn fresh_lm() -> Validators {
    Validators::new().with_last_modified(date(LM)).with_date(date(LM))
}

use Condition::*;
use Outcome::*;

const fn case(
    name: &'static str,
    method: Method,
    request: &'static [(&'static str, &'static str)],
    current: fn() -> Validators,
    outcome: Outcome,
    decided_by: Option<Condition>,
) -> Case {
    Case {
        name,
        method,
        request,
        current,
        outcome,
        decided_by,
    }
}

fn table() -> Vec<Case> {
    vec![
        // --- §13.1.1 If-Match, with the RFC's example values.
        case(
            "if_match_single_matches",
            Method::PUT,
            &[("if-match", "\"xyzzy\"")],
            xyzzy,
            Proceed,
            None,
        ),
        case(
            "if_match_list_matches",
            Method::PUT,
            &[("if-match", "\"xyzzy\", \"r2d2xxxx\", \"c3piozzzz\"")],
            xyzzy,
            Proceed,
            None,
        ),
        case(
            "if_match_star_with_representation",
            Method::PUT,
            &[("if-match", "*")],
            xyzzy,
            Proceed,
            None,
        ),
        case(
            "if_match_star_without_representation",
            Method::PUT,
            &[("if-match", "*")],
            missing,
            PreconditionFailed,
            Some(IfMatch),
        ),
        case(
            "if_match_star_with_representation_without_etag",
            Method::PUT,
            &[("if-match", "*")],
            no_validators,
            Proceed,
            None,
        ),
        case(
            "if_match_mismatch",
            Method::PUT,
            &[("if-match", "\"r2d2xxxx\"")],
            xyzzy,
            PreconditionFailed,
            Some(IfMatch),
        ),
        case(
            "if_match_uses_strong_comparison_on_request_tag",
            Method::PUT,
            &[("if-match", "W/\"xyzzy\"")],
            xyzzy,
            PreconditionFailed,
            Some(IfMatch),
        ),
        case(
            "if_match_uses_strong_comparison_on_current_tag",
            Method::PUT,
            &[("if-match", "\"xyzzy\"")],
            weak_xyzzy,
            PreconditionFailed,
            Some(IfMatch),
        ),
        case(
            "if_match_without_current_etag",
            Method::DELETE,
            &[("if-match", "\"xyzzy\"")],
            no_etag,
            PreconditionFailed,
            Some(IfMatch),
        ),
        case(
            "if_match_on_missing_resource",
            Method::PUT,
            &[("if-match", "\"xyzzy\"")],
            missing,
            PreconditionFailed,
            Some(IfMatch),
        ),
        case(
            "if_match_on_get_matches",
            Method::GET,
            &[("if-match", "\"xyzzy\"")],
            xyzzy,
            Proceed,
            None,
        ),
        case(
            "if_match_on_get_fails_with_412",
            Method::GET,
            &[("if-match", "\"nope\"")],
            xyzzy,
            PreconditionFailed,
            Some(IfMatch),
        ),
        case(
            "if_match_across_field_lines",
            Method::PATCH,
            &[("if-match", "\"a\""), ("if-match", "\"xyzzy\"")],
            xyzzy,
            Proceed,
            None,
        ),
        case(
            "if_match_invalid_fails_closed",
            Method::PUT,
            &[("if-match", "xyzzy")],
            xyzzy,
            PreconditionFailed,
            Some(IfMatch),
        ),
        // --- §13.1.2 If-None-Match.
        case(
            "inm_single_matches_get",
            Method::GET,
            &[("if-none-match", "\"xyzzy\"")],
            xyzzy,
            NotModified,
            Some(IfNoneMatch),
        ),
        case(
            "inm_weak_form_matches_get",
            Method::GET,
            &[("if-none-match", "W/\"xyzzy\"")],
            xyzzy,
            NotModified,
            Some(IfNoneMatch),
        ),
        case(
            "inm_matches_weak_current",
            Method::HEAD,
            &[("if-none-match", "\"xyzzy\"")],
            weak_xyzzy,
            NotModified,
            Some(IfNoneMatch),
        ),
        case(
            "inm_list_matches",
            Method::GET,
            &[("if-none-match", "\"xyzzy\", \"r2d2xxxx\", \"c3piozzzz\"")],
            xyzzy,
            NotModified,
            Some(IfNoneMatch),
        ),
        case(
            "inm_weak_list_matches",
            Method::GET,
            &[("if-none-match", "W/\"xyzzy\", W/\"r2d2xxxx\", W/\"c3piozzzz\"")],
            xyzzy,
            NotModified,
            Some(IfNoneMatch),
        ),
        case(
            "inm_star_get",
            Method::GET,
            &[("if-none-match", "*")],
            xyzzy,
            NotModified,
            Some(IfNoneMatch),
        ),
        case(
            "inm_star_put_existing",
            Method::PUT,
            &[("if-none-match", "*")],
            xyzzy,
            PreconditionFailed,
            Some(IfNoneMatch),
        ),
        case(
            "inm_star_put_create_only",
            Method::PUT,
            &[("if-none-match", "*")],
            missing,
            Proceed,
            None,
        ),
        case(
            "inm_mismatch_get",
            Method::GET,
            &[("if-none-match", "\"r2d2xxxx\"")],
            xyzzy,
            Proceed,
            None,
        ),
        case(
            "inm_match_on_post_is_412",
            Method::POST,
            &[("if-none-match", "\"xyzzy\"")],
            xyzzy,
            PreconditionFailed,
            Some(IfNoneMatch),
        ),
        case(
            "inm_match_on_delete_is_412",
            Method::DELETE,
            &[("if-none-match", "W/\"xyzzy\"")],
            xyzzy,
            PreconditionFailed,
            Some(IfNoneMatch),
        ),
        case(
            "inm_without_current_etag",
            Method::GET,
            &[("if-none-match", "\"xyzzy\"")],
            no_etag,
            Proceed,
            None,
        ),
        case(
            "inm_second_field_line_matches",
            Method::GET,
            &[("if-none-match", "\"a\""), ("if-none-match", "\"xyzzy\"")],
            xyzzy,
            NotModified,
            Some(IfNoneMatch),
        ),
        case(
            "inm_comma_inside_quotes",
            Method::GET,
            &[("if-none-match", "\"x,y\", \"xyzzy\"")],
            xyzzy,
            NotModified,
            Some(IfNoneMatch),
        ),
        case(
            "inm_invalid_matches_nothing",
            Method::GET,
            &[("if-none-match", "xyzzy")],
            xyzzy,
            Proceed,
            None,
        ),
        // --- §13.1.3 If-Modified-Since (RFC example date 29 Oct 1994 is before LM).
        case(
            "ims_rfc_example_before_lm",
            Method::GET,
            &[("if-modified-since", "Sat, 29 Oct 1994 19:43:31 GMT")],
            xyzzy,
            Proceed,
            None,
        ),
        case(
            "ims_equal_to_lm",
            Method::GET,
            &[("if-modified-since", LM)],
            xyzzy,
            NotModified,
            Some(IfModifiedSince),
        ),
        case(
            "ims_after_lm",
            Method::HEAD,
            &[("if-modified-since", LM_PLUS_1)],
            xyzzy,
            NotModified,
            Some(IfModifiedSince),
        ),
        case(
            "ims_one_second_before_lm",
            Method::GET,
            &[("if-modified-since", LM_MINUS_1)],
            xyzzy,
            Proceed,
            None,
        ),
        case(
            "ims_rfc850_form",
            Method::GET,
            &[("if-modified-since", "Tuesday, 15-Nov-94 12:45:26 GMT")],
            xyzzy,
            NotModified,
            Some(IfModifiedSince),
        ),
        case(
            "ims_asctime_form",
            Method::GET,
            &[("if-modified-since", "Tue Nov 15 12:45:26 1994")],
            xyzzy,
            NotModified,
            Some(IfModifiedSince),
        ),
        case(
            "ims_ignored_for_post",
            Method::POST,
            &[("if-modified-since", LM)],
            xyzzy,
            Proceed,
            None,
        ),
        case(
            "ims_ignored_for_put",
            Method::PUT,
            &[("if-modified-since", LM)],
            xyzzy,
            Proceed,
            None,
        ),
        case(
            "ims_ignored_without_lm",
            Method::GET,
            &[("if-modified-since", LM)],
            no_validators,
            Proceed,
            None,
        ),
        case(
            "ims_invalid_ignored",
            Method::GET,
            &[("if-modified-since", "yesterday")],
            xyzzy,
            Proceed,
            None,
        ),
        case(
            "ims_epoch_ignored_not_epoch",
            Method::GET,
            &[("if-modified-since", "0")],
            xyzzy,
            Proceed,
            None,
        ),
        case(
            "ims_two_field_lines_ignored",
            Method::GET,
            &[("if-modified-since", LM), ("if-modified-since", LM)],
            xyzzy,
            Proceed,
            None,
        ),
        case(
            "ims_comma_list_ignored",
            Method::GET,
            &[(
                "if-modified-since",
                "Tue, 15 Nov 1994 12:45:26 GMT, Tue, 15 Nov 1994 12:45:26 GMT",
            )],
            xyzzy,
            Proceed,
            None,
        ),
        case(
            "ims_in_the_future_ignored",
            Method::GET,
            &[("if-modified-since", "Thu, 01 Jan 2099 00:00:00 GMT")],
            xyzzy,
            Proceed,
            None,
        ),
        case(
            "ims_equal_to_now_counts",
            Method::GET,
            &[("if-modified-since", NOW)],
            xyzzy,
            NotModified,
            Some(IfModifiedSince),
        ),
        // --- §13.1.4 If-Unmodified-Since.
        case(
            "ius_rfc_example_before_lm",
            Method::PUT,
            &[("if-unmodified-since", "Sat, 29 Oct 1994 19:43:31 GMT")],
            xyzzy,
            PreconditionFailed,
            Some(IfUnmodifiedSince),
        ),
        case(
            "ius_equal_to_lm",
            Method::PUT,
            &[("if-unmodified-since", LM)],
            xyzzy,
            Proceed,
            None,
        ),
        case(
            "ius_after_lm",
            Method::DELETE,
            &[("if-unmodified-since", LM_PLUS_1)],
            xyzzy,
            Proceed,
            None,
        ),
        case(
            "ius_one_second_before_lm",
            Method::PUT,
            &[("if-unmodified-since", LM_MINUS_1)],
            xyzzy,
            PreconditionFailed,
            Some(IfUnmodifiedSince),
        ),
        case(
            "ius_applies_to_get",
            Method::GET,
            &[("if-unmodified-since", LM_MINUS_1)],
            xyzzy,
            PreconditionFailed,
            Some(IfUnmodifiedSince),
        ),
        case(
            "ius_ignored_without_lm",
            Method::PUT,
            &[("if-unmodified-since", LM_MINUS_1)],
            no_validators,
            Proceed,
            None,
        ),
        case(
            "ius_ignored_on_missing_resource",
            Method::PUT,
            &[("if-unmodified-since", LM_MINUS_1)],
            missing,
            Proceed,
            None,
        ),
        case(
            "ius_invalid_ignored",
            Method::PUT,
            &[("if-unmodified-since", "not a date")],
            xyzzy,
            Proceed,
            None,
        ),
        case(
            "ius_skipped_when_if_match_present",
            Method::PUT,
            &[("if-match", "\"xyzzy\""), ("if-unmodified-since", LM_MINUS_1)],
            xyzzy,
            Proceed,
            None,
        ),
        case(
            "ius_skipped_even_when_if_match_invalid",
            Method::PUT,
            &[("if-match", "bad"), ("if-unmodified-since", LM)],
            xyzzy,
            PreconditionFailed,
            Some(IfMatch),
        ),
        // --- §13.2.2 order.
        case(
            "step1_if_match_before_inm",
            Method::GET,
            &[("if-match", "\"other\""), ("if-none-match", "\"xyzzy\"")],
            xyzzy,
            PreconditionFailed,
            Some(IfMatch),
        ),
        case(
            "step2_ius_before_inm",
            Method::GET,
            &[
                ("if-unmodified-since", LM_MINUS_1),
                ("if-none-match", "\"xyzzy\""),
            ],
            xyzzy,
            PreconditionFailed,
            Some(IfUnmodifiedSince),
        ),
        case(
            "step3_inm_passes_then_ims_ignored",
            Method::GET,
            &[("if-none-match", "\"other\""), ("if-modified-since", LM)],
            xyzzy,
            Proceed,
            None,
        ),
        case(
            "step3_invalid_inm_still_hides_ims",
            Method::GET,
            &[("if-none-match", "garbage"), ("if-modified-since", LM)],
            xyzzy,
            Proceed,
            None,
        ),
        case(
            "step1_pass_then_step3_not_modified",
            Method::GET,
            &[("if-match", "\"xyzzy\""), ("if-none-match", "\"xyzzy\"")],
            xyzzy,
            NotModified,
            Some(IfNoneMatch),
        ),
        // --- §13.1.5 If-Range, step 5.
        case(
            "if_range_etag_matches",
            Method::GET,
            &[("range", "bytes=0-9"), ("if-range", "\"xyzzy\"")],
            xyzzy,
            Proceed,
            None,
        ),
        case(
            "if_range_etag_stale",
            Method::GET,
            &[("range", "bytes=0-9"), ("if-range", "\"old\"")],
            xyzzy,
            IgnoreRange,
            Some(IfRange),
        ),
        case(
            "if_range_weak_request_tag",
            Method::GET,
            &[("range", "bytes=0-9"), ("if-range", "W/\"xyzzy\"")],
            xyzzy,
            IgnoreRange,
            Some(IfRange),
        ),
        case(
            "if_range_weak_current_tag",
            Method::GET,
            &[("range", "bytes=0-9"), ("if-range", "\"xyzzy\"")],
            weak_xyzzy,
            IgnoreRange,
            Some(IfRange),
        ),
        case(
            "if_range_date_exact_and_strong",
            Method::GET,
            &[("range", "bytes=0-9"), ("if-range", LM)],
            xyzzy,
            Proceed,
            None,
        ),
        case(
            "if_range_date_later_is_not_exact",
            Method::GET,
            &[("range", "bytes=0-9"), ("if-range", LM_PLUS_1)],
            xyzzy,
            IgnoreRange,
            Some(IfRange),
        ),
        case(
            "if_range_date_earlier",
            Method::GET,
            &[("range", "bytes=0-9"), ("if-range", LM_MINUS_1)],
            xyzzy,
            IgnoreRange,
            Some(IfRange),
        ),
        case(
            "if_range_date_weak_lm",
            Method::GET,
            &[("range", "bytes=0-9"), ("if-range", LM)],
            fresh_lm,
            IgnoreRange,
            Some(IfRange),
        ),
        case(
            "if_range_date_without_lm",
            Method::GET,
            &[("range", "bytes=0-9"), ("if-range", LM)],
            no_validators,
            IgnoreRange,
            Some(IfRange),
        ),
        case(
            "if_range_garbage",
            Method::GET,
            &[("range", "bytes=0-9"), ("if-range", "garbage")],
            xyzzy,
            IgnoreRange,
            Some(IfRange),
        ),
        case(
            "if_range_without_range_ignored",
            Method::GET,
            &[("if-range", "\"old\"")],
            xyzzy,
            Proceed,
            None,
        ),
        case(
            "if_range_on_head_ignored",
            Method::HEAD,
            &[("range", "bytes=0-9"), ("if-range", "\"old\"")],
            xyzzy,
            Proceed,
            None,
        ),
        case(
            "if_range_after_inm_not_modified",
            Method::GET,
            &[
                ("range", "bytes=0-9"),
                ("if-range", "\"old\""),
                ("if-none-match", "\"xyzzy\""),
            ],
            xyzzy,
            NotModified,
            Some(IfNoneMatch),
        ),
        // --- §13.2.1 methods that select no representation.
        case(
            "options_ignores_if_match",
            Method::OPTIONS,
            &[("if-match", "\"nope\"")],
            xyzzy,
            Proceed,
            None,
        ),
        case(
            "trace_ignores_inm",
            Method::TRACE,
            &[("if-none-match", "*")],
            xyzzy,
            Proceed,
            None,
        ),
        case(
            "connect_ignores_ius",
            Method::CONNECT,
            &[("if-unmodified-since", LM_MINUS_1)],
            xyzzy,
            Proceed,
            None,
        ),
        // --- No preconditions at all.
        case("unconditional_get", Method::GET, &[], xyzzy, Proceed, None),
        case(
            "unconditional_put_missing",
            Method::PUT,
            &[],
            missing,
            Proceed,
            None,
        ),
    ]
}

#[test]
fn rfc9110_section_13_table() {
    let now = date(NOW);
    let mut failures = Vec::new();
    for case in table() {
        let pre = Preconditions::from_headers(&headers(case.request));
        let got = pre.evaluate_detailed(&case.method, &(case.current)(), now);
        if got.outcome != case.outcome || got.decided_by != case.decided_by {
            failures.push(format!(
                "{}: expected {:?} by {:?}, got {:?} by {:?}",
                case.name, case.outcome, case.decided_by, got.outcome, got.decided_by
            ));
        }
        assert_eq!(pre.evaluate(&case.method, &(case.current)(), now), got.outcome);
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// §13.2.1: "A server MUST ignore all received preconditions if its response
/// to the same request without those conditions [...] would have been a
/// status code other than a 2xx (Successful) or 412 (Precondition Failed)."
#[test]
fn rfc9110_13_2_1_non_2xx_ignores_preconditions() {
    let pre = Preconditions::from_headers(&headers(&[("if-none-match", "*")]));
    let now = date(NOW);
    assert_eq!(
        pre.evaluate_for_status(&Method::GET, StatusCode::NOT_FOUND, &missing(), now),
        Proceed
    );
    assert_eq!(
        pre.evaluate_for_status(&Method::GET, StatusCode::MOVED_PERMANENTLY, &xyzzy(), now),
        Proceed
    );
    assert_eq!(
        pre.evaluate_for_status(&Method::GET, StatusCode::OK, &xyzzy(), now),
        NotModified
    );
    assert_eq!(
        pre.evaluate_for_status(&Method::PUT, StatusCode::PRECONDITION_FAILED, &xyzzy(), now),
        PreconditionFailed
    );
    assert_eq!(
        pre.evaluate_for_status(&Method::PUT, StatusCode::CREATED, &missing(), now),
        Proceed
    );
}

/// The parsed fields are exposed for diagnostics (the checker, logs).
#[test]
fn parsed_fields_are_inspectable() {
    let pre = Preconditions::from_headers(&headers(&[
        ("if-match", "*"),
        ("if-none-match", "W/\"a\""),
        ("if-modified-since", LM),
        ("if-unmodified-since", "nope"),
        ("if-range", "\"a\""),
        ("range", "bytes=0-1"),
    ]));
    assert_eq!(pre.if_match(), Some(Ok(EntityTagList::Any)));
    assert_eq!(
        pre.if_none_match(),
        Some(Ok(EntityTagList::Tags(vec![weak("a")])))
    );
    assert_eq!(pre.if_modified_since(), Some(Ok(date(LM))));
    assert!(matches!(pre.if_unmodified_since(), Some(Err(_))));
    assert_eq!(pre.if_range(), Some(&IfRange::EntityTag(strong("a"))));
    assert!(pre.has_range() && pre.is_conditional());
    assert!(
        !pre.guards_write(date(NOW)),
        "If-Match: * decides, and guards nothing"
    );

    let none = Preconditions::from_headers(&headers(&[("if-range", "\"a\"")]));
    assert!(
        !none.is_conditional(),
        "If-Range without Range is not a precondition"
    );
    assert!(!none.guards_write(date(NOW)));
    let ims_only = Preconditions::from_headers(&headers(&[("if-modified-since", LM)]));
    assert!(ims_only.is_conditional() && !ims_only.guards_write(date(NOW)));
}

/// "A valid entity-tag can be distinguished from a valid HTTP-date by
/// examining the first three characters for a DQUOTE" (§13.1.5).
#[test]
fn if_range_forms() {
    let parse = |v: &'static str| IfRange::from_field(headers(&[("if-range", v)]).get_all("if-range"));
    assert_eq!(parse("\"xyzzy\""), Some(IfRange::EntityTag(strong("xyzzy"))));
    assert_eq!(parse("W/\"xyzzy\""), Some(IfRange::EntityTag(weak("xyzzy"))));
    assert_eq!(parse(LM), Some(IfRange::Date(date(LM))));
    // The example of RFC 9110 §13.1.5.
    let example = "Wed, 21 Oct 2015 07:28:00 GMT";
    assert_eq!(parse(example), Some(IfRange::Date(date(example))));
    assert_eq!(parse("\"xyzzy"), Some(IfRange::Invalid));
    assert_eq!(parse("xyzzy"), Some(IfRange::Invalid));
    let two = headers(&[("if-range", "\"a\""), ("if-range", "\"a\"")]);
    assert_eq!(
        IfRange::from_field(two.get_all("if-range")),
        Some(IfRange::Invalid)
    );
    assert_eq!(IfRange::from_field(headers(&[]).get_all("if-range")), None);
}

/// §8.8.2.2: a Last-Modified is strong once the Date is a second later.
#[test]
fn rfc9110_8_8_2_2_last_modified_strength() {
    let lm = date(LM);
    let v = Validators::new().with_last_modified(lm);
    assert!(!v.last_modified_is_strong(lm), "same second as now: weak");
    assert!(v.last_modified_is_strong(lm.saturating_add(1)));
    let cached = v.clone().with_date(lm);
    assert!(
        !cached.last_modified_is_strong(lm.saturating_add(100)),
        "the stored Date decides, not now"
    );
    assert!(!Validators::new().last_modified_is_strong(HttpDate::MAX));
}

/// RFC 9110 §13.1.5's example date, against a representation last modified
/// at that second and served a day later: the range is honoured; one
/// second earlier or later, the whole representation is sent.
#[test]
fn rfc9110_13_1_5_if_range_example() {
    let example = "Wed, 21 Oct 2015 07:28:00 GMT";
    let now = date("Thu, 22 Oct 2015 07:28:00 GMT");
    let current = Validators::new().with_last_modified(date(example));
    let with_range =
        |if_range: &'static str| {
            Preconditions::from_headers(&headers(&[("range", "bytes=0-499"), ("if-range", if_range)]))
                .evaluate(&Method::GET, &current, now)
        };
    assert_eq!(with_range(example), Proceed);
    assert_eq!(with_range("Wed, 21 Oct 2015 07:27:59 GMT"), IgnoreRange);
    assert_eq!(with_range("Wed, 21 Oct 2015 07:28:01 GMT"), IgnoreRange);
}
