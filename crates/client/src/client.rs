//! [`CachingClient`]: the IO shell around the private-cache rules.
//!
//! For each request it loads the stored responses for the URL, picks the
//! one the request selects (Vary), and asks the rules what to do:
//! serve it ([`Source::Cache`]), validate it with a conditional request and
//! refresh it on `304` ([`Source::Revalidated`]), or go to the network and
//! store what comes back when allowed ([`Source::Network`]).

use std::time::Duration;

use bytes::Bytes;
use http::header::{AGE, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use revalidate_core::HttpDate;
use revalidate_core::cache::StoredHead;

use crate::clock::{Clock, SystemClock};
use crate::policy::{self, Reuse};
use crate::storage::{CacheStorage, MemoryCache, StoredResponse};
use crate::transport::{ReqwestTransport, Transport, TransportError};

/// Where a response came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Served from the cache without contacting the server: the stored
    /// response was fresh ([RFC 9111 §4.2](https://www.rfc-editor.org/rfc/rfc9111#section-4.2)).
    Cache,
    /// The stored response was validated: the server answered
    /// `304 Not Modified` to a conditional request, and the stored content
    /// is returned with the refreshed header fields
    /// ([RFC 9111 §4.3.4](https://www.rfc-editor.org/rfc/rfc9111#section-4.3.4)).
    Revalidated,
    /// The response came over the network in full (no stored response, or
    /// the server sent a new representation).
    Network,
}

/// A response and where it came from.
#[derive(Clone, Debug)]
pub struct CachedResponse {
    /// Where it came from.
    pub source: Source,
    /// The status code (of the stored response for [`Source::Cache`] and
    /// [`Source::Revalidated`]).
    pub status: StatusCode,
    /// The header fields; a response served from the cache carries an
    /// `Age` field ([RFC 9111 §5.1](https://www.rfc-editor.org/rfc/rfc9111#section-5.1)).
    pub headers: HeaderMap,
    /// The content.
    pub body: Bytes,
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL cannot be used in a request.
    #[error("invalid URL {url}: {message}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why.
        message: String,
    },
    /// No HTTP response at all.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// How many Vary variants are kept per URL; the oldest goes first.
const MAX_VARIANTS: usize = 8;

/// An HTTP client with a private cache
/// ([RFC 9111](https://www.rfc-editor.org/rfc/rfc9111)): it keeps
/// responses and their validators, serves fresh ones without a request,
/// and revalidates stale ones with `If-None-Match` / `If-Modified-Since`.
#[derive(Debug)]
pub struct CachingClient<X = ReqwestTransport, S = MemoryCache, C = SystemClock> {
    transport: X,
    storage: S,
    clock: C,
}

impl CachingClient {
    /// Real HTTP, the default bounded [`MemoryCache`] and the system clock.
    pub fn new() -> Result<Self, TransportError> {
        Ok(Self::from_parts(
            ReqwestTransport::new()?,
            MemoryCache::default(),
            SystemClock,
        ))
    }
}

impl<X: Transport, S: CacheStorage, C: Clock> CachingClient<X, S, C> {
    /// A client from its three parts.
    pub fn from_parts(transport: X, storage: S, clock: C) -> Self {
        Self {
            transport,
            storage,
            clock,
        }
    }

    /// The same client with another cache storage.
    pub fn with_storage<S2: CacheStorage>(self, storage: S2) -> CachingClient<X, S2, C> {
        CachingClient::from_parts(self.transport, storage, self.clock)
    }

    /// The same client with another clock.
    pub fn with_clock<C2: Clock>(self, clock: C2) -> CachingClient<X, S, C2> {
        CachingClient::from_parts(self.transport, self.storage, clock)
    }

    /// Where the cached responses live.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// The transport.
    pub fn transport(&self) -> &X {
        &self.transport
    }

    /// `GET url` through the cache.
    pub async fn get(&self, url: &str) -> Result<CachedResponse, ClientError> {
        let request = Request::get(url)
            .body(Bytes::new())
            .map_err(|e| ClientError::InvalidUrl {
                url: url.to_owned(),
                message: e.to_string(),
            })?;
        self.send(request).await
    }

