//! The open connections of one listener: how many there are (for the
//! cap), which one has been idle longest (for eviction), and every one of
//! them (for the shutdown). Touched once when a connection opens and once
//! when it closes, never per request.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use slab::Slab;
use tokio::sync::Notify;

use crate::conn::ConnState;
use crate::metrics::{CloseReason, ConnectionMetrics};

/// The open connections of one listener.
#[derive(Debug)]
pub(crate) struct Registry {
    connections: Mutex<Slab<Arc<ConnState>>>,
    open: AtomicUsize,
    closed: Notify,
    metrics: ConnectionMetrics,
}

impl Registry {
    pub(crate) fn new(metrics: ConnectionMetrics) -> Self {
        Self {
            connections: Mutex::new(Slab::new()),
            open: AtomicUsize::new(0),
            closed: Notify::new(),
            metrics,
        }
    }

    fn connections(&self) -> MutexGuard<'_, Slab<Arc<ConnState>>> {
        self.connections.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Connections open now (lingering ones included: they hold a socket).
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Registers a new connection; it is deregistered when the slot drops.
    pub(crate) fn insert(self: &Arc<Self>, conn: Arc<ConnState>) -> Slot {
        let key = self.connections().insert(conn);
        self.open.fetch_add(1, Ordering::AcqRel);
        self.metrics.accepted();
        Slot {
            registry: Arc::clone(self),
            key,
            reason: CloseReason::Shutdown,
        }
    }

    fn remove(&self, key: usize, reason: CloseReason) {
        self.connections().try_remove(key);
        self.open.fetch_sub(1, Ordering::AcqRel);
        self.metrics.closed(reason);
        self.closed.notify_one();
    }

    /// Orders the connection idle longest (no request in flight, nothing
    /// left to write, no byte of a new request) closed, as nginx reuses its idle keep-alive
    /// connections when it runs out; ties go to the oldest. Returns
    /// whether there was one.
    pub(crate) fn evict_longest_idle(&self) -> bool {
        let connections = self.connections();
        let longest = connections
            .iter()
            .filter_map(|(_, conn)| conn.idle_key().map(|key| (key, conn)))
            .min_by_key(|(key, _)| *key);
        match longest {
            Some((_, conn)) => {
                conn.order(false);
                true
            }
            None => false,
        }
    }

    /// Whether some connection could be evicted.
    pub(crate) fn has_idle(&self) -> bool {
        self.connections()
            .iter()
            .any(|(_, conn)| conn.idle_key().is_some())
    }

    /// Orders every connection shut down.
    pub(crate) fn shut_down_all(&self) {
        for (_, conn) in self.connections().iter() {
            conn.order(true);
        }
    }

    /// Waits until a connection closes, or `at_most`.
    pub(crate) async fn closed_or(&self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.closed.notified()).await;
    }

    /// Waits until every connection has closed.
    pub(crate) async fn all_closed(&self) {
        loop {
            let notified = self.closed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.open() == 0 {
                return;
            }
            notified.await;
        }
    }

    pub(crate) fn metrics(&self) -> &ConnectionMetrics {
        &self.metrics
    }
}

/// A connection's place in the [`Registry`], given up (and its close
/// counted, by reason) when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    registry: Arc<Registry>,
    key: usize,
    reason: CloseReason,
}

impl Slot {
    /// Why the connection is closed (counted when the slot drops, after
    /// any lingering).
    pub(crate) fn close(&mut self, reason: CloseReason) {
        self.reason = reason;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.remove(self.key, self.reason);
    }
}
