//! Media types by file extension, memoised: the guess and the formatting
//! of the `Content-Type` value happen once per extension, not per request.

use std::collections::HashMap;
use std::sync::RwLock;

use http::HeaderValue;

use super::compress;

/// What the extension says about a file.
#[derive(Clone, Debug)]
pub(super) struct MediaType {
    /// The `Content-Type` value, with `charset=utf-8` for text.
    pub(super) content_type: HeaderValue,
    /// HTML gets its own `Cache-Control` default.
    pub(super) is_html: bool,
    /// Worth compressing on the fly.
    pub(super) compressible: bool,
}

/// How many extensions are remembered: names with odd extensions cannot
/// grow the map forever.
const CAPACITY: usize = 1024;

/// Extension → [`MediaType`].
#[derive(Debug, Default)]
pub(super) struct MediaTypes {
    by_extension: RwLock<HashMap<Box<str>, MediaType>>,
}

impl MediaTypes {
    /// The media type of `relative` (a path relative to the root), by its
    /// extension.
    pub(super) fn of(&self, relative: &str) -> MediaType {
        let name = relative.rsplit('/').next().unwrap_or(relative);
        let extension = name.rsplit_once('.').map_or("", |(_, extension)| extension);
        if let Some(media) = self
            .by_extension
            .read()
            .ok()
            .and_then(|m| m.get(extension).cloned())
        {
            return media;
        }
        let mime = mime_guess::from_ext(extension).first_or_octet_stream();
        let media = MediaType {
            content_type: content_type_value(&mime),
            is_html: mime.essence_str() == "text/html",
            compressible: compress::is_compressible(mime.essence_str()),
        };
        if let Ok(mut map) = self.by_extension.write()
            && map.len() < CAPACITY
        {
            map.insert(extension.into(), media.clone());
        }
        media
    }
}

/// `Content-Type` with `charset=utf-8` for text.
fn content_type_value(mime: &mime_guess::Mime) -> HeaderValue {
    let essence = mime.essence_str();
    let textual = mime.type_() == mime_guess::mime::TEXT
        || mime
            .suffix()
            .is_some_and(|s| s == mime_guess::mime::JSON || s == mime_guess::mime::XML)
        || matches!(
            essence,
            "application/javascript" | "application/json" | "application/xml"
        );
    let value = if textual && mime.get_param(mime_guess::mime::CHARSET).is_none() {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}
