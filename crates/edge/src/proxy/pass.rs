//! Requests the cache does not answer: any method but `GET`/`HEAD` goes to
//! the origin with the client's body, and a success invalidates (§4.4); a
//! `POST` response that RFC 9110 §9.3.3 lets answer a later `GET` of its
//! target is then stored.
//! What came back goes to the state machine as a [`Passed`]: it counts and
//! labels.

use std::net::IpAddr;

use bytes::Bytes;
use http::{Method, Request, Response, Uri};
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
    /// ([`OriginBody`]); `invalidated` stored URLs were invalidated;
    /// `stored`: a `POST` response stored for later `GET`s of its target
    /// (RFC 9110 §9.3.3).
    Answered {
        response: Response<EdgeBody>,
        invalidated: usize,
        stored: bool,
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
        // Only a `POST` response may be stored (RFC 9110 §9.3.3), which
        // needs the §4.2.3 clock readings.
        let post = parts.method == Method::POST;
        let sent = post.then(|| self.now());
        let reply = match self.inner.pool.send_upload(body, &upload, build).await {
            Ok(reply) => reply,
            Err(failure) => return Passed::Failed(failure),
        };
        let received = post.then(|| self.now());
        let Reply { response, member } = reply;
        // The member saw its own authority as `Host`, so its `Location`
        // and `Content-Location` are judged same-origin (§4.4) against
        // that authority.
        let (scheme, host) = self.inner.pool.origin_of(member);
        let target_path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let target: Uri = format!("{scheme}://{host}{target_path}")
            .parse()
            .unwrap_or_else(|_| parts.uri.clone());
        // §4.4: "A cache MUST invalidate the target URI ... when it
        // receives a non-error status code in response to an unsafe request
        // method", and MAY the Location and Content-Location URIs on the
        // same origin, which the core includes.
        let mut invalidated = 0;
        for uri in invalidation_targets(&parts.method, response.status(), &target, response.headers()) {
            self.invalidate(&uri).await;
            invalidated += 1;
        }
        let (mut head, body) = response.into_parts();
        strip_hop_by_hop(&mut head.headers);
        let (head, body) = match (sent, received) {
            (Some(sent), Some(received)) => {
                // After the invalidation above, so that it does not cover
                // the response stored now.
                let generation = self.inner.storage.generation();
                let key = self.primary_key(&self.normalised(parts.uri.clone()));
                match self
                    .store_post_response(
                        (&key, &parts.headers, &target),
                        head,
                        body,
                        (sent, received, generation),
                        member,
                    )
                    .await
                {
                    Ok(response) => {
                        return Passed::Answered {
                            response,
                            invalidated,
                            stored: true,
                        };
                    }
                    Err(not_stored) => not_stored,
                }
            }
            _ => (head, body),
        };
        let body = OriginBody::new(
            body,
            self.inner.upstream_body_timeout,
            self.inner.metrics.clone(),
            member,
        );
        Passed::Answered {
            response: Response::from_parts(head, boxed(body)),
            invalidated,
            stored: false,
        }
    }

    /// §4.4 invalidation done the way a purge is: a ban on the URL rather
    /// than removing the one stored object, so that it covers every `Vary`
    /// variant and also a fill that was sent before the write returned and
    /// would store the old version after this (bans cover what was fetched
    /// before them, [`crate::storage`]).
    ///
    /// The target's key under both schemes goes: a write over `https`
    /// changes what `http` clients get too. The target is normalised by
    /// the site's key rules first, as a `GET` of it would be.
    async fn invalidate(&self, uri: &Uri) {
        let uri = self.normalised(uri.clone());
        let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
        for prefix in &self.inner.key_prefixes {
            let key = primary_key(prefix, target);
            if let Err(e) = self.inner.storage.purge_url(&key).await {
                tracing::warn!(error = %e, key, "could not record an invalidation; removing the stored copy only");
                self.remove(&key).await;
            }
        }
    }
}
