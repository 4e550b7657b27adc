//! The header set of a representation's `200` and `304`, built in one
//! place ([`Template::new`]) for every representation this module sends (a
//! file as it is, a compressed variant, a directory listing), and the
//! per-stamp memo of it for files sent as they are ([`Templates`]): a
//! repeat request then clones a map instead of formatting the ETag,
//! `Last-Modified`, media type and `Cache-Control` (a glob match) anew.

use std::fs::Metadata;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use http::HeaderMap;
use http::header::{self, HeaderName, HeaderValue};
use revalidate_core::{EntityTag, HttpDate, Validators, not_modified_headers};

use super::encoding::Coding;
use super::index::{ContentHash, FileIdentity, FileStamp, identity_and_stamp};

/// What the headers of a representation say about it.
pub(super) struct Description {
    /// Strong, from the hash of the bytes sent ([`strong_etag`]).
    pub(super) etag: EntityTag,
    /// `None` when the file has no meaningful modification time.
    pub(super) last_modified: Option<HttpDate>,
    pub(super) content_type: HeaderValue,
    pub(super) content_encoding: Option<Coding>,
    pub(super) cache_control: HeaderValue,
    /// Bytes of the representation (after content coding).
    pub(super) len: u64,
}

/// A representation's `200` and `304` header sets and its validators.
#[derive(Clone, Debug)]
pub(super) struct Template {
    validators: Validators,
    len: u64,
    encoded: bool,
    /// The 200's fields, `Content-Length` included.
    ok_headers: HeaderMap,
    /// The 304's fields (§15.4.5), chosen by the core, kept for a template
    /// that answers many requests. Kept as a list: a fresh map filled from
    /// it costs about half a map clone. `None`: derived when needed.
    not_modified_fields: Option<Box<[(HeaderName, HeaderValue)]>>,
}

impl Template {
    /// The one place the header set is built. Every `200`, `206` and
    /// `304` carries `Vary: Accept-Encoding`, also for identity responses:
    /// the selection depends on that field whether or not this request got
    /// a coding (RFC 9110 §12.5.5).
    pub(super) fn new(description: Description) -> Self {
        let Description {
            etag,
            last_modified,
            content_type,
            content_encoding,
            cache_control,
            len,
        } = description;
        let mut ok_headers = HeaderMap::with_capacity(10);
        ok_headers.insert(header::ETAG, etag.to_header_value());
        if let Some(last_modified) = last_modified {
            ok_headers.insert(header::LAST_MODIFIED, last_modified.to_header_value());
        }
        ok_headers.insert(header::CACHE_CONTROL, cache_control);
        ok_headers.insert(header::CONTENT_TYPE, content_type);
        if let Some(coding) = content_encoding {
            ok_headers.insert(header::CONTENT_ENCODING, coding.header_value());
        }
        ok_headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        ok_headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        ok_headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        ok_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        let mut validators = Validators::new().with_etag(etag);
        if let Some(last_modified) = last_modified {
            validators = validators.with_last_modified(last_modified);
        }
        Self {
            validators,
            len,
            encoded: content_encoding.is_some(),
            ok_headers,
            not_modified_fields: None,
        }
    }

    /// Works out the 304's fields now, for a template kept in [`Templates`].
    fn with_not_modified_fields(mut self) -> Self {
        let fields = not_modified_headers(&self.ok_headers)
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        self.not_modified_fields = Some(fields);
        self
    }

    pub(super) fn validators(&self) -> &Validators {
        &self.validators
    }

    /// Bytes of the representation.
    pub(super) fn len(&self) -> u64 {
        self.len
    }

    /// Whether the representation has a `Content-Encoding`.
    pub(super) fn encoded(&self) -> bool {
        self.encoded
    }

    /// The 200's fields.
    pub(super) fn ok_headers(&self) -> &HeaderMap {
        &self.ok_headers
    }

    /// The 200's fields, taken.
    pub(super) fn into_ok_headers(self) -> HeaderMap {
        self.ok_headers
    }

    /// The 304's fields: RFC 9110 §15.4.5, "The server generating a 304
    /// response MUST generate any of the following header fields that
    /// would have been sent in a 200 (OK) response to the same request:
    /// Content-Location, Date, ETag, and Vary; Cache-Control and Expires";
    /// the core's `not_modified_headers` picks them from the 200's.
    pub(super) fn not_modified_headers(&self) -> HeaderMap {
        match &self.not_modified_fields {
            Some(fields) => {
                let mut headers = HeaderMap::with_capacity(fields.len());
                for (name, value) in fields {
                    headers.append(name.clone(), value.clone());
                }
                headers
            }
            None => not_modified_headers(&self.ok_headers),
        }
    }
}

