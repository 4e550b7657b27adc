//! [`CachingClient`]: the private cache over a [`Transport`].
//!
//! For each request the cache serves a stored response
//! ([`Source::Cache`]), validates it with a conditional request and
//! refreshes it on `304` ([`Source::Revalidated`]), or goes to the network
//! and stores what comes back when allowed ([`Source::Network`]), as the
//! rules and the request's [`CacheMode`] say. Clones share one store and
//! one connection pool, and so do the [`Updater`] and the
//! [`CacheMiddleware`] made from it.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};

use crate::clock::{Clock, SystemClock};
use crate::engine::{Engine, Via};
use crate::middleware::CacheMiddleware;
use crate::mode::{CacheMode, CacheOptions};
use crate::storage::{CacheStorage, MemoryCache};
use crate::transport::{ReqwestTransport, Timeouts, Transport, TransportError};
use crate::update::Updater;

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
    /// A stale stored response, sent because the server failed (no
    /// response, or a 500, 502, 503 or 504) and `stale-if-error` (RFC 5861
    /// §4) or [`CacheOptions::stale_if_disconnected`] allowed it.
    Stale,
    /// Nothing usable was stored and the request could not go to the
    /// network (`only-if-cached`, [`CacheMode::OnlyIfCached`]): the cache
    /// answered `504 Gateway Timeout` itself
    /// ([RFC 9111 §5.2.1.7](https://www.rfc-editor.org/rfc/rfc9111#section-5.2.1.7)).
    Unavailable,
}

/// A response and where it came from.
#[derive(Clone, Debug)]
pub struct CachedResponse {
    /// Where it came from.
    pub source: Source,
    /// The status code (of the stored response for [`Source::Cache`],
    /// [`Source::Revalidated`] and [`Source::Stale`]).
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

/// An HTTP client with a private cache
/// ([RFC 9111](https://www.rfc-editor.org/rfc/rfc9111)): it keeps
/// responses and their validators, serves fresh ones without a request,
/// and revalidates stale ones with `If-None-Match` / `If-Modified-Since`.
/// Clones are cheap and share the store, the clock and the transport
/// (with [`ReqwestTransport`], one connection pool).
pub struct CachingClient<X = ReqwestTransport, S = MemoryCache, C = SystemClock> {
    transport: Arc<X>,
    engine: Engine<S, C>,
    update_queues: Arc<UpdateQueues>,
}

impl<X, S, C> Clone for CachingClient<X, S, C> {
    fn clone(&self) -> Self {
        Self {
            transport: self.transport.clone(),
            engine: self.engine.clone(),
            update_queues: self.update_queues.clone(),
        }
    }
}

/// How many queues the updates of one client are spread over.
const UPDATE_QUEUES: usize = 64;

/// The optimistic updates made through one client queue up per URL (a
/// fixed table of FIFO locks, indexed by a hash of the URL, so it never
/// grows): updaters in one process that change the same resource take
/// turns instead of racing each other into `412`s, and none waits behind
/// later arrivals. Updates from other processes still race, and the retry
/// loop handles those.
pub(crate) struct UpdateQueues {
    queues: [tokio::sync::Mutex<()>; UPDATE_QUEUES],
}

impl UpdateQueues {
    fn new() -> Self {
        Self {
            queues: std::array::from_fn(|_| tokio::sync::Mutex::new(())),
        }
    }

    /// The queue of `url`'s updates.
    pub(crate) fn queue(&self, url: &str) -> &tokio::sync::Mutex<()> {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(url);
        &self.queues[(hash % UPDATE_QUEUES as u64) as usize]
    }
}

impl<X: std::fmt::Debug, S: std::fmt::Debug, C: std::fmt::Debug> std::fmt::Debug for CachingClient<X, S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachingClient")
            .field("transport", &self.transport)
            .field("storage", &self.engine.storage)
            .field("clock", &self.engine.clock)
            .field("options", &self.engine.options)
            .finish()
    }
}

impl CachingClient {
    /// Real HTTP with the default [`Timeouts`] (connect 10 s, response
    /// 30 s), the default bounded [`MemoryCache`] and the system clock.
    pub fn new() -> Result<Self, TransportError> {
        Self::with_timeouts(Timeouts::default())
    }

