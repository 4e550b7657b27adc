//! The operator's signals: `SIGHUP` and `SIGUSR1`, installed once per
//! server and passed on to every subscriber ([`OperatorSignals`]), each
//! of which receives every signal: the TLS certificates reload on
//! `SIGHUP` ([`crate::reload`]), the access log reopens on both
//! ([`crate::access_log`]), as nginx reopens its logs on `SIGUSR1` and
//! logrotate scripts often send `SIGHUP`.
//!
//! A server installs them (before it says where it listens, as
//! [`crate::shutdown_signal`] does for `SIGTERM`, so that a signal sent the
//! moment it is up reaches a handler) only when something subscribes:
//! with neither a TLS listener nor an access log, `SIGHUP` and `SIGUSR1`
//! keep their default action (the process ends), as before, so that a
//! signal sent to the wrong process is not silently swallowed.

use std::io;

use tokio::sync::broadcast;

/// An operator signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperatorSignal {
    /// `SIGHUP`: reload (TLS certificates) and reopen (access log).
    Hangup,
    /// `SIGUSR1`: reopen the access log.
    User1,
}

/// Signals that can queue for a slow subscriber before it misses some
/// (it is then told it lagged, and treats that as one more signal).
const CAPACITY: usize = 16;

/// The installed handlers of `SIGHUP` and `SIGUSR1`, passing each signal
/// to every subscriber. Cheap to clone.
#[derive(Clone, Debug)]
pub struct OperatorSignals {
    sender: broadcast::Sender<OperatorSignal>,
}

impl OperatorSignals {
    /// Installs the `SIGHUP` and `SIGUSR1` handlers now, and a task that
    /// passes the signals on for as long as the runtime runs. Call it
    /// inside the runtime.
    ///
    /// # Errors
    ///
    /// When a handler cannot be installed (no signal driver in the
    /// runtime).
    #[cfg(unix)]
    pub fn install() -> io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangup = signal(SignalKind::hangup())?;
        let mut user1 = signal(SignalKind::user_defined1())?;
        let (sender, _) = broadcast::channel(CAPACITY);
        let passing = sender.clone();
        tokio::spawn(async move {
            loop {
                let received = tokio::select! {
                    Some(()) = hangup.recv() => OperatorSignal::Hangup,
                    Some(()) = user1.recv() => OperatorSignal::User1,
                    else => break,
                };
                tracing::debug!(signal = ?received, "operator signal");
                // No subscriber: nothing to do.
                let _ = passing.send(received);
            }
        });
        Ok(Self { sender })
    }

    /// Without Unix signals: subscribers never hear anything.
    ///
    /// # Errors
    ///
    /// None.
    #[cfg(not(unix))]
    pub fn install() -> io::Result<Self> {
        Ok(Self::detached())
    }

    /// Signals that come only from [`OperatorSignals::send`] (for tests,
    /// and for a server that installs no handler).
    pub fn detached() -> Self {
        let (sender, _) = broadcast::channel(CAPACITY);
        Self { sender }
    }

    /// A receiver of every signal from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<OperatorSignal> {
        self.sender.subscribe()
    }

    /// Passes `signal` to the subscribers as if it had been received.
    pub fn send(&self, signal: OperatorSignal) {
        let _ = self.sender.send(signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_subscriber_receives_every_signal() {
        let signals = OperatorSignals::detached();
        let (mut a, mut b) = (signals.subscribe(), signals.subscribe());
        signals.send(OperatorSignal::Hangup);
        signals.send(OperatorSignal::User1);
        for rx in [&mut a, &mut b] {
            assert_eq!(rx.recv().await.unwrap(), OperatorSignal::Hangup);
            assert_eq!(rx.recv().await.unwrap(), OperatorSignal::User1);
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_real_sigusr1_reaches_subscribers() {
        let signals = OperatorSignals::install().unwrap();
        let mut rx = signals.subscribe();
        let sent = std::process::Command::new("kill")
            .args(["-USR1", &std::process::id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv()).await;
        assert_eq!(got.unwrap().unwrap(), OperatorSignal::User1);
    }
}
