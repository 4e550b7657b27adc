//! Validators known before the handler runs: the idea behind Django's
//! `@condition(etag_func=…)` and Rails' `stale?`.
//!
//! A [`Lookup`] maps a request's head to the validators of the current
//! representation (say, a row's version column) without rendering it. The
//! layer evaluates the preconditions against them first and answers 304 or
//! 412 without calling the handler at all.

use std::future::{Future, Ready, ready};

use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue};
use revalidate_core::Validators;

/// What a [`Lookup`] knows about the current representation: its
/// validators, and the header fields a 200 would carry that a 304 must
/// repeat ([RFC 9110 §15.4.5]: `Cache-Control`, `Content-Location`,
/// `Expires`, `Vary`). With a compression layer below, that includes
/// `Vary: accept-encoding`.
///
/// ```
/// use http::header::CACHE_CONTROL;
/// use revalidate_core::{EntityTag, Validators};
/// use revalidate_tower::Current;
///
/// let current = Current::new(Validators::new().with_etag(EntityTag::strong("v7").unwrap()))
///     .with_header(CACHE_CONTROL, "no-cache".parse().unwrap());
/// assert_eq!(current.validators().etag().unwrap().opaque(), b"v7");
/// ```
///
/// [RFC 9110 §15.4.5]: https://www.rfc-editor.org/rfc/rfc9110#section-15.4.5
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Current {
    validators: Validators,
    headers: HeaderMap,
}

impl Current {
    /// The current representation has these validators.
    pub fn new(validators: Validators) -> Self {
        Self {
            validators,
            headers: HeaderMap::new(),
        }
    }

    /// There is no current representation: the resource does not exist,
    /// so `If-Match: *` fails and `If-None-Match: *` passes
    /// ([RFC 9110 §13.1.1], [§13.1.2]), as for a create-only `PUT`.
    ///
    /// [RFC 9110 §13.1.1]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.1
    /// [§13.1.2]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.2
    pub fn missing() -> Self {
        Self::new(Validators::missing())
    }

    /// Adds a field that a 200 would carry, so a 304 answered before the
    /// handler runs carries it too.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// The validators.
    pub fn validators(&self) -> &Validators {
        &self.validators
    }

    /// The fields added with [`Current::with_header`].
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    pub(crate) fn into_parts(self) -> (Validators, HeaderMap) {
        (self.validators, self.headers)
    }
}

impl From<Validators> for Current {
    fn from(validators: Validators) -> Self {
        Self::new(validators)
    }
}

/// Finds the current validators of the resource a request targets, before
/// the handler runs.
///
/// Implemented for every `Fn(&request::Parts) -> impl Future<Output =
/// Option<Current>>` closure. The future cannot borrow the request: copy
/// what it needs (the path, a header) before the `async move` block.
///
/// The answer means:
/// - `None`: the lookup does not manage this request; the layer evaluates
///   nothing before the handler (it still does afterwards, from the
///   response).
/// - `Some(current)`: the preconditions are evaluated against `current`;
///   on 304 or 412 the handler is not called. Use [`Current::missing`] for
///   a resource that does not exist.
pub trait Lookup: Clone {
    /// The lookup in progress.
    type Future: Future<Output = Option<Current>>;

    /// Whether the layer should call [`Lookup::lookup`] at all; `false`
    /// only for [`NoLookup`], so that the layer without a lookup calls the
    /// handler at once.
    const ENABLED: bool = true;

    /// Starts the lookup for one request.
    fn lookup(&self, request: &Parts) -> Self::Future;
}

impl<F, Fut> Lookup for F
where
    F: Fn(&Parts) -> Fut + Clone,
    Fut: Future<Output = Option<Current>>,
{
    type Future = Fut;

    fn lookup(&self, request: &Parts) -> Fut {
        self(request)
    }
}

/// The layer without a lookup: validators come from the response only.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoLookup;

impl Lookup for NoLookup {
    type Future = Ready<Option<Current>>;
    const ENABLED: bool = false;

    fn lookup(&self, _request: &Parts) -> Self::Future {
        ready(None)
    }
}
