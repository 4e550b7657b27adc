//! Entity tags: parsing, formatting and comparison ([RFC 9110 §8.8.3]).
//!
//! ```text
//! entity-tag = [ weak ] opaque-tag
//! weak       = %s"W/"
//! opaque-tag = DQUOTE *etagc DQUOTE
//! etagc      = %x21 / %x23-7E / obs-text
//! ```
//!
//! [RFC 9110 §8.8.3]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3

use std::fmt;
use std::str::FromStr;

use http::HeaderValue;

/// An entity-tag: an opaque validator, strong or weak ([RFC 9110 §8.8.3]).
///
/// The opaque part is kept as bytes because `etagc` admits `obs-text`
/// (`%x80-FF`), which need not be UTF-8. Tags other servers send are kept
/// exactly, whatever their length.
///
/// ```
/// use revalidate_core::EntityTag;
///
/// let tag: EntityTag = "W/\"xyzzy\"".parse().unwrap();
/// assert!(tag.is_weak());
/// assert_eq!(tag.opaque(), b"xyzzy");
/// assert_eq!(tag.to_string(), "W/\"xyzzy\"");
/// ```
///
/// [RFC 9110 §8.8.3]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EntityTag {
    weak: bool,
    opaque: Box<[u8]>,
}

/// Why a value is not a valid entity-tag ([RFC 9110 §8.8.3]).
///
/// [RFC 9110 §8.8.3]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidEntityTag {
    /// The value does not start with `"` or `W/"`.
    MissingOpeningQuote,
    /// The value has no closing `"`.
    MissingClosingQuote,
    /// A byte inside the quotes is not an `etagc`: a control character,
    /// a space, or a `"`.
    InvalidCharacter {
        /// Offset of the offending byte in the opaque part.
        position: usize,
    },
    /// Something follows the closing quote.
    TrailingData,
}

impl fmt::Display for InvalidEntityTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingOpeningQuote => f.write_str("entity-tag must start with '\"' or 'W/\"'"),
            Self::MissingClosingQuote => f.write_str("entity-tag has no closing '\"'"),
            Self::InvalidCharacter { position } => write!(
                f,
                "entity-tag has a character that is not allowed at position {position} of its opaque part"
            ),
            Self::TrailingData => f.write_str("entity-tag has data after its closing '\"'"),
        }
    }
}

impl std::error::Error for InvalidEntityTag {}

/// `etagc = %x21 / %x23-7E / obs-text` ([RFC 9110 §8.8.3]).
///
/// [RFC 9110 §8.8.3]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3
#[inline]
pub(crate) const fn is_etagc(b: u8) -> bool {
    b == 0x21 || (b >= 0x23 && b != 0x7F)
}

/// Splits one entity-tag off the front of `input`; returns the tag's
/// weakness, its opaque bytes and the rest of the input.
#[inline]
pub(crate) fn split_entity_tag(input: &[u8]) -> Result<(bool, &[u8], &[u8]), InvalidEntityTag> {
    let (weak, quoted) = match input {
        [b'W', b'/', b'"', ..] => (true, &input[3..]),
        [b'"', ..] => (false, &input[1..]),
        _ => return Err(InvalidEntityTag::MissingOpeningQuote),
    };
    // The first byte that is not an `etagc` ends the opaque part: the
    // closing quote (`"` is not an `etagc`) or an invalid character.
    match first_non_etagc(quoted) {
        Some(end) if quoted[end] == b'"' => Ok((weak, &quoted[..end], &quoted[end + 1..])),
        Some(position) => Err(InvalidEntityTag::InvalidCharacter { position }),
        None => Err(InvalidEntityTag::MissingClosingQuote),
    }
}

