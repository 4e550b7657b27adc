//! The IO seam of purging the edges: one purge request to one edge, and
//! the HTTP/1.1 transport that sends it.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

use crate::config::ConfigError;

/// An edge's answer to a purge request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurgeAnswer {
    /// Its status.
    pub status: StatusCode,
    /// The start of its body, for the log when it refused.
    pub detail: String,
}

/// Why a purge request got no answer.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PurgeError(pub String);

/// Sends one purge request to one edge.
pub trait PurgeTransport: Send + Sync + 'static {
    /// `POST`s `body` to `endpoint` (the edge's [`PURGE_PATH`](revalidate_core::purge::PURGE_PATH)).
    fn post(
        &self,
        endpoint: &Uri,
        body: Bytes,
    ) -> impl Future<Output = Result<PurgeAnswer, PurgeError>> + Send;
}

/// A [`PurgeTransport`] behind a pointer, so that a reload can swap it.
pub(super) trait DynTransport: Send + Sync {
    fn post_boxed<'a>(
        &'a self,
        endpoint: &'a Uri,
        body: Bytes,
    ) -> Pin<Box<dyn Future<Output = Result<PurgeAnswer, PurgeError>> + Send + 'a>>;
}

impl<T: PurgeTransport> DynTransport for T {
    fn post_boxed<'a>(
        &'a self,
        endpoint: &'a Uri,
        body: Bytes,
    ) -> Pin<Box<dyn Future<Output = Result<PurgeAnswer, PurgeError>> + Send + 'a>> {
        Box::pin(self.post(endpoint, body))
    }
}

/// The HTTP/1.1 transport: a pooled hyper client with the bearer token.
#[derive(Clone, Debug)]
pub struct HttpTransport {
    client: Client<HttpConnector, Full<Bytes>>,
    authorization: HeaderValue,
}

impl HttpTransport {
    /// A client that connects within `timeout` and sends `token`.
    pub fn new(token: &str, timeout: Duration) -> Result<Self, ConfigError> {
        let mut authorization = HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| {
            ConfigError::Invalid("edge_purge.token must be printable ASCII without spaces".into())
        })?;
        authorization.set_sensitive(true);
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        connector.set_nodelay(true);
        let client = Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_timer(hyper_util::rt::TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Self {
            client,
            authorization,
        })
    }
}

impl PurgeTransport for HttpTransport {
    async fn post(&self, endpoint: &Uri, body: Bytes) -> Result<PurgeAnswer, PurgeError> {
        let request = Request::post(endpoint.clone())
            .header(AUTHORIZATION, self.authorization.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(Full::new(body))
            .map_err(|e| PurgeError(e.to_string()))?;
        let response = self.client.request(request).await.map_err(|e| {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message = format!("{message}: {cause}");
                source = cause.source();
            }
            PurgeError(message)
        })?;
        let status = response.status();
        // Read the (small) answer so the connection can be reused, and keep
        // its start for the log.
        let body = Limited::new(response.into_body(), 4096)
            .collect()
            .await
            .map(http_body_util::Collected::to_bytes)
            .unwrap_or_default();
        let detail: String = String::from_utf8_lossy(&body).chars().take(300).collect();
        Ok(PurgeAnswer { status, detail })
    }
}
