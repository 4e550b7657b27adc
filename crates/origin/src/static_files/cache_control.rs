//! Which `Cache-Control` a file gets ([RFC 9111 §5.2.2]).
//!
//! Configured rules come first, first match wins. Then the defaults:
//!
//! | file | `Cache-Control` | why |
//! |---|---|---|
//! | fingerprinted name (`app.3f9a2b1c.js`, `main-5D7F2A1B.css`) | `max-age=31536000, immutable` | a new version gets a new name; without `public`, which a response with explicit freshness does not need (§5.2.2.9: it matters only for responses a cache could not otherwise store, such as those to authenticated requests, which must not be shared) |
//! | HTML (`.html`, `.htm`, directory listings) | `no-cache` | the entry point must pick up new asset names at once |
//! | anything else | `public, no-cache` | may be stored by shared caches but revalidated on every use; with this server a revalidation is a cheap `304` |
//!
//! A name is fingerprinted when one of its dot/dash/underscore-separated
//! parts before the extension is at least 8 hex digits and mixes digits
//! and letters (so dates such as `report-20240101.pdf` and words such as
//! `deadbeef` are not taken for hashes), or is 16 or more hex digits.
//! Only hex fingerprints are recognised: base64 names (`index-BzT5xQ1n.js`)
//! need a rule, since guessing wrong there would pin a stale file for a year.
//!
//! [RFC 9111 §5.2.2]: https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2

use globset::{Glob, GlobMatcher};
use http::HeaderValue;

/// `Cache-Control` of fingerprinted files.
pub const IMMUTABLE: &str = "max-age=31536000, immutable";
/// `Cache-Control` of HTML.
pub const HTML: &str = "no-cache";
/// `Cache-Control` of everything else.
pub const DEFAULT: &str = "public, no-cache";

/// The compiled rules.
#[derive(Clone, Debug)]
pub(crate) struct CacheControlPolicy {
    rules: Vec<(GlobMatcher, HeaderValue)>,
}

/// A configured rule that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InvalidRule {
    /// The glob does not parse.
    #[error("invalid cache-control pattern {pattern:?}: {message}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// The parser's message.
        message: String,
    },
    /// The value is not a valid field value.
    #[error("invalid cache-control value {0:?}")]
    Value(String),
}

impl CacheControlPolicy {
    pub(crate) fn new(rules: &[(String, String)]) -> Result<Self, InvalidRule> {
        let mut compiled = Vec::with_capacity(rules.len());
        for (pattern, value) in rules {
            let glob = Glob::new(pattern.trim_start_matches('/')).map_err(|e| InvalidRule::Pattern {
                pattern: pattern.clone(),
                message: e.to_string(),
            })?;
            let value = HeaderValue::from_str(value).map_err(|_| InvalidRule::Value(value.clone()))?;
            compiled.push((glob.compile_matcher(), value));
        }
        Ok(Self { rules: compiled })
    }

    /// The value for `relative` (path under the root, `/`-separated).
    pub(crate) fn for_path(&self, relative: &str, is_html: bool) -> HeaderValue {
        for (glob, value) in &self.rules {
            if glob.is_match(relative) {
                return value.clone();
            }
        }
        let name = relative.rsplit('/').next().unwrap_or(relative);
        if is_html {
            HeaderValue::from_static(HTML)
        } else if is_fingerprinted(name) {
            HeaderValue::from_static(IMMUTABLE)
        } else {
            HeaderValue::from_static(DEFAULT)
        }
    }
}

/// Whether a file name carries a content hash; see the module docs.
pub(crate) fn is_fingerprinted(name: &str) -> bool {
    let stem = name.rsplit_once('.').map_or(name, |(stem, _extension)| stem);
    stem.split(['.', '-', '_', '~', '+']).any(|part| {
        let hex = part.len() >= 8 && part.bytes().all(|b| b.is_ascii_hexdigit());
        let mixed = part.bytes().any(|b| b.is_ascii_digit()) && part.bytes().any(|b| b.is_ascii_alphabetic());
        hex && (mixed || part.len() >= 16)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_table() {
        for yes in [
            "app.3f9a2b1c.js",
            "main-5D7F2A1B.css",
            "chunk_0123456789abcdef.js",
            "3f9a2b1c.js",
            "vendor.3f9a2b1c.min.js",
            "a.0123456789012345.js",
        ] {
            assert!(is_fingerprinted(yes), "{yes}");
        }
        for no in [
            "app.js",
            "report-20240101.pdf",
            "deadbeef.js",
            "index.html",
            "app.3f9a2b.js",
        ] {
            assert!(!is_fingerprinted(no), "{no}");
        }
    }

    /// REDbot `STORE_PUBLIC_UNNECESSARY` on a fingerprinted asset:
    /// `public` next to explicit freshness adds nothing (RFC 9111
    /// §5.2.2.9), and would let shared caches keep an asset fetched with
    /// credentials.
    #[test]
    fn redbot_store_public_unnecessary_a_fingerprinted_asset_is_not_marked_public() {
        let policy = CacheControlPolicy::new(&[]).unwrap();
        let value = policy.for_path("assets/site.3f9a2b1c.css", false);
        assert_eq!(value, "max-age=31536000, immutable");
        assert!(!value.to_str().unwrap().contains("public"));
    }

    #[test]
    fn rules_first_then_defaults() {
        let policy = CacheControlPolicy::new(&[
            ("**/*.pdf".into(), "public, max-age=600".into()),
            ("*.pdf".into(), "never-reached".into()),
        ])
        .unwrap();
        assert_eq!(policy.for_path("docs/a.pdf", false), "public, max-age=600");
        assert_eq!(policy.for_path("a.pdf", false), "public, max-age=600");
        assert_eq!(policy.for_path("app.3f9a2b1c.js", false), IMMUTABLE);
        assert_eq!(policy.for_path("index.html", true), HTML);
        assert_eq!(policy.for_path("logo.png", false), DEFAULT);
        assert!(CacheControlPolicy::new(&[("a[".into(), "x".into())]).is_err());
        assert!(CacheControlPolicy::new(&[("*".into(), "bad\nvalue".into())]).is_err());
    }
}
