//! The request as the answer needs it ([`StaticRequest`]): read once from
//! the method, target and header fields, owned so that it can move to a
//! blocking thread. A method other than `GET`/`HEAD` and a path that
//! cannot be cleaned are refused here ([`Rejection`]).

use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, StatusCode, Uri};
use revalidate_core::answer::RangeField;
use revalidate_core::{HttpDate, Preconditions};

use super::encoding::{AcceptEncoding, RankedCodings};
use super::failure::not_found;
use super::request_path::{self, CleanPath, PathRejection};
use crate::problem::Problem;

/// The request fields the answer needs, owned.
pub(super) struct StaticRequest {
    pub(super) method: Method,
    pub(super) path: CleanPath,
    pub(super) query: Option<String>,
    pub(super) codings: RankedCodings,
    pub(super) preconditions: Preconditions,
    /// Read only when the core saw a `Range` line.
    pub(super) range: RangeField,
    pub(super) now: HttpDate,
    /// Where to count the bytes a 304 saves, when the caller counts
    /// requests into [`Metrics`](crate::metrics::Metrics).
    pub(super) metrics: Option<crate::metrics::Metrics>,
    /// Answering on the async worker: anything that may take long
    /// (hashing, compressing, listing) stops with
    /// [`Detour::NeedsBlocking`](super::failure::Detour::NeedsBlocking).
    pub(super) inline: bool,
}

impl StaticRequest {
    /// Reads a request to answer on the async worker, or why there is
    /// nothing to look up.
    pub(super) fn read(
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        metrics: Option<&crate::metrics::Metrics>,
        now: HttpDate,
    ) -> Result<Self, Rejection> {
        if *method != Method::GET && *method != Method::HEAD {
            return Err(Rejection::Method(method.clone()));
        }
        let path = match request_path::clean_request_path(uri.path()) {
            Ok(path) => path,
            Err(PathRejection::Malformed(why)) => return Err(Rejection::Malformed(why)),
            Err(PathRejection::Refused(why)) => return Err(Rejection::Refused(why)),
        };
        let preconditions = Preconditions::from_headers(headers);
        Ok(Self {
            method: method.clone(),
            path,
            query: uri.query().map(str::to_owned),
            codings: AcceptEncoding::from_request(headers).ranked(),
            // The core's one pass over the fields saw whether there is a
            // `Range`; most requests have none and skip the lookup.
            range: if preconditions.has_range() {
                RangeField::from_headers(headers)
            } else {
                RangeField::default()
            },
            preconditions,
            now,
            metrics: metrics.cloned(),
            inline: true,
        })
    }
}

/// A request answered before any lookup.
#[derive(Debug)]
pub(super) enum Rejection {
    /// Not `GET` or `HEAD`: `405`.
    Method(Method),
    /// Not a usable path: `400`.
    Malformed(&'static str),
    /// A path that tries to leave the root or reach a hidden file: `404`.
    Refused(&'static str),
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self {
            // §15.5.6: "The origin server MUST generate an Allow header
            // field in a 405 response containing a list of the target
            // resource's currently supported methods."
            Self::Method(method) => Problem::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
                .with_detail(format!("Static files answer GET and HEAD, not {method}."))
                .with_header(header::ALLOW, HeaderValue::from_static("GET, HEAD"))
                .into_response(),
            Self::Malformed(why) => Problem::new(StatusCode::BAD_REQUEST, "Bad Request")
                .with_detail(why)
                .into_response(),
            Self::Refused(why) => not_found(why),
        }
    }
}
