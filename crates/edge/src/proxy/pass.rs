//! Requests the cache does not answer: other methods go to the origin with
//! the client's body, and a success invalidates (§4.4).

use std::net::IpAddr;

use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri};
use http_body::Body;
use revalidate_core::cache::{Forward, invalidation_targets, strip_hop_by_hop};

use super::Edge;
use crate::body::{BoxError, EdgeBody, boxed};
use crate::decide::{decorate, forwarded_headers, primary_key};
use crate::metrics::Outcome;
use crate::problem::Problem;

impl Edge {
    /// Any method but `GET`/`HEAD`: forwarded as is; a success invalidates
    /// (§4.4).
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
        let mut forward = Request::new(boxed(body));
        *forward.method_mut() = parts.method.clone();
        *forward.uri_mut() = self.origin_uri(&parts.uri);
        *forward.headers_mut() = forwarded_headers(&parts.headers, &self.inner.via, peer);
        self.set_origin_host(forward.headers_mut());
        let method_status = |status: Option<StatusCode>| {
            let builder = self.status(Some(Forward::Method));
            match status {
                Some(status) => builder.forward_status(status),
                None => builder,
            }
            .to_header_value()
        };
        let response = match self.inner.upstream.send(forward).await {
            Ok(response) => response,
            Err(failure) => {
                self.inner.metrics.origin_error(failure.metric());
                self.inner.metrics.request(Outcome::Error);
                let mut response = Problem::new(failure.status(), "Origin unavailable")
                    .with_detail(failure.detail())
                    .into_response();
                decorate(
                    response.headers_mut(),
                    None,
                    &method_status(None),
                    &self.inner.via,
                );
                return response;
            }
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
            self.remove(&primary_key(&uri)).await;
            self.inner.metrics.purge(crate::metrics::PurgeKind::Invalidation);
        }
        let (mut head, body) = response.into_parts();
        strip_hop_by_hop(&mut head.headers);
        decorate(
            &mut head.headers,
            None,
            &method_status(Some(head.status)),
            &self.inner.via,
        );
        Response::from_parts(head, boxed(body))
    }
}
