//! The site table: which site a request's host names. Pure: the host is
//! read from the request head ([`request_host`]) and looked up
//! ([`SiteTable::find`]); no IO, no clock.
//!
//! Host patterns are nginx's `server_name` forms: an exact name
//! (`example.com`), a leading wildcard (`*.example.com`: any name ending
//! in `.example.com`, however many labels deep, not `example.com`
//! itself), or `*` alone: every host (the catch-all). An exact name wins
//! over a wildcard, a longer wildcard over a shorter one, and any
//! wildcard over the catch-all, as in nginx.

use std::borrow::Cow;
use std::collections::HashMap;

use http::header::HOST;
use http::{HeaderMap, Uri, Version};

/// One of a site's host names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostPattern {
    /// Exactly this name (lowercase, no port, no trailing dot).
    Exact(String),
    /// Any name ending in this suffix, which starts with a dot
    /// (`*.example.com` is the suffix `.example.com`).
    Suffix(String),
    /// Every host.
    Any,
}

impl HostPattern {
    /// Parses a configured host name: `example.com`, `*.example.com`, `*`,
    /// an IPv4 address or a bracketed IPv6 one. Names are matched
    /// case-insensitively (RFC 9110 §4.2.3: the host is case-insensitive),
    /// so they are stored lowercase.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        if pattern == "*" {
            return Ok(Self::Any);
        }
        let lower = pattern.to_ascii_lowercase();
        let (suffix, name) = match lower.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, lower.as_str()),
        };
        let name = name.strip_suffix('.').unwrap_or(name);
        let valid_name = !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        let ipv6 = !suffix
            && name.starts_with('[')
            && name.ends_with(']')
            && name[1..name.len() - 1].parse::<std::net::Ipv6Addr>().is_ok();
        if !valid_name && !ipv6 {
            return Err(format!(
                "host {pattern:?} is not a host name, \"*.\" and a name, \"*\", or an IP address (no port, no scheme)"
            ));
        }
        Ok(if suffix {
            Self::Suffix(format!(".{name}"))
        } else {
            Self::Exact(name.to_owned())
        })
    }
}

/// Sites by host name; `T` is what a site is to the caller.
#[derive(Clone, Debug)]
pub struct SiteTable<T> {
    sites: Vec<T>,
    exact: HashMap<String, usize>,
    /// Longest suffix first, so the first match is the most specific.
    suffixes: Vec<(String, usize)>,
    catch_all: Option<usize>,
}

/// Why a table could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// Two sites claim one host pattern.
    #[error("host {pattern:?} is claimed by sites {first:?} and {second:?}")]
    Claimed {
        /// The pattern as written.
        pattern: String,
        /// The first site claiming it.
        first: String,
        /// The second.
        second: String,
    },
}

impl<T> SiteTable<T> {
    /// A table of `sites`, each with its name (for errors) and its host
    /// patterns. A pattern claimed by two sites is an error: which site
    /// answered would depend on the order of the file.
    pub fn new(sites: Vec<(T, String, Vec<HostPattern>)>) -> Result<Self, TableError> {
        let mut table = Self {
            sites: Vec::with_capacity(sites.len()),
            exact: HashMap::new(),
            suffixes: Vec::new(),
            catch_all: None,
        };
        let mut names: Vec<String> = Vec::with_capacity(sites.len());
        for (index, (site, name, patterns)) in sites.into_iter().enumerate() {
            for pattern in patterns {
                let (claimed_by, shown) = match &pattern {
                    HostPattern::Exact(host) => (table.exact.insert(host.clone(), index), host.clone()),
                    HostPattern::Suffix(suffix) => {
                        let earlier = table.suffixes.iter().find(|(s, _)| s == suffix).map(|(_, i)| *i);
                        if earlier.is_none() {
                            table.suffixes.push((suffix.clone(), index));
                        }
                        (earlier, format!("*{suffix}"))
                    }
                    HostPattern::Any => (table.catch_all.replace(index), "*".to_owned()),
                };
                if let Some(first) = claimed_by.filter(|&first| first != index) {
                    return Err(TableError::Claimed {
                        pattern: shown,
                        first: names[first].clone(),
                        second: name,
                    });
                }
            }
            table.sites.push(site);
            names.push(name);
        }
        table
            .suffixes
            .sort_by_key(|(suffix, _)| std::cmp::Reverse(suffix.len()));
        Ok(table)
    }

