//! Problem details ([RFC 9457]) for every error the edge itself answers:
//! the origin unreachable or too slow, `only-if-cached` with nothing
//! stored, a failed precondition, the purge API's refusals, and faults in
//! the client's own request (a broken or stalled upload, the asterisk
//! form, `CONNECT`). The document is the core's [`Problem`], the one
//! builder the origin and the edge share; the edge's response adds
//! `Cache-Control: no-store` ([`IntoEdgeResponse`]).
//!
//! [RFC 9457]: https://www.rfc-editor.org/rfc/rfc9457

use http::Response;
use http::header::{CACHE_CONTROL, HeaderValue};
pub use revalidate_core::problem::{PROBLEM_JSON, Problem};

use crate::body::{EdgeBody, full};

/// A [`Problem`] as the edge sends it.
pub trait IntoEdgeResponse {
    /// The response, with `Cache-Control: no-store`: an error describes
    /// this moment, and no cache (the edge's own, or one downstream) may
    /// keep it.
    fn into_edge_response(self) -> Response<EdgeBody>;
}

impl IntoEdgeResponse for Problem {
    fn into_edge_response(self) -> Response<EdgeBody> {
        let mut response = self.into_response::<Vec<u8>>().map(full);
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}
