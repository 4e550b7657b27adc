//! The response body the layer hands on: the handler's body untouched, or
//! bytes the layer already holds.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The body of a response that went through the layer.
    ///
    /// A body the layer did not read is passed on as it is, frame by frame:
    /// streaming bodies, bodies above the size limit, non-2xx responses and
    /// `no-store` responses are never buffered. A body the layer read to
    /// hash it is handed on from memory, in one frame.
    pub struct ConditionalBody<B: Body> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B: Body> {
        // The handler's body, not read by the layer.
        PassThrough { #[pin] inner: B },
        // The whole body, read by the layer, and its trailers.
        Full { data: Option<Bytes>, trailers: Option<HeaderMap> },
        // No body: 304, and HEAD after the layer read the body.
        Empty,
        // The layer started reading and stopped (the body outgrew the size
        // it announced, or failed): what it read, then the rest as it comes.
        Resume {
            prefix: VecDeque<Bytes>,
            error: Option<B::Error>,
            rest: Pin<Box<B>>,
        },
    }
}

impl<B: Body> ConditionalBody<B> {
    pub(crate) fn pass_through(inner: B) -> Self {
        Self {
            kind: Kind::PassThrough { inner },
        }
    }

    pub(crate) fn full(data: Bytes, trailers: Option<HeaderMap>) -> Self {
        Self {
            kind: Kind::Full {
                data: Some(data).filter(|d| !d.is_empty()),
                trailers,
            },
        }
    }

    pub(crate) fn empty() -> Self {
        Self { kind: Kind::Empty }
    }

    pub(crate) fn resume(prefix: Vec<Bytes>, error: Option<B::Error>, rest: Pin<Box<B>>) -> Self {
        Self {
            kind: Kind::Resume {
                prefix: prefix.into(),
                error,
                rest,
            },
        }
    }

    /// Whether the layer handed on the handler's body without reading it.
    pub fn is_pass_through(&self) -> bool {
        matches!(self.kind, Kind::PassThrough { .. })
    }
}

fn to_bytes<D: Buf>(mut data: D) -> Bytes {
    // `Bytes::copy_to_bytes` is a cheap split, not a copy.
    data.copy_to_bytes(data.remaining())
}

impl<B: Body> Body for ConditionalBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::PassThrough { inner } => {
                let frame = ready!(inner.poll_frame(cx));
                Poll::Ready(frame.map(|f| f.map(|f| f.map_data(to_bytes))))
            }
            KindProj::Full { data, trailers } => {
                if let Some(data) = data.take() {
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Poll::Ready(trailers.take().map(|t| Ok(Frame::trailers(t))))
            }
            KindProj::Empty => Poll::Ready(None),
            KindProj::Resume { prefix, error, rest } => {
                if let Some(data) = prefix.pop_front() {
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                if let Some(error) = error.take() {
                    return Poll::Ready(Some(Err(error)));
                }
                let frame = ready!(rest.as_mut().poll_frame(cx));
                Poll::Ready(frame.map(|f| f.map(|f| f.map_data(to_bytes))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::PassThrough { inner } => inner.is_end_stream(),
            Kind::Full { data, trailers } => data.is_none() && trailers.is_none(),
            Kind::Empty => true,
            Kind::Resume { prefix, error, rest } => {
                prefix.is_empty() && error.is_none() && rest.is_end_stream()
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::PassThrough { inner } => inner.size_hint(),
            Kind::Full { data, .. } => SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64)),
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Resume { prefix, rest, .. } => {
                let held: u64 = prefix.iter().map(|b| b.len() as u64).sum();
                let rest = rest.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(held.saturating_add(rest.lower()));
                if let Some(upper) = rest.upper() {
                    hint.set_upper(held.saturating_add(upper));
                }
                hint
            }
        }
    }
}

impl<B: Body> std::fmt::Debug for ConditionalBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::PassThrough { .. } => "PassThrough",
            Kind::Full { .. } => "Full",
            Kind::Empty => "Empty",
            Kind::Resume { .. } => "Resume",
        };
        f.debug_struct("ConditionalBody").field("kind", &kind).finish()
    }
}

pin_project! {
    /// A body rendered on first read, for handlers that know their
    /// validators before the content.
    ///
    /// A handler returns its validators in the headers (or as a
    /// [`KnownValidators`](crate::KnownValidators) extension) and the body
    /// as a `DeferredBody`: when the layer answers 304, it drops the body
    /// without reading it, so `render` never runs. This is Rails' `stale?`
    /// without the `if`.
    ///
    /// ```
    /// use revalidate_tower::DeferredBody;
    ///
    /// let body = DeferredBody::new(|| String::from("{\"rendered\":true}"));
    /// # let _ = body;
    /// ```
    pub struct DeferredBody<F> {
        render: Option<F>,
    }
}

impl<F, T> DeferredBody<F>
where
    F: FnOnce() -> T,
    T: Into<Bytes>,
{
    /// A body that calls `render` the first time it is read.
    pub fn new(render: F) -> Self {
        Self { render: Some(render) }
    }
}

impl<F, T> Body for DeferredBody<F>
where
    F: FnOnce() -> T,
    T: Into<Bytes>,
{
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let render = self.project().render.take();
        Poll::Ready(render.map(|render| Ok(Frame::data(render().into()))))
    }

    fn is_end_stream(&self) -> bool {
        self.render.is_none()
    }
}

impl<F> std::fmt::Debug for DeferredBody<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeferredBody")
            .field("rendered", &self.render.is_none())
            .finish()
    }
}
