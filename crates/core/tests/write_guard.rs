//! Writes and lost updates: which fields guard a write for a server that
//! requires conditional requests (RFC 6585 §3), and `If-Unmodified-Since`
//! against a `Last-Modified` whose second may hold two changes (RFC 9110
//! §8.8.2.2, §13.1.4) or against a removal.

use http::Method;
use revalidate_core::{
    Condition, HttpDate, LastModifiedStrength, Outcome, Preconditions, Unguarded, Validators, WriteGuard,
};

use crate::support::{date, headers, strong};

const LM: &str = "Tue, 15 Nov 1994 12:45:26 GMT";
const LM_MINUS_1: &str = "Tue, 15 Nov 1994 12:45:25 GMT";
const LM_PLUS_1: &str = "Tue, 15 Nov 1994 12:45:27 GMT";
/// A row of the write guard table: case, fields, expected guard.
type GuardRow<'a> = (&'a str, &'a [(&'a str, &'a str)], WriteGuard);
/// A row of the removed-representation table: case, method, fields, state, outcome.
type RemovedRow<'a> = (
    &'a str,
    Method,
    &'a [(&'a str, &'a str)],
    fn() -> Validators,
    Outcome,
);

/// The server's clock: a day after `LM`.
const NOW: &str = "Wed, 16 Nov 1994 12:45:26 GMT";
const AFTER_NOW: &str = "Wed, 16 Nov 1994 12:45:27 GMT";

/// RFC 6585 §3 with RFC 9110 §13: the fields that protect a write from a
/// lost update, and why the others do not.
#[test]
fn rfc6585_3_write_guard_table() {
    use Unguarded::*;
    use WriteGuard::{CreateOnly, IfMatch, IfUnmodifiedSince};
    let cases: &[GuardRow<'_>] = &[
        ("if_match_one_tag", &[("if-match", "\"v1\"")], IfMatch),
        (
            "if_match_weak_tag_is_a_tag_list",
            &[("if-match", "W/\"v1\"")],
            IfMatch,
        ),
        (
            "if_match_two_lines",
            &[("if-match", "\"v1\""), ("if-match", "\"v2\"")],
            IfMatch,
        ),
        (
            "if_match_star",
            &[("if-match", "*")],
            WriteGuard::Unguarded(IfMatchAny),
        ),
        (
            "if_match_garbage",
            &[("if-match", "garbage")],
            WriteGuard::Unguarded(InvalidIfMatch),
        ),
        (
            "if_match_star_mixed_with_a_tag",
            &[("if-match", "*, \"v1\"")],
            WriteGuard::Unguarded(InvalidIfMatch),
        ),
        // §13.1.4: If-Unmodified-Since is ignored next to If-Match.
        (
            "if_match_star_hides_if_unmodified_since",
            &[("if-match", "*"), ("if-unmodified-since", LM)],
            WriteGuard::Unguarded(IfMatchAny),
        ),
        (
            "if_match_tag_with_if_unmodified_since",
            &[("if-match", "\"v1\""), ("if-unmodified-since", LM)],
            IfMatch,
        ),
        (
            "if_unmodified_since_past",
            &[("if-unmodified-since", LM)],
            IfUnmodifiedSince,
        ),
        (
            "if_unmodified_since_now",
            &[("if-unmodified-since", NOW)],
            IfUnmodifiedSince,
        ),
        (
            "if_unmodified_since_one_second_in_the_future",
            &[("if-unmodified-since", AFTER_NOW)],
            WriteGuard::Unguarded(FutureIfUnmodifiedSince),
        ),
        (
            "if_unmodified_since_far_future",
            &[("if-unmodified-since", "Fri, 31 Dec 9999 23:59:59 GMT")],
            WriteGuard::Unguarded(FutureIfUnmodifiedSince),
        ),
        (
            "if_unmodified_since_garbage",
            &[("if-unmodified-since", "garbage")],
            WriteGuard::Unguarded(InvalidIfUnmodifiedSince),
        ),
        (
            "if_unmodified_since_two_lines",
            &[("if-unmodified-since", LM), ("if-unmodified-since", LM)],
            WriteGuard::Unguarded(InvalidIfUnmodifiedSince),
        ),
        ("if_none_match_star", &[("if-none-match", "*")], CreateOnly),
        (
            "if_none_match_star_with_if_match_star",
            &[("if-none-match", "*"), ("if-match", "*")],
            CreateOnly,
        ),
        (
            "if_none_match_tag",
            &[("if-none-match", "\"zzz\"")],
            WriteGuard::Unguarded(IfNoneMatchTags),
        ),
        (
            "if_none_match_garbage",
            &[("if-none-match", "garbage")],
            WriteGuard::Unguarded(InvalidIfNoneMatch),
        ),
        (
            "if_none_match_tag_with_a_valid_if_unmodified_since",
            &[("if-none-match", "\"zzz\""), ("if-unmodified-since", LM)],
            IfUnmodifiedSince,
        ),
        (
            "if_modified_since_only",
            &[("if-modified-since", LM)],
            WriteGuard::Unguarded(Missing),
        ),
        ("no_fields", &[], WriteGuard::Unguarded(Missing)),
    ];
    for (name, fields, expected) in cases {
        let pre = Preconditions::from_headers(&headers(fields));
        assert_eq!(pre.write_guard(date(NOW)), *expected, "{name}");
        assert_eq!(
            pre.guards_write(date(NOW)),
            !matches!(expected, WriteGuard::Unguarded(_)),
            "{name}"
        );
    }
    for reason in [
        Missing,
        IfMatchAny,
        InvalidIfMatch,
        InvalidIfUnmodifiedSince,
        FutureIfUnmodifiedSince,
        IfNoneMatchTags,
        InvalidIfNoneMatch,
    ] {
        assert!(reason.describe().ends_with('.'), "{reason:?}");
    }
}

