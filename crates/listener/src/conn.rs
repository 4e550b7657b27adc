//! What one connection is doing ([`ConnState`]): written by its stream
//! (reads and writes), its service (requests), its request and response
//! bodies, and read by its guard and the accept loop (eviction, shutdown).
//! A leaf room: every other room that touches a connection imports it, and
//! it imports none of them.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::task::Waker;

use tokio::net::TcpStream;

use crate::clock::{self, NONE};
use crate::metrics::CloseReason;

/// No order from outside the connection.
const ORDER_NONE: u8 = 0;
/// Close to make room at the connection cap.
const ORDER_EVICT: u8 = 1;
/// Close for the server's shutdown.
const ORDER_SHUTDOWN: u8 = 2;

/// What a connection is doing, shared by its stream (reads and writes), its
/// service (requests), its response bodies (when each ends), its guard and
/// the accept loop (eviction, shutdown). Every field is written by one
/// side and read with relaxed loads; a request costs a few plain stores
/// and two atomic increments.
#[derive(Debug)]
pub(crate) struct ConnState {
    /// Accept order, to break ties between connections idle equally long.
    seq: u64,
    /// Requests handed to the service (written by the connection's task only).
    started: AtomicU32,
    /// Of those, requests whose response has ended (body finished or dropped).
    finished: AtomicU32,
    /// When the head being received began (the accept for the first
    /// request); [`NONE`] while a request is in flight or the connection is idle.
    head_since: AtomicU64,
    /// Bytes of a request head have arrived and no request has started since.
    head_bytes: AtomicBool,
    /// When the last response ended (or the accept).
    idle_since: AtomicU64,
    /// Since when a write has been pending; [`NONE`] if none is.
    write_blocked_since: AtomicU64,
    /// A request on this connection carried a body (it may be unread).
    pub(crate) body_seen: AtomicBool,
    /// HTTP/1: the request in flight has a body the service has not read
    /// to its end (yet). Written by the request's [`RequestBody`], read
    /// when its response is ready.
    ///
    /// [`RequestBody`]: crate::service::RequestBody
    body_unread: AtomicBool,
    /// HTTP/2: several requests at once, so an idle-looking connection is
    /// closed with GOAWAY rather than dropped.
    pub(crate) multiplexed: AtomicBool,
    /// The client closed its side (a read returned end of stream).
    pub(crate) peer_closed: AtomicBool,
    /// A TLS connection whose handshake has not ended yet (written once,
    /// by its connection's task; always `false` on a cleartext listener).
    handshaking: AtomicBool,
    /// The guard wants the socket back when hyper drops the stream
    /// (lingering close).
    pub(crate) keep_stream: AtomicBool,
    /// An order from outside: evict or shut down.
    order: AtomicU8,
    /// The connection task's waker, stored at its first poll (a spawned
    /// task's waker always wakes that task).
    waker: Mutex<Option<Waker>>,
    /// The socket, handed back by the stream when hyper drops it.
    parked: Mutex<Option<TcpStream>>,
}

impl ConnState {
    pub(crate) fn new(seq: u64, now: u64) -> Self {
        Self {
            seq,
            started: AtomicU32::new(0),
            finished: AtomicU32::new(0),
            head_since: AtomicU64::new(now),
            head_bytes: AtomicBool::new(false),
            idle_since: AtomicU64::new(now),
            write_blocked_since: AtomicU64::new(NONE),
            body_seen: AtomicBool::new(false),
            body_unread: AtomicBool::new(false),
            multiplexed: AtomicBool::new(false),
            peer_closed: AtomicBool::new(false),
            handshaking: AtomicBool::new(false),
            keep_stream: AtomicBool::new(false),
            order: AtomicU8::new(ORDER_NONE),
            waker: Mutex::new(None),
            parked: Mutex::new(None),
        }
    }

    /// A connection accepted on a TLS listener: its handshake comes first.
    pub(crate) fn tls(seq: u64, now: u64) -> Self {
        let conn = Self::new(seq, now);
        conn.handshaking.store(true, Ordering::Relaxed);
        conn
    }

    /// The TLS handshake has ended; the first request head is awaited.
    pub(crate) fn handshake_done(&self) {
        self.handshaking.store(false, Ordering::Relaxed);
    }

    fn busy(&self) -> bool {
        self.started.load(Ordering::Relaxed) != self.finished.load(Ordering::Acquire)
    }

    /// Bytes arrived: if none of a request was pending and no request is
    /// in flight, a new head starts now (the first head's timeout counts
    /// from the accept already). On HTTP/2, where bytes between requests
    /// are mostly control frames (SETTINGS, WINDOW_UPDATE, PING), a
    /// connection without a request stays idle whatever it receives.
    #[inline]
    pub(crate) fn bytes_arrived(&self) {
        if !self.head_bytes.load(Ordering::Relaxed)
            && !self.busy()
            && !self.multiplexed.load(Ordering::Relaxed)
        {
            self.head_bytes.store(true, Ordering::Relaxed);
            if self.head_since.load(Ordering::Relaxed) == NONE {
                self.head_since.store(clock::coarse_now(), Ordering::Relaxed);
            }
        }
    }

