//! The client's request body on its way to the origin (`PUT`, `POST`, …):
//! watched so that a fault in it is blamed on the client, not the origin.
//!
//! - A body whose framing is broken (a malformed chunk size, a connection
//!   closed half-way) is [`ClientFault::BrokenBody`]: `400`.
//! - A body that stops arriving for longer than `client_body_timeout`
//!   between two chunks (nginx's `client_body_timeout`) is
//!   [`ClientFault::BodyTimeout`]: `408`. The wait only runs while the
//!   edge is asking the client for more; while the origin is slow to take
//!   what it has (backpressure) the client is not at fault.
//! - [`Upload::origin_clock`] tells the origin's response timeout when the
//!   origin has the turn (see [`crate::upstream::Upstream::send_upload`]).

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::body::{BoxError, EdgeBody};

/// What was wrong with the client's request body (re-exported as
/// [`crate::upstream::ClientFault`], a kind of [`crate::upstream::Failure`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientFault {
    /// Malformed framing (a bad chunk size, a body cut short): `400`.
    BrokenBody,
    /// Silence longer than `client_body_timeout` between two chunks: `408`.
    BodyTimeout,
}

/// The shared record of one upload: what the body wrapper saw, read by the
/// request to the origin.
#[derive(Clone, Debug)]
pub(crate) struct Upload {
    state: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    fault: Option<ClientFault>,
    /// The edge asked the client for the next chunk and has none yet.
    waiting_on_client: bool,
    /// When a chunk last went to the origin (or the upload began or ended).
    last_progress: Instant,
}

/// Whose turn it is, for the origin's response timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OriginClock {
    /// The edge is waiting for the client's next chunk: the origin cannot
    /// answer a request it has not received, so its clock does not run.
    ClientOwes,
    /// The origin has had the turn since then: the upload ended, or the
    /// origin stopped taking it.
    Since(Instant),
}

impl Upload {
    /// The client's fault, once there is one.
    pub(crate) fn fault(&self) -> Option<ClientFault> {
        self.lock().fault
    }

    /// Whose turn it is now.
    pub(crate) fn origin_clock(&self) -> OriginClock {
        let state = self.lock();
        if state.waiting_on_client && state.fault.is_none() {
            OriginClock::ClientOwes
        } else {
            OriginClock::Since(state.last_progress)
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The error a watched body ends with: the client's fault.
#[derive(Debug, thiserror::Error)]
#[error("the client's request body failed: {fault:?}")]
pub(crate) struct ClientBodyError {
    fault: ClientFault,
    #[source]
    source: Option<BoxError>,
}

/// Wraps the client's request `body` for the trip to the origin, allowing
/// `idle` of silence between two chunks.
pub(crate) fn watch<B>(body: B, idle: Duration) -> (EdgeBody, Upload)
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let upload = Upload {
        state: Arc::new(Mutex::new(State {
            fault: None,
            waiting_on_client: false,
            last_progress: Instant::now(),
        })),
    };
    let watched = Watched {
        inner: body,
        idle,
        last_chunk: Instant::now(),
        timer: None,
        upload: upload.clone(),
    };
    (crate::body::boxed(watched), upload)
}

pin_project_lite::pin_project! {
    struct Watched<B> {
        #[pin]
        inner: B,
        idle: Duration,
        last_chunk: Instant,
        // Armed the first time the client keeps the edge waiting; moved on
        // (not re-created) when it does again.
        timer: Option<Pin<Box<Sleep>>>,
        upload: Upload,
    }
}

impl<B> Body for Watched<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let now = Instant::now();
                *this.last_chunk = now;
                let mut state = this.upload.lock();
                state.waiting_on_client = false;
                state.last_progress = now;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                let mut state = this.upload.lock();
                state.waiting_on_client = false;
                state.last_progress = Instant::now();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(fail(
                this.upload,
                ClientFault::BrokenBody,
                Some(e.into()),
            )))),
            Poll::Pending => {
                this.upload.lock().waiting_on_client = true;
                let deadline = *this.last_chunk + *this.idle;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if timer.deadline() != deadline {
                    timer.as_mut().reset(deadline);
                }
                ready!(timer.as_mut().poll(cx));
                Poll::Ready(Some(Err(fail(this.upload, ClientFault::BodyTimeout, None))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Why [`read_limited`] read no body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// More than the limit.
    TooLarge,
    /// The client's fault.
    Client(ClientFault),
}

/// Reads a watched upload (from [`watch`]) of at most `limit` bytes to its
/// end, for the edge's own endpoints.
pub(crate) async fn read_limited(
    mut body: EdgeBody,
    upload: &Upload,
    limit: usize,
) -> Result<Bytes, ReadError> {
    use http_body_util::BodyExt;
    let mut bytes = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(ReadError::Client(
                upload.fault().unwrap_or(ClientFault::BrokenBody),
            ));
        };
        if let Some(data) = frame.data_ref() {
            if bytes.len() + data.len() > limit {
                return Err(ReadError::TooLarge);
            }
            bytes.extend_from_slice(data);
        }
    }
    Ok(bytes.freeze())
}

fn fail(upload: &Upload, fault: ClientFault, source: Option<BoxError>) -> BoxError {
    upload.lock().fault.get_or_insert(fault);
    Box::new(ClientBodyError { fault, source })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use http_body_util::BodyExt;

    /// A client body: two chunks, then the end, a framing error, or silence.
    struct Scripted {
        left: usize,
        then: &'static str,
    }

    impl Body for Scripted {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            if self.left > 0 {
                self.left -= 1;
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"chunk")))));
            }
            match self.then {
                "end" => Poll::Ready(None),
                "fail" => Poll::Ready(Some(Err("invalid chunk size line".into()))),
                // Never wakes: only the idle timer can end it.
                _ => Poll::Pending,
            }
        }
    }

    #[tokio::test]
    async fn an_upload_is_blamed_on_the_client_only_for_its_own_faults() {
        // (case, what the body does after two chunks, the client's fault)
        let cases = [
            ("complete", "end", None),
            ("malformed", "fail", Some(ClientFault::BrokenBody)),
            ("stalled", "hang", Some(ClientFault::BodyTimeout)),
        ];
        for (case, then, fault) in cases {
            let (body, upload) = watch(Scripted { left: 2, then }, Duration::from_millis(50));
            let collected = body.collect().await;
            assert_eq!(collected.is_err(), fault.is_some(), "{case}");
            assert_eq!(upload.fault(), fault, "{case}");
            assert!(
                matches!(upload.origin_clock(), OriginClock::Since(_)),
                "{case}: once the upload is over, the origin has the turn"
            );
        }
    }

    #[tokio::test]
    async fn while_the_edge_waits_for_the_client_the_origin_clock_does_not_run() {
        let (mut body, upload) = watch(
            Scripted {
                left: 1,
                then: "hang",
            },
            Duration::from_secs(30),
        );
        assert!(body.frame().await.unwrap().is_ok());
        assert!(matches!(upload.origin_clock(), OriginClock::Since(_)));
        // The next poll finds nothing from the client.
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(Pin::new(&mut body).poll_frame(&mut cx).is_pending());
        assert_eq!(upload.origin_clock(), OriginClock::ClientOwes);
        assert_eq!(upload.fault(), None);
    }
}
