//! `Cache-Control` ([RFC 9111 §5.2]) and `CDN-Cache-Control` ([RFC 9213]):
//! `ResponseDirectives::from_lines` / `from_targeted_lines`,
//! `RequestDirectives::from_headers` (with `Pragma`), `delta_seconds`.
//!
//! Properties:
//! - parse → format → parse gives the same directives, for both syntaxes
//!   and for requests;
//! - a targeted field parses exactly when the `sfv` crate (RFC 8941) parses
//!   it as a non-empty Dictionary, and means what `sfv`'s Dictionary means
//!   when mapped onto the directives here;
//! - names are case-insensitive (upper-casing the field changes nothing);
//!   field lines combine as one comma-separated list (§5.3 of RFC 9110);
//! - `Pragma: no-cache` counts only without `Cache-Control`;
//! - `delta_seconds` is `1*DIGIT`, capped at 2^31 (§1.2.2).
//!
//! Input: three sections separated by a NUL byte — `Cache-Control` lines,
//! `CDN-Cache-Control` lines, `Pragma` lines — each split at `\n`.
//!
//! [RFC 9111 §5.2]: https://www.rfc-editor.org/rfc/rfc9111#section-5.2
//! [RFC 9213]: https://www.rfc-editor.org/rfc/rfc9213
#![no_main]

use std::fmt::Write;

use http::header::{CACHE_CONTROL, PRAGMA};
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use revalidate_core::cache::directives::{DELTA_SECONDS_MAX, delta_seconds};
use revalidate_core::cache::{
    CDN_CACHE_CONTROL, CacheConfig, FieldNames, MaxStale, RequestDirectives, ResponseDirectives,
};

/// `1*DIGIT`, read digit by digit and held at 2^31.
fn model_delta_seconds(text: &str) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for b in text.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        value = (value * 10 + u64::from(b - b'0')).min(DELTA_SECONDS_MAX);
    }
    Some(value)
}

