//! Going to the origin for a `GET`/`HEAD`: a cache fill (unconditional) or
//! a revalidation (§4.3), then storing what may be stored while streaming
//! it to the client, and landing the flight with what was stored.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use revalidate_core::answer::Plan;
use revalidate_core::cache::{
    Forward, StoreDecision, Validation, on_validation_response, stale_if_error_allows, storable_headers,
    storage_decision, stored_validators, strip_hop_by_hop, update_stored_headers,
};

use super::render;
use super::{Ask, Edge, Found, Label};
use crate::body::{BoxError, ChannelBody, EdgeBody, OriginBody, boxed, empty};
use crate::decide::{client_plan, declines_to_store, decorate, surrogate_tags};
use crate::entry::{Meta, ResponseEntry, ResponseMeta, VaryIndex, vary_request_fields};
use crate::flight::{Flight, Landed, Product, land};
use crate::forward::fill_headers;
use crate::metrics::{Outcome, Revalidation, StaleReason};
use crate::problem::Problem;
use crate::storage::{CacheWriter, ObjectHead, ObjectWriter, Storage, StoredObject};
use crate::upstream::Failure;

type ClientSender = tokio::sync::mpsc::Sender<Result<http_body::Frame<Bytes>, BoxError>>;

impl Edge {
    fn fill_request(&self, ask: &Ask, stored: Option<&HeaderMap>) -> Request<EdgeBody> {
        let mut request = Request::new(empty());
        *request.uri_mut() = self.origin_uri(&ask.uri);
        *request.headers_mut() = fill_headers(&ask.headers, stored, &self.forwarding(ask.peer));
        self.set_origin_host(request.headers_mut());
        if self.inner.cache.targeted_field.is_some()
            && let Some(capability) = crate::surrogate::capability(&self.inner.name)
        {
            request
                .headers_mut()
                .append(crate::surrogate::SURROGATE_CAPABILITY, capability);
        }
        request
    }

    fn origin_failed(&self, failure: Failure) {
        if let Some(kind) = failure.origin_error() {
            self.inner.metrics.origin_error(kind);
        }
    }

    /// A cache fill: an unconditional `GET` to the origin; `flight` when
    /// other requests may wait for it.
    pub(super) async fn fetch(
        &self,
        ask: &Ask,
        index: Option<VaryIndex>,
        flight: Option<Flight>,
        why: Forward,
    ) -> Response<EdgeBody> {
        let sent = self.now();
        // A purge from here on must also cover what this fetch stores.
        let purge_generation = self.inner.storage.generation();
        match self.inner.upstream.send(self.fill_request(ask, None)).await {
            Err(failure) => {
                self.origin_failed(failure);
                land(flight, || Landed::Failed(failure));
                self.failed(ask, None, failure, why, false)
            }
            Ok(response) if response.status() == StatusCode::NOT_MODIFIED => {
                // Unsolicited: the fill carried no validators, so a 304 has
                // nothing to refresh and no body to give the client.
                land(flight, || Landed::NotStored);
                self.origin_failed(Failure::Origin(crate::metrics::OriginError::Protocol));
                self.count(ask, Outcome::Error);
                let mut response = Problem::new(StatusCode::BAD_GATEWAY, "Unsolicited 304 from the origin")
                    .with_detail("The origin answered 304 Not Modified to a request without validators.")
                    .into_response();
                let status = self.status(Some(why)).forward_status(StatusCode::NOT_MODIFIED);
                decorate(
                    response.headers_mut(),
                    None,
                    &status.to_header_value(),
                    &self.inner.via,
                );
                response
            }
            Ok(response) => {
                let received = self.now();
                self.store_and_stream(
                    ask,
                    response,
                    (sent, received, purge_generation),
                    index,
                    flight,
                    None,
                    (why, Outcome::Miss),
                )
                .await
            }
        }
    }

