//! HTTP-date ([RFC 9110 §5.6.7]) at whole-second resolution.
//!
//! Parsing accepts the three forms a recipient MUST accept: IMF-fixdate,
//! the obsolete RFC 850 form and ANSI C's asctime. Formatting always
//! produces IMF-fixdate. The grammar work is done by the `httpdate` crate;
//! this module adds the rules around it: whole seconds, no epoch fallback
//! for invalid input, and one date per field.
//!
//! [RFC 9110 §5.6.7]: https://www.rfc-editor.org/rfc/rfc9110#section-5.6.7

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderValue;

/// A point in time at whole-second resolution, as HTTP-date carries it
/// ([RFC 9110 §5.6.7]).
///
/// The range is what an IMF-fixdate can express with a four-digit year:
/// 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
///
/// ```
/// use revalidate_core::HttpDate;
///
/// let d: HttpDate = "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap();
/// assert_eq!(d, "Sunday, 06-Nov-94 08:49:37 GMT".parse().unwrap());
/// assert_eq!(d, "Sun Nov  6 08:49:37 1994".parse().unwrap());
/// assert_eq!(d.unix_seconds(), 784111777);
/// assert_eq!(d.to_string(), "Sun, 06 Nov 1994 08:49:37 GMT");
/// ```
///
/// [RFC 9110 §5.6.7]: https://www.rfc-editor.org/rfc/rfc9110#section-5.6.7
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HttpDate(u64);

/// Why a value is not a valid HTTP-date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidHttpDate {
    /// The text matches none of the three HTTP-date forms, or names a day
    /// that does not exist (wrong weekday, 31 February, before 1970).
    Syntax,
    /// The field holds more than one field line, so more than one date
    /// ("including when the field value appears to be a list of dates").
    MultipleValues,
    /// The field is absent or empty.
    Missing,
    /// A time outside 1970-01-01T00:00:00Z ..= 9999-12-31T23:59:59Z.
    OutOfRange,
}

impl fmt::Display for InvalidHttpDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Syntax => "not a valid HTTP-date",
            Self::MultipleValues => "more than one HTTP-date in one field",
            Self::Missing => "no HTTP-date given",
            Self::OutOfRange => "time outside the range an HTTP-date can express",
        })
    }
}

impl std::error::Error for InvalidHttpDate {}

impl HttpDate {
    /// 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Self = Self(0);
    /// 9999-12-31T23:59:59Z, the last second an IMF-fixdate can carry.
    pub const MAX: Self = Self(253_402_300_799);

    /// The date `secs` seconds after the Unix epoch, or `None` past [`HttpDate::MAX`].
    pub const fn from_unix_seconds(secs: u64) -> Option<Self> {
        if secs > Self::MAX.0 {
            None
        } else {
            Some(Self(secs))
        }
    }

    /// Seconds since the Unix epoch.
    pub const fn unix_seconds(self) -> u64 {
        self.0
    }

    /// Truncates `time` to the whole second, as HTTP-date requires: "a
    /// sender MUST NOT generate" more precision than a second can carry,
    /// and comparisons against received dates must not see sub-seconds.
    ///
    /// Fails for times before 1970 or after 9999.
    pub fn from_system_time(time: SystemTime) -> Result<Self, InvalidHttpDate> {
        let secs = time
            .duration_since(UNIX_EPOCH)
            .map_err(|_| InvalidHttpDate::OutOfRange)?
            .as_secs();
        Self::from_unix_seconds(secs).ok_or(InvalidHttpDate::OutOfRange)
    }

    /// [`HttpDate::from_system_time`] clamped into the range: a clock set
    /// before 1970 reads as [`HttpDate::UNIX_EPOCH`], one past 9999 as
    /// [`HttpDate::MAX`].
    ///
    /// This is the one fallback every shell's clock uses to turn its
    /// reading into the core's time. The early end is the safe one for a
    /// server: every date it receives is then in its future, so an
    /// `If-Modified-Since` is ignored (`DEVIATION(future-ims)`) and the full
    /// response goes out; for a cache every stored response is then as
    /// young as its `Age` and `Date` allow, which the next correct reading
    /// puts right.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use revalidate_core::HttpDate;
    ///
    /// let before = UNIX_EPOCH - Duration::from_secs(1);
    /// assert_eq!(HttpDate::saturating_from_system_time(before), HttpDate::UNIX_EPOCH);
    /// let later = UNIX_EPOCH + Duration::from_millis(1_500);
    /// assert_eq!(HttpDate::saturating_from_system_time(later).unix_seconds(), 1);
    /// ```
    pub fn saturating_from_system_time(time: SystemTime) -> Self {
        match time.duration_since(UNIX_EPOCH) {
            Ok(since) => Self(since.as_secs().min(Self::MAX.0)),
            Err(_) => Self::UNIX_EPOCH,
        }
    }

