//! The IO seam: how a request reaches a server.
//!
//! Everything above this module — the cache and the optimistic-update loop —
//! speaks [`http::Request<Bytes>`] and [`http::Response<Bytes>`] through the
//! [`Transport`] trait. [`ReqwestTransport`] does real HTTP/1.1 and HTTP/2
//! over TCP and rustls; [`InMemoryTransport`] answers from a closure and
//! records every request, so the cache rules can be tested without sockets.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::{Request, Response};

/// Why a request got no HTTP response at all (connection refused, reset,
/// timeout, TLS failure, an unreadable body).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl TransportError {
    /// An error with a message and no underlying cause.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
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
            source: Some(Box::new(source)),
        }
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
#[derive(Clone, Debug)]
pub struct ReqwestTransport {
    client: reqwest::Client,
}

impl ReqwestTransport {
    /// A transport with a fresh connection pool.
    pub fn new() -> Result<Self, TransportError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| TransportError::with_source("cannot build the HTTP client", e))?;
        Ok(Self { client })
    }

    /// A transport over a client you configured yourself (timeouts, proxy,
    /// root certificates). Keep redirects off and decompression disabled.
    pub fn from_client(client: reqwest::Client) -> Self {
        Self { client }
    }
}

impl Transport for ReqwestTransport {
    async fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, TransportError> {
        let (parts, body) = request.into_parts();
        let url = parts.uri.to_string();
        let response = self
            .client
            .request(parts.method, &url)
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(|e| TransportError::with_source(format!("request to {url} failed"), e))?;
        let mut builder = Response::builder()
            .status(response.status())
            .version(response.version());
        if let Some(headers) = builder.headers_mut() {
            *headers = response.headers().clone();
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| TransportError::with_source(format!("reading the body from {url} failed"), e))?;
        builder
            .body(body)
            .map_err(|e| TransportError::with_source("invalid response", e))
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
