//! The IO seam: how a request reaches a server.
//!
//! Everything above this module — the cache and the optimistic-update loop —
//! speaks [`http::Request<Bytes>`] and [`http::Response<Bytes>`] through the
//! [`Transport`] trait. [`ReqwestTransport`] does real HTTP/1.1 and HTTP/2
//! over TCP and rustls; [`InMemoryTransport`] answers from a closure and
//! records every request, so the cache rules can be tested without sockets.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response};

/// Why a request got no HTTP response at all (connection refused, reset,
/// timeout, TLS failure, an unreadable body). The message names the
/// request (`GET http://…`) and what went wrong.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    message: String,
    timed_out: bool,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl TransportError {
    /// An error with a message and no underlying cause.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            timed_out: false,
            source: None,
        }
    }

    /// An error wrapping the cause reported by the HTTP stack.
    pub fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into(),
            timed_out: false,
            source: Some(Box::new(source)),
        }
    }

    /// The request got no (complete) response within its time limit.
    pub fn timeout(method: &Method, url: &str, limit: Option<Duration>) -> Self {
        let message = match limit {
            Some(limit) => format!("{method} {url} timed out: no complete response within {limit:?}"),
            None => format!("{method} {url} timed out"),
        };
        Self {
            message,
            timed_out: true,
            source: None,
        }
    }

    /// Whether the request ran out of time (connect or response timeout).
    pub fn is_timeout(&self) -> bool {
        self.timed_out
    }

    /// Reads a [`reqwest::Error`] for the request `method url`.
    pub(crate) fn from_reqwest(
        method: &Method,
        url: &str,
        limits: Option<Timeouts>,
        error: reqwest::Error,
    ) -> Self {
        if error.is_timeout() {
            let limit = limits.map(|t| if error.is_connect() { t.connect } else { t.response });
            let mut timeout = Self::timeout(method, url, limit);
            timeout.source = Some(Box::new(error));
            return timeout;
        }
        let what = if error.is_connect() {
            "cannot connect"
        } else if error.is_body() || error.is_decode() {
            "the response body could not be read"
        } else {
            "failed"
        };
        Self::with_source(format!("{method} {url}: {what}"), error)
    }
}

/// How long a request may take. Every wait has a bound: a server that
/// accepts a connection and never answers makes the call fail after
/// [`response`](Self::response) instead of hanging the caller.
///
/// ```
/// use std::time::Duration;
/// use revalidate_client::{CachingClient, Timeouts};
///
/// let timeouts = Timeouts { response: Duration::from_secs(5), ..Timeouts::default() };
/// assert_eq!(timeouts.connect, Duration::from_secs(10));
/// let client = CachingClient::with_timeouts(timeouts)?;
/// # let _ = client;
/// # Ok::<(), revalidate_client::TransportError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing the connection (TCP and TLS): 10 s by default.
    pub connect: Duration,
    /// The whole exchange, from sending the request to the last byte of
    /// the response body: 30 s by default.
    pub response: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            response: Duration::from_secs(30),
        }
    }
}

impl Timeouts {
    /// A [`reqwest::ClientBuilder`] as this crate wants it: these
    /// timeouts, redirects off (the caller sees the server's status and
    /// the cache stores what the server said about this URL) and no
    /// transparent decompression (the default features have none). Use it
    /// for the [`reqwest_middleware`] client that carries
    /// [`CacheMiddleware`](crate::CacheMiddleware).
    pub fn client_builder(self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.connect)
            .timeout(self.response)
    }
}

/// Sends one request and returns the complete response.
///
/// Implementations must not follow redirects, decompress bodies or add
/// conditional header fields: the layers above decide about those.
pub trait Transport: Send + Sync + 'static {
    /// Sends `request`; the response body is read completely.
    fn send(
        &self,
        request: Request<Bytes>,
    ) -> impl Future<Output = Result<Response<Bytes>, TransportError>> + Send;
}

