//! The settings of the front door and their validation: the `[connections]`
//! section both servers read from their config file, and how many
//! connections the process's file-descriptor limit allows.
//!
//! | key | default | what it bounds | peer setting it mirrors |
//! |---|---|---|---|
//! | `header_timeout_ms` | 10 000 | a whole request head, from the accept (first request, also a connection that sends nothing) or from the first byte of a later request; total time, not time between bytes | nginx `client_header_timeout` (60 s), Varnish `timeout_req` (2 s), hyper `header_read_timeout` (30 s) |
//! | `idle_timeout_ms` | 15 000 | a keep-alive connection with no request in flight and no byte of a new one | nginx `keepalive_timeout` (75 s), Varnish `timeout_idle` (5 s) |
//! | `send_timeout_ms` | 30 000 | a client that stops reading its response: a write that stays pending that long | nginx `send_timeout` (60 s), Varnish `send_timeout` |
//! | `max_connections` | 4 096 | open connections; at the cap the connection idle longest is closed first, and without one accepting pauses until one closes | nginx `worker_connections` (with its reuse of idle keep-alive connections), Traffic Server `net.connections_throttle` |
//! | `lingering_timeout_ms` | 2 000 (0: off) | after a response to a request whose body was sent, how long the write side stays shut while what the client still sends is read and discarded, so that it reads the response instead of a reset | nginx `lingering_close on` with `lingering_time` |
//! | `lingering_max_bytes` | 16 MiB | how much is read and discarded while lingering | (nginx bounds it by time only) |
//!
//! Timeouts are measured on a coarse clock (see [`crate::clock`]): a
//! connection is closed within about 0.1 s of its deadline.

use std::time::Duration;

use serde::Deserialize;

/// The `[connections]` section of `revalidate serve` and `revalidate
/// edge`: timeouts, the connection cap and lingering close.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// How long a whole request head may take to arrive, counted from the
    /// accept for the first request and from its first byte for a later one.
    pub header_timeout_ms: u64,
    /// How long a keep-alive connection may stay without a request.
    pub idle_timeout_ms: u64,
    /// How long a write to the client may stay pending (the client does
    /// not read).
    pub send_timeout_ms: u64,
    /// The most connections open at once (clamped to what the process's
    /// file-descriptor limit allows).
    pub max_connections: usize,
    /// How long a closing connection reads and discards what the client
    /// still sends after its response; 0 turns lingering close off.
    pub lingering_timeout_ms: u64,
    /// How many bytes a lingering close reads and discards at most.
    pub lingering_max_bytes: u64,
    /// After the shutdown signal, how long the listener keeps accepting
    /// and serving while the admin listener's `/healthz` already says
    /// `503`, so that load balancers take the node out before it refuses
    /// connections (Envoy's drain time, Traefik's
    /// `requestAcceptGraceTimeout`, a Kubernetes `preStop` sleep); 0 stops
    /// accepting at once.
    pub drain_delay_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout_ms: 10_000,
            idle_timeout_ms: 15_000,
            send_timeout_ms: 30_000,
            max_connections: 4096,
            lingering_timeout_ms: 2_000,
            lingering_max_bytes: 16 << 20,
            drain_delay_ms: 0,
        }
    }
}

impl Limits {
    /// The shortest timeout: below the coarse clock's resolution a timeout
    /// would be mostly rounding.
    pub const MIN_TIMEOUT_MS: u64 = 100;
    /// The longest timeout: a day.
    pub const MAX_TIMEOUT_MS: u64 = 86_400_000;
    /// The longest lingering close.
    pub const MAX_LINGERING_TIMEOUT_MS: u64 = 60_000;
    /// The most connections one listener may be configured for.
    pub const MAX_CONNECTIONS: usize = 1 << 20;
    /// The most bytes a lingering close may be configured to discard.
    pub const MAX_LINGERING_BYTES: u64 = 1 << 30;
    /// The longest drain delay: ten minutes.
    pub const MAX_DRAIN_DELAY_MS: u64 = 600_000;

    /// Checks the values; the error is one line naming the key
    /// (`connections.header_timeout_ms must be …`).
    pub fn validate(&self) -> Result<(), String> {
        for (key, value) in [
            ("header_timeout_ms", self.header_timeout_ms),
            ("idle_timeout_ms", self.idle_timeout_ms),
            ("send_timeout_ms", self.send_timeout_ms),
        ] {
            if !(Self::MIN_TIMEOUT_MS..=Self::MAX_TIMEOUT_MS).contains(&value) {
                return Err(format!(
                    "connections.{key} must be between {} and {} ms, got {value}",
                    Self::MIN_TIMEOUT_MS,
                    Self::MAX_TIMEOUT_MS
                ));
            }
        }
        if !(1..=Self::MAX_CONNECTIONS).contains(&self.max_connections) {
            return Err(format!(
                "connections.max_connections must be between 1 and {}, got {}",
                Self::MAX_CONNECTIONS,
                self.max_connections
            ));
        }
        if self.lingering_timeout_ms > Self::MAX_LINGERING_TIMEOUT_MS {
            return Err(format!(
                "connections.lingering_timeout_ms must be between 0 (off) and {} ms, got {}",
                Self::MAX_LINGERING_TIMEOUT_MS,
                self.lingering_timeout_ms
            ));
        }
        if self.drain_delay_ms > Self::MAX_DRAIN_DELAY_MS {
            return Err(format!(
                "connections.drain_delay_ms must be between 0 (off) and {} ms, got {}",
                Self::MAX_DRAIN_DELAY_MS,
                self.drain_delay_ms
            ));
        }
        if !(1..=Self::MAX_LINGERING_BYTES).contains(&self.lingering_max_bytes) {
            return Err(format!(
                "connections.lingering_max_bytes must be between 1 and {}, got {}",
                Self::MAX_LINGERING_BYTES,
                self.lingering_max_bytes
            ));
        }
        Ok(())
    }

