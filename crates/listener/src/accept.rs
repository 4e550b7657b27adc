//! The accept loop ([`FrontDoor::serve`]): the connection cap (evict the
//! connection idle longest, or wait for one to close: the kernel's backlog
//! queues meanwhile), `accept` errors backed off ([`AcceptBackoff`], a
//! pure policy), one guarded hyper connection per socket, and the graceful
//! shutdown (stop accepting, finish requests in flight, close idle
//! connections). With a TLS listener ([`FrontDoor::with_tls`]) one loop
//! accepts on both, under one cap; a TLS connection's handshake runs in
//! its own task, under its guard (`tls::TlsConnection`).

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Request, Response};
use http_body::Body;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};

use crate::access_log::{self, AccessLog};
use crate::clock;
use crate::conn::ConnState;
use crate::guard::{Guard, Serving, Timeouts};
use crate::io::WatchedStream;
use crate::limits::{ListenerConfig, connections_within_fd_limit};
use crate::metrics::ConnectionMetrics;
use crate::protocol::{self, Builders};
use crate::registry::Registry;
use crate::service::{GuardedBody, GuardedService, RequestBody};
use crate::tls::{TlsConnection, TlsListener};

type BoxError = Box<dyn StdError + Send + Sync>;

/// How often the accept loop, at the cap with no idle connection to
/// evict, looks again (a request may have ended meanwhile).
const CAP_RECHECK: Duration = Duration::from_millis(100);

/// Who a connection is from, and on which listener it came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The client's address.
    pub addr: SocketAddr,
    /// Whether it came on the TLS listener (`https`).
    pub tls: bool,
}

/// One listener of a server: accepts connections and serves each with a
/// hyper service under the guard's timeouts, the connection cap and
/// lingering close.
#[derive(Debug)]
pub struct FrontDoor {
    listener: TcpListener,
    tls: Option<TlsListener>,
    config: ListenerConfig,
    metrics: ConnectionMetrics,
    fds_per_connection: usize,
    access_log: Option<AccessLog>,
}

impl FrontDoor {
    /// A front door on `listener` with `config` (validated by the caller's
    /// config loading), counting nothing.
    pub fn new(listener: TcpListener, config: ListenerConfig) -> Self {
        Self {
            listener,
            tls: None,
            config,
            metrics: ConnectionMetrics::noop(),
            fds_per_connection: 1,
            access_log: None,
        }
    }

    /// Also accepts on `tls`, a TLS listener (HTTP/2 and HTTP/1.1 by
    /// ALPN), under the same connection cap, timeouts and metrics; its
    /// handshake must end within the shorter of its handshake timeout and
    /// the header timeout.
    pub fn with_tls(mut self, tls: TlsListener) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Counts connections into `metrics`.
    pub fn with_metrics(mut self, metrics: ConnectionMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Logs each request to `log` ([`crate::access_log`]), and closes it
    /// (writes out what is queued) when serving ends.
    pub fn with_access_log(mut self, log: AccessLog) -> Self {
        self.access_log = Some(log);
        self
    }

    /// File descriptors one client connection may hold in all (2 for a
    /// proxy whose requests each may hold an upstream connection), for
    /// clamping the connection cap to the file-descriptor limit.
    pub fn with_fds_per_connection(mut self, fds: usize) -> Self {
        self.fds_per_connection = fds.max(1);
        self
    }

    /// The connection cap in force: the configured one, clamped (with a
    /// warning) to what the file-descriptor limit allows after raising the
    /// soft limit to the hard one.
    fn effective_max_connections(&self) -> usize {
        let configured = self.config.connections.max_connections;
        let nofile = match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(nofile) => nofile,
            Err(error) => {
                tracing::warn!(%error, "cannot read or raise the file-descriptor limit (RLIMIT_NOFILE)");
                return configured;
            }
        };
        let allowed = connections_within_fd_limit(configured, nofile, self.fds_per_connection);
        if allowed < configured {
            tracing::warn!(
                configured,
                allowed,
                nofile,
                "connections.max_connections is more than the file-descriptor limit allows; using {allowed}"
            );
        }
        allowed
    }