/// The offset of the first byte of `bytes` that is not an `etagc`.
///
/// Eight bytes at a time, as one `u64` tested with the carry tricks below,
/// then byte by byte for the last few: a 32-digit tag and its closing
/// quote take four word tests and one byte test rather than a
/// compare-and-branch per byte.
#[inline]
fn first_non_etagc(bytes: &[u8]) -> Option<usize> {
    let mut words = bytes.chunks_exact(8);
    let mut start = 0;
    for word in words.by_ref() {
        let mut array = [0; 8];
        array.copy_from_slice(word);
        let flags = non_etagc_flags(u64::from_le_bytes(array));
        if flags != 0 {
            // The lowest flag is exact (see `non_etagc_flags`); little
            // endian puts the first byte lowest.
            return Some(start + flags.trailing_zeros() as usize / 8);
        }
        start += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| !is_etagc(b))
        .map(|offset| start + offset)
}

/// The high bit of each byte of `word` that is not an `etagc`: below
/// `0x21`, `"` (`0x22`) or DEL (`0x7F`); `obs-text` (`0x80`–`0xFF`) passes.
///
/// Borrows can flag a byte above one flagged rightly, never one below it,
/// so the lowest flag is always right; that is all
/// [`first_non_etagc`] uses.
#[inline]
const fn non_etagc_flags(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte below n (n ≤ 0x80) borrows into its high bit; `!word` drops
    // the bytes whose high bit was set already (obs-text).
    let below_0x21 = word.wrapping_sub(ONES * 0x21) & !word & HIGH;
    let quote = word ^ (ONES * 0x22);
    let quote = quote.wrapping_sub(ONES) & !quote & HIGH;
    let del = word ^ (ONES * 0x7F);
    let del = del.wrapping_sub(ONES) & !del & HIGH;
    below_0x21 | quote | del
}

impl EntityTag {
    /// A strong entity-tag with the given opaque part.
    ///
    /// Fails when `opaque` holds a byte that is not an `etagc` (a control
    /// character, a space, `"` or DEL).
    pub fn strong(opaque: impl AsRef<[u8]>) -> Result<Self, InvalidEntityTag> {
        Self::new(false, opaque.as_ref())
    }

    /// A weak entity-tag (`W/"…"`) with the given opaque part.
    ///
    /// Fails when `opaque` holds a byte that is not an `etagc`.
    pub fn weak(opaque: impl AsRef<[u8]>) -> Result<Self, InvalidEntityTag> {
        Self::new(true, opaque.as_ref())
    }

    fn new(weak: bool, opaque: &[u8]) -> Result<Self, InvalidEntityTag> {
        if let Some(position) = opaque.iter().position(|&b| !is_etagc(b)) {
            return Err(InvalidEntityTag::InvalidCharacter { position });
        }
        Ok(Self {
            weak,
            opaque: opaque.into(),
        })
    }

    /// Parses one entity-tag from a field value's bytes.
    ///
    /// Optional whitespace around the tag is allowed, as in any field value
    /// ([RFC 9110 §5.5]); nothing else is.
    ///
    /// [RFC 9110 §5.5]: https://www.rfc-editor.org/rfc/rfc9110#section-5.5
    pub fn parse(bytes: &[u8]) -> Result<Self, InvalidEntityTag> {
        let bytes = trim_ows(bytes);
        let (weak, opaque, rest) = split_entity_tag(bytes)?;
        if !rest.is_empty() {
            return Err(InvalidEntityTag::TrailingData);
        }
        Ok(Self {
            weak,
            opaque: opaque.into(),
        })
    }

    /// Parses the value of an `ETag` field ([RFC 9110 §8.8.3]).
    ///
    /// [RFC 9110 §8.8.3]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3
    pub fn from_header(value: &HeaderValue) -> Result<Self, InvalidEntityTag> {
        Self::parse(value.as_bytes())
    }

    /// Whether the tag carries the `W/` weakness indicator.
    pub fn is_weak(&self) -> bool {
        self.weak
    }

    /// Whether the tag is strong (no `W/`).
    pub fn is_strong(&self) -> bool {
        !self.weak
    }

    /// The opaque part, without quotes.
    pub fn opaque(&self) -> &[u8] {
        &self.opaque
    }

    /// The same tag with the `W/` indicator, as a cache or a compressing
    /// intermediary sends after transforming the content ([RFC 9110 §8.8.1]).
    ///
    /// [RFC 9110 §8.8.1]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.1
    pub fn into_weak(mut self) -> Self {
        self.weak = true;
        self
    }

