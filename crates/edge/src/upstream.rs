//! The connection to the origin: a pooled HTTP/1.1 client with a connect
//! timeout and a response-head timeout, and the classification of its
//! failures into the status the client gets.

use std::error::Error as _;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::body::EdgeBody;
use crate::metrics::OriginError;

/// Why the origin gave no usable response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// No connection could be made (refused, unreachable): `502`.
    Connect,
    /// No connection or no response head in time: `504`.
    Timeout,
    /// The connection broke or the response was not HTTP: `502`.
    Protocol,
}

impl Failure {
    /// The status a client gets for it when nothing stale may be served
    /// ([RFC 9110 §15.6.3, §15.6.5](https://www.rfc-editor.org/rfc/rfc9110#section-15.6.3)).
    pub fn status(self) -> StatusCode {
        match self {
            Self::Connect | Self::Protocol => StatusCode::BAD_GATEWAY,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// A sentence for the problem details.
    pub fn detail(self) -> &'static str {
        match self {
            Self::Connect => "The edge could not connect to the origin server.",
            Self::Timeout => "The origin server did not answer in time.",
            Self::Protocol => "The origin server's response was broken or incomplete.",
        }
    }

    /// The metrics label.
    pub fn metric(self) -> OriginError {
        match self {
            Self::Connect => OriginError::Connect,
            Self::Timeout => OriginError::Timeout,
            Self::Protocol => OriginError::Protocol,
        }
    }
}

/// The origin client.
#[derive(Clone, Debug)]
pub struct Upstream {
    client: Client<HttpConnector, EdgeBody>,
    response_timeout: Duration,
}

impl Upstream {
    /// A client with these timeouts.
    pub fn new(connect_timeout: Duration, response_timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(connect_timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            // Below the 5 s keep-alive timeout of Node's http server and
            // many others: an idle connection is dropped here before the
            // origin closes it, so a request never races the close.
            .pool_idle_timeout(Duration::from_secs(4))
            .pool_max_idle_per_host(64)
            .build(connector);
        Self {
            client,
            response_timeout,
        }
    }

    /// Sends `request` (its URI absolute) and waits for the response head.
    pub async fn send(&self, request: Request<EdgeBody>) -> Result<Response<Incoming>, Failure> {
        match tokio::time::timeout(self.response_timeout, self.client.request(request)).await {
            Err(_) => Err(Failure::Timeout),
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, source = ?e.source(), "origin request failed");
                Err(classify(&e))
            }
        }
    }
}

fn classify(error: &hyper_util::client::legacy::Error) -> Failure {
    if !error.is_connect() {
        return Failure::Protocol;
    }
    let mut source = error.source();
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return Failure::Timeout;
        }
        source = e.source();
    }
    Failure::Connect
}
