//! `Cache-Control` ([RFC 9111 §5.2]) and targeted fields such as
//! `CDN-Cache-Control` ([RFC 9213]) parsed once into typed directives.
//!
//! `Cache-Control` is a comma-separated list of `token [ "=" ( token /
//! quoted-string ) ]` (§5.2). The parser follows that grammar exactly:
//! - commas inside a quoted string (`no-cache="a, b"`,
//!   `extension="max-age=3600"`) do not split it;
//! - names are case-insensitive (§5.2: "Cache directives are identified by a
//!   token, to be compared case-insensitively");
//! - an element whose name is not a token (`max-age =3600`, with a space
//!   before `=`) is not a directive and is skipped;
//! - a value is a token or a quoted-string with nothing around it
//!   (`max-age= 3600` has an invalid value); both forms are accepted for
//!   every directive, as §5.2 asks ("recipients ought to accept both forms");
//! - unknown extension directives are ignored (§5.2.3: "Cache recipients
//!   MUST ignore unrecognized directives").
//!
//! Policies where the RFC leaves a choice:
//! - A directive that appears twice, on one line or across lines, keeps its
//!   first occurrence (§4.2.1: "either the first occurrence should be used
//!   or the response should be considered stale").
//! - An invalid `max-age` / `s-maxage` value (`max-age=-1`, `max-age=1.5`,
//!   `max-age='3600'`, `max-age=`) counts as `0`: "a cache SHOULD consider
//!   responses with invalid freshness information to be stale" (§4.2.1).
//!   An invalid `stale-while-revalidate`, `stale-if-error` or `min-fresh`
//!   grants nothing; an invalid `max-stale` value accepts no staleness.
//! - Delta-seconds above 2^31 are 2^31 (§1.2.2: "a recipient ... MUST
//!   consider it to be 2147483648").
//! - `Pragma: no-cache` in a request counts as `Cache-Control: no-cache`
//!   only when the request has no `Cache-Control` at all (RFC 9111 §5.4
//!   deprecates `Pragma`; RFC 7234 §5.4 defined this fallback, and HTTP/1.0
//!   clients still send it). `Pragma` in a response means nothing.
//!
//! Targeted fields ([RFC 9213 §2]) are Structured Field Dictionaries
//! (RFC 8941), parsed by [`ResponseDirectives::from_targeted_lines`]: a
//! field that does not parse, or that is empty, is ignored and the cache
//! falls back to `Cache-Control` (§2.1); otherwise it replaces
//! `Cache-Control` and `Expires` for this cache (§2.2). Within it, a later
//! duplicate key replaces an earlier one (RFC 8941 §4.2.2), `max-age` and
//! the other delta-seconds directives need a non-negative Integer (any other
//! type counts as invalid freshness, `0`), and a qualified `no-cache` /
//! `private` takes a String or an Inner List of Strings or Tokens.
//!
//! [RFC 9111 §5.2]: https://www.rfc-editor.org/rfc/rfc9111#section-5.2
//! [RFC 9213]: https://www.rfc-editor.org/rfc/rfc9213
//! [RFC 9213 §2]: https://www.rfc-editor.org/rfc/rfc9213#section-2

use http::header::{CACHE_CONTROL, PRAGMA};
use http::{HeaderMap, HeaderName, HeaderValue};

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

impl FieldNames {
    /// Whether the directive covers the whole response.
    pub fn is_all(&self) -> bool {
        matches!(self, Self::All)
    }

    /// The listed field names (empty for [`FieldNames::All`]).
    pub fn names(&self) -> &[HeaderName] {
        match self {
            Self::All => &[],
            Self::Only(names) => names,
        }
    }
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
    /// These came from a targeted field (RFC 9213), so `Expires` does not
    /// apply: "the cache ... MUST ignore the Cache-Control and Expires
    /// header fields in that response" (RFC 9213 §2.2).
    pub targeted: bool,
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

/// A directive's argument.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Argument {
    /// `name` alone.
    None,
    /// `name=token` or `name="quoted"`, unquoted.
    Text(String),
    /// Something the grammar does not allow (`name= 1`, `name="open`).
    Invalid,
}

