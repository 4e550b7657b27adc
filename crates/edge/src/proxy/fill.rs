//! Going to the origin for a `GET`/`HEAD`: a cache fill (unconditional) or
//! a revalidation (§4.3), then storing what may be stored while streaming
//! it to the client, and landing the flight with what was stored; and
//! storing a `POST` response that may answer a later `GET` (RFC 9110
//! §9.3.3) on its way through. What came
//! back goes to the state machine as a [`Fetched`] or a [`Validated`]: it
//! counts and labels; this room neither counts requests nor writes
//! `Cache-Status`.

use std::sync::Arc;

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use revalidate_core::HttpDate;
use revalidate_core::answer::Plan;
use revalidate_core::cache::{
    Freshness, StoreDecision, StoredHead, Validation, freshness, on_validation_response,
    post_storage_decision, stale_if_error_allows, storable_headers, storage_decision, stored_validators,
    strip_hop_by_hop,
};

use super::lookup::{Ask, Found};
use super::render;
use super::setup::Edge;
use crate::body::{BoxError, ChannelBody, EdgeBody, OriginBody, boxed, empty};
use crate::decide::{Declined, client_plan, declines_to_store};
use crate::entry::{DecodedEntry, Meta, ResponseEntry, VaryIndex};
use crate::flight::{Flight, Landed, Product, land};
use crate::forward::fill_headers;
use crate::pool::Reply;
use crate::storage::{CacheWriter, ObjectHead, ObjectWriter, Storage, StoredObject};
use crate::upstream::Failure;

type ClientSender = tokio::sync::mpsc::Sender<Result<http_body::Frame<Bytes>, BoxError>>;

/// What a cache fill brought back.
// Built once per origin response and matched at once by the state machine:
// boxing the large variant would add an allocation per fill for nothing.
#[allow(clippy::large_enum_variant)]
pub(super) enum Fetched {
    /// No usable response.
    Failed(Failure),
    /// `304` to a request without validators: nothing to refresh, no body
    /// to give the client; from this pool member.
    Unsolicited304(usize),
    /// A response, on its way to the client and, when it may be, into the
    /// storage.
    Streaming(Streaming),
}

/// A response from the origin on its way to the client.
pub(super) struct Streaming {
    /// The client's answer, without the edge's own fields: the response as
    /// it is, or the `304` or `412` the client's conditionals make of it.
    pub(super) response: Response<EdgeBody>,
    /// What the origin answered.
    pub(super) origin_status: StatusCode,
    /// Its freshness on arrival (for the `ttl` of `Cache-Status`) when it
    /// is being stored; `None` when it is not.
    pub(super) stored: Option<Freshness>,
    /// Why the edge declines to store it, if it does.
    pub(super) declined: Option<Declined>,
    /// The client gets a `304` instead of a body of this many bytes (0 when
    /// the origin sent no `Content-Length`).
    pub(super) not_modified: Option<u64>,
}

/// What a revalidation (§4.3) brought back.
// As [`Fetched`]: built once, matched at once.
#[allow(clippy::large_enum_variant)]
pub(super) enum Validated {
    /// No usable response.
    Failed(Failure),
    /// A `304` that selects the stored response: its refreshed entry, and
    /// whether that was stored again (or declined, and why).
    NotModified {
        entry: Arc<ResponseEntry>,
        stored: bool,
        declined: Option<Declined>,
    },
    /// A `304` that selects no stored response (§4.3.4): to be asked again
    /// without validators, leading `flight` still.
    Mismatch(Option<Flight>),
    /// A `5xx` (this status) while `stale-if-error` allows the stored one.
    ServerErrorStale(StatusCode),
    /// A new response (or an error `stale-if-error` does not cover) in place
    /// of the stored one.
    Replaced(Streaming),
}

impl Edge {
    /// The request a fill sends: the client's path and query (the pool
    /// sets the member's scheme, authority and `Host`).
    fn fill_request(&self, ask: &Ask, stored: Option<&HeaderMap>) -> Request<EdgeBody> {
        let mut request = Request::new(empty());
        *request.uri_mut() = ask.uri.clone();
        *request.headers_mut() = fill_headers(&ask.headers, stored, &self.forwarding(ask.peer));
        if self.inner.cache.targeted_field.is_some()
            && let Some(capability) = crate::surrogate::capability(&self.inner.name)
        {
            request
                .headers_mut()
                .append(crate::surrogate::SURROGATE_CAPABILITY, capability);
        }
        request
    }

    /// A cache fill: an unconditional `GET` to the origin; `flight` when
    /// other requests may wait for it.
    pub(super) async fn fill(&self, ask: &Ask, index: Option<VaryIndex>, flight: Option<Flight>) -> Fetched {
        let sent = self.now();
        // A purge from here on must also cover what this fetch stores.
        let purge_generation = self.inner.storage.generation();
        match self.inner.pool.send(|| self.fill_request(ask, None)).await {
            Err(failure) => {
                land(flight, || Landed::Failed(failure));
                Fetched::Failed(failure)
            }
            Ok(reply) if reply.response.status() == StatusCode::NOT_MODIFIED => {
                // Unsolicited: the fill carried no validators.
                land(flight, || Landed::NotStored);
                Fetched::Unsolicited304(reply.member)
            }
            Ok(reply) => {
                let received = self.now();
                let times = (sent, received, purge_generation);
                Fetched::Streaming(
                    self.store_and_stream(ask, reply, times, index, flight, None)
                        .await,
                )
            }
        }
    }

