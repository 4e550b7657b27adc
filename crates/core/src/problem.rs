//! Problem details ([RFC 9457]): the `application/problem+json` document
//! every error the servers write carries, built one way for the origin and
//! the edge. The document is data; each shell turns it into its response
//! type with [`Problem::into_response`].
//!
//! [RFC 9457]: https://www.rfc-editor.org/rfc/rfc9457

use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Response, StatusCode};
use serde_json::{Map, Value};

/// The media type of a problem details body ([RFC 9457 §3]).
///
/// [RFC 9457 §3]: https://www.rfc-editor.org/rfc/rfc9457#section-3
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem details object ([RFC 9457 §3.1]), the status it goes with
/// and the response fields it brings (an `ETag` on a 412, an `Allow` on a
/// 405).
///
/// ```
/// use http::StatusCode;
/// use revalidate_core::problem::Problem;
///
/// let response: http::Response<Vec<u8>> =
///     Problem::new(StatusCode::PRECONDITION_FAILED, "The resource has changed")
///         .with_detail("Re-fetch it, apply your change again and retry with the new ETag.")
///         .into_response();
/// assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
/// assert_eq!(response.headers()["content-type"], "application/problem+json");
/// let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
/// assert_eq!(body["type"], "about:blank");
/// assert_eq!(body["status"], 412);
/// ```
///
/// [RFC 9457 §3.1]: https://www.rfc-editor.org/rfc/rfc9457#section-3.1
#[derive(Clone, Debug)]
pub struct Problem(Box<Inner>);

/// Boxed so that `Result<_, Problem>` stays one pointer wide on the happy
/// path.
#[derive(Clone, Debug)]
struct Inner {
    status: StatusCode,
    members: Map<String, Value>,
    headers: HeaderMap,
}

impl Problem {
    /// A problem with a status and a short, human-readable title. The
    /// `type` stays `about:blank` (§4.2.1: its title is the status phrase
    /// by convention) unless [`Problem::with_type`] names a more precise
    /// one.
    pub fn new(status: StatusCode, title: impl Into<String>) -> Self {
        let mut members = Map::new();
        members.insert("type".into(), Value::from("about:blank"));
        members.insert("title".into(), Value::from(title.into()));
        members.insert("status".into(), Value::from(status.as_u16()));
        Self(Box::new(Inner {
            status,
            members,
            headers: HeaderMap::new(),
        }))
    }

    /// Sets the `type` URI that identifies the problem type (§3.1.1).
    #[must_use]
    pub fn with_type(mut self, type_uri: impl Into<String>) -> Self {
        self.0.members.insert("type".into(), Value::from(type_uri.into()));
        self
    }

    /// Sets the `detail` member (§3.1.4): what happened to this request
    /// and what to do about it.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.0.members.insert("detail".into(), Value::from(detail.into()));
        self
    }

    /// Adds an extension member ([RFC 9457 §3.2]).
    ///
    /// [RFC 9457 §3.2]: https://www.rfc-editor.org/rfc/rfc9457#section-3.2
    #[must_use]
    pub fn with_member(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.0.members.insert(name.into(), value.into());
        self
    }

    /// Adds a response field.
    #[must_use]
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.0.headers.append(name, value);
        self
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The document's members.
    pub fn members(&self) -> &Map<String, Value> {
        &self.0.members
    }

    /// The document as JSON, for a shell that writes its own fields.
    pub fn to_json(&self) -> Vec<u8> {
        // A map of strings and numbers always serialises.
        serde_json::to_vec(&self.0.members).unwrap_or_else(|_| b"{}".to_vec())
    }

    /// The response: the status, `Content-Type: application/problem+json`,
    /// the added fields, and the document as the body.
    pub fn into_response<B: From<Vec<u8>>>(self) -> Response<B> {
        let body = self.to_json();
        let Inner {
            status,
            headers: added,
            ..
        } = *self.0;
        let mut response = Response::new(B::from(body));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        headers.extend(added);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_fields_and_body() {
        let response: Response<Vec<u8>> = Problem::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
            .with_type("https://example.com/probs/method")
            .with_detail("Use GET.")
            .with_member("method", "PATCH")
            .with_header(http::header::ALLOW, HeaderValue::from_static("GET, HEAD"))
            .into_response();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(response.headers()["allow"], "GET, HEAD");
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "type": "https://example.com/probs/method",
                "title": "Method Not Allowed",
                "status": 405,
                "detail": "Use GET.",
                "method": "PATCH",
            })
        );
    }

    #[test]
    fn text_is_escaped() {
        let response: Response<Vec<u8>> =
            Problem::new(StatusCode::BAD_REQUEST, "Bad \"quote\"\n").into_response();
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["title"], "Bad \"quote\"\n");
    }
}