/// One `name[=value]` element.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Directive {
    name: String,
    argument: Argument,
}

/// `tchar` (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Every directive of every line, in order.
fn parse_field<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> Vec<Directive> {
    let mut directives = Vec::new();
    for line in lines {
        for element in split_outside_quotes(line) {
            let element = element.trim_ascii();
            if element.is_empty() {
                continue;
            }
            let (name, argument) = match element.iter().position(|&b| b == b'=') {
                Some(eq) => (&element[..eq], parse_argument(&element[eq + 1..])),
                None => (element, Argument::None),
            };
            // `max-age =3600`: the name is not a token, so this is no directive.
            if !is_token(name) {
                continue;
            }
            let name = String::from_utf8_lossy(name).to_ascii_lowercase();
            directives.push(Directive { name, argument });
        }
    }
    directives
}

/// `token / quoted-string`, with nothing before or after.
fn parse_argument(value: &[u8]) -> Argument {
    if is_token(value) {
        return Argument::Text(String::from_utf8_lossy(value).into_owned());
    }
    let Some(inner) = value.strip_prefix(b"\"") else {
        return Argument::Invalid;
    };
    let mut out = Vec::with_capacity(inner.len());
    let mut bytes = inner.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'\\' => match bytes.next() {
                Some(&escaped) => out.push(escaped),
                None => return Argument::Invalid,
            },
            b'"' => {
                return if bytes.next().is_none() {
                    Argument::Text(String::from_utf8_lossy(&out).into_owned())
                } else {
                    Argument::Invalid
                };
            }
            b => out.push(b),
        }
    }
    Argument::Invalid
}

/// Splits at commas that are not inside a quoted string (with `\` escapes).
fn split_outside_quotes(line: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, &b) in line.iter().enumerate() {
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

/// `delta-seconds = 1*DIGIT` (§1.2.2), capped at 2^31; `None` if invalid.
pub fn delta_seconds(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // §1.2.2: "If a cache receives a delta-seconds value greater than the
    // greatest integer it can represent, or if any of its subsequent
    // calculations overflows, the cache MUST consider the value to be
    // 2147483648 (2^31) or the greatest positive integer it can
    // conveniently represent."
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

fn argument_seconds(d: &Directive) -> Option<u64> {
    match &d.argument {
        Argument::Text(text) => delta_seconds(text),
        Argument::None | Argument::Invalid => None,
    }
}

/// Present with an invalid value: `Some(0)`.
fn seconds_or_zero(directives: &[Directive], name: &str) -> Option<u64> {
    first(directives, name).map(|d| argument_seconds(d).unwrap_or(0))
}

/// Present with an invalid value: `None`.
fn seconds(directives: &[Directive], name: &str) -> Option<u64> {
    first(directives, name).and_then(argument_seconds)
}

fn names_from_list(list: &str) -> FieldNames {
    let names: Vec<HeaderName> = list
        .split(',')
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    if names.is_empty() {
        FieldNames::All
    } else {
        FieldNames::Only(names)
    }
}

fn field_names(directives: &[Directive], name: &str) -> Option<FieldNames> {
    let directive = first(directives, name)?;
    Some(match &directive.argument {
        Argument::Text(list) => names_from_list(list),
        // An argument that does not parse cannot narrow the directive: the
        // whole response is covered, the safe reading.
        Argument::None | Argument::Invalid => FieldNames::All,
    })
}

fn lines_of<'a>(headers: &'a HeaderMap, name: &HeaderName) -> impl Iterator<Item = &'a [u8]> {
    headers.get_all(name).iter().map(HeaderValue::as_bytes)
}