    /// Real HTTP with these timeouts, the default bounded [`MemoryCache`]
    /// and the system clock.
    pub fn with_timeouts(timeouts: Timeouts) -> Result<Self, TransportError> {
        Ok(Self::from_parts(
            ReqwestTransport::with_timeouts(timeouts)?,
            MemoryCache::default(),
            SystemClock,
        ))
    }
}

impl<X: Transport, S: CacheStorage, C: Clock> CachingClient<X, S, C> {
    /// A client from its three parts, with the default [`CacheOptions`].
    pub fn from_parts(transport: X, storage: S, clock: C) -> Self {
        Self {
            transport: Arc::new(transport),
            engine: Engine {
                storage: Arc::new(storage),
                clock: Arc::new(clock),
                options: CacheOptions::default(),
            },
            update_queues: Arc::new(UpdateQueues::new()),
        }
    }

    /// The same client with another cache storage.
    pub fn with_storage<S2: CacheStorage>(self, storage: S2) -> CachingClient<X, S2, C> {
        CachingClient {
            transport: self.transport,
            engine: Engine {
                storage: Arc::new(storage),
                clock: self.engine.clock,
                options: self.engine.options,
            },
            update_queues: self.update_queues,
        }
    }

    /// The same client with another clock.
    pub fn with_clock<C2: Clock>(self, clock: C2) -> CachingClient<X, S, C2> {
        CachingClient {
            transport: self.transport,
            engine: Engine {
                storage: self.engine.storage,
                clock: Arc::new(clock),
                options: self.engine.options,
            },
            update_queues: self.update_queues,
        }
    }

    /// The same client with other [`CacheOptions`] (default mode, stale
    /// when disconnected).
    pub fn with_options(mut self, options: CacheOptions) -> Self {
        self.engine.options = options;
        self
    }

    /// Where the cached responses live.
    pub fn storage(&self) -> &S {
        &self.engine.storage
    }

    /// The transport.
    pub fn transport(&self) -> &X {
        &self.transport
    }

    /// The options in use.
    pub fn options(&self) -> CacheOptions {
        self.engine.options
    }

    /// An optimistic-update helper over this client: the same transport
    /// (connection pool) and the same cache. Its reads validate the stored
    /// response ([`CacheMode::NoCache`]), so an unchanged resource comes
    /// back as a `304`; its writes invalidate the URL (RFC 9111 §4.4).
    pub fn updater(&self) -> Updater<X, S, C> {
        Updater::from_client(self.clone())
    }

    /// A [`reqwest_middleware::Middleware`] over this client's cache (the
    /// same store, clock and options). Build the middleware client on the
    /// same [`reqwest::Client`] ([`ReqwestTransport::reqwest_client`]) to
    /// share the connection pool as well.
    pub fn middleware(&self) -> CacheMiddleware<S, C> {
        CacheMiddleware::from_engine(self.engine.clone())
    }

    pub(crate) fn update_queue(&self, url: &str) -> &tokio::sync::Mutex<()> {
        self.update_queues.queue(url)
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

    /// Sends `request` through the cache, in the [`CacheMode`] found in
    /// its extensions (the options' default mode without one). Only `GET`
    /// is answered from or stored in the cache; a request that carries its
    /// own conditional header fields goes to the server untouched (its
    /// answer is for the caller's validators, not the cache's).
    pub async fn send(&self, request: Request<Bytes>) -> Result<CachedResponse, ClientError> {
        let mode = request
            .extensions()
            .get::<CacheMode>()
            .copied()
            .unwrap_or(self.engine.options.default_mode);
        self.send_in(request, mode).await
    }

    /// [`send`](Self::send) in `mode`, whatever the request's extensions say.
    pub async fn send_in(
        &self,
        request: Request<Bytes>,
        mode: CacheMode,
    ) -> Result<CachedResponse, ClientError> {
        Ok(self
            .engine
            .send(&mut Via(&*self.transport), request, mode)
            .await?)
    }
}
