//! Writes, only with `--unsafe`: `If-Match` and `If-Unmodified-Since`
//! giving 412 ([RFC 9110 §13.1.1](https://www.rfc-editor.org/rfc/rfc9110#section-13.1.1),
//! [§13.1.4](https://www.rfc-editor.org/rfc/rfc9110#section-13.1.4)),
//! create-only, the 428 policy ([RFC 6585 §3](https://www.rfc-editor.org/rfc/rfc6585#section-3))
//! and two racing writers.

use http::StatusCode;

use super::{Findings, tags_differ};
use crate::finding;
use crate::model::{ProbeKind, RecordedResponse, Recording, WriteStep};
use crate::plan::{racer_body, refuses_writes};

fn write(recording: &Recording, step: WriteStep) -> Option<&RecordedResponse> {
    recording.response(&ProbeKind::Write(step))
}

/// Whether two bodies hold the same document: equal bytes, or equal JSON.
fn same_document(a: &[u8], b: &[u8]) -> bool {
    a == b
        || matches!(
            (serde_json::from_slice::<serde_json::Value>(a), serde_json::from_slice::<serde_json::Value>(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

pub(super) fn check(recording: &Recording, initial: &RecordedResponse, out: &mut Findings) {
    if !recording.options.unsafe_writes {
        return;
    }
    let refused = recording
        .exchanges
        .iter()
        .find_map(|e| match (&e.kind, &e.response) {
            (ProbeKind::Write(step), Ok(r))
                if refuses_writes(r.status) && e.request.method == http::Method::PUT =>
            {
                Some((*step, r.status))
            }
            _ => None,
        });
    if let Some((step, status)) = refused {
        out.push(
            &finding::WRITES_SKIPPED,
            format!("PUT answered {status} (at {step:?}); the remaining write checks were skipped"),
        );
    }
    if initial.body_len > crate::model::BODY_CAP as u64 {
        out.push(
            &finding::WRITES_SKIPPED,
            "the representation is larger than the checker keeps, so it cannot be written back",
        );
    }
    let success = |step| write(recording, step).is_some_and(|r| r.status.is_success());
    let precondition_failed =
        |step| write(recording, step).is_some_and(|r| r.status == StatusCode::PRECONDITION_FAILED);
    if success(WriteStep::IfMatchStale) {
        out.push(
            &finding::IF_MATCH_IGNORED,
            format!(
                "PUT with If-Match: {} (a tag the server never sent) succeeded",
                crate::model::FOREIGN_TAG
            ),
        );
    }
    if success(WriteStep::IfUnmodifiedSinceStale) {
        out.push(
            &finding::IUS_IGNORED,
            format!(
                "PUT with If-Unmodified-Since a day before Last-Modified ({}) succeeded",
                initial.joined("last-modified").unwrap_or_default()
            ),
        );
    }
    if success(WriteStep::CreateOnlyExisting) {
        out.push(
            &finding::CREATE_ONLY_IGNORED,
            "PUT with If-None-Match: * on an existing resource succeeded",
        );
    }
    let all_refused = [WriteStep::IfMatchStale, WriteStep::CreateOnlyExisting]
        .into_iter()
        .all(precondition_failed);
    if all_refused
        && let Some(after) = write(recording, WriteStep::AfterRefused)
        && after.status.is_success()
        && (tags_differ(initial, after) || !same_document(&initial.body, &after.body))
    {
        out.push(
            &finding::WRITE_DESPITE_412,
            format!(
                "after writes answered 412, the resource changed from {} to {}",
                super::etag_text(initial),
                super::etag_text(after)
            ),
        );
    }
    if let Some(response) = write(recording, WriteStep::Unconditional) {
        if response.status == StatusCode::PRECONDITION_REQUIRED {
            out.push(
                &finding::REQUIRES_PRECONDITIONS,
                "a PUT without If-Match answered 428 Precondition Required",
            );
        } else if response.status.is_success() {
            out.push(
                &finding::NO_428_POLICY,
                format!("a PUT without any precondition answered {}", response.status),
            );
        } else if matches!(response.status.as_u16(), 304 | 412)
            && let Some(ims) = recording
                .exchange(&ProbeKind::Write(WriteStep::Unconditional))
                .and_then(|e| e.request.headers.get("if-modified-since"))
        {
            // §13.1.3: "A recipient MUST ignore the If-Modified-Since header
            // field if [...] the request method is neither GET nor HEAD."
            out.push(
                &finding::IMS_NOT_IGNORED_WITH_INM,
                format!(
                    "a PUT whose only condition was If-Modified-Since: {} answered {}; the field applies to GET and HEAD only",
                    String::from_utf8_lossy(ims.as_bytes()),
                    response.status
                ),
            );
        }
    }
    let (Some(a), Some(b)) = (
        write(recording, WriteStep::RaceA),
        write(recording, WriteStep::RaceB),
    ) else {
        return;
    };
    match (a.status.is_success(), b.status.is_success()) {
        // §13.1.1: "An origin server that evaluates an If-Match condition
        // MUST NOT perform the requested method if the condition evaluates
        // to false" — and after one write, the shared tag is no longer current.
        (true, true) => out.push(
            &finding::LOST_UPDATE,
            format!(
                "two concurrent PUTs with the same If-Match both succeeded ({} and {}): one overwrote the other",
                a.status, b.status
            ),
        ),
        (false, false)
            if a.status == StatusCode::PRECONDITION_FAILED && b.status == StatusCode::PRECONDITION_FAILED =>
        {
            out.push(
                &finding::RACE_BOTH_REFUSED,
                "two PUTs with If-Match of the current tag both answered 412",
            );
        }
        (true, false) | (false, true) => {
            let loser = if a.status.is_success() { "b" } else { "a" };
            if let Some(after) = write(recording, WriteStep::AfterRace)
                && same_document(&after.body, &racer_body(initial, loser))
            {
                out.push(
                    &finding::LOST_UPDATE,
                    format!("writer {loser} was refused, yet its content is what the resource holds after the race"),
                );
            }
        }
        (false, false) => {}
    }
}
