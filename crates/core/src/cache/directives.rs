//! `Cache-Control` ([RFC 9111 §5.2]) and `CDN-Cache-Control` ([RFC 9213])
//! parsed once into typed directives.
//!
//! The field is a comma-separated list of `token [ "=" ( token /
//! quoted-string ) ]`. Commas inside a quoted string (`no-cache="a, b"`)
//! do not split it, directive names are case-insensitive (§5.2), and
//! unknown extension directives are ignored (§5.2.3).
//!
//! Policies where the RFC leaves a choice:
//! - A directive that appears twice keeps its first occurrence (§4.2.1:
//!   "either the first occurrence should be used or the response should be
//!   considered stale").
//! - An invalid `max-age` / `s-maxage` value (`max-age=-1`, `max-age=1.5`,
//!   `max-age=`) counts as `0`: "a cache SHOULD consider responses with
//!   invalid freshness information to be stale" (§4.2.1). An invalid
//!   `stale-while-revalidate` / `stale-if-error` grants nothing.
//! - Delta-seconds above 2^31 are 2^31 (§1.2.2: "a recipient ... MUST
//!   consider it to be 2147483648").
//!
//! [RFC 9111 §5.2]: https://www.rfc-editor.org/rfc/rfc9111#section-5.2
//! [RFC 9213]: https://www.rfc-editor.org/rfc/rfc9213

use http::header::{CACHE_CONTROL, PRAGMA};
use http::{HeaderMap, HeaderName};

/// §1.2.2: the largest delta-seconds a recipient keeps.
pub const DELTA_SECONDS_MAX: u64 = 2_147_483_648;

/// The field names of a qualified `no-cache="…"` or `private="…"`, or all
/// of the response when the directive has no argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldNames {
    /// The directive applies to the whole response.
    All,
    /// Only these fields (§5.2.2.4, §5.2.2.7).
    Only(Vec<HeaderName>),
}

/// `max-stale` in a request (§5.2.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaxStale {
    /// Without a value: any staleness is acceptable.
    Any,
    /// At most this many seconds past its lifetime.
    Seconds(u64),
}

/// The response directives this cache acts on ([RFC 9111 §5.2.2], RFC 5861,
/// RFC 8246).
///
/// [RFC 9111 §5.2.2]: https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseDirectives {
    /// `max-age` (invalid values count as 0).
    pub max_age: Option<u64>,
    /// `s-maxage`, for shared caches (invalid values count as 0).
    pub s_maxage: Option<u64>,
    /// `no-cache`, unqualified or with field names.
    pub no_cache: Option<FieldNames>,
    /// `no-store`.
    pub no_store: bool,
    /// `private`, unqualified or with field names.
    pub private: Option<FieldNames>,
    /// `public`.
    pub public: bool,
    /// `must-revalidate`.
    pub must_revalidate: bool,
    /// `proxy-revalidate`.
    pub proxy_revalidate: bool,
    /// `must-understand`.
    pub must_understand: bool,
    /// `no-transform`.
    pub no_transform: bool,
    /// `immutable` (RFC 8246).
    pub immutable: bool,
    /// `stale-while-revalidate` seconds (RFC 5861 §3).
    pub stale_while_revalidate: Option<u64>,
    /// `stale-if-error` seconds (RFC 5861 §4).
    pub stale_if_error: Option<u64>,
}

/// The request directives this cache acts on ([RFC 9111 §5.2.1]).
///
/// [RFC 9111 §5.2.1]: https://www.rfc-editor.org/rfc/rfc9111#section-5.2.1
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestDirectives {
    /// `max-age` (an invalid value counts as 0).
    pub max_age: Option<u64>,
    /// `max-stale`.
    pub max_stale: Option<MaxStale>,
    /// `min-fresh`.
    pub min_fresh: Option<u64>,
    /// `no-cache`, or `Pragma: no-cache` without `Cache-Control` (§5.4).
    pub no_cache: bool,
    /// `no-store`.
    pub no_store: bool,
    /// `only-if-cached`.
    pub only_if_cached: bool,
    /// `stale-if-error` seconds (RFC 5861 §4).
    pub stale_if_error: Option<u64>,
}

/// One `name[=value]` element, the value unquoted.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Directive {
    name: String,
    value: Option<String>,
}

