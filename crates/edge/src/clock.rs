//! The clock seam: every freshness decision takes the time as an argument,
//! and the proxy reads it here, so tests can move time forward instead of
//! sleeping.
//!
//! Two readings: the core's time ([`HttpDate`], whole seconds, as HTTP's
//! freshness arithmetic has them), and a monotonic [`Instant`] for ordering
//! events within the process (was an origin fetch sent before or after a
//! request arrived?), which one-second readings cannot tell apart.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use revalidate_core::HttpDate;

/// Where the proxy reads the current time.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// The wall-clock time.
    fn now(&self) -> HttpDate;

    /// A monotonic reading, for ordering events within this process.
    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// The system's wall clock, and its monotonic clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> HttpDate {
        // The core's one fallback for a clock outside 1970..=9999.
        HttpDate::saturating_from_system_time(SystemTime::now())
    }
}

/// A clock that moves only when told to (tests): both readings stand
/// still between [`ManualClock::advance`] calls, so events between two
/// calls happen at the same instant.
#[derive(Debug)]
pub struct ManualClock {
    seconds: AtomicU64,
    start_seconds: u64,
    start: Instant,
}

impl ManualClock {
    /// A clock showing the system time now.
    pub fn new() -> Self {
        let seconds = SystemClock.now().unix_seconds();
        Self {
            seconds: AtomicU64::new(seconds),
            start_seconds: seconds,
            start: Instant::now(),
        }
    }

    fn seconds(&self) -> u64 {
        self.seconds.load(Ordering::SeqCst)
    }

    /// Moves the clock forward by `seconds`.
    pub fn advance(&self, seconds: u64) {
        self.seconds.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> HttpDate {
        HttpDate::UNIX_EPOCH.saturating_add(self.seconds())
    }

    fn instant(&self) -> Instant {
        let advanced = self.seconds().saturating_sub(self.start_seconds);
        self.start + Duration::from_secs(advanced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_both_readings_only_when_told() {
        let clock = ManualClock::new();
        let (seconds, instant) = (clock.now(), clock.instant());
        assert_eq!((clock.now(), clock.instant()), (seconds, instant));
        clock.advance(3);
        assert_eq!(clock.now(), seconds.saturating_add(3));
        assert_eq!(clock.instant() - instant, Duration::from_secs(3));
    }
}
