//! The proxy: a thin async state machine around the core's decisions. It
//! routes, looks up, follows the core's reuse decision, collapses, and
//! turns what the rooms below bring back into responses; it alone counts
//! requests in the metrics and writes this cache's `Cache-Status`, and
//! every response leaves through `Edge::leave`, which adds `Age`, `Via`
//! and `Cache-Status` once.
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
//! Every answer to a `GET`/`HEAD` follows the core's plan through
//! [`decide::client_plan`] (the client's `If-None-Match`,
//! `If-Modified-Since`, `If-Match`, `If-Unmodified-Since`, `If-Range` and
//! `Range`).
//!
//! A request whose stored response is in memory and reusable is answered
//! without a future of its own: [`Edge::respond`] looks it up and serves it
//! synchronously, and its [`Responding`] is ready at once. Every other
//! request gets a boxed future (the disk tier, the origin, another
//! request's fetch). hyper moves each request's future into its
//! connection; a hit's stays a few hundred bytes, which keeps its cost
//! below what it was before the listener tracked request bodies
//! (BENCHMARKS.md, eighth session).
//!
//! "(collapse)" is the `flight` module: a request follows an origin fetch
//! only if it was sent after the request arrived, waits at most
//! `collapse_timeout` for others' fetches, and otherwise goes itself.
//!
//! Rooms: `setup` (the [`Edge`] value, its settings and plumbing), `lookup`
//! (the stored response a request selects), `render` (pure builders of
//! responses: a stored one under the core's plan, problems, the edge's own
//! answers, the fields every response leaves with), `fill` (fetch,
//! revalidate, store while streaming), `pass` (other methods, §4.4
//! invalidation).

mod fill;
mod lookup;
mod pass;
mod render;
mod setup;

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body::Body;
use revalidate_core::HttpDate;
use revalidate_core::answer::Plan;
use revalidate_core::cache::{self, CacheStatus, Forward, RequestDirectives, Reuse, stale_if_error_allows};

use self::fill::{Fetched, Streaming, Validated};
use self::lookup::{Ask, Found, Lookup};
use self::pass::Passed;
use self::render::Head;
pub use self::setup::{DEFAULT_SITE, Edge, EdgeSettings, PeerAddr, PurgeAll};
use crate::body::{BoxError, EdgeBody};
use crate::decide::{self, Route, client_plan};
use crate::entry::{ResponseEntry, VaryIndex};
use crate::flight::{Flight, Join, Landed};
use crate::metrics::{OriginError, Outcome, PurgeKind, Revalidation, StaleReason};
use crate::upstream::Failure;
use revalidate_listener::access_log::Upstream;

/// How many times a request looks the cache up and joins a flight before
/// it goes to the origin on its own: a wait, the next flight, and room for
/// a purge or another variant in between.
const MAX_ROUNDS: usize = 4;

/// The answer to one request ([`Edge::respond`]): the response at once,
/// or a boxed future of it. Never fails (the error type is
/// [`Infallible`]); the `Result` is what hyper's services return.
pub struct Responding(Answering);

enum Answering {
    Ready(Option<Response<EdgeBody>>),
    Waiting(Pin<Box<dyn Future<Output = Response<EdgeBody>> + Send>>),
}

impl Responding {
    pub(crate) fn ready(response: Response<EdgeBody>) -> Self {
        Self(Answering::Ready(Some(response)))
    }

    pub(crate) fn waiting(future: impl Future<Output = Response<EdgeBody>> + Send + 'static) -> Self {
        Self(Answering::Waiting(Box::pin(future)))
    }
}

impl Future for Responding {
    type Output = Result<Response<EdgeBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().0 {
            Answering::Ready(response) => Poll::Ready(Ok(response
                .take()
                .expect("a Responding is not polled after it completed"))),
            Answering::Waiting(future) => future.as_mut().poll(cx).map(Ok),
        }
    }
}

impl std::fmt::Debug for Responding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Answering::Ready(_) => "Responding::Ready",
            Answering::Waiting(_) => "Responding::Waiting",
        })
    }
}

/// Why a request goes forward, the `Vary` index its key holds, and the
/// stored response to revalidate, if any.
type Forwarding = (Forward, Option<VaryIndex>, Option<Box<Found>>);

