//! Invalidation after unsafe requests ([RFC 9111 §4.4]).
//!
//! [RFC 9111 §4.4]: https://www.rfc-editor.org/rfc/rfc9111#section-4.4

use http::header::{CONTENT_LOCATION, LOCATION};
use http::{HeaderMap, Method, StatusCode, Uri};

/// The URIs whose stored responses must be invalidated after a response
/// with `status` to `method` on `target` (an absolute URI):
///
/// §4.4: "A cache MUST invalidate the target URI when it receives a
/// non-error status code in response to an unsafe request method", and
/// "MAY invalidate other URIs": the `Location` and `Content-Location`
/// URIs, but "MUST NOT invalidate a URI from a Location or
/// Content-Location response header field if the host part of that URI
/// differs from the host part in the target URI".
///
/// "Non-error" is 2xx and 3xx. Relative references resolve against the
/// target. An unparsable or other-origin reference is skipped.
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

/// `reference` resolved against `base` (absolute, network-path `//`,
/// absolute-path `/…`, or a relative path).
fn resolve(base: &Uri, reference: &str) -> Option<Uri> {
    if reference.is_empty() {
        return None;
    }
    let reference = reference.split('#').next().unwrap_or(reference);
    if let Ok(uri) = reference.parse::<Uri>()
        && uri.scheme().is_some()
    {
        return Some(uri);
    }
    let scheme = base.scheme_str()?;
    let authority = base.authority()?.as_str();
    let joined = if let Some(rest) = reference.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if reference.starts_with('/') {
        format!("{scheme}://{authority}{reference}")
    } else {
        let path = base.path();
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        let dir = if dir.is_empty() { "/" } else { dir };
        format!("{scheme}://{authority}{dir}{reference}")
    };
    joined.parse().ok()
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