fn dated(strength: LastModifiedStrength) -> Validators {
    Validators::new()
        .with_etag(strong("v1"))
        .with_last_modified(date(LM))
        .with_last_modified_strength(strength)
}

/// §13.1.4 compares dates; §8.8.2.2 says an equal date proves nothing when
/// the representation may have changed twice in its second
/// (DEVIATION(weak-unmodified-since)). An earlier date always fails, a
/// later one always passes, whatever the strength.
#[test]
fn rfc9110_13_1_4_if_unmodified_since_against_the_strength_of_last_modified() {
    use LastModifiedStrength::*;
    use Outcome::*;
    let cases = [
        (Deduced, LM_MINUS_1, PreconditionFailed),
        (Deduced, LM, Proceed),
        (Deduced, LM_PLUS_1, Proceed),
        (Strong, LM_MINUS_1, PreconditionFailed),
        (Strong, LM, Proceed),
        (Strong, LM_PLUS_1, Proceed),
        (Weak, LM_MINUS_1, PreconditionFailed),
        (Weak, LM, PreconditionFailed),
        (Weak, LM_PLUS_1, Proceed),
    ];
    for (strength, sent, expected) in cases {
        for method in [Method::PUT, Method::PATCH, Method::DELETE, Method::POST] {
            let pre = Preconditions::from_headers(&headers(&[("if-unmodified-since", sent)]));
            let evaluation = pre.evaluate_detailed(&method, &dated(strength), date(NOW));
            assert_eq!(evaluation.outcome, expected, "{method} {strength:?} {sent}");
            if expected == PreconditionFailed {
                assert_eq!(evaluation.decided_by, Some(Condition::IfUnmodifiedSince));
            }
        }
    }
    // §13.1.4: If-Match decides alone, so a weak date next to a matching
    // tag changes nothing.
    let pre = Preconditions::from_headers(&headers(&[("if-match", "\"v1\""), ("if-unmodified-since", LM)]));
    assert_eq!(pre.evaluate(&Method::PUT, &dated(Weak), date(NOW)), Proceed);
}