    /// §4.3: validates `found` with the origin; `flight` when other
    /// requests may wait for it.
    pub(super) async fn revalidate(
        &self,
        ask: &Ask,
        found: Found,
        flight: Option<Flight>,
    ) -> Response<EdgeBody> {
        let sent = self.now();
        let purge_generation = self.inner.storage.generation();
        let request = self.fill_request(ask, Some(&found.entry.meta.headers));
        let response = match self.inner.upstream.send(request).await {
            Ok(response) => response,
            Err(failure) => {
                self.origin_failed(failure);
                self.inner.metrics.revalidation(Revalidation::Failed);
                land(flight, || Landed::Failed(failure));
                return self.failed(ask, Some(&found), failure, Forward::Stale, false);
            }
        };
        let received = self.now();
        match on_validation_response(
            response.status(),
            response.headers(),
            &found.entry.meta.headers,
            true,
        ) {
            Validation::NotModified => {
                self.inner.metrics.revalidation(Revalidation::NotModified);
                self.inner
                    .metrics
                    .saved_from_origin(found.object.body.len() as u64);
                // §4.3.4: "the cache MUST ... update its header fields with
                // the header fields provided in the 304".
                let mut update = response.headers().clone();
                if self.inner.cache.targeted_field.is_some() {
                    crate::surrogate::translate(&self.inner.name, &mut update);
                }
                let mut headers = found.entry.meta.headers.clone();
                update_stored_headers(&mut headers, &update);
                let meta = ResponseMeta {
                    status: found.entry.meta.status,
                    headers: storable_headers(&self.inner.cache, &headers),
                    request_time: sent,
                    response_time: received,
                    vary_request: found.entry.meta.vary_request.clone(),
                };
                drop(response);
                // §4.3.4: the refreshed headers may forbid storing now (or
                // the 304 set a cookie the edge does not share).
                let declined = declines_to_store(&meta.headers, self.inner.cache_set_cookie);
                let storable = storage_decision(
                    &self.inner.cache,
                    &Method::GET,
                    &ask.headers,
                    meta.status,
                    &meta.headers,
                ) == StoreDecision::Store
                    && declined.is_none();
                let encoded = storable.then(|| Meta::Response(meta.clone()).encode());
                let entry = Arc::new(ResponseEntry::new(meta, &self.inner.cache, self.inner.id));
                let landed = match encoded {
                    Some(encoded) => {
                        let object = StoredObject::new(
                            ask.key.clone(),
                            surrogate_tags(&entry.meta.headers),
                            encoded,
                            found.object.body.clone(),
                        )
                        .as_of_generation(purge_generation);
                        match self.inner.storage.insert(found.storage_key.clone(), object).await {
                            Ok(()) => Landed::Stored {
                                status: StatusCode::NOT_MODIFIED,
                                // The body is the one validated; the head is new.
                                product: Product {
                                    storage_key: found.storage_key.clone(),
                                    object: Arc::clone(&found.object),
                                    entry: Some(Arc::clone(&entry)),
                                },
                            },
                            Err(e) => {
                                tracing::warn!(error = %e, key = found.storage_key, "could not store a refreshed response");
                                Landed::NotStored
                            }
                        }
                    }
                    None => {
                        self.remove(&found.storage_key).await;
                        Landed::NotStored
                    }
                };
                land(flight, || landed);
                self.count(ask, Outcome::Revalidated);
                let mut status = self
                    .status(Some(Forward::Stale))
                    .forward_status(StatusCode::NOT_MODIFIED)
                    .stored(storable);
                if let Some(declined) = declined {
                    status = status.detail(declined.token());
                }
                let refreshed = Found { entry, ..found };
                let at = self.age_now(&refreshed);
                self.serve_stored(ask, &refreshed, Label::Other(status), at)
            }
            Validation::NotModifiedMismatch => {
                // §4.3.4: a 304 that selects no stored response cannot be
                // used; ask again without validators.
                self.inner.metrics.revalidation(Revalidation::Other);
                drop(response);
                self.fetch(ask, found.index.clone(), flight, Forward::Stale).await
            }
            Validation::ServerError
                if stale_if_error_allows(
                    &self.inner.cache,
                    &found.entry.meta.stored(),
                    &ask.headers,
                    received,
                ) =>
            {
                self.inner.metrics.revalidation(Revalidation::Other);
                let origin_status = response.status();
                drop(response);
                land(flight, || Landed::NotStored);
                self.count(ask, Outcome::Stale);
                self.inner.metrics.stale(StaleReason::IfError);
                let status = self
                    .status(Some(Forward::Stale))
                    .forward_status(origin_status)
                    .detail("stale-if-error");
                let at = self.age_now(&found);
                self.serve_stored(ask, &found, Label::Other(status), at)
            }
            Validation::ServerError | Validation::Replace => {
                self.inner
                    .metrics
                    .revalidation(if response.status() == StatusCode::OK {
                        Revalidation::Replaced
                    } else {
                        Revalidation::Other
                    });
                self.store_and_stream(
                    ask,
                    response,
                    (sent, received, purge_generation),
                    found.index.clone(),
                    flight,
                    Some(&found.storage_key),
                    (Forward::Stale, Outcome::Revalidated),
                )
                .await
            }
        }
    }

