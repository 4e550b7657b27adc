//! What a request carries through the layer: the per-layer [`Settings`]
//! it copies, its [`RequestContext`] (read once when it arrives, kept while
//! the request itself is with the inner service), and the response
//! extensions layers and handlers leave for the layer ([`KnownValidators`],
//! [`IdentityTag`]). A leaf room: the layers, the service, the future and
//! the answer all read it, and it reads none of them.

use http::{HeaderValue, Method};
use revalidate_core::answer::RangeField;
use revalidate_core::{HttpDate, Preconditions, Validators};

use crate::decide::Role;

/// The per-layer settings every request copies.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub(crate) role: Role,
    pub(crate) max_body: u64,
    pub(crate) ranges: bool,
}

/// What the future needs to know about the request once the request
/// itself has gone to the inner service.
pub(crate) struct RequestContext {
    pub(crate) settings: Settings,
    pub(crate) method: Method,
    pub(crate) pre: Preconditions,
    pub(crate) now: HttpDate,
    /// The request's `Range` field, read once, for the plan; empty when the
    /// layer does not serve ranges.
    pub(crate) range: RangeField,
    /// The validators the lookup found, to set on the response.
    pub(crate) current: Option<Validators>,
    /// The request's one `If-None-Match` line, when it is the only
    /// condition that decides a GET or HEAD: compared byte for byte with a
    /// tag the layer computed, before any parsing.
    pub(crate) sole_if_none_match: Option<HeaderValue>,
}

impl RequestContext {
    pub(crate) fn tag_only(settings: Settings, method: Method) -> Self {
        Self {
            settings,
            method,
            pre: Preconditions::default(),
            now: HttpDate::UNIX_EPOCH,
            range: RangeField::default(),
            current: None,
            sole_if_none_match: None,
        }
    }

    pub(crate) fn evaluate(
        settings: Settings,
        method: Method,
        pre: Preconditions,
        now: HttpDate,
        range: RangeField,
        sole_if_none_match: Option<HeaderValue>,
    ) -> Self {
        Self {
            settings,
            method,
            pre,
            now,
            range,
            current: None,
            sole_if_none_match,
        }
    }
}

/// Validators a handler already knows, as a response extension: the
/// layer sets `ETag` and `Last-Modified` from them (unless the response
/// has an `ETag`), does not hash the body, and, when it answers 304,
/// drops the body without reading it.
///
/// With a [`DeferredBody`](crate::DeferredBody), the body is then never
/// rendered. With axum, return `Extension(KnownValidators(v))` as a
/// response part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownValidators(pub Validators);

/// Marks a response whose `ETag` names the identity bytes, set by the
/// [`ETagLayer`](crate::ETagLayer): a [`ConditionalLayer`](crate::ConditionalLayer) further out appends the coding
/// to it if a layer in between compressed the body.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IdentityTag {
    /// The [`ETagLayer`](crate::ETagLayer) computed the tag (rather than keeping the
    /// handler's), so validators given to the outer layer replace it.
    pub(crate) hashed: bool,
}