    /// §4.3: validates `found` with the origin; `flight` when other
    /// requests may wait for it.
    pub(super) async fn validate(&self, ask: &Ask, found: &Found, flight: Option<Flight>) -> Validated {
        let sent = self.now();
        let purge_generation = self.inner.storage.generation();
        let stored = Some(&found.entry.head.headers);
        let reply = match self.inner.pool.send(|| self.fill_request(ask, stored)).await {
            Ok(reply) => reply,
            Err(failure) => {
                land(flight, || Landed::Failed(failure));
                return Validated::Failed(failure);
            }
        };
        let received = self.now();
        let response = &reply.response;
        match on_validation_response(
            response.status(),
            response.headers(),
            &found.entry.head.headers,
            true,
        ) {
            Validation::NotModified => {
                // §4.3.4: "the cache MUST ... update its header fields with
                // the header fields provided in the 304".
                let mut update = response.headers().clone();
                drop(reply);
                if self.inner.cache.targeted_field.is_some() {
                    crate::surrogate::translate(&self.inner.name, &mut update);
                }
                let mut meta = found.entry.head.clone();
                meta.freshen(&update, sent, received);
                meta.headers = storable_headers(self.cache_for(ask.uri.path()), &meta.headers);
                // §4.3.4: the refreshed headers may forbid storing now (or
                // the 304 set a cookie the edge does not share).
                let declined = declines_to_store(
                    self.cache_for(ask.uri.path()),
                    &meta.view(),
                    self.inner.cache_set_cookie,
                );
                let storable = storage_decision(
                    self.cache_for(ask.uri.path()),
                    &Method::GET,
                    &ask.headers,
                    meta.status,
                    &meta.headers,
                ) == StoreDecision::Store
                    && declined.is_none();
                let encoded = storable.then(|| Meta::Response(meta.clone()).encode());
                let entry = Arc::new(ResponseEntry::new(
                    meta,
                    self.cache_for(ask.uri.path()),
                    self.inner.id,
                ));
                let landed = match encoded {
                    Some(encoded) => {
                        let object = StoredObject::new(
                            ask.key.clone(),
                            self.site_tags(&entry.head.headers),
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
                Validated::NotModified {
                    entry,
                    stored: storable,
                    declined,
                }
            }
            Validation::NotModifiedMismatch => {
                // §4.3.4: a 304 that selects no stored response cannot be
                // used; the state machine asks again without validators.
                drop(reply);
                Validated::Mismatch(flight)
            }
            Validation::ServerError
                if stale_if_error_allows(
                    self.cache_for(ask.uri.path()),
                    &found.entry.head.view(),
                    &ask.headers,
                    received,
                ) =>
            {
                let origin_status = response.status();
                drop(reply);
                land(flight, || Landed::NotStored);
                Validated::ServerErrorStale(origin_status)
            }
            Validation::ServerError | Validation::Replace => {
                let times = (sent, received, purge_generation);
                Validated::Replaced(
                    self.store_and_stream(
                        ask,
                        reply,
                        times,
                        found.index.clone(),
                        flight,
                        Some(&found.storage_key),
                    )
                    .await,
                )
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
    async fn store_and_stream(
        &self,
        ask: &Ask,
        reply: Reply,
        (sent, received, purge_generation): (HttpDate, HttpDate, u64),
        index: Option<VaryIndex>,
        flight: Option<Flight>,
        previous: Option<&str>,
    ) -> Streaming {
        let Reply { response, member } = reply;
        let (mut parts, body) = response.into_parts();
        if self.inner.cache.targeted_field.is_some() {
            crate::surrogate::translate(&self.inner.name, &mut parts.headers);
        }
        let status = parts.status;
        let decision = storage_decision(
            self.cache_for(ask.uri.path()),
            &Method::GET,
            &ask.headers,
            status,
            &parts.headers,
        );
        // §3.1 and §5.2.2: what may be kept differs from what this client
        // gets, which is the whole response less its hop-by-hop fields
        // (RFC 9110 §7.6.1).
        let stored_headers = storable_headers(self.cache_for(ask.uri.path()), &parts.headers);
        let mut headers = parts.headers;
        strip_hop_by_hop(&mut headers);
        let content_length = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let meta = StoredHead::new(status, stored_headers, &ask.headers, sent, received);
        // What would be kept, not what was sent: a cookie the origin named
        // in `no-cache="Set-Cookie"` or `private="Set-Cookie"` is not kept.
        let declined = match decision {
            StoreDecision::Store => declines_to_store(
                self.cache_for(ask.uri.path()),
                &meta.view(),
                self.inner.cache_set_cookie,
            ),
            StoreDecision::DoNotStore(_) => None,
        };
        let writer = if decision == StoreDecision::Store && declined.is_none() {
            self.begin_store(
                (&ask.key, &ask.headers),
                &meta,
                index,
                content_length,
                purge_generation,
            )
            .await
        } else {
            if let Some(previous) = previous {
                self.remove(previous).await;
            }
            None
        };
        let stored = writer
            .is_some()
            .then(|| freshness(self.cache_for(ask.uri.path()), &meta.view(), received));
        let plan = client_plan(
            &ask.method,
            &ask.headers,
            status,
            &stored_validators(&meta.view()),
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
        let not_modified = (plan == Plan::NotModified).then(|| content_length.unwrap_or(0));
        let response = render::from_origin(&plan, status, headers, client_body);
        if writer.is_none() && tx.is_none() {
            drop(body);
            land(flight, || Landed::NotStored);
        } else {
            let body = OriginBody::new(
                body,
                self.inner.upstream_body_timeout,
                self.inner.metrics.clone(),
                member,
            );
            tokio::spawn(tee(body, writer, tx, flight.map(|flight| (flight, status))));
        }
        Streaming {
            response,
            origin_status: status,
            stored,
            declined,
            not_modified,
        }
    }

    /// A response to a `POST` on `target` that RFC 9110 §9.3.3 lets answer a
    /// later `GET` (the core's [`post_storage_decision`]) and the edge does
    /// not decline (`Set-Cookie`): stored under `key` while it streams to the
    /// client. `head` has its hop-by-hop fields removed already; the
    /// invalidation of §4.4 has run, and `purge_generation` was read after
    /// it, so that invalidation does not cover this response. Gives `head`
    /// and `body` back when the response is not stored.
    pub(super) async fn store_post_response(
        &self,
        (key, request, target): (&str, &HeaderMap, &Uri),
        mut head: http::response::Parts,
        body: Incoming,
        (sent, received, purge_generation): (HttpDate, HttpDate, u64),
        member: usize,
    ) -> Result<Response<EdgeBody>, (http::response::Parts, Incoming)> {
        if self.inner.cache.targeted_field.is_some() {
            crate::surrogate::translate(&self.inner.name, &mut head.headers);
        }
        let decision = post_storage_decision(
            self.cache_for(target.path()),
            request,
            head.status,
            &head.headers,
            target,
        );
        if decision != StoreDecision::Store {
            return Err((head, body));
        }
        let stored_headers = storable_headers(self.cache_for(target.path()), &head.headers);
        let meta = StoredHead::new(head.status, stored_headers, request, sent, received);
        if declines_to_store(
            self.cache_for(target.path()),
            &meta.view(),
            self.inner.cache_set_cookie,
        )
        .is_some()
        {
            return Err((head, body));
        }
        let content_length = head
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let Some(writer) = self
            .begin_store((key, request), &meta, None, content_length, purge_generation)
            .await
        else {
            return Err((head, body));
        };
        let (tx, client_body) = ChannelBody::new(content_length);
        let body = OriginBody::new(
            body,
            self.inner.upstream_body_timeout,
            self.inner.metrics.clone(),
            member,
        );
        tokio::spawn(tee(body, Some(writer), Some(tx), None));
        Ok(Response::from_parts(head, boxed(client_body)))
    }

    /// Starts storing a response: under the primary key, or under its
    /// variant key with the `Vary` index at the primary key. Returns the
    /// storage key with the writer.
    async fn begin_store(
        &self,
        (key, request): (&str, &HeaderMap),
        meta: &StoredHead,
        index: Option<VaryIndex>,
        size_hint: Option<u64>,
        purge_generation: u64,
    ) -> Option<(String, CacheWriter<DecodedEntry>)> {
        let varies = revalidate_core::cache::validate::vary_names(&meta.headers)
            .is_some_and(|names| !names.is_empty());
        let storage_key = if varies {
            let index = match index {
                Some(index) if index.same_vary(&meta.headers) => index,
                _ => {
                    let index = VaryIndex::for_response(&meta.headers);
                    let object = StoredObject::new(
                        key.to_owned(),
                        Vec::new(),
                        Meta::Vary(index.clone()).encode(),
                        Bytes::new(),
                    );
                    if let Err(e) = self.inner.storage.insert(key.to_owned(), object).await {
                        tracing::warn!(error = %e, key, "could not store a Vary index");
                        return None;
                    }
                    index
                }
            };
            index.variant_key(key, request)?
        } else {
            key.to_owned()
        };
        let head = ObjectHead {
            url: key.to_owned(),
            tags: self.site_tags(&meta.headers),
            meta: Meta::Response(meta.clone()).encode(),
            size_hint,
            purge_generation: Some(purge_generation),
        };
        let writer = self.inner.storage.begin(storage_key.clone(), head);
        Some((storage_key, writer))
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
    mut writer: Option<(String, CacheWriter<DecodedEntry>)>,
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