    pub(super) async fn remove(&self, key: &str) {
        if let Err(e) = self.inner.storage.remove(key).await {
            tracing::warn!(error = %e, key, "could not remove a cache entry");
        }
    }

    /// Sends a response from the origin to the client, storing it on the
    /// way when §3 allows and the edge does not decline it (`Set-Cookie`);
    /// `previous` is the stored response it replaces.
    #[allow(clippy::too_many_arguments)]
    async fn store_and_stream(
        &self,
        ask: &Ask,
        response: Response<Incoming>,
        (sent, received, purge_generation): (u64, u64, u64),
        index: Option<VaryIndex>,
        flight: Option<Flight>,
        previous: Option<&str>,
        (why, outcome): (Forward, Outcome),
    ) -> Response<EdgeBody> {
        let (mut parts, body) = response.into_parts();
        if self.inner.cache.targeted_field.is_some() {
            crate::surrogate::translate(&self.inner.name, &mut parts.headers);
        }
        let status = parts.status;
        let decision = storage_decision(
            &self.inner.cache,
            &Method::GET,
            &ask.headers,
            status,
            &parts.headers,
        );
        // §3.1 and §5.2.2: what may be kept differs from what this client
        // gets, which is the whole response less its hop-by-hop fields
        // (RFC 9110 §7.6.1).
        let stored_headers = storable_headers(&self.inner.cache, &parts.headers);
        // What would be kept, not what was sent: a cookie the origin named
        // in `no-cache="Set-Cookie"` or `private="Set-Cookie"` is not kept.
        let declined = match decision {
            StoreDecision::Store => declines_to_store(&stored_headers, self.inner.cache_set_cookie),
            StoreDecision::DoNotStore(_) => None,
        };
        let mut headers = parts.headers;
        strip_hop_by_hop(&mut headers);
        let content_length = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let meta = ResponseMeta {
            status,
            vary_request: vary_request_fields(&stored_headers, &ask.headers),
            headers: stored_headers,
            request_time: sent,
            response_time: received,
        };
        let writer = if decision == StoreDecision::Store && declined.is_none() {
            self.begin_store(ask, &meta, index, content_length, purge_generation)
                .await
        } else {
            if let Some(previous) = previous {
                self.remove(previous).await;
            }
            None
        };
        let stored = writer.is_some();
        let mut cache_status = self.status(Some(why)).forward_status(status).stored(stored);
        if stored {
            cache_status = cache_status.ttl(self.ttl(&meta, received));
        }
        if let Some(declined) = declined {
            cache_status = cache_status.detail(declined.token());
        }
        self.count(ask, outcome);
        let plan = client_plan(
            &ask.method,
            &ask.headers,
            status,
            &stored_validators(&meta.stored()),
            None,
            received,
        );
        let wants_body = plan == Plan::Full && ask.method == Method::GET && !ask.background;
        let (tx, client_body) = if wants_body {
            let (tx, body) = ChannelBody::new(content_length);
            (Some(tx), boxed(body))
        } else {
            (None, empty())
        };
        if plan == Plan::NotModified {
            self.inner.metrics.not_modified(content_length.unwrap_or(0));
        }
        let mut response = render::from_origin(&plan, status, headers, client_body);
        decorate(
            response.headers_mut(),
            None,
            &cache_status.to_header_value(),
            &self.inner.via,
        );
        if writer.is_none() && tx.is_none() {
            drop(body);
            land(flight, || Landed::NotStored);
        } else {
            let body = OriginBody::new(body, self.inner.upstream_body_timeout, self.inner.metrics.clone());
            tokio::spawn(tee(body, writer, tx, flight.map(|flight| (flight, status))));
        }
        response
    }

