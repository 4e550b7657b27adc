//! Entity-tags: RFC 9110 §8.8.3 grammar and the §8.8.3.2 comparison table.

use revalidate_core::{EntityTag, EntityTagList, InvalidEntityTag, InvalidEntityTagList};

use crate::support::{headers_raw, strong, weak};

/// RFC 9110 §8.8.3: `ETag: "xyzzy"`, `ETag: W/"xyzzy"`, `ETag: ""`.
#[test]
fn rfc9110_8_8_3_examples_parse() {
    let cases: &[(&str, bool, &[u8])] = &[
        ("\"xyzzy\"", false, b"xyzzy"),
        ("W/\"xyzzy\"", true, b"xyzzy"),
        ("\"\"", false, b""),
    ];
    for &(text, is_weak, opaque) in cases {
        let tag: EntityTag = text.parse().unwrap();
        assert_eq!(tag.is_weak(), is_weak, "{text}");
        assert_eq!(tag.opaque(), opaque, "{text}");
        assert_eq!(tag.to_string(), text);
        assert_eq!(tag.to_header_value().as_bytes(), text.as_bytes());
    }
}

/// RFC 9110 §8.8.3.2, the table of comparisons:
///
/// | ETag 1 | ETag 2 | Strong Comparison | Weak Comparison |
/// |--------|--------|-------------------|-----------------|
/// | W/"1"  | W/"1"  | no match          | match           |
/// | W/"1"  | W/"2"  | no match          | no match        |
/// | W/"1"  | "1"    | no match          | match           |
/// | "1"    | "1"    | match             | match           |
#[test]
fn rfc9110_8_8_3_2_comparison_table() {
    let table = [
        ("W/\"1\"", "W/\"1\"", false, true),
        ("W/\"1\"", "W/\"2\"", false, false),
        ("W/\"1\"", "\"1\"", false, true),
        ("\"1\"", "\"1\"", true, true),
    ];
    for (a, b, strong_match, weak_match) in table {
        let (a, b): (EntityTag, EntityTag) = (a.parse().unwrap(), b.parse().unwrap());
        assert_eq!(a.strong_eq(&b), strong_match, "strong {a} vs {b}");
        assert_eq!(b.strong_eq(&a), strong_match, "strong {b} vs {a}");
        assert_eq!(a.weak_eq(&b), weak_match, "weak {a} vs {b}");
        assert_eq!(b.weak_eq(&a), weak_match, "weak {b} vs {a}");
    }
}

