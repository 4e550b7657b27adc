//! Response bodies: whole (from the cache), in pieces (a multipart `206`
//! from the cache), streamed through a channel (from the origin, while the
//! storage writer keeps a copy), or empty; and the origin's body as the
//! edge reads it (`OriginBody`: bounded silence between chunks).

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};

use crate::metrics::{EdgeMetrics, OriginError};

/// Errors carried by bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response the edge sends, and of every request it
/// sends to the origin.
pub type EdgeBody = UnsyncBoxBody<Bytes, BoxError>;

/// A body holding `bytes`.
pub fn full(bytes: impl Into<Bytes>) -> EdgeBody {
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
pub fn empty() -> EdgeBody {
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Any body, boxed.
pub fn boxed<B>(body: B) -> EdgeBody
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}

/// A body of these pieces in order, each sent as it is (a
/// `multipart/byteranges` body: its literal parts and slices of a stored
/// body, nothing copied).
pub fn pieces(pieces: Vec<Bytes>) -> EdgeBody {
    let remaining = pieces.iter().map(|piece| piece.len() as u64).sum();
    Pieces {
        pieces: pieces.into_iter(),
        remaining,
    }
    .map_err(|never| match never {})
    .boxed_unsync()
}

/// See [`pieces`].
#[derive(Debug)]
struct Pieces {
    pieces: std::vec::IntoIter<Bytes>,
    remaining: u64,
}

impl Body for Pieces {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let piece = self.pieces.next();
        if let Some(piece) = &piece {
            self.remaining -= piece.len() as u64;
        }
        Poll::Ready(piece.map(|piece| Ok(Frame::data(piece))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// The client's half of a body that a task feeds chunk by chunk.
#[derive(Debug)]
pub(crate) struct ChannelBody {
    rx: mpsc::Receiver<Result<Frame<Bytes>, BoxError>>,
    /// The length from `Content-Length`, when the origin sent one.
    length: Option<u64>,
}

impl ChannelBody {
    /// A body and the sender that feeds it.
    pub(crate) fn new(length: Option<u64>) -> (mpsc::Sender<Result<Frame<Bytes>, BoxError>>, Self) {
        // A few chunks of slack: the feeding task also writes to the cache
        // and should not wait on every chunk for the client.
        let (tx, rx) = mpsc::channel(8);
        (tx, Self { rx, length })
    }
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.rx.poll_recv(cx)
    }

    fn size_hint(&self) -> SizeHint {
        self.length.map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}

/// An origin's response body with a bound on the silence between two of
/// its chunks (`upstream_body_timeout`, like nginx's `proxy_read_timeout`):
/// an origin that stops sending half-way ends the body with an error
/// instead of holding the client, the storage writer and every request
/// waiting for this fill. An error (that timeout, or the origin's
/// connection breaking) is counted as an origin error here, once; whoever
/// reads the body passes it on, so that the client's response is aborted,
/// never completed short.
#[derive(Debug)]
pub(crate) struct OriginBody {
    inner: Incoming,
    idle: Duration,
    last_frame: Instant,
    /// Armed the first time the origin keeps the edge waiting; moved on
    /// (not re-created) when it does again.
    timer: Option<Pin<Box<Sleep>>>,
    metrics: EdgeMetrics,
    /// The pool member it comes from, for the `origin` label.
    member: usize,
    failed: bool,
}

/// How an origin body broke off.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OriginBodyError {
    /// Nothing for `upstream_body_timeout`.
    #[error("the origin sent nothing for {0:?} in the middle of a response body")]
    Stalled(Duration),
    /// The connection broke or the framing was wrong.
    #[error("the origin's response body broke off: {0}")]
    Broken(#[source] hyper::Error),
}

impl OriginBody {
    pub(crate) fn new(inner: Incoming, idle: Duration, metrics: EdgeMetrics, member: usize) -> Self {
        Self {
            inner,
            idle,
            last_frame: Instant::now(),
            timer: None,
            metrics,
            member,
            failed: false,
        }
    }

    fn fail(
        &mut self,
        kind: OriginError,
        error: OriginBodyError,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.failed = true;
        self.metrics.origin_error(self.member, kind);
        Poll::Ready(Some(Err(Box::new(error))))
    }
}

impl Body for OriginBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                self.last_frame = Instant::now();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => self.fail(OriginError::Protocol, OriginBodyError::Broken(e)),
            Poll::Pending => {
                let deadline = self.last_frame + self.idle;
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if timer.deadline() != deadline {
                    timer.as_mut().reset(deadline);
                }
                ready!(timer.as_mut().poll(cx));
                let idle = self.idle;
                self.fail(OriginError::Timeout, OriginBodyError::Stalled(idle))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