    /// Strong comparison ([RFC 9110 §8.8.3.2]): both tags are strong and
    /// their opaque parts are identical byte for byte.
    ///
    /// [RFC 9110 §8.8.3.2]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3.2
    pub fn strong_eq(&self, other: &Self) -> bool {
        strong_match(self.weak, &self.opaque, other.weak, &other.opaque)
    }

    /// Weak comparison ([RFC 9110 §8.8.3.2]): the opaque parts are identical
    /// byte for byte, whatever either tag's weakness.
    ///
    /// [RFC 9110 §8.8.3.2]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3.2
    pub fn weak_eq(&self, other: &Self) -> bool {
        self.opaque == other.opaque
    }

    /// The field value for an `ETag` header.
    pub fn to_header_value(&self) -> HeaderValue {
        let mut out = Vec::with_capacity(self.opaque.len() + 4);
        if self.weak {
            out.extend_from_slice(b"W/");
        }
        out.push(b'"');
        out.extend_from_slice(&self.opaque);
        out.push(b'"');
        // Every byte is an etagc, `W`, `/` or `"`: all legal in a field value.
        HeaderValue::from_bytes(&out).unwrap_or_else(|_| HeaderValue::from_static("\"\""))
    }
}

/// "Two entity tags are equivalent if both are not weak and their opaque-tags
/// match character-by-character."
#[inline]
pub(crate) fn strong_match(a_weak: bool, a: &[u8], b_weak: bool, b: &[u8]) -> bool {
    !a_weak && !b_weak && a == b
}

impl FromStr for EntityTag {
    type Err = InvalidEntityTag;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s.as_bytes())
    }
}

impl TryFrom<&HeaderValue> for EntityTag {
    type Error = InvalidEntityTag;

    fn try_from(value: &HeaderValue) -> Result<Self, Self::Error> {
        Self::from_header(value)
    }
}

impl From<&EntityTag> for HeaderValue {
    fn from(tag: &EntityTag) -> Self {
        tag.to_header_value()
    }
}

impl From<EntityTag> for HeaderValue {
    fn from(tag: EntityTag) -> Self {
        tag.to_header_value()
    }
}

/// Writes the tag as it appears on the wire. Bytes of `obs-text` that are
/// not UTF-8 are written as U+FFFD; use [`EntityTag::to_header_value`] for
/// the exact bytes.
impl fmt::Display for EntityTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.weak {
            f.write_str("W/")?;
        }
        write!(f, "\"{}\"", String::from_utf8_lossy(&self.opaque))
    }
}

impl fmt::Debug for EntityTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Strips optional whitespace (`OWS = *( SP / HTAB )`) from both ends.
#[inline]
pub(crate) fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// The value of an `If-Match` or `If-None-Match` field: `*` or a list of
/// entity-tags ([RFC 9110 §13.1.1], [§13.1.2]).
///
/// The list may span several field lines, holds empty elements and commas
/// inside quoted tags, as the `#` list rule allows ([RFC 9110 §5.6.1]).
///
/// [RFC 9110 §13.1.1]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.1
/// [§13.1.2]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.2
/// [RFC 9110 §5.6.1]: https://www.rfc-editor.org/rfc/rfc9110#section-5.6.1
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntityTagList {
    /// `*`: any current representation.
    Any,
    /// One or more entity-tags.
    Tags(Vec<EntityTag>),
}

/// Why a field value is not a valid `If-Match`/`If-None-Match` list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidEntityTagList {
    /// The list has no element at all.
    Empty,
    /// `*` appears together with entity-tags or more than once.
    MisplacedWildcard,
    /// An element is not a valid entity-tag.
    Tag(InvalidEntityTag),
    /// Two elements are not separated by a comma.
    MissingComma,
}

impl fmt::Display for InvalidEntityTagList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("entity-tag list is empty"),
            Self::MisplacedWildcard => f.write_str("'*' must stand alone in an entity-tag list"),
            Self::Tag(e) => write!(f, "invalid entity-tag in list: {e}"),
            Self::MissingComma => f.write_str("entity-tags in a list must be separated by ','"),
        }
    }
}

impl std::error::Error for InvalidEntityTagList {}

