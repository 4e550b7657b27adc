//! `If-None-Match` and `If-Modified-Since` on `GET`
//! ([RFC 9110 §13.1.2](https://www.rfc-editor.org/rfc/rfc9110#section-13.1.2),
//! [§13.1.3](https://www.rfc-editor.org/rfc/rfc9110#section-13.1.3)) and the
//! 304 they earn ([§15.4.5](https://www.rfc-editor.org/rfc/rfc9110#section-15.4.5)).

use http::StatusCode;
use revalidate_core::not_modified_headers;

use super::{Findings, etag_of, etag_text};
use crate::finding;
use crate::model::{ImsForm, InmForm, ProbeKind, RecordedResponse, Recording};

// §15.4.5: "The server generating a 304 response MUST generate any of the
// following header fields that would have been sent in a 200 (OK) response
// to the same request: Content-Location, Date, ETag, and Vary; Cache-Control
// and Expires".
use revalidate_core::NOT_MODIFIED_REQUIRED as REQUIRED_ON_304;

/// Representation metadata a 304 "SHOULD NOT" carry (§15.4.5): the
/// core's list of what a 304 drops, less the framing and `Accept-Ranges`,
/// which describe the message rather than the representation.
fn is_extra_metadata(name: &str) -> bool {
    revalidate_core::NOT_MODIFIED_DROPS.contains(&name)
        && !matches!(
            name,
            "content-length" | "transfer-encoding" | "accept-ranges" | "trailer"
        )
}

/// Checks a 304 against the 200 it stands for (`full`), reached by `probe`.
pub(super) fn check_not_modified(
    full: &RecordedResponse,
    not_modified: &RecordedResponse,
    probe: &ProbeKind,
    out: &mut Findings,
) {
    // What a correct 304 would carry, according to the core.
    let expected = not_modified_headers(&full.headers);
    let missing: Vec<&str> = REQUIRED_ON_304
        .iter()
        .copied()
        .filter(|name| expected.contains_key(*name) && !not_modified.has(name))
        .collect();
    if !missing.is_empty() {
        out.push(
            &finding::NOT_MODIFIED_MISSING,
            format!(
                "the 304 to {probe} lacks {} that the 200 carries",
                missing.join(", ")
            ),
        );
    }
    let extra: Vec<&str> = not_modified
        .headers
        .keys()
        .map(http::HeaderName::as_str)
        .filter(|name| is_extra_metadata(name))
        .collect();
    if !extra.is_empty() {
        out.push(
            &finding::NOT_MODIFIED_EXTRA,
            format!("the 304 to {probe} carries {}", extra.join(", ")),
        );
    }
    if let (Some(current), Some(sent)) = (etag_of(full), etag_of(not_modified))
        && current != sent
    {
        out.push(
            &finding::NOT_MODIFIED_OTHER_TAG,
            format!("the 304 to {probe} carries ETag {sent}, the 200 {current}"),
        );
    }
    // RFC 9110 §8.6: "A server MAY send a Content-Length header field in a
    // 304 (Not Modified) response to a conditional GET request; a server
    // MUST NOT send Content-Length in such a response unless its field
    // value equals the decimal number of octets that would have been sent
    // in the content of a 200 (OK) response to the same request."
    if let Some(length) = not_modified.get("content-length")
        && length.trim().parse::<u64>().ok() != Some(full.body_len)
    {
        out.push(
            &finding::NOT_MODIFIED_LENGTH,
            format!(
                "the 304 to {probe} says Content-Length: {length}; the 200 has {} bytes",
                full.body_len
            ),
        );
    }
}

/// A conditional `GET` answered neither 200 nor 304.
pub(super) fn odd_status(probe: &ProbeKind, response: &RecordedResponse, out: &mut Findings) {
    out.push(
        &finding::CONDITIONAL_STATUS,
        format!("{probe} answered {}", response.status),
    );
}

