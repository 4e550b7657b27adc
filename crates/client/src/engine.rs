//! The private cache's IO shell, shared by [`CachingClient`](crate::CachingClient)
//! and [`CacheMiddleware`](crate::CacheMiddleware): it loads the stored
//! responses for the URL, picks the one the request selects (Vary), and
//! asks the rules (`policy`) and the request's [`CacheMode`] what to do —
//! serve it, validate it with a conditional request and refresh it on
//! `304`, or go to the network and store what comes back when allowed.
//! How a request reaches the network is the caller's: a [`Network`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AGE, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use revalidate_core::HttpDate;
use revalidate_core::cache::StoredHead;

use crate::client::{CachedResponse, Source};
use crate::clock::Clock;
use crate::mode::{CacheMode, CacheOptions};
use crate::policy::{self, Reuse};
use crate::storage::{CacheStorage, StoredResponse};
use crate::transport::{Transport, TransportError};

/// One exchange with the server, as the cache sees it.
pub(crate) trait Network: Send {
    fn exchange(
        &mut self,
        request: Request<Bytes>,
    ) -> impl Future<Output = Result<Response<Bytes>, TransportError>> + Send;
}

/// A [`Transport`] as the cache's network.
pub(crate) struct Via<'a, X>(pub(crate) &'a X);

impl<X: Transport> Network for Via<'_, X> {
    fn exchange(
        &mut self,
        request: Request<Bytes>,
    ) -> impl Future<Output = Result<Response<Bytes>, TransportError>> + Send {
        self.0.send(request)
    }
}

/// How many Vary variants are kept per URL; the oldest goes first.
const MAX_VARIANTS: usize = 8;

/// The store, the clock and the options; clones share the store.
pub(crate) struct Engine<S, C> {
    pub(crate) storage: Arc<S>,
    pub(crate) clock: Arc<C>,
    pub(crate) options: CacheOptions,
}

impl<S, C> Clone for Engine<S, C> {
    fn clone(&self) -> Self {
        Self {
            storage: self.storage.clone(),
            clock: self.clock.clone(),
            options: self.options,
        }
    }
}

/// What came back from the network for a request that had a stored
/// response to fall back on.
enum Outcome {
    Response(Response<Bytes>, HttpDate, HttpDate),
    Failed(TransportError),
}

impl<S: CacheStorage, C: Clock> Engine<S, C> {
    /// Sends `request` through the cache in `mode`. Only `GET` is
    /// answered from or stored in the cache; a request that carries its
    /// own conditional header fields goes to the server untouched (its
    /// answer is for the caller's validators, not the cache's).
    pub(crate) async fn send<N: Network>(
        &self,
        net: &mut N,
        request: Request<Bytes>,
        mode: CacheMode,
    ) -> Result<CachedResponse, TransportError> {
        if request.method() != Method::GET {
            return self.send_unsafe(net, request).await;
        }
        if mode == CacheMode::NoStore || is_conditional(request.headers()) {
            let response = net.exchange(request).await?;
            return Ok(network(response));
        }
        let key = request.uri().to_string();
        let mut stored = self.storage.load(&key);
        // The most recent matching response is the one to use (§4.1: "the
        // most recent response (as determined by the Date header field)"
        // — here by receipt time; within one second the order stored,
        // newest first, stands: the sort is stable).
        stored.sort_by_key(|s| std::cmp::Reverse(s.head.response_time));
        let selected = stored
            .iter()
            .position(|s| policy::vary_matches(s, request.headers()));
        let only_if_cached = mode == CacheMode::OnlyIfCached || policy::only_if_cached(request.headers());
        let Some(index) = selected else {
            if only_if_cached {
                return Ok(gateway_timeout());
            }
            return self.fetch(net, &key, stored, None, request, mode).await;
        };
        let now = self.clock.date();
        match mode {
            CacheMode::Reload => self.fetch(net, &key, stored, None, request, mode).await,
            // DEVIATION(force-cache): RFC 9111 §4.2.4 "A cache MUST NOT
            // generate a stale response if it is prohibited by an explicit
            // in-protocol directive" (must-revalidate, no-cache). These two
            // modes are the caller's explicit request for whatever is
            // stored (the Fetch standard's `force-cache` and
            // `only-if-cached`), so they serve it anyway.
            CacheMode::ForceCache | CacheMode::OnlyIfCached => Ok(from_cache(
                &stored[index],
                policy::current_age(&stored[index], now),
                Source::Cache,
            )),
            CacheMode::NoCache => self.fetch(net, &key, stored, Some(index), request, mode).await,
            CacheMode::Default | CacheMode::NoStore => {
                match policy::reuse(request.headers(), &stored[index], now) {
                    Reuse::Fresh { age } => Ok(from_cache(&stored[index], age, Source::Cache)),
                    Reuse::GatewayTimeout => Ok(gateway_timeout()),
                    Reuse::Revalidate => self.fetch(net, &key, stored, Some(index), request, mode).await,
                }
            }
        }
    }

