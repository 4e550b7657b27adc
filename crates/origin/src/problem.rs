//! Problem details for HTTP APIs ([RFC 9457]): every error this server
//! sends has an `application/problem+json` body saying what went wrong.
//! The document is the core's [`Problem`], the one builder the origin and
//! the edge share.
//!
//! [RFC 9457]: https://www.rfc-editor.org/rfc/rfc9457

use axum::response::{IntoResponse, Response};
pub use revalidate_core::problem::{PROBLEM_JSON, Problem};

/// An API handler's error: a [`Problem`], as axum's response (the core's
/// type cannot implement axum's trait itself). `?` converts.
#[derive(Debug)]
pub struct ProblemResponse(pub Problem);

impl From<Problem> for ProblemResponse {
    fn from(problem: Problem) -> Self {
        Self(problem)
    }
}

impl IntoResponse for ProblemResponse {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}
