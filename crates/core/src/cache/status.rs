//! The `Cache-Status` field ([RFC 9211]): one list member per cache that
//! handled the response, written by hand (a member is a token with a few
//! parameters; no structured-field library needed).
//!
//! [RFC 9211]: https://www.rfc-editor.org/rfc/rfc9211

use std::fmt::Write as _;

use http::{HeaderName, HeaderValue, StatusCode};

/// The `Cache-Status` field name ([RFC 9211 §2]), here beside the value it
/// carries so that every crate writing or reading the field names it the
/// same way.
///
/// [RFC 9211 §2]: https://www.rfc-editor.org/rfc/rfc9211#section-2
pub const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// Why the cache went forward to the next hop (RFC 9211 §2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forward {
    /// The cache was configured not to handle this request.
    Bypass,
    /// The request method's semantics require forwarding (e.g. `POST`).
    Method,
    /// Nothing was stored for the URI.
    UriMiss,
    /// Something was stored, but no variant matched the request's `Vary` fields.
    VaryMiss,
    /// The cache did not say (e.g. the response could not be stored).
    Miss,
    /// The request's directives asked for it (no-cache and the like).
    Request,
    /// A stored response was stale and had to be validated.
    Stale,
    /// Part of the request was stored (ranges).
    Partial,
}

impl Forward {
    fn token(self) -> &'static str {
        match self {
            Self::Bypass => "bypass",
            Self::Method => "method",
            Self::UriMiss => "uri-miss",
            Self::VaryMiss => "vary-miss",
            Self::Miss => "miss",
            Self::Request => "request",
            Self::Stale => "stale",
            Self::Partial => "partial",
        }
    }
}

/// One cache's `Cache-Status` member, built up then formatted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheStatus {
    cache: String,
    hit: bool,
    forward: Option<Forward>,
    forward_status: Option<StatusCode>,
    ttl: Option<i64>,
    stored: Option<bool>,
    collapsed: bool,
    key: Option<String>,
    detail: Option<String>,
}

impl CacheStatus {
    /// A hit from the cache named `cache` (a token, such as the host name).
    pub fn hit(cache: impl Into<String>) -> Self {
        Self::new(cache, true, None)
    }

    /// The request went forward, for `why`.
    pub fn forward(cache: impl Into<String>, why: Forward) -> Self {
        Self::new(cache, false, Some(why))
    }

    fn new(cache: impl Into<String>, hit: bool, forward: Option<Forward>) -> Self {
        Self {
            cache: cache.into(),
            hit,
            forward,
            forward_status: None,
            ttl: None,
            stored: None,
            collapsed: false,
            key: None,
            detail: None,
        }
    }

    /// `fwd-status`: the status the next hop answered.
    pub fn forward_status(mut self, status: StatusCode) -> Self {
        self.forward_status = Some(status);
        self
    }

    /// `ttl`: seconds of freshness left (negative once stale).
    pub fn ttl(mut self, seconds: i64) -> Self {
        self.ttl = Some(seconds);
        self
    }

    /// `stored`: whether the response was stored.
    pub fn stored(mut self, stored: bool) -> Self {
        self.stored = Some(stored);
        self
    }

    /// `collapsed`: the request waited for another one's answer.
    pub fn collapsed(mut self, collapsed: bool) -> Self {
        self.collapsed = collapsed;
        self
    }

    /// `key`: the cache key, for debugging.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// `detail`: free text (a token or string).
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The member as text, e.g. `revalidate; fwd=stale; fwd-status=304; ttl=60`.
    pub fn to_text(&self) -> String {
        let mut out = token_or_string(&self.cache);
        if self.hit {
            out.push_str("; hit");
        }
        if let Some(forward) = self.forward {
            let _ = write!(out, "; fwd={}", forward.token());
        }
        if let Some(status) = self.forward_status {
            let _ = write!(out, "; fwd-status={}", status.as_u16());
        }
        if let Some(ttl) = self.ttl {
            let _ = write!(out, "; ttl={ttl}");
        }
        if self.stored == Some(true) {
            out.push_str("; stored");
        }
        if self.collapsed {
            out.push_str("; collapsed");
        }
        if let Some(key) = &self.key {
            let _ = write!(out, "; key={}", quoted(key));
        }
        if let Some(detail) = &self.detail {
            let _ = write!(out, "; detail={}", token_or_string(detail));
        }
        out
    }

    /// The member as a field value (non-ASCII text is escaped away).
    pub fn to_header_value(&self) -> HeaderValue {
        HeaderValue::from_str(&self.to_text()).unwrap_or_else(|_| HeaderValue::from_static("revalidate"))
    }
}

/// An sf-token when `s` is one, else an sf-string.
fn token_or_string(s: &str) -> String {
    let is_token = s
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'*')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&b));
    if is_token { s.to_owned() } else { quoted(s) }
}

/// An sf-string: printable ASCII, `"` and `\` escaped, the rest replaced.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out.push('"');
    out
}