    /// A table of one site answering every host.
    pub fn single(site: T) -> Self {
        Self {
            sites: vec![site],
            exact: HashMap::new(),
            suffixes: Vec::new(),
            catch_all: Some(0),
        }
    }

    /// Whether one site answers every host and there is no other: then the
    /// host need not be looked up at all.
    pub fn only_catch_all(&self) -> Option<&T> {
        match (self.sites.len(), self.catch_all) {
            (1, Some(index)) => self.sites.get(index),
            _ => None,
        }
    }

    /// The site for `host` (normalised by [`request_host`]): an exact name,
    /// else the longest matching wildcard, else the catch-all; `None` for
    /// `None` (no host in the request) unless there is a catch-all.
    pub fn find(&self, host: Option<&str>) -> Option<&T> {
        let index = host
            .and_then(|host| {
                self.exact.get(host).copied().or_else(|| {
                    self.suffixes
                        .iter()
                        .find(|(suffix, _)| host.len() > suffix.len() && host.ends_with(suffix.as_str()))
                        .map(|(_, index)| *index)
                })
            })
            .or(self.catch_all)?;
        self.sites.get(index)
    }

    /// The same table with every site mapped by `f`.
    pub fn map<U>(&self, f: impl FnMut(&T) -> U) -> SiteTable<U> {
        SiteTable {
            sites: self.sites.iter().map(f).collect(),
            exact: self.exact.clone(),
            suffixes: self.suffixes.clone(),
            catch_all: self.catch_all,
        }
    }

    /// Every site, in the order they were given.
    pub fn sites(&self) -> &[T] {
        &self.sites
    }
}

/// A request whose host cannot be told: RFC 9112 §3.2 says "A server MUST
/// respond with a 400 (Bad Request) status code to any HTTP/1.1 request
/// message that lacks a Host header field and to any request message that
/// contains more than one Host header field line or a Host header field
/// with an invalid field value."
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadHost {
    /// An HTTP/1.1 request in origin form without `Host`.
    Missing,
    /// More than one `Host` field line.
    Repeated,
    /// A `Host` that is not `host[:port]`.
    Invalid,
}

impl BadHost {
    /// A sentence for the problem details.
    pub fn detail(self) -> &'static str {
        match self {
            Self::Missing => "An HTTP/1.1 request needs a Host header field (RFC 9112 §3.2).",
            Self::Repeated => "The request has more than one Host header field line (RFC 9112 §3.2).",
            Self::Invalid => "The Host header field is not a valid host[:port] (RFC 9112 §3.2).",
        }
    }
}

/// [`request_host`]'s checks alone, for an edge whose one site answers
/// every host: one `Host` field at most, a valid one, and none missing on
/// HTTP/1.1 without an authority in the target (RFC 9112 §3.2), without
/// reading the host out.
pub fn check_host(uri: &Uri, headers: &HeaderMap, version: Version) -> Result<(), BadHost> {
    match host_field(headers)? {
        Some(value) => host_len(value.as_bytes()).map(drop).ok_or(BadHost::Invalid),
        None if uri.authority().is_some() || may_lack_host(version) => Ok(()),
        None => Err(BadHost::Missing),
    }
}

/// The one `Host` field line, if any; two are `400` (RFC 9112 §3.2).
fn host_field(headers: &HeaderMap) -> Result<Option<&http::HeaderValue>, BadHost> {
    let mut fields = headers.get_all(HOST).iter();
    match (fields.next(), fields.next()) {
        (_, Some(_)) => Err(BadHost::Repeated),
        (field, None) => Ok(field),
    }
}

/// Whether a request of `version` may come without `Host` (before
/// HTTP/1.1; RFC 9112 §3.2 asks it of HTTP/1.1 requests).
fn may_lack_host(version: Version) -> bool {
    version == Version::HTTP_10 || version == Version::HTTP_09
}

