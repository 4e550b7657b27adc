//! Where the origin reads the time: one seam for the API and the static
//! files, so tests can pin it instead of sleeping.
//!
//! A reading has two forms ([`Reading`]): the exact time, which the
//! resource store keeps as a write's modification time (to the
//! microsecond, so that two writes within one second can be told apart,
//! RFC 9110 §8.8.2.2), and the core's time ([`HttpDate`], whole seconds)
//! for evaluating preconditions and writing `Date` and `Last-Modified`.
//! The second comes from the first by the core's one fallback for a clock
//! outside 1970..=9999 ([`HttpDate::saturating_from_system_time`]).

use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use revalidate_core::HttpDate;

/// A source of the current time.
pub trait Clock: Send + Sync + Debug + 'static {
    /// The wall-clock time.
    fn now(&self) -> SystemTime;

    /// One reading in both forms.
    fn read(&self) -> Reading {
        let exact = self.now();
        Reading {
            exact,
            date: HttpDate::saturating_from_system_time(exact),
        }
    }
}

/// A shared clock, as the API settings and the static files hold it.
pub type SharedClock = Arc<dyn Clock>;

/// The clock read once for a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    /// The exact time: a write's modification time in the store.
    pub exact: SystemTime,
    /// The same time in whole seconds: preconditions, `Date`, `Last-Modified`.
    pub date: HttpDate,
}

/// The system's wall clock (the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// The default clock, shared.
pub fn system_clock() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock that moves only when told to (tests); clones share the time.
#[derive(Clone, Debug)]
pub struct ManualClock {
    now: Arc<Mutex<SystemTime>>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: SystemTime) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    #[test]
    fn a_reading_keeps_the_exact_time_and_truncates_the_date() {
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_millis(1_771_372_800_250));
        let reading = clock.read();
        assert_eq!(
            reading.exact,
            UNIX_EPOCH + Duration::from_millis(1_771_372_800_250)
        );
        assert_eq!(reading.date.unix_seconds(), 1_771_372_800);
        clock.advance(Duration::from_millis(800));
        assert_eq!(clock.read().date.unix_seconds(), 1_771_372_801);
    }

    #[test]
    fn a_clock_before_1970_reads_as_the_epoch() {
        let clock = ManualClock::new(UNIX_EPOCH - Duration::from_secs(5));
        assert_eq!(clock.read().date, HttpDate::UNIX_EPOCH);
    }
}
