//! Invalidation after unsafe requests ([RFC 9111 §4.4]).
//!
//! [RFC 9111 §4.4]: https://www.rfc-editor.org/rfc/rfc9111#section-4.4

use http::header::{CONTENT_LOCATION, LOCATION};
use http::{HeaderMap, Method, StatusCode, Uri};

/// The URIs whose stored responses to invalidate after a response with
/// `status` to `method` on `target` (an absolute URI), target first.
///
/// §4.4: "A cache MUST invalidate the target URI (Section 7.1 of \[HTTP\])
/// when it receives a non-error status code in response to an unsafe
/// request method (including methods whose safety is unknown)." "A cache
/// MAY invalidate other URIs when it receives a non-error status code in
/// response to an unsafe request method", in particular "the URI(s) in the
/// Location and Content-Location response header fields (if present)";
/// "However, a cache MUST NOT trigger an invalidation under these
/// conditions if the origin (Section 4.3.1 of \[HTTP\]) of the URI to be
/// invalidated differs from that of the target URI".
///
/// "Non-error" is 2xx and 3xx. Methods are unsafe unless RFC 9110 §9.2.1
/// defines them safe (`GET`, `HEAD`, `OPTIONS`, `TRACE`), so an extension
/// method such as `M-SEARCH` invalidates. Relative references resolve
/// against the target (RFC 3986 §5.2, dot segments removed); an
/// unparsable or other-origin reference (scheme, host or port differ) is
/// skipped.
pub fn invalidation_targets(
    method: &Method,
    status: StatusCode,
    target: &Uri,
    response: &HeaderMap,
) -> Vec<Uri> {
    if method.is_safe() || !(status.is_success() || status.is_redirection()) {
        return Vec::new();
    }
    let mut out = vec![target.clone()];
    for name in [LOCATION, CONTENT_LOCATION] {
        let Some(value) = response.get(&name).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        if let Some(uri) = resolve(target, value.trim())
            && same_origin(&uri, target)
            && !out.contains(&uri)
        {
            out.push(uri);
        }
    }
    out
}

/// Whether `reference` (a `Content-Location` value) refers to `target`
/// once converted to absolute form (RFC 9110 §8.7): same origin, path and
/// query. An empty reference refers to nothing here.
pub(crate) fn refers_to(target: &Uri, reference: &str) -> bool {
    resolve(target, reference).is_some_and(|uri| {
        same_origin(&uri, target) && uri.path() == target.path() && uri.query() == target.query()
    })
}

/// `reference` resolved against `base` (RFC 3986 §5.2.2), without any
/// fragment.
fn resolve(base: &Uri, reference: &str) -> Option<Uri> {
    let reference = reference.split('#').next().unwrap_or(reference);
    if reference.is_empty() {
        return None;
    }
    // RFC 3986 §4.2: a relative-path reference has no ":" in its first
    // segment, so one that does is an absolute URI that failed to parse.
    let first_segment = reference.split(['/', '?']).next().unwrap_or("");
    if first_segment.contains(':') {
        return reference.parse::<Uri>().ok().filter(|uri| uri.scheme().is_some());
    }
    let scheme = base.scheme_str()?;
    let authority = base.authority()?.as_str();
    let (path_part, query) = match reference.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (reference, None),
    };
    let joined = if let Some(rest) = reference.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else {
        let path = if path_part.is_empty() {
            base.path().to_owned()
        } else if path_part.starts_with('/') {
            remove_dot_segments(path_part)
        } else {
            // §5.2.3 merge: the base path up to its last "/", then the reference.
            let base_path = base.path();
            let dir = &base_path[..base_path.rfind('/').map_or(0, |i| i + 1)];
            let dir = if dir.is_empty() { "/" } else { dir };
            remove_dot_segments(&format!("{dir}{path_part}"))
        };
        let query = match (query, path_part.is_empty()) {
            (Some(q), _) => format!("?{q}"),
            (None, true) => base.query().map(|q| format!("?{q}")).unwrap_or_default(),
            (None, false) => String::new(),
        };
        format!("{scheme}://{authority}{path}{query}")
    };
    joined.parse().ok()
}

/// RFC 3986 §5.2.4, on a path that starts with "/".
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    let mut trailing_slash = false;
    for (i, segment) in segments.iter().enumerate() {
        match *segment {
            "." => trailing_slash = i == last,
            ".." => {
                out.pop();
                trailing_slash = i == last;
            }
            s => {
                out.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut joined = String::from("/");
    joined.push_str(&out.join("/"));
    if trailing_slash && !joined.ends_with('/') {
        joined.push('/');
    }
    joined
}

fn same_origin(a: &Uri, b: &Uri) -> bool {
    let port = |u: &Uri| {
        u.port_u16().or(match u.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        })
    };
    a.scheme_str().map(str::to_ascii_lowercase) == b.scheme_str().map(str::to_ascii_lowercase)
        && a.host().map(str::to_ascii_lowercase) == b.host().map(str::to_ascii_lowercase)
        && port(a) == port(b)
}