    /// Serves every connection with the service `make_service` returns for
    /// its peer, until `shutdown` resolves; then stops accepting, closes
    /// idle connections, lets requests in flight finish and returns when
    /// every connection has closed.
    pub async fn serve<M, S, B>(
        self,
        mut make_service: M,
        shutdown: impl Future<Output = ()> + Send,
    ) -> io::Result<()>
    where
        M: FnMut(SocketAddr) -> S,
        S: hyper::service::Service<Request<RequestBody>, Response = Response<B>> + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        self.serve_peers(move |peer: Peer| make_service(peer.addr), shutdown)
            .await
    }

    /// [`FrontDoor::serve`], with `make_service` told which listener the
    /// connection came on (a proxy sets `X-Forwarded-Proto` from it).
    pub async fn serve_peers<M, S, B>(
        self,
        mut make_service: M,
        shutdown: impl Future<Output = ()> + Send,
    ) -> io::Result<()>
    where
        M: FnMut(Peer) -> S,
        S: hyper::service::Service<Request<RequestBody>, Response = Response<B>> + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        clock::start()?;
        let max_connections = self.effective_max_connections();
        let timeouts = Timeouts::new(&self.config.connections);
        let registry = Arc::new(Registry::new(self.metrics.clone()));
        let builder = protocol::builder(&self.config);
        let tls_builders = Arc::new(Builders::new(&self.config));
        let tls_timeouts = self
            .tls
            .as_ref()
            .map_or(timeouts, |tls| timeouts.with_handshake(tls.handshake_timeout_ms));
        if let Some(log) = &self.access_log {
            log.count_dropped_in(self.metrics.access_log_dropped());
        }
        let mut backoff = AcceptBackoff::default();
        let mut seq = 0u64;
        // Shutdown begins when `shutdown` resolves (the admin listener's
        // `/healthz` says `503` from then on); accepting stops after the
        // drain delay, so that load balancers stop sending first.
        let drain_delay = self.config.connections.drain_delay();
        let shutdown = async move {
            shutdown.await;
            if !drain_delay.is_zero() {
                tokio::time::sleep(drain_delay).await;
            }
        };
        tokio::pin!(shutdown);
        'accepting: loop {
            if registry.open() >= max_connections && !registry.has_idle() {
                // At the cap with every connection busy: stop accepting
                // (the kernel's backlog queues) until one closes or a
                // request ends.
                tokio::select! {
                    () = registry.closed_or(CAP_RECHECK) => continue,
                    () = &mut shutdown => break,
                }
            }
            let (accepted, on_tls) = tokio::select! {
                accepted = self.listener.accept() => (accepted, false),
                accepted = accept_tls(self.tls.as_ref()) => (accepted, true),
                () = &mut shutdown => break,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => {
                    backoff.succeeded();
                    accepted
                }
                Err(error) => {
                    registry.metrics().accept_failed();
                    let (action, log) = backoff.failed(&error, Instant::now());
                    if let Some(failures) = log {
                        tracing::warn!(%error, failures, "accept failed");
                    }
                    match action {
                        AcceptAction::RetryNow => continue,
                        AcceptAction::Wait(delay) => {
                            tokio::select! {
                                () = tokio::time::sleep(delay) => continue,
                                () = &mut shutdown => break,
                            }
                        }
                    }
                }
            };
            // A client is waiting and the cap is reached: the connection
            // idle longest makes room, as nginx reuses its idle keep-alive
            // connections when it runs out.
            while registry.open() >= max_connections {
                registry.evict_longest_idle();
                tokio::select! {
                    () = registry.closed_or(CAP_RECHECK) => {}
                    () = &mut shutdown => break 'accepting,
                }
            }
            // Responses are written whole; waiting for an ACK (Nagle)
            // only adds latency.
            let _ = stream.set_nodelay(true);
            seq += 1;
            // The precise time, once per connection: a silent
            // connection's deadline counts from it.
            let accepted_at = clock::precise_now();
            if let (true, Some(tls)) = (on_tls, &self.tls) {
                let conn = Arc::new(ConnState::tls(seq, accepted_at));
                let slot = registry.insert(Arc::clone(&conn));
                let accept = tls.acceptor.accept(WatchedStream::new(stream, Arc::clone(&conn)));
                let peer = Peer {
                    addr: peer,
                    tls: true,
                };
                let log = self.access_log.clone().map(|log| (log, peer.addr));
                let service = GuardedService::new(make_service(peer), Arc::clone(&conn), log);
                let connection =
                    TlsConnection::new(accept, service, Arc::clone(&tls_builders), Arc::clone(&conn));
                tokio::spawn(Guard::new(connection, conn, tls_timeouts, slot, accepted_at));
                continue;
            }
            let conn = Arc::new(ConnState::new(seq, accepted_at));
            let slot = registry.insert(Arc::clone(&conn));
            let io = TokioIo::new(WatchedStream::new(stream, Arc::clone(&conn)));
            let peer = Peer {
                addr: peer,
                tls: false,
            };
            let log = self.access_log.clone().map(|log| (log, peer.addr));
            let service = GuardedService::new(make_service(peer), Arc::clone(&conn), log);
            let connection = builder.serve_connection(io, service).into_owned();
            tokio::spawn(Guard::new(connection, conn, timeouts, slot, accepted_at));
        }
        drop(self.listener);
        drop(self.tls);
        registry.shut_down_all();
        registry.all_closed().await;
        if let Some(log) = self.access_log {
            log.close(access_log::CLOSE_WITHIN).await;
        }
        Ok(())
    }
}

