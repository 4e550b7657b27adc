//! Per-connection timers: what a connection's state ([`ConnState`], in
//! `conn`) means for its deadline ([`verdict`], pure), and the future that serves
//! the connection and closes it when the deadline passes, when the accept
//! loop evicts it or when the server shuts down ([`Guard`]).
//!
//! One timer per connection, re-armed lazily: nothing touches it per
//! request. When it fires, the guard reads the state, works out the
//! deadline the state implies and either closes the connection or sets the
//! timer to that deadline (or to one shortest timeout from now, the latest
//! a deadline that starts later could need it).

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use tokio::net::TcpStream;
use tokio::time::Sleep;

use crate::clock::{self, NONE};
use crate::conn::{ConnState, Snapshot};
use crate::io::{DrainStep, drain};
use crate::limits::Limits;
use crate::metrics::CloseReason;
use crate::registry::Slot;

/// A connection served by hyper (or, later, another protocol stack) that
/// can be asked to finish what it is doing and close.
pub(crate) trait Serving: Future<Output = Result<(), Box<dyn StdError + Send + Sync>>> {
    /// Stop taking new requests; finish those in flight, then resolve.
    fn graceful_shutdown(self: Pin<&mut Self>);

    /// Why the connection closed, when it ended with an error: a protocol
    /// error, unless it never got past its TLS handshake.
    fn failure_reason(&self) -> CloseReason {
        CloseReason::Error
    }
}

/// The timeouts of [`Limits`] in clock readings (milliseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timeouts {
    pub(crate) header: u64,
    pub(crate) idle: u64,
    pub(crate) send: u64,
    /// The TLS handshake, from the accept: at most `header` (used only
    /// while a TLS connection's handshake is under way).
    pub(crate) handshake: u64,
    pub(crate) lingering: u64,
    pub(crate) lingering_bytes: u64,
}

impl Timeouts {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            header: limits.header_timeout_ms,
            idle: limits.idle_timeout_ms,
            send: limits.send_timeout_ms,
            handshake: limits.header_timeout_ms,
            lingering: limits.lingering_timeout_ms,
            lingering_bytes: limits.lingering_max_bytes,
        }
    }

    /// The timeouts of a TLS listener: the handshake bounded by
    /// `handshake_ms` as well as by the header timeout.
    pub(crate) fn with_handshake(self, handshake_ms: u64) -> Self {
        Self {
            handshake: handshake_ms.min(self.header),
            ..self
        }
    }

    fn shortest(&self) -> u64 {
        self.header.min(self.idle).min(self.send).min(self.handshake)
    }
}

/// What a timer wake-up decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The deadline has passed.
    Close(CloseReason),
    /// Look again at this reading.
    CheckAt(u64),
}

/// The deadline a connection's state implies at `now`:
///
/// - a write pending: `send` after it became pending (whatever else is
///   going on: the client does not read);
/// - a TLS handshake under way: `handshake` after the accept;
/// - a request in flight: none (its handler and the origin have their own);
/// - a head being received: `header` after its first byte (the accept, for
///   the first request): total time, however the bytes trickle;
/// - otherwise idle: `idle` after the last response ended.
///
/// The state may change before that deadline without waking the timer (a
/// head may start, a write may block), so the next look is also no later
/// than one shortest timeout from now: any deadline that starts later
/// lies beyond that.
pub(crate) fn verdict(state: Snapshot, timeouts: &Timeouts, now: u64) -> Verdict {
    let next_look = now.saturating_add(timeouts.shortest());
    let (deadline, reason) = if state.write_blocked_since != NONE {
        (
            state.write_blocked_since.saturating_add(timeouts.send),
            CloseReason::SendTimeout,
        )
    } else if state.handshaking {
        (
            state.head_since.saturating_add(timeouts.handshake),
            CloseReason::TlsHandshakeTimeout,
        )
    } else if state.busy {
        return Verdict::CheckAt(next_look);
    } else if state.head_since != NONE {
        (
            state.head_since.saturating_add(timeouts.header),
            CloseReason::HeaderTimeout,
        )
    } else {
        (
            state.idle_since.saturating_add(timeouts.idle),
            CloseReason::IdleTimeout,
        )
    };
    if now >= deadline {
        Verdict::Close(reason)
    } else {
        Verdict::CheckAt(deadline.min(next_look))
    }
}

