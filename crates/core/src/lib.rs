//! Sans-IO HTTP validators and conditional requests.
//!
//! `revalidate-core` decides; it never does. It reads header maps, takes the
//! time as an argument, and returns values and enums that tell the caller
//! what to send. It reads no clock, opens no file or socket and has no async
//! code, so the origin server, the tower middleware, the edge cache, the
//! client and the checker all share one implementation of the rules.
//!
//! # Map
//!
//! | module | RFC | what it holds |
//! |---|---|---|
//! | [`etag`] | [RFC 9110 §8.8.3] | [`EntityTag`]: parse, format, strong and weak comparison; [`EntityTagList`] for `If-Match`/`If-None-Match` |
//! | [`date`] | [RFC 9110 §5.6.7] | [`HttpDate`]: the three HTTP-date forms at whole-second resolution |
//! | [`validators`] | [RFC 9110 §8.8] | [`Validators`] of the current representation; [`LastModifiedStrength`] and [`last_modified_is_strong`] (§8.8.2.2) |
//! | [`precondition`] | [RFC 9110 §13], RFC 6585 §3 | [`Preconditions`] parsed once per request; the §13.2.2 evaluator returning an [`Outcome`]; [`WriteGuard`]: whether they protect a write from a lost update (428) |
//! | [`not_modified`] | [RFC 9110 §15.4.5] | the header set of a 304 |
//! | [`accept_encoding`] | RFC 9110 §12.5.3 | `Accept-Encoding` members and weights ([`accept_encoding::AcceptEncoding`]), one reading for the origin's variant choice and the layer's coded tags |
//! | [`answer`] | [RFC 9110 §13.2.2], §14, §15.4.5 | the one plan for answering a `GET`/`HEAD` from a complete representation ([`answer::plan`] → [`answer::Plan`]: 304, 412, 200, 206, multipart 206, 416); `Content-Range` values; the `multipart/byteranges` layout |
//! | [`problem`] | RFC 9457 | [`problem::Problem`]: the `application/problem+json` document of every error the servers write |
//! | [`purge`] | — | the purge API's wire format, one for the edge that answers it and the origin that sends it: [`purge::PURGE_PATH`], [`purge::PurgeRequest`] (`urls`, `prefixes`, `tags`), [`purge::PurgeResponse`] |
//! | [`range`] | RFC 9110 §14 | what [`answer`] checks before the `Range` parser ([`range::positions_fit_u64`]) |
//! | [`cache`] | [RFC 9111], RFC 9211, RFC 9213 | caching: directives, storing, freshness and age, reuse, validation, invalidation, `Cache-Status` |
//!
//! A request goes through it like this:
//!
//! ```
//! use http::{HeaderMap, Method};
//! use revalidate_core::{EntityTag, HttpDate, Outcome, Preconditions, Validators, not_modified_headers};
//!
//! let mut request = HeaderMap::new();
//! request.insert("if-none-match", "\"abc123\"".parse().unwrap());
//!
//! let mut ok = HeaderMap::new();
//! ok.insert("etag", "\"abc123\"".parse().unwrap());
//! ok.insert("cache-control", "public, max-age=3600".parse().unwrap());
//! ok.insert("content-type", "text/css".parse().unwrap());
//!
//! let now = HttpDate::from_unix_seconds(1_771_372_800).unwrap();
//! let current = Validators::from_response_headers(&ok);
//! match Preconditions::from_headers(&request).evaluate(&Method::GET, &current, now) {
//!     Outcome::NotModified => {
//!         let headers = not_modified_headers(&ok);
//!         assert!(headers.get("content-type").is_none());
//!     }
//!     other => panic!("expected 304, got {other:?}"),
//! }
//! ```
//!
//! # Policies where the RFC leaves a choice
//!
//! - An invalid `If-Match` (bad syntax, `*` mixed with tags) evaluates to
//!   false, giving 412: a write guarded by a precondition the server cannot
//!   read must not go ahead unguarded. An invalid `If-None-Match` matches
//!   nothing, so it evaluates to true; it still counts as present, so
//!   `If-Modified-Since` is ignored next to it. Both follow Go's net/http.
//! - An `If-Range` that is neither a valid entity-tag nor a valid date, or
//!   that has several field lines, never matches: the full representation
//!   is sent rather than a range of bytes that might splice two versions.
//! - A field defined to hold one value (`If-Modified-Since`,
//!   `If-Unmodified-Since`, `Last-Modified`, `ETag`) that arrives on several
//!   field lines is invalid.
//! - The 304 header set keeps fields that are not representation metadata
//!   (`Set-Cookie`, application fields) and drops `Last-Modified` when an
//!   `ETag` is present, as Go does.
//! - Caching ([`cache`]): a repeated `Cache-Control` directive keeps its
//!   first occurrence; an invalid `max-age` counts as 0 (stale); `206`
//!   responses are not stored, `POST` responses only as RFC 9110 §9.3.3
//!   allows (explicit freshness, `Content-Location` naming the target,
//!   `200` or `203`); `Vary: *` responses are not stored;
//!   `Vary` values of `Accept-Encoding`, `Accept-Language` and
//!   `Accept-Charset` are compared case- and order-insensitively; a `304`
//!   never changes `Content-Length`, `Content-Encoding`, `Content-Range`,
//!   `Content-MD5` or `ETag`; `Pragma: no-cache` counts only in a request
//!   without `Cache-Control`. Each module of [`cache`] lists its own.
//! - Whether a request guards a write for a server that requires
//!   conditional requests (RFC 6585 §3, [`Preconditions::write_guard`]):
//!   only a valid `If-Match` listing entity-tags, a valid
//!   `If-Unmodified-Since` no later than the server's clock (without
//!   `If-Match`), or `If-None-Match: *`. `If-Match: *` does not: it holds
//!   for every version, so it cannot prevent a lost update.
//! - The optional 2xx for "a state-changing operation that appears to have
//!   already been applied" (§13.2.2 steps 1 and 2) is left to the caller,
//!   who knows the state; the evaluator answers 412.
//!
//! # Deviations
//!
//! Each deviation from the RFC text is marked in the code with a comment
//! starting `DEVIATION(name)`; `grep -rn DEVIATION crates/core` lists them.
//!
//! - `DEVIATION(ttl-override)`: a cache configured with
//!   [`cache::CacheConfig::lifetime_override`] uses that lifetime instead of
//!   the one RFC 9111 §4.2.1 derives from `s-maxage`, `max-age` and
//!   `Expires` (an operator's choice, off unless configured; the edge's
//!   per-path `override_ttl_s`).
//! - `DEVIATION(future-ims)`: an `If-Modified-Since` later than the
//!   server's `now` is ignored. RFC 9110 §13.1.3 would answer 304 to any
//!   date at or after `Last-Modified`; a future date cannot have come from
//!   this server, and honouring it lets a clock that was once fast pin
//!   clients to old content (httpd, Varnish and ASP.NET Core do the same).
//! - `DEVIATION(weak-unmodified-since)`: an `If-Unmodified-Since` equal to
//!   a `Last-Modified` the server marked [`LastModifiedStrength::Weak`] (the
//!   representation may have changed twice in that second) is false, where
//!   RFC 9110 §13.1.4 compares dates only. §8.8.2.2 calls such a date weak;
//!   taking it as proof that nothing changed lets two writers who read the
//!   same version both win. The refused client re-reads and retries.
//! - `DEVIATION(removed-unmodified-since)`: with
//!   [`Validators::removed_at`], `If-Unmodified-Since` is evaluated against
//!   the time the representation was removed, where §13.1.4 ignores it
//!   without a representation; otherwise a client that read the removed
//!   version would re-create it over another client's DELETE.
//! - `DEVIATION(rfc850-year)`: two-digit years in the obsolete RFC 850 date
//!   form use a fixed pivot (00–69 → 20xx, 70–99 → 19xx) instead of the
//!   rolling "more than 50 years in the future" rule of §5.6.7, because
//!   parsing takes no clock. Only 2070–2076 written as `70`–`76` differ.
//!
//! # Features
//!
#![doc = document_features::document_features!()]
//!
//! # Public dependencies
//!
//! Types of these crates appear in this crate's API on purpose; each is
//! re-exported, so a caller can name the same version:
//!
//! - [`http`](https://docs.rs/http/1) 1.x: header maps, names and values, methods, status codes,
//!   URIs and responses are the vocabulary of every decision.
//! - [`serde_json`] 1.x: the extension members of a [`problem::Problem`]
//!   ([`serde_json::Value`]) and its parse error.
//!
//! [`serde`] 1.x traits are implemented for the purge wire format
//! ([`purge`]) and, with the `serde` feature, for [`EntityTag`] and
//! [`HttpDate`].
//!
//! [RFC 9110 §8.8.3]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3
//! [RFC 9110 §5.6.7]: https://www.rfc-editor.org/rfc/rfc9110#section-5.6.7
//! [RFC 9110 §8.8]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8
//! [RFC 9110 §13]: https://www.rfc-editor.org/rfc/rfc9110#section-13
//! [RFC 9110 §15.4.5]: https://www.rfc-editor.org/rfc/rfc9110#section-15.4.5
//! [RFC 9111]: https://www.rfc-editor.org/rfc/rfc9111

/// The README's example, run as a doctest (not part of the API).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use http;
pub use serde_json;

pub mod accept_encoding;
pub mod answer;
pub mod cache;
pub mod date;
pub mod etag;
pub mod not_modified;
pub mod precondition;
pub mod problem;
pub mod purge;
pub mod range;
pub mod validators;

pub use date::{HttpDate, InvalidHttpDate};
pub use etag::{EntityTag, EntityTagList, InvalidEntityTag, InvalidEntityTagList};
pub use not_modified::{
    NOT_MODIFIED_DROPS, NOT_MODIFIED_REQUIRED, not_modified_headers, not_modified_response,
    strip_to_not_modified,
};
pub use precondition::{Condition, Evaluation, IfRange, Outcome, Preconditions, Unguarded, WriteGuard};
pub use validators::{LastModifiedStrength, Validators, last_modified_is_strong};