    /// Goes to the server: with the validators of `stored[index]` when
    /// there is one to validate, without otherwise. Serves the stored
    /// response stale when the server fails and that is allowed.
    async fn fetch<N: Network>(
        &self,
        net: &mut N,
        key: &str,
        mut stored: Vec<StoredResponse>,
        index: Option<usize>,
        request: Request<Bytes>,
        mode: CacheMode,
    ) -> Result<CachedResponse, TransportError> {
        let conditional = index
            .map(|i| policy::conditional_headers(&stored[i].head.headers))
            .unwrap_or_default();
        let mut outgoing = copy_request(&request);
        for (name, value) in &conditional {
            outgoing.headers_mut().insert(name.clone(), value.clone());
        }
        // The stored response the request selected, for stale-if-error
        // even when it is not validated (Reload has none to fall back on).
        let fallback = match mode {
            CacheMode::Reload => None,
            _ => index.or_else(|| {
                stored
                    .iter()
                    .position(|s| policy::vary_matches(s, request.headers()))
            }),
        };
        let (response, request_time, response_time) = match self.exchange(net, outgoing).await {
            Outcome::Response(response, at, done) => (response, at, done),
            Outcome::Failed(error) => {
                return match fallback.filter(|i| self.may_serve_stale(mode, &request, &stored[*i], true)) {
                    Some(i) => Ok(self.stale(&stored[i])),
                    None => Err(error),
                };
            }
        };
        let status = response.status();
        if status.is_server_error() {
            if policy::is_error_for_stale(status)
                && let Some(i) = fallback.filter(|i| self.may_serve_stale(mode, &request, &stored[*i], false))
            {
                return Ok(self.stale(&stored[i]));
            }
            if !conditional.is_empty() {
                // §4.3.3: on a 5xx "the cache can send the 5xx response
                // ... or act as if the server failed to respond"; the
                // stored response is kept for the next validation.
                return Ok(network(response));
            }
        }
        let Some(index) = index.filter(|_| !conditional.is_empty() && status == StatusCode::NOT_MODIFIED)
        else {
            return Ok(self.store_response(key, stored, &request, response, request_time, response_time));
        };
        if !policy::not_modified_selects(&stored[index].head.headers, response.headers()) {
            // The 304 is about another representation than the one we
            // hold: ask again without validators.
            stored.remove(index);
            return match self.exchange(net, copy_request(&request)).await {
                Outcome::Response(response, at, done) => {
                    Ok(self.store_response(key, stored, &request, response, at, done))
                }
                Outcome::Failed(error) => Err(error),
            };
        }
        let entry = &mut stored[index];
        entry
            .head
            .freshen(response.headers(), request_time, response_time);
        let served = CachedResponse {
            source: Source::Revalidated,
            status: entry.head.status,
            headers: entry.head.headers.clone(),
            body: entry.body.clone(),
        };
        if !policy::may_store(
            &Method::GET,
            request.headers(),
            entry.head.status,
            &entry.head.headers,
        ) {
            stored.remove(index);
        }
        self.storage.save(key, stored);
        Ok(served)
    }

    /// Whether `stored` may be sent stale because the server failed
    /// (`disconnected`: no response at all; otherwise a 500, 502, 503 or
    /// 504).
    fn may_serve_stale(
        &self,
        mode: CacheMode,
        request: &Request<Bytes>,
        stored: &StoredResponse,
        disconnected: bool,
    ) -> bool {
        if matches!(mode, CacheMode::NoCache | CacheMode::Reload | CacheMode::NoStore) {
            return false;
        }
        let now = self.clock.date();
        policy::stale_if_error_allows(request.headers(), stored, now)
            || (disconnected
                && self.options.stale_if_disconnected
                && policy::stale_if_disconnected_allows(request.headers(), stored, now))
    }