/// The host a request is for, lowercase, without port or trailing dot;
/// `None` for a request without one that may lack it (HTTP/1.0). The
/// target URI's authority wins when there is one (an absolute-form target,
/// or `:authority` on HTTP/2): RFC 9112 §3.2.2 says the server "MUST
/// ignore the received Host header field ... and instead use the host
/// information of the request-target". The `Host` field is still checked
/// for repeats and syntax then, since §3.2 asks for `400` on "any request
/// message" with those.
pub fn request_host<'a>(
    uri: &'a Uri,
    headers: &'a HeaderMap,
    version: Version,
) -> Result<Option<Cow<'a, str>>, BadHost> {
    let from_field = match host_field(headers)? {
        None => None,
        Some(value) => Some(host_of_field(value.as_bytes()).ok_or(BadHost::Invalid)?),
    };
    if let Some(authority) = uri.authority() {
        return Ok(Some(normalise(authority.host())));
    }
    match from_field {
        Some(host) => Ok(Some(normalise(host))),
        None if may_lack_host(version) => Ok(None),
        None => Err(BadHost::Missing),
    }
}

/// The host part of a `Host` field value, `uri-host [ ":" port ]` (RFC
/// 9110 §7.2 with RFC 3986 §3.2.2, §3.2.3): a reg-name or IPv4 address
/// (unreserved, sub-delims and percent-encoded bytes; empty too, which
/// §7.2 allows), or a bracketed IPv6 literal, then an optional `:` and
/// digits. `None` when the value is not one (userinfo, a path, spaces,
/// other bytes). Checked byte by byte rather than with
/// [`http::uri::Authority`], which also accepts userinfo and costs a
/// parse per request.
pub fn host_of_field(value: &[u8]) -> Option<&str> {
    // Every byte `host_len` accepts is ASCII.
    std::str::from_utf8(&value[..host_len(value)?]).ok()
}

/// The length of the host part of a valid `Host` field value
/// ([`host_of_field`]); `None` when the value is not `uri-host [ ":" port ]`.
fn host_len(value: &[u8]) -> Option<usize> {
    let end = if value.first() == Some(&b'[') {
        let end = value.iter().position(|&b| b == b']')?;
        // RFC 3986 §3.2.2's IPv6address, by the standard library's parser
        // (IPvFuture literals are not hosts anyone serves).
        let literal = std::str::from_utf8(&value[1..end]).ok()?;
        literal.parse::<std::net::Ipv6Addr>().ok()?;
        end + 1
    } else {
        reg_name_len(value)?
    };
    let port = &value[end..];
    if let Some(digits) = port.strip_prefix(b":") {
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
    } else if !port.is_empty() {
        return None;
    }
    Some(end)
}

/// RFC 3986 §3.2.2's `unreserved / sub-delims`, by byte: one load per
/// byte on every request's `Host`.
static REG_NAME_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            );
        byte += 1;
    }
    table
};

/// The length of the `reg-name` that starts `value` (RFC 3986 §3.2.2:
/// `*( unreserved / pct-encoded / sub-delims )`, which covers IPv4
/// addresses; `pct-encoded = "%" HEXDIG HEXDIG`), up to the first byte
/// that cannot be in one; `None` for a broken `%` escape.
fn reg_name_len(value: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(&b) = value.get(at) {
        if REG_NAME_BYTES[usize::from(b)] {
            at += 1;
        } else if b == b'%' {
            let encoded = value.get(at + 1..at + 3)?;
            if !encoded.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            at += 3;
        } else {
            break;
        }
    }
    Some(at)
}

