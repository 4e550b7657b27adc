//! The origin pool: the members an edge sends its origin requests to (one
//! `origin`, or several `origins`, each `http://` or `https://`), which of
//! them a request goes to, and what the edge learns of them from the
//! answers (passive ejection) and from its own probes (active health
//! checks, [`health`]). As nginx's `upstream{}`, Envoy's clusters, or a
//! Traefik service.
//!
//! - **The target**: the proxy hands the pool a request whose URI is the
//!   client's path and query; the pool picks a member and sets the
//!   absolute URI and `Host` to that member's scheme and authority, never
//!   the client's `Host` (see the crate docs on cache poisoning).
//! - **The pick** is [`balance::pick`], a pure function: round robin or
//!   least connections over the members that are neither ejected nor
//!   marked down; with none left, the one down longest (as nginx, rather
//!   than failing without trying).
//! - **Passive ejection** (`[ejection]`, nginx `max_fails`/`fail_timeout`,
//!   Envoy outlier detection): `consecutive_failures` answers in a row
//!   that were connect errors, timeouts, broken heads or `5xx` eject a
//!   member for `cool_down_ms`; any other answer resets the count.
//! - **Failover** (nginx `proxy_next_upstream error timeout`): a request
//!   goes to the next member, at most once per member, when
//!   - it is a cache fill or revalidation (`GET`, idempotent, so a retry
//!     is allowed, [RFC 9110 §9.2.2]) and no response head came: the
//!     connection failed, the head timed out, or the connection broke
//!     before the head (a member killed with requests on its kept
//!     connections). The response-head timeout then runs again for the
//!     next member, so a client waits at most that timeout per member;
//!   - it is any other method and the member could not be connected to,
//!     with the client's body not yet taken (nothing was sent).
//!
//!   A `5xx` is an answer and goes to the client (and may serve stale).
//!
//! A one-member pool picks without reading anything; per request the pool
//! adds one relaxed load (the member's failure count) to what the client
//! did before pools, and builds the target URI from parts it holds instead
//! of formatting and parsing one. Several members add a relaxed
//! `fetch_add` (the round-robin cursor), one load per member, and with
//! least connections two more per attempt (its in-flight count).
//!
//! [RFC 9110 §9.2.2]: https://www.rfc-editor.org/rfc/rfc9110#section-9.2.2

pub mod balance;
mod config;
pub mod health;

pub use config::{EjectionConfig, HealthConfig, PoolConfig};

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HOST, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, StatusCode, Uri};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

pub use self::balance::Balance;
use self::balance::{MemberView, pick};
pub use self::health::HealthSettings;
use crate::body::{BoxError, EdgeBody, boxed};
use crate::metrics::{EdgeMetrics, OriginError};
use crate::upload::Upload;
pub use crate::upstream::OriginProtocol;
use crate::upstream::{Failure, Missed, Upstream};

/// The most members a pool may have (the balancer tracks the members a
/// request tried in one 64-bit word).
pub const MAX_MEMBERS: usize = 64;

/// Passive ejection: when a member stops taking requests on its own
/// answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EjectionSettings {
    /// Failures in a row (connect errors, timeouts, broken heads, `5xx`)
    /// that eject a member; 0 turns ejection off.
    pub consecutive_failures: u32,
    /// How long an ejected member is left out.
    pub cool_down: Duration,
}

impl Default for EjectionSettings {
    fn default() -> Self {
        Self {
            consecutive_failures: 3,
            cool_down: Duration::from_secs(10),
        }
    }
}

/// A pool's members and how it treats them; see [`crate::config::PoolConfig`]
/// for the file form.
#[derive(Clone, Debug)]
pub struct PoolSettings {
    /// The members, `http://host:port` or `https://host:port`, at least
    /// one, at most [`MAX_MEMBERS`].
    pub members: Vec<Uri>,
    /// The roots `https` members are verified against; `None`: the
    /// system's.
    pub origin_ca: Option<Arc<rustls::RootCertStore>>,
    /// How requests are spread.
    pub balance: Balance,
    /// HTTP/1.1 or HTTP/2 to the members.
    pub protocol: OriginProtocol,
    /// Active health checks; `None`: off.
    pub health: Option<HealthSettings>,
    /// Passive ejection.
    pub ejection: EjectionSettings,
    /// Whether requests keep their own `Host` (the members are shield
    /// edges, which route by it) rather than get the member's authority.
    pub pass_host: bool,
}

