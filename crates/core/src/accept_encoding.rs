//! `Accept-Encoding` ([RFC 9110 §12.5.3]): the field's members and their
//! weights, read one way for every shell (the origin ranks its
//! precompressed and compressed variants by it; the tower layer checks
//! whether a coded variant's tag stands for what a request accepts).
//!
//! - A member is `codings [ weight ]`, `weight = OWS ";" OWS "q=" qvalue`;
//!   other parameters are passed over; a member whose weight
//!   is not a valid `qvalue` ([RFC 9110 §12.4.2]: `0` to `1` with at most
//!   three decimals) is skipped rather than read as 1, so a typo never
//!   turns a refusal into a preference.
//! - Codings compare case-insensitively (§8.4.1); `x-gzip` is `gzip` and
//!   `x-compress` is `compress` (§8.4.1.1, §8.4.1.3: "A recipient SHOULD
//!   consider "x-gzip" to be equivalent to "gzip"").
//! - A coding listed twice weighs as its highest listing.
//! - Without the field, [`AcceptEncoding::weight`] is
//!   [`Weight::Unlisted`] for every coding: §12.5.3 would let a server send
//!   any, but a client that does not ask rarely expects one, and both
//!   servers (like compression layers) then send `identity`.
//!
//! [RFC 9110 §12.5.3]: https://www.rfc-editor.org/rfc/rfc9110#section-12.5.3
//! [RFC 9110 §12.4.2]: https://www.rfc-editor.org/rfc/rfc9110#section-12.4.2

use http::HeaderMap;
use http::header::ACCEPT_ENCODING;

/// A request's `Accept-Encoding` field lines, read on demand (nothing is
/// parsed or allocated until asked).
#[derive(Clone, Copy, Debug)]
pub struct AcceptEncoding<'a> {
    headers: &'a HeaderMap,
}

/// How a request weighs one content coding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weight {
    /// Listed by name, with this weight in thousandths (0 refuses it).
    Listed(u16),
    /// Not listed by name, but `*` was, with this weight.
    Star(u16),
    /// Neither listed nor covered by `*` (or no field at all).
    Unlisted,
}

impl Weight {
    /// Whether the coding is acceptable: listed, or covered by `*`, with a
    /// weight above 0.
    pub fn accepts(self) -> bool {
        matches!(self, Self::Listed(q) | Self::Star(q) if q > 0)
    }
}

impl<'a> AcceptEncoding<'a> {
    /// The field of a request.
    pub fn from_headers(headers: &'a HeaderMap) -> Self {
        Self { headers }
    }

    /// Whether the request has the field at all.
    pub fn is_present(&self) -> bool {
        self.headers.contains_key(ACCEPT_ENCODING)
    }