    /// The same instant as a [`SystemTime`].
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.0)
    }

    /// `self + secs`, saturating at [`HttpDate::MAX`].
    pub fn saturating_add(self, secs: u64) -> Self {
        Self(self.0.saturating_add(secs).min(Self::MAX.0))
    }

    /// Seconds from `earlier` to `self`, or 0 when `earlier` is later.
    pub fn seconds_since(self, earlier: Self) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// Parses one HTTP-date in any of its three forms.
    ///
    /// Two-digit RFC 850 years are read by `httpdate`'s fixed pivot
    /// (00–69 → 20xx, 70–99 → 19xx); see `DEVIATION(rfc850-year)` in the crate docs.
    pub fn parse(bytes: &[u8]) -> Result<Self, InvalidHttpDate> {
        // DEVIATION(rfc850-year): RFC 9110 §5.6.7 reads a two-digit year
        // more than 50 years ahead of now as the past century. Parsing here
        // takes no clock, so the fixed pivot of `httpdate` applies. It only
        // differs for the years 2070–2076 written as "70"–"76" in a format
        // that has been obsolete since 1996.
        // Nearly every date on the wire is an IMF-fixdate, which senders
        // MUST generate (§5.6.7); reading its fixed layout directly costs a
        // tenth of the general parser, which then only sees the rest.
        if let Some(secs) = parse_imf_fixdate(bytes) {
            return Ok(Self(secs));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| InvalidHttpDate::Syntax)?;
        let parsed: httpdate::HttpDate = text.parse().map_err(|_| InvalidHttpDate::Syntax)?;
        Self::from_system_time(SystemTime::from(parsed))
    }

    /// [`HttpDate::parse`] as a cache reads the dates of a stored response
    /// ([RFC 9111 §4.2]: "to avoid common problems in date parsing"): day
    /// names, month names and `GMT` are matched in any case ("Although all
    /// date formats are specified to be case-sensitive, a cache recipient
    /// SHOULD match the field value case-insensitively": `THU, 18 AUG 2050
    /// 02:01:18 gMT` is `Thu, 18 Aug 2050 02:01:18 GMT`), and a day name
    /// that is not the weekday of the date is not held against it (`Thu
    /// Aug  8 02:01:18 2050` is 8 August 2050, a Monday). The grammar of
    /// [RFC 9110 §5.6.7] asks only for a `day-name`, which such a value has;
    /// the weekday repeats what the date says, and "recipients of timestamp
    /// values are encouraged to be robust in parsing timestamps". The date
    /// is what counts, as in Go's `net/http`, nginx and curl. Everything
    /// else (the form, the zone, a date that does not exist) is as strict
    /// as [`HttpDate::parse`], which the servers keep for conditionals.
    ///
    /// [RFC 9111 §4.2]: https://www.rfc-editor.org/rfc/rfc9111#section-4.2
    /// [RFC 9110 §5.6.7]: https://www.rfc-editor.org/rfc/rfc9110#section-5.6.7
    pub fn parse_lenient(bytes: &[u8]) -> Result<Self, InvalidHttpDate> {
        // The longest form, an RFC 850 date with "Wednesday", is 33 bytes.
        const LONGEST: usize = 40;
        Self::parse(bytes).or_else(|error| {
            if bytes.len() > LONGEST || !bytes.iter().any(u8::is_ascii_alphabetic) {
                return Err(error);
            }
            // Names as the grammar spells them: an upper-case first letter,
            // then lower case; the zone is "GMT".
            let mut canonical = [0u8; LONGEST];
            let canonical = &mut canonical[..bytes.len()];
            let mut word_start = true;
            for (out, &b) in canonical.iter_mut().zip(bytes) {
                *out = match (b.is_ascii_alphabetic(), word_start) {
                    (true, true) => b.to_ascii_uppercase(),
                    (true, false) => b.to_ascii_lowercase(),
                    (false, _) => b,
                };
                word_start = !b.is_ascii_alphabetic();
            }
            if let Some(zone) = canonical.strip_suffix(b"Gmt").map(<[u8]>::len) {
                canonical[zone..].copy_from_slice(b"GMT");
            }
            Self::parse(canonical)
                .or_else(|_| parse_any_weekday(canonical))
                .map_err(|_| error)
        })
    }

    /// Parses a date field that may occur on several field lines, such as
    /// `If-Modified-Since` or `Last-Modified`.
    ///
    /// More than one field line is invalid: these fields hold one
    /// `HTTP-date`, and [RFC 9110 §13.1.3] and [§13.1.4] say to ignore a value that
    /// "appears to be a list of dates".
    ///
    /// [RFC 9110 §13.1.3]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.3
    /// [§13.1.4]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.4
    pub fn from_field<'a, I>(lines: I) -> Result<Self, InvalidHttpDate>
    where
        I: IntoIterator<Item = &'a HeaderValue>,
    {
        let mut lines = lines.into_iter();
        let first = lines.next().ok_or(InvalidHttpDate::Missing)?;
        if lines.next().is_some() {
            return Err(InvalidHttpDate::MultipleValues);
        }
        Self::parse(first.as_bytes())
    }

    /// The IMF-fixdate field value, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
    pub fn to_header_value(self) -> HeaderValue {
        let text = httpdate::HttpDate::from(self.to_system_time()).to_string();
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// `text` (names already in the grammar's case) parsed with its leading
/// `day-name` replaced by each day name of the same form in turn: the
/// date fixes the weekday, so at most one parses. The leading word must be
/// a day name of the form its separator implies (`Thu,` in IMF-fixdate,
/// `Thursday,` in RFC 850, `Thu ` in asctime).
fn parse_any_weekday(text: &[u8]) -> Result<HttpDate, InvalidHttpDate> {
    const SHORT: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const LONG: [&str; 7] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    let word = text.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    let (name, rest) = text.split_at(word);
    let names = match (name.len(), rest.first()) {
        (3, Some(b',' | b' ')) => SHORT,
        (6.., Some(b',')) => LONG,
        _ => return Err(InvalidHttpDate::Syntax),
    };
    if !names.iter().any(|n| n.as_bytes() == name) {
        return Err(InvalidHttpDate::Syntax);
    }
    let mut candidate = [0u8; 48];
    for other in names.iter().filter(|n| n.as_bytes() != name) {
        let length = other.len() + rest.len();
        let Some(candidate) = candidate.get_mut(..length) else {
            return Err(InvalidHttpDate::Syntax);
        };
        candidate[..other.len()].copy_from_slice(other.as_bytes());
        candidate[other.len()..].copy_from_slice(rest);
        if let Ok(date) = HttpDate::parse(candidate) {
            return Ok(date);
        }
    }
    Err(InvalidHttpDate::Syntax)
}

/// Seconds since the epoch of a well-formed, existing IMF-fixdate such as
/// `Sun, 06 Nov 1994 08:49:37 GMT`, or `None` for anything else, which the
/// general parser then judges. It accepts exactly what that parser accepts
/// in this form (names are case-sensitive, the weekday must match the date,
/// seconds stop at 59); `imf_fixdate_fast_path_agrees_with_httpdate` holds
/// it to that.
fn parse_imf_fixdate(b: &[u8]) -> Option<u64> {
    const DAYS: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
    ];
    let b: &[u8; 29] = b.try_into().ok()?;
    if &b[3..5] != b", "
        || b[7] != b' '
        || b[11] != b' '
        || b[16] != b' '
        || b[19] != b':'
        || b[22] != b':'
        || &b[25..] != b" GMT"
    {
        return None;
    }
    let digit = |i: usize| -> Option<u64> {
        let d = b[i].wrapping_sub(b'0');
        (d < 10).then_some(u64::from(d))
    };
    let two = |i: usize| Some(digit(i)? * 10 + digit(i + 1)?);
    let day = two(5)?;
    let year = two(12)? * 100 + two(14)?;
    let (hour, minute, second) = (two(17)?, two(20)?, two(23)?);
    let month = MONTHS.iter().position(|m| m[..] == b[8..11])? as u64 + 1;
    if year < 1970 || hour > 23 || minute > 59 || second > 59 || day == 0 || day > days_in_month(year, month)
    {
        return None;
    }
    let days = days_since_epoch(year, month, day);
    // 1970-01-01 was a Thursday.
    if DAYS[((days + 4) % 7) as usize][..] != b[0..3] {
        return None;
    }
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date on or after it in the proleptic
/// Gregorian calendar, counting years from March so that the leap day
/// falls last.
fn days_since_epoch(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year % 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719_468 days from 0000-03-01 to 1970-01-01.
    era * 146_097 + day_of_era - 719_468
}

impl FromStr for HttpDate {
    type Err = InvalidHttpDate;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s.as_bytes())
    }
}

