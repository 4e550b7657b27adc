//! What goes wrong, and what the client gets for it: the stops an answer
//! can make before it has a response ([`Detour`]), and the mapping of file
//! system errors and refusals to statuses.
//!
//! Control flow is carried by [`Detour`], not by marker types inside an
//! `io::Error`: every step on the way returns `Result<T, Detour>`, `?`
//! carries a stop up, and the one place that decides what a stop means
//! (`answer`) matches on it.

use std::io;

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{self, HeaderValue};

use super::confine::Refusal;
use crate::problem::Problem;

/// Why an attempt at an answer stopped before it had a response.
#[derive(Debug)]
pub(super) enum Detour {
    /// The attempt runs on the async worker and met long work (hashing a
    /// file the index does not know, compressing, listing a directory):
    /// start over on a blocking thread.
    NeedsBlocking,
    /// The file changed between its `lstat` and its `open`, or while it
    /// was read: the bytes at hand may not be the ones its entity-tag
    /// names. The fast path then takes the general path; the general path
    /// answers `503` ([`file_changed`]).
    FileChanged,
    /// The file system refused ([`io_failure`]).
    Io(io::Error),
}

impl From<io::Error> for Detour {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// The answer still needs a blocking thread: what is left of a [`Detour`]
/// once every other stop became a response.
#[derive(Debug)]
pub(super) struct NeedsBlocking;

impl Detour {
    /// The response for a stop, or [`NeedsBlocking`] for the one that is
    /// retried elsewhere.
    pub(super) fn settle(self) -> Result<Response, NeedsBlocking> {
        match self {
            Self::NeedsBlocking => Err(NeedsBlocking),
            Self::FileChanged => Ok(file_changed()),
            Self::Io(e) => Ok(io_failure(&e)),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Io(e) => io_failure(&e),
            Refusal::OutsideRoot => not_found("the path leads outside the root"),
            Refusal::DataDir => not_found("the data directory is not served"),
        }
    }
}

/// `404` with a problem document saying why.
pub(super) fn not_found(why: &'static str) -> Response {
    Problem::new(StatusCode::NOT_FOUND, "Not Found")
        .with_detail(why)
        .into_response()
}

/// `503` with `Retry-After: 1`: the file is being written, so no
/// consistent answer exists this instant.
pub(super) fn file_changed() -> Response {
    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
        .with_detail("The file is being modified; retry shortly.")
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
        .into_response()
}

/// Maps a file system error to a status: missing → 404, not allowed →
/// 403, still changing (the index gives up hashing a file that keeps
/// changing with `WouldBlock`) → 503; other errors are the server's (500).
pub(super) fn io_failure(e: &io::Error) -> Response {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::InvalidFilename => {
            not_found("no such file")
        }
        io::ErrorKind::PermissionDenied => Problem::new(StatusCode::FORBIDDEN, "Forbidden")
            .with_detail("The file is not readable.")
            .into_response(),
        io::ErrorKind::WouldBlock => file_changed(),
        _ => {
            tracing::error!(error = %e, "static file IO error");
            internal_error()
        }
    }
}

/// `500`: a bug or an IO error this module cannot name.
pub(super) fn internal_error() -> Response {
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
}
