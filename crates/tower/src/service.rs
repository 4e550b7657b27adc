//! The middleware service: reads the request, then hands the response to
//! [`ResponseFuture`].

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{IF_RANGE, RANGE};
use http::{Method, Request, Response};
use http_body::Body;
use revalidate_core::answer::RangeField;
use revalidate_core::{HttpDate, Preconditions};
use tower_service::Service;

use crate::body::ConditionalBody;
use crate::clock::Clock;
use crate::context::RequestContext;
use crate::context::Settings;
use crate::decide::Role;
use crate::future::ResponseFuture;
use crate::lookup::Lookup;

/// The service made by [`ConditionalLayer`](crate::ConditionalLayer) and
/// [`ETagLayer`](crate::ETagLayer).
///
/// The inner service must be `Clone` (axum routes and most tower services
/// are): with a lookup, the instance that was polled ready is moved into
/// the response future and called after the lookup, and a clone stays.
#[derive(Clone)]
pub struct Conditional<S, L> {
    inner: S,
    settings: Settings,
    clock: Arc<dyn Clock>,
    lookup: L,
}

impl<S, L> Conditional<S, L> {
    pub(crate) fn new(inner: S, settings: Settings, clock: Arc<dyn Clock>, lookup: L) -> Self {
        Self {
            inner,
            settings,
            clock,
            lookup,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug, L> fmt::Debug for Conditional<S, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conditional")
            .field("inner", &self.inner)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<S, L, ReqBody, ResBody> Service<Request<ReqBody>> for Conditional<S, L>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ResBody: Body,
    L: Lookup,
{
    type Response = Response<ConditionalBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, ResBody, L::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let method = request.method().clone();
        if self.settings.role == Role::TagOnly {
            let ctx = RequestContext::tag_only(self.settings, method);
            return ResponseFuture::call(ctx, self.inner.call(request));
        }

        let pre = Preconditions::from_headers(request.headers());
        let now = if pre.is_conditional() {
            self.clock.now()
        } else {
            // Read only by the evaluation, which an unconditional request skips.
            HttpDate::UNIX_EPOCH
        };
        // `has_range` comes from the pass `from_headers` made over the fields:
        // most requests have no `Range`, and then no lookup is spent on it.
        // Only a GET's field is read: range handling is defined for GET
        // alone (§14.2), the core's plan ignores it for other methods, and
        // the layer need not read a HEAD's body for its sake.
        let range = if self.settings.ranges && method == Method::GET && pre.has_range() {
            RangeField::from_headers(request.headers())
        } else {
            RangeField::default()
        };
        if method == Method::GET && pre.has_range() && request.headers().contains_key(IF_RANGE) {
            // The handler must send the whole representation: only then can
            // the layer check If-Range against the validators of what is
            // current before it cuts a range out of it (§13.1.5). The layer
            // serves the range itself from the bytes it read.
            request.headers_mut().remove(RANGE);
        }
        // Only for the hashing path: with a lookup, the lookup's validators
        // decide (and the general evaluation covers a lookup that found none).
        let sole_if_none_match = if !L::ENABLED && pre.is_conditional() {
            sole_if_none_match(&method, request.headers())
        } else {
            None
        };
        let ctx = RequestContext::evaluate(self.settings, method, pre, now, range, sole_if_none_match);

        if !L::ENABLED {
            return ResponseFuture::call(ctx, self.inner.call(request));
        }
        // The lookup runs before the inner service is called: keep the
        // instance that was polled ready and leave a fresh clone behind.
        let ready = self.inner.clone();
        let service = std::mem::replace(&mut self.inner, ready);
        let (parts, body) = request.into_parts();
        let lookup = self.lookup.lookup(&parts);
        ResponseFuture::lookup(ctx, lookup, service, Request::from_parts(parts, body))
    }
}

/// The request's `If-None-Match` line when it alone decides a GET or HEAD
/// (one line; no `If-Match` or `If-Unmodified-Since`, which §13.2.2
/// evaluates first), for the layer's byte-for-byte fast path.
fn sole_if_none_match(method: &Method, headers: &http::HeaderMap) -> Option<http::HeaderValue> {
    if *method != Method::GET && *method != Method::HEAD {
        return None;
    }
    let mut lines = headers.get_all(http::header::IF_NONE_MATCH).into_iter();
    let first = lines.next()?;
    if lines.next().is_some()
        || headers.contains_key(http::header::IF_MATCH)
        || headers.contains_key(http::header::IF_UNMODIFIED_SINCE)
    {
        return None;
    }
    Some(first.clone())
}
