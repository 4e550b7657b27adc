//! Where the layer reads the time.
//!
//! [`revalidate_core`] takes `now` as an argument and never reads a clock;
//! the layer is the IO shell that does, through this trait, so tests can
//! pin the time.

use std::time::SystemTime;

use revalidate_core::HttpDate;

/// The server's clock, as the precondition evaluation needs it: whole
/// seconds ([RFC 9110 §5.6.7]).
///
/// It decides two things: an `If-Modified-Since` later than `now` is
/// ignored (`DEVIATION(future-ims)` in [`revalidate_core`]), and a
/// `Last-Modified` within the current second is too weak for `If-Range`
/// ([RFC 9110 §8.8.2.2]).
///
/// Any `Fn() -> HttpDate` closure is a clock:
///
/// ```
/// use revalidate_core::HttpDate;
/// use revalidate_tower::ConditionalLayer;
///
/// let fixed = HttpDate::from_unix_seconds(1_700_000_000).unwrap();
/// let layer = ConditionalLayer::new().clock(move || fixed);
/// # let _ = layer;
/// ```
///
/// [RFC 9110 §5.6.7]: https://www.rfc-editor.org/rfc/rfc9110#section-5.6.7
/// [RFC 9110 §8.8.2.2]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.2.2
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> HttpDate;
}

/// The system clock ([`SystemTime::now`]), the default.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> HttpDate {
        // The core's one fallback for a clock outside 1970..=9999 (before
        // 1970 reads as the epoch: every received date is then "in the
        // future", so If-Modified-Since is ignored, the safe side).
        HttpDate::saturating_from_system_time(SystemTime::now())
    }
}

impl<F> Clock for F
where
    F: Fn() -> HttpDate + Send + Sync + 'static,
{
    fn now(&self) -> HttpDate {
        self()
    }
}
