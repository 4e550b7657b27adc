//! The purge API's wire format: what an application sends a cache to make
//! it forget stored responses, and what the cache answers. `revalidate
//! edge` answers it (off unless a purge token is configured); `revalidate
//! serve` sends it to each edge after a write. Both ends build and read
//! the JSON with these types, so that neither can drift from the other.
//!
//! ```text
//! POST /_revalidate/purge HTTP/1.1
//! Authorization: Bearer <purge_token>
//! Content-Type: application/json
//!
//! {"urls": ["/api/notes/1"], "prefixes": ["/assets/"], "tags": ["note-1"]}
//! ```
//!
//! - `urls`: every stored variant of these request targets (a path with
//!   query, or an absolute URL whose path and query are used).
//! - `prefixes`: every stored response whose target starts with one.
//! - `tags`: every stored response whose `Cache-Tag` or `Surrogate-Key`
//!   field named it.
//!
//! Each list may be left out (it is then empty), at least one must name
//! something, and any other member is refused, so that a misspelt list
//! (`"url"`) fails loudly rather than purging nothing. A purge that was
//! recorded is answered `200` with how many of each it purged
//! ([`PurgeResponse`]):
//!
//! ```text
//! {"purged": {"prefixes": 1, "tags": 1, "urls": 1}}
//! ```
//!
//! A write that goes through a cache needs no purge for its own URL: the
//! cache invalidates it itself
//! ([RFC 9111 §4.4](https://www.rfc-editor.org/rfc/rfc9111#section-4.4)).
//!
//! ```
//! use revalidate_core::purge::PurgeRequest;
//!
//! let request = PurgeRequest::urls(["/api/notes/1", "/api/notes/2", "/api/notes/1"].map(String::from));
//! assert_eq!(request.to_json(), r#"{"urls":["/api/notes/1","/api/notes/2"]}"#);
//! assert_eq!(PurgeRequest::from_json(request.to_json().as_bytes()).unwrap(), request);
//! assert!(PurgeRequest::from_json(br#"{"url": ["/a"]}"#).is_err());
//! ```

use serde::{Deserialize, Serialize};

/// Where the purge API lives on a cache: a path no application resource is
/// expected to use, under the `_revalidate` namespace.
pub const PURGE_PATH: &str = "/_revalidate/purge";

/// The body of a purge request.
///
/// Empty lists are left out of the JSON, so a request for URLs alone is
/// `{"urls":[...]}`; a missing list reads as empty; an unknown member is
/// an error.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PurgeRequest {
    /// Request targets whose every stored variant is forgotten.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Target prefixes: every stored response under one is forgotten.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prefixes: Vec<String>,
    /// `Cache-Tag` / `Surrogate-Key` tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

impl PurgeRequest {
    /// A request for these URLs, each named once, in the order first given
    /// (several writes of one resource queued together need one purge).
    pub fn urls(urls: impl IntoIterator<Item = String>) -> Self {
        let mut unique: Vec<String> = Vec::new();
        for url in urls {
            if !unique.contains(&url) {
                unique.push(url);
            }
        }
        Self {
            urls: unique,
            ..Self::default()
        }
    }

    /// Whether it names nothing to purge (a cache refuses it).
    pub fn is_empty(&self) -> bool {
        self.urls.is_empty() && self.prefixes.is_empty() && self.tags.is_empty()
    }

    /// The JSON body.
    pub fn to_json(&self) -> String {
        json(self)
    }

    /// Reads a JSON body; an unknown member or a list of anything but
    /// strings is an error.
    pub fn from_json(json: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(json)
    }
}

/// The body of the `200` a cache answers once a purge is recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeResponse {
    /// How many of each the request named.
    pub purged: PurgeCounts,
}

/// How many URLs, prefixes and tags one purge request named.
///
/// The members are declared in alphabetical order, the order the edge has
/// always written them in (from an ordered JSON map), so that its answer
/// keeps the same bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeCounts {
    /// Target prefixes.
    pub prefixes: usize,
    /// Tags.
    pub tags: usize,
    /// URLs.
    pub urls: usize,
}

impl PurgeResponse {
    /// The JSON body.
    pub fn to_json(&self) -> String {
        json(self)
    }

    /// Reads a JSON body.
    pub fn from_json(json: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(json)
    }
}

/// `value` as JSON; structs of strings and counts always serialise.
fn json(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("strings and counts serialise to JSON")
}
