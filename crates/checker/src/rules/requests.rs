//! `HEAD` against `GET` ([RFC 9110 §9.3.2](https://www.rfc-editor.org/rfc/rfc9110#section-9.3.2)),
//! `Range` ([§14](https://www.rfc-editor.org/rfc/rfc9110#section-14)) and
//! `If-Range` ([§13.1.5](https://www.rfc-editor.org/rfc/rfc9110#section-13.1.5)).

use http::StatusCode;

use super::{Findings, etag_text};
use crate::finding;
use crate::model::{IfRangeForm, ProbeKind, RecordedResponse, Recording};
use crate::plan::requested_range;

pub(super) fn check(recording: &Recording, initial: &RecordedResponse, out: &mut Findings) {
    check_head(recording, initial, out);
    check_ranges(recording, initial, out);
}

fn check_head(recording: &Recording, initial: &RecordedResponse, out: &mut Findings) {
    let Some(head) = recording.response(&ProbeKind::Head) else {
        return;
    };
    if head.status != initial.status {
        out.push(
            &finding::HEAD_STATUS,
            format!("GET answered {}, HEAD {}", initial.status, head.status),
        );
        return;
    }
    // Validators that change on every request are reported once, as unstable.
    let stable = recording
        .response(&ProbeKind::Repeat(1))
        .is_none_or(|again| !super::tags_differ(initial, again));
    for name in ["etag", "last-modified"] {
        if stable && initial.joined(name) != head.joined(name) {
            out.push(
                &finding::HEAD_VALIDATORS,
                format!(
                    "{name}: GET has {}, HEAD has {}",
                    initial.joined(name).unwrap_or_else(|| "none".to_owned()),
                    head.joined(name).unwrap_or_else(|| "none".to_owned())
                ),
            );
        }
    }
    for name in ["content-type", "cache-control", "vary", "content-encoding"] {
        if initial.joined(name) != head.joined(name) {
            out.push(
                &finding::HEAD_FIELDS,
                format!(
                    "{name}: GET has {}, HEAD has {}",
                    initial.joined(name).unwrap_or_else(|| "none".to_owned()),
                    head.joined(name).unwrap_or_else(|| "none".to_owned())
                ),
            );
        }
    }
    if let Some(length) = head.get("content-length")
        && length.trim().parse::<u64>().ok() != Some(initial.body_len)
    {
        out.push(
            &finding::HEAD_FIELDS,
            format!(
                "content-length: HEAD says {length}, GET sent {} bytes",
                initial.body_len
            ),
        );
    }
}

/// `bytes first-last/complete` of a `Content-Range`, or `None` when it
/// is not that form.
fn content_range(response: &RecordedResponse) -> Option<(u64, u64, Option<u64>)> {
    let value = response.get("content-range")?.trim();
    let spec = value.strip_prefix("bytes ")?;
    let (range, complete) = spec.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let complete = if complete == "*" {
        None
    } else {
        Some(complete.parse().ok()?)
    };
    Some((first.parse().ok()?, last.parse().ok()?, complete))
}