/// A file's identity [`Template`], valid while the `lstat` shows the same
/// identity and stamp.
pub(super) struct Stamped {
    identity: FileIdentity,
    stamp: FileStamp,
    pub(super) template: Template,
}

impl Stamped {
    /// The template of the file whose `lstat` is `meta`, whose bytes hash
    /// to `hash`, and whether it may be kept: a `Last-Modified` clamped to
    /// the clock (§8.8.2.1) holds only for this moment.
    pub(super) fn of_file(
        meta: &Metadata,
        hash: &ContentHash,
        content_type: HeaderValue,
        cache_control: HeaderValue,
        now: HttpDate,
    ) -> (Self, bool) {
        let last_modified = last_modified(meta, now);
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs());
        let keep = last_modified.is_none() || last_modified.map(HttpDate::unix_seconds) == mtime;
        let template = Template::new(Description {
            etag: strong_etag(hash),
            last_modified,
            content_type,
            content_encoding: None,
            cache_control,
            len: meta.len(),
        })
        .with_not_modified_fields();
        let (identity, stamp) = identity_and_stamp(meta);
        (
            Self {
                identity,
                stamp,
                template,
            },
            keep,
        )
    }
}

/// How many files' templates are kept (about 1 KiB each).
const TEMPLATES_CAPACITY: usize = 16 * 1024;

/// Relative path → [`Stamped`] template.
pub(super) struct Templates {
    cache: quick_cache::sync::Cache<Box<str>, Arc<Stamped>>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("len", &self.cache.len())
            .finish()
    }
}

impl Templates {
    pub(super) fn new() -> Self {
        Self {
            cache: quick_cache::sync::Cache::new(TEMPLATES_CAPACITY),
        }
    }

    /// The template of `relative` if it was made for this identity and
    /// stamp.
    pub(super) fn get(
        &self,
        relative: &str,
        identity: FileIdentity,
        stamp: FileStamp,
    ) -> Option<Arc<Stamped>> {
        self.cache
            .get(relative)
            .filter(|kept| kept.identity == identity && kept.stamp == stamp)
    }

    pub(super) fn keep(&self, relative: &str, stamped: Arc<Stamped>) {
        self.cache.insert(relative.into(), stamped);
    }
}

/// `"<first 128 bits of BLAKE3, hex>"`: strong, and the same on every node
/// for the same bytes.
pub(super) fn strong_etag(hash: &ContentHash) -> EntityTag {
    EntityTag::strong(hash.etag_opaque()).expect("hex digits are valid etagc characters")
}

/// The modification time, truncated to seconds; none for the bogus 0 and
/// 1 s after the epoch that reproducible builds (Nix, Bazel) stamp on every
/// file, where it would say nothing and make `If-Modified-Since` lie.
pub(super) fn last_modified(meta: &Metadata, now: HttpDate) -> Option<HttpDate> {
    let secs = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?.as_secs();
    if secs <= 1 {
        return None;
    }
    let modified = HttpDate::from_unix_seconds(secs)?;
    // §8.8.2.1: "An origin server with a clock MUST NOT generate a
    // Last-Modified date that is later than the server's time of message
    // origination (Date). If the last modification time is derived from
    // implementation-specific metadata that evaluates to some time in the
    // future, according to the origin server's clock, then the origin
    // server MUST replace that value with the message origination date."
    Some(if modified > now { now } else { modified })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn description() -> Description {
        Description {
            etag: EntityTag::strong("abc").unwrap(),
            last_modified: HttpDate::from_unix_seconds(1_700_000_000),
            content_type: HeaderValue::from_static("text/plain; charset=utf-8"),
            content_encoding: Some(Coding::Gzip),
            cache_control: HeaderValue::from_static("no-cache"),
            len: 42,
        }
    }

    /// The 304 of a kept template (a list worked out once) and of a
    /// one-off template (derived when needed) come from the same 200 set.
    #[test]
    fn kept_and_derived_304_fields_agree() {
        let derived = Template::new(description());
        let kept = Template::new(description()).with_not_modified_fields();
        assert_eq!(derived.not_modified_headers(), kept.not_modified_headers());
        let mut names: Vec<_> = kept
            .not_modified_headers()
            .keys()
            .map(|name| name.as_str().to_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["cache-control", "etag", "vary", "x-content-type-options"]);
        let ok = derived.ok_headers();
        assert_eq!(ok[header::CONTENT_LENGTH], "42");
        assert_eq!(ok[header::CONTENT_ENCODING], "gzip");
        assert_eq!(ok[header::LAST_MODIFIED], "Tue, 14 Nov 2023 22:13:20 GMT");
        assert!(derived.encoded());
    }
}