/// §8.8.2.2: what the server says about the second overrides the deduction
/// from `Date`; If-Range (§13.1.5) follows it.
#[test]
fn rfc9110_8_8_2_2_stated_strength_overrides_the_date_rule() {
    use LastModifiedStrength::*;
    let lm = date(LM);
    let same_second = lm;
    let a_day_later = date(NOW);
    assert!(!dated(Deduced).last_modified_is_strong(same_second));
    assert!(dated(Deduced).last_modified_is_strong(a_day_later));
    assert!(dated(Strong).last_modified_is_strong(same_second));
    assert!(!dated(Weak).last_modified_is_strong(a_day_later));
    assert!(
        !Validators::new()
            .with_last_modified_strength(Strong)
            .last_modified_is_strong(a_day_later)
    );
    let ranged = Preconditions::from_headers(&headers(&[("range", "bytes=0-1"), ("if-range", LM)]));
    assert_eq!(
        ranged.evaluate(&Method::GET, &dated(Strong), same_second),
        Outcome::Proceed
    );
    assert_eq!(
        ranged.evaluate(&Method::GET, &dated(Weak), a_day_later),
        Outcome::IgnoreRange
    );
}

/// A representation removed at `LM` (DEVIATION(removed-unmodified-since)):
/// If-Unmodified-Since is evaluated against the removal, the other fields
/// see no representation, and no date makes a 304 of a removed resource.
#[test]
fn removed_representation_table() {
    use Outcome::*;
    let removed = || Validators::removed_at(date(LM));
    let weakly_removed =
        || Validators::removed_at(date(LM)).with_last_modified_strength(LastModifiedStrength::Weak);
    let cases: &[RemovedRow<'_>] = &[
        (
            "stale_if_unmodified_since",
            Method::PUT,
            &[("if-unmodified-since", LM_MINUS_1)],
            removed,
            PreconditionFailed,
        ),
        (
            "if_unmodified_since_at_the_removal",
            Method::PUT,
            &[("if-unmodified-since", LM)],
            removed,
            Proceed,
        ),
        (
            "if_unmodified_since_at_a_weak_removal",
            Method::PUT,
            &[("if-unmodified-since", LM)],
            weakly_removed,
            PreconditionFailed,
        ),
        (
            "if_unmodified_since_after_the_removal",
            Method::PUT,
            &[("if-unmodified-since", LM_PLUS_1)],
            removed,
            Proceed,
        ),
        (
            "if_match_tag",
            Method::PUT,
            &[("if-match", "\"v1\"")],
            removed,
            PreconditionFailed,
        ),
        (
            "if_match_star",
            Method::PUT,
            &[("if-match", "*")],
            removed,
            PreconditionFailed,
        ),
        (
            "if_none_match_star_creates",
            Method::PUT,
            &[("if-none-match", "*")],
            removed,
            Proceed,
        ),
        (
            "if_none_match_star_with_a_stale_date",
            Method::PUT,
            &[("if-none-match", "*"), ("if-unmodified-since", LM_MINUS_1)],
            removed,
            PreconditionFailed,
        ),
        (
            "if_modified_since_never_304",
            Method::GET,
            &[("if-modified-since", LM_PLUS_1)],
            removed,
            Proceed,
        ),
        (
            "if_range_date_never_matches",
            Method::GET,
            &[("range", "bytes=0-1"), ("if-range", LM)],
            removed,
            IgnoreRange,
        ),
        ("unconditional", Method::PUT, &[], removed, Proceed),
    ];
    for (name, method, fields, current, expected) in cases {
        let pre = Preconditions::from_headers(&headers(fields));
        assert_eq!(pre.evaluate(method, &current(), date(NOW)), *expected, "{name}");
    }
    // Without a known removal the field is ignored (§13.1.4).
    let pre = Preconditions::from_headers(&headers(&[("if-unmodified-since", LM_MINUS_1)]));
    assert_eq!(
        pre.evaluate(&Method::PUT, &Validators::missing(), date(NOW)),
        Proceed
    );
    assert!(!Validators::removed_at(HttpDate::UNIX_EPOCH).exists());
}