impl From<InvalidEntityTag> for InvalidEntityTagList {
    fn from(e: InvalidEntityTag) -> Self {
        Self::Tag(e)
    }
}

/// What a valid list field holds, as found by [`scan_list`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ListShape {
    /// `*`.
    Any,
    /// One or more entity-tags (each reported to the visitor).
    Tags,
}

/// Walks an `If-Match`/`If-None-Match` field, spread over `lines`, without
/// allocating: `visit(weak, opaque)` sees every entity-tag in order. The
/// whole field is validated, so a visitor's result only counts when this
/// returns `Ok`.
pub(crate) fn scan_list<'a, I>(
    lines: I,
    mut visit: impl FnMut(bool, &'a [u8]),
) -> Result<ListShape, InvalidEntityTagList>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let mut any = false;
    let mut tags = false;
    for line in lines {
        let mut rest = line;
        // `#element` lists: "a recipient MUST accept empty list elements"
        // (RFC 9110 §5.6.1.2), so commas may stand alone.
        loop {
            rest = trim_ows(rest);
            while let [b',', tail @ ..] = rest {
                rest = trim_ows(tail);
            }
            if rest.is_empty() {
                break;
            }
            if let [b'*', tail @ ..] = rest {
                // `If-Match = "*" / #entity-tag`: the star stands alone.
                if any || tags {
                    return Err(InvalidEntityTagList::MisplacedWildcard);
                }
                any = true;
                rest = tail;
            } else {
                if any {
                    return Err(InvalidEntityTagList::MisplacedWildcard);
                }
                let (weak, opaque, tail) = split_entity_tag(rest)?;
                visit(weak, opaque);
                tags = true;
                rest = tail;
            }
            let tail = trim_ows(rest);
            match tail {
                [] => break,
                [b',', ..] => rest = tail,
                _ => return Err(InvalidEntityTagList::MissingComma),
            }
        }
    }
    match (any, tags) {
        (true, _) => Ok(ListShape::Any),
        (false, true) => Ok(ListShape::Tags),
        (false, false) => Err(InvalidEntityTagList::Empty),
    }
}

impl EntityTagList {
    /// Parses the combined value of every field line of one list field
    /// (`If-Match` or `If-None-Match`).
    ///
    /// ```
    /// use revalidate_core::{EntityTag, EntityTagList};
    ///
    /// let list = EntityTagList::parse_lines([&b"\"a,b\", W/\"c\""[..], b" , \"d\""]).unwrap();
    /// let EntityTagList::Tags(tags) = list else { panic!() };
    /// assert_eq!(tags.len(), 3);
    /// assert_eq!(tags[0].opaque(), b"a,b");
    /// ```
    pub fn parse_lines<'a, I>(lines: I) -> Result<Self, InvalidEntityTagList>
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let mut tags = Vec::new();
        match scan_list(lines, |weak, opaque| {
            tags.push(EntityTag {
                weak,
                opaque: opaque.into(),
            });
        })? {
            ListShape::Any => Ok(Self::Any),
            ListShape::Tags => Ok(Self::Tags(tags)),
        }
    }

    /// Parses a single field value.
    pub fn parse(bytes: &[u8]) -> Result<Self, InvalidEntityTagList> {
        Self::parse_lines([bytes])
    }

    /// Whether any listed tag matches `current` by weak comparison
    /// ([RFC 9110 §8.8.3.2]). `*` matches any tag.
    ///
    /// [RFC 9110 §8.8.3.2]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3.2
    pub fn weak_matches(&self, current: &EntityTag) -> bool {
        match self {
            Self::Any => true,
            Self::Tags(tags) => tags.iter().any(|t| t.weak_eq(current)),
        }
    }

    /// Whether any listed tag matches `current` by strong comparison
    /// ([RFC 9110 §8.8.3.2]). `*` matches any tag.
    ///
    /// [RFC 9110 §8.8.3.2]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3.2
    pub fn strong_matches(&self, current: &EntityTag) -> bool {
        match self {
            Self::Any => true,
            Self::Tags(tags) => tags.iter().any(|t| t.strong_eq(current)),
        }
    }

    /// The field value, with the tags joined by `, `.
    pub fn to_header_value(&self) -> HeaderValue {
        match self {
            Self::Any => HeaderValue::from_static("*"),
            Self::Tags(tags) => {
                let mut out = Vec::new();
                for (i, tag) in tags.iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(b", ");
                    }
                    out.extend_from_slice(tag.to_header_value().as_bytes());
                }
                HeaderValue::from_bytes(&out).unwrap_or_else(|_| HeaderValue::from_static("*"))
            }
        }
    }
}