fn names_text(names: &[HeaderName]) -> String {
    names
        .iter()
        .map(HeaderName::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The directives as a `Cache-Control` field value.
fn format_response(d: &ResponseDirectives) -> String {
    let mut out = Vec::new();
    let mut seconds = |name: &str, v: Option<u64>| {
        if let Some(v) = v {
            out.push(format!("{name}={v}"));
        }
    };
    seconds("max-age", d.max_age);
    seconds("s-maxage", d.s_maxage);
    seconds("stale-while-revalidate", d.stale_while_revalidate);
    seconds("stale-if-error", d.stale_if_error);
    for (name, names) in [("no-cache", &d.no_cache), ("private", &d.private)] {
        match names {
            Some(FieldNames::All) => out.push(name.to_owned()),
            Some(FieldNames::Only(list)) => out.push(format!("{name}=\"{}\"", names_text(list))),
            None => {}
        }
    }
    for (name, on) in [
        ("no-store", d.no_store),
        ("public", d.public),
        ("must-revalidate", d.must_revalidate),
        ("proxy-revalidate", d.proxy_revalidate),
        ("must-understand", d.must_understand),
        ("no-transform", d.no_transform),
        ("immutable", d.immutable),
    ] {
        if on {
            out.push(name.to_owned());
        }
    }
    out.join(", ")
}

/// The directives as a Structured Field Dictionary (RFC 9213 §2).
fn format_targeted(d: &ResponseDirectives) -> String {
    let mut out = String::new();
    let mut member = |text: &str| {
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str(text);
    };
    for (name, v) in [
        ("max-age", d.max_age),
        ("s-maxage", d.s_maxage),
        ("stale-while-revalidate", d.stale_while_revalidate),
        ("stale-if-error", d.stale_if_error),
    ] {
        if let Some(v) = v {
            member(&format!("{name}={v}"));
        }
    }
    // One as an Inner List of Strings, the other as one String.
    match &d.no_cache {
        Some(FieldNames::All) => member("no-cache"),
        Some(FieldNames::Only(list)) => {
            let mut text = String::from("no-cache=(");
            for (i, name) in list.iter().enumerate() {
                let _ = write!(text, "{}\"{}\"", if i == 0 { "" } else { " " }, name.as_str());
            }
            text.push(')');
            member(&text);
        }
        None => {}
    }
    match &d.private {
        Some(FieldNames::All) => member("private"),
        Some(FieldNames::Only(list)) => member(&format!("private=\"{}\"", names_text(list))),
        None => {}
    }
    for (name, on) in [
        ("no-store", d.no_store),
        ("public", d.public),
        ("must-revalidate", d.must_revalidate),
        ("proxy-revalidate", d.proxy_revalidate),
        ("must-understand", d.must_understand),
        ("no-transform", d.no_transform),
        ("immutable", d.immutable),
    ] {
        if on {
            member(name);
        }
    }
    out
}

fn format_request(d: &RequestDirectives) -> String {
    let mut out = Vec::new();
    if let Some(v) = d.max_age {
        out.push(format!("max-age={v}"));
    }
    match d.max_stale {
        Some(MaxStale::Any) => out.push("max-stale".to_owned()),
        Some(MaxStale::Seconds(v)) => out.push(format!("max-stale={v}")),
        None => {}
    }
    if let Some(v) = d.min_fresh {
        out.push(format!("min-fresh={v}"));
    }
    if let Some(v) = d.stale_if_error {
        out.push(format!("stale-if-error={v}"));
    }
    for (name, on) in [
        ("no-cache", d.no_cache),
        ("no-store", d.no_store),
        ("only-if-cached", d.only_if_cached),
    ] {
        if on {
            out.push(name.to_owned());
        }
    }
    out.join(", ")
}

/// Whether each line leaves no quoted string open, so that joining the
/// lines with commas cannot change where elements end.
fn quotes_balanced(line: &[u8]) -> bool {
    let (mut quoted, mut escaped) = (false, false);
    for &b in line {
        if escaped {
            escaped = false;
        } else if quoted && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            quoted = !quoted;
        }
    }
    !quoted
}

fn field_names_of(text: &str) -> FieldNames {
    let names: Vec<HeaderName> = text
        .split(',')
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    if names.is_empty() {
        FieldNames::All
    } else {
        FieldNames::Only(names)
    }
}

/// The slow path for targeted fields: `sfv`'s RFC 8941 Dictionary, mapped
/// onto the directives. `Err(true)` when `sfv` refused only a Byte Sequence
/// that is not valid base64, which RFC 8941 §4.2.7 lets a parser either
/// refuse or accept.
fn targeted_by_sfv(lines: &[&[u8]]) -> Result<Option<ResponseDirectives>, bool> {
    if lines.is_empty() {
        return Ok(None);
    }
    let combined = lines.join(&b", "[..]);
    let dictionary: sfv::Dictionary = match sfv::Parser::new(&combined)
        .with_version(sfv::Version::Rfc8941)
        .parse()
    {
        Ok(dictionary) => dictionary,
        Err(error) => return Err(error.to_string().contains("byte sequence")),
    };
    if dictionary.is_empty() {
        return Ok(None);
    }
    let get = |name: &str| {
        dictionary
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, v)| v)
    };
    let is_false = |entry: &sfv::ListEntry| matches!(entry, sfv::ListEntry::Item(item) if item.bare_item == sfv::BareItem::Boolean(false));
    let flag = |name: &str| get(name).is_some_and(|e| !is_false(e));
    let seconds = |name: &str| match get(name)? {
        sfv::ListEntry::Item(sfv::Item {
            bare_item: sfv::BareItem::Integer(n),
            ..
        }) => u64::try_from(i64::from(*n))
            .ok()
            .map(|n| n.min(DELTA_SECONDS_MAX)),
        _ => None,
    };
    let seconds_or_zero = |name: &str| get(name).map(|_| seconds(name).unwrap_or(0));
    let names = |name: &str| {
        let entry = get(name).filter(|e| !is_false(e))?;
        Some(match entry {
            sfv::ListEntry::Item(item) => match &item.bare_item {
                sfv::BareItem::String(s) => field_names_of(s.as_str()),
                sfv::BareItem::Token(t) => field_names_of(t.as_str()),
                _ => FieldNames::All,
            },
            sfv::ListEntry::InnerList(list) => {
                let names: Vec<HeaderName> = list
                    .items
                    .iter()
                    .filter_map(|item| match &item.bare_item {
                        sfv::BareItem::String(s) => Some(s.as_str().to_owned()),
                        sfv::BareItem::Token(t) => Some(t.as_str().to_owned()),
                        _ => None,
                    })
                    .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
                    .collect();
                if names.is_empty() {
                    FieldNames::All
                } else {
                    FieldNames::Only(names)
                }
            }
        })
    };
    Ok(Some(ResponseDirectives {
        max_age: seconds_or_zero("max-age"),
        s_maxage: seconds_or_zero("s-maxage"),
        no_cache: names("no-cache"),
        no_store: flag("no-store"),
        private: names("private"),
        public: flag("public"),
        must_revalidate: flag("must-revalidate"),
        proxy_revalidate: flag("proxy-revalidate"),
        must_understand: flag("must-understand"),
        no_transform: flag("no-transform"),
        immutable: flag("immutable"),
        stale_while_revalidate: seconds("stale-while-revalidate"),
        stale_if_error: seconds("stale-if-error"),
        targeted: true,
    }))
}