impl PoolSettings {
    /// A pool of one member with the defaults.
    pub fn new(origin: Uri) -> Self {
        Self::of(vec![origin])
    }

    /// A pool of these members with the defaults.
    pub fn of(members: Vec<Uri>) -> Self {
        Self {
            members,
            origin_ca: None,
            balance: Balance::default(),
            protocol: OriginProtocol::default(),
            health: None,
            ejection: EjectionSettings::default(),
            pass_host: false,
        }
    }

    /// Whether any member is `https`.
    pub fn uses_tls(&self) -> bool {
        self.members.iter().any(|m| m.scheme() == Some(&Scheme::HTTPS))
    }
}

/// rustls client settings verifying against `roots` (aws-lc-rs, TLS 1.3
/// and 1.2, as the listener's).
pub fn tls_client_config(roots: Arc<rustls::RootCertStore>) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The system's root certificates; the ones it cannot read are logged.
pub fn system_roots() -> rustls::RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(%error, "could not read a system root certificate");
    }
    let mut roots = rustls::RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    tracing::debug!(added, ignored, "system root certificates");
    roots
}

/// A pool member and what the pool knows of it.
#[derive(Debug)]
struct Member {
    scheme: Scheme,
    authority: Authority,
    /// `Host` on every request to it: its own authority.
    host: HeaderValue,
    /// Requests waiting for its response head (kept with least
    /// connections only).
    in_flight: AtomicU32,
    /// Failures in a row.
    failures: AtomicU32,
    /// Until when it is ejected, in milliseconds since the pool's epoch
    /// plus one; 0: not ejected.
    ejected_until: AtomicU64,
    /// When it last became unusable, as `ejected_until`; orders the
    /// fallback when every member is down.
    down_since: AtomicU64,
    /// What the active health checks say (`true` without them).
    checked_up: AtomicBool,
}

/// The origin pool of one edge.
#[derive(Debug)]
pub(crate) struct Pool {
    members: Box<[Member]>,
    upstream: Upstream,
    balance: Balance,
    ejection: EjectionSettings,
    health: Option<HealthSettings>,
    /// [`PoolSettings::pass_host`].
    pass_host: bool,
    cursor: AtomicUsize,
    /// Whether some member has ever been ejected or marked down: until
    /// then no pick reads the clock or the members' states.
    troubled: AtomicBool,
    epoch: Instant,
    metrics: EdgeMetrics,
}

/// A response head from a member.
pub(crate) struct Reply {
    pub(crate) response: Response<Incoming>,
    /// Which member answered (for the metrics' `origin` label).
    pub(crate) member: usize,
}

impl Pool {
    /// A pool of `settings.members` with these timeouts, counting into
    /// `metrics` (whose member `i` is `settings.members[i]`, see
    /// [`EdgeMetrics::for_origins`]).
    pub(crate) fn new(
        settings: PoolSettings,
        connect_timeout: Duration,
        response_timeout: Duration,
        metrics: EdgeMetrics,
    ) -> Self {
        let tls = settings.uses_tls().then(|| {
            let roots = settings
                .origin_ca
                .clone()
                .unwrap_or_else(|| Arc::new(system_roots()));
            tls_client_config(roots)
                .map_err(|e| tracing::error!(error = %e, "no TLS to the origins; https members will fail"))
                .ok()
        });
        let upstream = Upstream::with(
            connect_timeout,
            response_timeout,
            settings.protocol,
            tls.flatten(),
        );
        let members = settings
            .members
            .iter()
            .take(MAX_MEMBERS)
            .map(|uri| {
                let authority = uri
                    .authority()
                    .cloned()
                    .unwrap_or_else(|| Authority::from_static("localhost"));
                Member {
                    scheme: uri.scheme().cloned().unwrap_or(Scheme::HTTP),
                    host: HeaderValue::from_str(authority.as_str())
                        .unwrap_or_else(|_| HeaderValue::from_static("localhost")),
                    authority,
                    in_flight: AtomicU32::new(0),
                    failures: AtomicU32::new(0),
                    ejected_until: AtomicU64::new(0),
                    down_since: AtomicU64::new(0),
                    checked_up: AtomicBool::new(true),
                }
            })
            .collect();
        Self {
            members,
            upstream,
            balance: settings.balance,
            ejection: settings.ejection,
            health: settings.health,
            pass_host: settings.pass_host,
            cursor: AtomicUsize::new(0),
            troubled: AtomicBool::new(false),
            epoch: Instant::now(),
            metrics,
        }
    }