    /// [`Limits::drain_delay_ms`] as a duration.
    pub fn drain_delay(&self) -> Duration {
        Duration::from_millis(self.drain_delay_ms)
    }

    /// [`Limits::header_timeout_ms`] as a duration.
    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms)
    }

    /// [`Limits::idle_timeout_ms`] as a duration.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }

    /// [`Limits::send_timeout_ms`] as a duration.
    pub fn send_timeout(&self) -> Duration {
        Duration::from_millis(self.send_timeout_ms)
    }
}

/// Everything one listener needs: the `[connections]` limits and the
/// largest request head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenerConfig {
    /// Timeouts, the connection cap and lingering close.
    pub connections: Limits,
    /// The largest request head (HTTP/1) or header list (HTTP/2) accepted;
    /// a bigger HTTP/1 head is answered `431` ([RFC 6585 §5]).
    ///
    /// [RFC 6585 §5]: https://www.rfc-editor.org/rfc/rfc6585#section-5
    pub max_header_bytes: usize,
}

impl ListenerConfig {
    /// The smallest `max_header_bytes` a server accepts.
    pub const MIN_HEADER_BYTES: usize = 1024;
    /// The default `max_header_bytes`.
    pub const DEFAULT_HEADER_BYTES: usize = 64 * 1024;
}

impl Default for ListenerConfig {
    fn default() -> Self {
        Self {
            connections: Limits::default(),
            max_header_bytes: Self::DEFAULT_HEADER_BYTES,
        }
    }
}

/// File descriptors kept out of the connection budget for everything
/// else the process opens (files, the database, the metrics listener,
/// logs): a tenth of the limit, at least 32.
pub fn fd_reserve(nofile: u64) -> u64 {
    (nofile / 10).max(32)
}

/// How many connections a process with `nofile` file descriptors can hold
/// when each takes `fds_per_connection` (1 for the origin; 2 for the edge,
/// whose requests may each hold a connection to the origin), after
/// [`fd_reserve`]: `configured`, or fewer (at least 1) when the limit does
/// not allow it.
pub fn connections_within_fd_limit(configured: usize, nofile: u64, fds_per_connection: usize) -> usize {
    let per_connection = u64::try_from(fds_per_connection.max(1)).unwrap_or(u64::MAX);
    let allowed = nofile.saturating_sub(fd_reserve(nofile)) / per_connection;
    let allowed = usize::try_from(allowed).unwrap_or(usize::MAX);
    configured.min(allowed).max(1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn an_empty_section_gives_the_documented_defaults() {
        let limits: Limits = toml::from_str("").unwrap();
        assert_eq!(limits, Limits::default());
        limits.validate().unwrap();
        assert_eq!(limits.header_timeout(), Duration::from_secs(10));
        assert_eq!(limits.idle_timeout(), Duration::from_secs(15));
        assert_eq!(limits.send_timeout(), Duration::from_secs(30));
        assert_eq!(limits.max_connections, 4096);
        assert_eq!(limits.drain_delay(), Duration::ZERO);
    }

    #[test]
    fn out_of_range_values_are_one_line_errors_naming_the_key() {
        let cases = [
            ("header_timeout_ms = 0", "connections.header_timeout_ms"),
            ("idle_timeout_ms = 99", "connections.idle_timeout_ms"),
            ("send_timeout_ms = 86400001", "connections.send_timeout_ms"),
            ("max_connections = 0", "connections.max_connections"),
            ("lingering_timeout_ms = 60001", "connections.lingering_timeout_ms"),
            ("lingering_max_bytes = 0", "connections.lingering_max_bytes"),
            ("drain_delay_ms = 600001", "connections.drain_delay_ms"),
        ];
        for (text, key) in cases {
            let limits: Limits = toml::from_str(text).unwrap();
            let error = limits.validate().unwrap_err();
            assert!(error.starts_with(key) && !error.contains('\n'), "{text}: {error}");
        }
        assert!(
            toml::from_str::<Limits>("header_timeout = 5").is_err(),
            "unknown key"
        );
        let off: Limits = toml::from_str("lingering_timeout_ms = 0").unwrap();
        off.validate().unwrap();
    }

    #[test]
    fn the_connection_cap_is_clamped_to_the_file_descriptor_limit() {
        // (configured, nofile, fds per connection, expected)
        let cases = [
            (4096, 1_048_576, 1, 4096),
            (4096, 20_000, 2, 4096),
            (4096, 1024, 1, 922),
            (4096, 1024, 2, 461),
            (4096, 40, 1, 8),
            (4096, 16, 1, 1),
            (10, 1024, 1, 10),
            (4096, u64::MAX, 1, 4096),
        ];
        for (configured, nofile, per, expected) in cases {
            assert_eq!(
                connections_within_fd_limit(configured, nofile, per),
                expected,
                "{configured} connections, {nofile} fds, {per} per connection"
            );
        }
    }
}
