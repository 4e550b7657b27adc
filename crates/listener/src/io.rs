//! The watched stream hyper reads and writes ([`WatchedStream`]: it tells
//! the connection state when a new head's first byte arrives, when the
//! client closed its side and when a write stays pending) and the reading
//! half of a lingering close ([`drain`]).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::conn::ConnState;

/// A TCP stream that reports to its connection's state.
///
/// Per read it costs a comparison and, when no head is pending, two loads;
/// per write one branch on a field of its own, the shared state being
/// written only when a write becomes pending or moves again.
#[derive(Debug)]
pub(crate) struct WatchedStream {
    // `None` only once dropped (handed back for a lingering close).
    stream: Option<TcpStream>,
    conn: Arc<ConnState>,
    write_blocked: bool,
}

impl WatchedStream {
    pub(crate) fn new(stream: TcpStream, conn: Arc<ConnState>) -> Self {
        Self {
            stream: Some(stream),
            conn,
            write_blocked: false,
        }
    }

    fn stream(&mut self) -> io::Result<Pin<&mut TcpStream>> {
        match &mut self.stream {
            Some(stream) => Ok(Pin::new(stream)),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Notes whether a write is pending, writing to the shared state only
    /// on a change.
    #[inline]
    fn track_write<T>(&mut self, poll: Poll<T>) -> Poll<T> {
        let blocked = poll.is_pending();
        if blocked != self.write_blocked {
            self.write_blocked = blocked;
            self.conn.write_blocked(blocked);
        }
        poll
    }
}

impl AsyncRead for WatchedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let room = buf.remaining() > 0;
        let stream = match this.stream() {
            Ok(stream) => stream,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let poll = stream.poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = poll {
            if buf.filled().len() > before {
                this.conn.bytes_arrived();
            } else if room {
                this.conn.peer_closed();
            }
        }
        poll
    }
}

impl AsyncWrite for WatchedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let poll = match self.stream() {
            Ok(stream) => stream.poll_write(cx, buf),
            Err(e) => return Poll::Ready(Err(e)),
        };
        self.track_write(poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = match self.stream() {
            Ok(stream) => stream.poll_write_vectored(cx, bufs),
            Err(e) => return Poll::Ready(Err(e)),
        };
        self.track_write(poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(AsyncWrite::is_write_vectored)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = match self.stream() {
            Ok(stream) => stream.poll_flush(cx),
            Err(e) => return Poll::Ready(Err(e)),
        };
        self.track_write(poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = match self.stream() {
            Ok(stream) => stream.poll_shutdown(cx),
            Err(e) => return Poll::Ready(Err(e)),
        };
        self.track_write(poll)
    }
}

impl Drop for WatchedStream {
    fn drop(&mut self) {
        if self.conn.keeps_stream()
            && let Some(stream) = self.stream.take()
        {
            self.conn.park(stream);
        }
    }
}

/// Where a lingering close stands after [`drain`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DrainStep {
    /// Waiting for more bytes (or the client's close).
    Pending,
    /// The client closed, failed, or sent `max` bytes: close now.
    Done,
}

/// Reads and discards what the client still sends, until it closes its
/// side, errs, or `max` bytes have been discarded in all.
///
/// Out of line: its buffer would otherwise enlarge the stack frame of
/// every poll of the guard.
#[inline(never)]
pub(crate) fn drain(stream: &mut TcpStream, cx: &mut Context<'_>, drained: &mut u64, max: u64) -> DrainStep {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.poll_read_ready(cx) {
            Poll::Pending => return DrainStep::Pending,
            Poll::Ready(Err(_)) => return DrainStep::Done,
            Poll::Ready(Ok(())) => {}
        }
        match stream.try_read(&mut buf) {
            Ok(0) => return DrainStep::Done,
            Ok(n) => {
                *drained = drained.saturating_add(n as u64);
                if *drained >= max {
                    return DrainStep::Done;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return DrainStep::Done,
        }
    }
}
