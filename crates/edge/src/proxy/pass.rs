//! Requests the cache does not answer: any method but `GET`/`HEAD` goes to
//! the origin with the client's body, and a success invalidates (§4.4).
//! What came back goes to the state machine as a [`Passed`]: it counts and
//! labels.

use std::net::IpAddr;

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body::Body;
use revalidate_core::cache::{invalidation_targets, strip_hop_by_hop};

use super::setup::Edge;
use crate::body::{BoxError, EdgeBody, OriginBody, boxed};
use crate::decide::primary_key;
use crate::forward::forwarded_headers;
use crate::pool::Reply;
use crate::storage::Storage;
use crate::upstream::Failure;

/// What a forwarded request brought back.
pub(super) enum Passed {
    /// The origin's response, hop-by-hop fields removed, its body watched
    /// ([`OriginBody`]); `invalidated` stored URLs were invalidated.
    Answered {
        response: Response<EdgeBody>,
        invalidated: usize,
    },
    /// No response: the origin's fault or the client's upload's.
    Failed(Failure),
}

impl Edge {
    /// Any method but `GET`/`HEAD`: forwarded as is, with the client's body
    /// watched ([`crate::upload`]) so that its faults are the client's; a
    /// success invalidates (§4.4).
    pub(super) async fn pass<B>(&self, request: Request<B>, peer: Option<IpAddr>) -> Passed
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = request.into_parts();
        let (body, upload) = crate::upload::watch(body, self.inner.client_body_timeout);
        let forwarding = self.forwarding(peer);
        // The client's path and query; the pool sets the member's scheme,
        // authority and `Host`.
        let build = |body| {
            let mut forward = Request::new(body);
            *forward.method_mut() = parts.method.clone();
            *forward.uri_mut() = parts.uri.clone();
            *forward.headers_mut() = forwarded_headers(&parts.headers, &forwarding);
            forward
        };
        let reply = match self.inner.pool.send_upload(body, &upload, build).await {
            Ok(reply) => reply,
            Err(failure) => return Passed::Failed(failure),
        };
        let Reply { response, member } = reply;
        // The member saw its own authority as `Host`, so its `Location`
        // and `Content-Location` are judged same-origin (§4.4) against
        // that authority.
        let (scheme, host) = self.inner.pool.origin_of(member);
        let target: Uri = format!("{scheme}://{host}{}", primary_key(&parts.uri))
            .parse()
            .unwrap_or_else(|_| parts.uri.clone());
        // §4.4: "A cache MUST invalidate the target URI ... when it
        // receives a non-error status code in response to an unsafe request
        // method", and MAY the Location and Content-Location URIs on the
        // same origin, which the core includes.
        let mut invalidated = 0;
        for uri in invalidation_targets(&parts.method, response.status(), &target, response.headers()) {
            self.invalidate(&primary_key(&uri)).await;
            invalidated += 1;
        }
        let (mut head, body) = response.into_parts();
        strip_hop_by_hop(&mut head.headers);
        let body = OriginBody::new(
            body,
            self.inner.upstream_body_timeout,
            self.inner.metrics.clone(),
            member,
        );
        Passed::Answered {
            response: Response::from_parts(head, boxed(body)),
            invalidated,
        }
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
}
