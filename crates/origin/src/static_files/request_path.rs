//! Turning the request target's path into a path relative to the root,
//! refusing everything that could leave it. Pure: no file system access.

use percent_encoding::percent_decode_str;

/// A request path that is safe to join onto the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CleanPath {
    /// The decoded segments joined by `/`: none empty, `.`, `..`, hidden,
    /// or holding a separator or NUL, so splitting on `/` gives them back.
    /// Empty for the root. Kept joined because the hot path needs exactly
    /// this (the template key, one path to `lstat`); a segment list cost
    /// an allocation per segment and a join per request.
    relative: String,
    /// Whether the request path ended in `/` (always true for `/`).
    pub(crate) trailing_slash: bool,
}

impl CleanPath {
    /// The path relative to the root, segments joined by `/`.
    pub(crate) fn relative(&self) -> &str {
        &self.relative
    }

    /// The decoded segments, in order.
    pub(crate) fn segments(&self) -> impl Iterator<Item = &str> {
        segments(&self.relative)
    }

    /// The canonical request path of the directory form, `/a/b/`, built
    /// from the cleaned segments so that a redirect can never point off-site
    /// (a raw `//evil.example` would be a protocol-relative URL).
    pub(crate) fn directory_location(&self) -> String {
        let mut location = String::from("/");
        for segment in self.segments() {
            location.extend(percent_encoding::utf8_percent_encode(segment, SEGMENT));
            location.push('/');
        }
        location
    }
}

/// The segments of a relative path made of clean segments joined by `/`
/// (none for the empty path).
pub(crate) fn segments(relative: &str) -> impl Iterator<Item = &str> {
    relative.split('/').filter(|segment| !segment.is_empty())
}

/// Characters escaped when a segment is put back into a URL path.
pub(crate) const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Why a request path was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PathRejection {
    /// Not a usable path at all (no leading `/`, NUL, invalid UTF-8): `400`.
    Malformed(&'static str),
    /// A path that tries to leave the root or reach a hidden file: `404`,
    /// the same answer a missing file gets, so probing learns nothing.
    Refused(&'static str),
}

/// Cleans the (still percent-encoded) path of a request target.
///
/// Segments are percent-decoded one by one, so `%2e%2e` is `..` and is
/// refused, and `%2f` or `%5c` inside a segment (an encoded separator) is
/// refused rather than being allowed to form new segments. Empty segments
/// (`//`) are merged, as nginx does.
pub(crate) fn clean_request_path(raw: &str) -> Result<CleanPath, PathRejection> {
    let Some(rest) = raw.strip_prefix('/') else {
        return Err(PathRejection::Malformed("the request path must start with '/'"));
    };
    if is_plain(rest) {
        // Nothing to decode, merge or refuse: the path is its own cleaning.
        return Ok(CleanPath {
            relative: rest.strip_suffix('/').unwrap_or(rest).to_owned(),
            trailing_slash: rest.is_empty() || rest.ends_with('/'),
        });
    }
    let mut relative = String::with_capacity(rest.len());
    for raw_segment in rest.split('/') {
        if raw_segment.is_empty() {
            continue;
        }
        // Most segments hold neither a `%` nor a byte the checks below are
        // about: one pass over the bytes, and the segment is its own
        // decoding (a `&str` split on `/` has no `/` left).
        let plain = raw_segment.bytes().all(|b| !matches!(b, b'%' | b'\\' | 0));
        let decoded = if plain {
            std::borrow::Cow::Borrowed(raw_segment)
        } else {
            let decoded = percent_decode_str(raw_segment)
                .decode_utf8()
                .map_err(|_| PathRejection::Malformed("the request path is not valid UTF-8 once decoded"))?;
            if decoded.contains('\0') {
                return Err(PathRejection::Malformed("the request path contains NUL"));
            }
            if decoded.contains(['/', '\\']) {
                return Err(PathRejection::Refused(
                    "a path segment contains an encoded separator",
                ));
            }
            decoded
        };
        if decoded == "." || decoded == ".." {
            return Err(PathRejection::Refused("dot segments are not allowed"));
        }
        if is_hidden(&decoded) {
            return Err(PathRejection::Refused("hidden files are not served"));
        }
        if !relative.is_empty() {
            relative.push('/');
        }
        relative.push_str(&decoded);
    }
    let trailing_slash = rest.is_empty() || rest.ends_with('/');
    Ok(CleanPath {
        relative,
        trailing_slash,
    })
}

/// Whether a name is hidden, and so never served nor indexed: it starts
/// with `.`, except `.well-known` (RFC 8615).
pub(crate) fn is_hidden(name: &str) -> bool {
    name.starts_with('.') && name != ".well-known"
}

/// Whether `rest` (the path after its leading `/`) needs no cleaning: no
/// `%` to decode, no `\\` or NUL, no empty segment (`//`), and no segment
/// starting with `.` (dot segments, hidden files, `.well-known`), which the
/// general loop decides. One pass over the bytes, for the common path.
fn is_plain(rest: &str) -> bool {
    let mut previous = b'/';
    for b in rest.bytes() {
        let general = match b {
            b'%' | b'\\' | 0 => true,
            b'/' | b'.' => previous == b'/',
            _ => false,
        };
        if general {
            return false;
        }
        previous = b;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let ok = |raw: &str, segs: &[&str], slash: bool| {
            let clean = clean_request_path(raw).unwrap();
            assert_eq!(clean.segments().collect::<Vec<_>>(), segs, "{raw}");
            assert_eq!(clean.relative(), segs.join("/"), "{raw}");
            assert_eq!(clean.trailing_slash, slash, "{raw}");
        };
        ok("/", &[], true);
        ok("/a/b.txt", &["a", "b.txt"], false);
        ok("/a//b/", &["a", "b"], true);
        ok("/a%20b", &["a b"], false);
        ok("/.well-known/x", &[".well-known", "x"], false);
        ok("/a/b/", &["a", "b"], true);
        ok("/a.b/c..d/e.", &["a.b", "c..d", "e."], false);
        ok("/%61/b", &["a", "b"], false);
        for refused in [
            "/..",
            "/a/../b",
            "/%2e%2e/x",
            "/%2E%2E",
            "/a%2fb",
            "/a%5cb",
            "/a\\b",
            "/.git/config",
            "/.",
            "/a/.",
            "/a/..",
            "/a/.hidden",
            "/a/./b",
        ] {
            assert!(
                matches!(clean_request_path(refused), Err(PathRejection::Refused(_))),
                "{refused}"
            );
        }
        for malformed in ["a", "", "/a%00b", "/a\0b", "/%ff"] {
            assert!(
                matches!(clean_request_path(malformed), Err(PathRejection::Malformed(_))),
                "{malformed}"
            );
        }
    }

    #[test]
    fn directory_location_cannot_be_protocol_relative() {
        let clean = clean_request_path("//evil.example").unwrap();
        assert_eq!(clean.directory_location(), "/evil.example/");
        let clean = clean_request_path("/a%20b/c%3Fd").unwrap();
        assert_eq!(clean.directory_location(), "/a%20b/c%3Fd/");
    }
}
