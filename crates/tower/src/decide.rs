//! The layer's own decisions, as pure functions over header maps and
//! sizes: whether to read a handler's response, the validators it is
//! judged by, and the answer before the handler when a lookup gave the
//! current validators. How to answer from a response (304, 412, 206,
//! multipart 206, 416) is the core's [`revalidate_core::answer::plan`].
//! The service and its future only carry them out.

use http::header::{CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, ETAG, LAST_MODIFIED};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body::SizeHint;
use revalidate_core::cache::ResponseDirectives;
use revalidate_core::{
    Condition, EntityTag, HttpDate, Outcome, Preconditions, Validators, not_modified_headers,
};

use crate::coding::{ensure_vary_accept_encoding, is_content_coded, variant_in_request};
use crate::tag::single_etag;

/// How big a response body is, as far as can be told without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodySize {
    /// The body announces its exact length (its size hint, or
    /// `Content-Length` when the hint is open).
    Exact(u64),
    /// A HEAD response whose body was already removed below the layer
    /// (it is empty but `Content-Length` says otherwise): hashing it would
    /// give a tag that differs from the GET's.
    StrippedHead,
    /// A stream of unknown length.
    Unknown,
}

impl BodySize {
    pub(crate) fn of(method: &Method, hint: &SizeHint, headers: &HeaderMap) -> Self {
        match hint.exact() {
            Some(0) if *method == Method::HEAD && content_length(headers).is_some_and(|n| n > 0) => {
                Self::StrippedHead
            }
            Some(n) => Self::Exact(n),
            None => content_length(headers).map_or(Self::Unknown, Self::Exact),
        }
    }

    fn fits(self, max: u64) -> bool {
        matches!(self, Self::Exact(n) if n <= max)
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    let mut lines = headers.get_all(CONTENT_LENGTH).iter();
    match (lines.next(), lines.next()) {
        (Some(value), None) => value.to_str().ok()?.parse().ok(),
        _ => None,
    }
}

/// Which of the two jobs a layer instance does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// [`ConditionalLayer`](crate::ConditionalLayer): tags and evaluates.
    Evaluate,
    /// [`ETagLayer`](crate::ETagLayer): tags the identity body only, below
    /// a compression layer.
    TagOnly,
}

/// Why a response goes on untouched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Untouched {
    /// RFC 9110 §13.2.1: preconditions apply only where the response
    /// would have been 2xx.
    NotSuccess,
    /// The response forbids storing (`no-store`): nothing keeps it, so
    /// nothing will revalidate it.
    NoStore,
    /// Not GET or HEAD: the response does not carry the selected
    /// representation, and a write's preconditions were due before it ran.
    Method,
    /// No validator, and the body cannot be hashed without buffering a
    /// stream or more than the limit.
    Unhashable,
    /// (ETagLayer) the body is already content-coded: an outer layer owns it.
    Encoded,
}

/// What to do with a handler's response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AfterHandler {
    /// Hand it on as it is.
    PassThrough(Untouched),
    /// The headers carry validators: evaluate without reading the body.
    Evaluate,
    /// Read the whole body (it fits the limit): to hash it when `hash`,
    /// and so that the core's plan can cut ranges out of it.
    Collect {
        /// Whether to compute the entity-tag from the bytes.
        hash: bool,
    },
}

/// The facts about a response that [`after_handler`] decides on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ResponseFacts {
    pub(crate) status: StatusCode,
    pub(crate) no_store: bool,
    pub(crate) safe_read: bool,
    /// The response has an entity-tag (its own, or one the layer was given).
    pub(crate) has_etag: bool,
    /// The response has a modification date.
    pub(crate) has_last_modified: bool,
    pub(crate) content_coded: bool,
    pub(crate) size: BodySize,
    /// The request has a `Range` the layer may serve from the bytes.
    pub(crate) range_requested: bool,
}

impl ResponseFacts {
    pub(crate) fn read(method: &Method, status: StatusCode, headers: &HeaderMap, size: BodySize) -> Self {
        let mut facts = Self {
            status,
            no_store: false,
            safe_read: matches!(*method, Method::GET | Method::HEAD),
            has_etag: false,
            has_last_modified: false,
            content_coded: false,
            size,
            range_requested: false,
        };
        // One pass over the few field names a handler sets, instead of a
        // hash lookup for each of the four fields asked about: this runs on
        // every response.
        for name in headers.keys() {
            if *name == ETAG {
                facts.has_etag = true;
            } else if *name == LAST_MODIFIED {
                facts.has_last_modified = true;
            } else if *name == CACHE_CONTROL {
                facts.no_store = is_no_store(headers);
            } else if *name == CONTENT_ENCODING {
                facts.content_coded = is_content_coded(headers);
            }
        }
        facts
    }
}

