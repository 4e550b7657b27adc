//! A CDN or other cache in front: is there one, does it answer 304s
//! itself, and do its validators match the origin's
//! ([RFC 9111 §4.3](https://www.rfc-editor.org/rfc/rfc9111#section-4.3),
//! [RFC 9211](https://www.rfc-editor.org/rfc/rfc9211)).

use http::HeaderName;
use http::header::{AGE, VIA};
use revalidate_core::HttpDate;
use revalidate_core::cache::{CACHE_STATUS, CacheConfig, Stored, freshness};

use super::{Findings, coding_of, etag_of, etag_text};
use crate::finding;
use crate::model::{InmForm, ProbeKind, RecordedResponse, Recording};
use crate::rules::freshness::duration;

/// Fields that only caches add: the standard ones by their `http` and core
/// names, the vendors' spelled here.
const CACHE_FIELDS: [HeaderName; 7] = [
    AGE,
    CACHE_STATUS,
    VIA,
    HeaderName::from_static("x-cache"),
    HeaderName::from_static("cf-cache-status"),
    HeaderName::from_static("x-served-by"),
    HeaderName::from_static("x-cache-hits"),
];

/// The cache fields a response carries, as `name: value`.
pub(crate) fn cache_evidence(response: &RecordedResponse) -> Vec<String> {
    CACHE_FIELDS
        .iter()
        .filter_map(|name| {
            response
                .joined(name.as_str())
                .map(|value| format!("{name}: {value}"))
        })
        .collect()
}

/// Whether a `Cache-Status` (RFC 9211 §2) member says `hit`.
fn cache_status_hit(value: &str) -> bool {
    let Ok(list) = sfv::Parser::new(value).parse::<sfv::List>() else {
        return false;
    };
    list.iter().any(|member| match member {
        sfv::ListEntry::Item(item) => item
            .params
            .iter()
            .any(|(key, value)| key.as_str() == "hit" && *value != sfv::BareItem::Boolean(false)),
        sfv::ListEntry::InnerList(_) => false,
    })
}

/// Whether a response says a cache answered it without the origin.
pub(crate) fn answered_by_cache(response: &RecordedResponse) -> bool {
    response
        .joined(CACHE_STATUS.as_str())
        .is_some_and(|v| cache_status_hit(&v))
        || ["x-cache", "cf-cache-status"].iter().any(|name| {
            response
                .joined(name)
                .is_some_and(|v| v.to_ascii_uppercase().contains("HIT"))
        })
        || response
            .get("age")
            .and_then(|a| a.trim().parse::<u64>().ok())
            .is_some_and(|age| age > 0)
}

pub(super) fn check(recording: &Recording, initial: &RecordedResponse, out: &mut Findings) {
    let evidence = cache_evidence(initial);
    if !evidence.is_empty() {
        out.push(
            &finding::CDN_DETECTED,
            format!("a cache is in front ({})", evidence.join("; ")),
        );
        if let Some(not_modified) = recording.response(&ProbeKind::IfNoneMatch(InmForm::Exact))
            && not_modified.status.as_u16() == 304
            && answered_by_cache(not_modified)
        {
            out.push(
                &finding::CDN_ANSWERS_304,
                format!(
                    "the 304 came from the cache ({})",
                    cache_evidence(not_modified).join("; ")
                ),
            );
        }
    }
    let Some(origin) = recording.response(&ProbeKind::Origin) else {
        return;
    };
    if !origin.status.is_success() {
        return;
    }
    let (cdn_tag, origin_tag) = (etag_of(initial), etag_of(origin));
    if initial.same_body(origin) {
        if cdn_tag.as_ref().map(revalidate_core::EntityTag::opaque)
            != origin_tag.as_ref().map(revalidate_core::EntityTag::opaque)
        {
            out.push(
                &finding::CDN_ETAG_DIFFERS,
                format!(
                    "for the same {} bytes the CDN sends {} and the origin {}",
                    origin.body_len,
                    etag_text(initial),
                    etag_text(origin)
                ),
            );
        }
        if initial.joined("last-modified") != origin.joined("last-modified") {
            out.push(
                &finding::CDN_LAST_MODIFIED_DIFFERS,
                format!(
                    "for the same bytes the CDN sends Last-Modified {} and the origin {}",
                    initial
                        .joined("last-modified")
                        .unwrap_or_else(|| "none".to_owned()),
                    origin
                        .joined("last-modified")
                        .unwrap_or_else(|| "none".to_owned())
                ),
            );
        }
        return;
    }
    if coding_of(initial) != coding_of(origin) {
        // The CDN compresses: other bytes are expected; a shared strong
        // tag is not.
        if let (Some(a), Some(b)) = (&cdn_tag, &origin_tag)
            && a.strong_eq(b)
        {
            out.push(
                &finding::CDN_SAME_TAG_OTHER_BYTES,
                format!(
                    "the CDN sends {} bytes as {} with the origin's strong ETag {a}",
                    initial.body_len,
                    coding_of(initial)
                ),
            );
        }
        return;
    }
    match (&cdn_tag, &origin_tag) {
        (Some(a), Some(b)) if a.weak_eq(b) => out.push(
            &finding::CDN_SAME_TAG_OTHER_BYTES,
            format!(
                "the CDN ({} bytes) and the origin ({} bytes) send different content with the same ETag {a}",
                initial.body_len, origin.body_len
            ),
        ),
        _ => {
            let exchange = recording.exchange(&ProbeKind::Initial);
            let (request_time, response_time) = exchange
                .map_or((HttpDate::UNIX_EPOCH, HttpDate::UNIX_EPOCH), |e| {
                    (e.request_time, e.response_time)
                });
            let stored = Stored {
                status: initial.status,
                headers: &initial.headers,
                request_time,
                response_time,
            };
            let state = freshness(&CacheConfig::shared(), &stored, response_time);
            let versions = format!(
                "the CDN serves {} ({} bytes), the origin has {} ({} bytes)",
                etag_text(initial),
                initial.body_len,
                etag_text(origin),
                origin.body_len
            );
            if state.is_fresh() {
                out.push(
                    &finding::CDN_OLDER_COPY,
                    format!(
                        "{versions}; the CDN's copy is fresh for {} more",
                        duration(state.remaining())
                    ),
                );
            } else {
                out.push(
                    &finding::CDN_STALE_ETAG,
                    format!(
                        "{versions}; the CDN's copy is {} old with a lifetime of {}, so it is stale and should have been revalidated",
                        duration(state.age),
                        duration(state.lifetime)
                    ),
                );
            }
        }
    }
}
