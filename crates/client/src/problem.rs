//! Problem details ([RFC 9457]) read from error responses, so a failed
//! request says what the server said rather than only its status code.
//!
//! [RFC 9457]: https://www.rfc-editor.org/rfc/rfc9457

use http::HeaderMap;
use http::header::CONTENT_TYPE;
use serde_json::{Map, Value};

/// The media type of a problem details body ([RFC 9457 §3]).
///
/// [RFC 9457 §3]: https://www.rfc-editor.org/rfc/rfc9457#section-3
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem details object as the server sent it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Problem {
    /// `type`: a URI naming the problem type (`about:blank` when absent).
    pub problem_type: String,
    /// `title`: a short summary of the problem type.
    pub title: Option<String>,
    /// `status`: the status code the server gave in the body.
    pub status: Option<u16>,
    /// `detail`: what went wrong this time.
    pub detail: Option<String>,
    /// Every other member (extension members such as `current_etag`).
    pub extensions: Map<String, Value>,
}

impl Problem {
    /// Reads a problem from a response whose `Content-Type` is
    /// `application/problem+json`; `None` for any other response or for a
    /// body that is not a JSON object.
    ///
    /// ```
    /// use http::{HeaderMap, HeaderValue, header::CONTENT_TYPE};
    /// use revalidate_client::Problem;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    /// let body = br#"{"title": "Precondition Failed", "status": 412, "current_etag": "\"v2\""}"#;
    /// let problem = Problem::from_response(&headers, body).unwrap();
    /// assert_eq!(problem.status, Some(412));
    /// assert_eq!(problem.extensions["current_etag"], "\"v2\"");
    /// assert!(Problem::from_response(&HeaderMap::new(), body).is_none());
    /// ```
    pub fn from_response(headers: &HeaderMap, body: &[u8]) -> Option<Self> {
        let content_type = headers.get(CONTENT_TYPE)?.to_str().ok()?;
        let essence = content_type.split(';').next()?.trim();
        if !essence.eq_ignore_ascii_case(PROBLEM_JSON) {
            return None;
        }
        let Value::Object(mut members) = serde_json::from_slice(body).ok()? else {
            return None;
        };
        let mut text = |name: &str| match members.remove(name) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        };
        let problem_type = text("type").unwrap_or_else(|| "about:blank".to_owned());
        let title = text("title");
        let detail = text("detail");
        let status = members
            .remove("status")
            .and_then(|s| s.as_u64())
            .and_then(|s| u16::try_from(s).ok());
        Some(Self {
            problem_type,
            title,
            status,
            detail,
            extensions: members,
        })
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.title, &self.detail) {
            (Some(title), Some(detail)) => write!(f, "{title}: {detail}"),
            (Some(text), None) | (None, Some(text)) => f.write_str(text),
            (None, None) => f.write_str(&self.problem_type),
        }
    }
}