/// What a request does after a lookup ([`Edge::reuse`]).
enum Next {
    /// It is answered from the cache (or with `504` for `only-if-cached`).
    Answer(Response<EdgeBody>),
    /// It goes forward.
    Forward(Forwarding),
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

/// How a response leaves the edge ([`Edge::leave`]).
enum Exit<'a> {
    /// Not from the cache (a fill, a forwarded request, a problem, an edge
    /// endpoint): `Via` and this `Cache-Status` member.
    Forwarded(CacheStatus),
    /// From a stored response: `Age`, `Via` and the label with its `ttl`;
    /// the header set is still to be built when the head is
    /// [`Head::Plain`].
    Stored(ServedAt<'a>, Head),
}

impl Edge {
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
        let Ok(response) = self.respond(request, peer).await;
        response
    }

    /// [`Edge::handle_from`] as the server calls it: a hit in memory is
    /// answered at once, and [`Responding`] is then just the response;
    /// every other request gets a boxed future. hyper moves each request's
    /// future into place, and the state of a request that waits (for the
    /// disk, the origin or another request's fetch) is large: boxed, only
    /// the requests that wait pay for it.
    pub fn respond<B>(&self, request: Request<B>, peer: Option<SocketAddr>) -> Responding
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        // The one clock read on arrival; the head's is in the metrics.
        let arrived = Instant::now();
        let peer = peer.map(|peer| peer.ip());
        let route = decide::route(
            request.method(),
            request.uri().path(),
            self.inner.purge_token.is_some() || self.inner.purge_all.is_some(),
        );
        if route != Route::Cacheable {
            let edge = self.clone();
            return Responding::waiting(async move { edge.routed(route, request, peer, arrived).await });
        }
        let (parts, _body) = request.into_parts();
        // The site's key rules rewrite the target itself: the origin is
        // asked for what the key names.
        let uri = self.normalised(parts.uri);
        let ask = Ask {
            key: self.primary_key(&uri),
            method: parts.method,
            uri,
            headers: parts.headers,
            peer,
            arrived_at: self.now(),
            arrived,
            background: false,
            logged: lookup::LogSlot::default(),
        };
        let first = match self.lookup_in_memory(&ask) {
            Some(lookup) => match self.reuse(&ask, lookup, ask.arrived_at, None) {
                Next::Answer(response) => return Responding::ready(self.logged(response, &ask)),
                Next::Forward(forwarding) => Some(forwarding),
            },
            // Only the disk can tell.
            None => None,
        };
        let edge = self.clone();
        Responding::waiting(async move {
            let response = edge.cacheable(&ask, first).await;
            edge.logged(response, &ask)
        })
    }

    /// `response` with what the access log says of `ask` (its outcome, the
    /// origin's status and time), when a log is configured.
    fn logged(&self, mut response: Response<EdgeBody>, ask: &Ask) -> Response<EdgeBody> {
        if self.log_upstream {
            response.extensions_mut().insert(ask.logged.upstream());
        }
        response
    }

    /// A request on any route but [`Route::Cacheable`].
    async fn routed<B>(
        &self,
        route: Route,
        request: Request<B>,
        peer: Option<IpAddr>,
        arrived: Instant,
    ) -> Response<EdgeBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let response = match route {
            Route::Pass | Route::Cacheable => return self.pass_through(request, peer, arrived).await,
            Route::Purge => crate::purge::handle(self.purge_api(), request).await,
            Route::ServerOptions => render::edge_answer(route),
            Route::AsteriskTarget | Route::Connect => {
                self.inner.metrics.request(Outcome::ClientError, arrived);
                render::edge_answer(route)
            }
        };
        // The edge's own endpoints: answered here, never cached.
        let status = self.status(Some(Forward::Bypass)).detail("edge-endpoint");
        self.leave(response, Exit::Forwarded(status))
    }

    /// A `GET`/`HEAD` through the cache: look up, then by the core's reuse
    /// decision serve, revalidate or fetch, joining other requests'
    /// fetches for the same key when that is as good as going itself.
    /// `first`: where the request goes after a first lookup already made.
    async fn cacheable(&self, ask: &Ask, mut first: Option<Forwarding>) -> Response<EdgeBody> {
        // When this request first needed the origin, on the edge's clock
        // seam (flights compare its instants; `ask.arrived`, the latency
        // metric's start, is the system's): read then rather than on
        // arrival, so that a hit reads the seam's clock not at all. It is at
        // or after the true arrival, so comparing flights with it errs
        // towards not sharing a fetch, never towards sharing an older one.
        let mut needed_origin_at: Option<Instant> = None;
        // How long it may wait for other requests' fetches in all.
        let mut wait_until: Option<tokio::time::Instant> = None;
        // The fetch this request waited for, if it stored something: why
        // that went forward and what the origin answered.
        let mut waited_for: Option<(Forward, StatusCode)> = None;
        for round in 0..MAX_ROUNDS {
            let (why, index, found) = match first.take() {
                Some(forwarding) => forwarding,
                None => {
                    let lookup = self.lookup(ask).await;
                    // The first look is the request's arrival; later ones
                    // come after waiting for another request's fetch.
                    let now = if round == 0 { ask.arrived_at } else { self.now() };
                    match self.reuse(ask, lookup, now, waited_for) {
                        Next::Answer(response) => return response,
                        Next::Forward(forwarding) => forwarding,
                    }
                }
            };
            let needed_origin_at = *needed_origin_at.get_or_insert_with(|| self.inner.clock.instant());
            let (wait, follows) = match self.inner.flights.join(&ask.key, needed_origin_at) {
                Join::Lead(flight) => return self.go_forward(ask, found, index, why, Some(flight)).await,
                Join::Follow(wait) => (wait, true),
                Join::Queue(wait) => (wait, false),
            };
            let deadline =
                *wait_until.get_or_insert_with(|| tokio::time::Instant::now() + self.inner.collapse_timeout);
            let Ok(landed) = tokio::time::timeout_at(deadline, wait.landed()).await else {
                // Waited `collapse_timeout` for others (nginx's
                // `proxy_cache_lock_timeout`): go to the origin on its own.
                return self.go_forward(ask, found, index, why, None).await;
            };
            match landed {
                // The leader was cancelled: start over.
                None => {}
                Some(Landed::Failed(failure)) => {
                    return self.failed(ask, found.as_deref(), failure, why, true);
                }
                // Nothing to share: a miss goes forward itself, so it was
                // not collapsed (RFC 9211 §2.6); a revalidation looks again
                // (the leader may have removed what it found).
                Some(Landed::NotStored) if found.is_none() => {
                    return self.fetch(ask, index, None, why).await;
                }
                Some(Landed::NotStored) => {}
                Some(Landed::Stored { status, product }) => {
                    waited_for = Some((why, status));
                    // A fetch sent after this request arrived is as new as
                    // what it would have fetched itself: its answer, even
                    // if already stale (`max-age=0`, `no-cache`). What a
                    // fetch sent before it stored answers it only if still
                    // fresh for it (the next round's lookup).
                    if follows && let Some(answer) = self.product_for(ask, product) {
                        let label = Label::Other(self.collapsed_status(why, status));
                        let at = self.age_now(&answer);
                        return self.serve_reused(ask, &answer, Outcome::Collapsed, label, at);
                    }
                }
            }
        }
        self.fetch(ask, None, None, Forward::Miss).await
    }

    /// What a request does with what a lookup found, judged at `now`: the
    /// core's reuse decision answers it from the cache, or it goes forward.
    /// `waited_for`: the fetch it waited for, if that stored something.
    fn reuse(
        &self,
        ask: &Ask,
        lookup: Lookup,
        now: HttpDate,
        waited_for: Option<(Forward, StatusCode)>,
    ) -> Next {
        let found = match lookup {
            Lookup::Found(found) => found,
            Lookup::VaryMiss(_) | Lookup::Miss
                if RequestDirectives::from_headers(&ask.headers).only_if_cached =>
            {
                return Next::Answer(self.only_if_cached(ask));
            }
            Lookup::VaryMiss(index) => return Next::Forward((Forward::VaryMiss, Some(index), None)),
            Lookup::Miss => return Next::Forward((Forward::UriMiss, None, None)),
        };
        Next::Answer(
            match found
                .entry
                .reuse_decision(self.cache_for(ask.uri.path()), &ask.headers, now)
            {
                Reuse::Fresh { age } => {
                    let (outcome, label) = match waited_for {
                        None => (Outcome::Hit, Label::Hit),
                        Some((why, origin_status)) => (
                            Outcome::Collapsed,
                            Label::Other(self.collapsed_status(why, origin_status)),
                        ),
                    };
                    self.serve_reused(ask, &found, outcome, label, (now, age))
                }
                Reuse::StaleAllowed { age } => {
                    self.inner.metrics.stale(StaleReason::MaxStale);
                    // The same member as a fresh hit, `ttl` negative.
                    self.serve_reused(ask, &found, Outcome::Stale, Label::Hit, (now, age))
                }
                Reuse::StaleWhileRevalidate { age } => {
                    self.inner.metrics.stale(StaleReason::WhileRevalidate);
                    self.spawn_refresh(ask, &found);
                    let status = self.status(None).detail("stale-while-revalidate");
                    self.serve_reused(ask, &found, Outcome::Stale, Label::Other(status), (now, age))
                }
                Reuse::GatewayTimeout => self.only_if_cached(ask),
                Reuse::Revalidate => {
                    return Next::Forward((Forward::Stale, found.index.clone(), Some(Box::new(found))));
                }
            },
        )
    }

    /// Goes to the origin: revalidates `found`, or fetches; `flight` when
    /// this request leads one.
    async fn go_forward(
        &self,
        ask: &Ask,
        found: Option<Box<Found>>,
        index: Option<VaryIndex>,
        why: Forward,
        flight: Option<Flight>,
    ) -> Response<EdgeBody> {
        match found {
            Some(found) => Box::pin(self.revalidate(ask, *found, flight)).await,
            None => self.fetch(ask, index, flight, why).await,
        }
    }

    /// [RFC 9211 §2.6]: a request that waited for another's origin request
    /// and is answered from what that stored was "collapsed together with
    /// one or more other forward requests": it went forward (`fwd`, with
    /// the reason it would have gone and the status the origin answered,
    /// §2.2 and §2.3), so it is not a `hit`, which §2.1 keeps for requests
    /// that were "not forwarded" (as §3's example `fwd=uri-miss;
    /// collapsed`).
    ///
    /// [RFC 9211 §2.6]: https://www.rfc-editor.org/rfc/rfc9211#section-2.6
    fn collapsed_status(&self, why: Forward, origin_status: StatusCode) -> CacheStatus {
        self.status(Some(why))
            .collapsed(true)
            .forward_status(origin_status)
    }

    /// A stored response reused without the origin: counted, with the
    /// bytes it saved, and served.
    fn serve_reused(
        &self,
        ask: &Ask,
        found: &Found,
        outcome: Outcome,
        label: Label,
        at: (HttpDate, u64),
    ) -> Response<EdgeBody> {
        self.count(ask, outcome);
        self.inner
            .metrics
            .saved_from_origin(found.object.body.len() as u64);
        self.serve(ask, found, label, at)
    }

    /// Answers from a stored response at `(now, age)`: the clock reading
    /// and the stored response's current age (§4.2.3) at it, which the
    /// reuse decision has usually computed already. The core's plan
    /// decides; [`render::from_stored`] builds; [`Self::leave`] labels.
    fn serve(
        &self,
        ask: &Ask,
        found: &Found,
        label: Label,
        (now, age): (HttpDate, u64),
    ) -> Response<EdgeBody> {
        let entry = &found.entry;
        let body = &found.object.body;
        let len = body.len() as u64;
        let plan = client_plan(
            &ask.method,
            &ask.headers,
            entry.head.status,
            &entry.validators,
            Some(len),
            now,
        );
        if plan == Plan::NotModified {
            self.inner.metrics.not_modified(len);
        }
        let (response, head) = render::from_stored(&ask.method, plan, &entry.head, body);
        let served = ServedAt {
            entry,
            label,
            age,
            len,
        };
        self.leave(response, Exit::Stored(served, head))
    }

    /// The clock and `found`'s current age (§4.2.3), for [`Self::serve`]
    /// where no reuse decision computed them.
    fn age_now(&self, found: &Found) -> (HttpDate, u64) {
        let now = self.now();
        (now, found.entry.age_at(now))
    }

    /// A cache fill, and the answer from what came back.
    async fn fetch(
        &self,
        ask: &Ask,
        index: Option<VaryIndex>,
        flight: Option<Flight>,
        why: Forward,
    ) -> Response<EdgeBody> {
        let asked = self.log_upstream.then(Instant::now);
        let fetched = self.fill(ask, index, flight).await;
        if let Some(asked) = asked {
            ask.logged.origin_time(asked.elapsed());
        }
        match fetched {
            // The pool counted the failure against the member(s) it tried.
            Fetched::Failed(failure) => self.failed(ask, None, failure, why, false),
            Fetched::Unsolicited304(member) => {
                ask.logged.origin_status(StatusCode::NOT_MODIFIED);
                self.inner.metrics.origin_error(member, OriginError::Protocol);
                self.count(ask, Outcome::Error);
                let status = self.status(Some(why)).forward_status(StatusCode::NOT_MODIFIED);
                self.leave(render::unsolicited_not_modified(), Exit::Forwarded(status))
            }
            Fetched::Streaming(streaming) => self.streamed(ask, streaming, why, Outcome::Miss),
        }
    }

    /// §4.3: a revalidation of `found`, and the answer from what came back.
    async fn revalidate(&self, ask: &Ask, found: Found, flight: Option<Flight>) -> Response<EdgeBody> {
        let metrics = &self.inner.metrics;
        let asked = self.log_upstream.then(Instant::now);
        let validated = self.validate(ask, &found, flight).await;
        if let Some(asked) = asked {
            ask.logged.origin_time(asked.elapsed());
        }
        match validated {
            Validated::Failed(failure) => {
                metrics.revalidation(Revalidation::Failed);
                self.failed(ask, Some(&found), failure, Forward::Stale, false)
            }
            Validated::NotModified {
                entry,
                stored,
                declined,
            } => {
                ask.logged.origin_status(StatusCode::NOT_MODIFIED);
                metrics.revalidation(Revalidation::NotModified);
                metrics.saved_from_origin(found.object.body.len() as u64);
                self.count(ask, Outcome::Revalidated);
                let mut status = self
                    .status(Some(Forward::Stale))
                    .forward_status(StatusCode::NOT_MODIFIED)
                    .stored(stored);
                if let Some(declined) = declined {
                    status = status.detail(declined.token());
                }
                let refreshed = Found { entry, ..found };
                let at = self.age_now(&refreshed);
                self.serve(ask, &refreshed, Label::Other(status), at)
            }
            Validated::Mismatch(flight) => {
                metrics.revalidation(Revalidation::Other);
                self.fetch(ask, found.index, flight, Forward::Stale).await
            }
            Validated::ServerErrorStale(origin_status) => {
                ask.logged.origin_status(origin_status);
                metrics.revalidation(Revalidation::Other);
                self.count(ask, Outcome::Stale);
                metrics.stale(StaleReason::IfError);
                let status = self
                    .status(Some(Forward::Stale))
                    .forward_status(origin_status)
                    .detail("stale-if-error");
                let at = self.age_now(&found);
                self.serve(ask, &found, Label::Other(status), at)
            }
            Validated::Replaced(streaming) => {
                metrics.revalidation(if streaming.origin_status == StatusCode::OK {
                    Revalidation::Replaced
                } else {
                    Revalidation::Other
                });
                self.streamed(ask, streaming, Forward::Stale, Outcome::Revalidated)
            }
        }
    }

    /// A response from the origin on its way to the client: counted and
    /// labelled (`fwd`, `fwd-status`, `stored` with its `ttl`, or why the
    /// edge declined to store it).
    fn streamed(
        &self,
        ask: &Ask,
        streaming: Streaming,
        why: Forward,
        outcome: Outcome,
    ) -> Response<EdgeBody> {
        self.count(ask, outcome);
        ask.logged.origin_status(streaming.origin_status);
        if let Some(bytes) = streaming.not_modified {
            self.inner.metrics.not_modified(bytes);
        }
        let mut status = self
            .status(Some(why))
            .forward_status(streaming.origin_status)
            .stored(streaming.stored.is_some());
        if let Some(freshness) = streaming.stored {
            status = status.ttl(freshness.ttl());
        }
        if let Some(declined) = streaming.declined {
            status = status.detail(declined.token());
        }
        self.leave(streaming.response, Exit::Forwarded(status))
    }

    /// The origin failed a fill or revalidation: serve stale if
    /// `stale-if-error` allows, else 502/504.
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
            && stale_if_error_allows(
                self.cache_for(ask.uri.path()),
                &found.entry.head.view(),
                &ask.headers,
                now,
            )
        {
            self.count(ask, Outcome::Stale);
            self.inner.metrics.stale(StaleReason::IfError);
            let status = self
                .status(Some(Forward::Stale))
                .collapsed(collapsed)
                .detail("stale-if-error");
            return self.serve(ask, found, Label::Other(status), self.age_now(found));
        }
        self.count(ask, Outcome::Error);
        let status = self
            .status(Some(why))
            .collapsed(collapsed)
            .detail(failure.token());
        self.leave(render::failure(failure), Exit::Forwarded(status))
    }

    /// §5.2.1.7 only-if-cached with nothing usable stored: `504`.
    fn only_if_cached(&self, ask: &Ask) -> Response<EdgeBody> {
        self.count(ask, Outcome::Error);
        let status = self.status(Some(Forward::Miss)).detail("only-if-cached");
        self.leave(render::only_if_cached(), Exit::Forwarded(status))
    }

    /// stale-while-revalidate: one background refresh per key, through
    /// the same steps as a client's revalidation (counted as one, never as
    /// a request).
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
            drop(Box::pin(edge.revalidate(&ask, found, Some(flight))).await);
        });
    }

    /// Any other method: forwarded, then counted and labelled.
    async fn pass_through<B>(
        &self,
        request: Request<B>,
        peer: Option<IpAddr>,
        arrived: Instant,
    ) -> Response<EdgeBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let metrics = &self.inner.metrics;
        let status = self.status(Some(Forward::Method));
        let asked = self.log_upstream.then(Instant::now);
        let passed = self.pass(request, peer).await;
        let logged = |response: &mut Response<EdgeBody>, outcome: Outcome, origin_status: Option<u16>| {
            if let Some(asked) = asked {
                response.extensions_mut().insert(Upstream {
                    cache: outcome.label(),
                    status: origin_status,
                    duration: Some(asked.elapsed()),
                });
            }
        };
        match passed {
            Passed::Answered {
                mut response,
                invalidated,
                stored,
            } => {
                metrics.request(Outcome::Pass, arrived);
                let origin_status = response.status().as_u16();
                logged(&mut response, Outcome::Pass, Some(origin_status));
                for _ in 0..invalidated {
                    metrics.purge(PurgeKind::Invalidation);
                }
                let status = status.forward_status(response.status()).stored(stored);
                self.leave(response, Exit::Forwarded(status))
            }
            Passed::Failed(failure) => {
                // The pool counted an origin's failure against the member.
                let outcome = match failure.origin_error() {
                    Some(_) => Outcome::Error,
                    None => Outcome::ClientError,
                };
                metrics.request(outcome, arrived);
                let status = status.detail(failure.token());
                let mut response = render::failure(failure);
                logged(&mut response, outcome, None);
                self.leave(response, Exit::Forwarded(status))
            }
        }
    }

    /// Every response leaves through here, once: it gets `Age` when it came
    /// from the cache, `Via`, and this cache's `Cache-Status` member
    /// ([`render::decorate`]). A plain hit's header set, these fields
    /// included, is built once per second of age and kept with the entry
    /// ([`ResponseEntry::hit_headers`]), so a hit copies one map and
    /// formats nothing.
    fn leave(&self, mut response: Response<EdgeBody>, exit: Exit<'_>) -> Response<EdgeBody> {
        let decorate = |headers: &mut HeaderMap| {
            let (age, status) = match &exit {
                Exit::Forwarded(status) => (None, status.to_header_value()),
                Exit::Stored(served, _) => (Some(served.age), self.served_status(served)),
            };
            render::decorate(headers, age, &status, &self.inner.via);
        };
        match &exit {
            Exit::Stored(served, Head::Plain(answer)) => {
                let build = || {
                    let mut headers = render::plain_headers(&served.entry.head, *answer, served.len);
                    decorate(&mut headers);
                    headers
                };
                *response.headers_mut() = match served.label {
                    Label::Hit => served.entry.hit_headers(served.age, *answer, build),
                    Label::Other(_) => build(),
                };
            }
            Exit::Stored(_, Head::Built) | Exit::Forwarded(_) => decorate(response.headers_mut()),
        }
        response
    }

    /// The `Cache-Status` member of a stored response served at
    /// `served.age`: its label with the `ttl` left of its lifetime.
    fn served_status(&self, served: &ServedAt<'_>) -> http::HeaderValue {
        let ttl = cache::ttl(served.entry.freshness_on_arrival.lifetime, served.age);
        match &served.label {
            Label::Hit => self.status(None).ttl(ttl),
            Label::Other(status) => status.clone().ttl(ttl),
        }
        .to_header_value()
    }

    /// This cache's `Cache-Status` member: `hit`, or `fwd=` why.
    fn status(&self, forward: Option<Forward>) -> CacheStatus {
        match forward {
            None => CacheStatus::hit(self.inner.name.clone()),
            Some(why) => CacheStatus::forward(self.inner.name.clone(), why),
        }
    }

    /// Counts a client's request (never a background refresh).
    fn count(&self, ask: &Ask, outcome: Outcome) {
        ask.logged.outcome(outcome);
        if !ask.background {
            self.inner.metrics.request(outcome, ask.arrived);
        }
    }
}