#[cfg(feature = "serde")]
mod serde_impls {
    use super::EntityTag;
    use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

    /// Serialized as its header text, e.g. `"W/\"abc\""`.
    impl Serialize for EntityTag {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&self.to_string())
        }
    }

    impl<'de> Deserialize<'de> for EntityTag {
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
    fn empty_opaque_is_valid() {
        let tag = EntityTag::parse(b"\"\"").unwrap();
        assert!(tag.is_strong());
        assert_eq!(tag.opaque(), b"");
    }

    #[test]
    fn obs_text_is_kept() {
        let tag = EntityTag::parse(b"\"\xb3\xff\"").unwrap();
        assert_eq!(tag.opaque(), b"\xb3\xff");
        assert_eq!(tag.to_header_value().as_bytes(), b"\"\xb3\xff\"");
    }

    #[test]
    fn rejects_lowercase_weak_prefix_and_controls() {
        assert_eq!(
            EntityTag::parse(b"w/\"a\""),
            Err(InvalidEntityTag::MissingOpeningQuote)
        );
        assert_eq!(
            EntityTag::parse(b"\"\t\""),
            Err(InvalidEntityTag::InvalidCharacter { position: 0 })
        );
        assert_eq!(EntityTag::parse(b"\"a\"b"), Err(InvalidEntityTag::TrailingData));
        assert_eq!(
            EntityTag::parse(b"\"abc"),
            Err(InvalidEntityTag::MissingClosingQuote)
        );
        assert_eq!(
            EntityTag::parse(b"abc"),
            Err(InvalidEntityTag::MissingOpeningQuote)
        );
    }

    #[test]
    fn split_finds_the_closing_quote_or_bad_byte_at_every_offset() {
        // Offsets on both sides of the 16-byte blocks the scan tests at once.
        let etagc: Vec<u8> = (0..=255).filter(|&b| is_etagc(b)).collect();
        for len in 0..50 {
            let opaque: Vec<u8> = (0..len).map(|i| etagc[(i * 37) % etagc.len()]).collect();
            let mut closed = b"\"".to_vec();
            closed.extend_from_slice(&opaque);
            closed.extend_from_slice(b"\", x");
            assert_eq!(
                split_entity_tag(&closed),
                Ok((false, &opaque[..], &b", x"[..])),
                "len {len}"
            );
            let mut unclosed = b"W/\"".to_vec();
            unclosed.extend_from_slice(&opaque);
            assert_eq!(
                split_entity_tag(&unclosed),
                Err(InvalidEntityTag::MissingClosingQuote),
                "len {len}"
            );
            for bad in (0..=255).filter(|&b| !is_etagc(b) && b != b'"') {
                let mut invalid = closed.clone();
                invalid[1 + len] = bad;
                assert_eq!(
                    split_entity_tag(&invalid),
                    Err(InvalidEntityTag::InvalidCharacter { position: len }),
                    "len {len}, byte {bad:#x}"
                );
            }
        }
    }

    #[test]
    fn list_rejects_wildcard_mixed_with_tags() {
        assert_eq!(
            EntityTagList::parse(b"*, \"a\""),
            Err(InvalidEntityTagList::MisplacedWildcard)
        );
        assert_eq!(
            EntityTagList::parse_lines([&b"\"a\""[..], b"*"]),
            Err(InvalidEntityTagList::MisplacedWildcard)
        );
        assert_eq!(EntityTagList::parse(b" , ,"), Err(InvalidEntityTagList::Empty));
        assert_eq!(
            EntityTagList::parse(b"\"a\" \"b\""),
            Err(InvalidEntityTagList::MissingComma)
        );
    }
}
