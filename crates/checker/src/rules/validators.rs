//! Validators: present, well-formed, and stable across repeated requests
//! ([RFC 9110 §8.8](https://www.rfc-editor.org/rfc/rfc9110#section-8.8)).

use http::header::{DATE, ETAG, LAST_MODIFIED};
use revalidate_core::{EntityTag, HttpDate};

use super::{Findings, etag_of, etag_text, tags_differ};
use crate::finding;
use crate::model::{ProbeKind, RecordedResponse, Recording};

pub(super) fn check(recording: &Recording, initial: &RecordedResponse, out: &mut Findings) {
    let etags: Vec<_> = initial.headers.get_all(ETAG).iter().collect();
    if etags.len() > 1 {
        out.push(
            &finding::ETAG_MALFORMED,
            format!(
                "{} ETag field lines ({}); a response has one",
                etags.len(),
                etag_text(initial)
            ),
        );
    } else if let Some(value) = etags.first()
        && let Err(why) = EntityTag::from_header(value)
    {
        out.push(
            &finding::ETAG_MALFORMED,
            format!("ETag {:?}: {why}", String::from_utf8_lossy(value.as_bytes())),
        );
    }
    if initial.has("last-modified") {
        match HttpDate::from_field(initial.headers.get_all(LAST_MODIFIED)) {
            Err(why) => out.push(
                &finding::LAST_MODIFIED_MALFORMED,
                format!(
                    "Last-Modified {:?}: {why}",
                    initial.joined("last-modified").unwrap_or_default()
                ),
            ),
            Ok(modified) => {
                // §8.8.2.1: "An origin server with a clock ... MUST NOT
                // generate a Last-Modified date that is later than the
                // server's time of message origination (Date)."
                if let Ok(date) = HttpDate::from_field(initial.headers.get_all(DATE))
                    && modified > date
                {
                    out.push(
                        &finding::LAST_MODIFIED_FUTURE,
                        format!(
                            "Last-Modified {modified} is {} s after Date {date}",
                            modified.seconds_since(date)
                        ),
                    );
                }
            }
        }
    }
    if !initial.has("etag") && !initial.has("last-modified") {
        out.push(
            &finding::NO_VALIDATORS,
            "the response has neither ETag nor Last-Modified, so no cache can revalidate it: every reuse after expiry downloads it again",
        );
    }
    for n in 1..=2 {
        let Some(again) = recording.response(&ProbeKind::Repeat(n)) else {
            continue;
        };
        if !again.status.is_success() {
            continue;
        }
        if again.same_body(initial) {
            if tags_differ(initial, again) {
                out.push(
                    &finding::ETAG_UNSTABLE,
                    format!(
                        "the same {} bytes came with ETag {} and then {}",
                        initial.body_len,
                        etag_text(initial),
                        etag_text(again)
                    ),
                );
            }
            if initial.joined("last-modified") != again.joined("last-modified") {
                out.push(
                    &finding::LAST_MODIFIED_UNSTABLE,
                    format!(
                        "the same bytes came with Last-Modified {} and then {}",
                        initial
                            .joined("last-modified")
                            .unwrap_or_else(|| "none".to_owned()),
                        again.joined("last-modified").unwrap_or_else(|| "none".to_owned())
                    ),
                );
            }
        } else if let (Some(a), Some(b)) = (etag_of(initial), etag_of(again))
            && a.strong_eq(&b)
        {
            // §8.8.1: a strong validator "changes value whenever a change
            // occurs to the representation data that would be observable in
            // the content of a 200 (OK) response to GET".
            out.push(
                &finding::ETAG_SAME_FOR_DIFFERENT_BYTES,
                format!(
                    "two GETs returned different content ({} and {} bytes) with the same strong ETag {a}",
                    initial.body_len, again.body_len
                ),
            );
        }
    }
}