    /// Member `member`'s scheme and authority.
    pub(crate) fn origin_of(&self, member: usize) -> (&str, &str) {
        self.members
            .get(member)
            .map_or(("http", ""), |m| (m.scheme.as_str(), m.authority.as_str()))
    }

    /// Sends a `GET` (a cache fill or revalidation; `build` makes it, with
    /// the client's path and query as its URI, once per attempt) and
    /// waits for the response head, failing over to the next member when
    /// none came (see the module docs).
    pub(crate) async fn send(&self, build: impl Fn() -> Request<EdgeBody>) -> Result<Reply, Failure> {
        let mut tried = 0u64;
        let mut last = Failure::Origin(OriginError::Connect);
        while let Some(member) = self.choose(tried) {
            tried |= 1 << member;
            let mut request = build();
            self.aim(member, &mut request);
            let sent = Instant::now();
            let attempt = {
                let _counted = self.count_in_flight(member);
                self.upstream.send(request).await
            };
            match attempt {
                Ok(response) => {
                    self.answered(member, response.status(), sent);
                    return Ok(Reply { response, member });
                }
                Err(missed) => {
                    self.missed(member, &missed, sent);
                    last = missed.failure;
                    // Any failure before the head: a GET may be retried.
                }
            }
        }
        Err(last)
    }

    /// Sends a request with the client's body (`body`, watched by
    /// `upload`; `build` puts it into a request whose URI is the client's
    /// path and query) and waits for the response head; another member is
    /// tried only when this one could not be connected to and the body
    /// was not taken yet.
    pub(crate) async fn send_upload(
        &self,
        body: EdgeBody,
        upload: &Upload,
        build: impl Fn(EdgeBody) -> Request<EdgeBody>,
    ) -> Result<Reply, Failure> {
        let mut tried = 0u64;
        let mut body = Some(body);
        let mut last = Failure::Origin(OriginError::Connect);
        while let Some(member) = self.choose(tried) {
            let Some(this_body) = body.take() else { break };
            tried |= 1 << member;
            // With another member to go to, the body is handed over so
            // that it comes back if the connection never did.
            let returned = (self.members.len() > 1).then(|| Arc::new(Mutex::new(None)));
            let this_body = match &returned {
                Some(slot) => boxed(Handoff {
                    body: Some(this_body),
                    taken: false,
                    back: Arc::clone(slot),
                }),
                None => this_body,
            };
            let mut request = build(this_body);
            self.aim(member, &mut request);
            let sent = Instant::now();
            let attempt = {
                let _counted = self.count_in_flight(member);
                self.upstream.send_upload(request, upload).await
            };
            match attempt {
                Ok(response) => {
                    self.answered(member, response.status(), sent);
                    return Ok(Reply { response, member });
                }
                Err(missed) => {
                    // The client's own fault says nothing of the origin.
                    if matches!(missed.failure, Failure::Client(_)) {
                        return Err(missed.failure);
                    }
                    self.missed(member, &missed, sent);
                    last = missed.failure;
                    if !missed.unsent {
                        break;
                    }
                    body = returned.and_then(|slot| slot.lock().ok().and_then(|mut slot| slot.take()));
                }
            }
        }
        Err(last)
    }

