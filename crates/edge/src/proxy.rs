//! The proxy: a thin async state machine around the core's decisions.
//!
//! ```text
//! GET/HEAD ─ lookup ─┬─ found ─ reuse_decision ─┬─ fresh / max-stale ────────────── serve stored
//!                    │                          ├─ stale-while-revalidate ───────── serve stored + background refresh
//!                    │                          ├─ only-if-cached, unusable ─────── 504
//!                    │                          └─ revalidate ─ (collapse) ─┬─ 304 ─ refresh headers, serve stored
//!                    │                                                      ├─ 5xx / down ─ stale-if-error? serve stale : pass / 502 / 504
//!                    │                                                      └─ other ─ replace (stream + store)
//!                    └─ miss ─ (collapse) ─ fetch ─ stream to the client while storing
//! other methods ───── forward ─ 2xx/3xx: invalidate target, Location, Content-Location (§4.4)
//! ```
//!
//! Every answer to a `GET`/`HEAD` goes through [`decide::answer_client`]
//! (the client's `If-None-Match`, `If-Modified-Since`, `If-Match`,
//! `If-Unmodified-Since`, `If-Range` and `Range`) and carries `Age` when it
//! came from the cache, `Via` and `Cache-Status`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use http_body::Body;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use revalidate_core::cache::{
    CacheConfig, CacheStatus, Forward, RequestDirectives, Reuse, StoreDecision, Validation, freshness,
    invalidation_targets, on_validation_response, stale_if_error_allows, storable_headers, storage_decision,
    stored_validators, strip_hop_by_hop, update_stored_headers, vary_matches,
};
use revalidate_core::not_modified_headers;

use crate::body::{BoxError, ChannelBody, EdgeBody, boxed, empty, full};
use crate::clock::Clock;
use crate::decide::{
    self, ClientAnswer, Route, answer_client, decorate, fill_headers, forwarded_headers, partial_headers,
    primary_key, surrogate_tags,
};
use crate::entry::{Entry, HitAnswer, Meta, ResponseEntry, ResponseMeta, VaryIndex, vary_request_fields};
use crate::flight::{Flight, Flights, Join, Landed};
use crate::metrics::{EdgeMetrics, Outcome, Revalidation, StaleReason};
use crate::problem::Problem;
use crate::storage::{AnyStorage, ObjectHead, ObjectWriter, Storage, StoredObject};
use crate::upstream::{Failure, Upstream};

/// Numbers the edges of this process.
static NEXT_EDGE_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The client's address, put into request extensions by the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// How the edge behaves; see [`crate::config::EdgeConfig`] for the file form.
#[derive(Clone, Debug)]
pub struct EdgeSettings {
    /// The origin, `http://host:port`.
    pub origin: Uri,
    /// This cache's name in `Cache-Status` and `Via`.
    pub cache_name: String,
    /// Whether `CDN-Cache-Control` is honoured.
    pub cdn_cache_control: bool,
    /// The purge API's bearer token; `None` turns it off.
    pub purge_token: Option<String>,
    /// Connect timeout to the origin.
    pub connect_timeout: Duration,
    /// Response-head timeout from the origin.
    pub response_timeout: Duration,
}

impl EdgeSettings {
    /// Settings for `origin` with the defaults of [`crate::config::EdgeConfig`].
    pub fn new(origin: Uri) -> Self {
        Self {
            origin,
            cache_name: "revalidate-edge".into(),
            cdn_cache_control: true,
            purge_token: None,
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(30),
        }
    }
}

/// The edge cache; cheap to clone.
#[derive(Clone, Debug)]
pub struct Edge {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    storage: AnyStorage,
    upstream: Upstream,
    origin_scheme: String,
    origin_authority: String,
    /// `Host` on every request to the origin: the origin's own authority,
    /// never the client's (see the crate docs on the cache key).
    origin_host: Option<HeaderValue>,
    cache: CacheConfig,
    name: String,
    via: HeaderValue,
    purge_token: Option<String>,
    flights: Arc<Flights>,
    metrics: EdgeMetrics,
    clock: Arc<dyn Clock>,
    /// Tells the entries this edge derived from stored objects from those
    /// another edge over the same storage derived ([`ResponseEntry::built_by`]).
    id: u64,
}