impl TryFrom<SystemTime> for HttpDate {
    type Error = InvalidHttpDate;

    fn try_from(time: SystemTime) -> Result<Self, Self::Error> {
        Self::from_system_time(time)
    }
}

impl From<HttpDate> for SystemTime {
    fn from(date: HttpDate) -> Self {
        date.to_system_time()
    }
}

impl From<HttpDate> for HeaderValue {
    fn from(date: HttpDate) -> Self {
        date.to_header_value()
    }
}

/// Writes the IMF-fixdate form.
impl fmt::Display for HttpDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&httpdate::HttpDate::from(self.to_system_time()), f)
    }
}

impl fmt::Debug for HttpDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HttpDate({self})")
    }
}

#[cfg(feature = "serde")]
mod serde_impls {
    use super::HttpDate;
    use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

    /// Serialized as IMF-fixdate text.
    impl Serialize for HttpDate {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_str(self)
        }
    }

    impl<'de> Deserialize<'de> for HttpDate {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let text = String::deserialize(d)?;
            text.parse().map_err(de::Error::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_is_never_epoch() {
        for bad in [
            "",
            "0",
            "-1",
            "Thu, 01 Jan 1970 00:00:00",
            "yesterday",
            "Sun, 06 Nov 1994 08:49:37 UTC",
        ] {
            assert_eq!(
                HttpDate::parse(bad.as_bytes()),
                Err(InvalidHttpDate::Syntax),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn imf_fixdate_fast_path_reads_the_calendar() {
        for (text, secs) in [
            ("Thu, 01 Jan 1970 00:00:00 GMT", 0),
            ("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_777),
            ("Tue, 29 Feb 2000 12:00:00 GMT", 951_825_600),
            ("Mon, 01 Mar 2100 00:00:00 GMT", 4_107_542_400),
            ("Fri, 31 Dec 9999 23:59:59 GMT", HttpDate::MAX.0),
        ] {
            assert_eq!(parse_imf_fixdate(text.as_bytes()), Some(secs), "{text}");
        }
        for not_fast in [
            "Mon, 06 Nov 1994 08:49:37 GMT", // wrong weekday
            "Mon, 29 Feb 2100 00:00:00 GMT", // 2100 is not a leap year
            "Sun, 06 Nov 1994 08:49:60 GMT",
            "Sun, 06 nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 gmt",
            "Wed, 31 Dec 1969 23:59:59 GMT",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 8:49:37 GMT ",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_imf_fixdate(not_fast.as_bytes()), None, "{not_fast}");
        }
    }

    proptest::proptest! {
        /// The fast path is an optimisation only: on any IMF-shaped input
        /// it agrees with the general parser, accepting and rejecting alike.
        #[test]
        fn imf_fixdate_fast_path_agrees_with_httpdate(
            secs in 0u64..=HttpDate::MAX.0,
            position in 0usize..29,
            replacement in proptest::sample::select(b"0123456789 :,GMTSunMonFebXx\xff".to_vec()),
        ) {
            let text = httpdate::HttpDate::from(UNIX_EPOCH + Duration::from_secs(secs)).to_string();
            proptest::prop_assert_eq!(parse_imf_fixdate(text.as_bytes()), Some(secs));
            let mut mutated = text.into_bytes();
            mutated[position] = replacement;
            let general = std::str::from_utf8(&mutated)
                .ok()
                .and_then(|t| t.parse::<httpdate::HttpDate>().ok())
                .and_then(|d| SystemTime::from(d).duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs());
            if let Some(fast) = parse_imf_fixdate(&mutated) {
                proptest::prop_assert_eq!(Some(fast), general);
            }
            proptest::prop_assert_eq!(HttpDate::parse(&mutated).ok().map(HttpDate::unix_seconds), general);
        }
    }

    #[test]
    fn max_formats() {
        assert_eq!(HttpDate::MAX.to_string(), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(HttpDate::from_unix_seconds(HttpDate::MAX.0 + 1), None);
    }
}