    /// Every member with a valid weight, in order: the coding (`x-gzip` and
    /// `x-compress` as `gzip` and `compress`, others as written) and its
    /// weight in thousandths (1000 when none is given). Lines that are not
    /// visible ASCII are skipped.
    pub fn members(&self) -> impl Iterator<Item = (&'a str, u16)> + 'a {
        self.headers
            .get_all(ACCEPT_ENCODING)
            .iter()
            .filter_map(|line| line.to_str().ok())
            .flat_map(|text| text.split(','))
            .filter_map(member)
    }

    /// How the request weighs `coding` (compared case-insensitively, with
    /// `x-gzip` as `gzip`): its highest listing, else `*`'s, else
    /// [`Weight::Unlisted`].
    pub fn weight(&self, coding: &str) -> Weight {
        let coding = canonical(coding);
        let mut named: Option<u16> = None;
        let mut star: Option<u16> = None;
        for (member, quality) in self.members() {
            if member.eq_ignore_ascii_case(coding) {
                named = Some(named.map_or(quality, |q| q.max(quality)));
            } else if member == "*" {
                star = Some(star.map_or(quality, |q| q.max(quality)));
            }
        }
        match (named, star) {
            (Some(q), _) => Weight::Listed(q),
            (None, Some(q)) => Weight::Star(q),
            (None, None) => Weight::Unlisted,
        }
    }
}

/// One member of the list: `None` when empty or when its weight is invalid.
fn member(text: &str) -> Option<(&str, u16)> {
    let mut parts = text.split(';');
    let coding = parts.next()?.trim_matches([' ', '\t']);
    if coding.is_empty() {
        return None;
    }
    let mut quality = 1000;
    for parameter in parts {
        // A parameter other than `q` means nothing for a coding; one
        // without a value is passed over like it.
        let Some((name, value)) = parameter.split_once('=') else {
            continue;
        };
        if name.trim_matches([' ', '\t']).eq_ignore_ascii_case("q") {
            quality = qvalue(value.trim_matches([' ', '\t']))?;
        }
    }
    Some((canonical(coding), quality))
}

/// §8.4.1.1 and §8.4.1.3: the registered names of the two `x-` aliases.
fn canonical(coding: &str) -> &str {
    if coding.eq_ignore_ascii_case("x-gzip") {
        "gzip"
    } else if coding.eq_ignore_ascii_case("x-compress") {
        "compress"
    } else {
        coding
    }
}

/// A `qvalue` ([RFC 9110 §12.4.2]: `( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "."
/// 0*3("0") ] )`) in thousandths.
///
/// ```
/// use revalidate_core::accept_encoding::qvalue;
///
/// assert_eq!(qvalue("0.5"), Some(500));
/// assert_eq!(qvalue("1.000"), Some(1000));
/// assert_eq!(qvalue("0"), Some(0));
/// assert_eq!(qvalue("1.5"), None);
/// assert_eq!(qvalue("0.0001"), None);
/// assert_eq!(qvalue(".5"), None);
/// ```
///
/// [RFC 9110 §12.4.2]: https://www.rfc-editor.org/rfc/rfc9110#section-12.4.2
pub fn qvalue(text: &str) -> Option<u16> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = frac
        .bytes()
        .zip([100u16, 10, 1])
        .map(|(digit, scale)| u16::from(digit - b'0') * scale)
        .sum::<u16>();
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn field(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(ACCEPT_ENCODING, HeaderValue::from_str(line).unwrap());
        }
        headers
    }

    /// §12.5.3 and the rules in the module docs.
    #[test]
    fn weights() {
        use Weight::{Listed, Star, Unlisted};
        let cases: &[(&[&str], &str, Weight)] = &[
            (&[], "gzip", Unlisted),
            (&["gzip"], "gzip", Listed(1000)),
            (&["GZIP;q=0.5"], "gzip", Listed(500)),
            (&["gzip;Q=0.5"], "gzip", Listed(500)),
            (&["gzip ; q=0.25"], "gzip", Listed(250)),
            (&["gzip;q=0"], "gzip", Listed(0)),
            (&["br, gzip;q=0"], "gzip", Listed(0)),
            (&["x-gzip"], "gzip", Listed(1000)),
            (&["gzip"], "x-gzip", Listed(1000)),
            (&["x-compress;q=0.1"], "compress", Listed(100)),
            (&["*"], "br", Star(1000)),
            (&["*, br;q=0"], "br", Listed(0)),
            (&["*;q=0"], "zstd", Star(0)),
            (&["gzip;q=0.2", "gzip;q=0.7"], "gzip", Listed(700)),
            // An invalid weight skips the member, it does not count as 1.
            (&["gzip;q=2"], "gzip", Unlisted),
            (&["gzip;q=high, *;q=0.1"], "gzip", Star(100)),
            (&["gzip;level"], "gzip", Listed(1000)),
            (&["deflate"], "gzip", Unlisted),
            // "x-" is an alias only for the two registered ones.
            (&["x-br"], "br", Unlisted),
            (&[",, gzip ,"], "gzip", Listed(1000)),
        ];
        for (lines, coding, expected) in cases {
            let headers = field(lines);
            let got = AcceptEncoding::from_headers(&headers).weight(coding);
            assert_eq!(got, *expected, "{lines:?} {coding}");
        }
    }

    #[test]
    fn acceptance() {
        assert!(Weight::Listed(1).accepts());
        assert!(Weight::Star(1000).accepts());
        assert!(!Weight::Listed(0).accepts());
        assert!(!Weight::Star(0).accepts());
        assert!(!Weight::Unlisted.accepts());
    }

    #[test]
    fn members_in_order() {
        let headers = field(&["br;q=0.9, x-gzip", "identity;q=0, *;q=0.1, zstd;q=bad"]);
        let members: Vec<_> = AcceptEncoding::from_headers(&headers).members().collect();
        assert_eq!(
            members,
            [("br", 900), ("gzip", 1000), ("identity", 0), ("*", 100)]
        );
        assert!(AcceptEncoding::from_headers(&headers).is_present());
        assert!(!AcceptEncoding::from_headers(&HeaderMap::new()).is_present());
    }
}