/// One `GET`/`HEAD` as the proxy sees it.
#[derive(Clone, Debug)]
struct Ask {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    peer: Option<IpAddr>,
    key: String,
    /// When the request arrived (Unix seconds).
    arrival: u64,
    /// A background refresh: no client waits, nothing is counted as a request.
    background: bool,
}

/// How a stored response served to a client is labelled in `Cache-Status`
/// (which then gets its `ttl`).
#[derive(Clone, Debug)]
enum Label {
    /// A plain hit, `<name>; hit`: the same for every client within one
    /// second of age, so its header sets are kept with the entry.
    Hit,
    /// Anything else (collapsed, stale, revalidated).
    Other(CacheStatus),
}

/// A stored response being served: the entry, its label, its current age
/// and its body length.
struct ServedAt<'a> {
    entry: &'a ResponseEntry,
    label: Label,
    age: u64,
    len: u64,
}

/// A stored response that matches the request.
#[derive(Clone, Debug)]
struct Found {
    storage_key: String,
    entry: Arc<ResponseEntry>,
    object: Arc<StoredObject>,
    index: Option<VaryIndex>,
}

enum Lookup {
    Found(Box<Found>),
    /// The primary key holds a `Vary` index but not this request's variant.
    VaryMiss(VaryIndex),
    Miss,
}

impl Edge {
    /// An edge in front of `settings.origin`, storing in `storage`, reading
    /// time from `clock`.
    pub fn new(settings: EdgeSettings, storage: AnyStorage, clock: Arc<dyn Clock>) -> Self {
        let mut cache = CacheConfig::shared();
        if !settings.cdn_cache_control {
            cache.targeted_field = None;
        }
        let via = HeaderValue::from_str(&format!("1.1 {}", settings.cache_name))
            .unwrap_or_else(|_| HeaderValue::from_static("1.1 revalidate-edge"));
        Self {
            inner: Arc::new(Inner {
                storage,
                upstream: Upstream::new(settings.connect_timeout, settings.response_timeout),
                origin_scheme: settings.origin.scheme_str().unwrap_or("http").to_owned(),
                origin_authority: settings
                    .origin
                    .authority()
                    .map_or_else(String::new, |a| a.as_str().to_owned()),
                origin_host: settings
                    .origin
                    .authority()
                    .and_then(|a| HeaderValue::from_str(a.as_str()).ok()),
                cache,
                name: settings.cache_name,
                via,
                purge_token: settings.purge_token,
                flights: Arc::new(Flights::default()),
                metrics: EdgeMetrics::new(),
                clock,
                id: NEXT_EDGE_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            }),
        }
    }

    /// The storage.
    pub fn storage(&self) -> &AnyStorage {
        &self.inner.storage
    }

    /// The metrics.
    pub fn metrics(&self) -> &EdgeMetrics {
        &self.inner.metrics
    }

    pub(crate) fn purge_token(&self) -> Option<&str> {
        self.inner.purge_token.as_deref()
    }

    fn now(&self) -> u64 {
        self.inner.clock.now()
    }

