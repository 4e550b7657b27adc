//! Byte ranges ([RFC 9110 §14]): what the servers check before handing a
//! `Range` field to their range parser.
//!
//! [RFC 9110 §14]: https://www.rfc-editor.org/rfc/rfc9110#section-14

/// Whether every number in a `Range` field value fits in a `u64`.
///
/// A byte position past `u64::MAX` addresses no representation a server
/// can hold, and the range parser the servers use reads such a number as
/// `u64::MAX`, which loses the order §14.1.1 checks ("A byte-range-spec is
/// invalid if the last-pos value is present and less than the
/// first-pos"): `bytes=0-,99999999999999999999999-99999999999999999999`
/// would pass as a valid field. The servers ignore a field for which this
/// is false, which §14.2 always allows ("A server MAY ignore the Range
/// header field"). Leading zeros do not count.
///
/// ```
/// use revalidate_core::range::positions_fit_u64;
///
/// assert!(positions_fit_u64(b"bytes=0-499, -18446744073709551615"));
/// assert!(positions_fit_u64(b"bytes=000000000000000000000000001-2"));
/// assert!(!positions_fit_u64(b"bytes=18446744073709551616-"));
/// assert!(!positions_fit_u64(b"bytes=7777777777777777777777-99999999999999999999"));
/// ```
pub fn positions_fit_u64(value: &[u8]) -> bool {
    const MAX: &[u8] = b"18446744073709551615";
    value
        .split(|b| !b.is_ascii_digit())
        .map(|run| {
            let first_significant = run.iter().position(|&b| b != b'0').unwrap_or(run.len());
            &run[first_significant..]
        })
        .all(|number| number.len() < MAX.len() || (number.len() == MAX.len() && number <= MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_at_and_past_u64_max() {
        let cases: &[(&[u8], bool)] = &[
            (b"", true),
            (b"bytes=0-0", true),
            (b"bytes=18446744073709551615-18446744073709551615", true),
            (b"bytes=18446744073709551616-", false),
            (b"bytes=-18446744073709551616", false),
            (b"bytes=99999999999999999999-", false),
            (b"bytes=100000000000000000000-", false),
            (b"bytes=0000000000000000000000018446744073709551615-", true),
            (
                b"bytes=12777777-,77777777744674203544018829142-999999899999999999999",
                false,
            ),
            (b"lines=1-2", true),
        ];
        for (value, fits) in cases {
            assert_eq!(
                positions_fit_u64(value),
                *fits,
                "{}",
                String::from_utf8_lossy(value)
            );
        }
    }
}