    /// The member the next attempt goes to, `tried` being those this
    /// request tried already.
    fn choose(&self, tried: u64) -> Option<usize> {
        let count = self.members.len();
        if count == 1 {
            return (tried == 0).then_some(0);
        }
        let cursor = self.cursor.fetch_add(1, Ordering::Relaxed);
        if self.balance == Balance::RoundRobin && !self.troubled.load(Ordering::Relaxed) {
            // Nobody was ever down: the turn needs no member's state.
            return (0..count)
                .map(|step| (cursor + step) % count)
                .find(|&i| tried & (1 << i) == 0);
        }
        let now = self.now_mark();
        let mut views = [MemberView {
            usable: true,
            in_flight: 0,
            down_since: 0,
        }; MAX_MEMBERS];
        for (view, member) in views.iter_mut().zip(self.members.iter()) {
            *view = MemberView {
                usable: member.usable(now),
                in_flight: member.in_flight.load(Ordering::Relaxed),
                down_since: member.down_since.load(Ordering::Relaxed),
            };
        }
        pick(self.balance, &views[..count], cursor, tried)
    }

    /// Milliseconds since the epoch, plus one (so that 0 means "never").
    fn now_mark(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    /// Sets `request`'s absolute URI and `Host` to `member`'s (a shield
    /// keeps the request's `Host`).
    fn aim(&self, member: usize, request: &mut Request<EdgeBody>) {
        let Some(member) = self.members.get(member) else {
            return;
        };
        let mut parts = std::mem::take(request.uri_mut()).into_parts();
        // A shield routes by `Host` as this edge did: the site's host,
        // which this edge checked (RFC 9112 §3.2). An HTTP/2 client sent
        // it as `:authority`, in the URI.
        let routed_host = match self.pass_host && !request.headers().contains_key(HOST) {
            true => parts
                .authority
                .as_ref()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok()),
            false => None,
        };
        parts.scheme = Some(member.scheme.clone());
        parts.authority = Some(member.authority.clone());
        if parts.path_and_query.is_none() {
            parts.path_and_query = Some(PathAndQuery::from_static("/"));
        }
        // Cannot fail: scheme, authority and path are all set.
        if let Ok(uri) = Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
        if self.pass_host {
            if let Some(host) = routed_host {
                request.headers_mut().insert(HOST, host);
            }
            return;
        }
        // `Host` is the member's own authority, never the client's: the
        // cache key is the path and query, and a client-chosen `Host` would
        // let one client store another site's response (or an error page)
        // under a path every client shares (cache poisoning; nginx's
        // `proxy_pass` does the same by default).
        request.headers_mut().insert(HOST, member.host.clone());
    }