    /// Answers one request, from the client whose address is in the
    /// request's [`PeerAddr`] extension if any. Never fails: origin faults
    /// become 502/504 (or stale responses), bad input a 4xx.
    pub async fn handle<B>(&self, request: Request<B>) -> Response<EdgeBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let peer = request.extensions().get::<PeerAddr>().map(|p| p.0);
        self.handle_from(request, peer).await
    }

    /// [`Edge::handle`] with the client's address given (for
    /// `X-Forwarded-For`); the server passes it so that no request needs an
    /// extension map allocated for it.
    pub async fn handle_from<B>(&self, request: Request<B>, peer: Option<SocketAddr>) -> Response<EdgeBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let peer = peer.map(|peer| peer.ip());
        let route = decide::route(
            request.method(),
            request.uri().path(),
            self.inner.purge_token.is_some(),
        );
        match route {
            Route::Metrics | Route::Purge => {
                let mut response = if route == Route::Metrics {
                    self.inner.metrics.response(&self.inner.storage.stats())
                } else {
                    crate::purge::handle(self, request).await
                };
                // The edge's own endpoints: answered here, never cached.
                let status = self.status(Some(Forward::Bypass)).detail("edge-endpoint");
                decorate(
                    response.headers_mut(),
                    None,
                    &status.to_header_value(),
                    &self.inner.via,
                );
                response
            }
            Route::Pass => self.pass(request, peer).await,
            Route::Cacheable => {
                let (parts, _body) = request.into_parts();
                let ask = Ask {
                    key: primary_key(&parts.uri),
                    method: parts.method,
                    uri: parts.uri,
                    headers: parts.headers,
                    peer,
                    arrival: self.now(),
                    background: false,
                };
                self.cacheable(ask).await
            }
        }
    }

    fn count(&self, ask: &Ask, outcome: Outcome) {
        if !ask.background {
            self.inner.metrics.request(outcome);
        }
    }

    fn origin_uri(&self, uri: &Uri) -> Uri {
        let pq = uri.path_and_query().map_or("/", |pq| pq.as_str());
        format!(
            "{}://{}{pq}",
            self.inner.origin_scheme, self.inner.origin_authority
        )
        .parse()
        .unwrap_or_else(|_| Uri::from_static("/"))
    }

    fn status(&self, forward: Option<Forward>) -> CacheStatus {
        match forward {
            None => CacheStatus::hit(self.inner.name.clone()),
            Some(why) => CacheStatus::forward(self.inner.name.clone(), why),
        }
    }

    fn ttl(&self, meta: &ResponseMeta, now: u64) -> i64 {
        let f = freshness(&self.inner.cache, &meta.stored(), now);
        ttl_of(f.lifetime, f.age)
    }

    async fn lookup(&self, ask: &Ask) -> Lookup {
        let Some(entry) = self.get(&ask.key).await else {
            return Lookup::Miss;
        };
        match entry {
            (Entry::Response(entry), object) => {
                if vary_matches(&entry.meta.headers, &entry.meta.vary_request, &ask.headers) {
                    Lookup::Found(Box::new(Found {
                        storage_key: ask.key.clone(),
                        entry,
                        object,
                        index: None,
                    }))
                } else {
                    Lookup::Miss
                }
            }
            (Entry::Vary(index), _) => {
                let Some(variant) = index.variant_key(&ask.key, &ask.headers) else {
                    return Lookup::Miss;
                };
                match self.get(&variant).await {
                    Some((Entry::Response(entry), object))
                        if vary_matches(&entry.meta.headers, &entry.meta.vary_request, &ask.headers) =>
                    {
                        Lookup::Found(Box::new(Found {
                            storage_key: variant,
                            entry,
                            object,
                            index: Some(index),
                        }))
                    }
                    _ => Lookup::VaryMiss(index),
                }
            }
        }
    }

    /// The object under `key` and what its meta bytes say, decoded on the
    /// object's first lookup and kept with it.
    async fn get(&self, key: &str) -> Option<(Entry, Arc<StoredObject>)> {
        match self.inner.storage.get(key).await {
            Ok(Some(object)) => {
                let (cache, id) = (&self.inner.cache, self.inner.id);
                let entry = match object.derived(|object| Entry::decode(&object.meta, cache, id)) {
                    Some(Some(Entry::Response(entry))) if !entry.built_by(id) => {
                        Entry::decode(&object.meta, cache, id)?
                    }
                    derived => derived.cloned().flatten()?,
                };
                Some((entry, object))
            }
            Ok(None) => None,
            Err(e) => {
                // A storage fault is a miss, never an error for the client.
                tracing::warn!(error = %e, key, "cache lookup failed");
                None
            }
        }
    }

    async fn cacheable(&self, ask: Ask) -> Response<EdgeBody> {
        // The origin request this one was collapsed onto, once it waited
        // for one: why that went forward and what the origin answered.
        let mut collapsed_onto: Option<(Forward, Option<StatusCode>)> = None;
        // A few rounds: a follower looks again after its leader landed; a
        // purge or a different variant can send it round once more.
        for round in 0..4 {
            let collapsed = collapsed_onto.is_some();
            match self.lookup(&ask).await {
                Lookup::Found(found) => {
                    // The first look is the request's arrival; later ones
                    // come after waiting for a leader.
                    let now = if round == 0 { ask.arrival } else { self.now() };
                    let mut decision = found.entry.reuse_decision(&self.inner.cache, &ask.headers, now);
                    // A follower may use what its leader received after this
                    // request arrived, as if it had gone forward itself.
                    if collapsed
                        && decision == Reuse::Revalidate
                        && found.entry.meta.response_time >= ask.arrival
                    {
                        decision = Reuse::Fresh {
                            age: found.entry.age_at(now),
                        };
                    }
                    match decision {
                        Reuse::Fresh { age } => {
                            let (outcome, label) = match collapsed_onto {
                                None => (Outcome::Hit, Label::Hit),
                                Some((why, origin_status)) => (
                                    Outcome::Collapsed,
                                    Label::Other(self.collapsed_status(why, origin_status)),
                                ),
                            };
                            return self.serve_reused(&ask, &found, outcome, label, (now, age));
                        }
                        Reuse::StaleAllowed { age } => {
                            self.inner.metrics.stale(StaleReason::MaxStale);
                            // The same member as a fresh hit, `ttl` negative.
                            return self.serve_reused(&ask, &found, Outcome::Stale, Label::Hit, (now, age));
                        }
                        Reuse::StaleWhileRevalidate { age } => {
                            self.inner.metrics.stale(StaleReason::WhileRevalidate);
                            self.spawn_refresh(&ask, &found);
                            let status = self.status(None).detail("stale-while-revalidate");
                            let label = Label::Other(status);
                            return self.serve_reused(&ask, &found, Outcome::Stale, label, (now, age));
                        }
                        Reuse::GatewayTimeout => return self.only_if_cached(&ask),
                        Reuse::Revalidate => match self.inner.flights.join(&ask.key) {
                            Join::Lead(flight) => {
                                return Box::pin(self.revalidate(&ask, *found, flight)).await;
                            }
                            Join::Follow(follower) => {
                                let landed = follower.landed().await;
                                collapsed_onto =
                                    Some((Forward::Stale, landed.as_ref().and_then(Landed::origin_status)));
                                if let Some(Landed::Failed(failure)) = landed {
                                    return self.failed(&ask, Some(&found), failure, Forward::Stale, true);
                                }
                            }
                        },
                    }
                }
                lookup @ (Lookup::VaryMiss(_) | Lookup::Miss) => {
                    if RequestDirectives::from_headers(&ask.headers).only_if_cached {
                        return self.only_if_cached(&ask);
                    }
                    let (why, index) = match lookup {
                        Lookup::VaryMiss(index) => (Forward::VaryMiss, Some(index)),
                        _ => (Forward::UriMiss, None),
                    };
                    match self.inner.flights.join(&ask.key) {
                        Join::Lead(flight) => {
                            return self.fetch(&ask, index, Some(flight), why).await;
                        }
                        Join::Follow(follower) => {
                            let landed = follower.landed().await;
                            collapsed_onto = Some((why, landed.as_ref().and_then(Landed::origin_status)));
                            match landed {
                                Some(Landed::Stored(_)) | None => {}
                                // Nothing to share: this request goes forward
                                // itself, so it was not collapsed (RFC 9211 §2.8).
                                Some(Landed::NotStored) => {
                                    return self.fetch(&ask, index, None, why).await;
                                }
                                Some(Landed::Failed(failure)) => {
                                    return self.failed(&ask, None, failure, why, true);
                                }
                            }
                        }
                    }
                }
            }
        }
        self.fetch(&ask, None, None, Forward::Miss).await
    }

    /// [RFC 9211 §2.8]: a request that waited for another's origin request
    /// and is answered from what that stored was "collapsed together with
    /// one or more other forward requests": it went forward (`fwd`, with
    /// the reason it would have gone and the status the origin answered,
    /// §2.2 and §2.3), so it is not a `hit`, which §2.1 keeps for requests
    /// that were "not forwarded" (as §3's example `fwd=uri-miss;
    /// collapsed`).
    ///
    /// [RFC 9211 §2.8]: https://www.rfc-editor.org/rfc/rfc9211#section-2.8
    fn collapsed_status(&self, why: Forward, origin_status: Option<StatusCode>) -> CacheStatus {
        let status = self.status(Some(why)).collapsed(true);
        match origin_status {
            Some(origin_status) => status.forward_status(origin_status),
            None => status,
        }
    }

    /// §5.2.1.7 only-if-cached: "respond with a 504 (Gateway Timeout)".
    fn only_if_cached(&self, ask: &Ask) -> Response<EdgeBody> {
        self.count(ask, Outcome::Error);
        let mut response = Problem::new(StatusCode::GATEWAY_TIMEOUT, "Not in cache")
            .with_detail("The request said only-if-cached and the edge holds no usable response for it.")
            .into_response();
        let status = self.status(Some(Forward::Miss)).detail("only-if-cached");
        decorate(
            response.headers_mut(),
            None,
            &status.to_header_value(),
            &self.inner.via,
        );
        response
    }

    /// The clock and `found`'s current age (§4.2.3), for
    /// [`Self::serve_stored`] where no reuse decision computed them.
    fn age_now(&self, found: &Found) -> (u64, u64) {
        let now = self.now();
        (now, found.entry.age_at(now))
    }

    /// A stored response reused without the origin: counted, with the
    /// bytes it saved, and served.
    fn serve_reused(
        &self,
        ask: &Ask,
        found: &Found,
        outcome: Outcome,
        label: Label,
        at: (u64, u64),
    ) -> Response<EdgeBody> {
        self.count(ask, outcome);
        self.inner
            .metrics
            .saved_from_origin(found.object.body.len() as u64);
        self.serve_stored(ask, found, label, at)
    }

    /// Answers from a stored response, applying the client's conditionals
    /// and range, at `(now, age)`: the clock reading and the stored
    /// response's current age (§4.2.3) at it, which the reuse decision has
    /// already computed. The `Cache-Status` gets its `ttl` here, from that
    /// age and the stored lifetime.
    fn serve_stored(
        &self,
        ask: &Ask,
        found: &Found,
        label: Label,
        (now, age): (u64, u64),
    ) -> Response<EdgeBody> {
        let entry = &found.entry;
        let body = found.object.body.clone();
        let len = body.len() as u64;
        let answer = answer_client(
            &ask.method,
            &ask.headers,
            entry.meta.status,
            &entry.validators,
            Some(len),
            now,
        );
        let served = ServedAt {
            entry,
            label,
            age,
            len,
        };
        let whole = |body: Bytes| {
            if ask.method == Method::HEAD {
                empty()
            } else {
                full(body)
            }
        };
        let mut response = match answer {
            ClientAnswer::NotModified => {
                self.inner.metrics.not_modified(len);
                let headers = self.served_headers(&served, HitAnswer::NotModified);
                let mut response = Response::new(empty());
                *response.status_mut() = StatusCode::NOT_MODIFIED;
                *response.headers_mut() = headers;
                return response;
            }
            ClientAnswer::Full => {
                let headers = self.served_headers(&served, HitAnswer::Full);
                let mut response = Response::new(whole(body));
                *response.status_mut() = entry.meta.status;
                *response.headers_mut() = headers;
                return response;
            }
            ClientAnswer::PreconditionFailed => precondition_failed(&entry.meta.headers),
            ClientAnswer::Range(range) => {
                let mut response = Response::new(whole(body.slice(slice_bounds(&range))));
                *response.status_mut() = StatusCode::PARTIAL_CONTENT;
                *response.headers_mut() = partial_headers(&entry.meta.headers, &range, len);
                response
            }
            ClientAnswer::Unsatisfiable(len) => {
                Problem::new(StatusCode::RANGE_NOT_SATISFIABLE, "Range Not Satisfiable")
                    .with_detail("None of the requested ranges overlaps the stored representation.")
                    .with_header(http::header::CONTENT_RANGE, decide::content_range(None, len))
                    .into_response()
            }
        };
        decorate(
            response.headers_mut(),
            Some(age),
            &self.served_status(&served),
            &self.inner.via,
        );
        response
    }

    /// The `Cache-Status` member of a stored response served at `served.age`.
    fn served_status(&self, served: &ServedAt<'_>) -> HeaderValue {
        let ttl = ttl_of(served.entry.arrival.lifetime, served.age);
        match &served.label {
            Label::Hit => self.status(None).ttl(ttl),
            Label::Other(status) => status.clone().ttl(ttl),
        }
        .to_header_value()
    }

    /// The fields of the stored response whole (`Content-Length` set to the
    /// stored body's) or of a `304` for it, with `Age`, `Via` and
    /// `Cache-Status`. A plain hit's are kept with the entry for the second
    /// its age stays the same ([`ResponseEntry::hit_headers`]).
    fn served_headers(&self, served: &ServedAt<'_>, answer: HitAnswer) -> HeaderMap {
        let build = || {
            let stored = &served.entry.meta;
            let mut headers = match answer {
                HitAnswer::NotModified => not_modified_headers(&stored.headers),
                HitAnswer::Full => {
                    let mut headers = stored.headers.clone();
                    if stored.status != StatusCode::NO_CONTENT && stored.status != StatusCode::NOT_MODIFIED {
                        headers.insert(CONTENT_LENGTH, HeaderValue::from(served.len));
                    }
                    headers
                }
            };
            decorate(
                &mut headers,
                Some(served.age),
                &self.served_status(served),
                &self.inner.via,
            );
            headers
        };
        match served.label {
            Label::Hit => served.entry.hit_headers(served.age, answer, build),
            Label::Other(_) => build(),
        }
    }

    /// The origin failed: serve stale if `stale-if-error` allows, else 502/504.
    fn failed(
        &self,
        ask: &Ask,
        found: Option<&Found>,
        failure: Failure,
        why: Forward,
        collapsed: bool,
    ) -> Response<EdgeBody> {
        let now = self.now();
        if let Some(found) = found
            && stale_if_error_allows(&self.inner.cache, &found.entry.meta.stored(), &ask.headers, now)
        {
            self.count(ask, Outcome::Stale);
            self.inner.metrics.stale(StaleReason::IfError);
            let status = self
                .status(Some(Forward::Stale))
                .collapsed(collapsed)
                .detail("stale-if-error");
            return self.serve_stored(ask, found, Label::Other(status), self.age_now(found));
        }
        self.count(ask, Outcome::Error);
        let mut response = Problem::new(failure.status(), "Origin unavailable")
            .with_detail(failure.detail())
            .into_response();
        let status = self.status(Some(why)).collapsed(collapsed).detail(match failure {
            Failure::Connect => "origin-unreachable",
            Failure::Timeout => "origin-timeout",
            Failure::Protocol => "origin-broken",
        });
        decorate(
            response.headers_mut(),
            None,
            &status.to_header_value(),
            &self.inner.via,
        );
        response
    }

    /// The client's `Host` is replaced by the origin's authority, as
    /// nginx's `proxy_pass` does by default (crate docs, "Cache key"). The cache
    /// key is the path and query; forwarding a client-chosen `Host` would let
    /// one client store another site's response (or an error page) under a
    /// path every client shares: cache poisoning.
    fn set_origin_host(&self, headers: &mut HeaderMap) {
        if let Some(host) = &self.inner.origin_host {
            headers.insert(HOST, host.clone());
        }
    }

    fn fill_request(&self, ask: &Ask, stored: Option<&HeaderMap>) -> Request<EdgeBody> {
        let mut request = Request::new(empty());
        *request.uri_mut() = self.origin_uri(&ask.uri);
        *request.headers_mut() = fill_headers(&ask.headers, stored, &self.inner.via, ask.peer);
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

    /// A cache fill: an unconditional `GET` to the origin.
    async fn fetch(
        &self,
        ask: &Ask,
        index: Option<VaryIndex>,
        flight: Option<Flight>,
        why: Forward,
    ) -> Response<EdgeBody> {
        let sent = self.now();
        // A purge from here on must also cover what this fetch stores.
        let fetched_at = self.inner.storage.generation();
        match self.inner.upstream.send(self.fill_request(ask, None)).await {
            Err(failure) => {
                self.inner.metrics.origin_error(failure.metric());
                if let Some(flight) = flight {
                    flight.land(Landed::Failed(failure));
                }
                self.failed(ask, None, failure, why, false)
            }
            Ok(response) if response.status() == StatusCode::NOT_MODIFIED => {
                // Unsolicited: the fill carried no validators, so a 304 has
                // nothing to refresh and no body to give the client.
                if let Some(flight) = flight {
                    flight.land(Landed::NotStored);
                }
                self.inner.metrics.origin_error(Failure::Protocol.metric());
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
                    (sent, received, fetched_at),
                    index,
                    flight,
                    None,
                    (why, Outcome::Miss),
                )
                .await
            }
        }
    }

    /// §4.3: validates `found` with the origin.
    async fn revalidate(&self, ask: &Ask, found: Found, flight: Flight) -> Response<EdgeBody> {
        let sent = self.now();
        let fetched_at = self.inner.storage.generation();
        let request = self.fill_request(ask, Some(&found.entry.meta.headers));
        let response = match self.inner.upstream.send(request).await {
            Ok(response) => response,
            Err(failure) => {
                self.inner.metrics.origin_error(failure.metric());
                self.inner.metrics.revalidation(Revalidation::Failed);
                flight.land(Landed::Failed(failure));
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
                // §4.3.4: the refreshed headers may forbid storing now.
                let storable = storage_decision(
                    &self.inner.cache,
                    &Method::GET,
                    &ask.headers,
                    meta.status,
                    &meta.headers,
                ) == StoreDecision::Store;
                let landed = if storable {
                    let object = StoredObject::new(
                        ask.key.clone(),
                        surrogate_tags(&meta.headers),
                        Meta::Response(meta.clone()).encode(),
                        found.object.body.clone(),
                    )
                    .fetched_at(fetched_at);
                    match self.inner.storage.insert(found.storage_key.clone(), object).await {
                        Ok(()) => Landed::Stored(StatusCode::NOT_MODIFIED),
                        Err(e) => {
                            tracing::warn!(error = %e, key = found.storage_key, "could not store a refreshed response");
                            Landed::NotStored
                        }
                    }
                } else {
                    self.remove(&found.storage_key).await;
                    Landed::NotStored
                };
                flight.land(landed);
                self.count(ask, Outcome::Revalidated);
                let status = self
                    .status(Some(Forward::Stale))
                    .forward_status(StatusCode::NOT_MODIFIED)
                    .stored(storable);
                let refreshed = Found {
                    entry: Arc::new(ResponseEntry::new(meta, &self.inner.cache, self.inner.id)),
                    ..found
                };
                let at = self.age_now(&refreshed);
                self.serve_stored(ask, &refreshed, Label::Other(status), at)
            }
            Validation::NotModifiedMismatch => {
                // §4.3.4: a 304 that selects no stored response cannot be
                // used; ask again without validators.
                self.inner.metrics.revalidation(Revalidation::Other);
                drop(response);
                self.fetch(ask, found.index.clone(), Some(flight), Forward::Stale)
                    .await
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
                flight.land(Landed::NotStored);
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
                    (sent, received, fetched_at),
                    found.index.clone(),
                    Some(flight),
                    Some(&found.storage_key),
                    (Forward::Stale, Outcome::Revalidated),
                )
                .await
            }
        }
    }

    async fn remove(&self, key: &str) {
        if let Err(e) = self.inner.storage.remove(key).await {
            tracing::warn!(error = %e, key, "could not remove a cache entry");
        }
    }

    /// Sends a response from the origin to the client, storing it on the
    /// way when §3 allows; `previous` is the stored response it replaces.
    #[allow(clippy::too_many_arguments)]
    async fn store_and_stream(
        &self,
        ask: &Ask,
        response: Response<Incoming>,
        (sent, received, fetched_at): (u64, u64, u64),
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
        let writer = if decision == StoreDecision::Store {
            self.begin_store(ask, &meta, index, content_length, fetched_at)
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
        self.count(ask, outcome);
        let answer = answer_client(
            &ask.method,
            &ask.headers,
            status,
            &stored_validators(&meta.stored()),
            None,
            received,
        );
        let wants_body = answer == ClientAnswer::Full && ask.method == Method::GET && !ask.background;
        let (tx, client_body) = if wants_body {
            let (tx, body) = ChannelBody::new(content_length);
            (Some(tx), boxed(body))
        } else {
            (None, empty())
        };
        let mut response = match answer {
            ClientAnswer::NotModified => {
                self.inner.metrics.not_modified(content_length.unwrap_or(0));
                let mut response = Response::new(client_body);
                *response.status_mut() = StatusCode::NOT_MODIFIED;
                *response.headers_mut() = not_modified_headers(&headers);
                response
            }
            ClientAnswer::PreconditionFailed => precondition_failed(&headers),
            _ => {
                let mut response = Response::new(client_body);
                *response.status_mut() = status;
                *response.headers_mut() = headers;
                response
            }
        };
        decorate(
            response.headers_mut(),
            None,
            &cache_status.to_header_value(),
            &self.inner.via,
        );
        if writer.is_none() && tx.is_none() {
            drop(body);
            if let Some(flight) = flight {
                flight.land(Landed::NotStored);
            }
        } else {
            tokio::spawn(tee(body, writer, tx, flight.map(|flight| (flight, status))));
        }
        response
    }

    /// Starts storing a response: under the primary key, or under its
    /// variant key with the `Vary` index at the primary key.
    async fn begin_store(
        &self,
        ask: &Ask,
        meta: &ResponseMeta,
        index: Option<VaryIndex>,
        size_hint: Option<u64>,
        fetched_at: u64,
    ) -> Option<crate::storage::CacheWriter> {
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
            fetched_at: Some(fetched_at),
        };
        Some(self.inner.storage.begin(storage_key, head))
    }

    /// stale-while-revalidate: one background refresh per key.
    fn spawn_refresh(&self, ask: &Ask, found: &Found) {
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
            drop(Box::pin(edge.revalidate(&ask, found, flight)).await);
        });
    }

    /// Any method but `GET`/`HEAD`: forwarded as is; a success invalidates
    /// (§4.4).
    async fn pass<B>(&self, request: Request<B>, peer: Option<IpAddr>) -> Response<EdgeBody>
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