/// The next connection on the TLS listener; never, without one.
async fn accept_tls(tls: Option<&TlsListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match tls {
        Some(tls) => tls.accept().await,
        None => std::future::pending().await,
    }
}

impl<I, S, B> Serving for auto::Connection<'static, I, GuardedService<S>, TokioExecutor>
where
    S: hyper::service::Service<Request<RequestBody>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    GuardedBody<B>: Body<Data = B::Data, Error = B::Error>,
{
    fn graceful_shutdown(self: Pin<&mut Self>) {
        auto::Connection::graceful_shutdown(self);
    }
}

/// What to do after a failed `accept`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcceptAction {
    /// Accept again at once: the error belonged to one connection.
    RetryNow,
    /// Wait this long first: the process or the system is short of
    /// something, and retrying at once would only spin.
    Wait(Duration),
}

/// What kind of failure an `accept` error is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcceptFailure {
    /// The connection was aborted or failed before it was accepted
    /// (ECONNABORTED, ECONNRESET, EPROTO, EPERM from a firewall, the
    /// network errors Linux's accept(2) passes on, EINTR).
    Connection,
    /// Out of file descriptors, socket buffers or memory (EMFILE, ENFILE,
    /// ENOBUFS, ENOMEM), or an error not known to be harmless.
    Resources,
}

/// Tells an `accept` error's kind apart.
pub fn classify(error: &io::Error) -> AcceptFailure {
    use io::ErrorKind as K;
    if matches!(
        error.kind(),
        K::ConnectionAborted
            | K::ConnectionReset
            | K::ConnectionRefused
            | K::Interrupted
            | K::PermissionDenied
            | K::HostUnreachable
            | K::NetworkUnreachable
            | K::NetworkDown
            | K::TimedOut
            | K::WouldBlock
    ) {
        return AcceptFailure::Connection;
    }
    // accept(2): "Linux accept() passes already-pending network errors on
    // the new socket as an error code from accept() ... these are
    // ENETDOWN, EPROTO, ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH,
    // EOPNOTSUPP, and ENETUNREACH."
    match error.raw_os_error() {
        Some(libc::EPROTO | libc::ENOPROTOOPT | libc::EHOSTDOWN | libc::EOPNOTSUPP) => {
            AcceptFailure::Connection
        }
        #[cfg(target_os = "linux")]
        Some(libc::ENONET) => AcceptFailure::Connection,
        _ => AcceptFailure::Resources,
    }
}

/// The back-off after failed `accept` calls, and when to log them: a pure
/// policy, tested on its own.
///
/// A resource failure waits [`AcceptBackoff::FIRST`], doubling with each
/// failure in a row up to [`AcceptBackoff::MAX`]; a success starts over.
/// A connection failure is retried at once. A warning is logged for the
/// first failure and then at most once per [`AcceptBackoff::LOG_EVERY`],
/// with the number of failures since the last one.
#[derive(Debug, Default)]
pub struct AcceptBackoff {
    delay: Option<Duration>,
    last_log: Option<Instant>,
    unlogged: u64,
}

