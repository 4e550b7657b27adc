//! Which exchanges stand behind a finding: the probes its rule reads, so a
//! report can show the request and response heads a reader needs to see
//! the fault for themselves. The plain `GET` is behind every finding (each
//! rule compares with it); the rest goes by the rule's family.

use crate::finding::Rule;
use crate::model::{Exchange, ProbeKind, WriteStep};

/// Whether `exchange` is part of the evidence for a finding of `rule`.
pub fn supports(rule: &Rule, exchange: &Exchange) -> bool {
    use ProbeKind as P;
    let kind = &exchange.kind;
    if *kind == P::Initial {
        return true;
    }
    let status = exchange.response.as_ref().ok().map(|r| r.status.as_u16());
    let not_modified = status == Some(304);
    let conditional_read = matches!(
        kind,
        P::IfNoneMatch(_)
            | P::IfModifiedSince(_)
            | P::InmWithIms
            | P::InmWithOldIms
            | P::IfMatch(_)
            | P::IfUnmodifiedSince(_)
            | P::RawNotModified
            | P::EncodingRevalidate(_)
            | P::NodeRevalidate(_)
    );
    match rule.id {
        "unexpected-status"
        | "redirect-not-followed"
        | "no-validators"
        | "etag-malformed"
        | "last-modified-malformed"
        | "last-modified-in-future"
        | "vary-inconsistent"
        | "vary-star"
        | "vary-fragments-cache"
        | "cache-control-syntax"
        | "cache-control-conflict"
        | "expires-malformed"
        | "freshness-heuristic"
        | "freshness" => false,
        "probe-failed" => exchange.response.is_err(),
        "etag-unstable" | "last-modified-unstable" => matches!(kind, P::Repeat(_)),
        "etag-same-for-different-bytes" => matches!(kind, P::Repeat(_) | P::Encoding(_) | P::Node(_)),
        "if-none-match-ignored"
        | "if-none-match-weak-comparison"
        | "if-none-match-list"
        | "if-none-match-star" => matches!(kind, P::IfNoneMatch(_)),
        "not-modified-for-changed-content"
        | "not-modified-missing-fields"
        | "not-modified-extra-metadata"
        | "not-modified-different-etag"
        | "not-modified-content-length"
        | "not-modified-has-body" => not_modified || *kind == P::RawNotModified,
        "conditional-unexpected-status" => {
            conditional_read && !matches!(status, Some(304 | 200..=299) | None)
        }
        "if-modified-since-ignored"
        | "if-modified-since-later-date-ignored"
        | "if-modified-since-not-ignored" => {
            matches!(
                kind,
                P::IfModifiedSince(_) | P::InmWithIms | P::InmWithOldIms | P::Write(WriteStep::Unconditional)
            )
        }
        "precondition-evaluated-on-error" => matches!(kind, P::MissingPlain | P::MissingIfMatch),
        "head-status-differs" | "head-validators-differ" | "head-fields-differ" => *kind == P::Head,
        "range-inconsistent" | "range-validators-differ" | "range-ignored" => {
            matches!(kind, P::Range | P::IfRange(_))
        }
        "if-range-stale-gave-partial" | "if-range-match-ignored" => matches!(kind, P::IfRange(_)),
        "encoding-same-strong-etag" | "encoding-etag-round-trip" | "vary-missing-accept-encoding" => {
            matches!(kind, P::Encoding(_) | P::EncodingRevalidate(_)) || (not_modified && conditional_read)
        }
        "etag-differs-between-nodes"
        | "last-modified-differs-between-nodes"
        | "content-differs-between-nodes"
        | "node-revalidation-fails" => matches!(kind, P::Node(_) | P::NodeRevalidate(_)),
        "cdn-detected" | "cdn-answers-not-modified" => not_modified,
        id if id.starts_with("cdn-") => *kind == P::Origin,
        // The writes' own (`PUT`) before the `GET` families below.
        "if-match-ignored" | "if-unmodified-since-ignored" => matches!(kind, P::Write(_)),
        id if id.starts_with("if-match-") => matches!(kind, P::IfMatch(_)),
        id if id.starts_with("if-unmodified-since-") => matches!(kind, P::IfUnmodifiedSince(_)),
        // The write checks (`--unsafe`) and anything added later: the
        // writes, or else only the plain GET.
        _ => matches!(kind, P::Write(_)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{self, RULES};
    use crate::model::{CheckOptions, IfMatchForm, InmForm, RecordedResponse, Recording};

    fn recording() -> Recording {
        Recording::new("http://example.test/", CheckOptions::default())
            .with(ProbeKind::Initial, &[], RecordedResponse::new(200))
            .with(
                ProbeKind::IfNoneMatch(InmForm::Exact),
                &[],
                RecordedResponse::new(304),
            )
            .with(
                ProbeKind::IfMatch(IfMatchForm::Foreign),
                &[],
                RecordedResponse::new(200),
            )
            .with(ProbeKind::Head, &[], RecordedResponse::new(200))
            .with(
                ProbeKind::Write(WriteStep::RaceA),
                &[],
                RecordedResponse::new(204),
            )
    }

    fn kinds(rule: &Rule) -> Vec<ProbeKind> {
        recording()
            .exchanges
            .iter()
            .filter(|e| supports(rule, e))
            .map(|e| e.kind.clone())
            .collect()
    }

    #[test]
    fn every_rule_has_the_plain_get_behind_it() {
        for rule in RULES {
            assert!(kinds(rule).contains(&ProbeKind::Initial), "{}", rule.id);
        }
    }

    #[test]
    fn each_family_gets_its_probes() {
        assert_eq!(
            kinds(&finding::NOT_MODIFIED_MISSING),
            [ProbeKind::Initial, ProbeKind::IfNoneMatch(InmForm::Exact)]
        );
        assert_eq!(
            kinds(&finding::HEAD_STATUS),
            [ProbeKind::Initial, ProbeKind::Head]
        );
        assert_eq!(
            kinds(&finding::IF_MATCH_NOT_EVALUATED),
            [ProbeKind::Initial, ProbeKind::IfMatch(IfMatchForm::Foreign)]
        );
        assert_eq!(
            kinds(&finding::LOST_UPDATE),
            [ProbeKind::Initial, ProbeKind::Write(WriteStep::RaceA)]
        );
        assert_eq!(kinds(&finding::FRESHNESS), [ProbeKind::Initial]);
    }
}