    fn count_in_flight(&self, member: usize) -> Option<InFlight<'_>> {
        if self.balance != Balance::LeastConnections {
            return None;
        }
        let counter = &self.members.get(member)?.in_flight;
        counter.fetch_add(1, Ordering::Relaxed);
        Some(InFlight(counter))
    }

    /// A head came: timed, and a failure (`5xx`) or a success for
    /// ejection.
    fn answered(&self, member: usize, status: StatusCode, sent: Instant) {
        self.metrics.origin_response(member, Some(status), sent);
        if status.is_server_error() {
            self.failed(member);
        } else if let Some(m) = self.members.get(member)
            && m.failures.load(Ordering::Relaxed) != 0
        {
            m.failures.store(0, Ordering::Relaxed);
        }
    }

    /// No head came: timed, counted, and a failure for ejection.
    fn missed(&self, member: usize, missed: &Missed, sent: Instant) {
        self.metrics.origin_response(member, None, sent);
        if let Some(kind) = missed.failure.origin_error() {
            self.metrics.origin_error(member, kind);
        }
        self.failed(member);
    }

    fn failed(&self, index: usize) {
        let Some(member) = self.members.get(index) else {
            return;
        };
        let threshold = self.ejection.consecutive_failures;
        let failures = member.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if threshold == 0 || failures < threshold {
            return;
        }
        member.failures.store(0, Ordering::Relaxed);
        let now = self.now_mark();
        let until = now + u64::try_from(self.ejection.cool_down.as_millis()).unwrap_or(u64::MAX / 2);
        member.ejected_until.store(until, Ordering::Relaxed);
        member.down_since.store(now, Ordering::Relaxed);
        self.troubled.store(true, Ordering::Relaxed);
        self.metrics.origin_ejected(index);
        tracing::warn!(
            origin = %member.authority,
            failures,
            cool_down_ms = self.ejection.cool_down.as_millis(),
            "origin ejected after consecutive failures"
        );
    }

    /// Sets `revalidate_edge_origin_up` from each member's state now (at
    /// scrape time).
    /// Whether the members are shields, a parent tier of edges: a purge
    /// reaches them before this edge applies it ([`Pool::purge_members`]).
    pub(crate) fn is_shield_tier(&self) -> bool {
        self.pass_host
    }

    /// Sends the purge `body` (`POST` to the purge API, with the client's
    /// `authorization` and the site's `host`) to every member at once,
    /// each within the pool's timeouts; says which did not acknowledge it
    /// (a `2xx`).
    pub(crate) async fn purge_members(
        &self,
        authorization: Option<&HeaderValue>,
        host: Option<&HeaderValue>,
        body: &Bytes,
    ) -> Vec<String> {
        let mut sends = tokio::task::JoinSet::new();
        for (index, member) in self.members.iter().enumerate() {
            let mut request = Request::new(crate::body::full(body.clone()));
            *request.method_mut() = http::Method::POST;
            *request.uri_mut() = Uri::from_static(revalidate_core::purge::PURGE_PATH);
            let headers = request.headers_mut();
            headers.insert(HOST, host.cloned().unwrap_or_else(|| member.host.clone()));
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if let Some(authorization) = authorization {
                headers.insert(http::header::AUTHORIZATION, authorization.clone());
            }
            // The member's scheme and authority; a shield keeps the `Host`
            // set above.
            self.aim(index, &mut request);
            let upstream = self.upstream.clone();
            let authority = member.authority.clone();
            sends.spawn(async move {
                match upstream.send(request).await {
                    Ok(response) if response.status().is_success() => None,
                    Ok(response) => Some(format!("{authority} answered {}", response.status().as_u16())),
                    Err(_) => Some(format!("{authority} did not answer")),
                }
            });
        }
        let mut failed = Vec::new();
        while let Some(sent) = sends.join_next().await {
            if let Ok(Some(why)) = sent {
                failed.push(why);
            }
        }
        failed
    }

    pub(crate) fn publish_state(&self) {
        let now = self.now_mark();
        for (index, member) in self.members.iter().enumerate() {
            self.metrics.origin_up(index, member.usable(now));
        }
    }
}

impl Member {
    fn usable(&self, now: u64) -> bool {
        self.checked_up.load(Ordering::Relaxed) && self.ejected_until.load(Ordering::Relaxed) <= now
    }
}

/// One request counted in a member's in-flight count until its head came
/// (or it was given up).
struct InFlight<'a>(&'a AtomicU32);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The client's body on its way to one member: if that member's
/// connection never came up (hyper drops the request without polling the
/// body), the body goes back for the next member.
struct Handoff {
    body: Option<EdgeBody>,
    taken: bool,
    back: Arc<Mutex<Option<EdgeBody>>>,
}

impl Body for Handoff {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.taken = true;
        match self.body.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.body
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl Drop for Handoff {
    fn drop(&mut self) {
        if !self.taken
            && let Ok(mut back) = self.back.lock()
        {
            *back = self.body.take();
        }
    }
}

impl Pool {
    /// The health-check settings, if checks are on.
    pub(crate) fn health(&self) -> Option<&HealthSettings> {
        self.health.as_ref()
    }

    /// Marks member `index` up or down by the health checks.
    fn mark_checked(&self, index: usize, up: bool) {
        let Some(member) = self.members.get(index) else {
            return;
        };
        if member.checked_up.swap(up, Ordering::Relaxed) == up {
            return;
        }
        if up {
            tracing::info!(origin = %member.authority, "origin passed its health checks: up");
        } else {
            member.down_since.store(self.now_mark(), Ordering::Relaxed);
            self.troubled.store(true, Ordering::Relaxed);
            tracing::warn!(origin = %member.authority, "origin failed its health checks: down");
        }
    }

    fn member_count(&self) -> usize {
        self.members.len()
    }
}