pub(super) fn check(recording: &Recording, initial: &RecordedResponse, out: &mut Findings) {
    let exact_gave_304 = super::answered(recording, &ProbeKind::IfNoneMatch(InmForm::Exact), 304);
    let tag = etag_text(initial);
    for form in [InmForm::Exact, InmForm::Weak, InmForm::List, InmForm::Star] {
        let kind = ProbeKind::IfNoneMatch(form);
        let Some(response) = recording.response(&kind) else {
            continue;
        };
        match response.status {
            StatusCode::NOT_MODIFIED => check_not_modified(initial, response, &kind, out),
            status if status.is_success() => match form {
                InmForm::Exact => out.push(
                    &finding::INM_IGNORED,
                    format!("If-None-Match: {tag} (the current tag) answered {status} with the full content"),
                ),
                // Only a fault of its own when the exact form works.
                InmForm::Weak if exact_gave_304 => out.push(
                    &finding::INM_WEAK_COMPARISON,
                    format!(
                        "If-None-Match with the W/ form of {tag} answered {status}; weak comparison ignores W/"
                    ),
                ),
                InmForm::List if exact_gave_304 => out.push(
                    &finding::INM_LIST,
                    format!(
                        "If-None-Match: {}, {tag} answered {status}; the current tag is in the list",
                        crate::model::FOREIGN_TAG
                    ),
                ),
                InmForm::Star => out.push(
                    &finding::INM_STAR,
                    format!("If-None-Match: * answered {status}; the resource exists, so * matches"),
                ),
                InmForm::Weak | InmForm::List | InmForm::Foreign => {}
            },
            _ => odd_status(&kind, response, out),
        }
    }
    let foreign = ProbeKind::IfNoneMatch(InmForm::Foreign);
    if let Some(response) = recording.response(&foreign) {
        match response.status {
            // §13.1.2: the condition is false only "if one of the listed tags
            // matches the entity tag of the selected representation".
            StatusCode::NOT_MODIFIED => out.push(
                &finding::NOT_MODIFIED_FOR_CHANGED,
                format!(
                    "If-None-Match: {} (a tag this server never sent) answered 304: clients keep content they do not have",
                    crate::model::FOREIGN_TAG
                ),
            ),
            status if status.is_success() => {}
            _ => odd_status(&foreign, response, out),
        }
    }
    let at = ProbeKind::IfModifiedSince(ImsForm::AtLastModified);
    if let Some(response) = recording.response(&at) {
        match response.status {
            StatusCode::NOT_MODIFIED => check_not_modified(initial, response, &at, out),
            status if status.is_success() => out.push(
                &finding::IMS_IGNORED,
                format!(
                    "If-Modified-Since: {} (the Last-Modified sent) answered {status}",
                    initial.joined("last-modified").unwrap_or_default()
                ),
            ),
            _ => odd_status(&at, response, out),
        }
    }
    let before = ProbeKind::IfModifiedSince(ImsForm::BeforeLastModified);
    if let Some(response) = recording.response(&before) {
        match response.status {
            // §13.1.3: "If the selected representation's last modification
            // date is earlier or equal to the date provided in the field
            // value, the condition is false" — and here it is later.
            StatusCode::NOT_MODIFIED => out.push(
                &finding::NOT_MODIFIED_FOR_CHANGED,
                format!(
                    "If-Modified-Since a day before Last-Modified ({}) answered 304",
                    initial.joined("last-modified").unwrap_or_default()
                ),
            ),
            status if status.is_success() => {}
            _ => odd_status(&before, response, out),
        }
    }
    let after = ProbeKind::IfModifiedSince(ImsForm::AfterLastModified);
    if let Some(response) = recording.response(&after) {
        match response.status {
            StatusCode::NOT_MODIFIED => check_not_modified(initial, response, &after, out),
            // §13.1.3: "If the selected representation's last modification
            // date is earlier or equal to the date provided in the field
            // value, the condition is false" — earlier here, so 304. Only a
            // fault of its own when the equal date works (else the plain
            // `if-modified-since-ignored` says it).
            status
                if status.is_success()
                    && super::answered(
                        recording,
                        &ProbeKind::IfModifiedSince(ImsForm::AtLastModified),
                        304,
                    ) =>
            {
                out.push(
                    &finding::IMS_LATER_IGNORED,
                    format!(
                        "If-Modified-Since: {} (later than Last-Modified {}) answered {status}",
                        sent_field(recording, &after, "if-modified-since"),
                        initial.joined("last-modified").unwrap_or_default()
                    ),
                );
            }
            status if status.is_success() => {}
            _ => odd_status(&after, response, out),
        }
    }
    let invalid = ProbeKind::IfModifiedSince(ImsForm::Invalid);
    if let Some(response) = recording.response(&invalid) {
        match response.status {
            // §13.1.3: "A recipient MUST ignore the If-Modified-Since header
            // field if the received field value is not a valid HTTP-date".
            StatusCode::NOT_MODIFIED => out.push(
                &finding::IMS_NOT_IGNORED_WITH_INM,
                format!(
                    "If-Modified-Since: {} (not a date) answered 304; the field must be ignored",
                    sent_field(recording, &invalid, "if-modified-since")
                ),
            ),
            status if status.is_success() => {}
            _ => odd_status(&invalid, response, out),
        }
    }
    if let Some(response) = recording.response(&ProbeKind::InmWithIms) {
        // §13.1.3: "A recipient MUST ignore If-Modified-Since if the request
        // contains an If-None-Match header field".
        if response.status == StatusCode::NOT_MODIFIED {
            out.push(
                &finding::IMS_NOT_IGNORED_WITH_INM,
                format!(
                    "If-None-Match: {} with If-Modified-Since: {} answered 304; the tag does not match, so 200 is due",
                    crate::model::FOREIGN_TAG,
                    initial.joined("last-modified").unwrap_or_default()
                ),
            );
        }
    }
    if let Some(response) = recording.response(&ProbeKind::InmWithOldIms)
        && response.status.is_success()
    {
        // §13.1.3 again, the side stock nginx gets wrong: it evaluates both
        // fields and answers 304 only when both pass.
        out.push(
            &finding::IMS_NOT_IGNORED_WITH_INM,
            format!(
                "If-None-Match: {} with If-Modified-Since a day before Last-Modified ({}) answered {}; the tag matches, so 304 is due",
                initial.joined("etag").unwrap_or_default(),
                initial.joined("last-modified").unwrap_or_default(),
                response.status.as_u16()
            ),
        );
    }
    if let Some(raw) = recording.response(&ProbeKind::RawNotModified)
        && raw.status == StatusCode::NOT_MODIFIED
    {
        // RFC 9112 §6.3: "Any response to a HEAD request and any response
        // with a 1xx (Informational), 204 (No Content), or 304 (Not
        // Modified) status code is always terminated by the first empty
        // line after the header fields, regardless of the header fields
        // present in the message, and thus cannot contain a message body".
        if raw.body_len > 0 {
            out.push(
                &finding::NOT_MODIFIED_BODY,
                format!("{} bytes followed the 304's header section", raw.body_len),
            );
        }
        check_not_modified(initial, raw, &ProbeKind::RawNotModified, out);
    }
}

/// The value of `field` as the probe of `kind` sent it, for messages.
pub(super) fn sent_field(recording: &Recording, kind: &ProbeKind, field: &str) -> String {
    recording
        .exchange(kind)
        .and_then(|e| e.request.headers.get(field))
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default()
}
