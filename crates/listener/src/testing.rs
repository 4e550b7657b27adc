//! Raw-socket probes of a front door, shared by the tests of this crate,
//! `revalidate serve` and `revalidate edge` (feature `testing`): what a
//! client sees on the wire when a server answers early, closes a
//! connection or keeps it.

use std::io::Read;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::Limits;

pub mod tls;

/// How long a probe waits for something that must happen, far beyond any
/// timeout a test configures.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Limits with every timeout long (a minute) but those a test sets.
pub fn patient() -> Limits {
    Limits {
        header_timeout_ms: 60_000,
        idle_timeout_ms: 60_000,
        send_timeout_ms: 60_000,
        ..Limits::default()
    }
}

/// Reads until the response head is complete (the connection may stay
/// open for the next request) and returns its status line, or what went
/// wrong first (a close or a reset, with what had arrived).
pub fn read_status_line(stream: &mut std::net::TcpStream) -> String {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    while !received.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) => return format!("closed after {:?}", String::from_utf8_lossy(&received)),
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e) => {
                return format!(
                    "reading failed: {e} after {:?}",
                    String::from_utf8_lossy(&received)
                );
            }
        }
    }
    String::from_utf8_lossy(&received)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Waits until the server closes `stream` (end of stream or a reset),
/// discarding what it sends meanwhile; returns when.
///
/// # Panics
///
/// If the server keeps the connection open for [`PATIENCE`].
pub async fn closed_by_server(stream: &mut TcpStream) -> Instant {
    let mut sink = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut sink)).await {
            Err(_) => panic!("the server did not close the connection within {PATIENCE:?}"),
            Ok(Ok(0) | Err(_)) => return Instant::now(),
            Ok(Ok(_)) => {}
        }
    }
}