/// A host as the table holds names: lowercase, no trailing dot.
fn normalise(host: &str) -> Cow<'_, str> {
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn table(sites: &[(&str, &[&str])]) -> SiteTable<String> {
        SiteTable::new(
            sites
                .iter()
                .map(|(name, hosts)| {
                    let patterns = hosts.iter().map(|h| HostPattern::parse(h).unwrap()).collect();
                    ((*name).to_owned(), (*name).to_owned(), patterns)
                })
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn hosts_pick_sites_as_nginx_server_names_do() {
        let sites = table(&[
            ("a", &["example.com", "www.example.com"]),
            ("b", &["*.example.com"]),
            ("c", &["*.img.example.com"]),
            ("d", &["*"]),
        ]);
        let cases: &[(Option<&str>, Option<&str>)] = &[
            (Some("example.com"), Some("a")),
            (Some("www.example.com"), Some("a")),
            (Some("api.example.com"), Some("b")),
            (Some("x.y.example.com"), Some("b")),
            (Some("a.img.example.com"), Some("c")),
            (Some("img.example.com"), Some("b")),
            (Some("other.org"), Some("d")),
            (Some("xexample.com"), Some("d")),
            (None, Some("d")),
        ];
        for (host, want) in cases {
            assert_eq!(sites.find(*host).map(String::as_str), *want, "{host:?}");
        }
        let strict = table(&[("a", &["example.com"]), ("b", &["*.example.com"])]);
        for (host, want) in [
            (Some("example.com"), Some("a")),
            (Some("a.example.com"), Some("b")),
            (Some(".example.com"), None),
            (Some("other.org"), None),
            (None, None),
        ] {
            assert_eq!(strict.find(host).map(String::as_str), want, "{host:?}");
        }
    }

    #[test]
    fn patterns_parse_or_say_why_not() {
        let cases: &[(&str, Option<HostPattern>)] = &[
            ("Example.COM", Some(HostPattern::Exact("example.com".into()))),
            ("example.com.", Some(HostPattern::Exact("example.com".into()))),
            ("*.example.com", Some(HostPattern::Suffix(".example.com".into()))),
            ("*", Some(HostPattern::Any)),
            ("127.0.0.1", Some(HostPattern::Exact("127.0.0.1".into()))),
            ("[::1]", Some(HostPattern::Exact("[::1]".into()))),
            ("localhost", Some(HostPattern::Exact("localhost".into()))),
            ("", None),
            ("example.com:8080", None),
            ("http://example.com", None),
            ("exa mple.com", None),
            ("*example.com", None),
            ("a.*.example.com", None),
            ("*.", None),
            ("a..b", None),
            ("[zz]", None),
        ];
        for (input, want) in cases {
            assert_eq!(HostPattern::parse(input).ok(), *want, "{input:?}");
        }
    }

    #[test]
    fn a_host_claimed_twice_is_an_error_naming_both_sites() {
        let parse = |h: &str| HostPattern::parse(h).unwrap();
        let error = SiteTable::new(vec![
            ((), "a".to_owned(), vec![parse("example.com")]),
            ((), "b".to_owned(), vec![parse("EXAMPLE.com")]),
        ])
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "host \"example.com\" is claimed by sites \"a\" and \"b\""
        );
        assert!(
            SiteTable::new(vec![
                ((), "a".to_owned(), vec![HostPattern::Any]),
                ((), "b".to_owned(), vec![HostPattern::Any]),
            ])
            .is_err()
        );
        // One site naming a host twice is harmless.
        assert!(SiteTable::new(vec![((), "a".to_owned(), vec![parse("x.org"), parse("X.org")])]).is_ok());
    }

    #[test]
    fn request_host_follows_rfc_9112_section_3_2() {
        let head = |uri: &str, hosts: &[&str], version: Version| {
            let uri: Uri = uri.parse().unwrap();
            let mut headers = HeaderMap::new();
            for host in hosts {
                headers.append(HOST, host.parse().unwrap());
            }
            request_host(&uri, &headers, version).map(|host| host.map(Cow::into_owned))
        };
        let v11 = Version::HTTP_11;
        type Case<'a> = (&'a str, &'a [&'a str], Version, Result<Option<&'a str>, BadHost>);
        let cases: &[Case<'_>] = &[
            ("/", &["Example.com:8080"], v11, Ok(Some("example.com"))),
            ("/", &["example.com."], v11, Ok(Some("example.com"))),
            ("/", &["[::1]:80"], v11, Ok(Some("[::1]"))),
            ("/", &[], v11, Err(BadHost::Missing)),
            ("/", &[], Version::HTTP_10, Ok(None)),
            ("/", &["a.org", "b.org"], v11, Err(BadHost::Repeated)),
            ("/", &["a b"], v11, Err(BadHost::Invalid)),
            ("/", &["user@a.org"], v11, Err(BadHost::Invalid)),
            ("/", &["a.org:80x"], v11, Err(BadHost::Invalid)),
            ("/", &["a.org:"], v11, Ok(Some("a.org"))),
            ("/", &[""], v11, Ok(Some(""))),
            ("/", &["[::1"], v11, Err(BadHost::Invalid)),
            ("/", &["[zz]"], v11, Err(BadHost::Invalid)),
            ("/", &["[:::::::::]:"], v11, Err(BadHost::Invalid)),
            (
                "/",
                &["[::ffff:192.0.2.1]:8080"],
                v11,
                Ok(Some("[::ffff:192.0.2.1]")),
            ),
            ("/", &["[::1]x"], v11, Err(BadHost::Invalid)),
            ("/", &["a%2"], v11, Err(BadHost::Invalid)),
            ("/", &["a%2e.org"], v11, Ok(Some("a%2e.org"))),
            // §3.2.2: the target's authority wins over Host.
            ("http://B.org/x", &["a.org"], v11, Ok(Some("b.org"))),
            ("http://b.org/x", &[], v11, Ok(Some("b.org"))),
            // HTTP/2 requests carry :authority in the URI.
            ("https://c.org/", &[], Version::HTTP_2, Ok(Some("c.org"))),
        ];
        for (uri, hosts, version, want) in cases {
            let want = want.map(|host| host.map(str::to_owned));
            assert_eq!(head(uri, hosts, *version), want, "{uri} {hosts:?}");
            let parsed: Uri = uri.parse().unwrap();
            let mut headers = HeaderMap::new();
            for host in *hosts {
                headers.append(HOST, host.parse().unwrap());
            }
            assert_eq!(
                check_host(&parsed, &headers, *version),
                want.map(drop),
                "check_host {uri} {hosts:?}"
            );
        }
    }

    proptest! {
        /// What the byte check accepts, the http crate's authority parser
        /// accepts too, with the same host. (Without `%`: that parser
        /// refuses some percent-encoded hosts RFC 3986 allows, such as
        /// `%aA`; the table above covers them.)
        #[test]
        fn host_fields_accepted_are_authorities_with_that_host(value in "[a-zA-Z0-9.:\\[\\]@/ _~!$&'()*+,;=-]{1,20}") {
            if let Some(host) = host_of_field(value.as_bytes()) {
                let authority: http::uri::Authority = value.parse().map_err(|e| TestCaseError::fail(format!("{value:?}: {e}")))?;
                prop_assert_eq!(authority.host(), host);
            }
        }
    }

    /// The naive model: try every pattern of every site and keep the best
    /// by nginx's order (exact, then the longest wildcard, then `*`).
    fn naive(sites: &[Vec<HostPattern>], host: Option<&str>) -> Option<usize> {
        let mut best: Option<(usize, usize)> = None; // (rank, site)
        for (index, patterns) in sites.iter().enumerate() {
            for pattern in patterns {
                let rank = match (pattern, host) {
                    (HostPattern::Exact(name), Some(host)) if name == host => usize::MAX,
                    (HostPattern::Suffix(suffix), Some(host))
                        if host.len() > suffix.len() && host.ends_with(suffix.as_str()) =>
                    {
                        suffix.len() + 1
                    }
                    (HostPattern::Any, _) => 0,
                    _ => continue,
                };
                if best.is_none_or(|(r, _)| rank > r) {
                    best = Some((rank, index));
                }
            }
        }
        best.map(|(_, index)| index)
    }

    fn pattern() -> impl Strategy<Value = HostPattern> {
        let label = prop::sample::select(vec!["a", "b", "example", "com", "org"]);
        let name = prop::collection::vec(label, 1..4).prop_map(|labels| labels.join("."));
        prop_oneof![
            name.clone().prop_map(HostPattern::Exact),
            name.prop_map(|n| HostPattern::Suffix(format!(".{n}"))),
            Just(HostPattern::Any),
        ]
    }

    proptest! {
        #[test]
        fn find_agrees_with_the_naive_model(
            sites in prop::collection::vec(prop::collection::vec(pattern(), 1..4), 1..5),
            host in prop::option::of(prop::collection::vec(prop::sample::select(vec!["a", "b", "example", "com", "org"]), 1..5)),
        ) {
            let host = host.map(|labels| labels.join("."));
            let built = SiteTable::new(
                sites.iter().enumerate().map(|(i, p)| (i, i.to_string(), p.clone())).collect(),
            );
            // Tables with a pattern claimed twice are refused; the model
            // has nothing to say about them.
            if let Ok(table) = built {
                prop_assert_eq!(table.find(host.as_deref()).copied(), naive(&sites, host.as_deref()));
            }
        }
    }
}
