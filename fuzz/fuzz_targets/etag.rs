//! Entity-tags ([RFC 9110 §8.8.3]): `EntityTag::parse`, `EntityTagList::parse`
//! / `parse_lines` (and through them the SWAR scanner `scan_list`), the
//! strong and weak comparisons, and the precondition evaluator's fast path
//! for a sole tag, against a byte-by-byte model of the grammar written here.
//!
//! Input: field lines separated by `\n`. The first line is also read as the
//! current representation's `ETag`; all lines together are an
//! `If-None-Match` / `If-Match` field.
//!
//! [RFC 9110 §8.8.3]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3
#![no_main]

use http::{HeaderMap, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;
use revalidate_core::{
    EntityTag, EntityTagList, HttpDate, InvalidEntityTag, InvalidEntityTagList, Outcome, Preconditions,
    Validators,
};

/// `etagc = %x21 / %x23-7E / obs-text`, spelled out range by range.
fn model_is_etagc(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x7E | 0x80..=0xFF)
}

fn model_trim_ows(mut s: &[u8]) -> &[u8] {
    while let Some((&first, rest)) = s.split_first() {
        if first == b' ' || first == b'\t' {
            s = rest;
        } else {
            break;
        }
    }
    while let Some((&last, rest)) = s.split_last() {
        if last == b' ' || last == b'\t' {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// One `entity-tag` read byte by byte from `input[at..]`: its weakness, its
/// opaque part and the index just past its closing quote.
fn model_tag_at(input: &[u8], at: usize) -> Result<(bool, Vec<u8>, usize), InvalidEntityTag> {
    let mut i = at;
    let mut weak = false;
    if input.get(i) == Some(&b'W') && input.get(i + 1) == Some(&b'/') && input.get(i + 2) == Some(&b'"') {
        weak = true;
        i += 2;
    }
    if input.get(i) != Some(&b'"') {
        return Err(InvalidEntityTag::MissingOpeningQuote);
    }
    i += 1;
    let mut opaque = Vec::new();
    loop {
        match input.get(i) {
            None => return Err(InvalidEntityTag::MissingClosingQuote),
            Some(b'"') => return Ok((weak, opaque, i + 1)),
            Some(&b) if model_is_etagc(b) => {
                opaque.push(b);
                i += 1;
            }
            Some(_) => {
                return Err(InvalidEntityTag::InvalidCharacter {
                    position: opaque.len(),
                });
            }
        }
    }
}

/// `OWS entity-tag OWS`, nothing else.
fn model_tag(input: &[u8]) -> Result<(bool, Vec<u8>), InvalidEntityTag> {
    let input = model_trim_ows(input);
    let (weak, opaque, end) = model_tag_at(input, 0)?;
    if end != input.len() {
        return Err(InvalidEntityTag::TrailingData);
    }
    Ok((weak, opaque))
}

#[derive(Debug, PartialEq, Eq)]
enum ModelList {
    Any,
    Tags(Vec<(bool, Vec<u8>)>),
}

/// `If-Match = "*" / #entity-tag` over several field lines, with the
/// recipient's list rule of RFC 9110 §5.6.1.2 (empty elements and OWS
/// around commas accepted), walked one byte at a time.
fn model_list(lines: &[&[u8]]) -> Result<ModelList, InvalidEntityTagList> {
    let mut any = false;
    let mut tags = Vec::new();
    for line in lines {
        // OWS at the end of a line is list syntax, not part of an element:
        // an unclosed tag there is missing its quote, not holding a space.
        let line = model_trim_ows(line);
        let mut i = 0;
        // true right after an element, until a comma separates it from the next.
        let mut need_comma = false;
        while i < line.len() {
            match line[i] {
                b' ' | b'\t' => i += 1,
                b',' => {
                    need_comma = false;
                    i += 1;
                }
                _ if need_comma => return Err(InvalidEntityTagList::MissingComma),
                b'*' => {
                    if any || !tags.is_empty() {
                        return Err(InvalidEntityTagList::MisplacedWildcard);
                    }
                    any = true;
                    need_comma = true;
                    i += 1;
                }
                _ => {
                    if any {
                        return Err(InvalidEntityTagList::MisplacedWildcard);
                    }
                    let (weak, opaque, end) = model_tag_at(line, i).map_err(InvalidEntityTagList::Tag)?;
                    tags.push((weak, opaque));
                    need_comma = true;
                    i = end;
                }
            }
        }
    }
    if any {
        Ok(ModelList::Any)
    } else if tags.is_empty() {
        Err(InvalidEntityTagList::Empty)
    } else {
        Ok(ModelList::Tags(tags))
    }
}

fn as_model(list: &EntityTagList) -> ModelList {
    match list {
        EntityTagList::Any => ModelList::Any,
        EntityTagList::Tags(tags) => {
            ModelList::Tags(tags.iter().map(|t| (t.is_weak(), t.opaque().to_vec())).collect())
        }
    }
}

fn check_tag(text: &[u8]) -> Option<EntityTag> {
    let parsed = EntityTag::parse(text);
    let model = model_tag(text);
    assert_eq!(
        parsed.as_ref().map(|t| (t.is_weak(), t.opaque().to_vec())),
        model.as_ref().map(|(w, o)| (*w, o.clone())),
        "EntityTag::parse disagrees with the model on {text:?}"
    );
    let tag = parsed.ok()?;
    // parse → format → parse.
    let formatted = tag.to_header_value();
    assert_eq!(
        EntityTag::from_header(&formatted).as_ref(),
        Ok(&tag),
        "round trip of {text:?}"
    );
    // The constructors accept exactly the opaque parts the parser yields.
    let rebuilt = if tag.is_weak() {
        EntityTag::weak(tag.opaque())
    } else {
        EntityTag::strong(tag.opaque())
    };
    assert_eq!(rebuilt.as_ref(), Ok(&tag));
    if let Ok(utf8) = std::str::from_utf8(formatted.as_bytes()) {
        assert_eq!(tag.to_string(), utf8);
        assert_eq!(utf8.parse::<EntityTag>().as_ref(), Ok(&tag));
    }
    // Comparison laws (RFC 9110 §8.8.3.2).
    let weak = tag.clone().into_weak();
    assert!(weak.is_weak() && weak.weak_eq(&tag) && !weak.strong_eq(&tag));
    assert_eq!(tag.strong_eq(&tag), tag.is_strong());
    assert!(tag.weak_eq(&tag));
    Some(tag)
}

fuzz_target!(|data: &[u8]| {
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let mut tags = Vec::new();
    for line in &lines {
        if let Some(tag) = check_tag(line) {
            tags.push(tag);
        }
    }
    // Pairwise comparisons against their definition.
    for a in &tags {
        for b in &tags {
            assert_eq!(a.weak_eq(b), a.opaque() == b.opaque());
            assert_eq!(
                a.strong_eq(b),
                a.is_strong() && b.is_strong() && a.opaque() == b.opaque()
            );
            assert_eq!(a.strong_eq(b), b.strong_eq(a));
            assert!(!a.strong_eq(b) || a.weak_eq(b));
        }
    }

    // The list parser, line by line and as one line.
    let parsed = EntityTagList::parse_lines(lines.iter().copied());
    let model = model_list(&lines);
    assert_eq!(
        parsed.as_ref().map(as_model).map_err(|e| *e),
        model,
        "EntityTagList::parse_lines disagrees with the model"
    );
    assert_eq!(
        EntityTagList::parse(lines[0]),
        EntityTagList::parse_lines([lines[0]])
    );
    if let Ok(list) = &parsed {
        // parse → format → parse.
        let formatted = list.to_header_value();
        assert_eq!(EntityTagList::parse(formatted.as_bytes()).as_ref(), Ok(list));
        for tag in &tags {
            let weak = match list {
                EntityTagList::Any => true,
                EntityTagList::Tags(listed) => listed.iter().any(|l| l.opaque() == tag.opaque()),
            };
            let strong = match list {
                EntityTagList::Any => true,
                EntityTagList::Tags(listed) => listed
                    .iter()
                    .any(|l| l.is_strong() && tag.is_strong() && l.opaque() == tag.opaque()),
            };
            assert_eq!(list.weak_matches(tag), weak);
            assert_eq!(list.strong_matches(tag), strong);
        }
    }

    // The evaluator scans the field itself (scan_list, or the fast path for a
    // sole line equal to the current tag): it must reach the model's answer.
    let Ok(values) = lines
        .iter()
        .map(|l| HeaderValue::from_bytes(l))
        .collect::<Result<Vec<_>, _>>()
    else {
        return;
    };
    let current = match EntityTag::parse(lines[0]) {
        Ok(tag) => Validators::new().with_etag(tag),
        Err(_) => Validators::new(),
    };
    let now = HttpDate::from_unix_seconds(1_700_000_000).unwrap();
    let matches = |strong: bool| match &model {
        Ok(ModelList::Any) => true,
        Ok(ModelList::Tags(listed)) => current.etag().is_some_and(|etag| {
            listed
                .iter()
                .any(|(weak, opaque)| opaque == etag.opaque() && (!strong || (!*weak && etag.is_strong())))
        }),
        Err(_) => false,
    };
    let mut if_none_match = HeaderMap::new();
    let mut if_match = HeaderMap::new();
    for value in &values {
        if_none_match.append(http::header::IF_NONE_MATCH, value.clone());
        if_match.append(http::header::IF_MATCH, value.clone());
    }
    // §13.1.2: weak comparison; an invalid field matches nothing.
    let expected = if matches(false) {
        Outcome::NotModified
    } else {
        Outcome::Proceed
    };
    assert_eq!(
        Preconditions::from_headers(&if_none_match).evaluate(&Method::GET, &current, now),
        expected,
        "If-None-Match"
    );
    // §13.1.1: strong comparison; an invalid field fails (the crate's policy).
    let expected = if matches(true) {
        Outcome::Proceed
    } else {
        Outcome::PreconditionFailed
    };
    assert_eq!(
        Preconditions::from_headers(&if_match).evaluate(&Method::PUT, &current, now),
        expected,
        "If-Match"
    );
});