fn lines_of(section: &[u8]) -> Vec<&[u8]> {
    if section.is_empty() {
        Vec::new()
    } else {
        section.split(|&b| b == b'\n').collect()
    }
}

/// What a field line looks like after an HTTP/1.1 parser: no OWS around it
/// and only bytes a field value may hold; `None` for lines that cannot be.
fn wire_lines<'a>(lines: &[&'a [u8]]) -> Option<Vec<&'a [u8]>> {
    lines
        .iter()
        .map(|line| {
            let line = line.trim_ascii();
            HeaderValue::from_bytes(line).ok().map(|_| line)
        })
        .collect()
}

fn headers(name: &HeaderName, lines: &[&[u8]], into: &mut HeaderMap) {
    for line in lines {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            into.append(name.clone(), value);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut sections = data.splitn(3, |&b| b == 0);
    let cc = lines_of(sections.next().unwrap_or_default());
    let targeted = lines_of(sections.next().unwrap_or_default());
    let pragma = lines_of(sections.next().unwrap_or_default());

    // delta-seconds on every line and every `=` argument.
    for line in cc.iter().chain(&targeted) {
        if let Ok(text) = std::str::from_utf8(line) {
            assert_eq!(delta_seconds(text), model_delta_seconds(text), "{text:?}");
            for part in text.split(['=', ',']) {
                assert_eq!(delta_seconds(part), model_delta_seconds(part), "{part:?}");
            }
        }
    }

    // Cache-Control in a response.
    let response = ResponseDirectives::from_lines(cc.iter().copied());
    assert!(!response.targeted);
    let formatted = format_response(&response);
    assert_eq!(
        ResponseDirectives::from_lines([formatted.as_bytes()]),
        response,
        "round trip via {formatted:?}"
    );
    assert_eq!(response.is_empty(), formatted.is_empty());
    let upper: Vec<Vec<u8>> = cc.iter().map(|l| l.to_ascii_uppercase()).collect();
    assert_eq!(
        ResponseDirectives::from_lines(upper.iter().map(Vec::as_slice)),
        response,
        "names are case-insensitive"
    );
    if cc.iter().all(|l| quotes_balanced(l)) {
        let joined = cc.join(&b","[..]);
        assert_eq!(
            ResponseDirectives::from_lines([joined.as_slice()]),
            response,
            "lines combine as a list"
        );
    }

    // The same directives written as a targeted field mean the same.
    let as_targeted = format_targeted(&response);
    let reparsed = ResponseDirectives::from_targeted_lines([as_targeted.as_bytes()]);
    if response.is_empty() {
        assert_eq!(reparsed, None);
    } else {
        assert_eq!(
            reparsed,
            Some(ResponseDirectives {
                targeted: true,
                ..response.clone()
            }),
            "via {as_targeted:?}"
        );
    }

    // CDN-Cache-Control against sfv.
    let parsed_targeted = ResponseDirectives::from_targeted_lines(targeted.iter().copied());
    if let Some(directives) = &parsed_targeted {
        assert!(directives.targeted);
        let formatted = format_targeted(directives);
        let reparsed = ResponseDirectives::from_targeted_lines([formatted.as_bytes()]);
        if directives.is_empty() {
            // Only directives this cache ignores: still a field that replaces
            // Cache-Control (RFC 9213 §2.2), but nothing to write back.
            assert_eq!(reparsed, None);
        } else {
            assert_eq!(reparsed.as_ref(), Some(directives), "via {formatted:?}");
        }
    }
    if let Some(wire) = wire_lines(&targeted) {
        let parsed = ResponseDirectives::from_targeted_lines(wire.iter().copied());
        match targeted_by_sfv(&wire) {
            Ok(expected) => assert_eq!(parsed, expected, "CDN-Cache-Control disagrees with sfv"),
            // Only a lax Byte Sequence may make the two differ.
            Err(lax_base64) => assert!(
                parsed.is_none() || lax_base64,
                "sfv refused what was accepted: {parsed:?}"
            ),
        }
    }

    // What a shared cache reads: the targeted field when it holds directives.
    let mut response_headers = HeaderMap::new();
    headers(&CACHE_CONTROL, &cc, &mut response_headers);
    headers(&CDN_CACHE_CONTROL, &targeted, &mut response_headers);
    let chosen = CacheConfig::shared().response_directives(&response_headers);
    let from_targeted = ResponseDirectives::from_targeted_lines(
        response_headers
            .get_all(&CDN_CACHE_CONTROL)
            .iter()
            .map(HeaderValue::as_bytes),
    );
    let expected = if response_headers.contains_key(&CDN_CACHE_CONTROL) && from_targeted.is_some() {
        from_targeted.unwrap()
    } else {
        ResponseDirectives::from_headers(&response_headers)
    };
    assert_eq!(chosen, expected);
    assert_eq!(
        CacheConfig::private().response_directives(&response_headers),
        ResponseDirectives::from_headers(&response_headers)
    );

    // Cache-Control in a request, and Pragma.
    let mut request = HeaderMap::new();
    headers(&CACHE_CONTROL, &cc, &mut request);
    let directives = RequestDirectives::from_headers(&request);
    let formatted = format_request(&directives);
    let mut again = HeaderMap::new();
    if !formatted.is_empty() {
        again.insert(CACHE_CONTROL, HeaderValue::from_str(&formatted).unwrap());
    }
    assert_eq!(
        RequestDirectives::from_headers(&again),
        directives,
        "request round trip via {formatted:?}"
    );
    let mut with_pragma = request.clone();
    headers(&PRAGMA, &pragma, &mut with_pragma);
    if request.contains_key(CACHE_CONTROL) {
        // RFC 7234 §5.4: Pragma is ignored next to Cache-Control.
        assert_eq!(RequestDirectives::from_headers(&with_pragma), directives);
    } else {
        let mut pragma_as_cc = HeaderMap::new();
        headers(&CACHE_CONTROL, &pragma, &mut pragma_as_cc);
        let expected = RequestDirectives {
            no_cache: RequestDirectives::from_headers(&pragma_as_cc).no_cache,
            ..RequestDirectives::default()
        };
        assert_eq!(
            RequestDirectives::from_headers(&with_pragma),
            expected,
            "Pragma alone"
        );
    }
});
