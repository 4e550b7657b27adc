//! The signals that start a graceful shutdown.
//!
//! [`shutdown_signal`] installs the SIGTERM and SIGINT handlers when it is
//! called, not when its future is first polled: a server calls it before it
//! prints where it listens, so that a supervisor (or a test) that sends
//! SIGTERM the moment it reads that line gets a graceful shutdown and a
//! clean exit, never the default action of the signal (death).

use std::future::Future;
use std::io;

/// Installs the SIGTERM and SIGINT (Ctrl-C) handlers now and returns the
/// future that resolves on the first of them. Call it inside the runtime.
///
/// # Errors
///
/// When a handler cannot be installed (no signal driver in the runtime).
#[cfg(unix)]
pub fn shutdown_signal() -> io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        tracing::info!("shutdown signal received; finishing requests in flight");
    })
}

/// Installs the Ctrl-C handler now and returns the future that resolves
/// on it. Call it inside the runtime.
///
/// # Errors
///
/// When the handler cannot be installed.
#[cfg(not(unix))]
pub fn shutdown_signal() -> io::Result<impl Future<Output = ()> + Send + 'static> {
    let mut ctrl_c = tokio::signal::windows::ctrl_c()?;
    Ok(async move {
        ctrl_c.recv().await;
        tracing::info!("shutdown signal received; finishing requests in flight");
    })
}