/// Where a [`Guard`] is in a connection's life.
#[derive(Debug)]
enum Phase {
    /// hyper serves it.
    Serving,
    /// Write side shut; reading and discarding what the client still sends.
    Lingering {
        stream: TcpStream,
        drained: u64,
        armed: bool,
    },
    /// Closed.
    Done,
}

pin_project_lite::pin_project! {
    /// Serves one connection and closes it on its deadlines, on eviction
    /// or at shutdown; then, when the client may still be sending a body
    /// the server did not read, lingers before the socket is closed.
    ///
    /// Per wake-up it costs two loads (has the timer fired? is there an
    /// order?) besides polling the connection; the timer itself is polled
    /// only when armed again, at the top of a task poll so that tokio's
    /// cooperative budget is never exhausted there.
    pub(crate) struct Guard<C> {
        #[pin]
        connection: Option<C>,
        #[pin]
        timer: Sleep,
        conn: Arc<ConnState>,
        timeouts: Timeouts,
        slot: Slot,
        phase: Phase,
        // Set on the first poll, which registers the wakers.
        started: bool,
        // An order was acted on (graceful shutdown started).
        ordered: Option<CloseReason>,
    }
}

impl<C> Guard<C> {
    pub(crate) fn new(connection: C, conn: Arc<ConnState>, timeouts: Timeouts, slot: Slot, now: u64) -> Self {
        let first_look = now.saturating_add(timeouts.shortest());
        Self {
            connection: Some(connection),
            timer: tokio::time::sleep_until(clock::instant_at(first_look)),
            conn,
            timeouts,
            slot,
            phase: Phase::Serving,
            started: false,
            ordered: None,
        }
    }
}