    fn stale(&self, stored: &StoredResponse) -> CachedResponse {
        let age = policy::current_age(stored, self.clock.date());
        from_cache(stored, age, Source::Stale)
    }

    fn store_response(
        &self,
        key: &str,
        mut stored: Vec<StoredResponse>,
        request: &Request<Bytes>,
        response: Response<Bytes>,
        request_time: HttpDate,
        response_time: HttpDate,
    ) -> CachedResponse {
        // Whatever happens, the variant this request selected is replaced
        // (or dropped if the new response may not be stored).
        stored.retain(|s| !policy::vary_matches(s, request.headers()));
        if policy::may_store(
            request.method(),
            request.headers(),
            response.status(),
            response.headers(),
        ) {
            let (parts, body) = response.into_parts();
            let headers = policy::storable_headers(parts.headers.clone());
            stored.insert(
                0,
                StoredResponse {
                    head: StoredHead::new(
                        parts.status,
                        headers,
                        request.headers(),
                        request_time,
                        response_time,
                    ),
                    body: body.clone(),
                },
            );
            stored.truncate(MAX_VARIANTS);
            self.storage.save(key, stored);
            return CachedResponse {
                source: Source::Network,
                status: parts.status,
                headers: parts.headers,
                body,
            };
        }
        self.storage.save(key, stored);
        network(response)
    }

    /// Unsafe methods go to the server; a non-error answer invalidates the
    /// stored responses for the URL
    /// ([RFC 9111 §4.4](https://www.rfc-editor.org/rfc/rfc9111#section-4.4)):
    /// "A cache MUST invalidate the target URI ... when it receives a
    /// non-error status code in response to an unsafe request method".
    async fn send_unsafe<N: Network>(
        &self,
        net: &mut N,
        request: Request<Bytes>,
    ) -> Result<CachedResponse, TransportError> {
        let key = (!request.method().is_safe()).then(|| request.uri().to_string());
        let response = net.exchange(request).await?;
        self.invalidate_after(key.as_deref(), response.status());
        Ok(network(response))
    }

    /// §4.4 for a response to an unsafe request on `key` (`None` for a
    /// safe method).
    pub(crate) fn invalidate_after(&self, key: Option<&str>, status: StatusCode) {
        if let Some(key) = key
            && (status.is_success() || status.is_redirection())
        {
            self.storage.save(key, Vec::new());
        }
    }

    async fn exchange<N: Network>(&self, net: &mut N, request: Request<Bytes>) -> Outcome {
        let request_time = self.clock.date();
        match net.exchange(request).await {
            Ok(response) => Outcome::Response(response, request_time, self.clock.date()),
            Err(error) => Outcome::Failed(error),
        }
    }
}

fn is_conditional(headers: &HeaderMap) -> bool {
    [
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
        "if-range",
    ]
    .iter()
    .any(|name| headers.contains_key(*name))
}

fn copy_request(request: &Request<Bytes>) -> Request<Bytes> {
    let mut copy = Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    copy
}

fn network(response: Response<Bytes>) -> CachedResponse {
    let (parts, body) = response.into_parts();
    CachedResponse {
        source: Source::Network,
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// `only-if-cached` with nothing usable stored: "the cache SHOULD ...
/// respond with a 504 (Gateway Timeout) status code" (RFC 9111 §5.2.1.7).
fn gateway_timeout() -> CachedResponse {
    CachedResponse {
        source: Source::Unavailable,
        status: StatusCode::GATEWAY_TIMEOUT,
        headers: HeaderMap::new(),
        body: Bytes::new(),
    }
}

fn from_cache(stored: &StoredResponse, age: Duration, source: Source) -> CachedResponse {
    let mut headers = stored.head.headers.clone();
    // §5.1: the Age field says how long ago the server generated or
    // validated the response; a cache sends it with a stored response.
    headers.insert(AGE, HeaderValue::from(age.as_secs()));
    CachedResponse {
        source,
        status: stored.head.status,
        headers,
        body: stored.body.clone(),
    }
}
