//! Human-readable sizes for `--memory SIZE` and `--disk SIZE`: the parse-size crate does the
//! parsing; this module picks its unit system and keeps sizes whole.

use std::fmt;

use ::parse_size::{ByteSuffix, Config};

/// Why a size such as `64MiB` could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid size {input:?}: {reason}; expected a whole number with an optional unit, \
     e.g. 512, 64KiB, 256MiB, 10GiB (K/M/G/T mean KiB/MiB/GiB/TiB; KB/MB/GB/TB are powers of 1000)"
)]
pub struct SizeError {
    input: String,
    reason: SizeErrorReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SizeErrorReason {
    Empty,
    NoDigits,
    UnknownUnit,
    Overflow,
}

impl fmt::Display for SizeErrorReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "it is empty",
            Self::NoDigits => "it does not start with a number",
            Self::UnknownUnit => "the unit is not recognised",
            Self::Overflow => "it does not fit in 64 bits",
        })
    }
}

/// `K`, `M`, `G`, `T` without a `B` are powers of 1024, as in Varnish's `-s malloc,256m`.
const WITHOUT_BYTE_SUFFIX: Config = Config::new().with_binary().with_byte_suffix(ByteSuffix::Deny);

/// With a `B`: `KB`, `MB`, `GB`, `TB` are powers of 1000, as the SI prefixes say; `KiB`,
/// `MiB`, … stay powers of 1024 (parse-size reads the `i`).
const WITH_BYTE_SUFFIX: Config = Config::new().with_decimal().with_byte_suffix(ByteSuffix::Require);

/// Parses a byte size: a whole number followed by an optional unit, case-insensitive, with optional
/// spaces between them.
///
/// Units: none or `B` (bytes); `K`, `KiB`, `M`, `MiB`, `G`, `GiB`, `T`, `TiB` (powers of 1024, as in
/// Varnish's `-s malloc,256m`); `KB`, `MB`, `GB`, `TB` (powers of 1000, as the SI prefixes say).
/// `P` and `E` (and their `iB` and `B` forms) work the same way, and `Ki`, `Mi`, … mean `KiB`,
/// `MiB`, …. The arithmetic is parse-size's ([`Config::parse_size`]); this function
/// adds the rule that the number is whole (no `1.5G`, exponents or digit separators), so that
/// a size in a config file means exactly the bytes it spells.
///
/// ```
/// use revalidate_edge::storage::parse_size;
/// assert_eq!(parse_size("64MiB"), Ok(64 * 1024 * 1024));
/// assert_eq!(parse_size("2g"), Ok(2 << 30));
/// assert_eq!(parse_size("10MB"), Ok(10_000_000));
/// assert_eq!(parse_size("1500"), Ok(1500));
/// assert!(parse_size("12 parsecs").is_err());
/// assert!(parse_size("1.5G").is_err());
/// ```
pub fn parse_size(input: &str) -> Result<u64, SizeError> {
    let fail = |reason| SizeError {
        input: input.to_owned(),
        reason,
    };
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(fail(SizeErrorReason::Empty));
    }
    if !trimmed.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(fail(SizeErrorReason::NoDigits));
    }
    // Whole numbers only: digits, then a unit of letters (parse-size would also take
    // fractions, exponents and `_` or spaces between digits).
    let unit = trimmed.trim_start_matches(|c: char| c.is_ascii_digit());
    if !unit.trim_start().chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(fail(SizeErrorReason::UnknownUnit));
    }
    let config = if unit.ends_with(['b', 'B']) {
        &WITH_BYTE_SUFFIX
    } else {
        &WITHOUT_BYTE_SUFFIX
    };
    config.parse_size(trimmed).map_err(|error| match error {
        ::parse_size::Error::PosOverflow => fail(SizeErrorReason::Overflow),
        _ => fail(SizeErrorReason::UnknownUnit),
    })
}
