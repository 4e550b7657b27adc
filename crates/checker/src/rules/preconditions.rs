//! `If-Match` and `If-Unmodified-Since` on `GET`
//! ([RFC 9110 §13.1.1](https://www.rfc-editor.org/rfc/rfc9110#section-13.1.1),
//! [§13.1.4](https://www.rfc-editor.org/rfc/rfc9110#section-13.1.4)), each
//! probed from both sides (a condition that holds must not get 412, one
//! that fails must), and when preconditions are evaluated at all
//! ([§13.2.1](https://www.rfc-editor.org/rfc/rfc9110#section-13.2.1)).

use http::StatusCode;
use revalidate_core::HttpDate;

use super::Findings;
use super::conditional::{odd_status, sent_field};
use crate::finding;
use crate::model::{IfMatchForm, IusForm, ProbeKind, RecordedResponse, Recording};

pub(super) fn check(recording: &Recording, initial: &RecordedResponse, out: &mut Findings) {
    if_match(recording, out);
    if_unmodified_since(recording, initial, out);
    missing(recording, out);
}

fn if_match(recording: &Recording, out: &mut Findings) {
    let foreign_refused = super::answered(recording, &ProbeKind::IfMatch(IfMatchForm::Foreign), 412);
    for form in [
        IfMatchForm::Current,
        IfMatchForm::List,
        IfMatchForm::Star,
        IfMatchForm::Weak,
        IfMatchForm::Foreign,
    ] {
        let kind = ProbeKind::IfMatch(form);
        let Some(response) = recording.response(&kind) else {
            continue;
        };
        let sent = sent_field(recording, &kind, "if-match");
        let status = response.status;
        match form {
            // §13.1.1: "An origin server MUST NOT perform the requested
            // method if a received If-Match condition evaluates to false".
            IfMatchForm::Foreign if status.is_success() => out.push(
                &finding::IF_MATCH_NOT_EVALUATED,
                format!("GET with If-Match: {sent} (a tag this server never sent) answered {status}; 412 is due"),
            ),
            // §8.8.3.2: If-Match uses the strong comparison, and a weak tag
            // never matches strongly. A fault of its own only where the
            // foreign tag is refused.
            IfMatchForm::Weak if status.is_success() && foreign_refused => out.push(
                &finding::IF_MATCH_WEAK_COMPARISON,
                format!("GET with If-Match: {sent} answered {status}; a W/ tag never matches strongly, so 412 is due"),
            ),
            IfMatchForm::Weak | IfMatchForm::Foreign => {
                if !status.is_success() && status != StatusCode::PRECONDITION_FAILED {
                    odd_status(&kind, response, out);
                }
            }
            // The condition holds: "the current representation" matches.
            IfMatchForm::Current | IfMatchForm::List | IfMatchForm::Star => {
                if status == StatusCode::PRECONDITION_FAILED {
                    out.push(
                        &finding::IF_MATCH_CURRENT_REFUSED,
                        format!("GET with If-Match: {sent} answered 412; the current representation matches it"),
                    );
                } else if !status.is_success() {
                    odd_status(&kind, response, out);
                }
            }
        }
    }
}

fn if_unmodified_since(recording: &Recording, initial: &RecordedResponse, out: &mut Findings) {
    let last_modified = initial.joined("last-modified").unwrap_or_default();
    // §8.8.2.2: a Last-Modified at least a second before Date is strong, so
    // the server cannot claim the date might hide a second change.
    let strong_date = match (
        initial
            .get("date")
            .and_then(|d| HttpDate::parse(d.as_bytes()).ok()),
        initial
            .get("last-modified")
            .and_then(|d| HttpDate::parse(d.as_bytes()).ok()),
    ) {
        (Some(date), Some(modified)) => modified < date,
        _ => false,
    };
    // The date next to If-Match is a fault of its own only where If-Match
    // itself works: refuses a foreign tag, accepts the current one.
    let if_match_works = super::answered(recording, &ProbeKind::IfMatch(IfMatchForm::Foreign), 412)
        && !super::answered(recording, &ProbeKind::IfMatch(IfMatchForm::Current), 412);
    for form in [
        IusForm::AtLastModified,
        IusForm::BeforeLastModified,
        IusForm::Invalid,
        IusForm::WithIfMatch,
    ] {
        let kind = ProbeKind::IfUnmodifiedSince(form);
        let Some(response) = recording.response(&kind) else {
            continue;
        };
        let sent = sent_field(recording, &kind, "if-unmodified-since");
        let status = response.status;
        let refused = status == StatusCode::PRECONDITION_FAILED;
        match form {
            // §13.1.4: "If the selected representation's last modification
            // date is earlier than or equal to the date provided in the field
            // value, the condition is true."
            IusForm::AtLastModified if refused && strong_date => out.push(
                &finding::IUS_CURRENT_REFUSED,
                format!("GET with If-Unmodified-Since: {sent} (the Last-Modified sent) answered 412"),
            ),
            // "An origin server MUST NOT perform the requested method if the
            // received If-Unmodified-Since condition evaluates to false".
            IusForm::BeforeLastModified if status.is_success() => out.push(
                &finding::IUS_NOT_EVALUATED,
                format!(
                    "GET with If-Unmodified-Since: {sent} (a day before Last-Modified {last_modified}) answered {status}; 412 is due"
                ),
            ),
            // "A recipient MUST ignore If-Unmodified-Since if the request
            // contains an If-Match header field" and "if the received
            // field value is not a valid HTTP-date".
            IusForm::Invalid if refused => out.push(
                &finding::IUS_NOT_IGNORED,
                format!("GET with If-Unmodified-Since: {sent} (not a date) answered 412; the field must be ignored"),
            ),
            IusForm::WithIfMatch if refused && if_match_works => out.push(
                &finding::IUS_NOT_IGNORED,
                format!(
                    "GET with If-Match of the current tag and If-Unmodified-Since: {sent} (before Last-Modified) answered 412; \
                     If-Match decides, so the date must be ignored"
                ),
            ),
            _ => {
                if !status.is_success() && !refused {
                    odd_status(&kind, response, out);
                }
            }
        }
    }
}

/// §13.2.1: "A server MUST ignore all received preconditions if its
/// response to the same request without those conditions, prior to
/// processing the request content, would have been a status code other
/// than a 2xx (Successful) or 412 (Precondition Failed)."
fn missing(recording: &Recording, out: &mut Findings) {
    let (Some(plain), Some(conditional)) = (
        recording.response(&ProbeKind::MissingPlain),
        recording.response(&ProbeKind::MissingIfMatch),
    ) else {
        return;
    };
    let plain_status = plain.status;
    if !plain_status.is_success()
        && plain_status != StatusCode::PRECONDITION_FAILED
        && conditional.status == StatusCode::PRECONDITION_FAILED
    {
        let url = recording
            .exchange(&ProbeKind::MissingPlain)
            .map(|e| e.request.url.clone())
            .unwrap_or_default();
        out.push(
            &finding::PRECONDITION_BEFORE_STATUS,
            format!(
                "{url} answers {plain_status}, but 412 with If-Match: *; the precondition must be ignored"
            ),
        );
    }
}
