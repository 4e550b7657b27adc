//! Response bodies: whole (from the cache), streamed through a channel
//! (from the origin, while the storage writer keeps a copy), or empty.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use tokio::sync::mpsc;

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
