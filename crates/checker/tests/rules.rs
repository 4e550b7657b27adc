//! Rule tables over hand-built recordings: no network.

use revalidate_checker::model::{
    CheckOptions, IfMatchForm, IfRangeForm, ImsForm, InmForm, IusForm, ProbeKind, RecordedResponse,
    Recording, WriteStep,
};
use revalidate_checker::{Severity, finding, rules};

const DATE: &str = "Tue, 14 Nov 2023 22:13:20 GMT";
const LAST_MODIFIED: &str = "Mon, 13 Nov 2023 22:13:20 GMT";
const BODY: &str = "0123456789abcdefghij";

fn ok() -> RecordedResponse {
    RecordedResponse::new(200)
        .header("etag", "\"v1\"")
        .header("last-modified", LAST_MODIFIED)
        .header("date", DATE)
        .header("cache-control", "max-age=60")
        .header("content-type", "text/plain")
        .header("vary", "accept-encoding")
        .body(BODY)
}

fn not_modified() -> RecordedResponse {
    RecordedResponse::new(304)
        .header("etag", "\"v1\"")
        .header("date", DATE)
        .header("cache-control", "max-age=60")
        .header("vary", "accept-encoding")
}

fn partial() -> RecordedResponse {
    RecordedResponse::new(206)
        .header("etag", "\"v1\"")
        .header("last-modified", LAST_MODIFIED)
        .header("content-range", "bytes 0-9/20")
        .body(&BODY.as_bytes()[..10])
}

fn gzip() -> RecordedResponse {
    RecordedResponse::new(200)
        .header("etag", "\"v1-gzip\"")
        .header("date", DATE)
        .header("cache-control", "max-age=60")
        .header("content-encoding", "gzip")
        .header("vary", "accept-encoding")
        .body(&b"\x1f\x8b compressed"[..])
}

/// A recording of a server that does everything right.
fn clean() -> Recording {
    let gzip_304 = RecordedResponse::new(304)
        .header("etag", "\"v1-gzip\"")
        .header("date", DATE)
        .header("cache-control", "max-age=60")
        .header("vary", "accept-encoding");
    Recording::new("http://example.test/doc", CheckOptions::default())
        .with(ProbeKind::Initial, &[], ok())
        .with(ProbeKind::Repeat(1), &[], ok())
        .with(ProbeKind::Repeat(2), &[], ok())
        .with(ProbeKind::Head, &[], ok().body(""))
        .with(ProbeKind::IfNoneMatch(InmForm::Exact), &[], not_modified())
        .with(ProbeKind::IfNoneMatch(InmForm::Weak), &[], not_modified())
        .with(ProbeKind::IfNoneMatch(InmForm::List), &[], not_modified())
        .with(ProbeKind::IfNoneMatch(InmForm::Star), &[], not_modified())
        .with(ProbeKind::IfNoneMatch(InmForm::Foreign), &[], ok())
        .with(
            ProbeKind::IfModifiedSince(ImsForm::AtLastModified),
            &[],
            not_modified(),
        )
        .with(ProbeKind::IfModifiedSince(ImsForm::BeforeLastModified), &[], ok())
        .with(
            ProbeKind::IfModifiedSince(ImsForm::AfterLastModified),
            &[],
            not_modified(),
        )
        .with(ProbeKind::IfModifiedSince(ImsForm::Invalid), &[], ok())
        .with(ProbeKind::IfMatch(IfMatchForm::Current), &[], ok())
        .with(ProbeKind::IfMatch(IfMatchForm::List), &[], ok())
        .with(ProbeKind::IfMatch(IfMatchForm::Star), &[], ok())
        .with(
            ProbeKind::IfMatch(IfMatchForm::Weak),
            &[],
            RecordedResponse::new(412),
        )
        .with(
            ProbeKind::IfMatch(IfMatchForm::Foreign),
            &[],
            RecordedResponse::new(412),
        )
        .with(ProbeKind::IfUnmodifiedSince(IusForm::AtLastModified), &[], ok())
        .with(
            ProbeKind::IfUnmodifiedSince(IusForm::BeforeLastModified),
            &[],
            RecordedResponse::new(412),
        )
        .with(ProbeKind::IfUnmodifiedSince(IusForm::Invalid), &[], ok())
        .with(ProbeKind::IfUnmodifiedSince(IusForm::WithIfMatch), &[], ok())
        .with(ProbeKind::MissingPlain, &[], RecordedResponse::new(404))
        .with(ProbeKind::MissingIfMatch, &[], RecordedResponse::new(404))
        .with(ProbeKind::InmWithIms, &[], ok())
        .with(ProbeKind::InmWithOldIms, &[], not_modified())
        .with(ProbeKind::RawNotModified, &[], not_modified())
        .with(ProbeKind::Range, &[], partial())
        .with(ProbeKind::IfRange(IfRangeForm::CurrentTag), &[], partial())
        .with(ProbeKind::IfRange(IfRangeForm::StaleTag), &[], ok())
        .with(ProbeKind::IfRange(IfRangeForm::WeakTag), &[], ok())
        .with(ProbeKind::IfRange(IfRangeForm::StaleDate), &[], ok())
        .with(ProbeKind::Encoding("gzip".into()), &[], gzip())
        .with(ProbeKind::EncodingRevalidate("gzip".into()), &[], gzip_304)
}

