//! [`CacheMiddleware`]: the private cache as a
//! [`reqwest_middleware::Middleware`], for code that already sends its
//! requests through a `reqwest_middleware::ClientWithMiddleware`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use revalidate_client::{CacheMiddleware, CacheMode, Source, Timeouts};
//!
//! let client = reqwest_middleware::ClientBuilder::new(Timeouts::default().client_builder().build()?)
//!     .with(CacheMiddleware::new())
//!     .build();
//! let response = client.get("http://127.0.0.1:8080/app.css").send().await?;
//! let source = response.extensions().get::<Source>().copied();
//! // One request that must not touch the store:
//! let fresh = client
//!     .get("http://127.0.0.1:8080/app.css")
//!     .with_extension(CacheMode::NoStore)
//!     .send()
//!     .await?;
//! # let _ = (source, fresh);
//! # Ok(()) }
//! ```
//!
//! Every response carries its [`Source`] in its extensions. A cached
//! response is rebuilt from the store, so its `url()` is reqwest's
//! placeholder (reqwest has no way to set it); use the request's URL.
//! A request whose body is a stream cannot be replayed, so it goes
//! through untouched (an unsafe one still invalidates the URL on success).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Extensions, Request, Response};
use reqwest_middleware::{Middleware, Next};

use crate::client::{CachedResponse, Source};
use crate::clock::{Clock, SystemClock};
use crate::engine::{Engine, Network};
use crate::mode::{CacheMode, CacheOptions};
use crate::storage::{CacheStorage, MemoryCache};
use crate::transport::{Timeouts, TransportError};

/// The private cache as reqwest middleware. The [`CacheMode`] of a request
/// comes from its extensions (`RequestBuilder::with_extension`), else from
/// [`CacheOptions::default_mode`]. A request without a timeout of its own
/// gets [`Timeouts::response`] (30 s unless set), so no request through
/// the middleware waits forever; the connect timeout is the client's
/// ([`Timeouts::client_builder`]).
pub struct CacheMiddleware<S = MemoryCache, C = SystemClock> {
    engine: Engine<S, C>,
    response_timeout: Option<Duration>,
}

impl<S, C> Clone for CacheMiddleware<S, C> {
    fn clone(&self) -> Self {
        Self {
            engine: self.engine.clone(),
            response_timeout: self.response_timeout,
        }
    }
}

impl<S: std::fmt::Debug, C: std::fmt::Debug> std::fmt::Debug for CacheMiddleware<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheMiddleware")
            .field("storage", &self.engine.storage)
            .field("options", &self.engine.options)
            .field("response_timeout", &self.response_timeout)
            .finish_non_exhaustive()
    }
}

impl CacheMiddleware {
    /// The default bounded [`MemoryCache`], the system clock, the default
    /// options.
    pub fn new() -> Self {
        Self::from_parts(MemoryCache::default(), SystemClock)
    }
}

impl Default for CacheMiddleware {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: CacheStorage, C: Clock> CacheMiddleware<S, C> {
    /// A middleware over `storage` (a [`MemoryCache`], a
    /// [`DiskCache`](crate::storage) or your own) and `clock`.
    pub fn from_parts(storage: S, clock: C) -> Self {
        Self::from_engine(Engine {
            storage: Arc::new(storage),
            clock: Arc::new(clock),
            options: CacheOptions::default(),
        })
    }

    pub(crate) fn from_engine(engine: Engine<S, C>) -> Self {
        Self {
            engine,
            response_timeout: Some(Timeouts::default().response),
        }
    }

    /// The same middleware with other [`CacheOptions`].
    pub fn with_options(mut self, options: CacheOptions) -> Self {
        self.engine.options = options;
        self
    }

    /// The timeout given to requests that have none of their own (`None`:
    /// leave them to the client's).
    pub fn with_response_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Where the cached responses live.
    pub fn storage(&self) -> &S {
        &self.engine.storage
    }
}

/// The rest of the middleware chain as the cache's network. The first
/// error of the chain is kept so the caller gets it back as it was
/// (`reqwest::Error::is_timeout` still works).
struct ViaNext<'a, 'e> {
    next: Next<'a>,
    extensions: &'e mut Extensions,
    timeout: Option<Duration>,
    error: Option<reqwest_middleware::Error>,
}

impl Network for ViaNext<'_, '_> {
    async fn exchange(&mut self, request: Request<Bytes>) -> Result<Response<Bytes>, TransportError> {
        let method = request.method().clone();
        let uri = request.uri().to_string();
        let mut outgoing = reqwest::Request::try_from(request)
            .map_err(|e| TransportError::with_source(format!("{method} {uri}: invalid request"), e))?;
        *outgoing.timeout_mut() = self.timeout;
        let response = match self.next.clone().run(outgoing, self.extensions).await {
            Ok(response) => response,
            Err(error) => {
                let message = format!("{method} {uri}: {error}");
                self.error = Some(error);
                return Err(TransportError::new(message));
            }
        };
        let mut builder = Response::builder()
            .status(response.status())
            .version(response.version());
        if let Some(headers) = builder.headers_mut() {
            *headers = response.headers().clone();
        }
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(error) => {
                let message = format!("{method} {uri}: reading the body failed: {error}");
                self.error = Some(error.into());
                return Err(TransportError::new(message));
            }
        };
        builder
            .body(body)
            .map_err(|e| TransportError::with_source(format!("{method} {uri}: invalid response"), e))
    }
}

#[async_trait::async_trait]
impl<S: CacheStorage, C: Clock> Middleware for CacheMiddleware<S, C> {
    async fn handle(
        &self,
        mut request: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let mode = extensions
            .get::<CacheMode>()
            .copied()
            .unwrap_or(self.engine.options.default_mode);
        let timeout = request.timeout().copied().or(self.response_timeout);
        let Some(body) = replayable_body(&request) else {
            // A streamed body: send it as it is.
            *request.timeout_mut() = timeout;
            let key = (!request.method().is_safe()).then(|| request.url().to_string());
            let response = next.run(request, extensions).await?;
            self.engine.invalidate_after(key.as_deref(), response.status());
            return Ok(response);
        };
        let mut converted = Request::new(body);
        *converted.method_mut() = request.method().clone();
        *converted.uri_mut() = request.url().as_str().parse().map_err(|e| {
            reqwest_middleware::Error::middleware(TransportError::with_source("invalid URL", e))
        })?;
        *converted.version_mut() = request.version();
        *converted.headers_mut() = std::mem::take(request.headers_mut());
        let mut net = ViaNext {
            next,
            extensions,
            timeout,
            error: None,
        };
        match self.engine.send(&mut net, converted, mode).await {
            Ok(cached) => Ok(into_reqwest(cached)),
            Err(error) => Err(net
                .error
                .take()
                .unwrap_or_else(|| reqwest_middleware::Error::middleware(error))),
        }
    }
}

/// The request's body as bytes (empty without one); `None` for a stream.
fn replayable_body(request: &reqwest::Request) -> Option<Bytes> {
    match request.body() {
        None => Some(Bytes::new()),
        Some(body) => body.as_bytes().map(Bytes::copy_from_slice),
    }
}

fn into_reqwest(cached: CachedResponse) -> reqwest::Response {
    let mut response = Response::new(cached.body);
    *response.status_mut() = cached.status;
    *response.headers_mut() = cached.headers;
    response.extensions_mut().insert::<Source>(cached.source);
    reqwest::Response::from(response)
}
