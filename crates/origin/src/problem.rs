//! Problem details for HTTP APIs ([RFC 9457]): every error this server
//! sends has an `application/problem+json` body saying what went wrong.
//!
//! [RFC 9457]: https://www.rfc-editor.org/rfc/rfc9457

use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};

/// The media type of a problem details body ([RFC 9457 §3]).
///
/// [RFC 9457 §3]: https://www.rfc-editor.org/rfc/rfc9457#section-3
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem details object ([RFC 9457 §3.1]) and the status it goes with.
///
/// ```
/// use http::StatusCode;
/// use revalidate_origin::problem::Problem;
///
/// let p = Problem::new(StatusCode::PRECONDITION_FAILED, "The resource has changed")
///     .with_detail("Re-fetch it, apply your change again and retry with the new ETag.");
/// assert_eq!(p.status(), StatusCode::PRECONDITION_FAILED);
/// ```
///
/// [RFC 9457 §3.1]: https://www.rfc-editor.org/rfc/rfc9457#section-3.1
#[derive(Clone, Debug)]
pub struct Problem(Box<Inner>);

/// Boxed so that `Result<_, Problem>` stays one pointer wide on the happy path.
#[derive(Clone, Debug)]
struct Inner {
    status: StatusCode,
    body: Map<String, Value>,
    headers: HeaderMap,
}

impl Problem {
    /// A problem with a status and a short, human-readable title. The
    /// `type` stays `about:blank`, whose title is the status phrase by
    /// convention, unless [`Problem::with_type`] names a more precise one.
    pub fn new(status: StatusCode, title: impl Into<String>) -> Self {
        let mut body = Map::new();
        body.insert("type".into(), Value::from("about:blank"));
        body.insert("title".into(), Value::from(title.into()));
        body.insert("status".into(), Value::from(status.as_u16()));
        Self(Box::new(Inner {
            status,
            body,
            headers: HeaderMap::new(),
        }))
    }

    /// Sets the `type` URI that identifies the problem type.
    pub fn with_type(mut self, type_uri: impl Into<String>) -> Self {
        self.0.body.insert("type".into(), Value::from(type_uri.into()));
        self
    }

    /// Sets the `detail` member: what happened to this request and what to do.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.0.body.insert("detail".into(), Value::from(detail.into()));
        self
    }

    /// Adds an extension member ([RFC 9457 §3.2]).
    ///
    /// [RFC 9457 §3.2]: https://www.rfc-editor.org/rfc/rfc9457#section-3.2
    pub fn with_member(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.0.body.insert(name.into(), value.into());
        self
    }

    /// Adds a response header (e.g. `ETag` on a 412, `Allow` on a 405).
    pub fn with_header(mut self, name: http::header::HeaderName, value: HeaderValue) -> Self {
        self.0.headers.append(name, value);
        self
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let Inner {
            status,
            body,
            headers: extra,
        } = *self.0;
        let body = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        headers.extend(extra);
        response
    }
}