    /// Starts storing a response: under the primary key, or under its
    /// variant key with the `Vary` index at the primary key. Returns the
    /// storage key with the writer.
    async fn begin_store(
        &self,
        ask: &Ask,
        meta: &ResponseMeta,
        index: Option<VaryIndex>,
        size_hint: Option<u64>,
        purge_generation: u64,
    ) -> Option<(String, CacheWriter)> {
        let varies = revalidate_core::cache::validate::vary_names(&meta.headers)
            .is_some_and(|names| !names.is_empty());
        let storage_key = if varies {
            let index = match index {
                Some(index) if index.same_vary(&meta.headers) => index,
                _ => {
                    let index = VaryIndex::for_response(&meta.headers);
                    let object = StoredObject::new(
                        ask.key.clone(),
                        Vec::new(),
                        Meta::Vary(index.clone()).encode(),
                        Bytes::new(),
                    );
                    if let Err(e) = self.inner.storage.insert(ask.key.clone(), object).await {
                        tracing::warn!(error = %e, key = ask.key, "could not store a Vary index");
                        return None;
                    }
                    index
                }
            };
            index.variant_key(&ask.key, &ask.headers)?
        } else {
            ask.key.clone()
        };
        let head = ObjectHead {
            url: ask.key.clone(),
            tags: surrogate_tags(&meta.headers),
            meta: Meta::Response(meta.clone()).encode(),
            size_hint,
            purge_generation: Some(purge_generation),
        };
        let writer = self.inner.storage.begin(storage_key.clone(), head);
        Some((storage_key, writer))
    }

    /// stale-while-revalidate: one background refresh per key.
    pub(super) fn spawn_refresh(&self, ask: &Ask, found: &Found) {
        let Some(flight) = self.inner.flights.try_lead(&ask.key) else {
            return;
        };
        let edge = self.clone();
        let mut ask = ask.clone();
        ask.background = true;
        ask.method = Method::GET;
        let found = found.clone();
        tokio::spawn(async move {
            // The response is nobody's; dropping it lets the storing task
            // finish on its own.
            drop(Box::pin(edge.revalidate(&ask, found, Some(flight))).await);
        });
    }

    /// The client's `Host` is replaced by the origin's authority, as
    /// nginx's `proxy_pass` does by default (crate docs, "Cache key"). The cache
    /// key is the path and query; forwarding a client-chosen `Host` would let
    /// one client store another site's response (or an error page) under a
    /// path every client shares: cache poisoning.
    pub(super) fn set_origin_host(&self, headers: &mut HeaderMap) {
        if let Some(host) = &self.inner.origin_host {
            headers.insert(http::header::HOST, HeaderValue::clone(host));
        }
    }
}

/// Reads the origin's body to its end, feeding the client (while it is
/// there) and the storage writer (while the body fits), then commits and
/// lands the flight (with the status the origin answered and what was
/// stored). A body that breaks off or goes silent ([`OriginBody`]) is
/// stored nowhere and ends the client's response with the error, so the
/// client sees an aborted response, never a complete-looking short one;
/// the flight lands as not stored, so the requests waiting for it go to
/// the origin themselves.
async fn tee(
    mut body: OriginBody,
    mut writer: Option<(String, CacheWriter)>,
    mut tx: Option<ClientSender>,
    flight: Option<(Flight, StatusCode)>,
) {
    let mut complete = true;
    loop {
        if writer.is_none() && tx.is_none() {
            complete = false;
            break;
        }
        match body.frame().await {
            None => break,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "origin body broke off");
                if let Some(tx) = tx.take() {
                    let _ = tx.send(Err(e)).await;
                }
                complete = false;
                break;
            }
            Some(Ok(frame)) => {
                if let (Some(data), Some((_, w))) = (frame.data_ref(), writer.as_mut())
                    && w.push(data).is_err()
                {
                    // Too large to store: keep streaming to the client.
                    writer = None;
                }
                if let Some(sender) = &tx
                    && sender.send(Ok(frame)).await.is_err()
                {
                    // The client left; keep reading only to finish storing.
                    tx = None;
                }
            }
        }
    }
    let product = match (complete, writer) {
        (true, Some((storage_key, writer))) => match writer.commit().await {
            Ok(object) => Some(Product {
                storage_key,
                object,
                entry: None,
            }),
            Err(e) => {
                tracing::debug!(error = %e, "response not stored");
                None
            }
        },
        _ => None,
    };
    if let Some((flight, status)) = flight {
        flight.land(match product {
            Some(product) => Landed::Stored { status, product },
            None => Landed::NotStored,
        });
    }
}