/// Every directive of every line of `field`, in order.
fn parse_field<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> Vec<Directive> {
    let mut directives = Vec::new();
    for line in lines {
        let Ok(line) = std::str::from_utf8(line) else {
            continue;
        };
        for element in split_outside_quotes(line) {
            let element = element.trim_matches([' ', '\t']);
            if element.is_empty() {
                continue;
            }
            let (name, value) = match element.split_once('=') {
                Some((name, value)) => (name, Some(unquote(value.trim_matches([' ', '\t'])))),
                None => (element, None),
            };
            let name = name.trim_matches([' ', '\t']).to_ascii_lowercase();
            if name.is_empty() {
                continue;
            }
            directives.push(Directive { name, value });
        }
    }
    directives
}

/// Splits at commas that are not inside a quoted string (with `\` escapes).
fn split_outside_quotes(line: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, b) in line.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                parts.push(&line[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&line[start..]);
    parts
}

/// The text of a token or quoted-string value.
fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"') else {
        return value.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '"' => break,
            c => out.push(c),
        }
    }
    out
}

/// `delta-seconds = 1*DIGIT` (§1.2.2), capped at 2^31; `None` if invalid.
pub fn delta_seconds(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(
        value
            .parse::<u64>()
            .map_or(DELTA_SECONDS_MAX, |v| v.min(DELTA_SECONDS_MAX)),
    )
}

/// First occurrence of each name only.
fn first<'a>(directives: &'a [Directive], name: &str) -> Option<&'a Directive> {
    directives.iter().find(|d| d.name == name)
}

fn seconds_or_zero(directives: &[Directive], name: &str) -> Option<u64> {
    first(directives, name).map(|d| d.value.as_deref().and_then(delta_seconds).unwrap_or(0))
}

fn seconds(directives: &[Directive], name: &str) -> Option<u64> {
    first(directives, name).and_then(|d| d.value.as_deref().and_then(delta_seconds))
}

fn field_names(directives: &[Directive], name: &str) -> Option<FieldNames> {
    let directive = first(directives, name)?;
    let Some(value) = directive.value.as_deref() else {
        return Some(FieldNames::All);
    };
    let names: Vec<HeaderName> = value
        .split(',')
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    Some(if names.is_empty() {
        FieldNames::All
    } else {
        FieldNames::Only(names)
    })
}

impl ResponseDirectives {
    /// Parses every `Cache-Control` line of a response.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self::from_lines(
            headers
                .get_all(CACHE_CONTROL)
                .iter()
                .map(http::HeaderValue::as_bytes),
        )
    }

    /// Parses the lines of one directive field (`Cache-Control`, or a
    /// targeted field such as `CDN-Cache-Control`).
    pub fn from_lines<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let d = parse_field(lines);
        let has = |name: &str| first(&d, name).is_some();
        Self {
            max_age: seconds_or_zero(&d, "max-age"),
            s_maxage: seconds_or_zero(&d, "s-maxage"),
            no_cache: field_names(&d, "no-cache"),
            no_store: has("no-store"),
            private: field_names(&d, "private"),
            public: has("public"),
            must_revalidate: has("must-revalidate"),
            proxy_revalidate: has("proxy-revalidate"),
            must_understand: has("must-understand"),
            no_transform: has("no-transform"),
            immutable: has("immutable"),
            stale_while_revalidate: seconds(&d, "stale-while-revalidate"),
            stale_if_error: seconds(&d, "stale-if-error"),
        }
    }

    /// Whether any directive the RFC defines for freshness is present
    /// (used to decide whether a targeted field "has content", RFC 9213 §2.1).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl RequestDirectives {
    /// Parses `Cache-Control` of a request, falling back to `Pragma:
    /// no-cache` when there is no `Cache-Control` (§5.4: "When the
    /// Cache-Control header field is also present and understood in a
    /// request, Pragma is ignored").
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let d = parse_field(
            headers
                .get_all(CACHE_CONTROL)
                .iter()
                .map(http::HeaderValue::as_bytes),
        );
        let has = |name: &str| first(&d, name).is_some();
        let pragma_no_cache = !headers.contains_key(CACHE_CONTROL)
            && parse_field(headers.get_all(PRAGMA).iter().map(http::HeaderValue::as_bytes))
                .iter()
                .any(|p| p.name == "no-cache");
        Self {
            max_age: seconds_or_zero(&d, "max-age"),
            max_stale: first(&d, "max-stale").map(|m| match m.value.as_deref() {
                None => MaxStale::Any,
                Some(v) => delta_seconds(v).map_or(MaxStale::Seconds(0), MaxStale::Seconds),
            }),
            min_fresh: seconds(&d, "min-fresh"),
            no_cache: has("no-cache") || pragma_no_cache,
            no_store: has("no-store"),
            only_if_cached: has("only-if-cached"),
            stale_if_error: seconds(&d, "stale-if-error"),
        }
    }
}