    /// Sends `request` through the cache. Only `GET` is answered from or
    /// stored in the cache; a request that carries its own conditional
    /// header fields goes to the server untouched (its answer is for the
    /// caller's validators, not the cache's).
    pub async fn send(&self, request: Request<Bytes>) -> Result<CachedResponse, ClientError> {
        let key = request.uri().to_string();
        if request.method() != Method::GET {
            return self.send_unsafe(&key, request).await;
        }
        if is_conditional(request.headers()) {
            let (response, _, _) = self.exchange(request).await?;
            return Ok(network(response));
        }
        let mut stored = self.storage.load(&key);
        // The most recent matching response is the one to use (§4.1: "the
        // most recent response (as determined by the Date header field)"
        // — here by receipt time; within one second the order stored,
        // newest first, stands: the sort is stable).
        stored.sort_by_key(|s| std::cmp::Reverse(s.head.response_time));
        let selected = stored
            .iter()
            .position(|s| policy::vary_matches(s, request.headers()));
        let Some(index) = selected else {
            return self.fetch_and_store(&key, stored, request).await;
        };
        match policy::reuse(request.headers(), &stored[index], self.clock.date()) {
            Reuse::Fresh { age } => Ok(from_cache(&stored[index], age)),
            Reuse::Revalidate => self.revalidate(&key, stored, index, request).await,
        }
    }

    async fn revalidate(
        &self,
        key: &str,
        mut stored: Vec<StoredResponse>,
        index: usize,
        request: Request<Bytes>,
    ) -> Result<CachedResponse, ClientError> {
        let conditional = policy::conditional_headers(&stored[index].head.headers);
        if conditional.is_empty() {
            // Nothing to validate with: an ordinary request.
            return self.fetch_and_store(key, stored, request).await;
        }
        let mut validation = copy_request(&request);
        for (name, value) in &conditional {
            validation.headers_mut().insert(name.clone(), value.clone());
        }
        let (response, request_time, response_time) = self.exchange(validation).await?;
        if response.status().is_server_error() {
            // §4.3.3: on a 5xx "the cache can send the 5xx response ... or
            // act as if the server failed to respond"; the stored response
            // is kept for the next validation.
            return Ok(network(response));
        }
        if response.status() != StatusCode::NOT_MODIFIED {
            return self.store_response(key, stored, &request, response, request_time, response_time);
        }
        if !policy::not_modified_selects(&stored[index].head.headers, response.headers()) {
            // The 304 is about another representation than the one we hold:
            // ask again without validators.
            stored.remove(index);
            return self.fetch_and_store(key, stored, request).await;
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
        if policy::may_store(
            &Method::GET,
            request.headers(),
            entry.head.status,
            &entry.head.headers,
        ) {
            self.storage.save(key, stored);
        } else {
            stored.remove(index);
            self.storage.save(key, stored);
        }
        Ok(served)
    }

    async fn fetch_and_store(
        &self,
        key: &str,
        stored: Vec<StoredResponse>,
        request: Request<Bytes>,
    ) -> Result<CachedResponse, ClientError> {
        let (response, request_time, response_time) = self.exchange(copy_request(&request)).await?;
        self.store_response(key, stored, &request, response, request_time, response_time)
    }

    fn store_response(
        &self,
        key: &str,
        mut stored: Vec<StoredResponse>,
        request: &Request<Bytes>,
        response: Response<Bytes>,
        request_time: HttpDate,
        response_time: HttpDate,
    ) -> Result<CachedResponse, ClientError> {
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
            return Ok(CachedResponse {
                source: Source::Network,
                status: parts.status,
                headers: parts.headers,
                body,
            });
        }
        self.storage.save(key, stored);
        Ok(network(response))
    }

    /// Unsafe methods go to the server; a non-error answer invalidates the
    /// stored responses for the URL
    /// ([RFC 9111 §4.4](https://www.rfc-editor.org/rfc/rfc9111#section-4.4)):
    /// "A cache MUST invalidate the target URI ... when it receives a
    /// non-error status code in response to an unsafe request method".
    async fn send_unsafe(&self, key: &str, request: Request<Bytes>) -> Result<CachedResponse, ClientError> {
        let unsafe_method = !request.method().is_safe();
        let (response, _, _) = self.exchange(request).await?;
        let status = response.status();
        if unsafe_method && (status.is_success() || status.is_redirection()) {
            self.storage.save(key, Vec::new());
        }
        Ok(network(response))
    }

    async fn exchange(
        &self,
        request: Request<Bytes>,
    ) -> Result<(Response<Bytes>, HttpDate, HttpDate), ClientError> {
        let request_time = self.clock.date();
        let response = self.transport.send(request).await?;
        let response_time = self.clock.date();
        Ok((response, request_time, response_time))
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

fn from_cache(stored: &StoredResponse, age: Duration) -> CachedResponse {
    let mut headers = stored.head.headers.clone();
    // §5.1: the Age field says how long ago the server generated or
    // validated the response; a cache sends it with a stored response.
    headers.insert(AGE, HeaderValue::from(age.as_secs()));
    CachedResponse {
        source: Source::Cache,
        status: stored.head.status,
        headers,
        body: stored.body.clone(),
    }
}
