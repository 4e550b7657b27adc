//! A coarse process-wide clock, as nginx's cached time: one thread stores
//! the milliseconds since the process's first listener started every
//! [`TICK`], and the per-request bookkeeping reads that atomic instead of
//! asking the system for the time.
//!
//! Readings are milliseconds since the first reading plus one, so that 0 can mean
//! "no time recorded" in the connection state. A reading is at most one
//! tick (plus scheduling delay) behind the precise time, which makes
//! timeouts fire up to about 0.1 s early; a timer's wake-up reads the
//! precise time, so a deadline is never reached late.
//!
//! A thread rather than a task: tests run many runtimes one after another
//! in one process, and a task would die with the runtime that spawned it.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How often the coarse clock moves.
pub const TICK: Duration = Duration::from_millis(100);

/// "No time recorded" in a field that holds clock readings.
pub(crate) const NONE: u64 = 0;

static NOW_MS: AtomicU64 = AtomicU64::new(1);
static BASE: OnceLock<Instant> = OnceLock::new();
static TICKER: Mutex<bool> = Mutex::new(false);

/// The instant readings count from.
fn base() -> Instant {
    *BASE.get_or_init(Instant::now)
}

/// Starts the ticking thread (once per process) and brings the reading up
/// to date.
pub(crate) fn start() -> io::Result<()> {
    let mut started = TICKER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    NOW_MS.store(precise_now(), Ordering::Relaxed);
    if !*started {
        std::thread::Builder::new()
            .name("revalidate-clock".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(TICK);
                    NOW_MS.store(precise_now(), Ordering::Relaxed);
                }
            })?;
        *started = true;
    }
    Ok(())
}

/// The coarse reading: one relaxed load.
#[inline]
pub(crate) fn coarse_now() -> u64 {
    NOW_MS.load(Ordering::Relaxed)
}

/// The precise reading, for timer wake-ups (not per request).
pub(crate) fn precise_now() -> u64 {
    u64::try_from(base().elapsed().as_millis())
        .unwrap_or(u64::MAX - 1)
        .saturating_add(1)
}

/// The instant of a reading, for the timer.
pub(crate) fn instant_at(reading: u64) -> tokio::time::Instant {
    let since_base = Duration::from_millis(reading.saturating_sub(1));
    match base().checked_add(since_base) {
        Some(at) => tokio::time::Instant::from_std(at),
        // Not for readings of this process's lifetime; a day on, to be safe.
        None => tokio::time::Instant::now() + Duration::from_secs(86_400),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn readings_never_go_back_and_map_to_instants() {
        start().unwrap();
        let coarse = coarse_now();
        let precise = precise_now();
        assert!(coarse >= 1 && precise >= coarse, "{coarse} {precise}");
        let at = instant_at(precise + 1000);
        assert!(at > tokio::time::Instant::now());
        // Starting again (a second listener) is harmless.
        start().unwrap();
        assert!(coarse_now() >= coarse);
    }
}