/// Decides what to do with a handler's response.
pub(crate) fn after_handler(role: Role, facts: &ResponseFacts, max_body: u64) -> AfterHandler {
    // RFC 9110 §13.2.1: "A server MUST ignore all received preconditions if
    // its response to the same request without those conditions, prior to
    // processing the request content, would have been a status code other
    // than a 2xx (Successful) or 412 (Precondition Failed)."
    if !facts.status.is_success() {
        return AfterHandler::PassThrough(Untouched::NotSuccess);
    }
    if facts.no_store {
        return AfterHandler::PassThrough(Untouched::NoStore);
    }
    if !facts.safe_read {
        return AfterHandler::PassThrough(Untouched::Method);
    }
    let fits = facts.size.fits(max_body);
    match role {
        Role::TagOnly => {
            if facts.content_coded {
                AfterHandler::PassThrough(Untouched::Encoded)
            } else if facts.has_etag {
                AfterHandler::Evaluate
            } else if fits {
                AfterHandler::Collect { hash: true }
            } else {
                AfterHandler::PassThrough(Untouched::Unhashable)
            }
        }
        Role::Evaluate => {
            // A handler's tag makes reading unnecessary, unless the layer is
            // to cut a range out of the bytes: the core's plan cuts only a
            // 200 it has the length of, so only a 200 is read for it.
            // Without a tag, a body that fits is hashed even next to a
            // Last-Modified: a strong tag is exact where a date has
            // one-second resolution.
            let range_from_bytes = facts.range_requested && facts.status == StatusCode::OK;
            if facts.has_etag && !(range_from_bytes && fits) {
                AfterHandler::Evaluate
            } else if fits {
                AfterHandler::Collect {
                    hash: !facts.has_etag,
                }
            } else if facts.has_etag || facts.has_last_modified {
                AfterHandler::Evaluate
            } else {
                AfterHandler::PassThrough(Untouched::Unhashable)
            }
        }
    }
}

/// `Cache-Control: no-store` ([RFC 9111 §5.2.2.5]), read by the core's
/// directive parser.
///
/// [RFC 9111 §5.2.2.5]: https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.5
pub(crate) fn is_no_store(headers: &HeaderMap) -> bool {
    headers.contains_key(CACHE_CONTROL) && ResponseDirectives::from_headers(headers).no_store
}

/// Sets `ETag` and `Last-Modified` from validators the layer was given,
/// unless the response carries an `ETag` of its own, which wins. Returns
/// whether the layer set the tag.
pub(crate) fn apply_validators(headers: &mut HeaderMap, validators: &Validators) -> bool {
    if headers.contains_key(ETAG) {
        return false;
    }
    let mut set = false;
    if let Some(tag) = validators.etag() {
        headers.insert(ETAG, tag.to_header_value());
        set = true;
    }
    if let Some(date) = validators.last_modified()
        && !headers.contains_key(LAST_MODIFIED)
    {
        headers.insert(LAST_MODIFIED, date.to_header_value());
    }
    set
}

/// Validators equal to `current` but with another entity-tag.
pub(crate) fn with_tag(current: &Validators, tag: EntityTag) -> Validators {
    let mut v = Validators::new().with_etag(tag);
    if let Some(lm) = current.last_modified() {
        v = v.with_last_modified(lm);
    }
    if let Some(date) = current.date() {
        v = v.with_date(date);
    }
    v
}

/// The validators of a response, as the request's preconditions need
/// them: none when the request has no precondition (the evaluation then
/// reads none), and `Last-Modified` and `Date` parsed only when a date
/// precondition or `If-Range` is present, since an `If-None-Match` alone
/// never reads them.
pub(crate) fn response_validators(pre: &Preconditions, headers: &HeaderMap) -> Validators {
    if !pre.is_conditional() {
        return Validators::new();
    }
    let needs_dates =
        pre.if_modified_since().is_some() || pre.if_unmodified_since().is_some() || pre.if_range().is_some();
    if needs_dates {
        return Validators::from_response_headers(headers);
    }
    match single_etag(headers) {
        Some(tag) => Validators::new().with_etag(tag),
        None => Validators::new(),
    }
}