fn slice_bounds(range: &std::ops::RangeInclusive<u64>) -> std::ops::Range<usize> {
    let start = usize::try_from(*range.start()).unwrap_or(usize::MAX);
    let end = usize::try_from(*range.end()).unwrap_or(usize::MAX - 1);
    start..end + 1
}

/// `412` from the cache: the client's `If-Match` or `If-Unmodified-Since`
/// failed against the stored response. The stored `ETag` goes along so
/// that the client can see what is current.
fn precondition_failed(stored: &HeaderMap) -> Response<EdgeBody> {
    let mut problem = Problem::new(StatusCode::PRECONDITION_FAILED, "Precondition Failed")
        .with_detail("The representation does not match the request's If-Match or If-Unmodified-Since.");
    if let Some(etag) = stored.get(http::header::ETAG) {
        problem = problem.with_header(http::header::ETAG, etag.clone());
    }
    problem.into_response()
}

/// Reads the origin's body to its end, feeding the client (while it is
/// there) and the storage writer (while the body fits), then commits and
/// lands the flight (with the status the origin answered).
async fn tee(
    mut body: Incoming,
    mut writer: Option<crate::storage::CacheWriter>,
    mut tx: Option<tokio::sync::mpsc::Sender<Result<http_body::Frame<Bytes>, BoxError>>>,
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
                    let _ = tx.send(Err(Box::new(e))).await;
                }
                complete = false;
                break;
            }
            Some(Ok(frame)) => {
                if let (Some(data), Some(w)) = (frame.data_ref(), writer.as_mut())
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
    let stored = match (complete, writer) {
        (true, Some(writer)) => match writer.commit().await {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(error = %e, "response not stored");
                false
            }
        },
        _ => false,
    };
    if let Some((flight, origin_status)) = flight {
        flight.land(if stored {
            Landed::Stored(origin_status)
        } else {
            Landed::NotStored
        });
    }
}

/// RFC 9211 `ttl`: the freshness lifetime minus the current age, negative
/// once stale.
fn ttl_of(lifetime: u64, age: u64) -> i64 {
    i64::try_from(lifetime).unwrap_or(i64::MAX) - i64::try_from(age).unwrap_or(i64::MAX)
}
