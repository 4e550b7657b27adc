//! The front door of `revalidate serve` and `revalidate edge`: accepting
//! their connections and guarding them, so that nothing a client sends
//! (or fails to send, or fails to read) holds a connection, a file
//! descriptor or memory for good.
//!
//! Both servers hand [`FrontDoor::serve`] a listener, a [`ListenerConfig`]
//! (the `[connections]` section of their config file plus
//! `max_header_bytes`) and a function that makes a hyper service per
//! connection. The front door then:
//!
//! - **times heads, idle keep-alive connections and stalled writes**: a
//!   whole request head must arrive within `header_timeout_ms` of the
//!   accept or of its first byte (total time, however it trickles); a
//!   connection without a request is closed after `idle_timeout_ms`; a
//!   client that stops reading is closed after `send_timeout_ms`;
//! - **caps open connections** at `max_connections`, clamped to what the
//!   file-descriptor limit allows (the soft `RLIMIT_NOFILE` is raised to
//!   the hard one first, as nginx's `worker_rlimit_nofile` and Go do); at
//!   the cap the connection idle longest is closed (nginx reuses idle
//!   keep-alive connections the same way), and with none idle accepting
//!   pauses until one closes;
//! - **backs off `accept` errors**: out of descriptors or memory waits 5 ms
//!   doubling to 1 s, a failed connection is skipped at once, warnings at
//!   most once a second;
//! - **closes in stages** ("lingering close", [RFC 9112 §9.6]): a
//!   response given before the request body was read to its end (such as
//!   a 413 answered from `Content-Length`) says `Connection: close`, so that
//!   no client or proxy pool sends another request into the connection
//!   ([`RequestBody`] tracks the end); after it, or after refusing a head,
//!   the write side is shut and what the client still sends is read and
//!   discarded for up to `lingering_timeout_ms` and `lingering_max_bytes`,
//!   so that the client reads the response rather than a reset;
//! - **shuts down gracefully** when its shutdown future resolves: after
//!   `drain_delay_ms` (default 0; the admin listener's `/healthz` says
//!   `503` meanwhile, so load balancers move away first) stops accepting,
//!   closes idle connections, lets requests in flight finish;
//! - **counts** connections open, accepted and closed by reason, and
//!   failed accepts ([`ConnectionMetrics`], exported by each server);
//! - **speaks TLS** on a second listener when one is configured
//!   ([`FrontDoor::with_tls`], the `[tls]` section: [`TlsSettings`]):
//!   TLS 1.3 and 1.2 (rustls), ALPN `h2` then `http/1.1` ([RFC 7301]) so
//!   HTTP/2 and HTTP/1.1 share the port, certificates chosen by SNI and
//!   reloaded on `SIGHUP` and on file changes without touching open
//!   connections ([`tls`], [`reload`]). The handshake must end within
//!   `tls.handshake_timeout_ms` (10 s) of the accept, and the first head
//!   still within `header_timeout_ms`; failed and timed-out handshakes are
//!   counted (`reason="tls_handshake_failed"` / `"tls_handshake_timeout"`).
//!   The cleartext listener's path is unchanged: TLS code runs only for
//!   connections accepted on the TLS listener;
//! - **logs requests** when an access log is configured
//!   ([`FrontDoor::with_access_log`], the `[access_log]` section:
//!   [`AccessLogSettings`]): nginx's `combined` or JSON lines, captured in
//!   the service wrapper, written by a thread off the request path,
//!   reopened on `SIGHUP` and `SIGUSR1` ([`access_log`], [`signals`]).
//!
//! # HTTP/2
//!
//! Both listeners serve HTTP/2 (over TLS by ALPN, in cleartext with prior
//! knowledge) with at most 128 concurrent streams, a header list bounded
//! by `max_header_bytes` as an HTTP/1 head is, and windows that let large
//! bodies flow ([`protocol`] has the values and nginx's). Responses carry
//! the same fields as over HTTP/1 minus the connection-specific ones
//! ([RFC 9113 §8.2.2]): the front door adds `Connection: close` only to
//! HTTP/1 responses, and hyper removes any such field a service sets
//! before an HTTP/2 response is written.
//!
//! Defaults, and the setting of nginx, Varnish or Traffic Server each
//! mirrors, are in [`limits`].
//!
//! # Cost
//!
//! The guard wraps both servers' hot paths, so it does its bookkeeping
//! per connection, not per request: one timer per connection, re-armed
//! only when it fires; the time read from a coarse clock that one thread
//! updates every 100 ms, as nginx's cached time; per request a few relaxed
//! stores, one atomic increment and an `Arc` clone, no allocation; per
//! wake-up of a connection two loads (has its timer fired, has it been
//! told to close) instead of polling a shutdown signal. Without an access
//! log, logging costs one branch on an `Option` at the request, at the
//! response head and per body frame; with one, one allocation per request
//! and a non-blocking queue push (see [`access_log`]).
//!
//! # Map
//!
//! | module | what it holds |
//! |---|---|
//! | [`limits`] | [`Limits`] (the `[connections]` section: defaults, validation) and [`ListenerConfig`]; the file-descriptor budget |
//! | [`accept`] | [`FrontDoor`]: the accept loop, the cap and eviction, the hyper builder; [`AcceptBackoff`], the back-off policy (pure) |
//! | `registry` | the open connections of a listener: count, longest idle, shutdown orders |
//! | `conn` | what one connection is doing (`ConnState`), shared by its stream, service, bodies, guard and the accept loop |
//! | `guard` | per-connection timers: the deadline a state implies (pure, the TLS handshake's included), the future that serves a connection and closes it |
//! | [`protocol`] | hyper's HTTP/1 and HTTP/2 settings (streams, windows, header list; nginx's beside them); the builders of a TLS listener, one per ALPN protocol |
//! | [`tls`] | the TLS listener ([`TlsListener`]): `settings` (the `[tls]` section), `certs` (one PEM chain and key read and checked), `store` (the certificates in force, by SNI, swapped by a reload), `serving` (one connection: handshake, then HTTP) |
//! | [`signals`] | [`OperatorSignals`]: the `SIGHUP` and `SIGUSR1` handlers, installed once, every signal passed to every subscriber |
//! | [`reload`] | the reload seam: what asks (`SIGHUP` from [`signals`], file changes, debounced) and the [`reload::Reload`] trait of what is reloaded |
//! | [`access_log`] | [`AccessLog`] (the `[access_log]` section: [`AccessLogSettings`]): `record` (what one request's line holds; request ids; a proxy's [`access_log::Upstream`]), `format` (`combined`, JSON lines; pure), `writer` (the thread: queue, buffer, flush, reopen) |
//! | `service` | the service wrapper that counts requests in and response bodies out, and captures their access-log lines; [`RequestBody`], which tells when a request body was read to its end |
//! | `io` | the watched stream hyper reads and writes; the draining half of a lingering close |
//! | [`shutdown`] | [`shutdown_signal`]: SIGTERM/SIGINT handlers installed before the server says where it listens |
//! | [`metrics`] | [`ConnectionMetrics`]: the counters each server exports |
//! | [`clock`] | the coarse clock |
//! | [`admin`] | the admin listener both servers run beside the public one: `/metrics`, `/healthz` (`503` once draining), `/readyz` (the server's [`admin::AdminTarget`] checks, bounded); [`AdminListen`] (`ADDR` or `off`), [`Health`] |
//! | [`config_file`] | the servers' TOML config file: [`read_config_file`] and [`ConfigError`] |
//! | `testing` | (feature `testing`) raw-socket probes and test certificates (`testing::tls`) shared by the servers' tests |
//!
//! # Deviations
//!
//! None (`grep -rn DEVIATION crates/listener`). A head that times out is
//! closed without a `408` response, as nginx does for
//! `client_header_timeout` (RFC 9110 §15.5.9 defines `408` without
//! requiring a server to send it).
//!
//! [RFC 9112 §9.6]: https://www.rfc-editor.org/rfc/rfc9112#section-9.6
//! [RFC 7301]: https://www.rfc-editor.org/rfc/rfc7301
//! [RFC 9113 §8.2.2]: https://www.rfc-editor.org/rfc/rfc9113#section-8.2.2

pub mod accept;
pub mod access_log;
pub mod admin;
pub mod clock;
pub mod config_file;
mod conn;
mod guard;
mod io;
pub mod limits;
pub mod metrics;
pub mod protocol;
mod registry;
pub mod reload;
mod service;
pub mod shutdown;
pub mod signals;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;

pub use accept::{AcceptAction, AcceptBackoff, FrontDoor, Peer};
pub use access_log::{AccessLog, AccessLogSettings};
pub use admin::{AdminListen, AdminServer, AdminSettings, AdminTarget, Check, Health, serve_admin};
pub use config_file::{ConfigError, read_config_file};
pub use limits::{Limits, ListenerConfig};
pub use metrics::{CloseReason, ConnectionMetrics};
pub use service::{GuardedBody, GuardedFuture, GuardedService, RequestBody};
pub use shutdown::shutdown_signal;
pub use signals::{OperatorSignal, OperatorSignals};
pub use tls::{TlsError, TlsListener, TlsSettings};