impl AcceptBackoff {
    /// The first wait after a resource failure.
    pub const FIRST: Duration = Duration::from_millis(5);
    /// The longest wait.
    pub const MAX: Duration = Duration::from_secs(1);
    /// At most one warning per this long.
    pub const LOG_EVERY: Duration = Duration::from_secs(1);

    /// After a failed `accept` at `now`: what to do, and the number of
    /// failures to report in a warning now (`None`: stay quiet).
    pub fn failed(&mut self, error: &io::Error, now: Instant) -> (AcceptAction, Option<u64>) {
        self.unlogged += 1;
        let log = match self.last_log {
            Some(last) if now.duration_since(last) < Self::LOG_EVERY => None,
            _ => {
                self.last_log = Some(now);
                Some(std::mem::take(&mut self.unlogged))
            }
        };
        let action = match classify(error) {
            AcceptFailure::Connection => AcceptAction::RetryNow,
            AcceptFailure::Resources => {
                let delay = self.delay.map_or(Self::FIRST, |d| (d * 2).min(Self::MAX));
                self.delay = Some(delay);
                AcceptAction::Wait(delay)
            }
        };
        (action, log)
    }

    /// After a successful `accept`: the next failure starts from
    /// [`AcceptBackoff::FIRST`] again.
    pub fn succeeded(&mut self) {
        self.delay = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(code: i32) -> io::Error {
        io::Error::from_raw_os_error(code)
    }

    #[test]
    fn accept_errors_from_exhausted_resources_back_off_exponentially_up_to_a_second() {
        let mut backoff = AcceptBackoff::default();
        let now = Instant::now();
        let waits: Vec<_> = (0..12)
            .map(|_| backoff.failed(&os(libc::EMFILE), now).0)
            .collect();
        let expected_ms = [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000, 1000];
        let expected: Vec<_> = expected_ms
            .iter()
            .map(|ms| AcceptAction::Wait(Duration::from_millis(*ms)))
            .collect();
        assert_eq!(waits, expected);
        backoff.succeeded();
        assert_eq!(
            backoff.failed(&os(libc::ENFILE), now).0,
            AcceptAction::Wait(AcceptBackoff::FIRST),
            "a success starts over"
        );
        for code in [libc::ENOBUFS, libc::ENOMEM, libc::EMFILE, libc::EBADF] {
            assert_eq!(classify(&os(code)), AcceptFailure::Resources, "errno {code}");
        }
    }

    #[test]
    fn connection_specific_accept_errors_are_retried_at_once() {
        let mut backoff = AcceptBackoff::default();
        let now = Instant::now();
        for code in [
            libc::ECONNABORTED,
            libc::ECONNRESET,
            libc::EPROTO,
            libc::EPERM,
            libc::EINTR,
            libc::ENETDOWN,
            libc::ENOPROTOOPT,
            libc::EHOSTDOWN,
            libc::EHOSTUNREACH,
            libc::EOPNOTSUPP,
            libc::ENETUNREACH,
        ] {
            assert_eq!(
                backoff.failed(&os(code), now).0,
                AcceptAction::RetryNow,
                "errno {code}"
            );
        }
        // A resource failure after them still starts from the first wait.
        assert_eq!(
            backoff.failed(&os(libc::EMFILE), now).0,
            AcceptAction::Wait(AcceptBackoff::FIRST)
        );
    }

    #[test]
    fn accept_failures_are_logged_at_most_once_a_second_with_their_count() {
        let mut backoff = AcceptBackoff::default();
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        assert_eq!(
            backoff.failed(&os(libc::EMFILE), at(0)).1,
            Some(1),
            "the first is logged"
        );
        for ms in [5, 15, 35, 999] {
            assert_eq!(backoff.failed(&os(libc::EMFILE), at(ms)).1, None, "{ms} ms");
        }
        assert_eq!(
            backoff.failed(&os(libc::EMFILE), at(1_000)).1,
            Some(5),
            "then once a second, with the failures since"
        );
        assert_eq!(backoff.failed(&os(libc::ECONNABORTED), at(1_500)).1, None);
        assert_eq!(backoff.failed(&os(libc::ECONNABORTED), at(2_000)).1, Some(2));
    }
}
