//! Requests the cache does not answer: other methods go to the origin with
//! the client's body (a success invalidates, §4.4), and the few requests
//! the edge answers itself (`OPTIONS *`, the asterisk form, `CONNECT`).

use std::net::IpAddr;

use bytes::Bytes;
use http::header::{ALLOW, CONNECTION, CONTENT_LENGTH, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body::Body;
use revalidate_core::cache::{Forward, invalidation_targets, strip_hop_by_hop};

use super::Edge;
use crate::body::{BoxError, EdgeBody, OriginBody, boxed, empty};
use crate::decide::{ALLOWED_METHODS, Route, decorate, primary_key};
use crate::forward::forwarded_headers;
use crate::metrics::{Outcome, PurgeKind};
use crate::problem::Problem;
use crate::storage::Storage;
use crate::upstream::Failure;

impl Edge {
    /// Any method but `GET`/`HEAD`: forwarded as is, with the client's body
    /// watched ([`crate::upload`]) so that its faults are the client's; a
    /// success invalidates (§4.4).
    pub(super) async fn pass<B>(&self, request: Request<B>, peer: Option<IpAddr>) -> Response<EdgeBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = request.into_parts();
        // The origin sees its own authority as `Host` (below), so its
        // `Location` and `Content-Location` are judged same-origin (§4.4)
        // against that authority.
        let host = self.inner.origin_authority.clone();
        let (body, upload) = crate::upload::watch(body, self.inner.client_body_timeout);
        let mut forward = Request::new(body);
        *forward.method_mut() = parts.method.clone();
        *forward.uri_mut() = self.origin_uri(&parts.uri);
        *forward.headers_mut() = forwarded_headers(&parts.headers, &self.forwarding(peer));
        self.set_origin_host(forward.headers_mut());
        let response = match self.inner.upstream.send_upload(forward, &upload).await {
            Ok(response) => response,
            Err(failure) => return self.pass_failed(failure),
        };
        self.inner.metrics.request(Outcome::Pass);
        let target: Uri = format!("{}://{host}{}", self.inner.origin_scheme, primary_key(&parts.uri))
            .parse()
            .unwrap_or_else(|_| parts.uri.clone());
        // §4.4: "A cache MUST invalidate the target URI ... when it
        // receives a non-error status code in response to an unsafe request
        // method", and MAY the Location and Content-Location URIs on the
        // same origin, which the core includes.
        for uri in invalidation_targets(&parts.method, response.status(), &target, response.headers()) {
            self.invalidate(&primary_key(&uri)).await;
            self.inner.metrics.purge(PurgeKind::Invalidation);
        }
        let (mut head, body) = response.into_parts();
        strip_hop_by_hop(&mut head.headers);
        let status = self
            .status(Some(Forward::Method))
            .forward_status(head.status)
            .to_header_value();
        decorate(&mut head.headers, None, &status, &self.inner.via);
        let body = OriginBody::new(body, self.inner.upstream_body_timeout, self.inner.metrics.clone());
        Response::from_parts(head, boxed(body))
    }

    /// §4.4 invalidation done the way a purge is: a ban on the URL rather
    /// than removing the one stored object, so that it covers every `Vary`
    /// variant and also a fill that was sent before the write returned and
    /// would store the old version after this (bans cover what was fetched
    /// before them, [`crate::storage`]).
    async fn invalidate(&self, key: &str) {
        if let Err(e) = self.inner.storage.purge_url(key).await {
            tracing::warn!(error = %e, key, "could not record an invalidation; removing the stored copy only");
            self.remove(key).await;
        }
    }

    /// The origin, or the client's own upload, failed a forwarded request.
    fn pass_failed(&self, failure: Failure) -> Response<EdgeBody> {
        let mut problem = Problem::new(failure.status(), failure.title()).with_detail(failure.detail());
        match failure.origin_error() {
            Some(kind) => {
                self.inner.metrics.origin_error(kind);
                self.inner.metrics.request(Outcome::Error);
            }
            None => {
                self.inner.metrics.request(Outcome::ClientError);
                // The rest of the upload will not be read: the connection
                // cannot carry another request.
                problem = problem.with_header(CONNECTION, HeaderValue::from_static("close"));
            }
        }
        let mut response = problem.into_response();
        let status = self
            .status(Some(Forward::Method))
            .detail(failure.token())
            .to_header_value();
        decorate(response.headers_mut(), None, &status, &self.inner.via);
        response
    }

    /// The requests the edge answers itself, without the origin.
    pub(super) fn answer_itself(&self, route: Route) -> Response<EdgeBody> {
        let allow = HeaderValue::from_static(ALLOWED_METHODS);
        let mut response = match route {
            // RFC 9110 §9.3.7: "An OPTIONS request with an asterisk ("*") as
            // the request target applies to the server in general"; "A
            // server generating a successful response to OPTIONS SHOULD send
            // any header that might indicate optional features implemented
            // by the server ... (e.g., Allow)", and with no content it sends
            // "Content-Length" 0.
            Route::ServerOptions => {
                let mut response = Response::new(empty());
                response.headers_mut().insert(ALLOW, allow);
                response
                    .headers_mut()
                    .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
                response
            }
            // RFC 9110 §9.3.6: CONNECT asks for a tunnel, which a reverse
            // proxy in front of one origin does not open; §15.5.6: a 405
            // "MUST generate an Allow header field".
            Route::Connect => {
                self.inner.metrics.request(Outcome::ClientError);
                Problem::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
                    .with_detail("The edge is a reverse proxy for one origin; it opens no tunnels.")
                    .with_header(ALLOW, allow)
                    .into_response()
            }
            // RFC 9112 §3.2.4: the asterisk form "is only used for a
            // server-wide OPTIONS request".
            _ => {
                self.inner.metrics.request(Outcome::ClientError);
                Problem::new(StatusCode::BAD_REQUEST, "Bad Request")
                    .with_detail("The request target \"*\" is only for OPTIONS.")
                    .into_response()
            }
        };
        let status = self.status(Some(Forward::Bypass)).detail("edge-endpoint");
        decorate(
            response.headers_mut(),
            None,
            &status.to_header_value(),
            &self.inner.via,
        );
        response
    }
}