    /// The client closed its side of the connection.
    pub(crate) fn peer_closed(&self) {
        self.peer_closed.store(true, Ordering::Relaxed);
    }

    /// A write became pending (`true`) or made progress again (`false`).
    pub(crate) fn write_blocked(&self, blocked: bool) {
        let since = if blocked { clock::coarse_now() } else { NONE };
        self.write_blocked_since.store(since, Ordering::Relaxed);
    }

    /// hyper handed a request to the service.
    #[inline]
    pub(crate) fn request_started(&self, has_body: bool, multiplexed: bool) {
        // Only the connection's task calls the service: a plain increment.
        let started = self.started.load(Ordering::Relaxed).wrapping_add(1);
        self.started.store(started, Ordering::Relaxed);
        self.head_since.store(NONE, Ordering::Relaxed);
        self.head_bytes.store(false, Ordering::Relaxed);
        if has_body {
            self.body_seen.store(true, Ordering::Relaxed);
        }
        if multiplexed && !self.multiplexed.load(Ordering::Relaxed) {
            self.multiplexed.store(true, Ordering::Relaxed);
        }
    }

    /// HTTP/1: whether the request in flight still has a body the service
    /// has not read to its end.
    #[inline]
    pub(crate) fn body_unread(&self) -> bool {
        self.body_unread.load(Ordering::Relaxed)
    }

    /// HTTP/1: the request in flight has a body that is unread (`true`, when
    /// it starts) or has now been read to its end (`false`).
    #[inline]
    pub(crate) fn set_body_unread(&self, unread: bool) {
        self.body_unread.store(unread, Ordering::Relaxed);
    }

    /// A response ended (its body finished or was dropped). HTTP/2 bodies
    /// end on other tasks, hence the atomic increment.
    #[inline]
    pub(crate) fn request_finished(&self) {
        self.idle_since.store(clock::coarse_now(), Ordering::Relaxed);
        self.finished.fetch_add(1, Ordering::Release);
    }

    /// Whether the stream should hand the socket back when dropped.
    pub(crate) fn keeps_stream(&self) -> bool {
        self.keep_stream.load(Ordering::Relaxed)
    }

    /// The stream hands the socket back (lingering close).
    pub(crate) fn park(&self, stream: TcpStream) {
        *self.parked.lock().unwrap_or_else(PoisonError::into_inner) = Some(stream);
    }

    pub(crate) fn take_parked(&self) -> Option<TcpStream> {
        self.parked.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let busy = self.busy();
        Snapshot {
            busy,
            head_since: self.head_since.load(Ordering::Relaxed),
            idle_since: self.idle_since.load(Ordering::Relaxed),
            write_blocked_since: self.write_blocked_since.load(Ordering::Relaxed),
            handshaking: self.handshaking.load(Ordering::Relaxed),
        }
    }

    /// For eviction: since when this connection has been idle (no request
    /// in flight, no write pending, no byte of a new request, no order
    /// yet), with its accept order to break ties; `None` if it is not idle.
    /// As nginx, which reuses only connections waiting for a request, a
    /// head on its way is not cut (its header timeout bounds it).
    pub(crate) fn idle_key(&self) -> Option<(u64, u64)> {
        if self.order.load(Ordering::Relaxed) != ORDER_NONE || self.head_bytes.load(Ordering::Relaxed) {
            return None;
        }
        let snapshot = self.snapshot();
        snapshot
            .is_idle()
            .then(|| (self.idle_since.load(Ordering::Relaxed), self.seq))
    }

    /// Orders the connection closed (eviction) or shut down; the first
    /// order wins. Wakes its task.
    pub(crate) fn order(&self, shutdown: bool) {
        let order = if shutdown { ORDER_SHUTDOWN } else { ORDER_EVICT };
        if self
            .order
            .compare_exchange(ORDER_NONE, order, Ordering::Release, Ordering::Relaxed)
            .is_ok()
            && let Some(waker) = self.waker.lock().unwrap_or_else(PoisonError::into_inner).as_ref()
        {
            waker.wake_by_ref();
        }
    }

    pub(crate) fn take_order(&self) -> Option<CloseReason> {
        match self.order.load(Ordering::Acquire) {
            ORDER_EVICT => Some(CloseReason::Evicted),
            ORDER_SHUTDOWN => Some(CloseReason::Shutdown),
            _ => None,
        }
    }

    pub(crate) fn register_waker(&self, waker: &Waker) {
        *self.waker.lock().unwrap_or_else(PoisonError::into_inner) = Some(waker.clone());
    }
}

/// What [`verdict`](crate::guard::verdict) needs of a connection's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Snapshot {
    /// A request is in flight.
    pub(crate) busy: bool,
    /// When the head being received began, or [`NONE`].
    pub(crate) head_since: u64,
    /// When the last response ended (or the accept).
    pub(crate) idle_since: u64,
    /// Since when a write has been pending, or [`NONE`].
    pub(crate) write_blocked_since: u64,
    /// A TLS handshake is under way (its deadline counts from the accept,
    /// which `head_since` still holds).
    pub(crate) handshaking: bool,
}

impl Snapshot {
    /// No request in flight and nothing left to write: closing loses nothing.
    pub(crate) fn is_idle(&self) -> bool {
        !self.busy && self.write_blocked_since == NONE
    }
}
