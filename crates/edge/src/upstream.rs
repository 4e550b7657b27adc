//! The connection to the origins: a client that keeps connections
//! (HTTP/1.1, or HTTP/2 with `origin_protocol = "http2"`; over rustls to
//! `https` members) with a connect timeout and a response-head timeout,
//! and the classification of its failures by whose fault they are: the
//! origin's (`502`/`504`, counted in `revalidate_edge_origin_errors_total`
//! by the pool, `stale-if-error` may apply) or the client's own request (a
//! `4xx`, never counted against the origin). The pool ([`crate::pool`])
//! picks the member, times the answer and counts.

use std::error::Error as _;
use std::pin::pin;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{Client, ResponseFuture};
use hyper_util::rt::TokioExecutor;

use crate::body::EdgeBody;
use crate::metrics::OriginError;
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

/// Why an attempt brought no response head, and whether the request
/// surely never left (the connection did not come up), so that it may go
/// to another member whatever its method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Missed {
    /// Whose fault, and what kind.
    pub failure: Failure,
    /// The connection never came up.
    pub unsent: bool,
}

impl Missed {
    fn origin(kind: OriginError, unsent: bool) -> Self {
        Self {
            failure: Failure::Origin(kind),
            unsent,
        }
    }
}

/// Which HTTP version the edge speaks to its origins.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OriginProtocol {
    /// HTTP/1.1, connections pooled and reused.
    #[default]
    Http1,
    /// HTTP/2 only: by ALPN over `https`, with prior knowledge (h2c) over
    /// `http`; one connection per member carries every request.
    Http2,
}

/// The client to a pool's origins: HTTP/1.1 or HTTP/2, over TCP or (with
/// TLS settings, for `https` members) rustls, with a connect timeout and a
/// response-head timeout. It neither times nor counts; the pool does.
#[derive(Clone, Debug)]
pub struct Upstream {
    client: Connector,
    response_timeout: Duration,
}

/// One client type per transport, so that a pool without `https` members
/// sends through the plain connector exactly as before TLS existed.
#[derive(Clone, Debug)]
enum Connector {
    Plain(Client<HttpConnector, EdgeBody>),
    Tls(Client<HttpsConnector<HttpConnector>, EdgeBody>),
}

impl Upstream {
    /// A plain HTTP/1.1 client with these timeouts.
    pub fn new(connect_timeout: Duration, response_timeout: Duration) -> Self {
        Self::with(connect_timeout, response_timeout, OriginProtocol::Http1, None)
    }

    /// A client speaking `protocol`, and TLS with `tls` (its roots; ALPN is
    /// set here) to `https` origins when given.
    pub fn with(
        connect_timeout: Duration,
        response_timeout: Duration,
        protocol: OriginProtocol,
        tls: Option<rustls::ClientConfig>,
    ) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(connect_timeout));
        connector.set_nodelay(true);
        connector.enforce_http(tls.is_none());
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            // Below the 5 s keep-alive timeout of Node's http server and
            // many others: an idle connection is dropped here before the
            // origin closes it, so a request never races the close.
            .pool_idle_timeout(Duration::from_secs(4))
            .pool_max_idle_per_host(64);
        if protocol == OriginProtocol::Http2 {
            builder.http2_only(true);
        }
        let client = match tls {
            None => Connector::Plain(builder.build(connector)),
            Some(tls) => {
                let tls = HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http();
                // ALPN offers only `h2` for HTTP/2 (an origin without it
                // fails the handshake rather than quietly speaking
                // HTTP/1.1), and nothing for HTTP/1.1, its default.
                let https = match protocol {
                    OriginProtocol::Http1 => tls.enable_http1().wrap_connector(connector),
                    OriginProtocol::Http2 => tls.enable_http2().wrap_connector(connector),
                };
                Connector::Tls(builder.build(https))
            }
        };
        Self {
            client,
            response_timeout,
        }
    }

    fn request(&self, request: Request<EdgeBody>) -> ResponseFuture {
        match &self.client {
            Connector::Plain(client) => client.request(request),
            Connector::Tls(client) => client.request(request),
        }
    }

    /// Sends `request` (its URI absolute, no body from a client) and waits
    /// for the response head.
    pub async fn send(&self, request: Request<EdgeBody>) -> Result<Response<Incoming>, Missed> {
        self.send_within(request, self.response_timeout).await
    }

    /// [`Upstream::send`] with another response-head timeout (the health
    /// checks').
    pub async fn send_within(
        &self,
        request: Request<EdgeBody>,
        timeout: Duration,
    ) -> Result<Response<Incoming>, Missed> {
        match tokio::time::timeout(timeout, self.request(request)).await {
            Err(_) => Err(Missed::origin(OriginError::Timeout, false)),
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, source = ?e.source(), "origin request failed");
                Err(Missed::origin(classify(&e), e.is_connect()))
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
    ) -> Result<Response<Incoming>, Missed> {
        let mut response = pin!(self.request(request));
        let mut deadline = tokio::time::Instant::now() + self.response_timeout;
        loop {
            tokio::select! {
                biased;
                result = &mut response => {
                    return match result {
                        Ok(response) => Ok(response),
                        Err(e) => {
                            tracing::debug!(error = %e, source = ?e.source(), "origin request failed");
                            Err(upload.fault().map_or_else(
                                || Missed::origin(classify(&e), e.is_connect()),
                                |fault| Missed { failure: Failure::Client(fault), unsent: false },
                            ))
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
                    return Err(upload.fault().map_or(Missed::origin(OriginError::Timeout, false), |fault| Missed {
                        failure: Failure::Client(fault),
                        unsent: false,
                    }));
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