/// Checks a 206 against the full content it is part of.
fn check_partial(
    probe: &ProbeKind,
    initial: &RecordedResponse,
    partial: &RecordedResponse,
    out: &mut Findings,
) {
    let Some((want_first, want_last)) = requested_range(initial) else {
        return;
    };
    if partial
        .get("content-type")
        .is_some_and(|t| t.to_ascii_lowercase().starts_with("multipart/byteranges"))
    {
        return;
    }
    let Some((first, last, complete)) = content_range(partial) else {
        out.push(
            &finding::RANGE_INCONSISTENT,
            format!(
                "the 206 to {probe} has Content-Range {:?}, not bytes first-last/length",
                partial.joined("content-range").unwrap_or_default()
            ),
        );
        return;
    };
    let mut wrong = Vec::new();
    if (first, last) != (want_first, want_last) {
        wrong.push(format!(
            "asked for bytes {want_first}-{want_last}, Content-Range says {first}-{last}"
        ));
    }
    if complete.is_some_and(|c| c != initial.body_len) {
        wrong.push(format!(
            "Content-Range says the whole is {} bytes, GET sent {}",
            complete.unwrap_or_default(),
            initial.body_len
        ));
    }
    let expected_len = last.saturating_sub(first) + 1;
    if partial.body_len != expected_len {
        wrong.push(format!(
            "{} bytes came for a range of {expected_len}",
            partial.body_len
        ));
    } else if let (Ok(first), Ok(last)) = (usize::try_from(first), usize::try_from(last))
        && let Some(slice) = initial.body.get(first..=last)
        && slice != partial.body.as_ref()
    {
        wrong.push("the bytes differ from the same range of the full content".to_owned());
    }
    if !wrong.is_empty() {
        out.push(
            &finding::RANGE_INCONSISTENT,
            format!("{probe}: {}", wrong.join(", ")),
        );
    }
    for name in ["etag", "last-modified"] {
        if partial.has(name) && partial.joined(name) != initial.joined(name) {
            out.push(
                &finding::RANGE_VALIDATORS,
                format!(
                    "the 206 to {probe} has {name} {}, the 200 {}",
                    partial.joined(name).unwrap_or_default(),
                    initial.joined(name).unwrap_or_else(|| "none".to_owned())
                ),
            );
        }
    }
}

fn check_ranges(recording: &Recording, initial: &RecordedResponse, out: &mut Findings) {
    let range_gave_206 = super::answered(recording, &ProbeKind::Range, 206);
    if let Some(response) = recording.response(&ProbeKind::Range) {
        match response.status {
            StatusCode::PARTIAL_CONTENT => check_partial(&ProbeKind::Range, initial, response, out),
            status
                if status.is_success()
                    && initial
                        .get("accept-ranges")
                        .is_some_and(|a| a.to_ascii_lowercase().contains("bytes")) =>
            {
                out.push(
                    &finding::RANGE_IGNORED,
                    format!("Accept-Ranges: bytes is sent, but Range answered {status}"),
                );
            }
            StatusCode::RANGE_NOT_SATISFIABLE => out.push(
                &finding::RANGE_INCONSISTENT,
                format!(
                    "a range inside the {} bytes of content answered 416",
                    initial.body_len
                ),
            ),
            _ => {}
        }
    }
    for form in [
        IfRangeForm::CurrentTag,
        IfRangeForm::StaleTag,
        IfRangeForm::WeakTag,
        IfRangeForm::StaleDate,
    ] {
        let kind = ProbeKind::IfRange(form);
        let Some(response) = recording.response(&kind) else {
            continue;
        };
        let partial = response.status == StatusCode::PARTIAL_CONTENT;
        match form {
            IfRangeForm::CurrentTag if partial => check_partial(&kind, initial, response, out),
            IfRangeForm::CurrentTag => {
                if range_gave_206 && response.status.is_success() {
                    out.push(
                        &finding::IF_RANGE_IGNORED,
                        format!(
                            "If-Range: {} (the current strong tag) answered {}",
                            etag_text(initial),
                            response.status
                        ),
                    );
                }
            }
            // §13.1.5: "If the validator does not match, the server MUST
            // ignore the Range header field" (the entity-tag compares
            // strongly, so a weak tag never matches).
            IfRangeForm::StaleTag if partial => out.push(
                &finding::IF_RANGE_STALE,
                format!(
                    "If-Range: {} (a tag this server never sent) answered 206: a client resuming a download splices two versions",
                    crate::model::FOREIGN_TAG
                ),
            ),
            IfRangeForm::WeakTag if partial => out.push(
                &finding::IF_RANGE_STALE,
                format!(
                    "If-Range with the W/ form of {} answered 206; If-Range compares strongly, so a weak tag never matches",
                    etag_text(initial)
                ),
            ),
            IfRangeForm::StaleDate if partial => out.push(
                &finding::IF_RANGE_STALE,
                format!(
                    "If-Range with a date a day before Last-Modified ({}) answered 206",
                    initial.joined("last-modified").unwrap_or_default()
                ),
            ),
            IfRangeForm::StaleTag | IfRangeForm::WeakTag | IfRangeForm::StaleDate => {}
        }
    }
}
