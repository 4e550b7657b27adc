//! The service wrapper that tells a connection's state when a request
//! starts and when its response ends: [`GuardedService`] counts the
//! request in, its [`InFlight`] token rides in the response future and
//! then in the response body ([`GuardedBody`]), and counts it out when
//! dropped (the body ended, or the request was abandoned).
//!
//! On HTTP/1 it also says when a response leaves the connection unfit for
//! another request: the service answered before it read the request body
//! to its end (a `413` decided from `Content-Length`, a `400` for a body
//! that did not parse, a `405`). The server will not read the rest as the
//! next request, and hyper reads at most what is already buffered before
//! it gives up on the connection, so the response says `Connection:
//! close` (RFC 9112 §9.6: a server that does not read the whole body
//! "SHOULD close" the connection; §9.3: "Connection: close" tells the
//! client "the connection will be closed after completion of the
//! response"). Without it a client, or the edge's pool of connections to
//! the origin, took the connection for a reusable one and sent its next
//! request into a closing socket: the edge answered an origin's `413` with
//! a `502` for the next upload under load. [`RequestBody`] tracks the
//! body's end.
//!
//! With an access log ([`crate::access_log`]) it also captures each
//! request's line: the request when it arrives, the status (and a
//! proxy's [`Upstream`] extension) at the response head, the body bytes
//! as they are sent; the line is queued when the body ends or is dropped
//! (and with status 499 when the response future is dropped before a
//! head).
//!
//! Per request: an `Arc` clone and drop (two for a request with a body), a
//! few relaxed stores and one atomic increment; no allocation. Without an
//! access log, one branch on an `Option` when the request arrives, at the
//! response head and per body frame.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http::header::{CONNECTION, HeaderValue};
use http::{Request, Response, Version};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::access_log::record::Pending;
use crate::access_log::{AccessLog, Upstream};
use crate::conn::ConnState;

/// A connection's service: the server's own, with the request counted.
#[derive(Debug)]
pub struct GuardedService<S> {
    inner: S,
    conn: Arc<ConnState>,
    /// The access log and the client's address, when logging is on.
    log: Option<(AccessLog, SocketAddr)>,
}

impl<S> GuardedService<S> {
    pub(crate) fn new(inner: S, conn: Arc<ConnState>, log: Option<(AccessLog, SocketAddr)>) -> Self {
        Self { inner, conn, log }
    }
}

/// A request's access-log line while it is served; queued when dropped
/// (the response ended or was abandoned). Empty when logging is off.
#[derive(Debug, Default)]
struct LogLine(Option<Box<Pending>>);

impl Drop for LogLine {
    fn drop(&mut self) {
        if let Some(pending) = self.0.take() {
            pending.finish();
        }
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
    S: hyper::service::Service<Request<RequestBody>, Response = Response<B>>,
{
    type Response = Response<GuardedBody<B>>;
    type Error = S::Error;
    type Future = GuardedFuture<S::Future>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        let log = LogLine(
            self.log
                .as_ref()
                .map(|(log, peer)| Pending::capture(&mut request, *peer, log)),
        );
        let has_body = !request.body().is_end_stream();
        let multiplexed = request.version() == Version::HTTP_2;
        self.conn.request_started(has_body, multiplexed);
        // HTTP/2 ends an unread body with RST_STREAM (RFC 9113 §8.1) and
        // has no `Connection` field; only HTTP/1 needs to watch the body.
        let watched = has_body && !multiplexed;
        self.conn.set_body_unread(watched);
        let request = request.map(|inner| RequestBody {
            inner,
            unread: watched.then(|| Arc::clone(&self.conn)),
        });
        let in_flight = InFlight(Arc::clone(&self.conn));
        GuardedFuture {
            inner: self.inner.call(request),
            in_flight: Some(in_flight),
            log,
        }
    }
}

pin_project_lite::pin_project! {
    /// A request body as the service sees it: hyper's, and on HTTP/1 it
    /// tells the connection when it has been read to its end, so that a
    /// response given before that closes the connection (see the module
    /// docs).
    #[derive(Debug)]
    pub struct RequestBody {
        #[pin]
        inner: Incoming,
        // `Some` until the end is read, for an HTTP/1 request with a body.
        unread: Option<Arc<ConnState>>,
    }
}

impl RequestBody {
    /// The end of the body has been read: the connection may carry
    /// another request after this one.
    fn ended(unread: &mut Option<Arc<ConnState>>) {
        if let Some(conn) = unread.take() {
            conn.set_body_unread(false);
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        if this.unread.is_some() {
            match &frame {
                // A body whose length was known ends with its last byte,
                // which its reader need not poll past.
                Some(Ok(_)) if this.inner.is_end_stream() => Self::ended(this.unread),
                None => Self::ended(this.unread),
                // A body that failed (a malformed chunk, a reset) leaves the
                // connection unusable: it stays unread.
                Some(_) => {}
            }
        }
        Poll::Ready(frame)
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

pin_project_lite::pin_project! {
    /// The response future of [`GuardedService`].
    #[derive(Debug)]
    pub struct GuardedFuture<F> {
        #[pin]
        inner: F,
        in_flight: Option<InFlight>,
        log: LogLine,
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
        let (mut parts, inner) = response.into_parts();
        if let Some(in_flight) = this.in_flight
            && in_flight.0.body_unread()
        {
            // RFC 9112 §9.6: the rest of the body will not be read, so the
            // client must not send another request on this connection.
            parts
                .headers
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        if let Some(pending) = &mut this.log.0 {
            pending.record.status = parts.status.as_u16();
            pending.record.upstream = parts.extensions.remove::<Upstream>();
        }
        let body = GuardedBody {
            inner,
            _in_flight: this.in_flight.take(),
            log: std::mem::take(this.log),
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
        log: LogLine,
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
        let this = self.project();
        let Some(pending) = &mut this.log.0 else {
            // Not logging: hyper's frame as it is, nothing copied.
            return this.inner.poll_frame(cx);
        };
        let frame = ready!(this.inner.poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    pending.record.body_bytes += data.remaining() as u64;
                }
            }
            // The end (or a failure): the line goes now.
            Some(Err(_)) | None => drop(std::mem::take(this.log)),
        }
        Poll::Ready(frame)
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