impl<C: Serving> Future for Guard<C> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        if !*this.started {
            *this.started = true;
            this.conn.register_waker(cx.waker());
            // Registers the timer's waker (the budget is whole on a task's
            // first poll); its expiry is then seen with `is_elapsed`.
            let _ = this.timer.as_mut().poll(cx);
        }
        loop {
            match this.phase {
                Phase::Serving => {
                    if this.timer.is_elapsed() {
                        match verdict(this.conn.snapshot(), this.timeouts, clock::precise_now()) {
                            Verdict::Close(reason) => {
                                this.connection.set(None);
                                this.slot.close(reason);
                                *this.phase = Phase::Done;
                                continue;
                            }
                            Verdict::CheckAt(at) => {
                                this.timer.as_mut().reset(clock::instant_at(at));
                                if this.timer.as_mut().poll(cx).is_ready() {
                                    continue;
                                }
                            }
                        }
                    }
                    if this.ordered.is_none()
                        && let Some(reason) = this.conn.take_order()
                    {
                        *this.ordered = Some(reason);
                        if this.conn.snapshot().is_idle() && !this.conn.multiplexed.load(Ordering::Relaxed) {
                            // Nothing in flight, nothing unwritten: close now.
                            this.connection.set(None);
                            this.slot.close(reason);
                            *this.phase = Phase::Done;
                            continue;
                        }
                        // Finish the request in flight (HTTP/2: GOAWAY), then close.
                        if let Some(connection) = this.connection.as_mut().as_pin_mut() {
                            connection.graceful_shutdown();
                        }
                    }
                    let Some(mut connection) = this.connection.as_mut().as_pin_mut() else {
                        *this.phase = Phase::Done;
                        continue;
                    };
                    let Poll::Ready(result) = connection.as_mut().poll(cx) else {
                        return Poll::Pending;
                    };
                    let reason = match (&result, *this.ordered) {
                        (_, Some(reason)) => reason,
                        (Ok(()), None) => CloseReason::Finished,
                        (Err(error), None) => {
                            let reason = connection.as_ref().get_ref().failure_reason();
                            tracing::debug!(%error, reason = reason.label(), "connection ended with an error");
                            reason
                        }
                    };
                    this.slot.close(reason);
                    // Linger when the client may still be sending what the
                    // server did not read: a request body (answered early,
                    // say 413) or a head hyper refused (400, 431); not
                    // after a failed TLS handshake, which had no response.
                    let linger = this.timeouts.lingering > 0
                        && reason != CloseReason::TlsHandshakeFailed
                        && !this.conn.peer_closed.load(Ordering::Relaxed)
                        && (this.conn.body_seen.load(Ordering::Relaxed) || result.is_err());
                    if linger {
                        this.conn.keep_stream.store(true, Ordering::Relaxed);
                    }
                    this.connection.set(None);
                    match this.conn.take_parked() {
                        Some(stream) if linger => {
                            *this.phase = Phase::Lingering {
                                stream,
                                drained: 0,
                                armed: false,
                            };
                            // Go on in a fresh task poll, with a whole
                            // budget for arming the timer.
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                        _ => *this.phase = Phase::Done,
                    }
                }
                Phase::Lingering {
                    stream,
                    drained,
                    armed,
                } => {
                    if !*armed {
                        *armed = true;
                        // RFC 9112 §9.6: close in stages, write side first,
                        // so that the client reads the response rather than
                        // a reset caused by its unread bytes.
                        let _ = tokio::io::AsyncWrite::poll_shutdown(Pin::new(&mut *stream), cx);
                        let until = clock::precise_now().saturating_add(this.timeouts.lingering);
                        this.timer.as_mut().reset(clock::instant_at(until));
                        let _ = this.timer.as_mut().poll(cx);
                    }
                    let evicted = this.conn.take_order() == Some(CloseReason::Evicted);
                    if this.timer.is_elapsed() || evicted {
                        *this.phase = Phase::Done;
                        continue;
                    }
                    match drain(stream, cx, drained, this.timeouts.lingering_bytes) {
                        DrainStep::Pending => return Poll::Pending,
                        DrainStep::Done => *this.phase = Phase::Done,
                    }
                }
                Phase::Done => return Poll::Ready(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const TIMEOUTS: Timeouts = Timeouts {
        header: 1_000,
        idle: 5_000,
        send: 3_000,
        handshake: 1_000,
        lingering: 2_000,
        lingering_bytes: 1 << 20,
    };

    fn state(busy: bool, head_since: u64, idle_since: u64, write_blocked_since: u64) -> Snapshot {
        Snapshot {
            busy,
            head_since,
            idle_since,
            write_blocked_since,
            handshaking: false,
        }
    }

    fn handshaking(accepted: u64) -> Snapshot {
        Snapshot {
            handshaking: true,
            ..state(false, accepted, accepted, NONE)
        }
    }

    #[test]
    fn a_tls_handshake_is_bounded_by_the_shorter_of_its_timeout_and_the_header_timeout() {
        use CloseReason::{HeaderTimeout, SendTimeout, TlsHandshakeTimeout};
        use Verdict::{CheckAt, Close};
        let tls = TIMEOUTS.with_handshake(400);
        assert_eq!(tls.handshake, 400);
        assert_eq!(
            TIMEOUTS.with_handshake(60_000).handshake,
            TIMEOUTS.header,
            "never past the header timeout"
        );
        // (case, timeouts, state, now, verdict)
        let cases = [
            ("handshake under way", tls, handshaking(100), 300, CheckAt(500)),
            (
                "handshake deadline reached",
                tls,
                handshaking(100),
                500,
                Close(TlsHandshakeTimeout),
            ),
            (
                "a client that does not read the server's flight",
                tls,
                Snapshot {
                    write_blocked_since: 150,
                    ..handshaking(100)
                },
                3_200,
                Close(SendTimeout),
            ),
            (
                "after the handshake the first head is due by the header timeout from the accept",
                tls,
                state(false, 100, 100, NONE),
                1_100,
                Close(HeaderTimeout),
            ),
        ];
        for (case, timeouts, snapshot, now, expected) in cases {
            assert_eq!(verdict(snapshot, &timeouts, now), expected, "{case}");
        }
        let conn = ConnState::tls(1, 100);
        assert!(conn.snapshot().handshaking);
        conn.handshake_done();
        assert!(!conn.snapshot().handshaking);
        assert!(
            !ConnState::new(2, 100).snapshot().handshaking,
            "cleartext never handshakes"
        );
    }

    #[test]
    fn each_state_has_its_own_deadline() {
        use CloseReason::{HeaderTimeout, IdleTimeout, SendTimeout};
        use Verdict::{CheckAt, Close};
        // (case, state, now, verdict)
        let cases = [
            (
                "silent since the accept at 100: header timeout from the accept",
                state(false, 100, 100, NONE),
                500,
                CheckAt(1_100),
            ),
            (
                "silent, deadline reached",
                state(false, 100, 100, NONE),
                1_100,
                Close(HeaderTimeout),
            ),
            (
                "a later head began at 7000 (idle since 6000)",
                state(false, 7_000, 6_000, NONE),
                7_500,
                CheckAt(8_000),
            ),
            (
                "a trickling head is timed from its first byte, not its last",
                state(false, 7_000, 6_000, NONE),
                8_000,
                Close(HeaderTimeout),
            ),
            (
                "idle since 6000, next look within the shortest timeout",
                state(false, NONE, 6_000, NONE),
                6_100,
                CheckAt(7_100),
            ),
            (
                "idle since 6000, looked at late",
                state(false, NONE, 6_000, NONE),
                10_500,
                CheckAt(11_000),
            ),
            (
                "idle deadline reached",
                state(false, NONE, 6_000, NONE),
                11_000,
                Close(IdleTimeout),
            ),
            (
                "a request in flight has no deadline here",
                state(true, NONE, 6_000, NONE),
                60_000,
                CheckAt(61_000),
            ),
            (
                "a write pending since 2000",
                state(true, NONE, 0, 2_000),
                2_500,
                CheckAt(3_500),
            ),
            (
                "the client did not read for the send timeout",
                state(true, NONE, 0, 2_000),
                5_000,
                Close(SendTimeout),
            ),
            (
                "a response's last bytes unsent after it ended",
                state(false, NONE, 2_000, 2_000),
                5_000,
                Close(SendTimeout),
            ),
        ];
        for (case, snapshot, now, expected) in cases {
            assert_eq!(verdict(snapshot, &TIMEOUTS, now), expected, "{case}");
        }
    }

    #[test]
    fn a_deadline_that_starts_between_two_looks_is_never_missed() {
        // Whatever the state at a look, the next look comes no later than
        // one shortest timeout on, so a head starting right after the
        // look (deadline: now + header) is looked at in time.
        for now in [1, 999, 5_000, 123_456] {
            for snapshot in [
                state(false, NONE, now, NONE),
                state(true, NONE, 0, NONE),
                state(false, now, now, NONE),
            ] {
                match verdict(snapshot, &TIMEOUTS, now) {
                    Verdict::CheckAt(at) => assert!(at > now && at <= now + TIMEOUTS.header, "{snapshot:?}"),
                    Verdict::Close(reason) => panic!("{snapshot:?} closed for {reason:?}"),
                }
            }
        }
    }

    #[test]
    fn requests_and_bytes_move_the_state() {
        clock::start().unwrap();
        let accepted = clock::coarse_now();
        let conn = ConnState::new(1, accepted);
        assert_eq!(
            conn.snapshot(),
            state(false, accepted, accepted, NONE),
            "a new connection awaits its first head"
        );
        conn.request_started(false, false);
        assert!(conn.snapshot().busy && conn.snapshot().head_since == NONE);
        conn.bytes_arrived();
        assert_eq!(
            conn.snapshot().head_since,
            NONE,
            "bytes during a request are its body"
        );
        assert_eq!(conn.idle_key(), None, "busy connections are not evicted");
        conn.request_finished();
        let idle = conn.snapshot();
        assert!(!idle.busy && idle.head_since == NONE && idle.idle_since >= accepted);
        assert_eq!(conn.idle_key(), Some((idle.idle_since, 1)));
        conn.bytes_arrived();
        assert_ne!(conn.snapshot().head_since, NONE, "the next head began");
        assert_eq!(conn.idle_key(), None, "a head on its way is not cut");
        conn.request_started(false, false);
        conn.request_finished();
        conn.write_blocked(true);
        assert_eq!(conn.idle_key(), None, "a pending write is not idle");
        conn.write_blocked(false);
        conn.order(false);
        assert_eq!(conn.idle_key(), None, "ordered once only");
        conn.order(true);
        assert_eq!(
            conn.take_order(),
            Some(CloseReason::Evicted),
            "the first order wins"
        );
    }
}
