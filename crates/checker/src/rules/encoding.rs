//! Content codings: a distinct entity-tag per coding
//! ([RFC 9110 §8.8.3.3](https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3.3)),
//! `Vary` on every response ([§12.5.5](https://www.rfc-editor.org/rfc/rfc9110#section-12.5.5)),
//! each coding's tag revalidating.

use http::StatusCode;

use super::conditional::check_not_modified;
use super::{Findings, coding_of, etag_of, vary_set};
use crate::finding;
use crate::model::{InmForm, ProbeKind, RecordedResponse, Recording};
use crate::plan::CODINGS;

pub(super) fn check(recording: &Recording, initial: &RecordedResponse, out: &mut Findings) {
    let identity = coding_of(initial);
    let mut varies = false;
    for coding in CODINGS {
        let Some(variant) = recording.response(&ProbeKind::Encoding(coding.to_owned())) else {
            continue;
        };
        if !variant.status.is_success() {
            continue;
        }
        let used = coding_of(variant);
        if used == identity {
            continue;
        }
        varies = true;
        if !variant.same_body(initial)
            && let (Some(plain), Some(coded)) = (etag_of(initial), etag_of(variant))
            && plain.strong_eq(&coded)
        {
            out.push(
                &finding::ENCODING_SAME_ETAG,
                format!(
                    "Content-Encoding: {used} and {identity} both carry the strong ETag {plain} for different bytes; a range or a cache mixes them"
                ),
            );
        }
        if vary_set(initial) != vary_set(variant) {
            out.push(
                &finding::VARY_INCONSISTENT,
                format!(
                    "Vary is {{{}}} for {identity} and {{{}}} for {used}",
                    vary_set(initial).into_iter().collect::<Vec<_>>().join(", "),
                    vary_set(variant).into_iter().collect::<Vec<_>>().join(", ")
                ),
            );
        }
        let revalidate = ProbeKind::EncodingRevalidate(coding.to_owned());
        if let Some(response) = recording.response(&revalidate) {
            match response.status {
                StatusCode::NOT_MODIFIED => check_not_modified(variant, response, &revalidate, out),
                status if status.is_success() => out.push(
                    &finding::ENCODING_ROUND_TRIP,
                    format!(
                        "If-None-Match: {} (the tag of the {used} response) with Accept-Encoding: {coding} answered {status}",
                        super::etag_text(variant)
                    ),
                ),
                status => out.push(
                    &finding::CONDITIONAL_STATUS,
                    format!("{revalidate} answered {status}"),
                ),
            }
        }
    }
    if !varies {
        return;
    }
    // The coding depends on Accept-Encoding, so every response must say so,
    // or a cache hands gzip to a client that cannot read it.
    let mut lacking = Vec::new();
    let mut kinds = vec![ProbeKind::Initial, ProbeKind::IfNoneMatch(InmForm::Exact)];
    kinds.extend(CODINGS.iter().map(|c| ProbeKind::Encoding((*c).to_owned())));
    kinds.extend(
        CODINGS
            .iter()
            .map(|c| ProbeKind::EncodingRevalidate((*c).to_owned())),
    );
    for kind in kinds {
        let Some(response) = recording.response(&kind) else {
            continue;
        };
        if !(response.status.is_success() || response.status == StatusCode::NOT_MODIFIED) {
            continue;
        }
        let vary = vary_set(response);
        if !vary.contains("accept-encoding") && !vary.contains("*") {
            lacking.push(format!("{kind} ({})", response.status.as_u16()));
        }
    }
    if !lacking.is_empty() {
        out.push(
            &finding::VARY_MISSING_ACCEPT_ENCODING,
            format!(
                "the content coding depends on Accept-Encoding, but these responses lack Vary: Accept-Encoding: {}",
                lacking.join(", ")
            ),
        );
    }
}
