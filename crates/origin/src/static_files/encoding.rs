//! `Accept-Encoding` negotiation ([RFC 9110 §12.5.3]). Pure.
//!
//! [RFC 9110 §12.5.3]: https://www.rfc-editor.org/rfc/rfc9110#section-12.5.3

use http::HeaderValue;

/// A content coding this server can send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Coding {
    /// `br` ([RFC 7932](https://www.rfc-editor.org/rfc/rfc7932)).
    Brotli,
    /// `zstd` ([RFC 8878](https://www.rfc-editor.org/rfc/rfc8878)).
    Zstd,
    /// `gzip` ([RFC 9110 §8.4.1.3](https://www.rfc-editor.org/rfc/rfc9110#section-8.4.1.3)).
    Gzip,
}

impl Coding {
    /// Server preference when the client weighs codings equally: smallest
    /// output first.
    pub const ALL: [Coding; 3] = [Coding::Brotli, Coding::Zstd, Coding::Gzip];

    /// The token in `Accept-Encoding` and `Content-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Brotli => "br",
            Coding::Zstd => "zstd",
            Coding::Gzip => "gzip",
        }
    }

    /// The file-name suffix of a precompressed sibling (`app.js.gz`).
    pub fn extension(self) -> &'static str {
        match self {
            Coding::Brotli => "br",
            Coding::Zstd => "zst",
            Coding::Gzip => "gz",
        }
    }

    pub(crate) fn header_value(self) -> HeaderValue {
        HeaderValue::from_static(self.token())
    }
}

/// The rank of an identity the client did not weigh: acceptable, below
/// any coding it named with a non-zero weight (the stable sort keeps
/// identity after a coding of weight 0.001).
const IMPLICIT_IDENTITY: u16 = 1;

/// The qualities (in thousandths) the client gave each coding we can send
/// and `identity`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AcceptEncoding {
    brotli: u16,
    zstd: u16,
    gzip: u16,
    identity: u16,
}

impl AcceptEncoding {
    /// Reads the request's `Accept-Encoding` with the core's parser
    /// ([`revalidate_core::accept_encoding`]: valid weights only, `x-gzip`
    /// as `gzip`, a coding's highest listing).
    ///
    /// Without the field we send `identity`: §12.5.3 lets us pick any
    /// coding then, but clients that do not ask rarely expect one.
    pub(crate) fn from_request(request: &http::HeaderMap) -> Self {
        let field = revalidate_core::accept_encoding::AcceptEncoding::from_headers(request);
        let seen_any = field.is_present();
        let mut explicit: [Option<u16>; 4] = [None; 4];
        let mut star: Option<u16> = None;
        for (coding, quality) in field.members() {
            let slot = if coding.eq_ignore_ascii_case("br") {
                Some(0)
            } else if coding.eq_ignore_ascii_case("zstd") {
                Some(1)
            } else if coding.eq_ignore_ascii_case("gzip") {
                Some(2)
            } else if coding.eq_ignore_ascii_case("identity") {
                Some(3)
            } else {
                if coding == "*" {
                    star = Some(star.map_or(quality, |q| q.max(quality)));
                }
                None
            };
            if let Some(slot) = slot {
                // The highest weight wins when a coding is listed twice.
                explicit[slot] = Some(explicit[slot].map_or(quality, |q| q.max(quality)));
            }
        }
        if !seen_any {
            return Self {
                brotli: 0,
                zstd: 0,
                gzip: 0,
                identity: IMPLICIT_IDENTITY,
            };
        }
        let others = star.unwrap_or(0);
        Self {
            brotli: explicit[0].unwrap_or(others),
            zstd: explicit[1].unwrap_or(others),
            gzip: explicit[2].unwrap_or(others),
            // §12.5.3: identity is acceptable "unless specifically excluded
            // by the Accept-Encoding header field stating either
            // "identity;q=0" or "*;q=0" without a more specific entry for
            // "identity"".
            // Acceptable but unweighted: ranked after every coding the
            // client named, so `gzip;q=0.8` still gets gzip.
            identity: explicit[3].unwrap_or(if star == Some(0) { 0 } else { IMPLICIT_IDENTITY }),
        }
    }

