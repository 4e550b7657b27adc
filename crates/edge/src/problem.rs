//! Problem details ([RFC 9457]) for every error the edge itself answers:
//! the origin unreachable or too slow, `only-if-cached` with nothing
//! stored, a failed precondition, the purge API's refusals, and faults in
//! the client's own request (a broken or stalled upload, the asterisk
//! form, `CONNECT`).
//!
//! [RFC 9457]: https://www.rfc-editor.org/rfc/rfc9457

use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use serde_json::{Map, Value};

use crate::body::{EdgeBody, full};

/// The media type of a problem details body ([RFC 9457 §3]).
///
/// [RFC 9457 §3]: https://www.rfc-editor.org/rfc/rfc9457#section-3
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem details object and its status.
#[derive(Clone, Debug)]
pub struct Problem {
    status: StatusCode,
    body: Map<String, Value>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Problem {
    /// A problem with a status and a short title.
    pub fn new(status: StatusCode, title: impl Into<String>) -> Self {
        let mut body = Map::new();
        body.insert("type".into(), Value::from("about:blank"));
        body.insert("title".into(), Value::from(title.into()));
        body.insert("status".into(), Value::from(status.as_u16()));
        Self {
            status,
            body,
            headers: Vec::new(),
        }
    }

    /// Sets the `detail` member: what happened and what to do.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.body.insert("detail".into(), Value::from(detail.into()));
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The response.
    pub fn into_response(self) -> Response<EdgeBody> {
        let body = serde_json::to_vec(&self.body).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = Response::new(full(body));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        // Errors describe this moment; a cache must not keep them.
        headers.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        response
    }
}