impl<T: Transport> Transport for Arc<T> {
    fn send(
        &self,
        request: Request<Bytes>,
    ) -> impl Future<Output = Result<Response<Bytes>, TransportError>> + Send {
        (**self).send(request)
    }
}

/// Real HTTP through [`reqwest`] (rustls, HTTP/1.1 and HTTP/2), with
/// redirects switched off and no transparent decompression, so that the
/// status, `ETag` and `Content-Encoding` the caller sees are the server's.
/// Clones share one connection pool.
#[derive(Clone, Debug)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    timeouts: Option<Timeouts>,
}

impl ReqwestTransport {
    /// A transport with a fresh connection pool and the default
    /// [`Timeouts`] (connect 10 s, response 30 s).
    pub fn new() -> Result<Self, TransportError> {
        Self::with_timeouts(Timeouts::default())
    }

    /// A transport with a fresh connection pool and these timeouts.
    pub fn with_timeouts(timeouts: Timeouts) -> Result<Self, TransportError> {
        let client = timeouts
            .client_builder()
            .build()
            .map_err(|e| TransportError::with_source("cannot build the HTTP client", e))?;
        Ok(Self {
            client,
            timeouts: Some(timeouts),
        })
    }

    /// A transport over a client you configured yourself (timeouts, proxy,
    /// root certificates). Keep redirects off and decompression disabled,
    /// and set timeouts: [`Timeouts::client_builder`] starts from the
    /// defaults.
    pub fn from_client(client: reqwest::Client) -> Self {
        Self {
            client,
            timeouts: None,
        }
    }

    /// The underlying client (and its connection pool), e.g. to build a
    /// [`reqwest_middleware::ClientWithMiddleware`] that shares the pool.
    pub fn reqwest_client(&self) -> &reqwest::Client {
        &self.client
    }
}

impl Transport for ReqwestTransport {
    async fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, TransportError> {
        let (parts, body) = request.into_parts();
        let url = parts.uri.to_string();
        let method = parts.method;
        let fail = |e| TransportError::from_reqwest(&method, &url, self.timeouts, e);
        let response = self
            .client
            .request(method.clone(), &url)
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(fail)?;
        let mut builder = Response::builder()
            .status(response.status())
            .version(response.version());
        if let Some(headers) = builder.headers_mut() {
            *headers = response.headers().clone();
        }
        let body = response.bytes().await.map_err(fail)?;
        builder
            .body(body)
            .map_err(|e| TransportError::with_source(format!("{method} {url}: invalid response"), e))
    }
}

type Handler = dyn Fn(&Request<Bytes>) -> Response<Bytes> + Send + Sync;

/// A server in memory: a closure answers each request, and every request
/// is recorded so tests can assert what went over the "wire" (and that
/// nothing did when a fresh response was served from the cache).
#[derive(Clone)]
pub struct InMemoryTransport {
    handler: Arc<Handler>,
    sent: Arc<Mutex<Vec<Request<Bytes>>>>,
}

impl std::fmt::Debug for InMemoryTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryTransport")
            .field("sent", &self.requests().len())
            .finish_non_exhaustive()
    }
}

impl InMemoryTransport {
    /// A transport whose server is `handler`.
    pub fn new(handler: impl Fn(&Request<Bytes>) -> Response<Bytes> + Send + Sync + 'static) -> Self {
        Self {
            handler: Arc::new(handler),
            sent: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Copies of the requests sent so far, oldest first.
    pub fn requests(&self) -> Vec<Request<Bytes>> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(copy_request)
            .collect()
    }

    /// How many requests were sent so far.
    pub fn request_count(&self) -> usize {
        self.sent.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

fn copy_request(request: &Request<Bytes>) -> Request<Bytes> {
    let mut copy = Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.headers_mut() = request.headers().clone();
    copy
}

impl Transport for InMemoryTransport {
    async fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, TransportError> {
        let response = (self.handler)(&request);
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request);
        Ok(response)
    }
}