/// Invalid entity-tags are typed errors, never panics.
#[test]
fn invalid_entity_tags() {
    let cases: &[(&[u8], InvalidEntityTag)] = &[
        (b"", InvalidEntityTag::MissingOpeningQuote),
        (b"xyzzy", InvalidEntityTag::MissingOpeningQuote),
        (b"w/\"xyzzy\"", InvalidEntityTag::MissingOpeningQuote),
        (b"W/xyzzy", InvalidEntityTag::MissingOpeningQuote),
        (b"'xyzzy'", InvalidEntityTag::MissingOpeningQuote),
        (b"\"xyzzy", InvalidEntityTag::MissingClosingQuote),
        (b"W/\"", InvalidEntityTag::MissingClosingQuote),
        (b"\"xy zzy\"", InvalidEntityTag::InvalidCharacter { position: 2 }),
        (
            b"\"xy\x7fzzy\"",
            InvalidEntityTag::InvalidCharacter { position: 2 },
        ),
        (b"\"\x01\"", InvalidEntityTag::InvalidCharacter { position: 0 }),
        (b"\"xyzzy\"x", InvalidEntityTag::TrailingData),
        (b"\"a\", \"b\"", InvalidEntityTag::TrailingData),
    ];
    for (bytes, error) in cases {
        assert_eq!(
            EntityTag::parse(bytes),
            Err(*error),
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    assert!(EntityTag::strong("a b").is_err());
    assert!(EntityTag::weak("a\"b").is_err());
}

/// Whitespace around a field value is not part of it (RFC 9110 §5.5).
#[test]
fn surrounding_whitespace_is_ignored() {
    assert_eq!(EntityTag::parse(b" \t\"a\" ").unwrap(), strong("a"));
}

/// RFC 9110 §13.1.1 and §13.1.2 examples, and the `#` list rules of §5.6.1:
/// commas inside quotes, empty elements, several field lines.
#[test]
fn entity_tag_lists() {
    type Case<'a> = (&'a [&'a [u8]], Result<EntityTagList, InvalidEntityTagList>);
    let cases: &[Case<'_>] = &[
        (&[b"\"xyzzy\""], Ok(EntityTagList::Tags(vec![strong("xyzzy")]))),
        (
            &[b"\"xyzzy\", \"r2d2xxxx\", \"c3piozzzz\""],
            Ok(EntityTagList::Tags(vec![
                strong("xyzzy"),
                strong("r2d2xxxx"),
                strong("c3piozzzz"),
            ])),
        ),
        (
            &[b"W/\"xyzzy\", W/\"r2d2xxxx\", W/\"c3piozzzz\""],
            Ok(EntityTagList::Tags(vec![
                weak("xyzzy"),
                weak("r2d2xxxx"),
                weak("c3piozzzz"),
            ])),
        ),
        (&[b"*"], Ok(EntityTagList::Any)),
        (&[b" * "], Ok(EntityTagList::Any)),
        (
            &[b"\"a,b\",W/\"c,d\""],
            Ok(EntityTagList::Tags(vec![strong("a,b"), weak("c,d")])),
        ),
        (
            &[b", ,\"a\",,  ,\"b\","],
            Ok(EntityTagList::Tags(vec![strong("a"), strong("b")])),
        ),
        (
            &[b"\"a\"", b"W/\"b\""],
            Ok(EntityTagList::Tags(vec![strong("a"), weak("b")])),
        ),
        (&[b"\"a\"", b""], Ok(EntityTagList::Tags(vec![strong("a")]))),
        (&[b""], Err(InvalidEntityTagList::Empty)),
        (&[b",,"], Err(InvalidEntityTagList::Empty)),
        (&[b"*, *"], Err(InvalidEntityTagList::MisplacedWildcard)),
        (&[b"*", b"\"a\""], Err(InvalidEntityTagList::MisplacedWildcard)),
        (&[b"\"a\" \"b\""], Err(InvalidEntityTagList::MissingComma)),
        (&[b"\"a\"b"], Err(InvalidEntityTagList::MissingComma)),
        (
            &[b"a, b"],
            Err(InvalidEntityTagList::Tag(InvalidEntityTag::MissingOpeningQuote)),
        ),
        (
            &[b"\"a"],
            Err(InvalidEntityTagList::Tag(InvalidEntityTag::MissingClosingQuote)),
        ),
    ];
    for (lines, expected) in cases {
        let got = EntityTagList::parse_lines(lines.iter().copied());
        assert_eq!(&got, expected, "{lines:?}");
    }
}

#[test]
fn list_matching_uses_the_named_comparison() {
    let list = EntityTagList::parse(b"W/\"a\", \"b\"").unwrap();
    assert!(list.weak_matches(&strong("a")));
    assert!(!list.strong_matches(&strong("a")));
    assert!(list.strong_matches(&strong("b")));
    assert!(!list.strong_matches(&weak("b")));
    assert!(EntityTagList::Any.strong_matches(&weak("z")));
    assert_eq!(list.to_header_value(), "W/\"a\", \"b\"");
}

/// Field values from a real header map, including obs-text bytes.
#[test]
fn obs_text_tags_survive_header_maps() {
    let map = headers_raw(&[("etag", b"\"caf\xe9\"")]);
    let tag = EntityTag::from_header(map.get("etag").unwrap()).unwrap();
    assert_eq!(tag.opaque(), b"caf\xe9");
    assert_eq!(tag.to_header_value().as_bytes(), b"\"caf\xe9\"");
    assert_eq!(tag.to_string(), "\"caf\u{fffd}\"");
}