impl ResponseDirectives {
    /// Parses every `Cache-Control` line of a response.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self::from_lines(lines_of(headers, &CACHE_CONTROL))
    }

    /// Parses the lines of a `Cache-Control` field.
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
            targeted: false,
        }
    }

    /// Parses the lines of a targeted field (`CDN-Cache-Control`, RFC 9213)
    /// as a Structured Field Dictionary. `None` when the field is absent,
    /// empty or does not parse: "If a targeted field in a given response is
    /// empty, or a parsing error is encountered, that field SHOULD be
    /// ignored by the cache" (RFC 9213 §2.1).
    pub fn from_targeted_lines<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> Option<Self> {
        let dictionary = sf::parse_dictionary(lines)?;
        if dictionary.is_empty() {
            return None;
        }
        let get = |name: &str| dictionary.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let flag = |name: &str| get(name).is_some_and(|v| *v != sf::Value::Boolean(false));
        let seconds = |name: &str| get(name).and_then(sf::Value::delta_seconds);
        let seconds_or_zero = |name: &str| get(name).map(|v| v.delta_seconds().unwrap_or(0));
        let names = |name: &str| {
            get(name)
                .filter(|v| **v != sf::Value::Boolean(false))
                .map(sf::Value::field_names)
        };
        Some(Self {
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
        })
    }

    /// Whether no directive this cache acts on is present.
    pub fn is_empty(&self) -> bool {
        Self {
            targeted: false,
            ..self.clone()
        } == Self::default()
    }

    /// Whether the response carries explicit freshness for a cache of this
    /// kind: `max-age`, or `s-maxage` in a shared cache (`Expires` is a
    /// header, see [`super::freshness()`]).
    pub fn has_explicit_age(&self, shared: bool) -> bool {
        self.max_age.is_some() || (shared && self.s_maxage.is_some())
    }

    /// §4.2.4: "A cache MUST NOT generate a stale response if it is
    /// prohibited by an explicit in-protocol directive (e.g., by a no-cache
    /// response directive, a must-revalidate response directive, or an
    /// applicable s-maxage or proxy-revalidate response directive)". True
    /// when one of those applies to a cache of this kind.
    pub fn forbids_stale(&self, shared: bool) -> bool {
        // §5.2.2.2 must-revalidate: "the cache MUST NOT reuse that response
        // to satisfy another request until it has been successfully
        // validated by the origin". §5.2.2.8 proxy-revalidate and §5.2.2.10
        // s-maxage: the same, for shared caches only.
        self.no_cache.as_ref().is_some_and(FieldNames::is_all)
            || self.must_revalidate
            || (shared && (self.proxy_revalidate || self.s_maxage.is_some()))
    }
}

impl RequestDirectives {
    /// Parses `Cache-Control` of a request, falling back to `Pragma:
    /// no-cache` when there is no `Cache-Control` (RFC 7234 §5.4: "When the
    /// Cache-Control header field is also present and understood in a
    /// request, Pragma is ignored").
    pub fn from_headers(headers: &HeaderMap) -> Self {
        // Most requests carry neither field; a cache asks for every one.
        if !headers.contains_key(CACHE_CONTROL) && !headers.contains_key(PRAGMA) {
            return Self::default();
        }
        let d = parse_field(lines_of(headers, &CACHE_CONTROL));
        let has = |name: &str| first(&d, name).is_some();
        let pragma_no_cache = !headers.contains_key(CACHE_CONTROL)
            && parse_field(lines_of(headers, &PRAGMA))
                .iter()
                .any(|p| p.name == "no-cache");
        Self {
            max_age: seconds_or_zero(&d, "max-age"),
            max_stale: first(&d, "max-stale").map(|m| match &m.argument {
                Argument::None => MaxStale::Any,
                _ => MaxStale::Seconds(argument_seconds(m).unwrap_or(0)),
            }),
            min_fresh: seconds(&d, "min-fresh"),
            no_cache: has("no-cache") || pragma_no_cache,
            no_store: has("no-store"),
            only_if_cached: has("only-if-cached"),
            stale_if_error: seconds(&d, "stale-if-error"),
        }
    }
}

/// The part of RFC 8941 (Structured Field Values) a targeted field needs:
/// Dictionaries, with every bare item type so that any valid field parses.
/// Written here because the core depends on `http` and `httpdate` only.
mod sf {
    use http::HeaderName;

    use super::{DELTA_SECONDS_MAX, FieldNames};