/// What to do before the handler runs, once a [`Lookup`] gave the current
/// validators.
///
/// [`Lookup`]: crate::Lookup
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BeforeHandler {
    /// Call the handler.
    Proceed,
    /// Answer 304 with these headers, without calling the handler.
    NotModified(HeaderMap),
    /// Answer 412, without calling the handler.
    PreconditionFailed {
        /// The field that failed.
        condition: Option<Condition>,
        /// The current entity-tag, which a 412 may carry so the client can
        /// retry without another GET.
        etag: Option<HeaderValue>,
    },
}

/// Evaluates the preconditions against validators known before the
/// handler runs ([RFC 9110 §13.2.2]).
///
/// `If-Range` is left for after the handler: it needs the representation
/// the handler is about to send.
///
/// [RFC 9110 §13.2.2]: https://www.rfc-editor.org/rfc/rfc9110#section-13.2.2
pub(crate) fn before_handler(
    pre: &Preconditions,
    method: &Method,
    now: HttpDate,
    current: &Validators,
    extra: &HeaderMap,
    request: &HeaderMap,
) -> BeforeHandler {
    if !pre.is_conditional() {
        return BeforeHandler::Proceed;
    }
    let variant = current
        .etag()
        .filter(|_| current.exists())
        .and_then(|tag| variant_in_request(tag, pre, method, request));
    let evaluated = match &variant {
        Some(tag) => pre.evaluate_detailed(method, &with_tag(current, tag.clone()), now),
        None => pre.evaluate_detailed(method, current, now),
    };
    match evaluated.outcome {
        Outcome::NotModified => {
            // §15.4.5: the fields a 200 would carry, then the validators;
            // the 304 names the variant the client holds, when it holds a
            // coded one.
            let mut ok = extra.clone();
            let coded = variant.is_some();
            if let Some(tag) = variant.or_else(|| current.etag().cloned()) {
                ok.insert(ETAG, tag.to_header_value());
            }
            if let Some(date) = current.last_modified() {
                ok.insert(LAST_MODIFIED, date.to_header_value());
            }
            if coded {
                ensure_vary_accept_encoding(&mut ok);
            }
            // The core's §15.4.5 set; it copies the kept fields, which is
            // cheaper than removing every dropped name in place.
            let headers = not_modified_headers(&ok);
            BeforeHandler::NotModified(headers)
        }
        // §13.1.1: "An origin server that evaluates an If-Match condition
        // MUST NOT perform the requested method if the condition evaluates
        // to false"; §13.1.4 says the same of If-Unmodified-Since. The
        // handler is not called.
        Outcome::PreconditionFailed => BeforeHandler::PreconditionFailed {
            condition: evaluated.decided_by,
            etag: current.etag().map(EntityTag::to_header_value),
        },
        Outcome::Proceed | Outcome::IgnoreRange => BeforeHandler::Proceed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Request or response fields of a table row.
    type Fields<'a> = &'a [(&'a str, &'a str)];

    fn headers(pairs: Fields<'_>) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(
                http::HeaderName::from_bytes(name.as_bytes()).expect("test header name"),
                HeaderValue::from_str(value).expect("test header value"),
            );
        }
        h
    }

    fn facts(status: u16, size: BodySize) -> ResponseFacts {
        ResponseFacts {
            status: StatusCode::from_u16(status).expect("test status"),
            no_store: false,
            safe_read: true,
            has_etag: false,
            has_last_modified: false,
            content_coded: false,
            size,
            range_requested: false,
        }
    }

    #[test]
    fn after_handler_table() {
        use AfterHandler::*;
        let max = 1024;
        let small = BodySize::Exact(10);
        let big = BodySize::Exact(2048);
        let with_validator = ResponseFacts {
            has_etag: true,
            ..facts(200, small)
        };
        let dated_stream = ResponseFacts {
            has_last_modified: true,
            ..facts(200, BodySize::Unknown)
        };
        let dated_small = ResponseFacts {
            has_last_modified: true,
            ..facts(200, small)
        };
        let no_store = ResponseFacts {
            no_store: true,
            ..facts(200, small)
        };
        let post = ResponseFacts {
            safe_read: false,
            ..facts(200, small)
        };
        let ranged = ResponseFacts {
            has_etag: true,
            range_requested: true,
            ..facts(200, small)
        };
        let coded = ResponseFacts {
            content_coded: true,
            ..facts(200, small)
        };
        #[rustfmt::skip]
        let cases: &[(&str, Role, ResponseFacts, AfterHandler)] = &[
            ("small_200_hashed", Role::Evaluate, facts(200, small), Collect { hash: true }),
            ("exactly_limit_hashed", Role::Evaluate, facts(200, BodySize::Exact(max)), Collect { hash: true }),
            ("empty_200_hashed", Role::Evaluate, facts(200, BodySize::Exact(0)), Collect { hash: true }),
            ("no_content_hashed", Role::Evaluate, facts(204, BodySize::Exact(0)), Collect { hash: true }),
            ("above_limit_untouched", Role::Evaluate, facts(200, big), PassThrough(Untouched::Unhashable)),
            ("stream_untouched", Role::Evaluate, facts(200, BodySize::Unknown), PassThrough(Untouched::Unhashable)),
            ("stripped_head_untouched", Role::Evaluate, facts(200, BodySize::StrippedHead), PassThrough(Untouched::Unhashable)),
            ("not_found_untouched", Role::Evaluate, facts(404, small), PassThrough(Untouched::NotSuccess)),
            ("redirect_untouched", Role::Evaluate, facts(302, small), PassThrough(Untouched::NotSuccess)),
            ("no_store_untouched", Role::Evaluate, no_store, PassThrough(Untouched::NoStore)),
            ("post_untouched", Role::Evaluate, post, PassThrough(Untouched::Method)),
            ("validator_not_read", Role::Evaluate, with_validator, Evaluate),
            ("dated_stream_evaluated_unread", Role::Evaluate, dated_stream, Evaluate),
            ("dated_small_still_hashed", Role::Evaluate, dated_small, Collect { hash: true }),
            ("validator_range_read", Role::Evaluate, ranged, Collect { hash: false }),
            ("validator_stream_range_not_read", Role::Evaluate, ResponseFacts { size: BodySize::Unknown, ..ranged }, Evaluate),
            ("tag_only_hashes", Role::TagOnly, facts(200, small), Collect { hash: true }),
            ("tag_only_skips_coded", Role::TagOnly, coded, PassThrough(Untouched::Encoded)),
            ("tag_only_keeps_handler_tag", Role::TagOnly, with_validator, Evaluate),
            ("tag_only_dated_stream_untouched", Role::TagOnly, dated_stream, PassThrough(Untouched::Unhashable)),
        ];
        for (name, role, facts, expected) in cases {
            assert_eq!(after_handler(*role, facts, max), *expected, "{name}");
        }
    }

    #[test]
    fn body_size_reads_hint_then_content_length() {
        let exact = SizeHint::with_exact(5);
        let open = SizeHint::new();
        let cl = headers(&[("content-length", "7")]);
        assert_eq!(
            BodySize::of(&Method::GET, &exact, &HeaderMap::new()),
            BodySize::Exact(5)
        );
        assert_eq!(BodySize::of(&Method::GET, &open, &cl), BodySize::Exact(7));
        assert_eq!(
            BodySize::of(&Method::GET, &open, &HeaderMap::new()),
            BodySize::Unknown
        );
        assert_eq!(
            BodySize::of(&Method::HEAD, &SizeHint::with_exact(0), &cl),
            BodySize::StrippedHead
        );
    }

    #[test]
    fn no_store_is_read_by_the_core_parser() {
        assert!(is_no_store(&headers(&[("cache-control", "max-age=5, NO-STORE")])));
        assert!(is_no_store(&headers(&[
            ("cache-control", "private"),
            ("cache-control", "no-store")
        ])));
        assert!(!is_no_store(&headers(&[("cache-control", "no-cache")])));
        assert!(!is_no_store(&HeaderMap::new()));
    }

    #[test]
    fn before_handler_answers_304_with_the_variant_and_vary() {
        let current = Validators::new().with_etag(EntityTag::strong("v1").expect("valid"));
        let extra = headers(&[
            ("cache-control", "no-cache"),
            ("content-type", "application/json"),
        ]);
        let request = headers(&[("if-none-match", "\"v1-gzip\""), ("accept-encoding", "gzip")]);
        let pre = Preconditions::from_headers(&request);
        let now = HttpDate::from_unix_seconds(1_700_000_000).expect("valid date");
        let BeforeHandler::NotModified(h) =
            before_handler(&pre, &Method::GET, now, &current, &extra, &request)
        else {
            panic!("expected 304");
        };
        assert_eq!(h["etag"], "\"v1-gzip\"");
        assert_eq!(h["vary"], "accept-encoding");
        assert_eq!(h["cache-control"], "no-cache");
        assert!(h.get("content-type").is_none(), "§15.4.5 drops content metadata");
    }
}
