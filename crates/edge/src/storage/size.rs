//! Human-readable sizes for `--memory SIZE` and `--disk SIZE`.

use std::fmt;

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

/// Parses a byte size: a whole number followed by an optional unit, case-insensitive, with optional
/// spaces between them.
///
/// Units: none or `B` (bytes); `K`, `KiB`, `M`, `MiB`, `G`, `GiB`, `T`, `TiB` (powers of 1024, as in
/// Varnish's `-s malloc,256m`); `KB`, `MB`, `GB`, `TB` (powers of 1000, as the SI prefixes say).
///
/// ```
/// use revalidate_edge::storage::parse_size;
/// assert_eq!(parse_size("64MiB"), Ok(64 * 1024 * 1024));
/// assert_eq!(parse_size("2g"), Ok(2 << 30));
/// assert_eq!(parse_size("1500"), Ok(1500));
/// assert!(parse_size("12 parsecs").is_err());
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
    let digits_end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    if digits_end == 0 {
        return Err(fail(SizeErrorReason::NoDigits));
    }
    let number: u64 = trimmed[..digits_end]
        .parse()
        .map_err(|_| fail(SizeErrorReason::Overflow))?;
    let unit = trimmed[digits_end..].trim_start().to_ascii_lowercase();
    let multiplier: u64 = match unit.as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(fail(SizeErrorReason::UnknownUnit)),
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| fail(SizeErrorReason::Overflow))
}
