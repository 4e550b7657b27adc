//! The connection to the origin: a pooled HTTP/1.1 client with a connect
//! timeout and a response-head timeout, and the classification of its
//! failures by whose fault they are: the origin's (`502`/`504`, counted in
//! `revalidate_edge_origin_errors_total`, `stale-if-error` may apply) or
//! the client's own request (a `4xx`, never counted against the origin).
//! Each request's time to the origin's head is recorded in
//! `revalidate_edge_origin_duration_seconds`.

use std::error::Error as _;
use std::pin::pin;
use std::time::{Duration, Instant};

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::body::EdgeBody;
use crate::metrics::{EdgeMetrics, OriginError};
pub use crate::upload::ClientFault;
use crate::upload::{OriginClock, Upload};

/// Why no usable response came back, and whose fault that is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The origin's: unreachable, too slow, or broken.
    Origin(OriginError),
    /// The client's own request: its body could not be read to the end.
    Client(ClientFault),
}

impl Failure {
    /// The status a client gets for it when nothing stale may be served
    /// ([RFC 9110 §15.6.3, §15.6.5](https://www.rfc-editor.org/rfc/rfc9110#section-15.6.3);
    /// [§15.5.1, §15.5.9](https://www.rfc-editor.org/rfc/rfc9110#section-15.5.1)
    /// for the client's faults).
    pub fn status(self) -> StatusCode {
        match self {
            Self::Origin(OriginError::Connect | OriginError::Protocol) => StatusCode::BAD_GATEWAY,
            Self::Origin(OriginError::Timeout) => StatusCode::GATEWAY_TIMEOUT,
            Self::Client(ClientFault::BrokenBody) => StatusCode::BAD_REQUEST,
            Self::Client(ClientFault::BodyTimeout) => StatusCode::REQUEST_TIMEOUT,
        }
    }

    /// The problem's title.
    pub fn title(self) -> &'static str {
        match self {
            Self::Origin(_) => "Origin unavailable",
            Self::Client(ClientFault::BrokenBody) => "Bad Request",
            Self::Client(ClientFault::BodyTimeout) => "Request Timeout",
        }
    }

    /// A sentence for the problem details.
    pub fn detail(self) -> &'static str {
        match self {
            Self::Origin(OriginError::Connect) => "The edge could not connect to the origin server.",
            Self::Origin(OriginError::Timeout) => "The origin server did not answer in time.",
            Self::Origin(OriginError::Protocol) => "The origin server's response was broken or incomplete.",
            Self::Client(ClientFault::BrokenBody) => {
                "The request body could not be read: its framing is malformed or it was cut short."
            }
            Self::Client(ClientFault::BodyTimeout) => {
                "The request body stopped arriving before it was complete."
            }
        }
    }

    /// The `Cache-Status` detail.
    pub fn token(self) -> &'static str {
        match self {
            Self::Origin(OriginError::Connect) => "origin-unreachable",
            Self::Origin(OriginError::Timeout) => "origin-timeout",
            Self::Origin(OriginError::Protocol) => "origin-broken",
            Self::Client(ClientFault::BrokenBody) => "client-body-broken",
            Self::Client(ClientFault::BodyTimeout) => "client-body-timeout",
        }
    }

    /// The origin error it counts as; `None` for the client's faults.
    pub fn origin_error(self) -> Option<OriginError> {
        match self {
            Self::Origin(kind) => Some(kind),
            Self::Client(_) => None,
        }
    }
}

/// The origin client.
#[derive(Clone, Debug)]
pub struct Upstream {
    client: Client<HttpConnector, EdgeBody>,
    response_timeout: Duration,
    metrics: EdgeMetrics,
}

impl Upstream {
    /// A client with these timeouts, timing the origin's answers into
    /// `metrics`.
    pub fn new(connect_timeout: Duration, response_timeout: Duration, metrics: EdgeMetrics) -> Self {
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
            metrics,
        }
    }

    /// Sends `request` (its URI absolute, no body from a client) and waits
    /// for the response head.
    pub async fn send(&self, request: Request<EdgeBody>) -> Result<Response<Incoming>, Failure> {
        let sent = Instant::now();
        let result = self.send_timed(request).await;
        self.metrics
            .origin_response(result.as_ref().ok().map(Response::status), sent);
        result
    }

    async fn send_timed(&self, request: Request<EdgeBody>) -> Result<Response<Incoming>, Failure> {
        match tokio::time::timeout(self.response_timeout, self.client.request(request)).await {
            Err(_) => Err(Failure::Origin(OriginError::Timeout)),
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, source = ?e.source(), "origin request failed");
                Err(Failure::Origin(classify(&e)))
            }
        }
    }

    /// Sends `request`, whose body is the client's upload watched by
    /// `upload`, and waits for the response head. The response timeout
    /// runs while the origin has the turn: from the end of the upload, or
    /// from the last chunk of it that went out if the origin stopped
    /// taking it; never while the edge waits for the client's next chunk
    /// (that wait has its own bound, `client_body_timeout`). A failure
    /// while the upload is broken or stalled is the client's.
    pub(crate) async fn send_upload(
        &self,
        request: Request<EdgeBody>,
        upload: &Upload,
    ) -> Result<Response<Incoming>, Failure> {
        let sent = Instant::now();
        let result = self.send_upload_timed(request, upload).await;
        // A failure that was the client's (its upload broke or stalled)
        // says nothing about the origin.
        if !matches!(result, Err(Failure::Client(_))) {
            self.metrics
                .origin_response(result.as_ref().ok().map(Response::status), sent);
        }
        result
    }

    async fn send_upload_timed(
        &self,
        request: Request<EdgeBody>,
        upload: &Upload,
    ) -> Result<Response<Incoming>, Failure> {
        let mut response = pin!(self.client.request(request));
        let mut deadline = tokio::time::Instant::now() + self.response_timeout;
        loop {
            tokio::select! {
                biased;
                result = &mut response => {
                    return match result {
                        Ok(response) => Ok(response),
                        Err(e) => {
                            tracing::debug!(error = %e, source = ?e.source(), "origin request failed");
                            Err(upload.fault().map_or_else(|| Failure::Origin(classify(&e)), Failure::Client))
                        }
                    };
                }
                () = tokio::time::sleep_until(deadline) => {
                    let now = tokio::time::Instant::now();
                    let next = match upload.origin_clock() {
                        OriginClock::ClientOwes => now + self.response_timeout,
                        OriginClock::Since(since) => since + self.response_timeout,
                    };
                    if next > now {
                        deadline = next;
                        continue;
                    }
                    return Err(upload.fault().map_or(Failure::Origin(OriginError::Timeout), Failure::Client));
                }
            }
        }
    }
}

fn classify(error: &hyper_util::client::legacy::Error) -> OriginError {
    if !error.is_connect() {
        return OriginError::Protocol;
    }
    let mut source = error.source();
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return OriginError::Timeout;
        }
        source = e.source();
    }
    OriginError::Connect
}