    /// A member value, reduced to what cache directives use.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub(super) enum Value {
        Integer(i64),
        Boolean(bool),
        /// A String or a Token.
        Text(String),
        /// An Inner List; only its String and Token members are kept.
        List(Vec<String>),
        /// A Decimal or a Byte Sequence.
        Other,
    }

    impl Value {
        /// A non-negative Integer, capped at 2^31 (§1.2.2 of RFC 9111).
        pub(super) fn delta_seconds(&self) -> Option<u64> {
            match self {
                Self::Integer(n) => u64::try_from(*n).ok().map(|n| n.min(DELTA_SECONDS_MAX)),
                _ => None,
            }
        }

        pub(super) fn field_names(&self) -> FieldNames {
            match self {
                Self::Text(list) => super::names_from_list(list),
                Self::List(items) => {
                    let names: Vec<HeaderName> = items
                        .iter()
                        .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
                        .collect();
                    if names.is_empty() {
                        FieldNames::All
                    } else {
                        FieldNames::Only(names)
                    }
                }
                _ => FieldNames::All,
            }
        }
    }

    struct Parser<'a> {
        input: &'a [u8],
        at: usize,
    }

    /// RFC 8941 §4.2: field lines are combined with commas, then parsed as a
    /// Dictionary (§4.2.2). `None` on any parse error.
    pub(super) fn parse_dictionary<'a>(
        lines: impl IntoIterator<Item = &'a [u8]>,
    ) -> Option<Vec<(String, Value)>> {
        let mut combined = Vec::new();
        let mut any = false;
        for line in lines {
            if any {
                combined.extend_from_slice(b", ");
            }
            combined.extend_from_slice(line);
            any = true;
        }
        if !any {
            return None;
        }
        let trimmed = combined.trim_ascii();
        // §4.2: leading and trailing SP are discarded; an empty field is an
        // empty dictionary.
        let mut p = Parser {
            input: trimmed,
            at: 0,
        };
        let mut members: Vec<(String, Value)> = Vec::new();
        while !p.done() {
            let key = p.key()?;
            let value = if p.eat(b'=') {
                p.item_or_inner_list()?
            } else {
                p.parameters()?;
                Value::Boolean(true)
            };
            // §4.2.2: "overwrite its value" for a repeated key.
            match members.iter_mut().find(|(k, _)| *k == key) {
                Some(member) => member.1 = value,
                None => members.push((key, value)),
            }
            p.skip_ows();
            if p.done() {
                break;
            }
            if !p.eat(b',') {
                return None;
            }
            p.skip_ows();
            if p.done() {
                // A trailing comma.
                return None;
            }
        }
        Some(members)
    }

    impl Parser<'_> {
        fn done(&self) -> bool {
            self.at >= self.input.len()
        }

        fn peek(&self) -> Option<u8> {
            self.input.get(self.at).copied()
        }

        fn eat(&mut self, b: u8) -> bool {
            if self.peek() == Some(b) {
                self.at += 1;
                true
            } else {
                false
            }
        }

        fn skip_ows(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t')) {
                self.at += 1;
            }
        }

        fn skip_sp(&mut self) {
            while self.peek() == Some(b' ') {
                self.at += 1;
            }
        }

        /// §4.2.3.3 key: `( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )`.
        fn key(&mut self) -> Option<String> {
            let start = self.at;
            match self.peek() {
                Some(b) if b.is_ascii_lowercase() || b == b'*' => self.at += 1,
                _ => return None,
            }
            while let Some(b) = self.peek() {
                if b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.*".contains(&b) {
                    self.at += 1;
                } else {
                    break;
                }
            }
            Some(String::from_utf8_lossy(&self.input[start..self.at]).into_owned())
        }

        /// §4.2.3.2 parameters: `*( ";" *SP key [ "=" bare-item ] )`, discarded.
        fn parameters(&mut self) -> Option<()> {
            while self.eat(b';') {
                self.skip_sp();
                self.key()?;
                if self.eat(b'=') {
                    self.bare_item()?;
                }
            }
            Some(())
        }

        fn item_or_inner_list(&mut self) -> Option<Value> {
            if self.peek() == Some(b'(') {
                return self.inner_list();
            }
            let value = self.bare_item()?;
            self.parameters()?;
            Some(value)
        }

        /// §4.2.1.2 inner list: `"(" *SP [ item *( 1*SP item ) *SP ] ")" parameters`.
        fn inner_list(&mut self) -> Option<Value> {
            self.eat(b'(');
            let mut items = Vec::new();
            loop {
                self.skip_sp();
                if self.eat(b')') {
                    self.parameters()?;
                    return Some(Value::List(items));
                }
                let item = self.bare_item()?;
                self.parameters()?;
                if let Value::Text(text) = item {
                    items.push(text);
                }
                match self.peek() {
                    Some(b' ' | b')') => {}
                    _ => return None,
                }
            }
        }

        /// §4.2.3.1 bare item.
        fn bare_item(&mut self) -> Option<Value> {
            match self.peek()? {
                b'-' | b'0'..=b'9' => self.number(),
                b'"' => self.string(),
                b'*' | b'A'..=b'Z' | b'a'..=b'z' => Some(self.token()),
                b':' => self.byte_sequence(),
                b'?' => self.boolean(),
                _ => None,
            }
        }

        /// §4.2.4 Integer or Decimal.
        fn number(&mut self) -> Option<Value> {
            let negative = self.eat(b'-');
            let start = self.at;
            let mut dot: Option<usize> = None;
            while let Some(b) = self.peek() {
                if b.is_ascii_digit() {
                    self.at += 1;
                } else if b == b'.' && dot.is_none() {
                    if self.at - start > 12 {
                        return None;
                    }
                    dot = Some(self.at);
                    self.at += 1;
                } else {
                    break;
                }
                let len = self.at - start;
                if (dot.is_none() && len > 15) || len > 16 {
                    return None;
                }
            }
            let digits = &self.input[start..self.at];
            if digits.first().is_none_or(|b| !b.is_ascii_digit()) {
                return None;
            }
            match dot {
                None => {
                    let text = std::str::from_utf8(digits).ok()?;
                    let n: i64 = text.parse().ok()?;
                    Some(Value::Integer(if negative { -n } else { n }))
                }
                Some(d) => {
                    let fraction = self.at - d - 1;
                    if fraction == 0 || fraction > 3 {
                        return None;
                    }
                    Some(Value::Other)
                }
            }
        }

        /// §4.2.5 String: printable ASCII, `\"` and `\\` escapes only.
        fn string(&mut self) -> Option<Value> {
            self.eat(b'"');
            let mut out = String::new();
            loop {
                let b = self.peek()?;
                self.at += 1;
                match b {
                    b'\\' => {
                        let escaped = self.peek()?;
                        if escaped != b'"' && escaped != b'\\' {
                            return None;
                        }
                        self.at += 1;
                        out.push(char::from(escaped));
                    }
                    b'"' => return Some(Value::Text(out)),
                    0x20..=0x7e => out.push(char::from(b)),
                    _ => return None,
                }
            }
        }

        /// §4.2.6 Token.
        fn token(&mut self) -> Value {
            let start = self.at;
            self.at += 1;
            while let Some(b) = self.peek() {
                if super::is_tchar(b) || b == b':' || b == b'/' {
                    self.at += 1;
                } else {
                    break;
                }
            }
            Value::Text(String::from_utf8_lossy(&self.input[start..self.at]).into_owned())
        }

        /// §4.2.7 Byte Sequence: `:` base64 `:`.
        fn byte_sequence(&mut self) -> Option<Value> {
            self.eat(b':');
            loop {
                let b = self.peek()?;
                self.at += 1;
                match b {
                    b':' => return Some(Value::Other),
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' | b'=' => {}
                    _ => return None,
                }
            }
        }

        /// §4.2.8 Boolean: `?0` or `?1`.
        fn boolean(&mut self) -> Option<Value> {
            self.eat(b'?');
            let value = match self.peek()? {
                b'0' => false,
                b'1' => true,
                _ => return None,
            };
            self.at += 1;
            Some(Value::Boolean(value))
        }
    }
}
