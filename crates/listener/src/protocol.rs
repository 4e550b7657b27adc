//! hyper's connection settings for both protocols, and the builders each
//! kind of listener uses: a cleartext listener detects HTTP/1 or HTTP/2
//! with prior knowledge from the first bytes; a TLS listener knows from
//! ALPN ([RFC 7301 §3.2]) and serves one protocol from the start
//! (`Builders`).
//!
//! HTTP/2 settings, and nginx's (its defaults, as nginx 1.22 sends them:
//! `nghttp -nv` shows its `SETTINGS` and first `WINDOW_UPDATE`):
//!
//! | setting | here | nginx | why |
//! |---|---|---|---|
//! | `SETTINGS_MAX_CONCURRENT_STREAMS` | 128 | 128 (`http2_max_concurrent_streams`) | bounds the requests one connection holds at once |
//! | `SETTINGS_MAX_HEADER_LIST_SIZE` | `max_header_bytes` (64 KiB) | `large_client_header_buffers` (4 × 8 KiB) | the same bound as an HTTP/1 head (431 there, a stream error here) |
//! | `SETTINGS_INITIAL_WINDOW_SIZE` (per stream, what a client may send unasked) | 1 MiB | 64 KiB (`http2_body_preread_size`) | an API body (1 MiB at most by default) arrives in one window, without a round trip per 64 KiB |
//! | connection window | 16 MiB | 2³¹−1 (a `WINDOW_UPDATE` of 2 147 418 112 at once) | bounds what a connection's unread request bodies hold in memory: 16 streams at full window |
//! | `SETTINGS_MAX_FRAME_SIZE` (received) | 16 KiB (the protocol's minimum default) | 2²⁴−1 | larger frames save little on requests |
//! | send buffer per stream | 400 KiB (hyper) | `http2_chunk_size` 8 KiB slices | a large response is written as fast as the client's window allows, never buffered whole |
//!
//! The client's windows govern responses (RFC 9113 §5.2): a large body
//! flows as fast as the client opens them. A connection with no stream
//! open is closed by the guard's idle timeout (nginx's `keepalive_timeout`
//! covers HTTP/2 the same way since 1.19.7); no `PING`s are sent, so hyper
//! needs no timer.
//!
//! Known limit: a client that keeps reading the socket but never opens a
//! stream's window (no `WINDOW_UPDATE`) leaves that response pending
//! without a socket write ever blocking, so the send timeout does not see
//! it; such a connection holds at most 128 streams and their send buffers
//! (400 KiB each) until the client goes away.
//!
//! [RFC 7301 §3.2]: https://www.rfc-editor.org/rfc/rfc7301#section-3.2

use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;

use crate::limits::ListenerConfig;

/// `SETTINGS_MAX_CONCURRENT_STREAMS`, nginx's `http2_max_concurrent_streams`.
pub const H2_MAX_CONCURRENT_STREAMS: u32 = 128;
/// `SETTINGS_INITIAL_WINDOW_SIZE`: what a client may send on one stream
/// before the server reads it.
pub const H2_STREAM_WINDOW: u32 = 1 << 20;
/// The connection's receive window: what all of a connection's streams
/// may send before the server reads it.
pub const H2_CONNECTION_WINDOW: u32 = 16 << 20;

/// hyper's settings for both protocols: heads limited to
/// `max_header_bytes` (431 beyond on HTTP/1, RFC 6585 §5; the same bound
/// as `SETTINGS_MAX_HEADER_LIST_SIZE` on HTTP/2), the HTTP/2 windows and
/// stream cap of the module docs. No hyper timer: the guard times heads
/// and idle connections.
pub(crate) fn builder(config: &ListenerConfig) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().max_buf_size(config.max_header_bytes.max(8192));
    builder
        .http2()
        .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(H2_MAX_CONCURRENT_STREAMS)
        .initial_stream_window_size(H2_STREAM_WINDOW)
        .initial_connection_window_size(H2_CONNECTION_WINDOW);
    builder
}

/// The builders of a TLS listener: ALPN chose the protocol before the
/// first byte of HTTP (`h2`, [RFC 9113 §3.2]; `http/1.1` or no ALPN at
/// all: HTTP/1.1, since HTTP/2 over TLS needs ALPN), so no protocol
/// detection is needed, and a client that negotiated HTTP/1.1 cannot
/// switch to HTTP/2 by sending its preface.
///
/// [RFC 9113 §3.2]: https://www.rfc-editor.org/rfc/rfc9113#section-3.2
#[derive(Clone, Debug)]
pub(crate) struct Builders {
    pub(crate) http1: auto::Builder<TokioExecutor>,
    pub(crate) http2: auto::Builder<TokioExecutor>,
}

impl Builders {
    pub(crate) fn new(config: &ListenerConfig) -> Self {
        Self {
            http1: builder(config).http1_only(),
            http2: builder(config).http2_only(),
        }
    }

    /// The builder for what ALPN negotiated.
    pub(crate) fn for_alpn(&self, protocol: Option<&[u8]>) -> &auto::Builder<TokioExecutor> {
        if protocol == Some(b"h2") {
            &self.http2
        } else {
            &self.http1
        }
    }
}