/// Replaces the response of one probe.
fn replace(recording: Recording, kind: ProbeKind, response: RecordedResponse) -> Recording {
    let mut recording = recording;
    recording.exchanges.retain(|e| e.kind != kind);
    recording.with(kind, &[], response)
}

fn ids(recording: &Recording) -> Vec<&'static str> {
    rules::evaluate(recording).iter().map(|f| f.rule.id).collect()
}

#[test]
fn clean_recording_has_only_explanations() {
    let findings = rules::evaluate(&clean());
    assert!(
        findings.iter().all(|f| f.severity() == Severity::Info),
        "{findings:#?}"
    );
    let freshness = findings.iter().find(|f| f.rule.id == "freshness").unwrap();
    assert!(
        freshness.message.contains("60 seconds (from max-age)"),
        "{}",
        freshness.message
    );
}

#[test]
fn each_fault_gives_its_finding() {
    let cases: Vec<(&str, Recording, &str)> = vec![
        (
            "no_validators",
            replace(
                clean(),
                ProbeKind::Initial,
                RecordedResponse::new(200)
                    .header("cache-control", "max-age=60")
                    .body(BODY),
            ),
            "no-validators",
        ),
        (
            "unquoted_etag",
            replace(clean(), ProbeKind::Initial, ok().header("etag", "v1")),
            "etag-malformed",
        ),
        (
            "last_modified_after_date",
            replace(
                clean(),
                ProbeKind::Initial,
                RecordedResponse::new(200)
                    .header("etag", "\"v1\"")
                    .header("date", LAST_MODIFIED)
                    .header("last-modified", DATE)
                    .header("cache-control", "max-age=60")
                    .body(BODY),
            ),
            "last-modified-in-future",
        ),
        (
            "etag_from_a_request_counter",
            replace(clean(), ProbeKind::Repeat(1), {
                let mut r = ok();
                r.headers.insert("etag", "\"v2\"".parse().unwrap());
                r
            }),
            "etag-unstable",
        ),
        (
            "same_strong_tag_for_new_bytes",
            replace(clean(), ProbeKind::Repeat(2), ok().body("other bytes")),
            "etag-same-for-different-bytes",
        ),
        (
            "inm_gives_200",
            replace(clean(), ProbeKind::IfNoneMatch(InmForm::Exact), ok()),
            "if-none-match-ignored",
        ),
        (
            "inm_weak_form_gives_200",
            replace(clean(), ProbeKind::IfNoneMatch(InmForm::Weak), ok()),
            "if-none-match-weak-comparison",
        ),
        (
            "inm_list_gives_200",
            replace(clean(), ProbeKind::IfNoneMatch(InmForm::List), ok()),
            "if-none-match-list",
        ),
        (
            "inm_star_gives_200",
            replace(clean(), ProbeKind::IfNoneMatch(InmForm::Star), ok()),
            "if-none-match-star",
        ),
        (
            "inm_foreign_gives_304",
            replace(clean(), ProbeKind::IfNoneMatch(InmForm::Foreign), not_modified()),
            "not-modified-for-changed-content",
        ),
        (
            "inm_gives_412_on_get",
            replace(
                clean(),
                ProbeKind::IfNoneMatch(InmForm::Exact),
                RecordedResponse::new(412),
            ),
            "conditional-unexpected-status",
        ),
        (
            "ims_gives_200",
            replace(clean(), ProbeKind::IfModifiedSince(ImsForm::AtLastModified), ok()),
            "if-modified-since-ignored",
        ),
        (
            "ims_before_modification_gives_304",
            replace(
                clean(),
                ProbeKind::IfModifiedSince(ImsForm::BeforeLastModified),
                not_modified(),
            ),
            "not-modified-for-changed-content",
        ),
        (
            "ims_decides_next_to_inm",
            replace(clean(), ProbeKind::InmWithIms, not_modified()),
            "if-modified-since-not-ignored",
        ),
        (
            "stock_nginx_wants_both_inm_and_ims_to_pass",
            replace(clean(), ProbeKind::InmWithOldIms, ok()),
            "if-modified-since-not-ignored",
        ),
        (
            "stock_nginx_ims_exact_answers_200_to_a_later_date",
            replace(
                clean(),
                ProbeKind::IfModifiedSince(ImsForm::AfterLastModified),
                ok(),
            ),
            "if-modified-since-later-date-ignored",
        ),
        (
            "ims_not_a_date_gives_304",
            replace(
                clean(),
                ProbeKind::IfModifiedSince(ImsForm::Invalid),
                not_modified(),
            ),
            "if-modified-since-not-ignored",
        ),
        (
            "if_match_foreign_gives_200",
            replace(clean(), ProbeKind::IfMatch(IfMatchForm::Foreign), ok()),
            "if-match-not-evaluated",
        ),
        (
            "if_match_weak_gives_200",
            replace(clean(), ProbeKind::IfMatch(IfMatchForm::Weak), ok()),
            "if-match-weak-comparison",
        ),
        (
            "if_match_star_gives_412",
            replace(
                clean(),
                ProbeKind::IfMatch(IfMatchForm::Star),
                RecordedResponse::new(412),
            ),
            "if-match-current-refused",
        ),
        (
            "if_match_list_gives_412",
            replace(
                clean(),
                ProbeKind::IfMatch(IfMatchForm::List),
                RecordedResponse::new(412),
            ),
            "if-match-current-refused",
        ),
        (
            "ius_before_gives_200",
            replace(
                clean(),
                ProbeKind::IfUnmodifiedSince(IusForm::BeforeLastModified),
                ok(),
            ),
            "if-unmodified-since-not-evaluated",
        ),
        (
            "ius_at_last_modified_gives_412",
            replace(
                clean(),
                ProbeKind::IfUnmodifiedSince(IusForm::AtLastModified),
                RecordedResponse::new(412),
            ),
            "if-unmodified-since-current-refused",
        ),
        (
            "ius_not_a_date_gives_412",
            replace(
                clean(),
                ProbeKind::IfUnmodifiedSince(IusForm::Invalid),
                RecordedResponse::new(412),
            ),
            "if-unmodified-since-not-ignored",
        ),
        (
            "stock_nginx_ius_decides_next_to_if_match",
            replace(
                clean(),
                ProbeKind::IfUnmodifiedSince(IusForm::WithIfMatch),
                RecordedResponse::new(412),
            ),
            "if-unmodified-since-not-ignored",
        ),
        (
            "if_match_turns_404_into_412",
            replace(clean(), ProbeKind::MissingIfMatch, RecordedResponse::new(412)),
            "precondition-evaluated-on-error",
        ),
        (
            "304_without_etag",
            replace(clean(), ProbeKind::IfNoneMatch(InmForm::Exact), {
                let mut r = not_modified();
                r.headers.remove("etag");
                r
            }),
            "not-modified-missing-fields",
        ),
        (
            "304_with_content_type",
            replace(
                clean(),
                ProbeKind::IfNoneMatch(InmForm::Exact),
                not_modified().header("content-type", "text/plain"),
            ),
            "not-modified-extra-metadata",
        ),
        (
            "304_with_another_tag",
            replace(clean(), ProbeKind::IfNoneMatch(InmForm::Star), {
                let mut r = not_modified();
                r.headers.insert("etag", "\"v0\"".parse().unwrap());
                r
            }),
            "not-modified-different-etag",
        ),
        (
            "304_with_content_length_0",
            replace(
                clean(),
                ProbeKind::IfNoneMatch(InmForm::Exact),
                not_modified().header("content-length", "0"),
            ),
            "not-modified-content-length",
        ),
        (
            "304_with_body_on_the_wire",
            replace(
                clean(),
                ProbeKind::RawNotModified,
                not_modified().body("leftover"),
            ),
            "not-modified-has-body",
        ),
        (
            "head_404",
            replace(clean(), ProbeKind::Head, RecordedResponse::new(404)),
            "head-status-differs",
        ),
        (
            "head_other_etag",
            replace(clean(), ProbeKind::Head, {
                let mut r = ok().body("");
                r.headers.insert("etag", "\"head\"".parse().unwrap());
                r
            }),
            "head-validators-differ",
        ),
        (
            "head_other_cache_control",
            replace(clean(), ProbeKind::Head, {
                let mut r = ok().body("");
                r.headers.insert("cache-control", "no-store".parse().unwrap());
                r
            }),
            "head-fields-differ",
        ),
        (
            "range_wrong_bytes",
            replace(clean(), ProbeKind::Range, partial().body("XXXXXXXXXX")),
            "range-inconsistent",
        ),
        (
            "range_wrong_total",
            replace(clean(), ProbeKind::Range, {
                let mut r = partial();
                r.headers.insert("content-range", "bytes 0-9/99".parse().unwrap());
                r
            }),
            "range-inconsistent",
        ),
        (
            "range_ignored_despite_accept_ranges",
            replace(
                replace(clean(), ProbeKind::Initial, ok().header("accept-ranges", "bytes")),
                ProbeKind::Range,
                ok(),
            ),
            "range-ignored",
        ),
        (
            "if_range_stale_tag_206",
            replace(clean(), ProbeKind::IfRange(IfRangeForm::StaleTag), partial()),
            "if-range-stale-gave-partial",
        ),
        (
            "if_range_weak_tag_206",
            replace(clean(), ProbeKind::IfRange(IfRangeForm::WeakTag), partial()),
            "if-range-stale-gave-partial",
        ),
        (
            "if_range_stale_date_206",
            replace(clean(), ProbeKind::IfRange(IfRangeForm::StaleDate), partial()),
            "if-range-stale-gave-partial",
        ),
        (
            "if_range_current_ignored",
            replace(clean(), ProbeKind::IfRange(IfRangeForm::CurrentTag), ok()),
            "if-range-match-ignored",
        ),
        (
            "gzip_shares_strong_tag",
            replace(clean(), ProbeKind::Encoding("gzip".into()), {
                let mut r = gzip();
                r.headers.insert("etag", "\"v1\"".parse().unwrap());
                r
            }),
            "encoding-same-strong-etag",
        ),
        (
            "gzip_tag_does_not_round_trip",
            replace(clean(), ProbeKind::EncodingRevalidate("gzip".into()), gzip()),
            "encoding-etag-round-trip",
        ),
        (
            "gzip_without_vary",
            replace(clean(), ProbeKind::Encoding("gzip".into()), {
                let mut r = gzip();
                r.headers.remove("vary");
                r
            }),
            "vary-missing-accept-encoding",
        ),
        (
            "vary_star",
            replace(clean(), ProbeKind::Initial, {
                let mut r = ok();
                r.headers.insert("vary", "*".parse().unwrap());
                r
            }),
            "vary-star",
        ),
        (
            "cache_control_bad_max_age",
            replace(clean(), ProbeKind::Initial, {
                let mut r = ok();
                r.headers.insert("cache-control", "max-age=1h".parse().unwrap());
                r
            }),
            "cache-control-syntax",
        ),
        (
            "cache_control_public_private",
            replace(clean(), ProbeKind::Initial, {
                let mut r = ok();
                r.headers
                    .insert("cache-control", "public, private, max-age=5".parse().unwrap());
                r
            }),
            "cache-control-conflict",
        ),
        (
            "expires_zero_alone",
            replace(clean(), ProbeKind::Initial, {
                let mut r = ok();
                r.headers.remove("cache-control");
                r.headers.insert("expires", "0".parse().unwrap());
                r
            }),
            "expires-malformed",
        ),
        (
            "heuristic_freshness",
            replace(clean(), ProbeKind::Initial, {
                let mut r = ok();
                r.headers.remove("cache-control");
                r
            }),
            "freshness-heuristic",
        ),
        (
            "redirect",
            Recording::new("http://example.test/", CheckOptions::default()).with(
                ProbeKind::Initial,
                &[],
                RecordedResponse::new(301).header("location", "https://example.test/"),
            ),
            "redirect-not-followed",
        ),
        (
            "not_found",
            Recording::new("http://example.test/", CheckOptions::default()).with(
                ProbeKind::Initial,
                &[],
                RecordedResponse::new(404),
            ),
            "unexpected-status",
        ),
        (
            "a_probe_timed_out",
            clean().with_failure(ProbeKind::IfNoneMatch(InmForm::Weak), "no response within 5 s"),
            "probe-failed",
        ),
    ];
    let mut failures = Vec::new();
    for (case, recording, expected) in cases {
        let found = ids(&recording);
        if !found.contains(&expected) {
            failures.push(format!("{case}: expected {expected}, got {found:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn nodes_recording(b: RecordedResponse) -> Recording {
    let (a_addr, b_addr) = ("10.0.0.1:80".parse().unwrap(), "10.0.0.2:80".parse().unwrap());
    let options = CheckOptions {
        backends: vec![a_addr, b_addr],
        ..CheckOptions::default()
    };
    let mut recording = clean();
    recording.options = options;
    recording
        .with(ProbeKind::Node(a_addr), &[], ok())
        .with(ProbeKind::Node(b_addr), &[], b)
        .with(ProbeKind::NodeRevalidate(a_addr), &[], not_modified())
}

#[test]
fn nodes_table() {
    let other_tag = {
        let mut r = ok();
        r.headers.insert("etag", "\"v1-node-b\"".parse().unwrap());
        r
    };
    let other_date = {
        let mut r = ok();
        r.headers.insert("last-modified", DATE.parse().unwrap());
        r
    };
    for (case, b, expected) in [
        ("same_everything", ok(), None),
        ("other_tag", other_tag, Some("etag-differs-between-nodes")),
        (
            "other_date",
            other_date,
            Some("last-modified-differs-between-nodes"),
        ),
        (
            "other_bytes",
            ok().body("older deploy"),
            Some("content-differs-between-nodes"),
        ),
    ] {
        let found = ids(&nodes_recording(b));
        let problems: Vec<_> = found
            .iter()
            .filter(|id| finding::rule(id).unwrap().severity.is_problem())
            .collect();
        match expected {
            None => assert!(problems.is_empty(), "{case}: {found:?}"),
            Some(id) => assert!(found.contains(&id), "{case}: {found:?}"),
        }
    }
}

fn cdn_recording(cdn: RecordedResponse, origin: RecordedResponse) -> Recording {
    let mut recording = replace(clean(), ProbeKind::Initial, cdn);
    recording.options.origin = Some("http://origin.test/doc".into());
    recording.with(ProbeKind::Origin, &[], origin)
}

#[test]
fn cdn_table() {
    let old = |age: &str| {
        let mut r = ok().header("age", age).header("x-cache", "HIT").body("old bytes");
        r.headers.insert("etag", "\"v0\"".parse().unwrap());
        r
    };
    let rewritten = {
        let mut r = ok().header("x-cache", "HIT");
        r.headers.insert("etag", "\"cdn-123\"".parse().unwrap());
        r
    };
    for (case, cdn, expected) in [
        ("in_sync", ok().header("age", "5"), "cdn-detected"),
        ("stale_copy", old("600"), "cdn-stale-etag"),
        ("fresh_older_copy", old("10"), "cdn-holds-older-copy"),
        ("rewritten_tag", rewritten, "cdn-etag-differs-from-origin"),
        (
            "same_tag_other_bytes",
            ok().header("age", "5").body("changed"),
            "cdn-same-etag-different-bytes",
        ),
    ] {
        let found = ids(&cdn_recording(cdn, ok()));
        assert!(found.contains(&expected), "{case}: {found:?}");
    }
}

#[test]
fn writes_table() {
    let with_writes = |steps: &[(WriteStep, u16)]| {
        let mut recording = clean();
        recording.options.unsafe_writes = true;
        for (step, status) in steps {
            let response = if *status == 200 {
                ok()
            } else {
                RecordedResponse::new(*status)
            };
            recording = recording.with(ProbeKind::Write(*step), &[], response);
        }
        recording
    };
    let good = [
        (WriteStep::IfMatchStale, 412),
        (WriteStep::IfUnmodifiedSinceStale, 412),
        (WriteStep::CreateOnlyExisting, 412),
        (WriteStep::AfterRefused, 200),
        (WriteStep::Unconditional, 428),
        (WriteStep::BeforeRace, 200),
        (WriteStep::RaceA, 204),
        (WriteStep::RaceB, 412),
    ];
    let found = ids(&with_writes(&good));
    assert!(found.contains(&"preconditions-required"), "{found:?}");
    assert!(
        found
            .iter()
            .all(|id| !finding::rule(id).unwrap().severity.is_problem()),
        "{found:?}"
    );
    for (case, step, status, expected) in [
        (
            "stale_if_match_written",
            WriteStep::IfMatchStale,
            204,
            "if-match-ignored",
        ),
        (
            "stale_ius_written",
            WriteStep::IfUnmodifiedSinceStale,
            200,
            "if-unmodified-since-ignored",
        ),
        (
            "create_only_overwrote",
            WriteStep::CreateOnlyExisting,
            201,
            "create-only-not-enforced",
        ),
        ("both_racers_won", WriteStep::RaceB, 204, "lost-update"),
        (
            "unconditional_accepted",
            WriteStep::Unconditional,
            204,
            "unconditional-write-accepted",
        ),
        ("put_not_allowed", WriteStep::IfMatchStale, 405, "writes-skipped"),
    ] {
        let steps: Vec<(WriteStep, u16)> = good
            .iter()
            .map(|(s, st)| if *s == step { (*s, status) } else { (*s, *st) })
            .collect();
        let found = ids(&with_writes(&steps));
        assert!(found.contains(&expected), "{case}: {found:?}");
    }
}

/// The crate docs list every rule with its severity and section.
#[test]
fn crate_docs_list_every_rule() {
    let docs = include_str!("../src/lib.rs");
    for rule in finding::RULES {
        let row = format!("| `{}` | {} | {} |", rule.id, rule.severity, rule.section);
        assert!(docs.contains(&row), "missing from lib.rs: {row}");
    }
}
