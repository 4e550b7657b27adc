//! The service wrapper that tells a connection's state when a request
//! starts and when its response ends: [`GuardedService`] counts the
//! request in, its [`InFlight`] token rides in the response future and
//! then in the response body ([`GuardedBody`]), and counts it out when
//! dropped (the body ended, or the request was abandoned).
//!
//! Per request: an `Arc` clone and drop, a few relaxed stores and one
//! atomic increment; no allocation.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response, Version};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::guard::ConnState;

/// A connection's service: the server's own, with the request counted.
#[derive(Debug)]
pub struct GuardedService<S> {
    inner: S,
    conn: Arc<ConnState>,
}

impl<S> GuardedService<S> {
    pub(crate) fn new(inner: S, conn: Arc<ConnState>) -> Self {
        Self { inner, conn }
    }
}

/// Counts a request as in flight until dropped.
#[derive(Debug)]
struct InFlight(Arc<ConnState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

impl<S, B> hyper::service::Service<Request<Incoming>> for GuardedService<S>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>>,
{
    type Response = Response<GuardedBody<B>>;
    type Error = S::Error;
    type Future = GuardedFuture<S::Future>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        self.conn.request_started(
            !request.body().is_end_stream(),
            request.version() == Version::HTTP_2,
        );
        let in_flight = InFlight(Arc::clone(&self.conn));
        GuardedFuture {
            inner: self.inner.call(request),
            in_flight: Some(in_flight),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`GuardedService`].
    #[derive(Debug)]
    pub struct GuardedFuture<F> {
        #[pin]
        inner: F,
        in_flight: Option<InFlight>,
    }
}

impl<F, B, E> std::future::Future for GuardedFuture<F>
where
    F: std::future::Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<GuardedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        let (parts, inner) = response.into_parts();
        let body = GuardedBody {
            inner,
            _in_flight: this.in_flight.take(),
        };
        Poll::Ready(Ok(Response::from_parts(parts, body)))
    }
}

pin_project_lite::pin_project! {
    /// A response body that counts its request out when it is dropped
    /// (hyper drops a body once it has sent its end).
    #[derive(Debug)]
    pub struct GuardedBody<B> {
        #[pin]
        inner: B,
        _in_flight: Option<InFlight>,
    }
}

impl<B: Body> Body for GuardedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