    fn quality(&self, coding: Option<Coding>) -> u16 {
        match coding {
            Some(Coding::Brotli) => self.brotli,
            Some(Coding::Zstd) => self.zstd,
            Some(Coding::Gzip) => self.gzip,
            None => self.identity,
        }
    }

    /// Acceptable codings (`None` is identity), best first: by the
    /// client's weight, then by server preference, identity last among
    /// equals.
    pub(crate) fn ranked(&self) -> RankedCodings {
        if self.brotli == 0 && self.zstd == 0 && self.gzip == 0 {
            // No coding wanted (no `Accept-Encoding` at all, most often):
            // identity or nothing, without sorting.
            return RankedCodings {
                items: [None; 4],
                len: usize::from(self.identity > 0),
            };
        }
        let mut items = [Some(Coding::Brotli), Some(Coding::Zstd), Some(Coding::Gzip), None];
        // A stable sort keeps the server order among equal weights.
        items.sort_by_key(|coding| std::cmp::Reverse(self.quality(*coding)));
        let len = items.iter().filter(|c| self.quality(**c) > 0).count();
        RankedCodings { items, len }
    }
}

/// The output of [`AcceptEncoding::ranked`], without allocating.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RankedCodings {
    items: [Option<Coding>; 4],
    len: usize,
}

impl RankedCodings {
    pub(crate) fn as_slice(&self) -> &[Option<Coding>] {
        &self.items[..self.len]
    }

    /// The compressed codings ranked above identity (all of them when
    /// identity is not acceptable).
    pub(crate) fn preferred_over_identity(&self) -> impl Iterator<Item = Coding> + '_ {
        self.as_slice().iter().map_while(|c| *c)
    }

    pub(crate) fn identity_acceptable(&self) -> bool {
        self.as_slice().contains(&None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranked(value: Option<&str>) -> Vec<Option<Coding>> {
        let mut request = http::HeaderMap::new();
        if let Some(value) = value {
            request.insert(
                http::header::ACCEPT_ENCODING,
                HeaderValue::from_str(value).unwrap(),
            );
        }
        AcceptEncoding::from_request(&request)
            .ranked()
            .as_slice()
            .to_vec()
    }

    #[test]
    fn table() {
        use Coding::*;
        let cases: &[(Option<&str>, &[Option<Coding>])] = &[
            (None, &[None]),
            (Some(""), &[None]),
            (Some("gzip"), &[Some(Gzip), None]),
            (
                Some("gzip, deflate, br, zstd"),
                &[Some(Brotli), Some(Zstd), Some(Gzip), None],
            ),
            (Some("gzip;q=1.0, br;q=0.5"), &[Some(Gzip), Some(Brotli), None]),
            (Some("br;q=0.5, gzip;q=0.8"), &[Some(Gzip), Some(Brotli), None]),
            (Some("gzip;q=0.001"), &[Some(Gzip), None]),
            (Some("br;q=0.5, identity"), &[None, Some(Brotli)]),
            (Some("identity;q=0"), &[]),
            (Some("*;q=0"), &[]),
            (Some("*;q=0, identity"), &[None]),
            (Some("*"), &[Some(Brotli), Some(Zstd), Some(Gzip), None]),
            (Some("*, br;q=0"), &[Some(Zstd), Some(Gzip), None]),
            (Some("x-gzip"), &[Some(Gzip), None]),
            (Some("GZIP;Q=0.8, zstd;q=0.9"), &[Some(Zstd), Some(Gzip), None]),
            (Some("gzip;q=2"), &[None]),
            (Some("gzip;q=0.1234"), &[None]),
            (Some("gzip;q=0"), &[None]),
        ];
        for (header, expected) in cases {
            assert_eq!(ranked(*header), *expected, "{header:?}");
        }
    }
}
